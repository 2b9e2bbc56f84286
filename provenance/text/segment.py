"""Sentence candidates (claim candidates) inside the paragraphs of a page's visible text.

``segment(text, paragraphs, lang)`` cuts each paragraph span into sentences whose offsets point
into ``text`` (``text[s.start:s.end] == s.text``), for Arabic, Spanish, French and English (other
languages get the language-independent rules):

- a sentence ends at ``. ! ? ؟ … ۔`` (plus any closing quotes/brackets) followed by whitespace or
  the paragraph end; a full stop glued to the next word (``2020 .في``) does not end one;
- a quotation (“…”, «…», „…“, ‹…›, "…") is never cut, whatever punctuation it holds;
- a period after an abbreviation (``Sr.``, ``EE.UU.``, ``M.``), an initial (``J.``) or an
  ordinal (``1.``) does not end a sentence, nor one followed by a lower-case Latin letter;
- a fragment that cannot stand as a sentence is merged into the sentence before it, where a stray
  full stop split one sentence: a fragment whose first word is a continuation word (complementiser,
  relative pronoun, "in addition to"; list per language in ``rules/segment.json``), or a very short
  fragment (``short_fragment_words``) without a predicate cue (a finite verb or copula from the
  same file, or a word with a verbal ending such as Spanish ``-ió``) and without a quotation.
  Only a full stop can be stray: after ``? !`` the next fragment always stands alone.

Paragraph roles (``Segment.kind``): ``sentence`` (a claim candidate), ``heading`` (tag h1–h6),
``boilerplate`` (``is_boilerplate``: read-also lines, follow-us, comment form labels, copyright,
source/credit lines, bylines; patterns in ``rules/boilerplate.json``). ``segment`` returns only
claim candidates unless ``keep_all=True``.

``page_segments(visible_text)`` picks the article-body paragraphs of a whole page generically
(no site CSS classes): it drops paragraphs inside ``nav``/``header``/``footer``/``aside``/``form``/
``menu`` elements, embedded material inside ``blockquote`` (an embedded post is another
document: link to it there), link lists (most characters inside links) and short label lines
without sentence punctuation (datelines, signatures, bylines, hashtags).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from provenance.text.textnorm import base_lang, normalize

__all__ = ["Segment", "segment", "is_boilerplate", "is_heading", "page_segments", "paragraph_role", "quotations"]

RULES_DIR = Path(__file__).parent.parent / "rules"
TERMINALS = ".!?؟…۔"
CLOSERS = "”’»›\"')]}\u201d"
QUOTE_PAIRS = {"“": "”", "«": "»", "„": "“”", "‹": "›", "”": "“”", "「": "」", "『": "』", "‘": "’"}
HEADING_TAGS = frozenset("h1 h2 h3 h4 h5 h6".split())
STRUCTURAL_SKIP = frozenset("nav header footer aside form menu".split())
EMBED_TAGS = frozenset(["blockquote"])
_WORD = re.compile(r"\w+", re.UNICODE)
# A quotation and its inner text, for finding quotes (not for cutting: ``_quote_spans`` balances).
QUOTATION = re.compile(r"“([^”“]+)[”“]|«([^»]+)»|„([^“”]+)[“”]|‹([^›]+)›|\"([^\"]+)\"|”([^”“]+)[“”]")


@dataclass(frozen=True)
class Segment:
    """A sentence candidate: ``text[start:end]`` of the page's visible text."""

    start: int
    end: int
    text: str
    kind: str = "sentence"  # sentence | heading | boilerplate | furniture | embedded
    paragraph: int = -1  # index into the paragraphs given to segment()

    @property
    def is_claim(self) -> bool:
        return self.kind == "sentence"


@lru_cache(maxsize=1)
def _segment_rules() -> dict:
    raw = json.loads((RULES_DIR / "segment.json").read_text(encoding="utf-8"))
    rules = {"short_fragment_words": int(raw.get("short_fragment_words", 5))}
    rules["abbreviations"] = {
        lang: frozenset(a.casefold().rstrip(".") for a in words) for lang, words in raw["abbreviations"].items()
    }
    rules["predicate_suffixes"] = {lang: tuple(x.lower() for x in sfx)
                                   for lang, sfx in raw.get("predicate_suffixes", {}).items()}
    for key in ("continuation_starters", "predicate_cues"):
        rules[key] = {
            lang: frozenset(normalize(w).text for w in words) for lang, words in raw.get(key, {}).items()
        }
    return rules


@lru_cache(maxsize=1)
def _boilerplate_rules() -> dict[str, list[re.Pattern]]:
    raw = json.loads((RULES_DIR / "boilerplate.json").read_text(encoding="utf-8"))
    return {lang: [re.compile(p) for p in pats] for lang, pats in raw.items() if not lang.startswith("_")}


def is_boilerplate(paragraph_text: str, lang: str | None = None) -> bool:
    """True for site furniture and credit lines that are never claims (rules/boilerplate.json).

    Patterns of ``lang`` and of ``any`` are tried; with no language, all languages' patterns are.
    """
    norm = normalize(paragraph_text).text
    rules = _boilerplate_rules()
    base = base_lang(lang)
    langs = ["any", base] if base in rules else list(rules)
    return any(p.search(norm) for lg in langs for p in rules.get(lg, ()))


def quotations(text: str) -> list[tuple[int, int, str]]:
    """(start, end, inner text) of each quotation in ``text``."""
    out = []
    for m in QUOTATION.finditer(text):
        gi = next(i for i in range(1, QUOTATION.groups + 1) if m.group(i) is not None)
        out.append((m.start(gi), m.end(gi), m.group(gi)))
    return out


def is_heading(tag: str) -> bool:
    return tag.lower() in HEADING_TAGS


def _quote_spans(s: str) -> list[tuple[int, int]]:
    """Spans ``[open, close]`` of balanced quotations; unmatched quote marks protect nothing."""
    spans: list[tuple[int, int]] = []
    stack: list[tuple[int, str]] = []
    straight_open: int | None = None
    for i, ch in enumerate(s):
        if ch == '"':
            if straight_open is None:
                straight_open = i
            else:
                spans.append((straight_open, i))
                straight_open = None
            continue
        if stack and ch in stack[-1][1]:
            start, _ = stack.pop()
            spans.append((start, i))
            continue
        if ch == "’" and i and s[i - 1].isalpha() and i + 1 < len(s) and s[i + 1].isalpha():
            continue  # apostrophe
        if ch in QUOTE_PAIRS and not (ch == "‘" and i and s[i - 1].isalpha()):
            stack.append((i, QUOTE_PAIRS[ch]))
    return spans


def _inside(i: int, spans: list[tuple[int, int]]) -> bool:
    return any(a < i < b for a, b in spans)


def _token_before(s: str, i: int) -> str:
    j = i
    while j > 0 and not s[j - 1].isspace() and s[j - 1] not in "(«“\"'":
        j -= 1
    return s[j:i]


def _is_abbreviation(token: str, lang: str) -> bool:
    tok = token.casefold().rstrip(".")
    if not tok:
        return False
    abbr = _segment_rules()["abbreviations"]
    if tok in abbr.get("any", ()) or tok in abbr.get(lang, ()):
        return True
    # Dotted acronyms (EE.UU, U.S, p.ej): internal periods and short parts.
    parts = tok.split(".")
    return len(parts) > 1 and all(0 < len(p) <= 3 for p in parts)


def _split_points(s: str, lang: str) -> list[int]:
    """End offsets (exclusive) of sentences in paragraph string ``s``."""
    spans = _quote_spans(s)
    cuts: list[int] = []
    i, n = 0, len(s)
    # A quotation that ends with its own sentence punctuation ends the sentence when a capital
    # letter follows (Latin scripts: « Non. » Puis …; "Stop." Then …).
    for a, b in spans:
        last = s[a + 1:b].rstrip()
        if last and last[-1] in TERMINALS and not _inside(b, spans):
            k = b + 1
            while k < n and s[k].isspace():
                k += 1
            if k > b + 1 and k < n and s[k].isupper():
                cuts.append(b + 1)
    while i < n:
        ch = s[i]
        if ch not in TERMINALS or _inside(i, spans):
            i += 1
            continue
        j = i + 1
        while j < n and (s[j] in TERMINALS or s[j] in CLOSERS):
            j += 1
        if j < n and not s[j].isspace():
            i = j
            continue
        if ch == "." and j == i + 1:
            token = _token_before(s, i)
            if _is_abbreviation(token, lang):
                i = j
                continue
            if token.isdigit() and not s[:i - len(token)].strip():
                i = j  # "1. " list number at paragraph start
                continue
            k = j
            while k < n and s[k].isspace():
                k += 1
            if k < n and s[k].isalpha() and s[k].islower():
                i = j  # "... approx. los" : a lower-case Latin continuation
                continue
        cuts.append(j)
        i = j
    cuts = sorted(set(cuts))
    if not cuts or cuts[-1] < n:
        cuts.append(n)
    return cuts


def _words(s: str) -> list[str]:
    return _WORD.findall(normalize(s).text)


def _has_quote(s: str) -> bool:
    return bool(_quote_spans(s))


def _strip_clitic(word: str, lang: str) -> list[str]:
    if lang == "ar" and len(word) > 3 and word[0] in "وف":
        return [word, word[1:]]
    return [word]


def _continues(fragment: str, lang: str) -> bool:
    """Does ``fragment`` continue the sentence before it (see module docstring)?"""
    rules = _segment_rules()
    stripped = fragment.lstrip()
    if not stripped or stripped[0] in "“«„‹\"'‘”":
        return False  # a new quotation starts a new statement
    words = _words(stripped)
    if not words:
        return True
    starters = rules["continuation_starters"].get(lang, frozenset())
    if any(w in starters for w in _strip_clitic(words[0], lang)):
        return True
    if len(words) <= rules["short_fragment_words"] and stripped.rstrip()[-1:] not in "?!؟":
        if _has_quote(stripped):
            return False
        cues = rules["predicate_cues"].get(lang)
        if cues is None:
            return False  # no cue list for this language: do not guess
        suffixes = rules["predicate_suffixes"].get(lang, ())
        raw_words = [w.lower() for w in _WORD.findall(stripped)]
        if any(len(w) > 3 and w.endswith(suffixes) for w in raw_words):
            return False
        if not any(v in cues for w in words for v in _strip_clitic(w, lang)):
            return True
    return False


def _segment_paragraph(text: str, start: int, end: int, lang: str) -> list[tuple[int, int]]:
    s = text[start:end]
    pieces: list[list[int]] = []
    prev = 0
    for cut in _split_points(s, lang):
        a, b = prev, cut
        while a < b and s[a].isspace():
            a += 1
        while b > a and s[b - 1].isspace():
            b -= 1
        prev = cut
        if a >= b:
            continue
        prev_end = s[pieces[-1][0]:pieces[-1][1]].rstrip(CLOSERS) if pieces else ""
        if pieces and prev_end.endswith(".") and _continues(s[a:b], lang):
            pieces[-1][1] = b
        else:
            pieces.append([a, b])
    return [(start + a, start + b) for a, b in pieces]


def paragraph_role(para_text: str, tag: str, lang: str | None) -> str:
    if is_heading(tag):
        return "heading"
    if is_boilerplate(para_text, lang):
        return "boilerplate"
    return "sentence"


def segment(text: str, paragraphs, lang: str | None, *, keep_all: bool = False) -> list[Segment]:
    """Sentence candidates inside ``paragraphs`` (objects with ``start``, ``end`` and ``tag``).

    Returns claim candidates only, unless ``keep_all``: then headings and boilerplate come too,
    flagged by ``Segment.kind`` (headings and boilerplate paragraphs are one segment each).
    """
    base = base_lang(lang)
    out: list[Segment] = []
    for idx, p in enumerate(paragraphs):
        tag = getattr(p, "tag", "p")
        role = getattr(p, "role", None) or paragraph_role(text[p.start:p.end], tag, base)
        if role != "sentence":
            if keep_all:
                out.append(Segment(p.start, p.end, text[p.start:p.end], role, idx))
            continue
        for a, b in _segment_paragraph(text, p.start, p.end, base):
            out.append(Segment(a, b, text[a:b], "sentence", idx))
    return out


def _element_tag(path_item: str) -> str:
    return re.split(r"[.#]", path_item, maxsplit=1)[0].lower()


@dataclass(frozen=True)
class _RoledParagraph:
    start: int
    end: int
    tag: str
    role: str


def page_segments(vt, lang: str | None = None, *, keep_all: bool = False) -> list[Segment]:
    """Claim candidates of a whole page (an ``archive.extract.text.VisibleText``), body paragraphs only."""
    lang = lang or vt.lang
    base = base_lang(lang)
    anchors = list(vt.anchors)
    paras = []
    for p in vt.paragraphs:
        ptext = vt.text[p.start:p.end]
        tags = {_element_tag(x) for x in p.path}
        role = "sentence"
        if tags & STRUCTURAL_SKIP or p.tag in STRUCTURAL_SKIP:
            role = "furniture"
        elif tags & EMBED_TAGS:
            role = "embedded"
        elif is_heading(p.tag):
            role = "heading"
        elif is_boilerplate(ptext, base):
            role = "boilerplate"
        else:
            linked = sum(max(0, min(a.end, p.end) - max(a.start, p.start)) for a in anchors)
            nwords = len(_words(ptext))
            if linked >= 0.6 * max(1, p.end - p.start):
                role = "furniture"  # a link list item or a read-more teaser
            elif nwords <= 10 and ptext.rstrip(CLOSERS + " ")[-1:] not in TERMINALS:
                role = "furniture"  # a label: byline, dateline, signature, hashtag
        paras.append(_RoledParagraph(p.start, p.end, p.tag, role))
    return segment(vt.text, paras, base, keep_all=keep_all)
