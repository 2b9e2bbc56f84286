"""Change detection and diffs between versions of one URL (NewsDiffs / diffengine style).

The unit of comparison is the article body of :class:`archive.extract.article.Extracted`: its
``article_paragraphs`` (falling back to every visible paragraph, then to ``main_text`` lines),
minus link-dense paragraphs (rotating "read also" / related-links blocks). Each paragraph gets a
*key* with the "boring" variation removed:

- Unicode NFKC; zero-width and bidi control characters, soft hyphens and Arabic tatweel removed;
- every whitespace character removed, so re-wrapping, NBSPs and spacing around punctuation do
  not count;
- in short, boilerplate-like paragraphs (at most six words once dates are taken out: datelines,
  "updated 3 hours ago", "1,234 views"), date, time, relative-time and counter tokens are masked.

Two captures are "no edit" when the title keys and the paragraph-key sequences are equal, which
is exactly when their :func:`text_fingerprint` values are equal. :func:`compare` aligns paragraphs
by key with :mod:`difflib`, pairs up replaced paragraphs by similarity and diffs those word by
word. Words are whole: text is split at whitespace and punctuation is its own token, but a letter
and its combining marks (Arabic harakat, shadda, ...) are never separated, and intra-word
connectors (``Político-Militar``, ``l'État``, ``10:15``, ``1,342``) stay inside the word.
"""

from __future__ import annotations

import difflib
import hashlib
import html
import re
import unicodedata
from dataclasses import asdict, dataclass, field

from archive.extract.article import Extracted

FINGERPRINT_VERSION = "tf1"
LINK_DENSITY_LIMIT = 0.6
BORING_MAX_WORDS = 6
PAIR_MIN_RATIO = 0.5

# --------------------------------------------------------------------------------------------
# Normalisation
# --------------------------------------------------------------------------------------------

_INVISIBLE = dict.fromkeys(
    [0x00AD, 0x0640, 0x180E, 0x200B, 0x200C, 0x200D, 0x200E, 0x200F, 0x2060, 0xFEFF,
     *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
)
_WS_RE = re.compile(r"\s+")

_MONTHS = (
    # en
    "january february march april may june july august september october november december "
    "jan feb mar apr jun jul aug sep sept oct nov dec "
    # es
    "enero febrero marzo abril mayo junio julio agosto septiembre setiembre octubre noviembre diciembre "
    # fr
    "janvier février mars avril mai juin juillet août septembre octobre novembre décembre "
    # ar (Egypt/Gulf, Maghreb, Levant)
    "يناير فبراير مارس أبريل ابريل إبريل مايو يونيو يوليو أغسطس اغسطس سبتمبر أكتوبر اكتوبر نوفمبر ديسمبر "
    "ماي يونيه يوليوز غشت شتنبر نونبر دجنبر "
    "كانون شباط آذار نيسان أيار حزيران تموز آب أيلول تشرين"
).split()
_MONTH = "(?:" + "|".join(sorted(map(re.escape, _MONTHS), key=len, reverse=True)) + ")"
_UNITS = (r"(?:seconds?|minutes?|mins?|hours?|hrs?|days?|weeks?|months?|years?|segundos?|minutos?|"
          r"horas?|días?|semanas?|meses|mes|años?|secondes?|heures?|jours?|semaines?|mois|ans?|"
          r"ثانية|ثوان|دقيقة|دقائق|ساعة|ساعات|يوم|أيام|ايام|أسبوع|أسابيع|شهر|أشهر|سنة|سنوات)")
_COUNTERS = (r"(?:views?|reads?|comments?|shares?|likes?|retweets?|visitas|lecturas|comentarios|"
             r"vues|lectures|commentaires|partages|مشاهدة|مشاهدات|قراءة|قراءات|تعليق|تعليقات|مشاركة)")
_DATE_TOKEN_RE = re.compile(
    "|".join([
        r"\d{4}-\d{1,2}-\d{1,2}(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?",
        r"\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}",
        r"\d{1,2}:\d{2}(?::\d{2})?(?:\s*(?:[ap]\.?\s?m\.?|ص|م))?",
        rf"\d{{1,2}}\s+(?:de\s+)?{_MONTH}(?:,?\s+(?:de\s+)?\d{{4}})?",
        rf"{_MONTH}\s+\d{{1,2}}(?:,\s*\d{{4}})?",
        rf"{_MONTH}\s+\d{{4}}",
        rf"\d+\s*{_UNITS}\s+ago",
        rf"(?:hace|il y a|منذ|قبل)\s+\d+\s*{_UNITS}",
        rf"\d[\d,.\u066b\u066c\s]*\s*[kKmM]?\s*{_COUNTERS}",
        rf"{_COUNTERS}\s*:?\s*\d[\d,.\u066b\u066c]*[kKmM]?",
        r"\d{4}",
    ]),
    re.IGNORECASE,
)


def _clean(text: str) -> str:
    """Display form: NFC, invisible characters dropped, whitespace collapsed."""
    text = unicodedata.normalize("NFC", text).translate(_INVISIBLE)
    return _WS_RE.sub(" ", text).strip()


def paragraph_key(text: str) -> str:
    """The comparison key of one paragraph: its text with boring variation removed."""
    text = unicodedata.normalize("NFKC", text).translate(_INVISIBLE)
    masked = _DATE_TOKEN_RE.sub(" \x00 ", text)
    if masked != text and len([w for w in masked.split() if w != "\x00"]) <= BORING_MAX_WORDS:
        text = masked
    return _WS_RE.sub("", text)


# --------------------------------------------------------------------------------------------
# Comparable units
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Unit:
    """One comparable paragraph: display ``text`` and boring-normalised ``key``."""

    text: str
    key: str


def _link_density(ex: Extracted, start: int, end: int) -> float:
    assert ex.visible is not None
    linked = sum(max(0, min(a.end, end) - max(a.start, start)) for a in ex.visible.anchors)
    return linked / max(1, end - start)


def comparable_units(source: Extracted | str) -> list[Unit]:
    """The article paragraphs that versions are compared on (see the module docstring)."""
    texts: list[str] = []
    if isinstance(source, str):
        texts = source.splitlines()
    elif source.visible is not None and source.visible.paragraphs:
        paras = source.visible.paragraphs
        indices = source.article_paragraphs or range(len(paras))
        for i in indices:
            p = paras[i]
            if _link_density(source, p.start, p.end) >= LINK_DENSITY_LIMIT:
                continue
            texts.append(source.visible.text[p.start : p.end])
    elif source.main_text:
        texts = source.main_text.splitlines()
    units = []
    for t in texts:
        text = _clean(t)
        key = paragraph_key(text)
        if key:
            units.append(Unit(text, key))
    return units


def _title(source: Extracted | str) -> str | None:
    return None if isinstance(source, str) else source.title


def text_fingerprint(extracted_or_text: Extracted | str) -> str:
    """A digest of the article text (and title) that ignores boring variation.

    Two captures with the same fingerprint are "no edit". The value is ``tf1-<sha256 hex>``;
    the prefix changes whenever the normalisation does, so old and new fingerprints never match
    by accident.
    """
    h = hashlib.sha256()
    title = _title(extracted_or_text)
    h.update(b"T" + paragraph_key(title or "").encode("utf-8") + b"\x1e")
    for unit in comparable_units(extracted_or_text):
        h.update(b"P" + unit.key.encode("utf-8") + b"\x1e")
    return f"{FINGERPRINT_VERSION}-{h.hexdigest()}"


# --------------------------------------------------------------------------------------------
# Word tokens
# --------------------------------------------------------------------------------------------

_CONNECTORS = frozenset("-‐‑'’.,:/_")


def _char_class(ch: str) -> str:
    if ch.isspace():
        return "space"
    cat = unicodedata.category(ch)
    if cat[0] in "PS":
        return "punct"
    return "word"  # letters, digits, combining marks, format characters


def tokenize(text: str) -> list[str]:
    """Split ``text`` into whitespace, word and punctuation tokens (``"".join`` gives it back).

    A combining mark always stays with the character before it, so Arabic words keep their
    diacritics; a connector between two word characters (``-'’.,:/_``) stays inside the word.
    """
    tokens: list[str] = []
    classes: list[str] = []
    n = len(text)
    for i, ch in enumerate(text):
        cls = _char_class(ch)
        if tokens and unicodedata.category(ch)[0] == "M" and classes[-1] != "space":
            tokens[-1] += ch  # a mark never starts a token
            continue
        if (cls == "punct" and ch in _CONNECTORS and tokens and classes[-1] == "word"
                and i + 1 < n and _char_class(text[i + 1]) == "word"):
            tokens[-1] += ch
            continue
        if tokens and classes[-1] == cls and cls in ("space", "word"):
            tokens[-1] += ch
        else:
            tokens.append(ch)
            classes.append(cls)
    return tokens


def _is_word(token: str) -> bool:
    return any(ch.isalnum() for ch in token)


# --------------------------------------------------------------------------------------------
# Comparison
# --------------------------------------------------------------------------------------------


@dataclass
class WordOp:
    """A run of text in a changed paragraph: ``op`` is ``equal``, ``insert`` or ``delete``."""

    op: str
    text: str


@dataclass
class ParagraphOp:
    """One step of the paragraph alignment.

    ``op`` is ``equal``, ``insert`` (paragraph added), ``delete`` (removed) or ``replace``
    (changed; ``words`` holds the word-level diff). Indices point into
    :func:`comparable_units` of the old and new version.
    """

    op: str
    old_index: int | None
    new_index: int | None
    old_text: str | None
    new_text: str | None
    words: list[WordOp] = field(default_factory=list)


@dataclass
class Summary:
    chars_added: int = 0
    chars_removed: int = 0
    words_added: int = 0
    words_removed: int = 0
    paragraphs_added: int = 0
    paragraphs_removed: int = 0
    paragraphs_changed: int = 0


@dataclass
class Comparison:
    is_edit: bool
    title_changed: bool
    old_title: str | None
    new_title: str | None
    title_words: list[WordOp]
    summary: Summary
    ops: list[ParagraphOp]
    old_fingerprint: str
    new_fingerprint: str

    @property
    def changes(self) -> list[ParagraphOp]:
        """The ops that are not ``equal``."""
        return [op for op in self.ops if op.op != "equal"]

    def as_dict(self) -> dict:
        return asdict(self)


def _word_diff(old: str, new: str) -> list[WordOp]:
    """Word-level diff; joining equal+delete runs gives ``old``, equal+insert runs give ``new``."""
    a, b = tokenize(old), tokenize(new)
    sm = difflib.SequenceMatcher(None, a, b, autojunk=False)
    codes = sm.get_opcodes()
    out: list[WordOp] = []
    deleted: list[str] = []
    inserted: list[str] = []

    def flush() -> None:
        if deleted:
            out.append(WordOp("delete", "".join(deleted)))
        if inserted:
            out.append(WordOp("insert", "".join(inserted)))
        deleted.clear()
        inserted.clear()

    for idx, (tag, i1, i2, j1, j2) in enumerate(codes):
        # A lone space that happens to match between two changes belongs to the change.
        glue = (tag == "equal" and 0 < idx < len(codes) - 1 and all(t.isspace() for t in a[i1:i2]))
        if tag == "equal" and not glue:
            flush()
            if out and out[-1].op == "equal":
                out[-1].text += "".join(b[j1:j2])
            else:
                out.append(WordOp("equal", "".join(b[j1:j2])))
        else:
            deleted.extend(a[i1:i2])
            inserted.extend(b[j1:j2])
    flush()
    return out


def _similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, tokenize(a), tokenize(b), autojunk=False).ratio()


def _pair(old: list[Unit], new: list[Unit]) -> list[tuple[int | None, int | None]]:
    """Order-preserving pairing of replaced paragraphs that maximises total similarity."""
    m, n = len(old), len(new)
    if m * n > 2500:
        return [(i, None) for i in range(m)] + [(None, j) for j in range(n)]
    sim = [[_similarity(o.text, w.text) for w in new] for o in old]
    best = [[0.0] * (n + 1) for _ in range(m + 1)]
    for i in range(m - 1, -1, -1):
        for j in range(n - 1, -1, -1):
            take = sim[i][j] + best[i + 1][j + 1] if sim[i][j] >= PAIR_MIN_RATIO else -1.0
            best[i][j] = max(take, best[i + 1][j], best[i][j + 1])
    pairs: list[tuple[int | None, int | None]] = []
    i = j = 0
    while i < m and j < n:
        if sim[i][j] >= PAIR_MIN_RATIO and best[i][j] == sim[i][j] + best[i + 1][j + 1]:
            pairs.append((i, j))
            i, j = i + 1, j + 1
        elif best[i][j] == best[i + 1][j]:
            pairs.append((i, None))
            i += 1
        else:
            pairs.append((None, j))
            j += 1
    pairs.extend((k, None) for k in range(i, m))
    pairs.extend((None, k) for k in range(j, n))
    return pairs


def _count(text: str) -> tuple[int, int]:
    """(non-space characters, words) of ``text``."""
    tokens = tokenize(text)
    return sum(len(t) for t in tokens if not t.isspace()), sum(1 for t in tokens if _is_word(t))


def compare(old: Extracted | str, new: Extracted | str) -> Comparison:
    """Compare two versions of one URL: paragraph alignment plus word diffs of changed paragraphs."""
    a, b = comparable_units(old), comparable_units(new)
    ops: list[ParagraphOp] = []
    summary = Summary()
    sm = difflib.SequenceMatcher(None, [u.key for u in a], [u.key for u in b], autojunk=False)
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag == "equal":
            ops.extend(ParagraphOp("equal", i1 + k, j1 + k, a[i1 + k].text, b[j1 + k].text)
                       for k in range(i2 - i1))
            continue
        for pi, pj in _pair(a[i1:i2], b[j1:j2]):
            oi = None if pi is None else i1 + pi
            nj = None if pj is None else j1 + pj
            if oi is not None and nj is not None:
                words = _word_diff(a[oi].text, b[nj].text)
                ops.append(ParagraphOp("replace", oi, nj, a[oi].text, b[nj].text, words))
                summary.paragraphs_changed += 1
                for w in words:
                    chars, count = _count(w.text)
                    if w.op == "insert":
                        summary.chars_added += chars
                        summary.words_added += count
                    elif w.op == "delete":
                        summary.chars_removed += chars
                        summary.words_removed += count
            elif oi is not None:
                ops.append(ParagraphOp("delete", oi, None, a[oi].text, None))
                summary.paragraphs_removed += 1
                chars, count = _count(a[oi].text)
                summary.chars_removed += chars
                summary.words_removed += count
            else:
                assert nj is not None
                ops.append(ParagraphOp("insert", None, nj, None, b[nj].text))
                summary.paragraphs_added += 1
                chars, count = _count(b[nj].text)
                summary.chars_added += chars
                summary.words_added += count
    old_title, new_title = _title(old), _title(new)
    title_changed = paragraph_key(old_title or "") != paragraph_key(new_title or "")
    title_words = _word_diff(_clean(old_title or ""), _clean(new_title or "")) if title_changed else []
    old_fp, new_fp = text_fingerprint(old), text_fingerprint(new)
    return Comparison(
        is_edit=old_fp != new_fp,
        title_changed=title_changed,
        old_title=old_title,
        new_title=new_title,
        title_words=title_words,
        summary=summary,
        ops=ops,
        old_fingerprint=old_fp,
        new_fingerprint=new_fp,
    )


# --------------------------------------------------------------------------------------------
# HTML rendering
# --------------------------------------------------------------------------------------------


def _words_html(words: list[WordOp]) -> str:
    parts = []
    for w in words:
        text = html.escape(w.text)
        if w.op == "insert":
            parts.append(f"<ins>{text}</ins>")
        elif w.op == "delete":
            parts.append(f"<del>{text}</del>")
        else:
            parts.append(text)
    return "".join(parts)


def render_html(comparison: Comparison, *, context: int | None = None) -> str:
    """The diff as safe HTML: ``<ins>``/``<del>``, each paragraph a ``<p dir="auto">``.

    All text is escaped. ``context=None`` shows every paragraph; an integer keeps only that many
    unchanged paragraphs around each change and replaces the rest with an ellipsis paragraph.
    """
    out = ['<div class="naql-diff" dir="auto">']
    if comparison.title_changed:
        out.append(f'<h2 class="naql-diff-title" dir="auto">{_words_html(comparison.title_words)}</h2>')
    elif comparison.new_title:
        out.append(f'<h2 class="naql-diff-title" dir="auto">{html.escape(comparison.new_title)}</h2>')
    ops = comparison.ops
    keep = [True] * len(ops)
    if context is not None:
        changed = [i for i, op in enumerate(ops) if op.op != "equal"]
        keep = [op.op != "equal" or any(abs(i - c) <= context for c in changed)
                for i, op in enumerate(ops)]
    skipped = False
    for op, shown in zip(ops, keep, strict=True):
        if not shown:
            if not skipped:
                out.append('<p class="naql-diff-skip" dir="auto">…</p>')
            skipped = True
            continue
        skipped = False
        if op.op == "equal":
            out.append(f'<p class="naql-diff-equal" dir="auto">{html.escape(op.new_text or "")}</p>')
        elif op.op == "insert":
            out.append(f'<p class="naql-diff-added" dir="auto"><ins>{html.escape(op.new_text or "")}</ins></p>')
        elif op.op == "delete":
            out.append(f'<p class="naql-diff-removed" dir="auto"><del>{html.escape(op.old_text or "")}</del></p>')
        else:
            out.append(f'<p class="naql-diff-changed" dir="auto">{_words_html(op.words)}</p>')
    if not comparison.is_edit:
        out.append('<p class="naql-diff-none" dir="auto">No changes.</p>')
    out.append("</div>")
    return "\n".join(out)
