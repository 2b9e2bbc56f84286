"""Claim-link suggestions on archived documents: :mod:`provenance.align` applied to snapshots and
stored as suggested :class:`~provenance.models.ClaimLink` rows for a researcher to accept or reject.

- Downstream: the document's claims on its latest snapshot (its own claims there, and older
  claims re-anchored onto it, at their re-anchored span). A document without claims there is
  segmented: transiently by :func:`suggest_for_pair` (a dry run writes nothing), for real
  (``claims.segment_snapshot``) by :func:`run_suggestions` and :func:`save_suggestions`.
- Upstream: the sentences of each upstream document's latest snapshot, article body only
  (``claims.article_paragraphs`` cut by ``segment.segment``, boilerplate dropped), so a
  suggestion's upstream span is exact on that snapshot. Saving anchors it as an upstream Claim:
  the claim at that span (or one re-anchored there, or a merged claim that covers it) if one
  exists, else a new segmenter claim with its selectors.
- Links: status "suggested", method automatic, ``method_name``/``method_version`` =
  ``align.METHOD``/``align.METHOD_VERSION``, the confidence and signals of the aligner, the
  relation it proposes (translation, paraphrase, quote), and ``origin`` when the upstream
  document is a primary source (:func:`is_origin`).

Re-running is idempotent: one link per (claim, upstream claim); links a person reviewed
(accepted, rejected) and manual links are never touched; still-suggested automatic links get the
new confidence, relation and signals; automatic suggestions the aligner no longer makes, for the
claims and upstream documents of this run, are withdrawn (deleted; history keeps them).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Q

from archive.models import Snapshot
from provenance import align
from provenance.documents import text_language
from provenance.embeddings import get_embedder
from provenance.models import Claim, ClaimLink, Document, ReviewStatus
from provenance.text.claims import article_paragraphs, new_claim, segment_snapshot
from provenance.text.segment import is_boilerplate, segment

__all__ = ["PairSuggestion", "SuggestionRun", "NoSnapshot", "is_origin", "suggest_for_pair", "suggest_for_document",
           "save_suggestions", "save_pair", "run_suggestions",
           "upstream_documents", "ORIGIN_KINDS"]

#: Document kinds that are primary sources: a post, a communiqué or a statement is where its
#: words first appear, whatever links it carries.
ORIGIN_KINDS = frozenset({Document.Kind.POST, Document.Kind.COMMUNIQUE, Document.Kind.STATEMENT})


class NoSnapshot(LookupError):
    """A document has no live page snapshot with text to align."""


@dataclass(frozen=True)
class _Unit:
    """A sentence of a snapshot: ``snapshot.text[start:end] == text``."""

    text: str
    start: int
    end: int
    para: int
    claim: Claim | None = None


@dataclass
class PairSuggestion:
    """A proposed link from a downstream sentence (a claim, or a sentence not yet a claim) to an
    upstream sentence; offsets point into the two snapshots' text."""

    down_document: Document
    down_snapshot: Snapshot
    down_claim: Claim | None
    down_text: str
    down_start: int
    down_end: int
    up_document: Document
    up_snapshot: Snapshot
    up_text: str
    up_start: int
    up_end: int
    relation: str
    confidence: float
    origin: bool
    signals: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "downstream": self.down_text, "upstream": self.up_text, "relation": self.relation,
            "confidence": self.confidence, "origin": self.origin,
            "claim_id": self.down_claim.pk if self.down_claim is not None else None,
            "downstream_start": self.down_start, "downstream_end": self.down_end,
            "downstream_snapshot": self.down_snapshot.guid,
            "upstream_url": self.up_document.url, "upstream_start": self.up_start, "upstream_end": self.up_end,
            "upstream_snapshot": self.up_snapshot.guid,
        }


class SuggestionRun(list):
    """The suggested links of a run (a list of ClaimLink), with counts of what the run did."""

    def __init__(self, links=(), *, created=0, updated=0, unchanged=0, withdrawn=0, reviewed=0, documents=0):
        super().__init__(links)
        self.created, self.updated, self.unchanged = created, updated, unchanged
        self.withdrawn, self.reviewed, self.documents = withdrawn, reviewed, documents

    def summary(self) -> str:
        return (f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged, "
                f"{self.withdrawn} withdrawn, {self.reviewed} already reviewed (left alone)")


def is_origin(document: Document) -> bool:
    """A primary source: a post, communiqué or statement, or a document with no live upstream."""
    return document.kind in ORIGIN_KINDS or not document.upstream().exists()


def _latest(doc: Document) -> Snapshot:
    snap = doc.latest_snapshot()
    if snap is None:
        raise NoSnapshot(f"no snapshot with text for {doc.url} (capture it first)")
    return snap


def _para_index(paras, start: int) -> int:
    starts = [p.start for p in paras]
    k = bisect.bisect_right(starts, start) - 1
    return k if k >= 0 and start < paras[k].end else -1


def _claims_on(doc: Document, snap: Snapshot) -> list[_Unit]:
    """The document's claims on ``snap`` at their span there, in text order."""
    paras = article_paragraphs(snap)
    qs = (Claim.objects.filter(document=doc).present()
          .filter(Q(anchor_snapshot=snap, anchor_start__isnull=False)
                  | Q(snapshot=snap) & (Q(anchor_snapshot__isnull=True) | Q(anchor_snapshot=snap))))
    units = []
    for c in qs:
        if c.anchor_snapshot_id == snap.pk and c.anchor_start is not None:
            s, e = c.anchor_start, c.anchor_end
        else:
            s, e = c.start, c.end
        if e > s:
            units.append(_Unit(snap.text[s:e], s, e, _para_index(paras, s), c))
    units.sort(key=lambda u: (u.start, u.end))
    return units


def _sentences(doc: Document, snap: Snapshot) -> list[_Unit]:
    """Claim candidates of the snapshot's article body (what segment_snapshot would create)."""
    lang = text_language(snap, doc)
    return [_Unit(s.text, s.start, s.end, s.paragraph)
            for s in segment(snap.text, article_paragraphs(snap), lang) if not is_boilerplate(s.text, lang)]


def _downstream(doc: Document, snap: Snapshot, *, create: bool) -> list[_Unit]:
    units = _claims_on(doc, snap)
    if units:
        return units
    if create:
        segment_snapshot(snap, doc)
        return _claims_on(doc, snap)
    return _sentences(doc, snap)


def suggest_for_document(document: Document, upstream_documents, *, embedder: Any = ...,
                         threshold: float | None = None, create_claims: bool = False) -> list[PairSuggestion]:
    """Suggestions from ``document``'s claims to the sentences of all ``upstream_documents`` (one
    aligner call, order judged per upstream document). Upstream documents without a snapshot are
    skipped; the downstream one must have one (:class:`NoSnapshot`). ``embedder=...`` means the
    configured one (:func:`embeddings.get_embedder`); ``None`` aligns without embeddings."""
    if embedder is ...:
        embedder = get_embedder()
    dsnap = _latest(document)
    dlang = text_language(dsnap, document)
    down_units = _downstream(document, dsnap, create=create_claims)
    down = [align.Sentence(u.text, dlang, id=k, start=u.start, end=u.end, doc="downstream", para=u.para)
            for k, u in enumerate(down_units)]
    up: list[align.Sentence] = []
    up_meta: list[tuple[Document, Snapshot, _Unit, bool]] = []
    for up_doc in upstream_documents:
        usnap = up_doc.latest_snapshot()
        if usnap is None or up_doc.pk == document.pk:
            continue
        ulang, origin = text_language(usnap, up_doc), is_origin(up_doc)
        for u in _sentences(up_doc, usnap):
            up.append(align.Sentence(u.text, ulang, id=len(up), start=u.start, end=u.end, doc=up_doc.pk,
                                     para=u.para))
            up_meta.append((up_doc, usnap, u, origin))
    out = []
    for s in align.suggest(down, up, embedder=embedder, threshold=threshold):
        du = down_units[s.down_index]
        up_doc, usnap, uu, origin = up_meta[s.up_index]
        out.append(PairSuggestion(
            document, dsnap, du.claim, du.text, du.start, du.end, up_doc, usnap, uu.text, uu.start, uu.end,
            s.relation, s.confidence, origin, dict(s.signals)))
    return out


def suggest_for_pair(down_doc: Document, up_doc: Document, *, embedder: Any = ...,
                     threshold: float | None = None) -> list[PairSuggestion]:
    """Suggestions from ``down_doc``'s claims on its latest snapshot to the sentences of
    ``up_doc``'s latest snapshot. Writes nothing (a document without claims is segmented in
    memory). Raises :class:`NoSnapshot` when either document has no snapshot."""
    _latest(up_doc)
    return suggest_for_document(down_doc, [up_doc], embedder=embedder, threshold=threshold)


# ---------------------------------------------------------------------------------------------
# storing


def _claim_at(doc: Document, snap: Snapshot, start: int, end: int, *, user=None) -> Claim:
    """The claim of ``doc`` at ``start:end`` of ``snap`` (its own span or a re-anchored one), else a
    claim covering that span (a merged one), else a new segmenter claim there."""
    base = Claim.objects.filter(document=doc).present()
    same = (base.filter(snapshot=snap, start=start, end=end).first()
            or base.filter(anchor_snapshot=snap, anchor_start=start, anchor_end=end).first())
    if same is not None:
        return same
    covering = (base.filter(snapshot=snap, start__lte=start, end__gte=end).order_by("end", "-start").first()
                or base.filter(anchor_snapshot=snap, anchor_start__lte=start, anchor_end__gte=end)
                .order_by("anchor_end", "-anchor_start").first())
    if covering is not None:
        return covering
    claim = new_claim(doc, snap, start, end, origin="segmenter")
    if user is not None:  # record who caused it (new_claim saved without a history user)
        claim.history.filter(history_type="+").update(history_user=user)
    return claim


def save_suggestions(suggestions: list[PairSuggestion], *, user=None, scope_claims=None,
                     scope_documents=None) -> SuggestionRun:
    """Store suggestions as suggested automatic ClaimLinks (see the module docstring for the
    rules). Automatic suggestions of this method between ``scope_claims`` and
    ``scope_documents`` that are not in ``suggestions`` are withdrawn; pass neither to withdraw
    nothing."""
    best: dict[tuple[int, int], tuple[PairSuggestion, Claim, Claim]] = {}
    run = SuggestionRun()
    with transaction.atomic():
        for ps in suggestions:
            claim = ps.down_claim or _claim_at(ps.down_document, ps.down_snapshot, ps.down_start, ps.down_end,
                                               user=user)
            up_claim = _claim_at(ps.up_document, ps.up_snapshot, ps.up_start, ps.up_end, user=user)
            if up_claim.pk == claim.pk:
                continue
            key = (claim.pk, up_claim.pk)
            if key not in best or ps.confidence > best[key][0].confidence:
                best[key] = (ps, claim, up_claim)
        keep: set[int] = set()
        for ps, claim, up_claim in best.values():
            fields = {"upstream_document": ps.up_document, "relation": ps.relation, "origin": ps.origin,
                      "confidence": ps.confidence, "method": ClaimLink.Method.AUTOMATIC,
                      "method_name": align.METHOD, "method_version": align.METHOD_VERSION, "signals": ps.signals}
            link = ClaimLink.objects.filter(claim=claim, upstream_claim=up_claim).first()
            if link is None:
                link = ClaimLink(claim=claim, upstream_claim=up_claim, status=ReviewStatus.SUGGESTED, **fields)
                if user is not None:
                    link._history_user = user
                link.save()
                run.created += 1
            elif link.status != ReviewStatus.SUGGESTED or link.method != ClaimLink.Method.AUTOMATIC:
                run.reviewed += 1  # a person's decision or a person's link: never touched
                keep.add(link.pk)
                continue
            else:
                changed = [k for k, v in fields.items()
                           if (getattr(link, k + "_id") != v.pk if k == "upstream_document" else getattr(link, k) != v)]
                if changed:
                    for k in changed:
                        setattr(link, k, fields[k])
                    if user is not None:
                        link._history_user = user
                    link.save(update_fields=changed)
                    run.updated += 1
                else:
                    run.unchanged += 1
            keep.add(link.pk)
            run.append(link)
        if scope_claims is not None and scope_documents is not None:
            stale = (ClaimLink.objects.automatic().suggested()
                     .filter(claim__in=scope_claims, upstream_document__in=scope_documents, method_name=align.METHOD)
                     .exclude(pk__in=keep))
            for link in stale:
                if user is not None:
                    link._history_user = user
                link.delete()
                run.withdrawn += 1
    return run


def _scope(document: Document, up_docs: list[Document]) -> tuple[list[int], list[int]]:
    snap = document.latest_snapshot()
    claims = [u.claim.pk for u in _claims_on(document, snap)] if snap is not None else []
    return claims, [d.pk for d in up_docs if d.latest_snapshot() is not None]


def save_pair(down_doc: Document, up_doc: Document, suggestions: list[PairSuggestion], *, user=None) -> SuggestionRun:
    """Store the suggestions of :func:`suggest_for_pair`, withdrawing this pair's stale ones."""
    with transaction.atomic():
        snap = _latest(down_doc)
        if not _claims_on(down_doc, snap):
            segment_snapshot(snap, down_doc)
        claims, docs = _scope(down_doc, [up_doc])
        run = save_suggestions(suggestions, user=user, scope_claims=claims, scope_documents=docs)
    run.documents = 1
    return run


def upstream_documents(document: Document) -> list[Document]:
    """Targets of the document's live (accepted or suggested) upstream relations, each once."""
    seen: dict[int, Document] = {}
    for rel in document.upstream().select_related("target").order_by("pk"):
        if rel.target_id != document.pk:
            seen.setdefault(rel.target_id, rel.target)
    return list(seen.values())


def run_suggestions(document: Document, *, user=None, embedder: Any = ...,
                    threshold: float | None = None) -> SuggestionRun:
    """Suggest and store claim links from ``document``'s claims (latest snapshot) to every
    upstream document of its live relations. Returns the suggested links (a :class:`SuggestionRun`:
    a list of ClaimLink with counts). A document without a snapshot or upstream gives an empty run."""
    ups = upstream_documents(document)
    if not ups or document.latest_snapshot() is None:
        return SuggestionRun()
    with transaction.atomic():
        suggestions = suggest_for_document(document, ups, embedder=embedder, threshold=threshold,
                                           create_claims=True)
        claims, docs = _scope(document, ups)
        run = save_suggestions(suggestions, user=user, scope_claims=claims, scope_documents=docs)
    run.documents = 1
    return run
