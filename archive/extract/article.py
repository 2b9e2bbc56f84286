"""Article text and metadata from one archived HTTP response body.

Pure functions over bytes: nothing here touches the database, the network or Django. Another
module stores the result (``Extracted.as_dict()``) on the Snapshot row; ``Extracted.from_dict``
rebuilds it for :mod:`archive.extract.versions`.

This is the public module; the work is split by job:

- :mod:`archive.extract.charset`: decoding (:func:`decode_html`) in the WHATWG order: byte-order mark,
  ``Content-Type`` charset, ``<meta>`` prescan, statistical detection, UTF-8 with replacement;
- :mod:`archive.extract.metadata`: title, byline, published/modified dates, language and canonical URL
  from meta tags, JSON-LD and markup (precedence documented there), plus the lxml/URL helpers;
- here: :class:`Extracted`, :class:`Link`, :class:`Embed`, :func:`extract`, the article body,
  links and embeds.

Every public name that used to be defined here can still be imported from here.

The article body (``article_paragraphs``) is chosen generically: trafilatura's main text (no
comments, no tables) is aligned back onto the paragraphs of :func:`archive.extract.text.visible_text` by
normalised text; if trafilatura finds nothing, a readability-style score picks the densest
container. No site-specific selectors are used.
"""

from __future__ import annotations

import codecs
import difflib
import logging
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime

from archive.extract.charset import (
    PRESCAN_BYTES,
    charset_from_content_type,
    decode_html,
    encoding_for_label,
)
from archive.extract.metadata import (
    _WS_RE,
    _base_url,
    _byline,
    _canonical,
    _clean,
    _json_ld,
    _language,
    _ld_name,
    _Meta,
    _modified,
    _parse,
    _published,
    _text_of,
    _title,
    _xpath,
    absolute_url,
    detect_language,
    parse_datetime,
    to_uri,
)
from archive.extract.text import Anchor, Paragraph, VisibleText, visible_text

__all__ = [
    "PRESCAN_BYTES",
    "Embed",
    "Extracted",
    "Link",
    "absolute_url",
    "charset_from_content_type",
    "decode_html",
    "detect_language",
    "encoding_for_label",
    "extract",
    "is_html_response",
    "parse_datetime",
    "to_uri",
]

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------
# Result types
# --------------------------------------------------------------------------------------------


@dataclass
class Link:
    """A hyperlink of the page: absolute URL and where its text sits in ``visible.text``."""

    url: str
    text: str
    start: int
    end: int
    rel: str = ""
    in_article: bool = False


@dataclass
class Embed:
    """Embedded third-party content: ``kind`` is ``tweet``, ``instagram``, ``tiktok`` or ``iframe``."""

    kind: str
    url: str
    text: str = ""


@dataclass
class Extracted:
    url: str
    charset: str | None = None
    is_html: bool = False
    title: str | None = None
    title_source: str | None = None
    byline: str | None = None
    published: datetime | None = None
    published_source: str | None = None
    modified: datetime | None = None
    modified_source: str | None = None
    language: str | None = None
    language_source: str | None = None
    canonical_url: str | None = None
    site_name: str | None = None
    description: str | None = None
    main_text: str | None = None
    visible: VisibleText | None = None
    article_paragraphs: list[int] = field(default_factory=list)
    article_method: str | None = None
    links: list[Link] = field(default_factory=list)
    embeds: list[Embed] = field(default_factory=list)

    # -- conveniences -----------------------------------------------------------------------
    def article_paragraph_texts(self) -> list[str]:
        if self.visible is None:
            return []
        paras = self.visible.paragraphs
        return [self.visible.text[paras[i].start : paras[i].end] for i in self.article_paragraphs]

    @property
    def article_text(self) -> str:
        """The article body as visible text, one paragraph per line."""
        return "\n".join(self.article_paragraph_texts())

    # -- (de)serialisation --------------------------------------------------------------------
    def as_dict(self) -> dict:
        v = self.visible
        return {
            "url": self.url,
            "charset": self.charset,
            "is_html": self.is_html,
            "title": self.title,
            "title_source": self.title_source,
            "byline": self.byline,
            "published": self.published.isoformat() if self.published else None,
            "published_source": self.published_source,
            "modified": self.modified.isoformat() if self.modified else None,
            "modified_source": self.modified_source,
            "language": self.language,
            "language_source": self.language_source,
            "canonical_url": self.canonical_url,
            "site_name": self.site_name,
            "description": self.description,
            "main_text": self.main_text,
            "visible": None if v is None else {
                "text": v.text,
                "lang": v.lang,
                "paragraphs": [[p.start, p.end, p.tag, list(p.path)] for p in v.paragraphs],
                "anchors": [[a.start, a.end, a.href, a.rel] for a in v.anchors],
            },
            "article_paragraphs": list(self.article_paragraphs),
            "article_method": self.article_method,
            "links": [vars(link).copy() for link in self.links],
            "embeds": [vars(e).copy() for e in self.embeds],
        }

    @classmethod
    def from_dict(cls, data: dict) -> Extracted:
        v = data.get("visible")
        visible = None
        if v is not None:
            visible = VisibleText(
                v["text"],
                [Paragraph(s, e, t, tuple(p)) for s, e, t, p in v.get("paragraphs", [])],
                [Anchor(s, e, h, r) for s, e, h, r in v.get("anchors", [])],
                v.get("lang"),
            )
        kwargs = {k: data.get(k) for k in (
            "charset", "title", "title_source", "byline", "published_source", "modified_source",
            "language", "language_source", "canonical_url", "site_name", "description", "main_text",
            "article_method")}
        return cls(
            url=data.get("url", ""),
            is_html=bool(data.get("is_html")),
            published=datetime.fromisoformat(data["published"]) if data.get("published") else None,
            modified=datetime.fromisoformat(data["modified"]) if data.get("modified") else None,
            visible=visible,
            article_paragraphs=list(data.get("article_paragraphs") or []),
            links=[Link(**x) for x in data.get("links") or []],
            embeds=[Embed(**x) for x in data.get("embeds") or []],
            **kwargs,
        )


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------

_HTML_MIMES = frozenset({"text/html", "application/xhtml+xml"})
_UNKNOWN_MIMES = frozenset({"", "unknown/unknown", "application/unknown", "*/*"})
_HTML_SNIFF = (b"<!doctype html", b"<html", b"<head", b"<script", b"<iframe", b"<h1", b"<div",
               b"<font", b"<table", b"<a", b"<style", b"<title", b"<b", b"<body", b"<br", b"<p",
               b"<!--")


def _mime(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def is_html_response(body: bytes, content_type: str | None) -> bool:
    """True for an HTML media type, or for a missing/unknown type whose bytes sniff as HTML."""
    mime = _mime(content_type)
    if mime in _HTML_MIMES:
        return True
    if mime not in _UNKNOWN_MIMES:
        return False
    head = (body or b"")[:1024].removeprefix(codecs.BOM_UTF8)
    head = head.lstrip(b" \t\r\n\x0c").lower()
    return any(head.startswith(p) and head[len(p):len(p) + 1] in (b" ", b">", b"") for p in _HTML_SNIFF)


def _is_textual(mime: str) -> bool:
    return mime.startswith("text/") or mime.endswith(("+xml", "+json", "/json", "/xml", "/javascript"))


def extract(body: bytes, content_type: str | None, url: str, *,
            content_language: str | None = None) -> Extracted:
    """Extract article text and metadata from one response body. Never raises on bad input.

    Non-HTML bodies give an ``Extracted`` with ``is_html=False`` and only ``charset`` set (for
    textual types); ``visible`` is then None.
    """
    body = body or b""
    if not is_html_response(body, content_type):
        charset = decode_html(body, content_type)[1] if _is_textual(_mime(content_type)) else None
        return Extracted(url=url, charset=charset)
    html, charset = decode_html(body, content_type)
    ex = Extracted(url=url, charset=charset, is_html=True)
    ex.visible = visible_text(html)
    doc = _parse(html)
    base = _base_url(doc, url)
    meta = _Meta(doc)
    ld = _json_ld(doc)

    ex.site_name = meta.first("og:site_name") or _ld_name(ld.get("publisher")) or None
    ex.title, ex.title_source = _title(doc, meta, ld, ex.site_name)
    ex.byline = _byline(doc, meta, ld)
    ex.published, ex.published_source = _published(doc, meta, ld, html, url)
    ex.modified, ex.modified_source = _modified(doc, meta, ld)
    ex.canonical_url = _canonical(doc, meta, ld, base)
    ex.description = meta.first("description", "og:description", "twitter:description") or (
        _clean(ld.get("description")) if isinstance(ld.get("description"), str) else None)
    ex.main_text = _main_text(html, url)
    ex.article_paragraphs, ex.article_method = _article_paragraphs(ex.visible, ex.main_text)
    ex.language, ex.language_source = _language(doc, meta, ld, content_language,
                                                ex.main_text or ex.visible.text)
    ex.links = _links(ex.visible, ex.article_paragraphs, base)
    ex.embeds = _embeds(doc, base)
    return ex


# --------------------------------------------------------------------------------------------
# Article body
# --------------------------------------------------------------------------------------------


def _main_text(html: str, url: str) -> str | None:
    if not html.strip():
        return None
    try:
        import trafilatura

        text = trafilatura.extract(html, url=url, include_comments=False, include_tables=False,
                                   output_format="txt", deduplicate=False)
    except Exception as exc:  # trafilatura raises assorted errors on odd pages
        log.debug("trafilatura failed on %s: %s", url, exc)
        return None
    return text or None


_BULLET_RE = re.compile(r"^(?:[-*•]\s+|\d+[.)]\s+)")


def _norm(s: str) -> str:
    return _WS_RE.sub(" ", unicodedata.normalize("NFC", s)).strip()


def _article_paragraphs(visible: VisibleText, main_text: str | None) -> tuple[list[int], str | None]:
    if not visible.paragraphs:
        return [], None
    if main_text:
        found = _align_main_text(visible, main_text)
        if found:
            return found, "trafilatura"
    found = _densest_block(visible)
    return (found, "density") if found else ([], None)


def _align_main_text(visible: VisibleText, main_text: str) -> list[int]:
    """Indices of the visible paragraphs that make up ``main_text`` (in order)."""
    paras = [_norm(t) for t in visible.paragraph_texts()]
    lines = []
    for raw in main_text.splitlines():
        line = _norm(raw)
        if line:
            lines.append(line)
    matched: set[int] = set()
    sm = difflib.SequenceMatcher(None, paras, lines, autojunk=False)
    blocks = sm.get_matching_blocks()
    # Exact matches, then fuzzy containment for the lines between them.
    prev_p, prev_l = 0, 0
    for block in blocks:
        matched.update(range(block.a, block.a + block.size))
        gap_paras = range(prev_p, block.a)
        for line in lines[prev_l:block.b]:
            bare = _BULLET_RE.sub("", line)
            for j in gap_paras:
                if j in matched:
                    continue
                p = paras[j]
                if p == bare or (len(bare) >= 15 and bare in p) or (len(p) >= 15 and p in bare):
                    matched.add(j)
        prev_p, prev_l = block.a + block.size, block.b + block.size
    return sorted(matched)


def _link_density(visible: VisibleText, p: Paragraph) -> float:
    length = max(1, p.end - p.start)
    linked = sum(max(0, min(a.end, p.end) - max(a.start, p.start)) for a in visible.anchors)
    return min(1.0, linked / length)


def _densest_block(visible: VisibleText) -> list[int]:
    """Readability-style fallback: the container whose paragraphs carry the most prose."""
    scores: dict[tuple[str, ...], float] = {}
    for p in visible.paragraphs:
        text = visible.text[p.start : p.end]
        if len(text) < 25 or _link_density(visible, p) > 0.5:
            continue
        score = 1 + text.count(",") + text.count("،") + min(len(text) / 100, 3)
        parent = p.path[:-1]
        scores[parent] = scores.get(parent, 0) + score
        if len(parent) > 1:
            scores[parent[:-1]] = scores.get(parent[:-1], 0) + score / 2
    if not scores:
        return []
    best = max(scores, key=lambda k: (scores[k], len(k)))
    return [i for i, p in enumerate(visible.paragraphs)
            if p.path[: len(best)] == best and len(p.path) > len(best)
            and _link_density(visible, p) <= 0.5]


# --------------------------------------------------------------------------------------------
# Links and embeds
# --------------------------------------------------------------------------------------------


def _links(visible: VisibleText, article: list[int], base: str) -> list[Link]:
    spans = [(visible.paragraphs[i].start, visible.paragraphs[i].end) for i in article]
    out: list[Link] = []
    for a in visible.anchors:
        url = absolute_url(a.href, base)
        if url is None:
            continue
        inside = any(s <= a.start and a.end <= e and (a.end > a.start or s < a.start < e) for s, e in spans)
        out.append(Link(url, visible.text[a.start : a.end], a.start, a.end, a.rel, inside))
    return out


_CLASS = "contains(concat(' ', normalize-space(@class), ' '), ' %s ')"


def _embeds(doc, base: str) -> list[Embed]:
    out: list[Embed] = []
    for bq in _xpath(doc, f"//blockquote[{_CLASS % 'twitter-tweet'} or {_CLASS % 'twitter-video'}]"):
        hrefs = [a.get("href") for a in bq.iter("a") if a.get("href")]
        url = absolute_url(hrefs[-1], base) if hrefs else None
        if url:
            out.append(Embed("tweet", url, _text_of(bq) or ""))
    for bq in _xpath(doc, "//blockquote[" + _CLASS % "instagram-media" + "]"):
        url = absolute_url(bq.get("data-instgrm-permalink") or "", base)
        if url:
            out.append(Embed("instagram", url, _text_of(bq) or ""))
    for bq in _xpath(doc, "//blockquote[" + _CLASS % "tiktok-embed" + "]"):
        url = absolute_url(bq.get("cite") or "", base)
        if url:
            out.append(Embed("tiktok", url, _text_of(bq) or ""))
    for frame in _xpath(doc, "//iframe"):
        url = absolute_url(frame.get("src") or frame.get("data-src") or "", base)
        if url and not url.startswith("about:"):
            out.append(Embed("iframe", url, frame.get("title") or ""))
    return out
