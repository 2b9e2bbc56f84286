"""Page metadata from a parsed HTML document: title, byline, dates, language, canonical URL.

Also the small lxml/URL helpers that :mod:`archive.extract.article` shares (parsing, XPath without
exceptions, ``<meta>`` values, JSON-LD, document base URL, IRI → URI). Pure functions: no
database, network or Django.

Metadata precedence (first non-empty wins; the ``*_source`` fields say which one was used):

- title: ``og:title`` → JSON-LD ``headline`` → the ``<h1>`` of the ``<article>`` / ``<main>`` (or
  the page's only ``<h1>``) → ``<title>``. A trailing " - Site name" (site name from
  ``og:site_name`` / JSON-LD publisher) is stripped from whichever candidate is used.
- byline: ``<meta name=author>`` (unless it is a URL) → JSON-LD ``author`` → ``a[rel=author]`` →
  an element with class ``byline``.
- published: JSON-LD ``datePublished`` → ``article:published_time`` and kindred meta tags →
  ``itemprop=datePublished`` → the first ``<time datetime>`` → htmldate (original date).
- modified: JSON-LD ``dateModified`` → ``article:modified_time`` → ``og:updated_time`` →
  ``itemprop=dateModified``. No heuristic fallback: a guessed modification date would make every
  capture look edited.
- language: ``<html lang>`` → ``og:locale`` → ``Content-Language`` → JSON-LD ``inLanguage`` →
  script / stop-word detection (ar, fa, he, es, fr, en). A declared language whose script
  contradicts the text (an ``en-US`` template default on an Arabic page) yields to detection.
  Only the primary subtag is kept (``ar_AR`` → ``ar``).
- canonical_url: ``<link rel=canonical>`` → ``og:url`` → JSON-LD ``url`` / ``mainEntityOfPage``,
  resolved against the document base URL (``<base href>`` or the page URL) and made a URI.

Datetimes are timezone-aware. A date without a time becomes midnight UTC; a naive timestamp is
taken as UTC.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, date, datetime, time, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------
# Parsing helpers
# --------------------------------------------------------------------------------------------

_WS_RE = re.compile(r"\s+")


def _clean(s: str | None) -> str | None:
    if s is None:
        return None
    s = _WS_RE.sub(" ", s).strip()
    return s or None


def _parse(html: str):
    """An lxml document, or None when there is nothing parsable."""
    import lxml.html
    from lxml import etree

    if not html.strip():
        return None
    try:
        parser = lxml.html.HTMLParser(encoding="utf-8", remove_comments=True)
        return lxml.html.document_fromstring(html.encode("utf-8", errors="replace"), parser=parser)
    except (etree.ParserError, etree.XMLSyntaxError, ValueError) as exc:
        log.debug("lxml could not parse document: %s", exc)
        return None


def _xpath(doc, expr: str) -> list:
    if doc is None:
        return []
    try:
        return doc.xpath(expr)
    except Exception:  # lxml raises assorted errors on odd trees
        return []


def _text_of(el) -> str | None:
    try:
        return _clean(el.text_content())
    except (AttributeError, ValueError):
        return None


class _Meta:
    """``<meta name|property|itemprop=… content=…>`` values, keyed by lower-cased name."""

    def __init__(self, doc):
        self.values: dict[str, list[str]] = {}
        for el in _xpath(doc, "//meta[@content]"):
            content = _clean(el.get("content"))
            if not content:
                continue
            for attr in ("property", "name", "itemprop", "http-equiv"):
                key = (el.get(attr) or "").strip().lower()
                if key:
                    self.values.setdefault(key, []).append(content)

    def first(self, *names: str) -> str | None:
        for name in names:
            vals = self.values.get(name.lower())
            if vals:
                return vals[0]
        return None

    def first_with_source(self, *names: str) -> tuple[str | None, str | None]:
        for name in names:
            vals = self.values.get(name.lower())
            if vals:
                return vals[0], "meta:" + name
        return None, None


_ARTICLE_TYPES = re.compile(r"(Article|BlogPosting|Report|Posting|Story)$")


def _json_ld(doc) -> dict:
    """The most article-like JSON-LD object of the page ({} if none)."""
    objects: list[dict] = []

    def walk(node):
        if isinstance(node, list):
            for n in node:
                walk(n)
        elif isinstance(node, dict):
            objects.append(node)
            if "@graph" in node:
                walk(node["@graph"])

    for el in _xpath(doc, "//script[@type]"):
        if (el.get("type") or "").strip().lower() != "application/ld+json":
            continue
        try:
            walk(json.loads(el.text or "", strict=False))
        except (ValueError, TypeError):
            continue

    def types(o):
        t = o.get("@type")
        return t if isinstance(t, list) else [t]

    for o in objects:
        if any(isinstance(t, str) and _ARTICLE_TYPES.search(t) for t in types(o)):
            return o
    for o in objects:
        if o.get("headline"):
            return o
    return {}


def _ld_name(node) -> str | None:
    """Name(s) of a JSON-LD Person/Organization, list of them, or a plain string."""
    if isinstance(node, str):
        return _clean(node)
    if isinstance(node, dict):
        return _clean(node.get("name")) if isinstance(node.get("name"), str) else None
    if isinstance(node, list):
        names = [n for n in (_ld_name(x) for x in node) if n]
        return ", ".join(names) or None
    return None


def _base_url(doc, url: str) -> str:
    for el in _xpath(doc, "//base[@href]"):
        href = (el.get("href") or "").strip()
        if href:
            return urljoin(url, href)
    return url


_URI_SAFE = "/%:@!$&'()*+,;=-._~?#[]"


def to_uri(url: str) -> str:
    """An IRI as a URI: IDNA host, percent-encoded UTF-8 path/query (existing escapes kept)."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return url
    netloc = parts.netloc
    if netloc and not netloc.isascii():
        userinfo, at, hostport = netloc.rpartition("@")
        host, colon, port = hostport.partition(":")
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            host = quote(host, safe="")
        netloc = userinfo + at + host + colon + port
    return urlunsplit((parts.scheme, netloc, quote(parts.path, safe=_URI_SAFE),
                       quote(parts.query, safe=_URI_SAFE), quote(parts.fragment, safe=_URI_SAFE)))


def absolute_url(href: str, base: str) -> str | None:
    """``href`` resolved against ``base`` as a URI; None for javascript:/data:/empty links."""
    href = (href or "").strip()
    if not href or href.lower().startswith(("javascript:", "data:", "vbscript:")):
        return None
    try:
        return to_uri(urljoin(base, href))
    except ValueError:
        return None


# --------------------------------------------------------------------------------------------
# Metadata
# --------------------------------------------------------------------------------------------

_TITLE_SEPARATORS = (" - ", " | ", " – ", " — ", " :: ", " » ", " · ", " : ")


def _strip_site_suffix(title: str, site_name: str | None) -> str:
    if not site_name:
        return title
    for sep in _TITLE_SEPARATORS:
        if title.endswith(sep + site_name):
            return title[: -len(sep + site_name)].strip() or title
        if title.startswith(site_name + sep):
            return title[len(site_name + sep):].strip() or title
    return title


def _title(doc, meta: _Meta, ld: dict, site_name: str | None) -> tuple[str | None, str | None]:
    candidates: list[tuple[str | None, str]] = [
        (meta.first("og:title"), "og:title"),
        (_clean(ld.get("headline")) if isinstance(ld.get("headline"), str) else None, "json-ld:headline"),
    ]
    h1s = _xpath(doc, "//article//h1 | //main//h1") or _xpath(doc, "//body//h1")
    if len(h1s) >= 1 and (len(h1s) == 1 or _xpath(doc, "//article//h1 | //main//h1")):
        candidates.append((_text_of(h1s[0]), "h1"))
    titles = _xpath(doc, "//title")
    if titles:
        candidates.append((_text_of(titles[0]), "title"))
    for value, source in candidates:
        if value:
            return _strip_site_suffix(value, site_name), source
    return None, None


def _byline(doc, meta: _Meta, ld: dict) -> str | None:
    author = meta.first("author", "article:author", "parsely-author", "sailthru.author", "dc.creator")
    if author and not re.match(r"(?i)^https?://", author):
        return author
    name = _ld_name(ld.get("author"))
    if name:
        return name
    for el in _xpath(doc, "//a[contains(concat(' ', normalize-space(@rel), ' '), ' author ')]"):
        text = _text_of(el)
        if text:
            return text
    for el in _xpath(doc, "//*[contains(concat(' ', normalize-space(@class), ' '), ' byline ')]"):
        text = _text_of(el)
        if text:
            return text
    return None


def parse_datetime(value: str | None) -> datetime | None:
    """An aware datetime from ISO 8601 / RFC 2822 text; date-only → midnight UTC, naive → UTC."""
    value = (value or "").strip()
    if not value:
        return None
    dt: datetime | None = None
    candidate = value.replace(" ", "T", 1) if re.match(r"^\d{4}-\d{2}-\d{2} \d", value) else value
    try:
        dt = datetime.fromisoformat(candidate)
    except ValueError:
        try:
            dt = datetime.combine(date.fromisoformat(value[:10]), time(0)) if re.match(
                r"^\d{4}-\d{2}-\d{2}(?!\d)", value) else None
        except ValueError:
            dt = None
        if dt is None:
            try:
                dt = parsedate_to_datetime(value)
            except (TypeError, ValueError, IndexError):
                return None
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    # The stated offset is kept (it is what the page says), but only a real one: a page may state
    # any offset Python accepts (under 24 h), PostgreSQL refuses those past ±15:59 (a capture
    # crashed on such a page), and no zone is past ±14:00. A date whose UTC form leaves Python's
    # range (year 1 east of Greenwich) could be stored but never read back.
    if abs(dt.utcoffset()) > timedelta(hours=14):
        return None
    try:
        dt.astimezone(UTC)
    except OverflowError:
        return None
    return dt


_PUBLISHED_META = ("article:published_time", "og:published_time", "og:article:published_time",
                   "datepublished", "pubdate", "publishdate", "publish-date", "parsely-pub-date",
                   "sailthru.date", "dc.date.issued", "dcterms.issued", "dc.date", "date")
_MODIFIED_META = ("article:modified_time", "og:updated_time", "og:article:modified_time",
                  "datemodified", "dcterms.modified", "last-modified")


def _published(doc, meta: _Meta, ld: dict, html: str, url: str) -> tuple[datetime | None, str | None]:
    dt = parse_datetime(ld.get("datePublished")) if isinstance(ld.get("datePublished"), str) else None
    if dt:
        return dt, "json-ld:datePublished"
    for name in _PUBLISHED_META:
        dt = parse_datetime(meta.first(name))
        if dt:
            return dt, "meta:" + name
    for expr, source in (("//*[@itemprop='datePublished'][@datetime]", "itemprop:datePublished"),
                         ("//time[@pubdate][@datetime]", "time[pubdate]"),
                         ("//article//time[@datetime]", "time"),
                         ("//time[@datetime]", "time")):
        for el in _xpath(doc, expr):
            dt = parse_datetime(el.get("datetime"))
            if dt:
                return dt, source
    try:
        import htmldate

        found = htmldate.find_date(html, original_date=True, extensive_search=True, url=url)
    except Exception as exc:  # third-party heuristics must not break extraction
        log.debug("htmldate failed: %s", exc)
        found = None
    dt = parse_datetime(found)
    return (dt, "htmldate") if dt else (None, None)


def _modified(doc, meta: _Meta, ld: dict) -> tuple[datetime | None, str | None]:
    dt = parse_datetime(ld.get("dateModified")) if isinstance(ld.get("dateModified"), str) else None
    if dt:
        return dt, "json-ld:dateModified"
    for name in _MODIFIED_META:
        dt = parse_datetime(meta.first(name))
        if dt:
            return dt, "meta:" + name
    for el in _xpath(doc, "//*[@itemprop='dateModified'][@datetime]"):
        dt = parse_datetime(el.get("datetime"))
        if dt:
            return dt, "itemprop:dateModified"
    return None, None


def _canonical(doc, meta: _Meta, ld: dict, base: str) -> str | None:
    for el in _xpath(doc, "//link[@href]"):
        if "canonical" in (el.get("rel") or "").lower().split():
            found = absolute_url(el.get("href"), base)
            if found:
                return found
    candidates = [meta.first("og:url"), ld.get("url"), ld.get("mainEntityOfPage")]
    for c in candidates:
        if isinstance(c, dict):
            c = c.get("@id") or c.get("url")
        if isinstance(c, str) and c.strip():
            found = absolute_url(c, base)
            if found:
                return found
    return None


# -- language ---------------------------------------------------------------------------------

_STOPWORDS = {
    "en": set("the of and to in is that for it with as was on be by this are from at have has not "
              "an or which but were will their they been we".split()),
    "es": set("el la de que y en los las del se por un una con para es al lo como más pero sus "
              "fue ha su entre este desde también".split()),
    "fr": set("le la les de des et en du un une est que qui dans pour par sur au aux pas ce cette "
              "sont été avec il elle ne".split()),
}
_LATIN_LANGS = frozenset({"en", "es", "fr", "de", "it", "pt", "nl", "ca", "tr", "id", "pl", "ro", "sv"})
_ARABIC_SCRIPT_LANGS = frozenset({"ar", "fa", "ur", "ps", "ku", "sd"})
_WORD_RE = re.compile(r"[^\W\d_]+")


def _script_counts(text: str) -> dict[str, int]:
    counts = {"arabic": 0, "hebrew": 0, "latin": 0, "other": 0}
    for ch in text[:20000]:
        if not ch.isalpha():
            continue
        o = ord(ch)
        if 0x0600 <= o <= 0x06FF or 0x0750 <= o <= 0x077F or 0x08A0 <= o <= 0x08FF or 0xFB50 <= o <= 0xFEFF:
            counts["arabic"] += 1
        elif 0x0590 <= o <= 0x05FF:
            counts["hebrew"] += 1
        elif o < 0x0250 or 0x1E00 <= o <= 0x1EFF:
            counts["latin"] += 1
        else:
            counts["other"] += 1
    return counts


def detect_language(text: str) -> str | None:
    """Script first, then stop words for Latin script: ar, fa, he, es, fr or en (else None)."""
    counts = _script_counts(text or "")
    total = sum(counts.values())
    if total < 8:
        return None
    script = max(counts, key=counts.get)
    if counts[script] < 0.5 * total:
        return None
    if script == "arabic":
        persian = sum(text.count(c) for c in "پچژگکی")
        return "fa" if persian > 0.02 * counts["arabic"] else "ar"
    if script == "hebrew":
        return "he"
    if script == "latin":
        words = [w.lower() for w in _WORD_RE.findall(text[:20000])]
        scores = {lang: sum(1 for w in words if w in sw) for lang, sw in _STOPWORDS.items()}
        best = max(scores, key=scores.get)
        return best if scores[best] >= 2 else None
    return None


def _primary_subtag(tag: str | None) -> str | None:
    if not tag:
        return None
    primary = re.split(r"[-_]", tag.strip().split(",")[0].strip())[0].lower()
    return primary if re.fullmatch(r"[a-z]{2,3}", primary) else None


def _language(doc, meta: _Meta, ld: dict, content_language: str | None,
              text: str) -> tuple[str | None, str | None]:
    html_lang = None
    for el in _xpath(doc, "/html"):
        html_lang = el.get("lang") or el.get("{http://www.w3.org/XML/1998/namespace}lang")
    candidates = [(html_lang, "html[lang]"), (meta.first("og:locale"), "og:locale"),
                  (content_language or meta.first("content-language"), "content-language"),
                  (ld.get("inLanguage") if isinstance(ld.get("inLanguage"), str) else None,
                   "json-ld:inLanguage")]
    detected = detect_language(text)
    for value, source in candidates:
        lang = _primary_subtag(value)
        if not lang:
            continue
        if detected and detected != lang and (
                (lang in _LATIN_LANGS and detected in _ARABIC_SCRIPT_LANGS | {"he"})
                or (lang in _ARABIC_SCRIPT_LANGS | {"he"} and detected in _LATIN_LANGS)):
            return detected, f"detected (declared {lang} contradicts the script)"
        return lang, source
    return (detected, "detected") if detected else (None, None)
