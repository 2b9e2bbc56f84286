"""Views of the provenance page and the parallel view (thin: the data comes from :mod:`provenance.web.page`,
:mod:`provenance.web.parallel` and :mod:`provenance.web.picture`; visibility from
:mod:`provenance.web.access`).

* ``GET /d/<ID>`` — the provenance page of a document (404 when the reader may not see it,
  exactly as ``/api/documents/<ID>/`` answers). ``?claim=<ID>`` opens that claim's chain.
* ``GET /d/<ID>/parallel/<ID>`` — parallel reading of a translation relation (either order).
* ``GET /c/<ID>`` — a claim's address (PROV ``claim:`` identifiers): redirects to its document's
  page with the claim selected.
* ``POST /d/review`` — accept or reject a claim link or a relation (``model``, ``pk``,
  ``status``); needs the admin's change permission; recorded in the history with the user. JSON
  for the page's script, a redirect back for a plain form post.
"""

from __future__ import annotations

from django.db.models import Prefetch, Q
from django.http import Http404, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import get_language_bidi
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from archive.uri import public_origin
from archive.web import citations
from provenance.models import ClaimLink, Document, Relation, ReviewStatus
from provenance.suggest import NoSnapshot
from provenance.visibility import request_viewer
from provenance.web import access, page
from provenance.web.parallel import parallel
from provenance.web.picture import document_chain_svg


def _document(request, pk: int) -> Document:
    doc = access.documents(request.user).select_related("publisher").filter(pk=pk).first()
    if doc is None:
        raise Http404("No such document.")
    # The row's title, byline and date may come from a version this reader may not see: the page
    # renders the values the visibility layer gives (an in-memory copy for rendering, never saved).
    for field, value in request_viewer(request).document_meta(doc).items():
        setattr(doc, field, value)
    doc.save = _never_saved
    return doc


def _never_saved(*args, **kwargs):
    raise RuntimeError("a document redacted for display must not be saved")


def _latest_visible(doc: Document, user):
    return doc.snapshots().filter(pk__in=access.snapshots(user).values("pk")).last()


@require_safe
def document_page(request, pk: int):
    user = request.user
    doc = _document(request, pk)
    snap = _latest_visible(doc, user)
    visible_links = access.links(user)
    claims = list(access.claims(user).filter(document=doc).select_related("snapshot", "document")
                  .prefetch_related(Prefetch("links", queryset=visible_links.order_by("-origin", "pk")))
                  .order_by("snapshot__captured_at", "start", "pk"))
    views = page.claim_views(doc, user, claims)
    by_pk = {v.claim.pk: v for v in views}
    blocks = page.article_blocks(snap, claims, lambda c: {"status": by_pk[c.pk].status}) if snap is not None else []
    shown = {piece["claim"].pk for b in blocks for piece in b["pieces"] if "claim" in piece}
    selected = request.GET.get("claim", "")
    selected = int(selected) if selected.isdigit() and int(selected) in by_pk else None
    if selected is None:  # open the first claim that has a chain, so the page shows one at once
        selected = next((v.claim.pk for v in views if v.paths and v.claim.pk in shown), None)
    relations = page.relation_rows(doc, user)
    rel_ids = set(access.relations(user).values_list("pk", flat=True))
    cites = citations.all_citations(snap, request=request) if snap is not None else []
    context = {
        "document": doc, "snapshot": snap, "dir": page.text_dir(doc.language), "blocks": blocks,
        "claims": [v for v in views if v.claim.pk in shown], "selected": selected,
        "unplaced": [v for v in views if v.claim.pk not in shown],
        "relations": relations, "versions": page.versions(doc, user),
        "picture": document_chain_svg(doc, rel_ids, rtl=get_language_bidi()),
        "citations": cites, "permalink": f"{public_origin(request)}/d/{doc.pk}",
        "can_review": access.can_review(user, "claimlink"), "can_review_relations": access.can_review(user, "relation"),
        "translations": [r for r in relations["upstream"] + relations["downstream"]
                         if r.type == Relation.Type.TRANSLATION_OF],
    }
    return render(request, "provenance/web/document.html", context)


@require_safe
def parallel_page(request, pk: int, other: int):
    user = request.user
    a, b = _document(request, pk), _document(request, other)
    rel = (access.relations(user).filter(type=Relation.Type.TRANSLATION_OF).live()
           .filter(Q(source=a, target=b) | Q(source=b, target=a)).select_related("source", "target").first())
    if rel is None:
        raise Http404("These two documents are not linked as a translation.")
    down, up = rel.source, rel.target
    if _latest_visible(down, user) is None or _latest_visible(up, user) is None:
        raise Http404("No snapshot of one of the documents.")
    try:
        view = parallel(down, up, visible_link_ids=set(access.links(user).values_list("pk", flat=True)))
    except NoSnapshot as exc:
        raise Http404(str(exc)) from exc
    return render(request, "provenance/web/parallel.html", {
        "p": view, "relation": rel, "down_dir": page.text_dir(down.language), "up_dir": page.text_dir(up.language),
    })


@require_safe
def claim_redirect(request, pk: int):
    claim = access.claims(request.user).filter(pk=pk).only("pk", "document_id").first()
    if claim is None:
        raise Http404("No such claim.")
    return HttpResponseRedirect(f"/d/{claim.document_id}?claim={claim.pk}#claim-panel")


REVIEWABLE = {"claimlink": ClaimLink, "relation": Relation}


@require_POST
def review(request):
    """Accept or reject in place; the same rule and history as the admin and the API."""
    model, status = request.POST.get("model", ""), request.POST.get("status", "")
    wants_json = "application/json" in request.headers.get("Accept", "")
    back = request.POST.get("next", "/")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = "/"

    def answer(code: int, **body):
        if wants_json:
            return JsonResponse(body, status=code)
        return HttpResponseRedirect(back)

    if model not in REVIEWABLE or status not in (ReviewStatus.ACCEPTED, ReviewStatus.REJECTED):
        return answer(400, error={"code": "invalid", "message": _("Unknown item or decision.")})
    if not access.can_review(request.user, model):
        return answer(403, error={"code": "forbidden", "message": _("Reviewing needs a workbench account.")})
    qs = access.links(request.user) if model == "claimlink" else access.relations(request.user)
    pk = request.POST.get("pk", "")
    obj = qs.filter(pk=int(pk)).first() if pk.isdigit() else None
    if obj is None:
        return answer(404, error={"code": "not_found", "message": _("No such item.")})
    if isinstance(obj, ClaimLink):
        obj.set_status(status, user=request.user)
    else:
        obj.status = status
        obj._history_user = request.user
        obj.save(update_fields=["status"])
    return answer(200, id=obj.pk, model=model, status=obj.status,
                  label=str(ReviewStatus(obj.status).label), reviewer=str(request.user),
                  reviewed=_("reviewed by %(who)s") % {"who": request.user})

