"""Relation detection for one document: candidates → evidence → decision → stored Relations.

The steps live in their own modules:

- :mod:`provenance.detect.cues`: what the text says (links, embeds, credit lines, bylines,
  datelines, outlets named near reporting phrases), lexicon in ``rules/cues.json``;
- :mod:`provenance.detect.candidates`: which documents to compare (linked, named, similar), and
  the stored index behind :func:`affected_by`;
- :mod:`provenance.detect.evidence`: what the texts show (alignment coverage both ways, order,
  language, verbatim share, quotations found);
- :mod:`provenance.detect.decide`: the type, confidence and human-readable summary.

This module runs them in order and adds the one inference that spans two relations: **through a
translation**. When D translates (or republishes) U and U quotes, cites or derives from X, D's
sentence aligned with U's sentence that links X, still naming a source (a reporting cue), is
evidence that D attributes it to X (``attributes_to``), unless D links or embeds X itself.

Public API (stable): :func:`detect` (writes nothing), :func:`detect_relations` (stores
suggestions; idempotent; reviewed or manual relations are never changed), :func:`affected_by`.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field

from django.db import transaction

from archive.models import Snapshot
from provenance.detect.candidates import affected_by, earlier, gather, index_document
from provenance.detect.cues import CueFinder, CueResult, Evidence, find_cues
from provenance.detect.decide import Decision, decide
from provenance.detect.evidence import ContentEvidence, content_evidence, sentences_of
from provenance.models import Document, Relation, ReviewStatus
from provenance.text.segment import quotations  # noqa: F401 - one quotation finder for every module
from provenance.text.textnorm import normalize

log = logging.getLogger(__name__)

DETECTOR = "naql-attribution"
DETECTOR_VERSION = "2.0"
MAX_GAP = 3
T = Relation.Type

__all__ = ["DETECTOR", "DETECTOR_VERSION", "Detection", "detect", "detect_relations", "affected_by", "Evidence",
           "upstream_leads"]


@dataclass
class Detection:
    document: Document
    snapshot: Snapshot | None
    evidence: list[Evidence] = field(default_factory=list)
    decisions: dict[int, tuple[Document, Decision, list[Evidence], ContentEvidence | None]] = field(
        default_factory=dict)
    unresolved: list[dict] = field(default_factory=list)
    cues: CueResult | None = None
    quotes: list[tuple[int, int, str]] = field(default_factory=list)

    def best(self) -> dict[int, tuple[str, list[Evidence]]]:
        """Per target document id: (relation type, its cue evidence)."""
        return {tid: (dec.type, evs) for tid, (_d, dec, evs, _c) in self.decisions.items()}


def _downstream_of(doc: Document) -> set[int]:
    return set(Relation.objects.live().filter(target=doc).values_list("source_id", flat=True))


def _evidence_spans(up_snap: Snapshot, rel: Relation) -> list[tuple[int, int]]:
    if rel.evidence_start is not None and rel.evidence_snapshot_id == up_snap.pk:
        return [(rel.evidence_start, rel.evidence_end)]
    if rel.evidence_start is not None and rel.evidence_text:
        k = up_snap.text.find(rel.evidence_text)
        if k >= 0:
            return [(k, k + len(rel.evidence_text))]
    # an embedded post: the paragraph just before it introduces it
    etext = normalize(rel.evidence_text or "").text
    all_p = (up_snap.extracted or {}).get("paragraphs", [])
    for k, (s, e, *_r) in enumerate(all_p):
        ptext = normalize(up_snap.text[s:e]).text
        if k and len(ptext) >= 20 and ptext in etext:
            return [(all_p[k - 1][0], all_p[k - 1][1])]
    return []


def _counterparts(pairs: list[tuple[int, int]], ups: set[int], *, max_gap: int) -> list[int]:
    """Downstream sentences aligned with any of ``ups``; when none is, the ones lying between the
    aligned neighbours of ``ups`` (translations keep order), if that gap is small."""
    if not ups:
        return []
    direct = sorted({d for d, u in pairs if u in ups})
    if direct:
        return direct
    lo, hi = min(ups), max(ups)
    before = [d for d, u in pairs if u < lo]
    after = [d for d, u in pairs if u > hi]
    if not before or not after:
        return []
    d_prev, d_next = max(before), min(after)
    if d_next - d_prev - 1 < 1 or d_next - d_prev - 1 > max_gap:
        return []
    return list(range(d_prev + 1, d_next))


class _Run:
    def __init__(self, doc: Document, snap: Snapshot):
        self.doc, self.snap = doc, snap
        self.finder = CueFinder(doc, snap)
        self.det = Detection(doc, snap)

    def run(self) -> Detection:
        cues = self.finder.run()
        self.det.cues, self.det.unresolved = cues, cues.unresolved
        self.det.quotes = self.finder.speech_quotes
        cands = gather(self.doc, self.snap, cues, self.det.quotes)
        per: dict[int, list[Evidence]] = defaultdict(list)
        for e in cues.evidence:
            per[e.target.pk].append(e)
        named_pub: dict[int, int] = {}
        for pub, typ, rule, text, s, e in cues.named:
            for c in cands.values():
                if c.document.publisher_id == pub.pk and "named" in c.reasons:
                    per[c.document.pk].append(Evidence(c.document, typ, rule, text, s, e, confidence=0.6))
                    named_pub[c.document.pk] = pub.pk
        downstream = _downstream_of(self.doc)
        contents: dict[int, ContentEvidence | None] = {}
        for pk, c in cands.items():
            d = c.document
            if pk in downstream:
                continue  # never a cycle of sources
            direct = any(e.direct for e in per.get(pk, []))
            if not direct and not earlier(d, self.doc):
                continue  # a later document is not a source unless D links it
            usnap = d.latest_snapshot()
            contents[pk] = content_evidence(self.snap, self.doc, usnap, d, self.det.quotes) if usnap else None
        decided: dict[int, tuple[Document, Decision, list[Evidence], ContentEvidence | None]] = {}
        for pk, content in contents.items():
            evs = sorted(per.get(pk, []), key=lambda e: (not e.direct, -e.confidence))
            dec = decide(evs, content, cands[pk].document)
            if dec is not None:
                decided[pk] = (cands[pk].document, dec, evs, content)
        self._one_per_named_publisher(decided, named_pub)
        self._drop_siblings(decided)
        self.det.evidence = [e for evs in per.values() for e in evs]
        self.det.decisions = decided
        self._through_translation()
        return self.det

    @staticmethod
    def _one_per_named_publisher(decided, named_pub) -> None:
        """Of several documents of one publisher found only by its name, keep the best supported."""
        groups: dict[int, list[int]] = defaultdict(list)
        for pk, (_d, _dec, evs, _c) in decided.items():
            if pk in named_pub and not any(e.direct for e in evs):
                groups[named_pub[pk]].append(pk)
        for pks in groups.values():
            if len(pks) < 2:
                continue

            def score(pk):
                _d, dec, _e, c = decided[pk]
                return (len(c.quotes_found) if c else 0, c.aligned_down if c else 0, dec.confidence,
                        decided[pk][0].published_at.timestamp() if decided[pk][0].published_at else 0)
            keep = max(pks, key=score)
            for pk in pks:
                if pk != keep:
                    decided.pop(pk)

    @staticmethod
    def _drop_siblings(decided) -> None:
        """A candidate found by similarity only, whose aligned sentences of D are mostly explained by
        an upstream D credits (a link or name), is a sibling (two translations of one source): drop."""
        credited = [(pk, set(i for i, _j in c.pairs)) for pk, (_d, dec, evs, c) in decided.items()
                    if evs and c is not None and dec.type in (T.TRANSLATION_OF, T.REPUBLISHES, T.DERIVED_FROM)]
        for pk in [pk for pk, (_d, _dec, evs, _c) in decided.items() if not evs]:
            c = decided[pk][3]
            mine = {i for i, _j in c.pairs} if c else set()
            if any(len(mine & other) >= 0.5 * max(1, len(mine)) for opk, other in credited if opk != pk):
                decided.pop(pk)

    def _through_translation(self) -> None:
        det = self.det
        ups = [(d, c, dec.type) for d, dec, _e, c in det.decisions.values()
               if dec.type in (T.TRANSLATION_OF, T.REPUBLISHES) and c is not None]
        lang = sentences_of(self.snap, self.doc).lang
        for up, content, how in ups:
            up_snap = up.latest_snapshot()
            if up_snap is None:
                continue
            up_sents = sentences_of(up_snap, up)
            rels = Relation.objects.live().filter(source=up).exclude(target=self.doc).select_related("target")
            for rel in rels:
                target = rel.target
                current = det.decisions.get(target.pk)
                if current is not None and any(e.direct for e in current[2]):
                    continue  # D links or embeds it itself: its own evidence decides
                if current is None and (rel.type in (T.TRANSLATION_OF, T.REPUBLISHES)
                                        or not (rel.evidence_url or rel.evidence_start is not None)):
                    continue  # a version of it that D does not name, or no sentence of U to follow
                spans = _evidence_spans(up_snap, rel)
                hit = {j for j, (us, ue) in enumerate(up_sents.spans) if any(us < b and a < ue for a, b in spans)}
                down = sentences_of(self.snap, self.doc)
                found = []
                for i in _counterparts(content.pairs, hit, max_gap=MAX_GAP):
                    ds, de = down.spans[i]
                    if find_cues(normalize(self.snap.text[ds:de]).text, lang):
                        found.append(Evidence(target, T.ATTRIBUTES_TO, "through-translation", self.snap.text[ds:de],
                                              ds, de, url=rel.evidence_url, confidence=0.65))
                if not found and current is None:
                    continue
                evs = found + (current[2] if current else [])
                verb = "translates" if how == T.TRANSLATION_OF else "republishes"
                summary = (f"{verb} the {up.language or ''} document {up.url}, which {rel.type.replace('_', ' ')} "
                           f"it; " + (f"sentence '{' '.join(found[0].text.split())[:140]}'" if found
                                      else (current[1].summary if current else "")))
                dec = Decision(T.ATTRIBUTES_TO, 0.65, summary, ["through the translation"])
                det.decisions[target.pk] = (target, dec, evs, current[3] if current else None)
                det.evidence += found


def detect(document: Document, snapshot: Snapshot | None = None) -> Detection:
    """Evidence and decisions of the document's sources on ``snapshot`` (default: its latest); writes nothing."""
    snapshot = snapshot or document.latest_snapshot()
    if snapshot is None:
        return Detection(document, None)
    return _Run(document, snapshot).run()


def _evidence_json(dec: Decision, evs: list[Evidence], content: ContentEvidence | None) -> dict:
    return {"summary": dec.summary, "decision": dec.reasons, "content": content.as_dict() if content else None,
            "cues": [e.as_dict() for e in evs]}


def detect_relations(document: Document, *, user=None) -> list[Relation]:
    """Run detection and store the result as suggested Relations (recorded by the detector).

    Idempotent: a relation already accepted, rejected or entered by hand is left as it is (and no
    other type is suggested for that pair); a suggestion of this detector that the evidence no
    longer supports is withdrawn (deleted; the history keeps it); one whose type or evidence
    changed is updated; an unchanged one is saved again (a history row) only when a ``user`` ran
    the detection. ``Relation.evidence`` is a dict whose ``summary`` says why, in words.
    """
    det = detect(document)
    out = []
    with transaction.atomic():
        existing = {(r.target_id, r.type): r for r in Relation.objects.filter(source=document)}
        kept: set[int] = set()
        for tid, (target, dec, evs, content) in det.decisions.items():
            if any(k[0] == tid and (not r.detector or r.status != ReviewStatus.SUGGESTED)
                   for k, r in existing.items()):
                kept.update(r.pk for k, r in existing.items() if k[0] == tid)
                continue
            ev = next((e for e in evs if e.type == dec.type and e.start is not None), None) \
                or next((e for e in evs if e.start is not None), None) or (evs[0] if evs else None)
            rel = existing.get((tid, dec.type)) or next((r for k, r in existing.items() if k[0] == tid), None) \
                or Relation(source=document, target=target)
            values = {
                "type": dec.type, "evidence_snapshot_id": det.snapshot.pk if det.snapshot else None,
                "evidence_text": (ev.text if ev else dec.summary)[:2000], "evidence_url": ev.url if ev else "",
                "evidence_start": ev.start if ev else None, "evidence_end": ev.end if ev else None,
                "evidence": _evidence_json(dec, evs, content),
                "detector": DETECTOR, "detector_version": DETECTOR_VERSION, "rule": ev.rule if ev else "content",
                "confidence": dec.confidence,
            }
            # An automatic re-run saves only a real change (history stays meaningful after every
            # capture); a person's run also records that they confirmed the unchanged suggestion.
            if rel.pk is None or user is not None or any(getattr(rel, k) != v for k, v in values.items()):
                for k, v in values.items():
                    setattr(rel, k, v)
                if user is not None:
                    rel._history_user = user
                rel.save()
            kept.add(rel.pk)
            out.append(rel)
        for r in existing.values():
            if r.pk not in kept and r.detector == DETECTOR and r.status == ReviewStatus.SUGGESTED:
                if user is not None:
                    r._history_user = user
                r.delete()
        if det.snapshot is not None and det.cues is not None:
            index_document(document, det.snapshot, det.cues, det.quotes)
    return out


def upstream_leads(document: Document) -> list[dict]:
    """URLs the document's text points to as sources that are not archived yet: links and embeds
    found with attribution evidence (an embed, a credit line, a link in a sentence with a reporting
    cue or next to an outlet noun; plain links are left out). Each ``{url, rule}``, once per URL,
    embeds and credit lines first, then linked sentences in text order. What a trace that follows upstream should capture next."""
    from provenance.detect.cues import CueFinder

    snap = document.latest_snapshot()
    if snap is None:
        return []
    seen, out = set(), []
    for item in CueFinder(document, snap, semantic=False).run().unresolved:
        if item["where"] == "link:plain" or item["url"] in seen:
            continue
        seen.add(item["url"])
        out.append({"url": item["url"], "rule": item["where"]})
    return out
