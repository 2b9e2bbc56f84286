"""What the provenance page of a document shows, computed for one reader.

* :func:`article_blocks` — the article paragraphs of a snapshot cut into plain text and claim
  pieces (for highlighting by link status).
* :func:`claim_paths` — every path of a claim's chain from the claim to the furthest known source,
  each hop with its passage, language, outlet, snapshot, capture time, relation, confidence and
  reviewer; links and snapshots the reader may not see are left out or withheld.
* :func:`relation_rows` — the document's relations (up- and downstream) with their evidence.
* :func:`versions` — the document's snapshots the reader may see, with diff links between them.

Nothing here decides visibility: querysets come from :mod:`provenance.web.access`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from archive.models import Snapshot
from provenance.chain import claim_chain
from provenance.models import Claim, ClaimLink, Document, Relation, ReviewStatus
from provenance.text.textnorm import base_lang
from provenance.visibility import display_title
from provenance.web import access

RTL = frozenset({"ar", "fa", "he", "ur", "ps", "yi", "ckb", "sd"})
LIVE = (ReviewStatus.ACCEPTED, ReviewStatus.SUGGESTED)


def text_dir(lang: str | None) -> str:
    """``rtl`` for right-to-left languages, else ``auto`` (the text's first strong letter decides)."""
    return "rtl" if base_lang(lang) in RTL else "auto"


def outlet(document: Document) -> str:
    """The publisher's name, else the host (without ``www.``)."""
    if document.publisher_id:
        return document.publisher.name
    return (urlsplit(document.url).hostname or document.url).removeprefix("www.")


def claim_status(claim: Claim, links: list[ClaimLink]) -> str:
    """accepted, suggested, rejected or none: the best status among the claim's visible links."""
    statuses = {link.status for link in links}
    for s in (ReviewStatus.ACCEPTED, ReviewStatus.SUGGESTED, ReviewStatus.REJECTED):
        if s in statuses:
            return str(s)
    return "none"


# ---------------------------------------------------------------------------------------------
# article


def article_blocks(snap: Snapshot, claims: list[Claim], annotate) -> list[dict]:
    """Paragraphs of ``snap``'s article body as ``{"tag", "pieces": [{"text"} | {"text", "claim",
    ...}]}``; ``claims`` are placed at their span on ``snap`` (their own, or where they were
    re-anchored); ``annotate(claim)`` gives the extra keys of a claim piece (its highlight status
    on the public page; its admin URL and accepted state in the admin)."""
    from provenance.text.claims import article_paragraphs

    spans = []
    for c in claims:
        if c.snapshot_id == snap.pk and not (c.anchor_snapshot_id and c.anchor_snapshot_id != snap.pk):
            spans.append((c.start, c.end, c))
        elif c.anchor_snapshot_id == snap.pk and c.anchor_start is not None:
            spans.append((c.anchor_start, c.anchor_end, c))
    spans.sort(key=lambda x: (x[0], -x[1]))
    out = []
    for p in article_paragraphs(snap):
        pieces, pos = [], p.start
        for s, e, c in spans:
            s, e = max(s, p.start, pos), min(e, p.end)
            if s >= e:
                continue
            if s > pos:
                pieces.append({"text": snap.text[pos:s]})
            pieces.append({"text": snap.text[s:e], "claim": c, **annotate(c)})
            pos = e
        if pos < p.end:
            pieces.append({"text": snap.text[pos:p.end]})
        out.append({"tag": p.tag, "pieces": pieces})
    return out


# ---------------------------------------------------------------------------------------------
# claim chains


@dataclass
class Hop:
    link: ClaimLink
    document: Document
    text: str
    lang: str
    snapshot: Snapshot | None
    withheld: bool
    reviewer: str
    depth: int
    is_origin: bool
    cycle: bool = False

    @property
    def dir(self) -> str:
        return text_dir(self.lang)

    @property
    def outlet(self) -> str:
        return outlet(self.document)


@dataclass
class ClaimView:
    """A claim with its chain: ``paths`` root-to-leaf, and ``columns``, the same hops laid out
    side by side by distance from the document (the document chain's depth of each hop's
    document): a claim linked straight to El Español (a translation) and to the tweet El Español
    quotes (the origin) reads claim → El Español → tweet. Hops at the same distance share a column."""

    claim: Claim
    status: str
    paths: list[list[Hop]] = field(default_factory=list)
    columns: list[list[Hop]] = field(default_factory=list)

    @property
    def dir(self) -> str:
        return text_dir(self.claim.language)


def columns_of(paths: list[list[Hop]], doc_depth: dict[int, int]) -> list[list[Hop]]:
    cols: dict[int, list[Hop]] = {}
    seen: set[int] = set()
    for path in paths:
        prev = 0
        for hop in path:
            key = max(doc_depth.get(hop.document.pk, hop.depth), prev + 1 if prev else 1)
            prev = key
            if hop.link.pk not in seen:
                seen.add(hop.link.pk)
                cols.setdefault(key, []).append(hop)
    return [sorted(cols[k], key=lambda h: (h.is_origin, h.link.pk)) for k in sorted(cols)]


def document_depths(document: Document) -> dict[int, int]:
    """Document ID → its largest depth in ``document``'s chain (1: a direct source only): a
    source also reached through another (the tweet Watan names and El Español quotes) sits after it."""
    from provenance.chain import document_chain

    depth: dict[int, int] = {}

    def walk(hops):
        for h in hops:
            depth[h.relation.target_id] = max(depth.get(h.relation.target_id, h.depth), h.depth)
            walk(h.children)

    walk(document_chain(document))
    return depth


def reviewer(link: ClaimLink) -> str:
    """Who accepted or rejected the link: the user of the first history record with its current
    status, else whoever entered it; "" while only suggested, or when no name was recorded (an import)."""
    if link.status == ReviewStatus.SUGGESTED:
        return ""
    rec = (link.history.filter(status=link.status).select_related("history_user")
           .order_by("history_date", "history_id").first())
    user = (rec.history_user if rec is not None and rec.history_user_id else None) or link.created_by
    return str(user) if user is not None else ""


def claim_paths(claim: Claim, user, visible_link_ids: set[int], visible_snap_ids: set[int]) -> list[list[Hop]]:
    """Root-to-leaf paths of ``claim``'s chain through accepted and suggested links the reader may
    see. A hop whose snapshot the reader may not see keeps its place but not its text."""
    paths: list[list[Hop]] = []

    def walk(hops, prefix: list[Hop]) -> None:
        shown = [h for h in hops if h.link.pk in visible_link_ids]
        if not shown:
            if prefix:
                paths.append(prefix)
            return
        for h in shown:
            snap = h.snapshot
            withheld = snap is not None and snap.pk not in visible_snap_ids
            up = h.upstream_claim
            text = "" if withheld else (up.exact if up else display_title(h.upstream_document))
            lang = (up.language if up else "") or h.upstream_document.language
            hop = Hop(h.link, h.upstream_document, text, lang, None if withheld else snap, withheld,
                      reviewer(h.link), h.depth, h.link.origin, h.cycle)
            if h.children and not withheld:
                walk(h.children, [*prefix, hop])
            else:
                paths.append([*prefix, hop])

    walk(claim_chain(claim, statuses=LIVE), [])
    return paths


def claim_views(document: Document, user, claims: list[Claim]) -> list[ClaimView]:
    link_ids = set(access.links(user).filter(status__in=LIVE).values_list("pk", flat=True))
    snap_ids = set(access.snapshots(user).values_list("pk", flat=True))
    depths = document_depths(document)
    out = []
    for c in claims:
        mine = [ln for ln in c.links.all() if ln.pk in link_ids]
        paths = claim_paths(c, user, link_ids, snap_ids) if mine else []
        out.append(ClaimView(c, claim_status(c, list(c.links.all())), paths, columns_of(paths, depths)))
    return out


# ---------------------------------------------------------------------------------------------
# relations and versions


def relation_rows(document: Document, user) -> dict[str, list[Relation]]:
    rels = access.relations(user).select_related("source__publisher", "target__publisher", "evidence_snapshot",
                                                 "recorded_by")
    snaps = set(access.snapshots(user).values_list("pk", flat=True))
    up = list(rels.filter(source=document).live().order_by("type", "pk"))
    down = list(rels.filter(target=document).live().order_by("type", "pk"))
    from provenance.visibility import viewer_for

    viewer = viewer_for(user)
    for r in up + down:
        r.evidence_visible = r.evidence_snapshot_id is None or r.evidence_snapshot_id in snaps
        r.coverage = coverage_of(r)
        for doc in (r.source, r.target):  # titles as this reader may see them (render-only copies)
            for name, value in viewer.document_meta(doc).items():
                setattr(doc, name, value)
    return {"upstream": up, "downstream": down}


def coverage_of(r: Relation) -> dict | None:
    """Alignment coverage stored with the relation's evidence, when a detector recorded one:
    ``{"aligned": int, "total": int}`` ("34 of 38 sentences align in order")."""
    for ev in r.evidence or []:
        if isinstance(ev, dict):
            cov = ev.get("coverage") or ev.get("alignment")
            if isinstance(cov, dict) and isinstance(cov.get("aligned"), int) and isinstance(cov.get("total"), int):
                return {"aligned": cov["aligned"], "total": cov["total"]}
    return None


def versions(document: Document, user) -> list[dict]:
    """The document's snapshots the reader may see, oldest first, each with a diff link to the previous."""
    visible = set(access.snapshots(user).values_list("pk", flat=True))
    snaps = [s for s in document.snapshots().defer("text", "main_text", "extracted") if s.pk in visible]
    out, prev = [], None
    for s in snaps:
        out.append({"snapshot": s, "diff": f"/s/{prev.guid}/diff/{s.guid}" if prev else None,
                    "changed": bool(prev and s.text_fingerprint and s.text_fingerprint != prev.text_fingerprint)})
        prev = s
    return out
