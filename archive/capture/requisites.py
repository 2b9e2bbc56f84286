"""Page requisites: the URLs a browser would load to render a page (CSS, images, fonts, scripts).

:func:`html_requisites` reads an HTML document with ``lxml.html`` (tolerant of tag soup) and
:func:`css_requisites` a stylesheet. Both return absolute ASCII URLs (IRIs are converted with
:func:`archive.uri.iri_to_uri`), http(s) only, fragment dropped, de-duplicated, in document
order. ``<base href>`` is honoured. ``data:``, ``javascript:``, ``mailto:``, ``about:``,
``blob:`` and bare ``#fragment`` references are skipped.

Not requisites: hyperlinks (``<a href>``), ``rel=canonical``/``alternate``, iframes (they are
pages of their own and should be captured as such).
"""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

import lxml.etree
import lxml.html

from archive.uri import iri_to_uri

__all__ = ["html_requisites", "css_requisites", "srcset_urls"]

_CSS_COMMENT_RE = re.compile(r"/\*.*?\*/", re.S)
_CSS_URL_RE = re.compile(r"""url\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|([^)"'\s]*))\s*\)""", re.I)
_CSS_IMPORT_RE = re.compile(r"""@import\s+(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')""", re.I)
_CSS_ESCAPE_RE = re.compile(r"\\([0-9a-fA-F]{1,6}\s?|.)", re.S)
_SKIP_SCHEMES = ("data:", "javascript:", "mailto:", "about:", "blob:", "tel:", "vbscript:", "chrome:")

_STYLE_RELS = {"stylesheet"}
_ICON_RELS = {"icon", "shortcut", "apple-touch-icon", "apple-touch-icon-precomposed", "mask-icon"}
_PRELOAD_AS = {"style", "font", "script", "image"}


def css_unescape(s: str) -> str:
    def repl(m: re.Match) -> str:
        g = m.group(1)
        if g[0] in "0123456789abcdefABCDEF" and re.match(r"[0-9a-fA-F]", g):
            try:
                return chr(int(g.strip(), 16))
            except (ValueError, OverflowError):
                return "\ufffd"
        return "" if g == "\n" else g

    return _CSS_ESCAPE_RE.sub(repl, s)


def _absolute(ref: str | None, base: str) -> str | None:
    if ref is None:
        return None
    ref = ref.strip()
    if not ref or ref.startswith("#"):
        return None
    if ref.lower().replace("\t", "").replace("\n", "").startswith(_SKIP_SCHEMES):
        return None
    try:
        url = urljoin(base, ref)
        url = iri_to_uri(url)
    except ValueError:
        return None
    if urlsplit(url).scheme not in ("http", "https"):
        return None
    return url


class _Collector:
    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.urls: list[str] = []

    def add(self, ref: str | None, base: str) -> None:
        url = _absolute(ref, base)
        if url and url not in self.seen:
            self.seen.add(url)
            self.urls.append(url)


def srcset_urls(srcset: str) -> list[str]:
    """Candidate URLs of a ``srcset`` attribute (``a.jpg 1x, b.jpg 2x``), commas inside URLs kept."""
    out = []
    pos, n = 0, len(srcset)
    while pos < n:
        while pos < n and (srcset[pos].isspace() or srcset[pos] == ","):
            pos += 1
        start = pos
        while pos < n and not srcset[pos].isspace():
            pos += 1
        url = srcset[start:pos]
        if url.endswith(","):
            url = url.rstrip(",")
        else:
            # skip the descriptor up to the next comma (parentheses are not expected here)
            while pos < n and srcset[pos] != ",":
                pos += 1
        if url:
            out.append(url)
    return out


def _css_refs(css: str) -> list[str]:
    """Raw references of a stylesheet in order: ``@import "x"`` and every ``url(...)``."""
    css = _CSS_COMMENT_RE.sub(" ", css)
    found: list[tuple[int, str]] = []
    for m in _CSS_URL_RE.finditer(css):
        raw = next(g for g in m.groups() if g is not None)
        found.append((m.start(), css_unescape(raw)))
    for m in _CSS_IMPORT_RE.finditer(css):
        raw = m.group(1) if m.group(1) is not None else m.group(2)
        found.append((m.start(), css_unescape(raw)))
    found.sort(key=lambda t: t[0])
    return [ref for _pos, ref in found]


def css_requisites(css: str, base_url: str) -> list[str]:
    """Absolute URLs referenced by a stylesheet (``url(...)``, ``@import``), resolved against
    ``base_url`` (the stylesheet's own URL), de-duplicated, in order."""
    col = _Collector()
    for ref in _css_refs(css):
        col.add(ref, base_url)
    return col.urls


def html_requisites(html: str, base_url: str) -> list[str]:
    """Absolute URLs of the resources needed to render ``html`` (fetched from ``base_url``).

    Covers ``link rel=stylesheet`` / icons / ``preload`` and ``modulepreload``, ``img src`` and
    ``srcset``, ``picture > source srcset``, ``script src``, ``video``/``audio`` ``src`` and
    ``poster``, ``source``/``track src``, ``input type=image``, ``object data``, ``embed src``,
    ``style`` attributes and ``<style>`` blocks (``url()``, ``@import``), SVG ``image``/``use``.
    """
    if not html or not html.strip():
        return []
    try:
        doc = lxml.html.document_fromstring(html)
    except (lxml.etree.ParserError, ValueError):
        # e.g. a str with an XML encoding declaration: parse the bytes instead
        try:
            doc = lxml.html.document_fromstring(html.encode("utf-8"))
        except (lxml.etree.ParserError, ValueError):
            return []

    base = base_url
    for el in doc.iter("base"):
        href = el.get("href")
        if href and href.strip():
            base = urljoin(base_url, href.strip())
            break

    col = _Collector()
    for el in doc.iter():
        if not isinstance(el.tag, str):
            continue  # comments, processing instructions
        tag = el.tag.lower().rsplit("}", 1)[-1]
        get = el.get
        if tag == "link":
            rels = {r.lower() for r in (get("rel") or "").split()}
            as_ = (get("as") or "").lower()
            if rels & _STYLE_RELS or rels & _ICON_RELS or "modulepreload" in rels or (
                "preload" in rels and as_ in _PRELOAD_AS
            ):
                col.add(get("href"), base)
                if get("imagesrcset"):
                    for u in srcset_urls(get("imagesrcset")):
                        col.add(u, base)
        elif tag == "img":
            col.add(get("src"), base)
            for attr in ("srcset", "data-srcset"):
                if get(attr):
                    for u in srcset_urls(get(attr)):
                        col.add(u, base)
            if get("data-src"):
                col.add(get("data-src"), base)
        elif tag == "source":
            col.add(get("src"), base)
            if get("srcset"):
                for u in srcset_urls(get("srcset")):
                    col.add(u, base)
        elif tag == "script":
            col.add(get("src"), base)
        elif tag in ("video", "audio"):
            col.add(get("poster"), base)
            col.add(get("src"), base)
        elif tag == "track" or tag == "embed":
            col.add(get("src"), base)
        elif tag == "input":
            if (get("type") or "").lower() == "image":
                col.add(get("src"), base)
        elif tag == "object":
            col.add(get("data"), base)
        elif tag == "style":
            for ref in _css_refs(el.text or ""):
                col.add(ref, base)
        elif tag in ("image", "use"):
            col.add(get("href") or get("{http://www.w3.org/1999/xlink}href") or get("xlink:href"), base)
        elif tag in ("body", "table", "td", "th") and get("background"):
            col.add(get("background"), base)
        style = get("style")
        if style and "url(" in style.lower():
            for ref in _css_refs(style):
                col.add(ref, base)
    return col.urls
