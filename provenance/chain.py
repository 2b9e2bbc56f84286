"""Walk a claim or a document upstream to its origin(s).

Claims follow accepted ClaimLinks (claim → upstream claim → its own accepted links …); documents
follow live (not rejected) Relations. Any number of hops and languages; a node already on the
current path is reported as a cycle and not entered again. Every hop names the snapshot that
holds its evidence: for a claim link, the snapshot of the upstream claim (or the upstream
document's latest snapshot); for a relation, the downstream snapshot where the evidence was seen.

Every function takes a ``viewer`` (:class:`provenance.visibility.ProvenanceViewer`; default
``EVERYONE``, the operator's view): hops to documents or claims it may not see are left out,
titles come from ``viewer.document_meta``, and snapshots, evidence and anchors it may not see
are blanked, so callers (API, PROV, pages, admin) cannot forget to redact.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from provenance.documents import resolve_url
from provenance.models import Claim, ClaimLink, Document, Relation, ReviewStatus
from provenance.visibility import EVERYONE, ProvenanceViewer

MAX_DEPTH = 25


@dataclass
class ClaimHop:
    link: ClaimLink
    depth: int
    upstream_claim: Claim | None
    upstream_document: Document
    snapshot: object | None  # archive Snapshot holding the upstream text
    viewer: ProvenanceViewer = EVERYONE
    cycle: bool = False
    children: list[ClaimHop] = field(default_factory=list)

    @property
    def is_origin(self) -> bool:
        return self.link.origin

    def as_dict(self) -> dict:
        snap = self.snapshot
        return {
            "link_id": self.link.pk, "depth": self.depth, "relation": self.link.relation, "origin": self.link.origin,
            "status": self.link.status, "method": self.link.method_label, "confidence": self.link.confidence,
            "url": self.upstream_document.url, "document_id": self.upstream_document.pk,
            "language": (self.upstream_claim.language if self.upstream_claim else self.upstream_document.language),
            "claim_id": self.upstream_claim.pk if self.upstream_claim else None,
            "exact": self.upstream_claim.exact if self.upstream_claim else None,
            "snapshot": snap.guid if snap is not None else None,
            "captured_at": snap.captured_at.isoformat() if snap is not None else None,
            "cycle": self.cycle, "upstream": [c.as_dict() for c in self.children],
        }


def claim_chain(claim: Claim, *, statuses=(ReviewStatus.ACCEPTED,), max_depth: int = MAX_DEPTH,
                viewer: ProvenanceViewer = EVERYONE) -> list[ClaimHop]:
    """The upstream tree of ``claim`` through links with one of ``statuses`` that ``viewer`` sees."""

    def walk(c: Claim, depth: int, path: frozenset[int]) -> list[ClaimHop]:
        hops = []
        links = (c.links.filter(status__in=statuses)
                 .select_related("claim", "upstream_claim__snapshot", "upstream_document", "created_by").order_by("-origin", "pk"))
        for link in links:
            if not viewer.sees_link(link):
                continue
            up = link.upstream_claim
            snap = up.snapshot if up is not None else viewer.latest_snapshot(link.upstream_document)
            hop = ClaimHop(link, depth, up, link.upstream_document, snap, viewer)
            if up is not None and up.pk in path:
                hop.cycle = True
            elif up is not None and depth < max_depth:
                hop.children = walk(up, depth + 1, path | {up.pk})
            hops.append(hop)
        return hops

    return walk(claim, 1, frozenset({claim.pk}))


def _flatten(hops: list[ClaimHop]):
    for h in hops:
        yield h
        yield from _flatten(h.children)


def claim_origins(claim: Claim, **kw) -> list[ClaimHop]:  # kw: as claim_chain (viewer …)
    """Hops flagged as origin; when a path has none, its furthest hop (the earliest known source)."""
    hops = claim_chain(claim, **kw)
    origins = [h for h in _flatten(hops) if h.is_origin]

    return origins or [h for h in _flatten(hops) if not h.children]


# ---------------------------------------------------------------------------------------------
# documents


@dataclass
class DocHop:
    relation: Relation
    depth: int
    viewer: ProvenanceViewer = EVERYONE
    cycle: bool = False
    children: list[DocHop] = field(default_factory=list)

    @property
    def title(self) -> str:
        """The upstream document's title as the viewer may see it."""
        return self.viewer.document_meta(self.relation.target)["title"]

    @property
    def evidence(self) -> dict:
        return _evidence(self.relation, self.viewer, offsets=False)

    def as_dict(self) -> dict:
        r = self.relation
        return {
            "relation_id": r.pk, "depth": self.depth, "type": r.type, "status": r.status,
            "url": r.target.url, "document_id": r.target_id, "language": r.target.language,
            "title": self.viewer.document_meta(r.target)["title"],
            "evidence": _evidence(r, self.viewer, offsets=False),
            "recorded_by": r.recorded_by_label, "cycle": self.cycle,
            "upstream": [c.as_dict() for c in self.children],
        }


def document_chain(document: Document, *, max_depth: int = MAX_DEPTH, accepted_only: bool = False,
                   viewer: ProvenanceViewer = EVERYONE) -> list[DocHop]:
    """The upstream tree of ``document`` through live relations (or accepted ones only) to the
    documents ``viewer`` sees."""

    def walk(doc: Document, depth: int, path: frozenset[int]) -> list[DocHop]:
        rels = Relation.objects.filter(source=doc).select_related("target", "evidence_snapshot")
        rels = rels.accepted() if accepted_only else rels.live()
        hops = []
        for r in rels.order_by("type", "target__url"):
            if not viewer.sees_relation(r):
                continue
            hop = DocHop(r, depth, viewer)
            if r.target_id in path:
                hop.cycle = True
            elif depth < max_depth:
                hop.children = walk(r.target, depth + 1, path | {r.target_id})
            hops.append(hop)
        return hops

    return walk(document, 1, frozenset({document.pk}))


def document_origins(document: Document, **kw) -> list[Document]:
    """Documents at the ends of the upstream tree (nothing further upstream is known)."""
    out: dict[int, Document] = {}

    def visit(hops):
        for h in hops:
            if not h.children and not h.cycle:
                out[h.relation.target_id] = h.relation.target
            visit(h.children)

    visit(document_chain(document, **kw))
    return list(out.values())


# ---------------------------------------------------------------------------------------------
# trace: one function for the ``trace`` command, the admin and the API


def _evidence(r: Relation, viewer: ProvenanceViewer, *, offsets: bool = True) -> dict:
    """Where and how the relation shows; snapshot, words and offsets blanked when hidden."""
    seen = viewer.sees_evidence(r)
    out = {"snapshot": r.evidence_snapshot.guid if r.evidence_snapshot_id and seen else None,
           "text": r.evidence_text if seen else "", "url": r.evidence_url,
           # the detector's explanation quotes the texts it compared: hidden with them
           "summary": ((r.evidence or {}).get("summary", "") if isinstance(r.evidence, dict) else "") if seen else ""}
    if offsets:
        out.update(start=r.evidence_start if seen else None, end=r.evidence_end if seen else None)
    return out


def _snap(s) -> dict | None:
    if s is None:
        return None
    return {"id": s.guid, "url": s.url, "captured_at": s.captured_at.isoformat()}


def _relation(r: Relation, *, other: Document, viewer: ProvenanceViewer) -> dict:
    return {
        "id": r.pk, "type": r.type, "status": r.status, "url": other.url, "document_id": other.pk,
        "title": viewer.document_meta(other)["title"], "language": other.language, "confidence": r.confidence,
        "recorded_by": r.recorded_by_label, "rule": r.rule, "evidence": _evidence(r, viewer),
    }


def claim_dict(c: Claim, viewer: ProvenanceViewer = EVERYONE) -> dict:
    """The claim with its selectors, anchor, upstream links and origins, as ``viewer`` sees them
    (call it for claims the viewer sees; ``viewer.claim_fields`` is None otherwise)."""
    fields = viewer.claim_fields(c) or {"exact": None, "speaker": "", "selectors": []}
    hops = claim_chain(c, viewer=viewer)
    anchor = viewer.anchor(c)
    return {
        "id": c.pk, "exact": fields["exact"], "kind": c.kind, "language": c.language, "speaker": fields["speaker"],
        "snapshot": c.snapshot.guid if viewer.sees(c.snapshot_id) else None, "selectors": fields["selectors"],
        "anchor": {k: anchor[k] for k in ("state", "snapshot", "exact", "score")},
        "links": [h.as_dict() for h in hops],
        "origins": [{"url": h.upstream_document.url, "snapshot": h.snapshot.guid if h.snapshot else None,
                     "exact": h.upstream_claim.exact if h.upstream_claim else None, "origin": h.is_origin}
                    for h in claim_origins(c, viewer=viewer)] if hops else [],
    }


def trace(url_or_document, viewer: ProvenanceViewer = EVERYONE) -> dict | None:
    """The document, its relations both ways, its upstream tree, origins and claims, as
    ``viewer`` may see them (None when there is no such document or it is hidden from them)."""
    doc = url_or_document if isinstance(url_or_document, Document) else resolve_url(url_or_document)
    if doc is None or not viewer.sees_document(doc):
        return None
    pub = doc.publisher
    meta = viewer.document_meta(doc)
    claims = [c for c in Claim.objects.filter(document=doc).select_related("snapshot", "anchor_snapshot")
              .order_by("snapshot__captured_at", "start", "pk") if viewer.sees_claim(c)]
    ups = [r for r in doc.upstream().select_related("target", "evidence_snapshot") if viewer.sees_relation(r)]
    downs = [r for r in doc.downstream().select_related("source", "evidence_snapshot") if viewer.sees_relation(r)]
    return {
        "document": {
            "id": doc.pk, "url": doc.url, "title": meta["title"], "language": doc.language, "kind": doc.kind,
            "byline": meta["byline"], "published": meta["published_at"].isoformat() if meta["published_at"] else None,
            "publisher": {"id": pub.pk, "name": pub.name, "kind": pub.kind} if pub else None,
            "snapshots": [_snap(s) for s in viewer.versions(doc)],
            "urls": [doc.url, *doc.urls.values_list("url", flat=True)],
        },
        "relations": {
            "upstream": [_relation(r, other=r.target, viewer=viewer) for r in ups],
            "downstream": [_relation(r, other=r.source, viewer=viewer) for r in downs],
        },
        "chain": [h.as_dict() for h in document_chain(doc, viewer=viewer)],
        "origins": [{"url": d.url, "document_id": d.pk} for d in document_origins(doc, viewer=viewer)],
        "claims": [claim_dict(c, viewer) for c in claims],
    }


def render_text(t: dict) -> str:
    """The ``trace`` command's text output: URLs shown readable (Arabic decoded, RFC 3987); the
    ``--json`` output keeps the exact ASCII URIs."""
    from archive.uri import uri_to_iri as iri

    d = t["document"]
    lines = [f"{d['title']}", f"  {iri(d['url'])}", f"  language {d['language']}, publisher "
             f"{(d['publisher'] or {}).get('name', '?')}, {len(d['snapshots'])} snapshot(s): "
             + ", ".join(s["id"] for s in d["snapshots"]), "", "Upstream:"]
    for r in t["relations"]["upstream"]:
        lines.append(f"  {r['type']:<15} {iri(r['url'])}  [{r['status']}, {r['recorded_by']}]")
        if r["evidence"].get("summary"):
            lines.append(f"    why: {r['evidence']['summary']} (confidence {r['confidence']:.2f})")
    lines += ["Downstream:"]
    lines += [f"  {r['type']:<15} {iri(r['url'])}  [{r['status']}]" for r in t["relations"]["downstream"]]
    lines += ["", f"Claims ({len(t['claims'])}):"]

    def hop_lines(hops, indent):
        for h in hops:
            flag = " ORIGIN" if h["origin"] else ""
            lines.append(f"{indent}→ {h['relation']}{flag} {iri(h['url'])} (snapshot {h['snapshot']})")
            if h["exact"]:
                lines.append(f"{indent}  “{h['exact']}”")
            hop_lines(h["upstream"], indent + "  ")

    for c in t["claims"]:
        lines.append(f"- [{c['kind']}, {c['anchor']['state']}] {c['exact']}")
        hop_lines(c["links"], "    ")
    return "\n".join(lines)
