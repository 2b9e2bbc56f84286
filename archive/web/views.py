"""The researcher's home page and the job progress it polls.

* ``/`` — anonymous: recent public snapshots and a login link. Signed in: a capture form (the
  job is queued at once; the page polls its JSON until it succeeds or fails, then links the
  snapshot), the user's recent jobs, recent snapshots, watched URLs with their latest change,
  and (composed by the template from the provenance app) documents awaiting review.
* ``POST /capture`` — queue a capture job for the signed-in user; JSON for scripts and the home
  page's fetch, a redirect to ``/?job=<ID>`` for a plain form post.
* ``/jobs/<ID>.json`` — a job's state, steps, structured error and snapshot; visible to the user
  who queued it and to staff.
* ``/s/<ID>/compare?a=<ID>&b=<ID>`` — the diff chooser's target: redirects to ``/s/<a>/diff/<b>``.

Views stay thin: jobs are created by :func:`archive.jobs.submit`, versions come from
:mod:`archive.web.versions_timeline`.
"""

from __future__ import annotations

from collections import defaultdict
from itertools import pairwise

from django import forms
from django.conf import settings
from django.db.models import Q
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

from archive.errors import ArchiveError
from archive.ids import canonical_guid
from archive.jobs import submit
from archive.models import CaptureJob, Snapshot, Watch
from archive.uri import uri_to_iri
from archive.visibility import sees_everything, visible_snapshots

RECENT = 20
WATCHES = 12


class CaptureForm(forms.Form):
    url = forms.CharField(label=_("URL to capture"), max_length=4000,
                          widget=forms.URLInput(attrs={"placeholder": "https://…", "autocomplete": "url",
                                                       "spellcheck": "false", "dir": "ltr",
                                                       "aria-describedby": "nq-capture-where"}))
    requisites = forms.BooleanField(required=False, initial=True, label=_("Also capture page requisites"))
    mode = forms.ChoiceField(required=False, label=_("Capture with"), initial="", choices=[
        ("", _("the site's default")), ("raw", _("Naql's fetch client (raw bytes)")),
        ("browser", _("a browser (for pages built by scripts; adds a screenshot)")),
        ("auto", _("automatic (browser when the page has no article text)"))])


def _wants_json(request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _visible_jobs(user):
    """One's own jobs; staff also see jobs whose snapshot they may see (a job's URL is as
    private as its capture); superusers see all."""
    qs = CaptureJob.objects.select_related("snapshot__final", "snapshot")
    if sees_everything(user):
        return qs
    if user.is_staff:
        return qs.filter(Q(created_by=user) | Q(snapshot__in=visible_snapshots(user, include_withdrawn=True)))
    return qs.filter(created_by=user)


def job_dict(job: CaptureJob, user) -> dict:
    """What the home page shows of a job (and what ``/jobs/<ID>.json`` answers) to ``user``: its
    snapshot only while ``user`` may see it (not once withdrawn, nor private to another group)."""
    snap = (job.snapshot.final or job.snapshot) if job.snapshot_id else None
    if snap is not None and not Snapshot.objects.visible_to(user).filter(pk=snap.pk).exists():
        snap = None
    error = None
    if job.error:
        error = {"code": job.error.get("code", "error"), "message": job.error.get("message", ""),
                 "permanent": bool(job.error.get("permanent", True))}
    return {
        "id": job.guid, "url": job.url, "display_url": uri_to_iri(job.url), "state": job.state,
        "done": job.state in (CaptureJob.State.SUCCEEDED, CaptureJob.State.FAILED),
        "attempts": job.attempts, "max_attempts": job.max_attempts,
        "created_at": job.created_at.isoformat(),
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "steps": [p.get("step", "") for p in (job.progress or []) if isinstance(p, dict)],
        "error": error,
        "snapshot": None if snap is None else {
            "id": snap.guid, "page": f"/s/{snap.guid}", "url": snap.url, "display_url": uri_to_iri(snap.url),
            "title": snap.title,
            "status": snap.status, "captured_at": snap.captured_at.isoformat(),
        },
    }


def _watch_rows(user) -> list[dict]:
    """Active watches with the captures ``user`` may see, the latest and the last text change
    (the change rule of :func:`archive.web.versions_timeline.timeline`): one query for all watches."""
    watches = list(Watch.objects.filter(active=True).order_by("-last_changed_at", "-last_captured_at")[:WATCHES])
    versions = defaultdict(list)
    for s in (Snapshot.objects.visible_to(user).pages().filter(surt__in={w.surt for w in watches})
              .order_by("captured_at", "pk").only("guid", "captured_at", "text_fingerprint", "surt")):
        versions[s.surt].append(s)
    rows = []
    for w in watches:
        snaps = versions[w.surt]
        change = None
        for prev, cur in pairwise(snaps):
            if cur.text_fingerprint and cur.text_fingerprint != prev.text_fingerprint:
                change = {"old": prev, "new": cur}
        rows.append({"watch": w, "latest": snaps[-1] if snaps else None, "change": change, "captures": len(snaps)})
    return rows


def _home_context(user, form=None) -> dict:
    recent = (Snapshot.objects.visible_to(user).pages().filter(redirect_to__isnull=True)
              .defer("text", "main_text", "extracted").order_by("-captured_at", "-pk")[:RECENT])
    context = {"recent": recent, "capture_proxy": bool(settings.NAQL_CAPTURE_PROXY)}
    if user.is_authenticated:
        context.update({"form": form or CaptureForm(), "jobs": _visible_jobs(user).filter(created_by=user)[:8],
                        "watches": _watch_rows(user)})
    return context


@require_safe
def home(request):
    user = request.user
    context = _home_context(user)
    if user.is_authenticated:
        guid = canonical_guid(request.GET.get("job", ""))
        job = _visible_jobs(user).filter(guid=guid).first() if guid else None
        context["job"] = job_dict(job, user) if job else None
    return render(request, "home.html", context)


@require_POST
def capture_submit(request):
    user = request.user
    if not user.is_authenticated:
        if _wants_json(request):
            return JsonResponse({"error": {"code": "not_authenticated", "message": "Log in to capture."}},
                                status=403)
        return HttpResponseRedirect("/admin/login/?next=/")
    form = CaptureForm(request.POST)
    if form.is_valid():
        try:
            job = submit(form.cleaned_data["url"], user=user, requisites=form.cleaned_data["requisites"],
                         mode=form.cleaned_data["mode"] or None)
        except ArchiveError as exc:
            form.add_error("url", exc.message)
        else:
            job.refresh_from_db()  # an eager queue may have run it already
            if _wants_json(request):
                return JsonResponse({"job": job_dict(job, user), "status_url": f"/jobs/{job.guid}.json"}, status=202)
            return HttpResponseRedirect(f"/?job={job.guid}")
    if _wants_json(request):
        message = "; ".join(e for errs in form.errors.values() for e in errs)
        return JsonResponse({"error": {"code": "invalid_url", "message": message}}, status=400)
    return render(request, "home.html", _home_context(user, form), status=400)


@never_cache
@require_safe
def job_json(request, guid: str):
    user = request.user
    if not user.is_authenticated:
        return JsonResponse({"error": {"code": "not_authenticated", "message": "Log in to see jobs."}}, status=403)
    canonical = canonical_guid(guid)
    job = _visible_jobs(user).filter(guid=canonical).first() if canonical else None
    if job is None:
        return JsonResponse({"error": {"code": "not_found", "message": "No such job."}}, status=404)
    return JsonResponse(job_dict(job, user))


@require_safe
def compare(request, guid: str):
    """The diff chooser (two radio columns on the snapshot page) lands here."""
    base = canonical_guid(guid)
    a, b = canonical_guid(request.GET.get("a", "")), canonical_guid(request.GET.get("b", ""))
    if base is None:
        return HttpResponseRedirect("/")
    if a is None or b is None or a == b:
        return HttpResponseRedirect(f"/s/{base}#versions")
    return HttpResponseRedirect(f"/s/{a}/diff/{b}")
