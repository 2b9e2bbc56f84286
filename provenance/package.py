"""WACZ packages of a document or a whole chain: the evidence (archive.store.wacz) plus the reasoning.

``chain_package(document, user, chain=True)`` selects, as ``user`` may see them:

- documents: the document and, with ``chain``, every document upstream of it through live
  relations (up to the origins) and the documents its claims' links point to;
- snapshots: every version of those documents, the evidence snapshots of the relations and the
  snapshots the claims are anchored on (the archive packager adds requisites, redirect hops and
  revisit originals);
- ``provenance/chain.prov.json``: W3C PROV-JSON of the document's chain (provenance.export; PROV-O
  Turtle is left out: its blank-node labels change on every serialisation, which would defeat the
  package cache);
- ``provenance/claims.jsonld``: the claims of the document and, walking accepted links, the
  upstream claims, as W3C Web Annotations (``TextQuoteSelector`` + ``TextPositionSelector`` on
  the snapshot, ``TimeState`` with the capture time and the citable ``/s/<ID>``), and every link
  of those claims as a ``linking`` annotation with its relation, review status, who recorded and
  who reviewed it, and when.

The JSON-LD context is written inline (the terms used, mapped as in the Web Annotation context
``http://www.w3.org/ns/anno.jsonld``) so that the file loads offline, e.g. in rdflib.
"""

from __future__ import annotations

import json

from archive.errors import PackageError
from archive.models import Snapshot
from archive.store.wacz import ExtraFile, Package, Plan, build_planned, plan_package
from archive.uri import public_origin
from provenance import export
from provenance.api_serializers import visible_claims, visible_documents, visible_links
from provenance.chain import document_chain
from provenance.models import Claim, ClaimLink, Document, Relation, ReviewStatus
from provenance.visibility import viewer_for


def _base() -> str:
    """The origin identifiers in a package name: ``NAQL_PUBLIC_URL``, else where ``run`` listens
    (``archive.uri.public_origin`` without a request: packages are cached by content and may be
    built by a worker, so they never take the host of one request)."""
    return public_origin()


def _visible_predicate(user):
    """Memoised "may ``user`` see this snapshot?" (None: everything, for a superuser)."""
    if getattr(user, "is_superuser", False):
        return None
    seen: dict[int, bool] = {}

    def visible(snap) -> bool:
        if snap.pk not in seen:
            seen[snap.pk] = Snapshot.objects.visible_to(user).filter(pk=snap.pk).exists()
        return seen[snap.pk]

    return visible


# --------------------------------------------------------------------------------------------
# selection


def chain_documents(document: Document, user=None, *, chain: bool = True) -> list[Document]:
    docs = {document.pk: document}
    if chain:
        def walk(hops):
            for h in hops:
                docs.setdefault(h.relation.target_id, h.relation.target)
                walk(h.children)

        walk(document_chain(document))
    allowed = set(visible_documents(user).filter(pk__in=docs).values_list("pk", flat=True))
    return [d for pk, d in docs.items() if pk in allowed]


def chain_claims(documents: list[Document], user=None, *, chain: bool = True) -> tuple[list[Claim], list[ClaimLink]]:
    """Claims of ``documents[0]`` and (with ``chain``) the upstream claims reached through accepted
    links; all links of those claims the reader may see."""
    claims_qs = visible_claims(user)
    links_qs = visible_links(user).select_related("created_by", "upstream_claim", "upstream_document")
    claims: dict[int, Claim] = {c.pk: c for c in claims_qs.filter(document=documents[0])
                                .select_related("snapshot", "anchor_snapshot")}
    links: dict[int, ClaimLink] = {}
    frontier = list(claims)
    while frontier:
        batch, frontier = frontier, []
        for link in links_qs.filter(claim_id__in=batch):
            links[link.pk] = link
            up = link.upstream_claim_id
            if chain and up and up not in claims and link.status == ReviewStatus.ACCEPTED:
                c = claims_qs.filter(pk=up).select_related("snapshot", "anchor_snapshot").first()
                if c is not None:
                    claims[c.pk] = c
                    frontier.append(c.pk)
    return (sorted(claims.values(), key=lambda c: (c.document_id, c.snapshot_id, c.start, c.pk)),
            sorted(links.values(), key=lambda x: x.pk))


def chain_snapshots(documents: list[Document], claims: list[Claim], user=None) -> list[Snapshot]:
    visible = Snapshot.objects.visible_to(user)
    ids: set[int] = set()
    for d in documents:
        ids.update(d.snapshots().filter(pk__in=visible.values("pk")).values_list("pk", flat=True))
    doc_ids = [d.pk for d in documents]
    ids.update(Relation.objects.live().filter(source_id__in=doc_ids, target_id__in=doc_ids,
                                              evidence_snapshot__isnull=False)
               .values_list("evidence_snapshot_id", flat=True))
    for c in claims:
        ids.update(x for x in (c.snapshot_id, c.anchor_snapshot_id) if x)
    return list(visible.filter(pk__in=ids).order_by("captured_at", "pk"))


# --------------------------------------------------------------------------------------------
# Web Annotations

ANNO_CONTEXT = {
    "oa": "http://www.w3.org/ns/oa#", "dc": "http://purl.org/dc/elements/1.1/",
    "dcterms": "http://purl.org/dc/terms/", "as": "http://www.w3.org/ns/activitystreams#",
    "foaf": "http://xmlns.com/foaf/0.1/", "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#", "xsd": "http://www.w3.org/2001/XMLSchema#",
    "id": "@id", "type": "@type",
    "Annotation": "oa:Annotation", "SpecificResource": "oa:SpecificResource", "TextualBody": "oa:TextualBody",
    "TextQuoteSelector": "oa:TextQuoteSelector", "TextPositionSelector": "oa:TextPositionSelector",
    "TimeState": "oa:TimeState", "AnnotationCollection": "as:OrderedCollection",
    "AnnotationPage": "as:OrderedCollectionPage", "Person": "foaf:Person", "Software": "as:Application",
    "motivation": {"@id": "oa:motivatedBy", "@type": "@vocab"}, "purpose": {"@id": "oa:hasPurpose", "@type": "@vocab"},
    "identifying": "oa:identifying", "linking": "oa:linking", "classifying": "oa:classifying",
    "body": {"@id": "oa:hasBody", "@type": "@id"}, "target": {"@id": "oa:hasTarget", "@type": "@id"},
    "source": {"@id": "oa:hasSource", "@type": "@id"}, "selector": {"@id": "oa:hasSelector", "@type": "@id"},
    "state": {"@id": "oa:hasState", "@type": "@id"}, "cached": {"@id": "oa:cachedSource", "@type": "@id"},
    "sourceDate": {"@id": "oa:sourceDate", "@type": "xsd:dateTime"},
    "exact": "oa:exact", "prefix": "oa:prefix", "suffix": "oa:suffix",
    "start": {"@id": "oa:start", "@type": "xsd:nonNegativeInteger"},
    "end": {"@id": "oa:end", "@type": "xsd:nonNegativeInteger"},
    "created": {"@id": "dcterms:created", "@type": "xsd:dateTime"},
    "creator": {"@id": "dcterms:creator", "@type": "@id"}, "name": "foaf:name", "nickname": "foaf:nick",
    "value": "rdf:value", "language": "dc:language", "label": "rdfs:label",
    "total": {"@id": "as:totalItems", "@type": "xsd:nonNegativeInteger"},
    "first": {"@id": "as:first", "@type": "@id"}, "items": {"@id": "as:items", "@type": "@id", "@container": "@list"},
}


def _context() -> dict:
    return {**ANNO_CONTEXT, "naql": f"{_base()}/ns/provenance#"}


def _when(dt) -> str | None:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ") if dt else None


def _resource(snapshot: Snapshot, selectors: list[dict] | None) -> dict:
    base = _base()
    out = {"type": "SpecificResource", "source": snapshot.url,
           "state": {"type": "TimeState", "sourceDate": _when(snapshot.captured_at),
                     "cached": f"{base}/s/{snapshot.guid}"},
           "naql:snapshot": snapshot.guid}
    if selectors:
        out["selector"] = selectors
    return out


def _agent(user) -> dict:
    return {"type": "Person", "nickname": user.get_username()}


def _claim_annotation(c: Claim, visible) -> dict:
    base = _base()
    snap = c.snapshot
    ann = {"id": f"{base}/provenance/claim/{c.pk}", "type": "Annotation", "motivation": "identifying",
           "created": _when(c.created_at), "creator": {"type": "Software", "name": f"Naql {c.origin}"},
           "body": {"type": "TextualBody", "purpose": "classifying", "value": c.kind},
           "naql:kind": c.kind, "naql:language": c.language or "und", "naql:anchorState": c.anchor_state}
    if c.speaker:
        ann["naql:speaker"] = c.speaker
    ann["target"] = _resource(snap, c.selectors()) if visible(snap) else {"type": "SpecificResource",
                                                                            "naql:snapshot": "withheld"}
    return ann


def _review(link: ClaimLink) -> dict:
    """Who set the link's current review status, and when (from its history)."""
    if link.status == ReviewStatus.SUGGESTED:
        return {}
    rows = list(link.history.order_by("history_date", "history_id").select_related("history_user"))
    since = None
    for row in rows:
        if row.status != link.status:
            since = None
        elif since is None:
            since = row
    if since is None:
        return {}
    out = {"naql:reviewedAt": _when(since.history_date)}
    who = since.history_user if since.history_user_id else None
    if who is None and since.history_type == "+" and link.created_by_id:
        who = link.created_by  # entered already reviewed (a manual link): its author reviewed it
    if who is not None:
        out["naql:reviewedBy"] = _agent(who)
    return out


def _link_annotation(link: ClaimLink, claims: dict[int, Claim], visible) -> dict:
    base = _base()
    down = claims[link.claim_id]
    ann = {"id": f"{base}/provenance/claim-link/{link.pk}", "type": "Annotation", "motivation": "linking",
           "created": _when(link.created_at),
           "creator": _agent(link.created_by) if link.created_by_id else
           {"type": "Software", "name": link.method_label or "Naql"},
           "target": f"{base}/provenance/claim/{down.pk}",
           "naql:relation": link.relation, "naql:origin": link.origin, "naql:confidence": link.confidence,
           "naql:method": link.method_label, "naql:reviewStatus": link.status, **_review(link)}
    up = link.upstream_claim
    if up is not None and visible(up.snapshot):
        ann["body"] = {**_resource(up.snapshot, up.selectors()), "id": f"{base}/provenance/claim/{up.pk}#text"}
        ann["naql:upstreamClaim"] = f"{base}/provenance/claim/{up.pk}"
    else:
        doc = link.upstream_document
        ann["body"] = {"type": "SpecificResource", "source": doc.url}
    if link.note:
        ann["naql:note"] = link.note
    return ann


def claims_jsonld(document: Document, claims: list[Claim], links: list[ClaimLink], user=None) -> dict:
    pred = _visible_predicate(user) or (lambda s: True)
    by_pk = {c.pk: c for c in claims}
    items = [_claim_annotation(c, pred) for c in claims]
    items += [_link_annotation(x, by_pk, pred) for x in links if x.claim_id in by_pk]
    base = _base()
    return {"@context": _context(), "id": f"{base}/provenance/document/{document.pk}/claims",
            "type": "AnnotationCollection", "label": f"Claims of {viewer_for(user).title(document)} and their links",
            "total": len(items), "first": {"type": "AnnotationPage", "items": items}}


# --------------------------------------------------------------------------------------------
# the package


def chain_plan(document: Document, user=None, *, chain: bool = True, sign: bool = True) -> Plan:
    """What the package of ``document`` (with ``chain``: its whole upstream chain) holds for ``user``."""
    docs = chain_documents(document, user, chain=chain)
    if not docs or docs[0].pk != document.pk:
        raise PackageError("this document is not visible to this reader")
    claims, links = chain_claims(docs, user, chain=chain)
    if chain:  # documents the claims' links point to are part of the chain's evidence
        extra_ids = {x.upstream_document_id for x in links} | {c.document_id for c in claims}
        known = {d.pk for d in docs}
        docs += list(visible_documents(user).filter(pk__in=extra_ids - known).order_by("pk"))
    snaps = chain_snapshots(docs, claims, user)
    viewer = viewer_for(user)  # provenance.visibility: hidden hops left out, titles as this reader may see them
    prov = export.document_prov(document, viewer=viewer)
    extra = [
        ExtraFile("provenance/chain.prov.json", export.to_prov_json(prov).encode("utf-8"), "application/json"),
        ExtraFile("provenance/claims.jsonld",
                  json.dumps(claims_jsonld(document, claims, links, user), ensure_ascii=False, indent=1)
                  .encode("utf-8"), "application/ld+json"),
    ]
    meta = {"title": f"{viewer.title(document)} — {'provenance chain' if chain else 'document'}",
            "description": f"Naql package of {document.url}"
                           + (" and every document upstream of it, to its origins" if chain else ""),
            "naql": {"document": f"{_base()}/provenance/document/{document.pk}",
                     "documents": [d.url for d in docs], "chain": chain}}
    return plan_package(snaps, user=user, extra=extra, meta=meta, sign=sign)


def chain_package(document: Document, user=None, *, chain: bool = True, sign: bool = True,
                  use_cache: bool = True) -> Package:
    """The signed WACZ of ``document`` (with ``chain``: its whole upstream chain) as ``user`` sees it."""
    return build_planned(chain_plan(document, user, chain=chain, sign=sign), use_cache=use_cache)
