"""W3C PROV export of a document's (or a claim's) chain: PROV-JSON and PROV-O Turtle (``prov`` package).

Mapping:

- a Document is a ``prov:Entity`` (``doc:<id>``); each of its snapshots is an entity
  (``snap:<GUID>``, the citable ``/s/<GUID>`` page) that is ``specializationOf`` the document,
  ``wasGeneratedBy`` a capture activity (``naql:capture-<GUID>``) at the capture time, and
  ``wasRevisionOf`` the previous snapshot of the same document;
- the publisher is a ``prov:Agent``; the document ``wasAttributedTo`` it;
- relations go from the downstream evidence snapshot to the upstream document's latest snapshot:
  ``translation_of`` → ``wasDerivedFrom`` with a translation activity, ``republishes`` and
  ``derived_from`` → ``wasDerivedFrom``, ``quotes`` → ``wasQuotedFrom``, ``cites`` and
  ``attributes_to`` → ``wasInfluencedBy`` (typed ``naql:cites`` / ``naql:attributes_to``);
  the origins of the chain are each the downstream document's ``hadPrimarySource``;
- claims are entities (``claim:<id>``, ``prov:value`` = exact text) and accepted claim links map
  the same way: translation → ``wasDerivedFrom`` + translation activity, paraphrase →
  ``wasDerivedFrom``, quote → ``wasQuotedFrom``, origin → ``hadPrimarySource``.
"""

from __future__ import annotations

from prov.model import PROV_LABEL, PROV_LOCATION, PROV_TYPE, PROV_VALUE, ProvDocument

from archive.uri import public_origin
from provenance.chain import claim_chain, document_chain, document_origins
from provenance.models import Claim, ClaimLink, Document, Relation
from provenance.visibility import EVERYONE, ProvenanceViewer

WITHHELD = "naql:withheld-snapshot"


class _Builder:
    """Built as ``viewer`` (:mod:`provenance.visibility`) sees things: documents, relations,
    claims and links it may not see are left out; snapshots it may not see become one opaque
    ``naql:withheld-snapshot`` entity; titles are ``viewer.document_meta``'s."""

    def __init__(self, viewer: ProvenanceViewer = EVERYONE, base: str | None = None):
        self.viewer = viewer
        self.visible = viewer.sees
        base = (base or public_origin()).rstrip("/")
        self.doc = ProvDocument()
        self.doc.add_namespace("naql", f"{base}/ns/provenance#")
        self.doc.add_namespace("snap", f"{base}/s/")
        self.doc.add_namespace("doc", f"{base}/d/")  # the provenance page of the document
        self.doc.add_namespace("claim", f"{base}/c/")  # redirects to the claim on that page
        self.doc.add_namespace("pub", f"{base}/provenance/publisher/")
        self.seen: set[str] = set()

    def q(self, name: str):
        return self.doc.valid_qualified_name(name)

    def _once(self, key: str) -> bool:
        if key in self.seen:
            return False
        self.seen.add(key)
        return True

    def document(self, d: Document) -> str:
        ident = f"doc:{d.pk}"
        if not self._once(ident):
            return ident
        attrs = {PROV_TYPE: self.q("naql:Document"), PROV_LOCATION: d.url, PROV_LABEL: self.viewer.title(d),
                 "naql:language": d.language or "und", "naql:kind": d.kind}
        self.doc.entity(ident, attrs)
        if d.publisher_id:
            p = d.publisher
            agent = f"pub:{p.pk}"
            if self._once(agent):
                self.doc.agent(agent, {PROV_LABEL: p.name, PROV_TYPE: self.q(f"naql:{p.kind}")})
            self.doc.wasAttributedTo(ident, agent)
        prev = None
        for s in self.viewer.versions(d):
            sid = self.snapshot(s)
            self.doc.specializationOf(sid, ident)
            if prev is not None:
                self.doc.wasRevisionOf(sid, prev)
            prev = sid
        return ident

    def snapshot(self, s) -> str:
        if not self.visible(s):
            if self._once(WITHHELD):
                self.doc.entity(WITHHELD, {PROV_TYPE: self.q("naql:Snapshot"), PROV_LABEL: "withheld (private)"})
            return WITHHELD
        ident = f"snap:{s.guid}"
        if self._once(ident):
            self.doc.entity(ident, {PROV_TYPE: self.q("naql:Snapshot"), PROV_LOCATION: s.url,
                                    "prov:generatedAtTime": s.captured_at, "naql:sha256": s.payload_sha256})
            act = f"naql:capture-{s.guid}"
            self.doc.activity(act, s.captured_at, s.captured_at, {PROV_TYPE: self.q("naql:Capture")})
            self.doc.wasGeneratedBy(ident, act, s.captured_at)
        return ident

    def _side(self, d: Document, snap=None) -> str:
        self.document(d)
        snap = snap or self.viewer.latest_snapshot(d)
        return self.snapshot(snap) if snap is not None else f"doc:{d.pk}"

    def relation(self, r: Relation) -> None:
        if not self.viewer.sees_relation(r) or not self._once(f"rel:{r.pk}"):
            return
        down = self._side(r.source, r.evidence_snapshot)
        up = self._side(r.target)
        attrs = {PROV_TYPE: self.q(f"naql:{r.type}"), "naql:status": r.status}
        if r.type == Relation.Type.TRANSLATION_OF:
            act = f"naql:translation-rel{r.pk}"
            self.doc.activity(act, other_attributes={PROV_TYPE: self.q("naql:Translation")})
            self.doc.used(act, up)
            self.doc.wasGeneratedBy(down, act)
            self.doc.wasDerivedFrom(down, up, activity=act, other_attributes=attrs)
        elif r.type in (Relation.Type.REPUBLISHES, Relation.Type.DERIVED_FROM):
            self.doc.wasDerivedFrom(down, up, other_attributes=attrs)
        elif r.type == Relation.Type.QUOTES:
            self.doc.wasQuotedFrom(down, up, other_attributes=attrs)
        else:
            self.doc.wasInfluencedBy(down, up, other_attributes=attrs)

    def claim(self, c: Claim) -> str:
        ident = f"claim:{c.pk}"
        if self._once(ident):
            self.document(c.document)
            snap = self.snapshot(c.snapshot)
            text = c.exact if snap != WITHHELD and self.viewer.sees_claim(c) else ""
            self.doc.entity(ident, {PROV_TYPE: self.q("naql:Claim"), PROV_VALUE: text, "naql:snapshot": self.q(snap),
                                    "naql:start": c.start, "naql:end": c.end, "naql:kind": c.kind,
                                    "naql:language": c.language or "und"})
        return ident

    def claim_link(self, link: ClaimLink) -> None:
        if not self.viewer.sees_link(link) or not self._once(f"link:{link.pk}"):
            return
        down = self.claim(link.claim)
        up = self.claim(link.upstream_claim) if link.upstream_claim_id else self._side(link.upstream_document)
        attrs = {PROV_TYPE: self.q(f"naql:{link.relation}"), "naql:method": link.method_label,
                 "naql:confidence": link.confidence}
        if link.relation == ClaimLink.Relation.QUOTE:
            self.doc.wasQuotedFrom(down, up, other_attributes=attrs)
        elif link.relation == ClaimLink.Relation.TRANSLATION:
            act = f"naql:translation-link{link.pk}"
            self.doc.activity(act, other_attributes={PROV_TYPE: self.q("naql:Translation")})
            self.doc.wasDerivedFrom(down, up, activity=act, other_attributes=attrs)
        else:
            self.doc.wasDerivedFrom(down, up, other_attributes=attrs)
        if link.origin:
            self.doc.hadPrimarySource(down, up)


def _walk_claims(b: _Builder, hops) -> None:
    for h in hops:
        b.claim_link(h.link)
        _walk_claims(b, h.children)


def document_prov(document: Document, *, claims: bool = True, viewer: ProvenanceViewer = EVERYONE,
                  base: str | None = None) -> ProvDocument:
    """PROV of ``document``'s chain (and claims) as ``viewer`` may see it (the caller checks
    that the viewer sees the document itself); identifiers on ``base`` (default
    :func:`archive.uri.public_origin`)."""
    b = _Builder(viewer, base)
    b.document(document)

    def walk(hops):
        for h in hops:
            b.relation(h.relation)
            walk(h.children)

    walk(document_chain(document, viewer=viewer))
    for origin in document_origins(document, viewer=viewer):
        b.doc.hadPrimarySource(f"doc:{document.pk}", b.document(origin))
    if claims:
        for c in Claim.objects.filter(document=document).select_related("snapshot"):
            if viewer.sees_claim(c):
                b.claim(c)
                _walk_claims(b, claim_chain(c, viewer=viewer))
    return b.doc


def claim_prov(claim: Claim, *, viewer: ProvenanceViewer = EVERYONE,
               base: str | None = None) -> ProvDocument:
    b = _Builder(viewer, base)
    b.claim(claim)
    _walk_claims(b, claim_chain(claim, viewer=viewer))
    return b.doc


def to_prov_json(prov_doc: ProvDocument) -> str:
    return prov_doc.serialize(format="json", indent=1)


_SHORTCUTS = {
    # qualified property -> (unqualified property, object property in the qualification node)
    "qualifiedDerivation": ("wasDerivedFrom", "entity"),
    "qualifiedQuotation": ("wasQuotedFrom", "entity"),
    "qualifiedRevision": ("wasRevisionOf", "entity"),
    "qualifiedPrimarySource": ("hadPrimarySource", "entity"),
    "qualifiedInfluence": ("wasInfluencedBy", "influencer"),
    "qualifiedGeneration": ("wasGeneratedBy", "activity"),
    "qualifiedUsage": ("used", "entity"),
    "qualifiedAttribution": ("wasAttributedTo", "agent"),
}
_SUBTYPES = {"Quotation": "wasQuotedFrom", "Revision": "wasRevisionOf", "PrimarySource": "hadPrimarySource"}


def to_turtle(prov_doc: ProvDocument) -> str:
    """PROV-O Turtle. The ``prov`` serializer writes qualified forms only; the unqualified
    shortcut triples PROV-O also defines (``prov:wasDerivedFrom`` …) are added so that simple
    queries work."""
    import rdflib
    from rdflib.namespace import PROV, RDF

    g = rdflib.Graph()
    g.parse(data=prov_doc.serialize(format="rdf", rdf_format="turtle"), format="turtle")
    for qprop, (short, obj) in _SHORTCUTS.items():
        for subj, _p, node in list(g.triples((None, PROV[qprop], None))):
            for target in g.objects(node, PROV[obj]):
                g.add((subj, PROV[short], target))
                for t in g.objects(node, RDF.type):
                    name = str(t).rsplit("#", 1)[-1]
                    if str(t).startswith(str(PROV)) and name in _SUBTYPES:
                        g.add((subj, PROV[_SUBTYPES[name]], target))
    for ns in prov_doc.namespaces:
        g.bind(ns.prefix, ns.uri)
    return g.serialize(format="turtle")
