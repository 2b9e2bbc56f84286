"""The trace pages: "Trace this article" (home page and snapshot page) and its live result.

* ``POST /traces`` (signed in) — start a trace of ``url`` (:func:`provenance.trace.start_trace`,
  queued); JSON for scripts, else a redirect to the trace page.
* ``POST /traces/<ID>/rerun`` — run a finished trace again.
* ``/traces/<ID>`` — the trace: live progress (the page polls ``/traces/<ID>.json``), then the
  document's chain with every origin marked, the candidates that failed or were not followed with
  their reasons, and the sources named but not archived, each with a one-click form to capture
  the researcher's URL for it (``POST /traces/<ID>/source``: the URL is added to the trace's
  sources and the trace runs again).
Visible to the user who started the trace and to staff. Views stay thin.
"""

from __future__ import annotations

from django import forms
from django.db import transaction
from django.http import Http404, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

from archive.errors import ArchiveError
from archive.ids import canonical_guid
from archive.jobs import validate_url
from provenance import trace as tracing
from provenance.chain import document_chain
from provenance.models import Trace
from provenance.templatetags.naql_workbench import text_dir


class TraceForm(forms.Form):
    url = forms.CharField(label="Article URL to trace", max_length=4000,
                          widget=forms.URLInput(attrs={"placeholder": "https://…", "autocomplete": "url",
                                                       "spellcheck": "false", "dir": "ltr"}))


def _wants_json(request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _error(code: str, message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


def _visible_trace(request, guid: str) -> Trace:
    canonical = canonical_guid(guid)
    t = Trace.objects.visible_to(request.user).filter(guid=canonical).first() if canonical else None
    if t is None:
        raise Http404("No such trace.")
    return t


@require_POST
def trace_submit(request):
    if not request.user.is_authenticated:
        if _wants_json(request):
            return _error("not_authenticated", "Log in to trace.", 403)
        return HttpResponseRedirect("/admin/login/?next=/")
    form = TraceForm(request.POST)
    if form.is_valid():
        try:
            t = tracing.start_trace(form.cleaned_data["url"], user=request.user)
        except ArchiveError as exc:
            form.add_error("url", exc.message)
        else:
            if _wants_json(request):
                return JsonResponse({"trace": tracing.trace_dict(t), "page": f"/traces/{t.guid}",
                                     "status_url": f"/traces/{t.guid}.json"}, status=202)
            return HttpResponseRedirect(f"/traces/{t.guid}")
    message = "; ".join(e for errs in form.errors.values() for e in errs)
    if _wants_json(request):
        return _error("invalid_url", message, 400)
    return render(request, "provenance/trace_error.html", {"message": message}, status=400)


@never_cache
@require_safe
def trace_json(request, guid: str):
    if not request.user.is_authenticated:
        return _error("not_authenticated", "Log in to see traces.", 403)
    try:
        t = _visible_trace(request, guid)
    except Http404:
        return _error("not_found", "No such trace.", 404)
    return JsonResponse(tracing.trace_dict(t))


@never_cache
@require_safe
def trace_page(request, guid: str):
    if not request.user.is_authenticated:
        return HttpResponseRedirect(f"/admin/login/?next=/traces/{guid}")
    t = _visible_trace(request, guid)
    doc = t.document
    context = {"trace": t, "data": tracing.trace_dict(t), "document": doc,
               "hops": document_chain(doc) if doc is not None and t.done else [],
               "dir": text_dir(doc.language if doc else "")}
    return render(request, "provenance/trace.html", context)


@require_POST
def trace_rerun(request, guid: str):
    """Run a finished trace again (upstream captures older than its reuse age are taken again)."""
    if not request.user.is_authenticated:
        return HttpResponseRedirect(f"/admin/login/?next=/traces/{guid}")
    t = _visible_trace(request, guid)
    if not t.done:
        return _error("trace_running", "The trace is still running.", 409)
    t.reset()
    transaction.on_commit(lambda: tracing.enqueue_trace(t))
    return HttpResponseRedirect(f"/traces/{t.guid}")


@require_POST
def trace_add_source(request, guid: str):
    """One click from an unresolved name: capture the URL the researcher gives for it (as a source
    of the starting article) by running the trace again with it."""
    if not request.user.is_authenticated:
        return HttpResponseRedirect(f"/admin/login/?next=/traces/{guid}")
    t = _visible_trace(request, guid)
    url = (request.POST.get("url") or "").strip()
    try:
        clean = validate_url(url)
    except (ArchiveError, ValueError) as exc:
        message = getattr(exc, "message", str(exc))
        if _wants_json(request):
            return _error("invalid_url", message, 400)
        return render(request, "provenance/trace_error.html", {"message": message, "trace": t}, status=400)
    if not t.done:
        return _error("trace_running", "The trace is still running; try again when it is done.", 409)
    t.options = {**(t.options or {}), "sources": [*(t.options or {}).get("sources", []), clean]}
    t.save(update_fields=["options"])
    t.reset()
    transaction.on_commit(lambda: tracing.enqueue_trace(t))
    if _wants_json(request):
        return JsonResponse({"trace": tracing.trace_dict(t)}, status=202)
    return HttpResponseRedirect(f"/traces/{t.guid}")
