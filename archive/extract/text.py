"""Visible text of an HTML page, with paragraph and link offsets.

This is the one text that Naql's selectors point into (W3C TextPositionSelector offsets, the
exact strings of claims, diffs between versions). It follows the normalisation the corpus gold
uses, so a claim's ``exact`` can be checked against it literally:

- text of ``<body>`` only (``head``, ``script``, ``style``, ``noscript``, ``template``, ``svg``
  dropped), character references decoded;
- block elements (``p``, ``h1``..``h6``, ``li``, ``div`` …) separate words; inline elements
  (``a``, ``strong``, ``span`` …) do not;
- every run of whitespace, NBSP included, becomes one space; leading/trailing space is dropped.

The parser is the standard library's lenient HTMLParser: it never raises on tag soup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

VOID = frozenset(
    "area base br col embed hr img input link meta param source track wbr".split()
)
BLOCK = frozenset(
    """address article aside blockquote br dd details dialog div dl dt fieldset figcaption figure
    footer form h1 h2 h3 h4 h5 h6 header hr li main nav ol p pre section table tbody td tfoot th
    thead tr ul option select textarea caption summary""".split()
)
SKIP = frozenset("head script style noscript template svg title".split())

_SPACE_SPLIT = re.compile(r"(\s+)")


@dataclass(frozen=True)
class Paragraph:
    """A run of text between block boundaries: ``text[start:end]`` of the VisibleText."""

    start: int
    end: int
    tag: str
    path: tuple[str, ...] = ()


@dataclass(frozen=True)
class Anchor:
    """An ``<a href>`` whose visible text is ``text[start:end]`` (may be empty: start == end)."""

    start: int
    end: int
    href: str
    rel: str = ""


@dataclass
class VisibleText:
    text: str
    paragraphs: list[Paragraph] = field(default_factory=list)
    anchors: list[Anchor] = field(default_factory=list)
    lang: str | None = None

    def paragraph_texts(self) -> list[str]:
        return [self.text[p.start : p.end] for p in self.paragraphs]


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.length = 0
        self.pending_space = False
        self.skip = 0
        self.stack: list[tuple[str, dict]] = []
        self.paragraphs: list[Paragraph] = []
        self.para_start: int | None = None
        self.para_end = 0
        self.open_anchors: list[tuple[int, str, str]] = []
        self.anchors: list[Anchor] = []
        self.lang: str | None = None
        self.in_body_seen = False

    # -- paragraph bookkeeping -------------------------------------------------------------
    def _block_tag(self) -> tuple[str, tuple[str, ...]]:
        path = tuple(
            t + ("#" + a["id"] if a.get("id") else "") + ("." + ".".join(a["class"].split()) if a.get("class") else "")
            for t, a in self.stack
        )
        for tag, _attrs in reversed(self.stack):
            if tag in BLOCK:
                return tag, path
        return (self.stack[-1][0] if self.stack else "body"), path

    def _break(self) -> None:
        if self.para_start is not None:
            tag, path = self._block_tag()
            self.paragraphs.append(Paragraph(self.para_start, self.para_end, tag, path))
            self.para_start = None
        if self.length:
            self.pending_space = True

    def _emit(self, data: str) -> None:
        for piece in _SPACE_SPLIT.split(data):
            if not piece:
                continue
            if piece.isspace() or _SPACE_SPLIT.fullmatch(piece):
                if self.length:
                    self.pending_space = True
                continue
            if self.pending_space:
                self.out.append(" ")
                self.length += 1
                self.pending_space = False
            if self.para_start is None:
                self.para_start = self.length
            self.out.append(piece)
            self.length += len(piece)
            self.para_end = self.length

    def _position(self) -> int:
        """Where the next visible character will land."""
        return self.length + (1 if self.pending_space else 0)

    # -- HTMLParser callbacks ----------------------------------------------------------------
    def handle_starttag(self, tag, attrs):
        a = {k: (v or "") for k, v in attrs}
        if tag == "html" and a.get("lang"):
            self.lang = a["lang"]
        if tag in BLOCK:
            self._break()
        if tag == "a" and not self.skip:
            self.open_anchors.append((self._position(), a.get("href", ""), a.get("rel", "")))
        if tag in VOID:
            return
        self.stack.append((tag, a))
        if tag in SKIP:
            self.skip += 1

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not any(t == tag for t, _ in self.stack):
            return  # stray end tag: ignore, as browsers do
        if tag in BLOCK:
            self._break()
        while self.stack:
            t, _ = self.stack.pop()
            if t in SKIP:
                self.skip -= 1
            if t == "a" and self.open_anchors and not self.skip:
                self._close_anchor()
            if t == tag:
                break

    def _close_anchor(self) -> None:
        start, href, rel = self.open_anchors.pop()
        end = max(start, self.length)
        start = min(start, end)
        if href:
            self.anchors.append(Anchor(start, end, href, rel))

    def handle_data(self, data):
        if not self.skip:
            self._emit(data)

    def finish(self) -> VisibleText:
        self.close()
        self._break()
        while self.open_anchors:
            self._close_anchor()
        self.anchors.sort(key=lambda x: (x.start, x.end))
        return VisibleText("".join(self.out), self.paragraphs, self.anchors, self.lang)


def visible_text(html: str) -> VisibleText:
    """Return the normalised visible text of ``html`` with paragraph and anchor offsets."""
    builder = _Builder()
    builder.feed(html)
    return builder.finish()
