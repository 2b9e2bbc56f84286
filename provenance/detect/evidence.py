"""Content evidence: what a document D *did* with a candidate upstream U, read from the two texts.

:func:`content_evidence` aligns D's body sentences with U's (``provenance.align.suggest``, with
multilingual sentence embeddings when available) and measures, as in text-reuse and
cross-language plagiarism detection (PAN; Vecalign-style ordered alignment):

- ``coverage_down``: share of D's sentences aligned to a sentence of U (how much of D comes
  from U); ``coverage_up``: share of U's sentences used by D (how much of U was taken);
- ``in_order``: share of D's aligned sentences on the longest order-preserving chain (a
  translation or republication keeps the order; a compilation does not);
- ``same_language``, ``verbatim``: share of aligned pairs that are near-verbatim (same script,
  content words Dice ≥ 0.7);
- ``quotes_found``: D's quotations of speech found in U: verbatim (normalised) in U's text for
  the same script, or, across languages, the sentence holding the quotation aligned to a U
  sentence that itself quotes or belongs to a primary source (post, communiqué, statement).

Cue evidence (links, credit lines, bylines, datelines, named outlets) is in
:mod:`provenance.detect.cues`; both meet in :mod:`provenance.detect.decide`.

Sentence embeddings are cached per text in the process (bounded LRU), so re-examining a
document after each capture does not re-embed its sentences.
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from threading import Lock

from archive.models import Snapshot
from provenance.documents import text_language
from provenance.models import Document
from provenance.text.claims import article_paragraphs
from provenance.text.segment import segment
from provenance.text.textnorm import normalize

log = logging.getLogger(__name__)
_WORD = re.compile(r"[^\W_]+")
ORIGIN_KINDS = frozenset({Document.Kind.POST, Document.Kind.COMMUNIQUE, Document.Kind.STATEMENT})
VERBATIM_DICE = 0.7
ALIGN_THRESHOLD = 0.6
RELATED_THRESHOLD = 0.2  # pairs kept to tell "related" from "nothing in common"
CACHE_TEXTS = 20000


class _CachedEmbedder:
    """Wraps an embedder with a bounded per-text cache (sentence → unit vector)."""

    def __init__(self, inner):
        self.inner, self.name, self.version = inner, inner.name, inner.version
        self._cache: OrderedDict[str, object] = OrderedDict()
        self._lock = Lock()

    def embed(self, texts):
        import numpy as np

        texts = list(texts)
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            vecs = self.inner.embed(missing)
            with self._lock:
                for t, v in zip(missing, vecs, strict=True):
                    self._cache[t] = v
                while len(self._cache) > CACHE_TEXTS:
                    self._cache.popitem(last=False)
        with self._lock:
            rows = [self._cache.get(t) for t in texts]
        if any(r is None for r in rows):  # evicted meanwhile: embed directly
            return self.inner.embed(texts)
        return np.vstack(rows) if rows else self.inner.embed([])


_EMBEDDER: list = []


def embedder():
    """The process's cached embedder, or None when embeddings are off or not installed."""
    from provenance.embeddings import get_embedder

    inner = get_embedder()
    if inner is None:
        return None
    if not _EMBEDDER or _EMBEDDER[0].inner is not inner:
        _EMBEDDER[:] = [_CachedEmbedder(inner)]
    return _EMBEDDER[0]


@dataclass
class Sentences:
    lang: str
    spans: list[tuple[int, int]]
    texts: list[str]
    norm_text: str


_SENT_CACHE: OrderedDict[tuple, Sentences] = OrderedDict()


def sentences_of(snap: Snapshot, doc: Document) -> Sentences:
    """Body sentences (claim-bearing, boilerplate dropped) of a snapshot; cached per snapshot."""
    key = _snap_key(snap)
    hit = _SENT_CACHE.get(key) if snap.pk else None
    if hit is not None:
        return hit
    lang = text_language(snap, doc)
    segs = [g for g in segment(snap.text, article_paragraphs(snap), lang) if g.kind == "sentence"]
    out = Sentences(lang, [(g.start, g.end) for g in segs], [g.text for g in segs],
                    " ".join(normalize(g.text).text for g in segs))
    if snap.pk:
        _SENT_CACHE[key] = out
        while len(_SENT_CACHE) > 512:
            _SENT_CACHE.popitem(last=False)
    return out


def document_vector(snap: Snapshot, doc: Document) -> list[float] | None:
    """Mean of the body's sentence embeddings, L2-normalised (None without embeddings)."""
    emb = embedder()
    sents = sentences_of(snap, doc)
    if emb is None or not sents.texts:
        return None
    import numpy as np

    v = np.asarray(emb.embed(sents.texts[:60])).mean(axis=0)
    n = float(np.linalg.norm(v)) or 1.0
    return [round(float(x) / n, 5) for x in v]


@dataclass
class ContentEvidence:
    down_sentences: int
    up_sentences: int
    aligned_down: int
    aligned_up: int
    in_order: float
    same_language: bool
    verbatim: float
    lang_down: str
    lang_up: str
    best_confidence: float = 0.0  # the strongest sentence pair, aligned or not
    best_cosine: float = 0.0
    quotes_total: int = 0
    quotes_found: list[str] = field(default_factory=list)
    pairs: list[tuple[int, int]] = field(default_factory=list)  # (D sentence index, U sentence index)

    @property
    def coverage_down(self) -> float:
        return self.aligned_down / self.down_sentences if self.down_sentences else 0.0

    @property
    def coverage_up(self) -> float:
        return self.aligned_up / self.up_sentences if self.up_sentences else 0.0

    @property
    def related(self) -> bool:
        """Does any sentence of D say what a sentence of U says (aligned or nearly so)?"""
        return bool(self.aligned_down or self.quotes_found or self.best_confidence >= 0.3 or self.best_cosine >= 0.55)

    def as_dict(self) -> dict:
        d = asdict(self)
        d.pop("pairs")
        d.update(best_confidence=round(self.best_confidence, 3), best_cosine=round(self.best_cosine, 3),
                 coverage_down=round(self.coverage_down, 3), coverage_up=round(self.coverage_up, 3),
                 in_order=round(self.in_order, 3), verbatim=round(self.verbatim, 3))
        return d


def _lis_length(seq: list[int]) -> int:
    """Length of the longest non-decreasing subsequence (patience sorting)."""
    import bisect

    tails: list[int] = []
    for x in seq:
        k = bisect.bisect_right(tails, x)
        if k == len(tails):
            tails.append(x)
        else:
            tails[k] = x
    return len(tails)


def _stems(text: str) -> set[str]:
    return {t[:6] for t in _WORD.findall(normalize(text).text) if len(t) > 2}


def _script(lang: str, text: str) -> str:
    return "arabic" if lang in ("ar", "fa", "ur") or re.search(r"[\u0600-\u06ff]", text[:200]) else "latin"


_EV_CACHE: OrderedDict[tuple, ContentEvidence] = OrderedDict()


def _snap_key(snap: Snapshot) -> tuple:
    return (snap.pk, snap.record_id, snap.payload_sha256, len(snap.text or ""))


def content_evidence(d_snap: Snapshot, d_doc: Document, u_snap: Snapshot, u_doc: Document,
                     d_quotes: list[tuple[int, int, str]] = ()) -> ContentEvidence:
    """Alignment-based evidence of how D (``d_snap``) uses U (``u_snap``); ``d_quotes``: D's
    quotations of speech as (start, end, text) in ``d_snap.text``. Cached per pair of snapshots
    in the process (re-detection after each capture meets the same pairs again)."""
    key = (_snap_key(d_snap), _snap_key(u_snap), u_doc.kind, tuple(d_quotes))
    if d_snap.pk and u_snap.pk and key in _EV_CACHE:
        _EV_CACHE.move_to_end(key)
        return _EV_CACHE[key]
    ev = _content_evidence(d_snap, d_doc, u_snap, u_doc, d_quotes)
    if d_snap.pk and u_snap.pk:
        _EV_CACHE[key] = ev
        while len(_EV_CACHE) > 2048:
            _EV_CACHE.popitem(last=False)
    return ev


def _content_evidence(d_snap: Snapshot, d_doc: Document, u_snap: Snapshot, u_doc: Document,
                      d_quotes) -> ContentEvidence:
    from provenance.align import Sentence, suggest

    ds, us = sentences_of(d_snap, d_doc), sentences_of(u_snap, u_doc)
    same = ds.lang == us.lang
    ev = ContentEvidence(len(ds.texts), len(us.texts), 0, 0, 0.0, same, 0.0, ds.lang, us.lang)
    if ds.texts and us.texts:
        downs = [Sentence(t, ds.lang, start=a, end=b, doc="d") for t, (a, b) in zip(ds.texts, ds.spans, strict=True)]
        ups = [Sentence(t, us.lang, start=a, end=b, doc="u") for t, (a, b) in zip(us.texts, us.spans, strict=True)]
        try:
            found = suggest(downs, ups, embedder=embedder(), threshold=RELATED_THRESHOLD)
        except Exception:  # noqa: BLE001 - alignment is evidence, never fatal to detection
            log.exception("alignment failed for %s ~ %s", d_doc.url, u_doc.url)
            found = []
        if found:
            ev.best_confidence = max(s.confidence for s in found)
            ev.best_cosine = max(s.signals.get("embedding", 0.0) for s in found)
        found = [s for s in found if s.confidence >= ALIGN_THRESHOLD]
        best: dict[int, tuple[float, int]] = {}
        for s in found:
            if s.down_index not in best or s.confidence > best[s.down_index][0]:
                best[s.down_index] = (s.confidence, s.up_index)
        ev.pairs = sorted((i, j) for i, (_c, j) in best.items())
        ev.aligned_down = len(best)
        ev.aligned_up = len({j for _i, j in ev.pairs})
        ev.in_order = _lis_length([j for _i, j in ev.pairs]) / len(ev.pairs) if ev.pairs else 0.0
        if _script(ds.lang, ds.norm_text) == _script(us.lang, us.norm_text) and ev.pairs:
            verb = 0
            for i, j in ev.pairs:
                a, b = _stems(ds.texts[i]), _stems(us.texts[j])
                if a and b and 2 * len(a & b) / (len(a) + len(b)) >= VERBATIM_DICE:
                    verb += 1
            ev.verbatim = verb / len(ev.pairs)
    # quotations of D found in U
    ev.quotes_total = len(d_quotes)
    if d_quotes:
        same_script = _script(ds.lang, ds.norm_text) == _script(us.lang, us.norm_text)
        hay = normalize(u_snap.text).text
        by_sentence = {i: span for i, span in enumerate(ds.spans)}
        aligned = dict(ev.pairs)
        from provenance.text.segment import quotations

        for qs, _qe, q in d_quotes:
            nq = normalize(q).text.strip(" .,،")
            if len(_WORD.findall(nq)) < 3:
                continue
            if same_script:
                if re.search(rf"(?<!\w){re.escape(nq)}(?!\w)", hay):
                    ev.quotes_found.append(q)
                continue
            i = next((k for k, (a, b) in by_sentence.items() if a <= qs < b), None)
            if i is not None and i in aligned:
                j = aligned[i]
                if u_doc.kind in ORIGIN_KINDS or quotations(us.texts[j]):
                    ev.quotes_found.append(q)
    return ev
