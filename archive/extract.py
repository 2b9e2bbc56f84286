"""Article text and metadata from one archived HTTP response body.

Pure functions over bytes: nothing here touches the database, the network or Django. Another
module stores the result (``Extracted.as_dict()``) on the Snapshot row; ``Extracted.from_dict``
rebuilds it for :mod:`archive.versions`.

Decoding (:func:`decode_html`) follows the WHATWG "determine the character encoding" order:
byte-order mark, then the ``Content-Type`` charset, then a ``<meta>`` prescan of the first
bytes, then statistical detection, then UTF-8 with replacement characters. Labels are mapped the
WHATWG way (``latin1`` / ``iso-8859-1`` / ``ascii`` mean windows-1252, ``cp1256`` means
windows-1256, ``x-user-defined`` is its own single-byte decoder …).

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

The article body (``article_paragraphs``) is chosen generically: trafilatura's main text (no
comments, no tables) is aligned back onto the paragraphs of :func:`archive.text.visible_text` by
normalised text; if trafilatura finds nothing, a readability-style score picks the densest
container. No site-specific selectors are used.
"""

from __future__ import annotations

import codecs
import difflib
import json
import logging
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from email.utils import parsedate_to_datetime
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

from archive.text import Anchor, Paragraph, VisibleText, visible_text

log = logging.getLogger(__name__)

PRESCAN_BYTES = 4096

# --------------------------------------------------------------------------------------------
# Encodings
# --------------------------------------------------------------------------------------------

# WHATWG encoding name -> (Python codec, labels). Only encodings Python can decode are listed;
# an unknown label is ignored and the next step of the algorithm is tried.
_ENCODINGS: dict[str, tuple[str, tuple[str, ...]]] = {
    "utf-8": ("utf-8", ("unicode-1-1-utf-8", "unicode11utf8", "unicode20utf8", "utf-8", "utf8",
                        "x-unicode20utf8")),
    "ibm866": ("cp866", ("866", "cp866", "csibm866", "ibm866")),
    "iso-8859-2": ("iso8859_2", ("csisolatin2", "iso-8859-2", "iso-ir-101", "iso8859-2", "iso88592",
                                 "iso_8859-2", "iso_8859-2:1987", "l2", "latin2")),
    "iso-8859-3": ("iso8859_3", ("csisolatin3", "iso-8859-3", "iso-ir-109", "iso8859-3", "iso88593",
                                 "iso_8859-3", "iso_8859-3:1988", "l3", "latin3")),
    "iso-8859-4": ("iso8859_4", ("csisolatin4", "iso-8859-4", "iso-ir-110", "iso8859-4", "iso88594",
                                 "iso_8859-4", "iso_8859-4:1988", "l4", "latin4")),
    "iso-8859-5": ("iso8859_5", ("csisolatincyrillic", "cyrillic", "iso-8859-5", "iso-ir-144",
                                 "iso8859-5", "iso88595", "iso_8859-5", "iso_8859-5:1988")),
    "iso-8859-6": ("iso8859_6", ("arabic", "asmo-708", "csiso88596e", "csiso88596i",
                                 "csisolatinarabic", "ecma-114", "iso-8859-6", "iso-8859-6-e",
                                 "iso-8859-6-i", "iso-ir-127", "iso8859-6", "iso88596", "iso_8859-6",
                                 "iso_8859-6:1987")),
    "iso-8859-7": ("iso8859_7", ("csisolatingreek", "ecma-118", "elot_928", "greek", "greek8",
                                 "iso-8859-7", "iso-ir-126", "iso8859-7", "iso88597", "iso_8859-7",
                                 "iso_8859-7:1987", "sun_eu_greek")),
    "iso-8859-8": ("iso8859_8", ("csiso88598e", "csisolatinhebrew", "hebrew", "iso-8859-8",
                                 "iso-8859-8-e", "iso-ir-138", "iso8859-8", "iso88598", "iso_8859-8",
                                 "iso_8859-8:1988", "visual")),
    "iso-8859-8-i": ("iso8859_8", ("csiso88598i", "iso-8859-8-i", "logical")),
    "iso-8859-10": ("iso8859_10", ("csisolatin6", "iso-8859-10", "iso-ir-157", "iso8859-10",
                                   "iso885910", "l6", "latin6")),
    "iso-8859-13": ("iso8859_13", ("iso-8859-13", "iso8859-13", "iso885913")),
    "iso-8859-14": ("iso8859_14", ("iso-8859-14", "iso8859-14", "iso885914")),
    "iso-8859-15": ("iso8859_15", ("csisolatin9", "iso-8859-15", "iso8859-15", "iso885915",
                                   "iso_8859-15", "l9")),
    "iso-8859-16": ("iso8859_16", ("iso-8859-16",)),
    "koi8-r": ("koi8_r", ("cskoi8r", "koi", "koi8", "koi8-r", "koi8_r")),
    "koi8-u": ("koi8_u", ("koi8-ru", "koi8-u")),
    "macintosh": ("mac_roman", ("csmacintosh", "mac", "macintosh", "x-mac-roman")),
    "windows-874": ("cp874", ("dos-874", "iso-8859-11", "iso8859-11", "iso885911", "tis-620",
                              "windows-874")),
    "windows-1250": ("cp1250", ("cp1250", "windows-1250", "x-cp1250")),
    "windows-1251": ("cp1251", ("cp1251", "windows-1251", "x-cp1251")),
    "windows-1252": ("cp1252", ("ansi_x3.4-1968", "ascii", "cp1252", "cp819", "csisolatin1", "ibm819",
                                "iso-8859-1", "iso-ir-100", "iso8859-1", "iso88591", "iso_8859-1",
                                "iso_8859-1:1987", "l1", "latin1", "us-ascii", "windows-1252",
                                "x-cp1252")),
    "windows-1253": ("cp1253", ("cp1253", "windows-1253", "x-cp1253")),
    "windows-1254": ("cp1254", ("cp1254", "csisolatin5", "iso-8859-9", "iso-ir-148", "iso8859-9",
                                "iso88599", "iso_8859-9", "iso_8859-9:1989", "l5", "latin5",
                                "windows-1254", "x-cp1254")),
    "windows-1255": ("cp1255", ("cp1255", "windows-1255", "x-cp1255")),
    "windows-1256": ("cp1256", ("cp1256", "windows-1256", "x-cp1256")),
    "windows-1257": ("cp1257", ("cp1257", "windows-1257", "x-cp1257")),
    "windows-1258": ("cp1258", ("cp1258", "windows-1258", "x-cp1258")),
    "x-mac-cyrillic": ("mac_cyrillic", ("x-mac-cyrillic", "x-mac-ukrainian")),
    "gbk": ("gb18030", ("chinese", "csgb2312", "csiso58gb231280", "gb2312", "gb_2312", "gb_2312-80",
                        "gbk", "iso-ir-58", "x-gbk")),
    "gb18030": ("gb18030", ("gb18030",)),
    "big5": ("big5hkscs", ("big5", "big5-hkscs", "cn-big5", "csbig5", "x-x-big5")),
    "euc-jp": ("euc_jp", ("cseucpkdfmtjapanese", "euc-jp", "x-euc-jp")),
    "iso-2022-jp": ("iso2022_jp", ("csiso2022jp", "iso-2022-jp")),
    "shift_jis": ("cp932", ("csshiftjis", "ms932", "ms_kanji", "shift-jis", "shift_jis", "sjis",
                            "windows-31j", "x-sjis")),
    "euc-kr": ("cp949", ("cseuckr", "csksc56011987", "euc-kr", "iso-ir-149", "korean", "ks_c_5601-1987",
                         "ks_c_5601-1989", "ksc5601", "ksc_5601", "windows-949")),
    "utf-16be": ("utf-16-be", ("unicodefffe", "utf-16be")),
    "utf-16le": ("utf-16-le", ("csunicode", "iso-10646-ucs-2", "ucs-2", "unicode", "unicodefeff",
                               "utf-16", "utf-16le")),
    "x-user-defined": ("x-user-defined", ("x-user-defined",)),
}
_LABELS: dict[str, str] = {label: name for name, (_c, labels) in _ENCODINGS.items() for label in labels}

# Python codec names (as charset-normalizer reports them) -> WHATWG name.
_PY_TO_WHATWG = {codecs.lookup(py).name: name for name, (py, _l) in _ENCODINGS.items()
                 if py != "x-user-defined"}
_PY_TO_WHATWG.update({"ascii": "windows-1252", "latin_1": "windows-1252", "iso8859-1": "windows-1252",
                      "utf-8": "utf-8", "utf_8": "utf-8", "gb2312": "gbk", "big5": "big5",
                      "shift_jis": "shift_jis", "euc_kr": "euc-kr", "cp949": "euc-kr"})


def encoding_for_label(label: str | None) -> str | None:
    """WHATWG "get an encoding": the canonical encoding name for ``label``, or None."""
    if not label:
        return None
    return _LABELS.get(label.strip().strip("\"'").strip().lower())


def _decode_x_user_defined(data: bytes) -> str:
    return "".join(chr(b) if b < 0x80 else chr(0xF780 + b - 0x80) for b in data)


def _decode(data: bytes, name: str, errors: str = "replace") -> str:
    if name == "x-user-defined":
        return _decode_x_user_defined(data)
    return data.decode(_ENCODINGS[name][0], errors=errors)


def charset_from_content_type(content_type: str | None) -> str | None:
    """The encoding named by a Content-Type's ``charset`` parameter, if it is a known label."""
    if not content_type:
        return None
    for part in content_type.split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip().lower() == "charset":
            return encoding_for_label(value)
    return None


_COMMENT_RE = re.compile(rb"<!--.*?(?:-->|$)", re.S)
_META_RE = re.compile(rb"<meta[\s/][^>]*>?", re.I)
_ATTR_RE = re.compile(rb"""([^\s/>=]+)(?:\s*=\s*(?:"([^"]*)"?|'([^']*)'?|([^\s>]*)))?""")
_CHARSET_IN_CONTENT_RE = re.compile(rb"""charset\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s;"']+))""", re.I)


def _meta_prescan(head: bytes) -> str | None:
    """WHATWG "prescan a byte stream": the charset declared by a ``<meta>`` in ``head``."""
    head = _COMMENT_RE.sub(b"", head)
    for match in _META_RE.finditer(head):
        attrs: dict[bytes, bytes] = {}
        for am in _ATTR_RE.finditer(match.group(0)[5:]):
            name = am.group(1).lower()
            if name not in attrs:
                attrs[name] = am.group(2) or am.group(3) or am.group(4) or b""
        charset: bytes | None = None
        if b"charset" in attrs:
            charset = attrs[b"charset"]
        elif attrs.get(b"http-equiv", b"").strip().lower() == b"content-type" and b"content" in attrs:
            cm = _CHARSET_IN_CONTENT_RE.search(attrs[b"content"])
            if cm:
                charset = cm.group(1) or cm.group(2) or cm.group(3)
        if charset is None:
            continue
        name = encoding_for_label(charset.decode("latin-1"))
        if name is None:
            continue
        if name in ("utf-16be", "utf-16le"):
            return "utf-8"  # a document that can be prescanned as ASCII is not UTF-16
        if name == "x-user-defined":
            return "windows-1252"
        return name
    return None


def decode_html(body: bytes, content_type: str | None = None) -> tuple[str, str]:
    """Decode an HTML body; return ``(text, encoding name used)``.

    Order: BOM, Content-Type charset, ``<meta>`` prescan of the first 4 KB, then detection
    (strict UTF-8 first, then charset-normalizer), and finally UTF-8 with replacement.
    """
    body = body or b""
    for bom, name in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_BE, "utf-16be"),
                      (codecs.BOM_UTF16_LE, "utf-16le")):
        if body.startswith(bom):
            return _decode(body[len(bom):], name), name
    name = charset_from_content_type(content_type) or _meta_prescan(body[:PRESCAN_BYTES])
    if name:
        return _decode(body, name), name
    try:
        return body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    detected = _detect(body)
    if detected:
        return _decode(body, detected), detected
    return body.decode("utf-8", errors="replace"), "utf-8"


def _detect(body: bytes) -> str | None:
    try:
        from charset_normalizer import from_bytes
    except ImportError:  # pragma: no cover - dependency is declared
        return None
    best = from_bytes(body[:200_000]).best()
    if best is None:
        return None
    try:
        py = codecs.lookup(best.encoding).name
    except LookupError:
        return None
    return _PY_TO_WHATWG.get(py)


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
        dt = dt.replace(tzinfo=UTC)
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
