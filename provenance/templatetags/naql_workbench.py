"""Template tags of the researcher's workbench (home page review queue, admin document view).

* ``{% review_queue as docs %}`` — documents with suggestions nobody has accepted or rejected yet.
* ``{% review_items document as items %}`` — those suggestions for one document (relations and
  claim links), each with the admin URLs to act on it and to see its history.
* ``{% claim_chain_figures paragraphs %}`` — for every claim highlighted in an article, its chain
  to the origin drawn as an SVG picture (one ``<template>`` per claim, shown when it is clicked).
* ``claim|claim_status`` — "accepted", "suggested", "rejected" or "none": the highlight colour.

The project-level templates compose archive and provenance here, so ``archive`` keeps not
importing ``provenance``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django import template
from django.db.models import Count, Q
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from provenance.chain import claim_chain
from provenance.models import Claim, ClaimLink, Document, Relation, ReviewStatus
from provenance.text.textnorm import base_lang
from provenance.visibility import ProvenanceViewer, request_viewer, visible_documents

register = template.Library()


def _viewer(context) -> ProvenanceViewer:
    """Who the page is for: the ``viewer`` in the context, else the request's; anonymous if neither."""
    viewer = context.get("viewer")
    if isinstance(viewer, ProvenanceViewer):
        return viewer
    request = context.get("request")
    return request_viewer(request) if request is not None else ProvenanceViewer(None)

RTL_LANGS = frozenset({"ar", "fa", "he", "ur", "ps", "yi", "ckb", "sd"})
SUGGESTED = ReviewStatus.SUGGESTED


def is_rtl(lang: str | None) -> bool:
    return base_lang(lang) in RTL_LANGS


@register.filter
def text_dir(lang: str | None) -> str:
    return "rtl" if is_rtl(lang) else "auto"


@register.simple_tag(takes_context=True)
def review_queue(context, limit: int = 10):
    """Documents with suggested relations or claim links, most recently updated first (those
    the page's viewer may see, titled as they may see them)."""
    viewer = _viewer(context)
    docs = Document.objects.all() if viewer.everything else visible_documents(viewer.user)
    docs = list(
        docs.annotate(
            n_relations=Count("relations_up", filter=Q(relations_up__status=SUGGESTED), distinct=True),
            n_links=Count("claims__links", filter=Q(claims__links__status=SUGGESTED), distinct=True),
        ).filter(Q(n_relations__gt=0) | Q(n_links__gt=0)).select_related("publisher")
        .order_by("-updated_at", "pk")[:limit]
    )
    for d in docs:
        if not viewer.everything:
            for f, v in viewer.document_meta(d).items():
                setattr(d, f, v)  # display copies, never saved
    return docs


@register.filter
def doc_title(doc: Document) -> str:
    """The document's title (or URL) as the person being served may see it (a title taken from a
    version private to another group is not shown): :func:`provenance.visibility.display_title`."""
    from provenance.visibility import display_title

    return display_title(doc)


@register.filter
def doc_published(doc: Document):
    """The publication date as the person being served may see it (None when it came from a hidden version)."""
    from provenance.visibility import current_viewer

    viewer = current_viewer()
    return doc.published_at if viewer is None or viewer.everything else viewer.document_meta(doc)["published_at"]


@register.filter
def speaker_name(claim: Claim) -> str:
    """The claim's speaker when it is a person's or organisation's name; "" for anything else
    (claims segmented before the speaker rule, or a hand-typed note)."""
    from provenance.text.claims import is_name

    return claim.speaker if claim.speaker and is_name(claim.speaker, claim.language) else ""


@register.filter
def claim_status(claim: Claim) -> str:
    statuses = {link.status for link in claim.links.all()}
    for s in (ReviewStatus.ACCEPTED, ReviewStatus.SUGGESTED, ReviewStatus.REJECTED):
        if s in statuses:
            return str(s)
    return "none"


def _host(url: str) -> str:
    return (urlsplit(url).hostname or url).removeprefix("www.")


@register.simple_tag(takes_context=True)
def review_items(context, document: Document) -> list[dict]:
    """Suggested relations of ``document`` and suggested links of its claims, for review in place
    (what the page's viewer may see)."""
    viewer = _viewer(context)
    items = []
    rels = Relation.objects.filter(source=document, status=SUGGESTED).select_related("target", "evidence_snapshot", "recorded_by")
    for r in rels.order_by("type", "pk"):
        if not viewer.sees_relation(r):
            continue
        items.append({
            "kind": "relation", "model": "relation", "pk": r.pk, "status": r.status,
            "relation": r.get_type_display(), "confidence": r.confidence, "by": r.recorded_by_display,
            "down_text": r.evidence_text if viewer.sees_evidence(r) else "", "down_lang": document.language,
            "up_text": viewer.title(r.target), "up_lang": r.target.language, "up_host": _host(r.target.url),
            "action_url": reverse("admin:provenance_relation_changelist"),
            "change_url": reverse("admin:provenance_relation_change", args=[r.pk]),
            "history_url": reverse("admin:provenance_relation_history", args=[r.pk]),
        })
    links = (ClaimLink.objects.filter(claim__document=document, status=SUGGESTED)
             .select_related("claim", "upstream_claim", "upstream_document", "created_by"))
    for link in links.order_by("claim__start", "-confidence", "pk"):
        if not viewer.sees_link(link):
            continue
        up = link.upstream_claim
        items.append({
            "kind": "claim link", "model": "claimlink", "pk": link.pk, "status": link.status,
            "claim_pk": link.claim_id, "relation": link.get_relation_display(), "confidence": link.confidence,
            "by": link.method_display, "down_text": link.claim.exact, "down_lang": link.claim.language,
            "up_text": up.exact if up else viewer.title(link.upstream_document),
            "up_lang": up.language if up else link.upstream_document.language,
            "up_host": _host(link.upstream_document.url),
            "action_url": reverse("admin:provenance_claimlink_changelist"),
            "change_url": reverse("admin:provenance_claimlink_change", args=[link.pk]),
            "history_url": reverse("admin:provenance_claimlink_history", args=[link.pk]),
        })
    return items


# ---------------------------------------------------------------------------------------------
# the chain picture
# ---------------------------------------------------------------------------------------------
WIDTH, PAD, INDENT, NODE_H, GAP = 640, 8, 30, 70, 22
CHAR_W = {"rtl": 6.4, "ltr": 7.0}
COLOURS = {
    "root": ("#e6f0fa", "#0b4f8a"), "origin": ("#e3f5ea", "#17693a"), "node": ("#ffffff", "#5b6578"),
    ReviewStatus.ACCEPTED: "#17693a", ReviewStatus.SUGGESTED: "#8a5a00", ReviewStatus.REJECTED: "#a3231b",
}


def _wrap(text: str, width_px: float, rtl: bool, lines: int = 2) -> list[str]:
    """Word wrap for SVG text, at most ``lines`` lines, "…" if cut (Arabic glyphs are narrower)."""
    from provenance.web.picture import wrap_words

    return wrap_words(text, max(12, int(width_px / CHAR_W["rtl" if rtl else "ltr"])), lines)


def _nodes(claim: Claim, viewer: ProvenanceViewer) -> list[dict]:
    snap = claim.snapshot
    nodes = [{"depth": 0, "parent": None, "kind": "root", "lang": claim.language or claim.document.language,
              "host": _host(claim.document.url), "snapshot": snap.guid if snap else "", "text": claim.exact,
              "label": "this claim", "status": None, "origin": False,
              "href": f"/s/{snap.guid}" if snap else ""}]

    def add(hops, parent: int) -> None:
        for hop in hops:
            up = hop.upstream_claim
            lang = (up.language if up else "") or hop.upstream_document.language
            text = up.exact if up else viewer.title(hop.upstream_document)
            nodes.append({
                "depth": nodes[parent]["depth"] + 1, "parent": parent,
                "kind": "origin" if hop.link.origin else "node", "lang": lang,
                "host": _host(hop.upstream_document.url), "snapshot": hop.snapshot.guid if hop.snapshot else "",
                "text": text, "label": hop.link.get_relation_display(), "status": hop.link.status,
                "origin": hop.link.origin, "cycle": hop.cycle,
                "href": f"/s/{hop.snapshot.guid}" if hop.snapshot else "",
            })
            add(hop.children, len(nodes) - 1)

    add(claim_chain(claim, statuses=(ReviewStatus.ACCEPTED, ReviewStatus.SUGGESTED), viewer=viewer), 0)
    return nodes


def _node_svg(i: int, n: dict) -> str:
    x, y = PAD + n["depth"] * INDENT, PAD + i * (NODE_H + GAP)
    w = WIDTH - PAD - x
    fill, stroke = COLOURS["root" if n["kind"] == "root" else ("origin" if n["origin"] else "node")]
    dashed = ' stroke-dasharray="5 3"' if n["status"] == ReviewStatus.SUGGESTED else ""
    rtl = is_rtl(n["lang"])
    lang = (n["lang"] or "?").upper()
    meta = f"{lang} · {n['host']}" + (f" · snapshot {n['snapshot']}" if n["snapshot"] else "")
    label = n["label"] + ("" if n["status"] in (None, ReviewStatus.ACCEPTED) else f" ({n['status']})")
    lines = _wrap(n["text"], w - 24, rtl)
    tx, anchor, direction = (x + w - 12, "start", "rtl") if rtl else (x + 12, "start", "ltr")
    text_svg = format_html_join(
        "", '<text x="{}" y="{}" direction="{}" text-anchor="{}" unicode-bidi="isolate" lang="{}" '
            'class="nq-svg-text">{}</text>',
        ((tx, y + 40 + k * 17, direction, anchor, n["lang"] or "und", line) for k, line in enumerate(lines)))
    badge = ""
    if n["origin"]:
        badge = format_html('<rect x="{}" y="{}" width="56" height="16" rx="8" fill="#17693a"/>'
                            '<text x="{}" y="{}" class="nq-svg-badge" text-anchor="middle">ORIGIN</text>',
                            x + w - 64, y + 6, x + w - 36, y + 18)
    body = format_html(
        '<rect x="{}" y="{}" width="{}" height="{}" rx="6" fill="{}" stroke="{}" stroke-width="1.5"{}/>'
        '<text x="{}" y="{}" class="nq-svg-meta"><tspan class="nq-svg-rel">{}</tspan> · {}</text>{}{}',
        x, y, w, NODE_H, fill, stroke, mark_safe(dashed), x + 12, y + 18, label, meta, text_svg, badge)  # noqa: S308
    title = format_html("<title>{}: {} ({}, {})</title>", label, n["text"], lang, n["snapshot"] or "no snapshot")
    if n["href"]:
        return format_html('<a href="{}" class="nq-svg-node">{}{}</a>', n["href"], title, body)
    return format_html('<g class="nq-svg-node">{}{}</g>', title, body)


def _edge_svg(i: int, n: dict) -> str:
    p = n["parent"]
    px = PAD + (n["depth"] - 1) * INDENT + 14
    py = PAD + p * (NODE_H + GAP) + NODE_H
    cx, cy = PAD + n["depth"] * INDENT, PAD + i * (NODE_H + GAP) + NODE_H / 2
    colour = COLOURS.get(n["status"], "#5b6578")
    dashed = ' stroke-dasharray="5 3"' if n["status"] == ReviewStatus.SUGGESTED else ""
    return format_html('<path d="M{} {} V{} H{}" fill="none" stroke="{}" stroke-width="2"{} '
                       'marker-start="url(#nq-arrow)"/>', px, py, cy, cx - 2, colour, mark_safe(dashed))  # noqa: S308


def chain_svg(claim: Claim, viewer: ProvenanceViewer) -> str:
    nodes = _nodes(claim, viewer)
    height = PAD * 2 + len(nodes) * (NODE_H + GAP) - GAP
    desc = " ← ".join(
        f"{n['label']}: {n['host']} ({(n['lang'] or '?')}, snapshot {n['snapshot'] or 'none'})"
        + (" — origin" if n["origin"] else "") for n in nodes)
    parts = [_edge_svg(i, n) for i, n in enumerate(nodes) if n["parent"] is not None]
    parts += [_node_svg(i, n) for i, n in enumerate(nodes)]
    return format_html(
        '<svg class="nq-chain-svg" viewBox="0 0 {} {}" width="{}" height="{}" role="img" '
        'aria-labelledby="nq-chain-title-{} nq-chain-desc-{}" xmlns="http://www.w3.org/2000/svg">'
        '<title id="nq-chain-title-{}">Chain of claim {} to its origin</title><desc id="nq-chain-desc-{}">{}</desc>'
        '<defs><marker id="nq-arrow" viewBox="0 0 10 10" refX="5" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0 0 L10 5 L0 10 z" fill="#5b6578"/></marker></defs>{}</svg>',
        WIDTH, height, WIDTH, height, claim.pk, claim.pk, claim.pk, claim.pk, claim.pk, desc,
        mark_safe("".join(parts)))  # noqa: S308 - every part built by format_html


@register.simple_tag(takes_context=True)
def claim_chain_figures(context, paragraphs) -> str:
    """One ``<template id="nq-chain-<pk>">`` per highlighted claim, holding its chain picture
    (the hops the page's viewer may see)."""
    viewer = _viewer(context)
    seen: dict[int, Claim] = {}
    for p in paragraphs:
        for piece in p.get("pieces", []):
            c = piece.get("claim")
            if c is not None and c.pk not in seen:
                seen[c.pk] = c
    out = []
    for c in seen.values():
        status = claim_status(c)
        n_links = sum(1 for link in c.links.all() if link.status != ReviewStatus.REJECTED and viewer.sees_link(link))
        out.append(format_html(
            '<template id="nq-chain-{}"><figure class="nq-chain-fig" data-status="{}">{}<figcaption>'
            '<bdi dir="{}" lang="{}">{}</bdi><br>{} upstream link{} · <a href="{}">edit claim</a> · '
            '<a href="{}">history</a></figcaption></figure></template>',
            c.pk, status, chain_svg(c, viewer) if n_links else mark_safe('<p class="nq-empty">No upstream link yet.</p>'),
            text_dir(c.language), c.language or "und", c.exact, n_links, "" if n_links == 1 else "s",
            reverse("admin:provenance_claim_change", args=[c.pk]),
            reverse("admin:provenance_claim_history", args=[c.pk])))
    return mark_safe("".join(out))  # noqa: S308 - every part built by format_html
