"""Issue 17: the permission matrix, generated from one table.

Every API operation of the OpenAPI description, every admin page of every registered model and
every admin action has a row saying what each role gets; the test requests each one as each
role and compares. A new endpoint, admin model or action without a row fails the test (the
sets must be equal), so nobody adds one without deciding who may use it.

Roles (tests.security_support.ROLES): anonymous, outsider (a user of another group), member
(of the group ``desk`` that owns the private content), viewer_staff (staff with every "view"
permission, no group), staff_one (staff with only "view snapshot"), superuser.

Targets: ``pub`` is an object everyone may see, ``priv`` one tied to content private to
``desk``; ``-`` is a list or an object without privacy. Writes send an empty body: allowed
roles get 400 (validation) or 200, refused ones 401/403/404, so nothing depends on side effects.
"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib import admin
from django.core.cache import cache
from django.test import RequestFactory, override_settings
from django.urls import reverse
from drf_spectacular.generators import SchemaGenerator

from apitokens.models import ApiToken
from archive.models import CaptureJob, WithdrawalLog
from provenance.models import Claim, ClaimLink, Publisher, Relation, Trace
from tests.security_support import ROLES, build_world, role_client

pytestmark = pytest.mark.django_db

NO_THROTTLE = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"anon": "100000/min", "user": "100000/min",
                                                                     "capture": "100000/min"}}

# --------------------------------------------------------------------------------------------
# the table: (what, method or view, target) -> statuses for
#             anonymous outsider member viewer_staff staff_one superuser
READ = "200 200 200 200 200 200"
READ_PRIV = "404 404 200 404 404 200"
WRITE_400 = "401 400 400 400 400 400"
WRITE_200 = "401 200 200 200 200 200"
WRITE_PRIV = "401 404 200 404 404 200"
STAFF_ONLY = "401 403 403 200 200 200"

API = {
    ("/api/capture-jobs/", "get", "-"): "401 200 200 200 200 200",
    ("/api/capture-jobs/", "post", "-"): WRITE_400,
    ("/api/capture-jobs/{id}/", "get", "priv"): "401 404 200 404 404 200",  # the member's own job
    ("/api/traces/", "get", "-"): WRITE_200,  # a list of one's own traces: signed-in readers only
    ("/api/traces/", "post", "-"): WRITE_400,
    ("/api/traces/{id}/", "get", "priv"): "401 404 200 404 404 200",  # the member's own trace
    ("/api/traces/{id}/rerun/", "post", "priv"): "401 404 409 404 404 409",  # still pending: 409
    ("/api/claim-links/", "get", "-"): READ,
    ("/api/claim-links/", "post", "-"): WRITE_400,
    ("/api/claim-links/{id}/", "get", "pub"): READ,
    ("/api/claim-links/{id}/", "get", "priv"): READ_PRIV,
    ("/api/claim-links/{id}/", "patch", "pub"): WRITE_200,
    ("/api/claim-links/{id}/", "patch", "priv"): WRITE_PRIV,
    ("/api/claim-links/{id}/accept/", "post", "pub"): WRITE_200,
    ("/api/claim-links/{id}/accept/", "post", "priv"): WRITE_PRIV,
    ("/api/claim-links/{id}/reject/", "post", "pub"): WRITE_200,
    ("/api/claim-links/{id}/reject/", "post", "priv"): WRITE_PRIV,
    ("/api/claim-links/{id}/history/", "get", "pub"): READ,
    ("/api/claim-links/{id}/history/", "get", "priv"): READ_PRIV,
    ("/api/claim-links/bulk-accept/", "post", "-"): WRITE_400,
    ("/api/claim-links/bulk-reject/", "post", "-"): WRITE_400,
    ("/api/claims/", "get", "-"): READ,
    ("/api/claims/", "post", "-"): WRITE_400,
    ("/api/claims/{id}/", "get", "pub"): READ,
    ("/api/claims/{id}/", "get", "priv"): READ_PRIV,
    ("/api/claims/{id}/", "patch", "pub"): WRITE_200,
    ("/api/claims/{id}/", "patch", "priv"): WRITE_PRIV,
    ("/api/claims/{id}/chain/", "get", "pub"): READ,
    ("/api/claims/{id}/chain/", "get", "priv"): READ_PRIV,
    ("/api/claims/{id}/history/", "get", "pub"): READ,
    ("/api/claims/{id}/history/", "get", "priv"): READ_PRIV,
    ("/api/claims/{id}/prov/", "get", "pub"): READ,
    ("/api/claims/{id}/prov/", "get", "priv"): READ_PRIV,
    ("/api/documents/", "get", "-"): READ,
    ("/api/documents/{id}/", "get", "pub"): READ,
    ("/api/documents/{id}/", "get", "priv"): READ_PRIV,
    ("/api/documents/{id}/", "patch", "pub"): WRITE_200,
    ("/api/documents/{id}/", "patch", "priv"): WRITE_PRIV,
    ("/api/documents/{id}/chain/", "get", "pub"): READ,
    ("/api/documents/{id}/chain/", "get", "priv"): READ_PRIV,
    ("/api/documents/{id}/history/", "get", "pub"): READ,
    ("/api/documents/{id}/history/", "get", "priv"): READ_PRIV,
    ("/api/documents/{id}/prov/", "get", "pub"): READ,
    ("/api/documents/{id}/prov/", "get", "priv"): READ_PRIV,
    ("/api/documents/{id}/suggest/", "post", "pub"): WRITE_200,
    ("/api/documents/{id}/suggest/", "post", "priv"): WRITE_PRIV,
    ("/api/publishers/", "get", "-"): READ,
    ("/api/publishers/", "post", "-"): WRITE_400,
    ("/api/publishers/{id}/", "get", "-"): READ,
    ("/api/publishers/{id}/", "patch", "-"): WRITE_200,
    ("/api/publishers/{id}/history/", "get", "-"): READ,
    ("/api/relations/", "get", "-"): READ,
    ("/api/relations/", "post", "-"): WRITE_400,
    ("/api/relations/{id}/", "get", "pub"): READ,
    ("/api/relations/{id}/", "get", "priv"): READ_PRIV,
    ("/api/relations/{id}/", "patch", "pub"): WRITE_200,
    ("/api/relations/{id}/", "patch", "priv"): WRITE_PRIV,
    ("/api/relations/{id}/accept/", "post", "pub"): WRITE_200,
    ("/api/relations/{id}/accept/", "post", "priv"): WRITE_PRIV,
    ("/api/relations/{id}/reject/", "post", "pub"): WRITE_200,
    ("/api/relations/{id}/reject/", "post", "priv"): WRITE_PRIV,
    ("/api/relations/{id}/history/", "get", "pub"): READ,
    ("/api/relations/{id}/history/", "get", "priv"): READ_PRIV,
    ("/api/relations/bulk-accept/", "post", "-"): WRITE_400,
    ("/api/relations/bulk-reject/", "post", "-"): WRITE_400,
    ("/api/snapshots/", "get", "-"): READ,
    ("/api/snapshots/{id}/", "get", "pub"): READ,
    ("/api/snapshots/{id}/", "get", "priv"): READ_PRIV,
    ("/api/timemap/", "get", "-"): READ,
    ("/api/warc-files/", "get", "-"): STAFF_ONLY,
    ("/api/warc-files/{id}/", "get", "-"): STAFF_ONLY,
}

# admin pages: non-staff are sent to the login page (302); an object one may not see redirects
# to the admin index like a missing one (302); a history of such an object is a 404
NO = "302 302 302 403 403 403"          # nobody (read-only evidence, or revoke instead of delete)
SUPER = "302 302 302 403 403 200"       # superusers only
VIEW = "302 302 302 200 403 200"        # view permission (viewer_staff), not staff_one
VIEW_SNAP = "302 302 302 200 200 200"   # staff_one has "view snapshot"
HIDDEN = "302 302 302 302 403 200"      # an object of the private group, for viewer_staff
HIDDEN_SNAP = "302 302 302 302 302 200"
HIDDEN_HISTORY = "302 302 302 404 404 200"  # checked before the permission: nothing to tell

ADMIN = {
    ("provenance.trace", "changelist", "-"): VIEW, ("provenance.trace", "add", "-"): NO,
    ("archive.snapshot", "changelist", "-"): VIEW_SNAP, ("archive.snapshot", "add", "-"): NO,
    ("archive.snapshot", "change", "pub"): VIEW_SNAP, ("archive.snapshot", "change", "priv"): HIDDEN_SNAP,
    ("archive.snapshot", "delete", "pub"): NO, ("archive.snapshot", "history", "pub"): VIEW_SNAP,
    ("archive.capturejob", "changelist", "-"): VIEW, ("archive.capturejob", "add", "-"): NO,
    ("archive.capturejob", "change", "pub"): VIEW, ("archive.capturejob", "change", "priv"): HIDDEN,
    ("archive.capturejob", "delete", "pub"): NO, ("archive.capturejob", "history", "pub"): VIEW,
    ("archive.capturejob", "capture", "-"): "302 302 302 200 200 200",  # any staff may queue a capture
    ("archive.warcfile", "changelist", "-"): VIEW, ("archive.warcfile", "add", "-"): NO,
    ("archive.warcfile", "change", "-"): VIEW, ("archive.warcfile", "delete", "-"): NO,
    ("archive.warcfile", "history", "-"): VIEW,
    ("archive.withdrawallog", "changelist", "-"): VIEW, ("archive.withdrawallog", "add", "-"): NO,
    ("archive.withdrawallog", "change", "priv"): HIDDEN, ("archive.withdrawallog", "delete", "priv"): NO,
    ("archive.withdrawallog", "history", "priv"): HIDDEN_SNAP,
    ("archive.watch", "changelist", "-"): VIEW, ("archive.watch", "add", "-"): SUPER,
    ("provenance.publisher", "changelist", "-"): VIEW, ("provenance.publisher", "add", "-"): SUPER,
    ("provenance.publisher", "change", "-"): VIEW, ("provenance.publisher", "delete", "-"): SUPER,
    ("provenance.publisher", "history", "-"): VIEW,
    ("provenance.document", "changelist", "-"): VIEW, ("provenance.document", "add", "-"): SUPER,
    ("provenance.document", "change", "pub"): VIEW, ("provenance.document", "change", "priv"): HIDDEN,
    ("provenance.document", "delete", "pub"): SUPER,
    ("provenance.document", "history", "pub"): VIEW, ("provenance.document", "history", "priv"): HIDDEN_HISTORY,
    ("provenance.claim", "changelist", "-"): VIEW, ("provenance.claim", "add", "-"): SUPER,
    ("provenance.claim", "change", "pub"): VIEW, ("provenance.claim", "change", "priv"): HIDDEN,
    ("provenance.claim", "delete", "pub"): SUPER,
    ("provenance.claim", "history", "pub"): VIEW, ("provenance.claim", "history", "priv"): HIDDEN_HISTORY,
    ("provenance.relation", "changelist", "-"): VIEW, ("provenance.relation", "add", "-"): SUPER,
    ("provenance.relation", "change", "pub"): VIEW, ("provenance.relation", "change", "priv"): HIDDEN,
    ("provenance.relation", "delete", "pub"): SUPER,
    ("provenance.relation", "history", "pub"): VIEW, ("provenance.relation", "history", "priv"): HIDDEN_HISTORY,
    ("provenance.claimlink", "changelist", "-"): VIEW, ("provenance.claimlink", "add", "-"): SUPER,
    ("provenance.claimlink", "change", "pub"): VIEW, ("provenance.claimlink", "change", "priv"): HIDDEN,
    ("provenance.claimlink", "delete", "pub"): SUPER,
    ("provenance.claimlink", "history", "pub"): VIEW, ("provenance.claimlink", "history", "priv"): HIDDEN_HISTORY,
    ("apitokens.apitoken", "changelist", "-"): VIEW, ("apitokens.apitoken", "add", "-"): SUPER,
    ("apitokens.apitoken", "change", "priv"): HIDDEN,  # another user's token: not even listed
    ("apitokens.apitoken", "delete", "priv"): NO, ("apitokens.apitoken", "history", "priv"): HIDDEN_SNAP,
    ("auth.user", "changelist", "-"): VIEW, ("auth.user", "add", "-"): SUPER,
    ("auth.user", "change", "-"): VIEW, ("auth.user", "delete", "-"): SUPER, ("auth.user", "history", "-"): VIEW,
    ("auth.user", "password_change", "-"): SUPER,
    ("auth.group", "changelist", "-"): VIEW, ("auth.group", "add", "-"): SUPER,
    ("auth.group", "change", "-"): VIEW, ("auth.group", "delete", "-"): SUPER, ("auth.group", "history", "-"): VIEW,
}

# admin actions: who is offered (and may run) each one
ACTIONS = {
    ("archive.snapshot", "withdraw_selected"): "no no no no no yes",
    ("archive.watch", "delete_selected"): "no no no no no yes",
    ("provenance.publisher", "delete_selected"): "no no no no no yes",
    ("provenance.document", "delete_selected"): "no no no no no yes",
    ("provenance.document", "detect_relations"): "no no no no no yes",
    ("provenance.document", "segment_claims"): "no no no no no yes",
    ("provenance.document", "reanchor_latest"): "no no no no no yes",
    ("provenance.document", "suggest_claim_links"): "no no no no no yes",
    ("provenance.claim", "delete_selected"): "no no no no no yes",
    ("provenance.relation", "delete_selected"): "no no no no no yes",
    ("provenance.relation", "accept"): "no no no no no yes",
    ("provenance.relation", "reject"): "no no no no no yes",
    ("provenance.claimlink", "delete_selected"): "no no no no no yes",
    ("provenance.trace", "delete_selected"): "no no no no no yes",
    ("provenance.trace", "run_again"): "no no no no no yes",
    ("provenance.claimlink", "accept"): "no no no no no yes",
    ("provenance.claimlink", "reject"): "no no no no no yes",
    ("apitokens.apitoken", "revoke"): "no no no no no yes",
    ("auth.user", "delete_selected"): "no no no no no yes",
    ("auth.group", "delete_selected"): "no no no no no yes",
}


def expand(row: str) -> dict[str, str]:
    values = row.split()
    assert len(values) == len(ROLES), row
    return dict(zip(ROLES, values, strict=True))


# --------------------------------------------------------------------------------------------
# targets


def api_targets(world) -> dict:
    public_claim = ClaimLink.objects.filter(claim__snapshot=world.v1, upstream_claim__snapshot__url__contains="example.net")
    return {
        "capture-jobs": {"priv": world.job.guid},
        "traces": {"priv": Trace.objects.create(url=world.v1.url, surt=world.v1.surt,
                                                created_by=world.people["member"]).guid},  # pending
        "claim-links": {"pub": public_claim.first().pk,
                        "priv": ClaimLink.objects.get(upstream_claim__snapshot=world.hidden_snap).pk},
        "claims": {"pub": Claim.objects.filter(snapshot=world.v1).first().pk,
                   "priv": Claim.objects.filter(snapshot=world.v2).first().pk},
        "documents": {"pub": world.public.pk, "priv": world.hidden.pk},
        "publishers": {"-": Publisher.objects.first().pk},
        "relations": {"pub": Relation.objects.get(source=world.public, target=world.upstream).pk,
                      "priv": Relation.objects.get(source=world.public, target=world.hidden).pk},
        "snapshots": {"pub": world.v1.guid, "priv": world.v2.guid},
        "warc-files": {"-": world.v1.warc_file_id},
    }


def api_operations() -> set[tuple[str, str]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return {(path, method) for path, item in schema["paths"].items() for method in item
            if method in ("get", "post", "put", "patch", "delete")}


def admin_targets(world) -> dict:
    public_job = CaptureJob.objects.create(url=world.v1.url, created_by=world.people["superuser"], snapshot=world.v1)
    return {
        "archive.snapshot": {"pub": world.v1.pk, "priv": world.v2.pk},
        "archive.capturejob": {"pub": public_job.pk, "priv": world.job.pk},
        "archive.warcfile": {"-": world.v1.warc_file_id},
        "archive.withdrawallog": {"priv": WithdrawalLog.objects.get(snapshot=world.withdrawn).pk},
        "provenance.publisher": {"-": Publisher.objects.first().pk},
        "provenance.document": {"pub": world.upstream.pk, "priv": world.hidden.pk},
        "provenance.claim": {"pub": Claim.objects.filter(snapshot__url__contains="example.net").first().pk,
                             "priv": Claim.objects.filter(snapshot=world.v2).first().pk},
        "provenance.relation": {"pub": Relation.objects.get(source=world.public, target=world.upstream).pk,
                                "priv": Relation.objects.get(source=world.public, target=world.hidden).pk},
        "provenance.claimlink": {"pub": ClaimLink.objects.filter(upstream_claim__snapshot__url__contains="example.net")
                                 .first().pk,
                                 "priv": ClaimLink.objects.get(upstream_claim__snapshot=world.hidden_snap).pk},
        "apitokens.apitoken": {"priv": ApiToken.issue(user=world.people["member"], by=world.people["member"],
                                                      name="member's notebook")[0].pk},
        "auth.user": {"-": world.people["member"].pk},
        "auth.group": {"-": world.people["member"].groups.first().pk},
    }


def admin_views() -> set[tuple[str, str]]:
    """(model label, view) of every admin page the registry serves."""
    out = set()
    for model, model_admin in admin.site._registry.items():
        label = model._meta.label_lower
        out |= {(label, v) for v in ("changelist", "add", "change", "delete", "history")}
        for p in model_admin.get_urls():
            name = getattr(p, "name", None) or ""
            prefix = f"{model._meta.app_label}_{model._meta.model_name}_"
            if name.startswith(prefix) and name[len(prefix):] not in (
                    "changelist", "add", "change", "delete", "history", "simple_history"):
                out.add((label, name[len(prefix):]))
            elif name and not name.startswith(prefix) and name != "":
                out.add((label, name.split("_", 1)[1] if "_" in name else name))
    return out


# --------------------------------------------------------------------------------------------
# tests


def test_every_api_operation_has_a_row():
    assert {(p, m) for p, m, _t in API} == api_operations()


def test_every_admin_page_and_action_has_a_row():
    world = build_world()
    rows = {(m, v) for m, v, _t in ADMIN}
    served = admin_views()
    # a model without objects of a kind has no change row (Watch): every row must be served,
    # and every model's list, add and extra pages must have a row
    assert rows <= served, rows - served
    assert {x for x in served if x[1] not in ("change", "delete", "history")} <= rows
    request = RequestFactory().get("/admin/")
    request.user = world.people["superuser"]
    offered = {(m._meta.label_lower, name) for m, ma in admin.site._registry.items()
               for name in ma.get_actions(request)}
    assert offered == set(ACTIONS)


@override_settings(REST_FRAMEWORK=NO_THROTTLE)
def test_api_matrix():
    world = build_world()
    targets = api_targets(world)
    wrong = []
    for role in ROLES:
        client = role_client(world.people, role)
        for (path, method, target), row in API.items():
            base = path.split("/")[2]
            url = path.replace("{id}", str(targets[base][target])) if "{id}" in path else path
            if path == "/api/timemap/":
                url += f"?url={world.v1.url}"
            cache.clear()
            resp = getattr(client, method)(url, {}, content_type="application/json") if method != "get" \
                else client.get(url)
            if str(resp.status_code) != expand(row)[role]:
                wrong.append(f"{role} {method.upper()} {url} ({target}): {resp.status_code}, table says "
                             f"{expand(row)[role]}")
    assert wrong == [], "\n".join(wrong)


def test_admin_matrix():
    world = build_world()
    targets = admin_targets(world)
    wrong = []
    for role in ROLES:
        client = role_client(world.people, role)
        for (label, view, target), row in ADMIN.items():
            app, model = label.split(".")
            if view in ("changelist", "add"):
                url = reverse(f"admin:{app}_{model}_{view}")
            elif view == "capture":
                url = reverse("admin:archive_capture")
            else:
                url = reverse(f"admin:{app}_{model}_{view}", args=[targets[label][target]])
            resp = client.get(url)
            if str(resp.status_code) != expand(row)[role]:
                wrong.append(f"{role} {url} ({target}): {resp.status_code}, table says {expand(row)[role]}")
    assert wrong == [], "\n".join(wrong)
    factory = RequestFactory()
    for role in ROLES:
        if world.people[role] is None:
            continue
        request = factory.get("/admin/")
        request.user = world.people[role]
        offered = {(m._meta.label_lower, name) for m, ma in admin.site._registry.items()
                   for name in (ma.get_actions(request) if ma.has_view_or_change_permission(request) else {})}
        for key, row in ACTIONS.items():
            if (key in offered) != (expand(row)[role] == "yes"):
                wrong.append(f"{role} action {key}: offered={key in offered}, table says {expand(row)[role]}")
    assert wrong == [], "\n".join(wrong)
