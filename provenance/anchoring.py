"""Selectors for claims, and re-anchoring them on a newer snapshot of the same document.

Selectors are the W3C Web Annotation ones Hypothesis uses: a TextQuoteSelector (``exact`` with
32 characters of ``prefix`` and ``suffix``) and a TextPositionSelector (``start``/``end`` in
``Snapshot.text``).

Re-anchoring (:func:`locate`), in order:

1. **exact**: the quote occurs in the new text. Among several occurrences the one whose context
   matches best, then the nearest to the expected position, wins. ``unchanged`` when at least one
   side of the context (prefix or suffix) is still there, ``moved`` when neither is (the sentence
   now sits somewhere else). Offsets shifting because something earlier changed is not a move.
2. **fuzzy**: the two texts are aligned word by word (difflib); the span the old words map to in
   the new text is the candidate. It is scored on the quote (character similarity of the
   normalised texts), the context (prefix/suffix similarity) and the position (relative offset):
   ``score = 0.7 quote + 0.2 context + 0.1 position``. At or above ``THRESHOLD`` (and a quote
   similarity of at least ``MIN_QUOTE``) the claim is ``edited`` with the new text and the score;
   otherwise it is ``removed``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher

from provenance.text.textnorm import normalize

CONTEXT = 32
THRESHOLD = 0.6
MIN_QUOTE = 0.5
WEIGHTS = {"quote": 0.7, "context": 0.2, "position": 0.1}
_TOKEN = re.compile(r"\S+")


def context(text: str, start: int, end: int, size: int = CONTEXT) -> tuple[str, str]:
    """``(prefix, suffix)``: up to ``size`` characters either side of ``text[start:end]``."""
    return text[max(0, start - size):start], text[end:end + size]


@dataclass(frozen=True)
class Match:
    state: str  # unchanged | moved | edited | removed
    start: int | None = None
    end: int | None = None
    exact: str = ""
    score: float = 0.0
    detail: dict | None = None


def _sim(a: str, b: str) -> float:
    a, b = normalize(a).text, normalize(b).text
    if not a and not b:
        return 1.0
    if not a or not b:
        return 0.0
    return SequenceMatcher(None, a, b, autojunk=False).ratio()


class TextMap:
    """Word alignment of an old text onto a new one, to map spans across versions."""

    def __init__(self, old: str, new: str):
        self.old, self.new = old, new
        self.old_tokens = [(m.start(), m.end()) for m in _TOKEN.finditer(old)]
        self.new_tokens = [(m.start(), m.end()) for m in _TOKEN.finditer(new)]
        a = [old[s:e] for s, e in self.old_tokens]
        b = [new[s:e] for s, e in self.new_tokens]
        self.opcodes = SequenceMatcher(None, a, b, autojunk=False).get_opcodes()

    def _token_range(self, start: int, end: int) -> tuple[int, int]:
        idx = [i for i, (s, e) in enumerate(self.old_tokens) if s < end and e > start]
        return (idx[0], idx[-1] + 1) if idx else (0, 0)

    def _map_token(self, i: int, *, is_end: bool) -> int:
        for tag, i1, i2, j1, j2 in self.opcodes:
            if i1 <= i < i2:
                if tag == "equal":
                    return j1 + (i - i1) + (1 if is_end else 0)
                if tag == "replace":
                    return j2 if is_end else j1
                return j1  # delete: nothing left here
        return len(self.new_tokens)

    def map_span(self, start: int, end: int) -> tuple[int, int] | None:
        ti, tj = self._token_range(start, end)
        if ti >= tj:
            return None
        ni = self._map_token(ti, is_end=False)
        nj = self._map_token(tj - 1, is_end=True)
        if ni >= nj:
            return None
        return self.new_tokens[ni][0], self.new_tokens[nj - 1][1]

    def expected_position(self, start: int) -> int:
        """Where ``start`` of the old text is expected in the new text."""
        ti, _ = self._token_range(start, start + 1)
        if not self.new_tokens:
            return 0
        j = min(self._map_token(ti, is_end=False), len(self.new_tokens) - 1)
        return self.new_tokens[j][0]


def locate(exact: str, prefix: str, suffix: str, start: int, old_text: str, new_text: str,
           *, text_map: TextMap | None = None, threshold: float = THRESHOLD) -> Match:
    """Find the claim ``exact`` (at ``start`` in ``old_text``) in ``new_text``; see the module doc."""
    text_map = text_map or TextMap(old_text, new_text)
    expected = text_map.expected_position(start)
    # 1. exact
    hits, pos = [], new_text.find(exact) if exact else -1
    while pos >= 0:
        p_ok = bool(prefix) and new_text[max(0, pos - len(prefix)):pos] == prefix
        s_ok = bool(suffix) and new_text[pos + len(exact):pos + len(exact) + len(suffix)] == suffix
        edge = (not prefix and pos == 0) or (not suffix and pos + len(exact) == len(new_text))
        hits.append((int(p_ok) + int(s_ok) + int(edge), -abs(pos - expected), pos))
        pos = new_text.find(exact, pos + 1)
    if hits:
        ctx, _dist, pos = max(hits)
        state = "unchanged" if ctx else "moved"
        return Match(state, pos, pos + len(exact), exact, 1.0, {"method": "exact", "context_sides": ctx})
    # 2. fuzzy
    span = text_map.map_span(start, start + len(exact))
    if span is None:
        return Match("removed", detail={"method": "fuzzy", "reason": "no counterpart in the new text"})
    ns, ne = span
    candidate = new_text[ns:ne]
    quote = _sim(exact, candidate)
    new_prefix, new_suffix = context(new_text, ns, ne, max(len(prefix), len(suffix), CONTEXT))
    ctx_scores = []
    if prefix:
        ctx_scores.append(_sim(prefix, new_prefix[-len(prefix):]))
    if suffix:
        ctx_scores.append(_sim(suffix, new_suffix[:len(suffix)]))
    ctx = sum(ctx_scores) / len(ctx_scores) if ctx_scores else 1.0
    rel_old = start / max(1, len(old_text))
    rel_new = ns / max(1, len(new_text))
    position = max(0.0, 1.0 - 4 * abs(rel_old - rel_new))
    score = WEIGHTS["quote"] * quote + WEIGHTS["context"] * ctx + WEIGHTS["position"] * position
    detail = {"method": "fuzzy", "quote": round(quote, 4), "context": round(ctx, 4),
              "position": round(position, 4), "candidate": candidate}
    if score >= threshold and quote >= MIN_QUOTE:
        return Match("edited", ns, ne, candidate, round(score, 4), detail)
    return Match("removed", score=round(score, 4), detail=detail)


# ---------------------------------------------------------------------------------------------
# database side


def reanchor_document(document, snapshot=None, *, user=None) -> dict[int, Match]:
    """Re-anchor every claim of ``document`` on ``snapshot`` (default: its latest snapshot).

    Claims already anchored on that snapshot or a newer one, and claims already removed, are
    left alone. Each change is saved (history keeps the previous anchoring). Returns
    ``{claim id: Match}``.
    """
    from provenance.models import Claim

    snapshot = snapshot or document.latest_snapshot()
    if snapshot is None:
        return {}
    results: dict[int, Match] = {}
    maps: dict[int, TextMap] = {}
    claims = (Claim.objects.filter(document=document).exclude(anchor_state=Claim.AnchorState.REMOVED)
              .select_related("snapshot", "anchor_snapshot"))
    for claim in claims:
        current = claim.current_snapshot
        # newer by (captured_at, pk), the order of Document.snapshots(): two captures within the
        # same second are still an older and a newer one
        if (current.captured_at, current.pk) >= (snapshot.captured_at, snapshot.pk):
            continue
        old_text = current.text
        if claim.anchor_snapshot_id:
            start, exact = claim.anchor_start or 0, claim.anchor_exact
            prefix, suffix = context(old_text, start, start + len(exact))
        else:
            start, exact, prefix, suffix = claim.start, claim.exact, claim.prefix, claim.suffix
        tm = maps.get(current.pk)
        if tm is None:
            tm = maps[current.pk] = TextMap(old_text, snapshot.text)
        match = locate(exact, prefix, suffix, start, old_text, snapshot.text, text_map=tm)
        claim.anchor_state = match.state
        claim.anchor_snapshot = snapshot
        claim.anchor_exact = match.exact
        claim.anchor_start, claim.anchor_end = match.start, match.end
        claim.anchor_score = match.score
        if user is not None:
            claim._history_user = user
        claim.save()
        results[claim.pk] = match
    return results
