"""Parallel reading of a translation: the two texts sentence against aligned sentence.

Rows follow the translation's order. A row pairs one translated sentence with the source
sentence(s) it renders; a translated sentence with none is *added* (the translator's own); a
source sentence no translated sentence renders is *dropped*, and sits where it was in the source
(after the source sentence aligned to the row above). The pairing comes from the claim links
people reviewed (accepted, then suggested) where there are any, and otherwise from the aligner
(:func:`provenance.suggest.suggest_for_pair`, which writes nothing). A pair out of the source's
order is marked *moved*.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from provenance.models import ClaimLink, Document, ReviewStatus
from provenance.suggest import NoSnapshot, _claims_on, _sentences, suggest_for_pair


@dataclass
class Row:
    down: object | None  # a _Unit of the translation (or None: a dropped source sentence)
    up: list = field(default_factory=list)  # _Units of the source
    how: str = ""  # "reviewed", "suggested", "aligned", "added", "dropped"
    confidence: float | None = None
    moved: bool = False


@dataclass
class Parallel:
    down_doc: Document
    up_doc: Document
    down_snapshot: object
    up_snapshot: object
    rows: list[Row]

    @property
    def aligned(self) -> int:
        return sum(1 for r in self.rows if r.down is not None and r.up)

    @property
    def in_order(self) -> int:
        return sum(1 for r in self.rows if r.down is not None and r.up and not r.moved)

    @property
    def total(self) -> int:
        return sum(1 for r in self.rows if r.down is not None)

    @property
    def added(self) -> int:
        return sum(1 for r in self.rows if r.how == "added")

    @property
    def dropped(self) -> int:
        return sum(1 for r in self.rows if r.how == "dropped")


def _overlapping(units, start: int, end: int) -> list[int]:
    return [k for k, u in enumerate(units) if u.start < end and start < u.end]


def parallel(down_doc: Document, up_doc: Document, *, visible_link_ids: set[int] | None = None) -> Parallel:
    """Align ``down_doc`` (the translation) with ``up_doc`` (its source), latest snapshots.
    Raises :class:`provenance.suggest.NoSnapshot` when either has no snapshot with text."""
    dsnap, usnap = down_doc.latest_snapshot(), up_doc.latest_snapshot()
    if dsnap is None or usnap is None:
        raise NoSnapshot("both documents need a snapshot with text")
    down = _claims_on(down_doc, dsnap) or _sentences(down_doc, dsnap)
    up = _sentences(up_doc, usnap)
    match: dict[int, tuple[list[int], str, float | None]] = {}

    # 1. reviewed (then suggested) links to spans of the source's latest snapshot
    claim_index = {u.claim.pk: k for k, u in enumerate(down) if getattr(u, "claim", None) is not None}
    links = (ClaimLink.objects.filter(claim_id__in=claim_index, upstream_document=up_doc,
                                      status__in=(ReviewStatus.ACCEPTED, ReviewStatus.SUGGESTED),
                                      upstream_claim__isnull=False)
             .select_related("upstream_claim").order_by("status", "-confidence"))  # "accepted" < "suggested"
    for link in links:
        if visible_link_ids is not None and link.pk not in visible_link_ids:
            continue
        uc = link.upstream_claim
        if uc.snapshot_id == usnap.pk:
            s, e = uc.start, uc.end
        elif uc.anchor_snapshot_id == usnap.pk and uc.anchor_start is not None:
            s, e = uc.anchor_start, uc.anchor_end
        else:
            continue
        ks = _overlapping(up, s, e)
        if not ks:
            continue
        i = claim_index[link.claim_id]
        how = "reviewed" if link.status == ReviewStatus.ACCEPTED else "suggested"
        prev = match.get(i)
        if prev is None:
            match[i] = (ks, how, link.confidence)
        elif prev[1] == how:
            match[i] = (sorted(set(prev[0]) | set(ks)), how, prev[2])

    # 2. the aligner for the rest
    if len(match) < len(down):
        by_pos = {(u.start, u.end): k for k, u in enumerate(down)}
        up_pos = {(u.start, u.end): k for k, u in enumerate(up)}
        for s in suggest_for_pair(down_doc, up_doc):
            i = by_pos.get((s.down_start, s.down_end))
            j = up_pos.get((s.up_start, s.up_end))
            if i is None or j is None or (i in match and match[i][1] != "aligned"):
                continue
            if i not in match or s.confidence > (match[i][2] or 0):
                match[i] = ([j], "aligned", s.confidence)

    used = {j for ks, _how, _c in match.values() for j in ks}
    rows: list[Row] = []
    last = -1
    for i, d in enumerate(down):
        if i in match:
            ks, how, conf = match[i]
            first = min(ks)
            if first > last:
                rows += [Row(None, [up[j]], "dropped") for j in range(last + 1, first) if j not in used]
            rows.append(Row(d, [up[j] for j in ks], how, conf, moved=first < last))
            rows += [Row(None, [up[j]], "dropped") for j in range(max(first, last) + 1, max(ks))
                     if j not in used]
            last = max(last, max(ks))
        else:
            rows.append(Row(d, [], "added"))
    rows += [Row(None, [up[j]], "dropped") for j in range(last + 1, len(up)) if j not in used]
    return Parallel(down_doc, up_doc, dsnap, usnap, rows)
