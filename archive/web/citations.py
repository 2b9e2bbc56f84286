"""Copy-ready citations of a snapshot: APA, Chicago, MLA, BibTeX, RIS, CSL-JSON, Robust Links.

Each names the original URL, the archive URL (the citable page ``/s/<ID>``) and the capture
date (UTC). The Robust Links snippet carries ``data-originalurl``, ``data-versionurl`` (the
memento URI ``/web/<ts>/<url>`` on the replay origin) and ``data-versiondate`` (the capture
date, ISO 8601). Metadata comes from the extraction stored on the snapshot at the end of the
redirect chain; a missing author or date is left out rather than invented.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from datetime import datetime

from archive.models import Snapshot
from archive.uri import is_web_url, public_origin, uri_to_iri

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
MLA_MONTHS = ["Jan.", "Feb.", "Mar.", "Apr.", "May", "June", "July", "Aug.", "Sept.", "Oct.", "Nov.", "Dec."]
ARCHIVE_NAME = "Naql"


@dataclass
class CitationData:
    guid: str
    title: str
    author: str | None
    site: str | None
    language: str | None
    published: datetime | None
    original_url: str
    final_url: str
    archive_url: str
    memento_url: str
    captured_at: datetime


def citation_data(snap: Snapshot, *, public_url: str | None = None, replay_origin: str | None = None,
                  request=None) -> CitationData:
    """What every citation format is built from. The archive URL is on ``public_url`` if given,
    else on :func:`archive.uri.public_origin` of ``request`` (``NAQL_PUBLIC_URL`` when set,
    otherwise the host the request came to); the memento URL on ``replay_origin`` (default: the
    replay origin for ``request``)."""
    from archive.replay.memento import memento_uri

    public = (public_url or public_origin(request)).rstrip("/")
    if replay_origin is None:
        from archive.replay.memento import replay_origin as _origin

        replay_origin = _origin(request)
    page = snap.final or snap
    site = (page.extracted or {}).get("site_name") if isinstance(page.extracted, dict) else None
    return CitationData(
        guid=snap.guid, title=(page.title or page.url).strip(), author=(page.byline or "").strip() or None,
        site=(site or "").strip() or None, language=page.language or None, published=page.published_at,
        original_url=snap.url, final_url=page.url, archive_url=f"{public}/s/{snap.guid}",
        memento_url=memento_uri(page, replay_origin), captured_at=page.captured_at,
    )


# --------------------------------------------------------------------------------------------
# text styles
# --------------------------------------------------------------------------------------------
_RTL = re.compile("[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefc]")


def _iso(s: str | None) -> str | None:
    """``s`` wrapped in FIRST STRONG ISOLATE … POP DIRECTIONAL ISOLATE when it holds right-to-left
    letters: plain text has no ``<bdi>``, and without the isolates an Arabic title pulls the
    following date and brackets into its run ("(November 27 ,2021)"). Unicode TR9, X5c/X6a."""
    return f"\u2068{s}\u2069" if s and _RTL.search(s) else s


def _prose(c: CitationData) -> CitationData:
    """The fields of a human-readable citation: RTL names isolated, URLs shown as IRIs."""
    from dataclasses import replace

    return replace(c, title=_iso(c.title), author=_iso(c.author), site=_iso(c.site),
                   original_url=_ltr(uri_to_iri(c.original_url)))


def _ltr(url: str) -> str:
    """A URL with right-to-left letters in a LEFT-TO-RIGHT ISOLATE (U+2066 … U+2069): its
    structure (scheme, slashes) reads left to right and it does not reorder its neighbours."""
    return f"\u2066{url}\u2069" if _RTL.search(url) else url


def _long_date(d: datetime) -> str:
    return f"{MONTHS[d.month - 1]} {d.day}, {d.year}"


def _end(s: str) -> str:
    """Terminal period, unless the text already ends with punctuation (inside an isolate too)."""
    return s if s.rstrip("\u2069")[-1:] in ".?!؟" else s + "."


def apa(c: CitationData) -> str:
    """APA 7 (web page), with the archived copy."""
    c = _prose(c)
    date = f"{c.published.year}, {MONTHS[c.published.month - 1]} {c.published.day}" if c.published else "n.d."
    who = _end(c.author) if c.author else None
    head = f"{who} ({date}). {_end(c.title)}" if who else f"{_end(c.title)} ({date})."
    site = f" {_end(c.site)}" if c.site and c.site != c.author else ""
    return (f"{head}{site} {c.original_url} (archived {_long_date(c.captured_at)}, "
            f"{c.captured_at:%H:%M} UTC, at {c.archive_url})")


def chicago(c: CitationData) -> str:
    """Chicago 17 notes-bibliography (website content), with the archived copy."""
    c = _prose(c)
    parts = []
    if c.author:
        parts.append(_end(c.author))
    parts.append(f"“{_end(c.title)}”")
    tail = []
    if c.site:
        tail.append(c.site)
    if c.published:
        tail.append(_long_date(c.published))
    if tail:
        parts.append(_end(", ".join(tail)))
    parts.append(_end(c.original_url))
    parts.append(f"Archived {_long_date(c.captured_at)}, at {c.archive_url}.")
    return " ".join(parts)


def mla(c: CitationData) -> str:
    """MLA 9, with the archived copy."""
    c = _prose(c)
    def d(x: datetime) -> str:
        return f"{x.day} {MLA_MONTHS[x.month - 1]} {x.year}"

    parts = []
    if c.author:
        parts.append(_end(c.author))
    parts.append(f"“{_end(c.title)}”")
    container = [x for x in (c.site, d(c.published) if c.published else None, c.original_url) if x]
    parts.append(_end(", ".join(container)))
    parts.append(f"Archived at {c.archive_url}, captured {d(c.captured_at)}.")
    return " ".join(parts)


# --------------------------------------------------------------------------------------------
# machine formats
# --------------------------------------------------------------------------------------------
_BIB_SPECIAL = re.compile(r"([\\{}&%$#_~^])")


def _bib(s: str) -> str:
    return _BIB_SPECIAL.sub(lambda m: {"\\": r"\textbackslash{}", "~": r"\textasciitilde{}",
                                      "^": r"\textasciicircum{}"}.get(m.group(1), "\\" + m.group(1)), s)


def _bib_url(s: str) -> str:
    return s.replace("{", "%7B").replace("}", "%7D").replace("\\", "%5C")


def bibtex_key(c: CitationData) -> str:
    return f"naql{c.guid.replace('-', '')}"


def bibtex(c: CitationData) -> str:
    fields = [("title", "{" + _bib(c.title) + "}")]
    if c.author:
        fields.append(("author", "{" + _bib(c.author) + "}"))  # one corporate/literal name
    if c.site:
        fields.append(("organization", _bib(c.site)))
    if c.published:
        fields += [("year", str(c.published.year)), ("month", MONTHS[c.published.month - 1][:3].lower()),
                   ("date", c.published.date().isoformat())]
    fields += [
        ("url", _bib_url(c.original_url)),
        ("urldate", c.captured_at.date().isoformat()),
        ("howpublished", r"\url{" + _bib_url(c.archive_url) + "}"),
        ("note", f"Archived by {ARCHIVE_NAME} on {c.captured_at:%Y-%m-%d %H:%M:%S} UTC at "
                 r"\url{" + _bib_url(c.archive_url) + "}"),
    ]
    if c.language:
        fields.append(("language", _bib(c.language)))
    body = ",\n".join(f"  {k} = {{{v}}}" for k, v in fields)
    return f"@misc{{{bibtex_key(c)},\n{body}\n}}\n"


def _ris_date(d: datetime) -> str:
    return f"{d:%Y/%m/%d}"


def ris(c: CitationData) -> str:
    rows = [("TY", "ELEC"), ("TI", c.title)]
    if c.author:
        rows.append(("AU", c.author))
    if c.site:
        rows.append(("T2", c.site))
    if c.published:
        rows += [("PY", str(c.published.year)), ("DA", _ris_date(c.published))]
    rows += [("UR", c.original_url), ("UR", c.archive_url), ("Y2", _ris_date(c.captured_at)),
             ("DB", ARCHIVE_NAME), ("AN", c.guid),
             ("N1", f"Archived {c.captured_at:%Y-%m-%d %H:%M:%S} UTC at {c.archive_url}; "
                    f"memento {c.memento_url}")]
    if c.language:
        rows.append(("LA", c.language))
    rows.append(("ER", ""))
    return "".join(f"{tag}  - {' '.join(val.split())}\n" for tag, val in rows)


def _parts(d: datetime) -> dict:
    return {"date-parts": [[d.year, d.month, d.day]]}


def csl_item(c: CitationData) -> dict:
    item: dict = {"id": c.guid, "type": "webpage", "title": c.title, "URL": c.original_url,
                  "accessed": _parts(c.captured_at), "archive": ARCHIVE_NAME, "archive_location": c.archive_url,
                  "note": f"Archived {c.captured_at:%Y-%m-%dT%H:%M:%SZ} at {c.archive_url}"}
    if c.author:
        item["author"] = [{"literal": c.author}]
    if c.site:
        item["container-title"] = c.site
    if c.published:
        item["issued"] = _parts(c.published)
    if c.language:
        item["language"] = c.language
    return item


def csl_json(c: CitationData) -> str:
    return json.dumps([csl_item(c)], ensure_ascii=False, indent=2)


def robust_link(c: CitationData) -> str:
    """Robust Links snippet. Every URL written into it must be http(s) (``is_web_url``): a researcher
    pastes it into other sites, where a ``javascript:`` href would run. An original URL that is not
    is left out (the link then points at the memento only)."""
    e = html.escape
    memento = c.memento_url if is_web_url(c.memento_url) else ""
    original = c.original_url if is_web_url(c.original_url) else ""
    href = original or memento
    attrs = (f' href="{e(href)}"' if href else "") + (f' data-originalurl="{e(original)}"' if original else "")
    attrs += f' data-versionurl="{e(memento)}"' if memento else ""
    return f'<a{attrs} data-versiondate="{c.captured_at:%Y-%m-%dT%H:%M:%SZ}" dir="auto">{e(c.title)}</a>'


FORMATS = {"apa": ("APA", apa), "chicago": ("Chicago", chicago), "mla": ("MLA", mla),
           "bibtex": ("BibTeX", bibtex), "ris": ("RIS", ris), "csl": ("CSL-JSON", csl_json),
           "robust": ("Robust Links (HTML)", robust_link)}


def all_citations(snap: Snapshot, **kwargs) -> list[dict]:
    """[{key, label, text}] for every format, in display order."""
    c = citation_data(snap, **kwargs)
    return [{"key": key, "label": label, "text": fn(c)} for key, (label, fn) in FORMATS.items()]
