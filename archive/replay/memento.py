"""Memento (RFC 7089): index look-ups, TimeGate negotiation, TimeMaps, Link headers.

Every look-up goes through the ``(surt, captured_at)`` index and touches O(log n) rows:
the memento closest to a datetime is the nearer of two ``LIMIT 1`` queries (latest at or before,
earliest after); first/last/prev/next are one ``LIMIT 1`` query each; a TimeMap page is a range
scan from a cursor. Nothing ever loads all captures of a URL.

TimeMap paging: a page holds ``NAQL_TIMEMAP_PAGE_SIZE`` mementos (default 1000) in capture
order, extended so that one second's captures are never split. The first page is
``/web/timemap/<fmt>/<url>``; the next one ``/web/timemap/<fmt>/from/<ts14>/<url>`` (inclusive
lower bound), announced by a ``rel="next"`` link (in the body for link-format, in the ``Link``
header for both formats).

JSON TimeMap format (pywb-like JSON lines, ``application/x-ndjson``): one object per memento,
``{"urlkey", "timestamp", "url", "mime", "status", "digest", "length", "guid", "memento"}`` —
``digest`` is the WARC payload digest, ``length`` the stored record length, ``memento`` the
absolute URI-M.

Withdrawn snapshots are invisible to every look-up here; :func:`withdrawn_at` lets the replay
answer 410 when someone addresses a withdrawn memento directly.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db import connection
from django.utils.http import http_date, parse_http_date

from archive import visibility
from archive.models import Snapshot, WarcFile
from archive.replay.rewrite import archive_path
from archive.uri import iri_to_uri, parse_timestamp14, public_origin, surt_key, timestamp14

LINK_FORMAT = "application/link-format"
JSON_LINES = "application/x-ndjson"


class BadTarget(ValueError):
    """The URL in a replay/Memento request cannot be an archived http(s) URL."""


# --------------------------------------------------------------------------------------------
# request parsing
# --------------------------------------------------------------------------------------------
def target_url(path_url: str, query: str = "") -> str:
    """The archived URL addressed by ``/web/.../<path_url>?<query>``, as an ASCII URI.

    Repairs what proxies and browsers do to a URL in a path (``http:/x`` → ``http://x``) and
    adds ``http://`` when the scheme is missing. Raises :class:`BadTarget`."""
    raw = (path_url or "").strip()
    if query:
        raw = f"{raw}?{query}"
    low = raw.lower()
    for scheme in ("http", "https"):
        if low.startswith(f"{scheme}:/") and not low.startswith(f"{scheme}://"):
            raw = f"{scheme}://{raw[len(scheme) + 2:]}"
            break
    if "://" not in raw[:10]:
        raw = "http://" + raw.lstrip("/")
    try:
        uri = iri_to_uri(raw)
        parts = urlsplit(uri)
        host = parts.hostname
        _ = parts.port
        surt_key(uri)
    except ValueError as exc:
        raise BadTarget(f"not a URL: {path_url!r}") from exc
    if parts.scheme not in ("http", "https") or not host or len(uri) > 4000:
        raise BadTarget(f"not an http(s) URL: {path_url!r}")
    if not parts.path:
        uri += "/"
    return uri


_RFC1123 = re.compile(r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
                      r"\d{4} \d{2}:\d{2}:\d{2} GMT")


def parse_accept_datetime(value: str) -> datetime:
    """``Accept-Datetime`` as an aware UTC datetime. RFC 7089 §2.1.1 allows only an rfc1123-date
    (``Sun, 06 Nov 1994 08:49:37 GMT``), not HTTP's obsolete RFC 850 or asctime forms, and a
    TimeGate answers 400 to anything else (§4.1.1), an empty value included: ValueError."""
    from datetime import UTC

    value = (value or "").strip()
    if not _RFC1123.fullmatch(value):
        raise ValueError(f"Accept-Datetime {value!r} is not an RFC 1123 date")
    return datetime.fromtimestamp(parse_http_date(value), tz=UTC)


def parse_ts(ts: str) -> datetime:
    """A 1-14 digit Wayback timestamp; short ones are padded like pywb. Raises ValueError."""
    if len(ts) < 4:
        raise ValueError(f"timestamp too short: {ts!r}")
    return parse_timestamp14(ts)


# --------------------------------------------------------------------------------------------
# index look-ups (each one or two LIMIT 1 queries on (surt, captured_at))
# --------------------------------------------------------------------------------------------
def mementos(surt: str, user=None):
    return Snapshot.objects.visible_to(user).filter(surt=surt)


# The hot look-ups are hand-written SQL over the (surt, captured_at) index: compiling an ORM
# query costs more than running it, and replay does several per request. Same visibility
# rules as ``Snapshot.objects.visible_to`` (both from :mod:`archive.visibility`).
_COLS = tuple(f.column for f in Snapshot._meta.concrete_fields if f.column in {
    "id", "guid", "url", "surt", "captured_at", "status", "mime", "content_type", "payload_digest", "length",
    "offset", "record_type", "record_id", "record_sha256", "warc_file_id", "payload_snapshot_id", "redirect_to_id",
    "final_id", "withdrawn_at"})  # in model field order, as Model.from_db wants them


_visibility = visibility.privacy_sql


def _rows_sql(surt: str, user, cond: str, params: list, order: str, limit: int, part: int = 0) -> tuple[str, list]:
    """SQL and parameters of one look-up: live captures of ``surt`` in time order, LIMIT ``limit``,
    with the WARC file's name (``warc_name``) and the constant ``part`` (to tell the look-ups of
    a UNION ALL apart).

    Its ``withdrawn_at IS NULL`` is the predicate of the partial index ``snapshot_live_surt_time``
    (surt, captured_at, id), so the plan is an ordered index scan that stops after ``limit`` rows,
    with or without statistics (tests/test_memento.py checks the plan on PostgreSQL)."""
    assert order in ("ASC", "DESC")
    vis, vis_params = _visibility(user)
    qn = connection.ops.quote_name
    table = qn(Snapshot._meta.db_table)
    files = qn(WarcFile._meta.db_table)
    cols = ", ".join(f"{table}.{qn(c)}" for c in _COLS)
    # the file name rides along (a scalar subquery per returned row), so replay needs no second query
    cols += f", (SELECT w.{qn('name')} FROM {files} w WHERE w.{qn('id')} = {table}.{qn('warc_file_id')}) AS warc_name"  # noqa: S608
    # every interpolated piece is a constant of this module; values travel as parameters
    where = f"surt = %s AND {vis}" + (f" AND {cond}" if cond else "")
    sql = (f"SELECT {cols}, {int(part)} AS part FROM {table} WHERE {where} "  # noqa: S608
           f"ORDER BY captured_at {order} LIMIT {int(limit)}")
    return sql, [surt, *vis_params, *params]


def _union(surt: str, user, lookups: list[tuple[str, list, str, int]]) -> list[list[Snapshot]]:
    """Several look-ups in one round trip (``SELECT * FROM (...) UNION ALL ...``, a form SQLite
    and PostgreSQL both accept with ORDER BY/LIMIT inside); the rows of each, in its order."""
    sqls, args = [], []
    for i, (cond, params, order, limit) in enumerate(lookups):
        sql, a = _rows_sql(surt, user, cond, params, order, limit, part=i)
        sqls.append(f"SELECT * FROM ({sql}) AS p{i}")  # noqa: S608 - constants only, see _rows_sql
        args.extend(a)
    out: list[list[Snapshot]] = [[] for _ in lookups]
    with connection.cursor() as cur:
        cur.execute(" UNION ALL ".join(sqls), args)
        for row in cur.fetchall():
            out[row[-1]].append(_snapshot(row))
    return out


_ATTNAMES = {f.column: f.attname for f in Snapshot._meta.concrete_fields}
_FIELDS = [_ATTNAMES[c] for c in _COLS]


def _aware(value):
    """A datetime column from a raw cursor as Django's converters would give it (SQLite returns
    naive UTC datetimes, or strings inside a UNION; PostgreSQL aware ones)."""
    if value is None or isinstance(value, datetime) and value.tzinfo is not None:
        return value
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _snapshot(row) -> Snapshot:
    """A Snapshot from a raw row of _COLS (+ warc_name, part): the other fields stay deferred.
    Building it directly costs a fraction of RawQuerySet's per-query column mapping."""
    values = list(row[:len(_COLS)])
    for i in _DATETIME_COLS:
        values[i] = _aware(values[i])
    snap = Snapshot.from_db(connection.alias, _FIELDS, values)
    snap.warc_name = row[len(_COLS)]
    return snap


_DATETIME_COLS = [i for i, c in enumerate(_COLS) if c in ("captured_at", "withdrawn_at")]


def _rows(surt: str, user, cond: str, params: list, order: str, limit: int) -> list[Snapshot]:
    return _union(surt, user, [(cond, params, order, limit)])[0]


def _dbtime(dt: datetime):
    """A datetime as the database backend wants it in a raw query parameter."""
    return connection.ops.adapt_datetimefield_value(dt)


_TIES = 4  # rows fetched per side, to break ties between URL variants sharing a SURT and second


def _pick(candidates: list[Snapshot], when: datetime | None, url: str | None) -> Snapshot | None:
    """Nearest to ``when`` (latest when None); among equally near ones (a 301 hop and its target
    often share a SURT and a second), the exact URL, then the non-redirect, then the earlier."""
    def key(s: Snapshot):
        distance = abs((s.captured_at - when).total_seconds()) if when else -s.captured_at.timestamp()
        return (int(distance), s.url != url if url else False, 300 <= s.status < 400, s.captured_at, s.pk)

    return min(candidates, key=key) if candidates else None


def closest(surt: str, when: datetime, user=None, url: str | None = None) -> Snapshot | None:
    """The memento nearest to ``when``: latest at or before, earliest after (a few rows each).

    One query, which also fetches the first and last memento, so that the chosen one's
    first/prev/next/last (its ``Link`` header) usually need no second query (see :func:`around`)."""
    at = [_dbtime(when)]
    before, after, head, tail = _union(surt, user, [
        ("captured_at <= %s", at, "DESC", _TIES), ("captured_at > %s", at, "ASC", _TIES),
        ("", [], "ASC", 1), ("", [], "DESC", 1),
    ])
    snap = _pick(before + after, when, url)
    if snap is not None:
        snap.memento_around = _around_from_window(snap, before, after, head, tail)
    return snap


def _around_from_window(snap, before, after, head, tail) -> tuple | None:
    """(first, prev, next, last) of ``snap`` from the rows closest() read, or None when they do
    not settle it. ``before`` holds the latest rows at or before the requested time and ``after``
    the earliest after it, so together they are every capture between their extremes; a side
    that came back short of its LIMIT is every capture on that side."""
    earlier = [s for s in before + after if s.captured_at < snap.captured_at]
    later = [s for s in before + after if s.captured_at > snap.captured_at]
    if earlier:
        prev = max(earlier, key=lambda s: (s.captured_at, s.pk))
    elif len(before) < _TIES:
        prev = None
    else:
        return None
    if later:
        nxt = min(later, key=lambda s: (s.captured_at, s.pk))
    elif len(after) < _TIES:
        nxt = None
    else:
        return None
    return (head[0] if head else None, prev, nxt, tail[0] if tail else None)


def first(surt: str, user=None) -> Snapshot | None:
    rows = _rows(surt, user, "", [], "ASC", 1)
    return rows[0] if rows else None


def last(surt: str, user=None, url: str | None = None) -> Snapshot | None:
    return _pick(_rows(surt, user, "", [], "DESC", _TIES if url else 1), None, url)


def neighbours(snap: Snapshot, user=None) -> tuple[Snapshot | None, Snapshot | None]:
    return around(snap, user)[1:3]


def around(snap: Snapshot, user=None) -> tuple[Snapshot | None, ...]:
    """(first, prev, next, last) live mementos of ``snap``'s URL, in one query (none when
    :func:`closest` found ``snap`` for the same reader and could tell them already)."""
    known = getattr(snap, "memento_around", None)
    if known is not None:
        return known
    at = [_dbtime(snap.captured_at)]
    parts = _union(snap.surt, user, [("", [], "ASC", 1), ("captured_at < %s", at, "DESC", 1),
                                     ("captured_at > %s", at, "ASC", 1), ("", [], "DESC", 1)])
    return tuple(rows[0] if rows else None for rows in parts)


def withdrawn_at(surt: str, when: datetime, user=None) -> Snapshot | None:
    """A withdrawn snapshot captured in the very second ``when`` that ``user`` could see before
    it was withdrawn (direct access → 410; to anyone else it does not exist)."""
    second = when.replace(microsecond=0)  # [second, second + 1s), written so 9999-12-31T23:59:59 cannot overflow
    qs = Snapshot.objects.filter(surt=surt, captured_at__range=(second, second.replace(microsecond=999999)),
                                 withdrawn_at__isnull=False)
    return visibility.restrict(qs, user, include_withdrawn=True).order_by("captured_at").first()


def nearby(url: str, user=None, limit: int = 10) -> list[Snapshot]:
    """Captures of the same SURT host/path (query ignored), else of the same host: for the
    "not archived" page (prefix scans, at most ``limit`` rows each)."""
    key = surt_key(url)
    qs = Snapshot.objects.visible_to(user).pages()
    path_prefix = key.split("?", 1)[0]
    found = list(qs.filter(surt__startswith=path_prefix)
                 .order_by("surt", "-captured_at")[:limit])
    if not found and ")" in key:
        host_prefix = key.split(")", 1)[0] + ")"
        found = list(qs.filter(surt__startswith=host_prefix)
                     .order_by("surt", "-captured_at")[:limit])
    return found


# --------------------------------------------------------------------------------------------
# URIs and headers
# --------------------------------------------------------------------------------------------
def replay_origin(request=None) -> str:
    """Origin (scheme://host[:port]) that serves ``/web/``: NAQL_REPLAY_HOST when configured,
    otherwise the requesting host (or :func:`archive.uri.public_origin` without a request)."""
    host = (settings.NAQL_REPLAY_HOST or "").strip().rstrip("/")
    if host:
        if "://" in host:
            return host
        scheme = request.scheme if request is not None else urlsplit(public_origin()).scheme or "https"
        return f"{scheme}://{host}"
    if request is not None:
        return f"{request.scheme}://{request.get_host()}"
    return public_origin()


def memento_uri(snap: Snapshot, origin: str = "", mod: str = "") -> str:
    return origin + archive_path(snap.timestamp, mod, snap.url)


def timegate_uri(url: str, origin: str = "") -> str:
    return f"{origin}/web/{url}"


def timemap_uri(url: str, origin: str = "", fmt: str = "link", from_ts: str | None = None) -> str:
    cursor = f"from/{from_ts}/" if from_ts else ""
    return f"{origin}/web/timemap/{fmt}/{cursor}{url}"


def _link(uri: str, rel: str, **params: str) -> str:
    extra = "".join(f'; {k}="{v}"' for k, v in params.items())
    return f'<{uri}>; rel="{rel}"{extra}'


def _dt(snap: Snapshot) -> str:
    return http_date(snap.captured_at.timestamp())


def memento_links(snap: Snapshot, origin: str, user=None) -> str:
    """``Link`` header of a memento: original, timegate, timemap, first/last/prev/next + self."""
    f, prev, nxt, la = around(snap, user)
    rels: dict[int, tuple[Snapshot, list[str]]] = {}
    for s, rel in ((f, "first"), (prev, "prev"), (snap, ""), (nxt, "next"), (la, "last")):
        if s is not None:
            rels.setdefault(s.pk, (s, []))[1].append(rel)
    links = [_link(snap.url, "original"), _link(timegate_uri(snap.url, origin), "timegate"),
             _link(timemap_uri(snap.url, origin), "timemap", type=LINK_FORMAT)]
    for s, words in sorted(rels.values(), key=lambda e: (e[0].captured_at, e[0].pk)):
        rel = " ".join(w for w in dict.fromkeys(words) if w) + " memento"
        links.append(_link(memento_uri(s, origin), rel.strip(), datetime=_dt(s)))
    return ", ".join(links)


def memento_headers(snap: Snapshot, origin: str, user=None) -> dict[str, str]:
    return {"Memento-Datetime": _dt(snap), "Link": memento_links(snap, origin, user)}


@dataclass
class Negotiation:
    """Outcome of TimeGate negotiation: the chosen memento and the response headers."""

    snapshot: Snapshot
    location: str
    headers: dict[str, str]


def negotiate(url: str, accept_datetime: str | None, origin: str, user=None) -> Negotiation | None:
    """TimeGate: the memento closest to ``Accept-Datetime`` (latest without one). None when
    the URL has no memento. Raises ValueError for a malformed ``Accept-Datetime``."""
    surt = surt_key(url)
    if accept_datetime is not None:
        snap = closest(surt, parse_accept_datetime(accept_datetime), user, url)
    else:
        snap = last(surt, user, url)
    if snap is None:
        return None
    location = memento_uri(snap, origin)
    links = [_link(url, "original"), _link(timemap_uri(url, origin), "timemap", type=LINK_FORMAT),
             _link(location, "memento", datetime=_dt(snap))]
    return Negotiation(snap, location, {"Vary": "accept-datetime", "Link": ", ".join(links)})


# --------------------------------------------------------------------------------------------
# TimeMaps
# --------------------------------------------------------------------------------------------
@dataclass
class TimeMapPage:
    url: str
    entries: list[Snapshot]
    first: Snapshot | None
    last: Snapshot | None
    from_ts: str | None
    next_ts: str | None


def page_size() -> int:
    return max(1, int(getattr(settings, "NAQL_TIMEMAP_PAGE_SIZE", 1000)))


def timemap_page(url: str, user=None, from_ts: str | None = None, size: int | None = None) -> TimeMapPage:
    """One page of the TimeMap of ``url`` starting at ``from_ts`` (inclusive). ValueError on a
    bad ``from_ts``."""
    size = size or page_size()
    surt = surt_key(url)
    qs = mementos(surt, user).order_by("captured_at", "pk")
    start = parse_ts(from_ts) if from_ts else None
    scoped = qs.filter(captured_at__gte=start) if start else qs
    fields = ("pk", "guid", "url", "surt", "captured_at", "status", "mime", "payload_digest", "length")
    entries = list(scoped.only(*fields)[:size])
    next_ts = None
    if len(entries) == size:
        boundary = entries[-1].captured_at.replace(microsecond=0) + timedelta(seconds=1)
        tail_start = boundary - timedelta(seconds=1)
        seen = {e.pk for e in entries}
        entries.extend(s for s in qs.filter(captured_at__gte=tail_start, captured_at__lt=boundary).only(*fields)
                       if s.pk not in seen)
        nxt = qs.filter(captured_at__gte=boundary).only("captured_at").first()
        next_ts = timestamp14(nxt.captured_at) if nxt else None
    return TimeMapPage(url, entries, first(surt, user), last(surt, user), from_ts, next_ts)


def timemap_links(page: TimeMapPage, origin: str, fmt: str) -> list[str]:
    """Paging links (self, next) of a TimeMap page, for the body or the ``Link`` header."""
    ctype = LINK_FORMAT if fmt == "link" else JSON_LINES
    params = {"type": ctype}
    if page.entries:
        params["from"] = _dt(page.entries[0])
        params["until"] = _dt(page.entries[-1])
    links = [_link(timemap_uri(page.url, origin, fmt, page.from_ts), "self", **params)]
    if page.next_ts:
        links.append(_link(timemap_uri(page.url, origin, fmt, page.next_ts), "next", type=ctype))
    return links


def render_link_format(page: TimeMapPage, origin: str) -> str:
    lines = [_link(page.url, "original"), _link(timegate_uri(page.url, origin), "timegate"),
             *timemap_links(page, origin, "link")]
    first_pk = page.first.pk if page.first else None
    last_pk = page.last.pk if page.last else None
    for s in page.entries:
        rel = " ".join(w for w, on in (("first", s.pk == first_pk), ("last", s.pk == last_pk)) if on)
        lines.append(_link(memento_uri(s, origin), f"{rel} memento".strip(), datetime=_dt(s)))
    return ",\n".join(lines) + "\n"


def render_json_lines(page: TimeMapPage, origin: str) -> str:
    rows = [json.dumps({"urlkey": s.surt, "timestamp": s.timestamp, "url": s.url, "mime": s.mime or "-",
                        "status": str(s.status), "digest": s.payload_digest or "-", "length": str(s.length),
                        "guid": s.guid, "memento": memento_uri(s, origin)}, ensure_ascii=False)
            for s in page.entries]
    return "".join(r + "\n" for r in rows)
