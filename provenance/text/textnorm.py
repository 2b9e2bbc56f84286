"""Matching normalisation with an offset map back to the original text.

``normalize(text)`` returns a :class:`NormText` whose ``text`` is meant for comparing sentences
across sources and scripts, never for display. Every normalised character remembers which
original character(s) it came from, so a span found in the normalised text maps back to the exact
original span (``NormText.original_span``), which is what selectors and claims store.

Rules, applied per original character:

- Unicode compatibility decomposition (NFKD), then combining marks are dropped for alphabetic
  scripts (Latin, Greek, Cyrillic, Arabic, Hebrew): ``é→e``, ``ñ→n``, Arabic harakat
  (U+064B–U+065F), dagger alef (U+0670) and Quranic annotation marks (U+06D6–U+06ED) go, and
  hamza carriers decompose (``أ إ آ → ا``, ``ؤ → و``, ``ئ → ي``). Presentation forms
  (``ﻻ``, ``ﺍ`` …) become base letters.
- Arabic: ``ٱ → ا``, ``ى → ي`` (alef maqsura and final ya are written interchangeably, notably in
  Egyptian text), ``ة → ه`` (ta marbuta is often typed as ha at word end); Persian ``ی ک`` →
  ``ي ك``; tatweel (U+0640) and standalone hamza-above marks are removed. These conflations are
  the usual ones for Arabic retrieval: they lose a little (``ة``/``ه``) and gain a lot (spelling
  variants match).
- Digits of any script (Arabic-Indic ``٠-٩``, Eastern Arabic ``۰-۹`` …) become ASCII digits.
- Format and bidi controls (category Cf: U+200B–U+200F, U+202A–U+202E, U+2066–U+2069, U+061C, BOM,
  soft hyphen) are removed.
- ``casefold()`` (Turkish/Azeri dotted I handled when ``lang`` says so).
- Quotation marks (“ ” „ ‟ « » ‹ › " ″ ′ 〝 〞 and a ‘ ’ ' ‚ that is not between two letters) become
  ``"``; an apostrophe between two letters (``s’étendra``) becomes ``'``.
- Dashes and minus signs (‐ ‑ ‒ – — ― − ﹘ ﹣ －) become ``-``.
- Any run of whitespace (NBSP and other Unicode spaces included) becomes one space; leading and
  trailing whitespace is dropped.

``normalize`` is idempotent: normalising normalised text changes nothing.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

__all__ = ["NormText", "normalize", "base_lang", "ARABIC_DIACRITICS"]

# Arabic marks removed even if a font or an old encoder left them as spacing characters.
ARABIC_DIACRITICS = frozenset(
    [chr(c) for c in range(0x064B, 0x0660)] + ["\u0670"] + [chr(c) for c in range(0x06D6, 0x06EE)]
)
_TATWEEL = "\u0640"
_CHAR_MAP = {
    "\u0671": "\u0627",  # alef wasla -> alef
    "\u0672": "\u0627",
    "\u0673": "\u0627",
    "\u0675": "\u0627",
    "\u0649": "\u064a",  # alef maqsura -> ya
    "\u0629": "\u0647",  # ta marbuta -> ha
    "\u06cc": "\u064a",  # Persian yeh -> ya
    "\u06d2": "\u064a",
    "\u06a9": "\u0643",  # keheh -> kaf
    "\u06c0": "\u0647",
    "\u0621": "",  # standalone hamza: spelled or not depending on the writer
    "\u0674": "",
}
_QUOTES = frozenset("\u201c\u201d\u201e\u201f\u00ab\u00bb\u2039\u203a\"\u2033\u2032\u301d\u301e\uff02")
_SINGLE_QUOTES = frozenset("\u2018\u2019\u201a\u201b'\u02bc\uff07`\u00b4")
_DASHES = frozenset("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d")
# Scripts whose combining marks are diacritics (not vowel signs that carry the word).
_STRIP_MARK_BLOCKS = ((0x0000, 0x07FF), (0x1E00, 0x1FFF), (0xFB00, 0xFDFF), (0xFE70, 0xFEFF))


def _strippable_base(ch: str) -> bool:
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in _STRIP_MARK_BLOCKS)


@dataclass(frozen=True)
class NormText:
    """Normalised text; ``offsets[i]`` is the index in the original of normalised char ``i``.

    ``ends[i]`` is the end (exclusive) of the original stretch char ``i`` stands for, which
    includes marks and controls dropped right after it, so spans map back without losing them.
    """

    text: str
    offsets: list[int] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """Map the normalised span ``[start, end)`` to the original ``[start, end)`` it covers."""
        if not 0 <= start <= end <= len(self.text):
            raise ValueError(f"span {start}:{end} outside 0:{len(self.text)}")
        if start == end:
            pos = self.offsets[start] if start < len(self.offsets) else (self.ends[-1] if self.ends else 0)
            return pos, pos
        return self.offsets[start], self.ends[end - 1]

    def find(self, needle: str, start: int = 0) -> int:
        return self.text.find(needle, start)


def base_lang(lang: str | None) -> str:
    """The primary language subtag, lower case: ``ar-MA`` / ``es_ES`` → ``ar`` / ``es``; ``""`` if none."""
    return (lang or "").split("-")[0].split("_")[0].lower()


def _map_char(ch: str, lang: str | None) -> str:
    if ch in _CHAR_MAP:
        return _CHAR_MAP[ch]
    if ch in ARABIC_DIACRITICS or ch == _TATWEEL:
        return ""
    cat = unicodedata.category(ch)
    if cat == "Cf":
        return ""
    if ch in _QUOTES:
        return '"'
    if ch in _DASHES:
        return "-"
    if ch.isspace() or cat == "Zs":
        return " "
    if cat == "Nd":
        return str(unicodedata.decimal(ch))
    if base_lang(lang) in ("tr", "az"):
        if ch == "I":
            ch = "\u0131"
        elif ch == "\u0130":
            ch = "i"
    out = []
    for piece in unicodedata.normalize("NFKD", ch):
        if unicodedata.combining(piece) or unicodedata.category(piece) == "Mn":
            if _strippable_base(ch) or piece in ARABIC_DIACRITICS:
                continue
        if piece in _CHAR_MAP:
            out.append(_CHAR_MAP[piece])
            continue
        if piece in ARABIC_DIACRITICS or piece == _TATWEEL:
            continue
        out.append(piece.casefold())
    result = "".join(out)
    # NFKD can produce characters that themselves need mapping (e.g. U+FF02 -> '"').
    if result and any(c in _QUOTES or c in _DASHES or c.isspace() for c in result):
        result = "".join('"' if c in _QUOTES else "-" if c in _DASHES else " " if c.isspace() else c
                         for c in result)
    return result


def normalize(text: str, lang: str | None = None) -> NormText:
    """Normalise ``text`` for matching; see the module docstring for the rules."""
    chars: list[str] = []
    offsets: list[int] = []
    ends: list[int] = []
    n = len(text)
    for i, ch in enumerate(text):
        if ch in _SINGLE_QUOTES:
            prev = text[i - 1] if i else ""
            nxt = text[i + 1] if i + 1 < n else ""
            mapped = "'" if prev.isalpha() and nxt.isalpha() else '"'
        else:
            mapped = _map_char(ch, lang)
        if not mapped:
            if ends:
                ends[-1] = i + 1  # a dropped mark belongs to the character before it
            continue
        for piece in mapped:
            if piece == " ":
                if not chars or chars[-1] == " ":
                    if chars:
                        ends[-1] = i + 1
                    continue
            chars.append(piece)
            offsets.append(i)
            ends.append(i + 1)
    # trailing space
    if chars and chars[-1] == " ":
        chars.pop()
        offsets.pop()
        ends.pop()
    return NormText("".join(chars), offsets, ends)
