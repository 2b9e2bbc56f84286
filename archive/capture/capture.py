"""Capture a URL: guarded fetches, redirects hop by hop, page requisites, one WARC, snapshots.

Order of work, chosen so that a failure at any point leaves nothing half-done:
1. fetch everything (guarded, limited; bodies streamed into spooled, hashed buffers, never held
   whole in memory); any error before step 2 writes nothing;
2. write all records into a temporary WARC, fsync, checksum, publish it (immutable);
3. create all snapshot rows in one transaction pointing at the published bytes, committed
   durably (:func:`durable_commit`: on SQLite the WAL is fsynced at this COMMIT);
4. after the commit, the text of the page is extracted (derived data, :mod:`archive.analysis`):
   the capture is done, citable and replayable before that.
A crash between 2 and 3 leaves an unreferenced but valid file (``verify`` lists it); never a
row pointing at missing bytes.
"""

from __future__ import annotations

import gzip
import json
import logging
import re
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urljoin

from django.conf import settings
from django.db import transaction

from archive import clock
from archive.capture.fetch import Exchange, FetchLimits, fetch
from archive.capture.guard import check_url
from archive.capture.requisites import css_requisites, html_requisites
from archive.errors import ArchiveError, CaptureError, InvalidURL, RedirectLoop, TooManyRedirects
from archive.extract.charset import decode_css
from archive.models import CaptureJob, Snapshot, WarcFile
from archive.store.durability import durable_commit
from archive.store.snapshots import TEXT_TYPES
from archive.store.warcstore import (
    HTTP_REQUEST_TYPE,
    HTTP_RESPONSE_TYPE,
    REVISIT_PROFILE,
    WarcBuilder,
    read_range,
    storage_os_error,
    warc_digest,
)
from archive.uri import iri_to_uri, surt_key

log = logging.getLogger(__name__)

REDIRECT_STATUSES = {301, 302, 303, 307, 308}
HTML_TYPES = ("text/html", "application/xhtml+xml")
REQUISITE_WORKERS = 4


@dataclass
class CaptureResult:
    snapshot: Snapshot  # snapshot of the requested URL (first hop)
    final: Snapshot  # snapshot at the end of the redirect chain
    snapshots: list[Snapshot]
    warc_file: WarcFile
    requisite_errors: list[dict] = field(default_factory=list)
    analysis_deferred: bool = False  # text extraction of a hop runs after the commit (archive.analysis)


def _limits() -> FetchLimits:
    return FetchLimits(
        connect_timeout=settings.NAQL_CAPTURE_CONNECT_TIMEOUT,
        read_timeout=settings.NAQL_CAPTURE_READ_TIMEOUT,
        total_timeout=settings.NAQL_CAPTURE_TOTAL_TIMEOUT,
        max_body=settings.NAQL_CAPTURE_MAX_BODY,
    )


def _fetch(url: str, limits: FetchLimits | None = None) -> Exchange:
    """One guarded exchange; its body is spooled (past 1 MiB) into NAQL_TMP_DIR as it arrives."""
    try:
        return fetch(url, limits=limits or _limits(), proxy=settings.NAQL_CAPTURE_PROXY,
                     allowed_networks=tuple(settings.NAQL_CAPTURE_ALLOWED_NETWORKS),
                     proxy_local_dns=settings.NAQL_CAPTURE_PROXY_LOCAL_DNS, spool_dir=str(settings.NAQL_TMP_DIR))
    except OSError as exc:  # spooling a large body: a full disk is a clear, retryable error
        raise storage_os_error(exc, "spooled response body") from exc


def _mime(ex: Exchange) -> str:
    return (ex.header("Content-Type") or "").split(";")[0].strip().lower()


def _ip(ex: Exchange) -> str | None:
    """Address the bytes came from (the proxy's, in proxy mode: that is who we talked to)."""
    addr = ex.remote_addr or ""
    return addr.rsplit(":", 1)[0].strip("[]") or None


def follow_redirects(url: str, *, max_hops: int | None = None, limits: FetchLimits | None = None) -> list[Exchange]:
    """Fetch ``url`` and every redirect hop after it. Each hop is guarded and kept. Raises a
    CaptureError (InvalidURL for a Location that cannot be parsed, RedirectLoop, TooManyRedirects,
    or the fetch's own) when the chain cannot be followed."""
    max_hops = settings.NAQL_CAPTURE_MAX_REDIRECTS if max_hops is None else max_hops
    current = check_url(iri_to_uri(url), allowed_networks=settings.NAQL_CAPTURE_ALLOWED_NETWORKS).url
    Path(settings.NAQL_TMP_DIR).mkdir(parents=True, exist_ok=True)  # where large bodies are spooled
    seen = {current}
    hops: list[Exchange] = []
    while True:
        ex = _fetch(current, limits)
        hops.append(ex)
        location = ex.header("Location")
        if ex.status not in REDIRECT_STATUSES or not location:
            return hops
        try:
            nxt = iri_to_uri(urljoin(current, location.strip()))
        except ValueError as exc:  # e.g. "http://[::1": the server's error, not a bug of ours
            raise InvalidURL(f"redirect to a malformed URL: {location.strip()[:200]!r}",
                             details={"chain": [h.url for h in hops], "location": location.strip()[:2000]}) from exc
        if nxt in seen:
            raise RedirectLoop(f"redirect loop: {nxt} was already visited",
                               details={"chain": [h.url for h in hops] + [nxt]})
        if len(hops) > max_hops:
            raise TooManyRedirects(f"more than {max_hops} redirects", details={"chain": [h.url for h in hops]})
        check_url(nxt, allowed_networks=settings.NAQL_CAPTURE_ALLOWED_NETWORKS)
        seen.add(nxt)
        current = nxt


def _safe_decoded(ex: Exchange) -> bytes | None:
    """Body with Content-Encoding undone, or None when it cannot be (corrupt or unknown coding).

    The archived bytes are kept either way; only derived work (text, requisites) is skipped."""
    try:
        return ex.decoded_body()
    except CaptureError:
        log.warning("cannot decode body of %s (%s)", ex.url, ex.header("Content-Encoding"))
        return None


def fetch_requisites(page: Exchange) -> tuple[list[Exchange], list[dict]]:
    """Stylesheets, images, scripts, fonts the page needs; bounded by count and total bytes.

    Fetched a few at a time (each guarded like the page); CSS is read for fonts and images one
    level down. A failing requisite is noted, not fatal: the page itself is the evidence."""
    from archive.extract.article import decode_html

    body = _safe_decoded(page)
    if body is None:
        return [], [{"url": page.url, "code": "undecodable", "message": "page body could not be decoded"}]
    html, _ = decode_html(body, page.header("Content-Type"))
    queue = list(dict.fromkeys(html_requisites(html, page.url)))
    got: list[Exchange] = []
    errors: list[dict] = []
    seen = {page.url}
    budget = settings.NAQL_CAPTURE_MAX_REQUISITE_BYTES
    with ThreadPoolExecutor(max_workers=REQUISITE_WORKERS, thread_name_prefix="requisites") as pool:
        while queue and len(got) < settings.NAQL_CAPTURE_MAX_REQUISITES and budget > 0:
            room = settings.NAQL_CAPTURE_MAX_REQUISITES - len(got)
            batch = [u for u in dict.fromkeys(queue) if u not in seen][:room]
            queue = []
            seen.update(batch)
            # each requisite may use at most what is left of the budget, so none is fetched to be thrown away
            limits = replace(_limits(), max_body=min(settings.NAQL_CAPTURE_MAX_BODY, budget))
            futures = {url: pool.submit(follow_redirects, url, max_hops=3, limits=limits) for url in batch}
            for url, fut in futures.items():
                try:
                    hops = fut.result()
                except CaptureError as exc:
                    errors.append({"url": url, **exc.as_dict()})
                    continue
                size = sum(h.response_length for h in hops)
                if size > budget or len(got) + len(hops) > settings.NAQL_CAPTURE_MAX_REQUISITES:
                    errors.append({"url": url, "code": "requisite_budget",
                                   "message": "requisite count or size limit reached"})
                    continue
                budget -= size
                got.extend(hops)
                last = hops[-1]
                if last.status == 200 and _mime(last) == "text/css":
                    css = decode_css(_safe_decoded(last) or b"", last.header("Content-Type"))[0]
                    queue.extend(u for u in css_requisites(css, last.url) if u not in seen)
    return got, errors


@dataclass
class RevisitIndex:
    """Where a capture's exchanges may find their revisit originals, keyed ``(SURT, payload
    digest, status)``: ``stored``, the latest committed response of each key looked up so far
    (:meth:`look_up`), and ``written``, the responses written earlier into the same WARC (not
    committed yet, so the database cannot find them; they are newer than any stored one). One
    index serves a capture's page, its requisites and, in a batch, every page of the batch."""

    stored: dict = field(default_factory=dict)
    written: dict = field(default_factory=dict)

    def look_up(self, exchanges) -> None:
        """Add the originals of ``exchanges`` to ``stored``, in one statement per 300 keys: the
        latest earlier response with the same SURT, status and payload digest, on the partial
        index ``snapshot_surt_payload`` (the statement repeats its condition). Written as SQL
        because building the ORM query cost ten times running it (issue 19: ~3.6 ms a page under
        cProfile, against 0.7). Each original carries the columns a revisit record and its row
        need, and its file's name (``warc_file_name``) for the request comparison."""
        from django.db import connection

        keys = {(surt_key(ex.url), _payload_digest(ex), ex.status) for ex in exchanges} - self.stored.keys()
        q = connection.ops.quote_name
        meta, file_meta = Snapshot._meta, WarcFile._meta
        col = {f: f"s.{q(meta.get_field(f).column)}" for f in (
            "url", "surt", "payload_digest", "status", "captured_at", "record_id", "records", "warc_file",
            "record_type")}
        names = ", ".join(col[f] for f in ("url", "surt", "payload_digest", "status", "captured_at", "record_id",
                                           "records", "warc_file"))
        for chunk in (sorted(keys)[i:i + 300] for i in range(0, len(keys), 300)):  # bounded IN lists
            surts, digests = sorted({k[0] for k in chunk}), sorted({k[1] for k in chunk})
            # identifiers from the models' metadata, quoted; every value is a parameter
            sql = (f"SELECT s.{q(meta.pk.column)}, {names}, w.{q(file_meta.get_field('name').column)} AS "  # noqa: S608
                   f"warc_file_name FROM {q(meta.db_table)} s LEFT JOIN {q(file_meta.db_table)} w "
                   f"ON w.{q(file_meta.pk.column)} = {col['warc_file']} "
                   f"WHERE {col['surt']} IN ({', '.join(['%s'] * len(surts))}) "
                   f"AND {col['payload_digest']} IN ({', '.join(['%s'] * len(digests))}) "
                   f"AND {col['record_type']} = %s AND NOT ({col['record_type']} = %s) "
                   f"ORDER BY {col['captured_at']} DESC")
            for row in Snapshot.objects.raw(sql, [*surts, *digests, Snapshot.RecordType.RESPONSE,
                                                  Snapshot.RecordType.REVISIT]):
                key = (row.surt, row.payload_digest, row.status)
                if key in keys:
                    self.stored.setdefault(key, row)  # the first of each key is its latest


def _payload_digest(ex: Exchange) -> str:
    """The WARC-Payload-Digest of the body as sent (chunk framing included), computed while it was read."""
    return warc_digest(ex.body.hash)


def _reusable_requisite(ex: Exchange, payload_digest: str) -> Snapshot | None:
    """A requisite's latest capture, when it was made recently and holds exactly what was just
    fetched (status 200, same payload digest): the requisite need not be recorded again
    (``NAQL_CAPTURE_REQUISITE_REUSE_SECONDS``). Only a public, live capture made by a GET is reused,
    so that the page's requisites are seen by whoever sees the page."""
    window = settings.NAQL_CAPTURE_REQUISITE_REUSE_SECONDS
    if window <= 0 or ex.status != 200 or ex.method != "GET":
        return None
    latest = (Snapshot.objects.filter(surt=surt_key(ex.url), withdrawn_at__isnull=True)
              .order_by("-captured_at", "-pk").only("pk", "url", "status", "payload_digest", "captured_at",
                                                    "private_to_group", "record_id", "warc_file").first())
    if (latest is None or latest.url != ex.url or latest.status != 200 or latest.payload_digest != payload_digest
            or latest.private_to_group_id is not None
            or abs((ex.started_at - latest.captured_at).total_seconds()) > window):
        return None
    return latest


def _same_request(original: Snapshot, request_bytes: bytes) -> str | None:
    """WARC-Record-ID of the original's request record when its block is byte for byte
    ``request_bytes`` (the same request sent again), else None."""
    rec = next((r for r in original.records or [] if r.get("type") == "request"), None)
    if rec is None:
        return None
    try:
        raw = gzip.decompress(read_range(original.warc_file_name, int(rec["offset"]), int(rec["length"]),
                                         expected_sha256=rec.get("sha256")))
    except (ArchiveError, OSError, EOFError, zlib.error):
        return None
    head, _, rest = raw.partition(b"\r\n\r\n")
    m = re.search(rb"\r\nContent-Length:[ \t]*(\d+)", head, re.IGNORECASE)
    return rec.get("record_id") if m and rest[:int(m.group(1))] == request_bytes else None


def _write_exchange(builder: WarcBuilder, ex: Exchange, payload_digest: str | None = None, *,
                    index: RevisitIndex) -> dict:
    """The exchange's response (or, when an earlier response of the URL holds the same payload, a
    revisit record: WARC 1.1 identical-payload-digest profile, HTTP head kept, no body) and its
    request record. A revisit's request is not written again when it is byte for byte the
    original's (``request_same_as`` names that record; the metadata record says so).

    ``index``: the capture's :class:`RevisitIndex`, in which :meth:`RevisitIndex.look_up` has
    already been asked for this exchange; a response written here is added to its ``written``."""
    payload_digest = payload_digest or _payload_digest(ex)
    key = (surt_key(ex.url), payload_digest, ex.status)
    in_batch = index.written.get(key)
    original = None if in_batch is not None else index.stored.get(key)
    same_request = None
    if in_batch is not None or original is not None:
        ref_id, ref_url, ref_date = ((in_batch["response"].record_id, in_batch["exchange"].url,
                                      in_batch["response"].date) if in_batch is not None
                                     else (original.record_id, original.url, original.captured_at))
        resp = builder.write_record(
            "revisit", block=ex.response_head, content_type=HTTP_RESPONSE_TYPE, uri=ex.url, date=ex.started_at,
            headers={"WARC-Profile": REVISIT_PROFILE, "WARC-Refers-To": ref_id,
                     "WARC-Refers-To-Target-URI": ref_url,
                     "WARC-Refers-To-Date": ref_date.strftime("%Y-%m-%dT%H:%M:%SZ"),
                     "WARC-Payload-Digest": payload_digest, "WARC-IP-Address": _ip(ex)},
        )
        if original is not None:
            same_request = _same_request(original, ex.request_bytes)
    else:
        resp = builder.write_record("response", block=ex.response_head, block_tail=ex.body,
                                    block_digest=warc_digest(ex.body.block_hash),
                                    content_type=HTTP_RESPONSE_TYPE, uri=ex.url, date=ex.started_at,
                                    headers={"WARC-IP-Address": _ip(ex), "WARC-Payload-Digest": payload_digest})
    req = None if same_request else builder.write_record(
        "request", block=ex.request_bytes, content_type=HTTP_REQUEST_TYPE, uri=ex.url, date=ex.started_at,
        http_payload=True, headers={"WARC-Concurrent-To": resp.record_id})
    written = {"exchange": ex, "response": resp, "request": req, "payload_digest": payload_digest,
               "original": original, "original_in_batch": in_batch, "request_same_as": same_request}
    if resp.type == "response" and ex.method == "GET":
        index.written[key] = written  # indexed as a snapshot: later exchanges of this batch may refer to it
    return written


def _exchange_note(w: dict) -> dict:
    """What the metadata record says of one written exchange: its URL, timings and, when its
    request record was not written again, the record that holds the identical request."""
    note = {"url": w["exchange"].url, **w["exchange"].timings}
    if w.get("request_same_as"):
        note["request_same_as"] = w["request_same_as"]
    return note


def has_article_text(ex: Exchange) -> bool:
    """Whether a fetched page has article text of its own (the ``auto`` mode's test)."""
    from archive.extract.article import extract

    if ex.status != 200 or _mime(ex) not in HTML_TYPES:
        return True  # not an HTML page: a browser would not make text appear either
    body = _safe_decoded(ex)  # only an HTML page is read whole, to be parsed
    if body is None:
        return True
    try:
        return bool((extract(body, ex.header("Content-Type"), ex.url).main_text or "").strip())
    except Exception:  # noqa: BLE001 - an extractor failure is no reason to open a browser
        log.exception("extraction failed while choosing a capture mode for %s", ex.url)
        return True


def capture(url: str, *, job: CaptureJob | None = None, requisites: bool = True, user=None,
            hops: list[Exchange] | None = None, mode_note: str | None = None) -> CaptureResult:
    """Capture ``url`` now with Naql's fetch client. Raises a CaptureError subclass, having
    written nothing, on failure. ``hops``: the redirect chain already fetched (the ``auto`` mode
    of :func:`archive.capture.browser_capture.capture_with_mode` looks at the page first);
    ``mode_note`` goes into the metadata record. Browser captures: ``browser_capture``; several
    URLs in one WARC and one commit: :func:`archive.capture.batch.capture_batch`."""
    fetched = fetch_page(url, requisites=requisites, hops=hops, skew=clock.offset(), job=job)
    published, page = build_warc(warcinfo_fields(), lambda builder: write_page(builder, fetched, job=job,
                                                                              mode_note=mode_note))
    if job:
        job.heartbeat("written", warc=published.name, bytes=published.size)
    return _index(published, page.written, page.meta_rec, n_hops=page.n_hops, job=job, user=user,
                  req_errors=fetched.req_errors, reused=page.reused)


@dataclass
class FetchedPage:
    """What :func:`fetch_page` fetched for one requested URL: its redirect chain (``hops``, the
    page last), its requisites (``extra``) and the requisites that could not be fetched."""

    url: str
    hops: list[Exchange]
    extra: list[Exchange]
    req_errors: list[dict]
    fetch_seconds: float


@dataclass
class WrittenPage:
    """One page's records in a WARC being built: ``written`` (page hops first, then requisites;
    see :func:`_write_exchange`), its metadata record, and the snapshots of requisites reused."""

    written: list[dict]
    meta_rec: object
    n_hops: int
    reused: list[int]


def build_warc(warcinfo: dict, write):
    """Write a capture's WARC file: its ``warcinfo`` record (these extra fields), then
    ``write(builder)``'s records; publish it (fsynced, checksummed, immutable). Returns
    ``(published, what write returned)``; ``(None, None)`` when ``write`` returns None (nothing to
    archive after all: the file is removed). On any failure the temporary file is removed and
    nothing is published; an OSError (a full disk) becomes a clear, retryable StorageError."""
    try:
        builder = WarcBuilder()
    except OSError as exc:  # the temporary WARC cannot even be created (a full or read-only NAQL_TMP_DIR)
        raise storage_os_error(exc, "temporary WARC") from exc
    try:
        builder.write_warcinfo(extra=warcinfo)
        out = write(builder)
        if out is None:
            builder.abort()
            return None, None
        return builder.publish(), out
    except OSError as exc:
        builder.abort()
        raise storage_os_error(exc, builder.path.name) from exc
    except BaseException:
        builder.abort()
        raise


def warcinfo_fields() -> dict:
    """The extra fields of the warcinfo record of a raw capture's WARC file."""
    return {"operator": "Naql", "robots": "ignore (archival capture on request)",
            "capture-proxy": "yes" if settings.NAQL_CAPTURE_PROXY else "no",
            "max-body-bytes": settings.NAQL_CAPTURE_MAX_BODY}


def fetch_page(url: str, *, requisites: bool, hops: list[Exchange] | None = None, skew=None,
               job: CaptureJob | None = None) -> FetchedPage:
    """Fetch ``url`` (redirects followed) and, for an HTML page, its requisites. ``skew``: the
    database clock's offset (``archive.clock.offset()``) added to every exchange's times. Raises
    a CaptureError subclass when the page itself cannot be fetched."""
    t0 = time.monotonic()
    hops = hops or follow_redirects(url)
    page = hops[-1]
    extra, req_errors = [], []
    if requisites and page.status == 200 and _mime(page) in HTML_TYPES:
        extra, req_errors = fetch_requisites(page)
    if skew:
        for ex in (*hops, *extra):
            ex.started_at, ex.finished_at = ex.started_at + skew, ex.finished_at + skew
    fetched_s = time.monotonic() - t0
    if job:
        job.heartbeat("fetched", exchanges=len(hops) + len(extra), seconds=round(fetched_s, 3))
    return FetchedPage(url, hops, extra, req_errors, fetched_s)


def write_page(builder: WarcBuilder, fetched: FetchedPage, *, job: CaptureJob | None = None,
               mode_note: str | None = None, batch: RevisitIndex | None = None) -> WrittenPage:
    """Write one fetched page's exchanges and its metadata record into ``builder``. ``batch``: the
    :class:`RevisitIndex` of a batch's WARC (:mod:`archive.capture.batch`), so that a page finds
    its originals among the pages written before it; else the page gets its own. Raises OSError
    when the temporary WARC cannot be written."""
    hops = fetched.hops
    fresh, reused = _split_reused(fetched.extra)
    index = batch if batch is not None else RevisitIndex()
    index.look_up([*hops, *(ex for ex, _ in fresh)])
    written = [_write_exchange(builder, ex, index=index) for ex in hops]
    written += [_write_exchange(builder, ex, digest, index=index) for ex, digest in fresh]
    meta = {
        "requested_url": fetched.url, "requested_uri": hops[0].url, "final_url": hops[-1].url,
        "redirects": [{"url": h.url, "status": h.status, "location": h.header("Location")} for h in hops[:-1]],
        "requisites": [w["exchange"].url for w in written[len(hops):]],
        "requisite_errors": fetched.req_errors, "job": job.guid if job else None,
        "timings": {"fetch_seconds": round(fetched.fetch_seconds, 3),
                    "exchanges": [_exchange_note(w) for w in written]},
        "mode": "raw",  # the software's versions: the warcinfo record of this file
    }
    if reused:
        # fetched now, identical (status 200, payload digest) to the record named: not recorded again
        meta["requisites_reused"] = [{"url": ex.url, "same_as": snap.record_id} for ex, _, snap in reused]
    if mode_note:
        meta["mode_note"] = mode_note
    meta_rec = builder.write_record(
        "metadata", block=json.dumps(meta, ensure_ascii=False, separators=(",", ":")).encode("utf-8"),
        content_type="application/json", uri=hops[0].url, date=hops[0].started_at,
        headers={"WARC-Concurrent-To": written[0]["response"].record_id},
    )
    return WrittenPage(written, meta_rec, len(hops), [snap.pk for _, _, snap in reused])


def _split_reused(extra: list[Exchange]) -> tuple[list[tuple[Exchange, str]], list[tuple[Exchange, str, Snapshot]]]:
    """Requisites to write ``(exchange, payload digest)``, and those just archived identically
    ``(exchange, digest, snapshot holding them)``, which are not recorded again."""
    fresh, reused = [], []
    for ex in extra:
        digest = _payload_digest(ex)
        snap = _reusable_requisite(ex, digest)
        if snap is None:
            fresh.append((ex, digest))
        else:
            reused.append((ex, digest, snap))
    return fresh, reused


def create_warc_file(published) -> WarcFile:
    """The row of a just-published capture WARC (inside the indexing transaction)."""
    return WarcFile.objects.create(name=published.name, size=published.size, sha256=published.sha256,
                                   record_count=len(published.records))


def _index(published, written, meta_rec, *, n_hops, job, user, req_errors, mode="raw", resources=(),
           rendered_dom: bytes | None = None, reused: list[int] = ()) -> CaptureResult:
    """Index a published WARC: one snapshot per GET exchange (``written``: page hops first, then
    requisites; other methods stay in the WARC unindexed), in one transaction. Browser captures add
    their ``resources`` (screenshot, DOM) to the final page's ``records``; when the page's own HTML
    has no article text, the analysis after the commit (archive.analysis) extracts the text from
    that DOM record (``rendered_dom`` is the same bytes, no longer needed here)."""
    with durable_commit(), transaction.atomic():
        wf = create_warc_file(published)
        snaps = index_rows(wf, written, meta_rec, n_hops=n_hops, job=job, user=user, mode=mode,
                           resources=resources, reused=reused)
        hop_snaps, final = snaps[:n_hops], snaps[n_hops - 1]
        deferred = any(s.analysis_pending for s in hop_snaps)
        transaction.on_commit(lambda: _after_commit(hop_snaps, final))
    if job:
        job.heartbeat("archived", snapshot=final.guid, analysis="pending" if deferred else "none needed")
    if deferred and settings.NAQL_ANALYSE_INLINE:  # the rows are committed (or, in a test, saved)
        from archive.analysis import schedule

        for s in hop_snaps:
            if s.analysis_pending:
                schedule(s)
    return CaptureResult(snaps[0], final, snaps, wf, req_errors, analysis_deferred=deferred)


def index_rows(wf: WarcFile, written: list[dict], meta_rec, *, n_hops: int, job, user, mode: str = "raw",
               resources=(), reused=(), saved: dict | None = None) -> list[Snapshot]:
    """Create the snapshot rows of one page's exchanges in ``wf`` (inside the caller's
    transaction); returns them, page hops first. ``saved``: ``{response record ID: snapshot}`` of
    the rows created so far for this WARC (in a batch, by the pages before), through which a
    revisit of a response written earlier in the same WARC finds its original; these rows are
    added to it."""
    saved = {} if saved is None else saved
    snaps: list[Snapshot] = []
    for i, w in enumerate(written):
        ex, resp, req = w["exchange"], w["response"], w["request"]
        if i >= n_hops and ex.method != "GET":
            continue  # e.g. a script's POST: kept in the WARC, but not a memento of the URL
        records = [resp.as_dict(), *([req.as_dict()] if req is not None else [])]
        if i == 0:
            records.append(meta_rec.as_dict())
        if i == n_hops - 1:
            records.extend(resources)
        original = w["original"]
        if w.get("original_in_batch") is not None:
            original = saved[w["original_in_batch"]["response"].record_id]
        snap = Snapshot(
            url=ex.url, captured_at=resp.date, status=ex.status, mime=_mime(ex),
            content_type=ex.header("Content-Type") or "", payload_sha256=ex.payload_body.hexdigest(),
            payload_length=ex.payload_body.length, payload_digest=w["payload_digest"],
            record_type=resp.type, record_id=resp.record_id, record_sha256=resp.sha256, warc_file=wf,
            offset=resp.offset, length=resp.length, records=records, payload_snapshot=original,
            is_requisite=i >= n_hops, job=job, owner=user if getattr(user, "pk", None) else None,
            capture_mode=mode, requisites_reused=list(reused) if i == n_hops - 1 else [],
            # the page a requisite belongs to is saved before it (hops come first): set in the
            # INSERT, not by an UPDATE per requisite afterwards
            page=snaps[n_hops - 1] if i >= n_hops else None,
        )
        # commit first, derive later: text extraction runs after the commit (archive.analysis)
        snap.analysis_pending = i < n_hops and (not snap.mime or snap.mime in TEXT_TYPES) and ex.payload_body.length > 0
        snap.save()
        snaps.append(snap)
        saved[resp.record_id] = snap
    hop_snaps, final = snaps[:n_hops], snaps[n_hops - 1]
    for a, b in zip(hop_snaps, hop_snaps[1:], strict=False):
        a.redirect_to = b
    for s in hop_snaps[:-1]:
        s.final = final
        s.save(update_fields=["redirect_to", "final"])
    return snaps


def _after_commit(hop_snaps: list[Snapshot], final: Snapshot) -> None:
    """Queue the analysis first, so that a follow-up queued by a snapshot_captured receiver
    usually finds the text ready (it calls analyse() anyway). With NAQL_ANALYSE_INLINE the
    analysis runs right after the transaction instead, in capture itself."""
    from archive.analysis import schedule
    from archive.signals import snapshot_captured

    if not settings.NAQL_ANALYSE_INLINE:
        for s in hop_snaps:
            if s.analysis_pending:
                schedule(s)
    snapshot_captured.send(sender=Snapshot, snapshot=final)
