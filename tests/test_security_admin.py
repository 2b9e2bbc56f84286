"""Issue 17, kinds 3, 5, 6, 7, 8: the admin obeys group privacy and action permissions; a
group's deletion never publishes its snapshots; who did what survives account deletion
attempts; forged X-Forwarded-For does not reset rate limits."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.models import Group, User
from django.core.cache import cache
from django.db import transaction
from django.db.models import ProtectedError
from django.test import RequestFactory, override_settings
from rest_framework.test import APIClient

from apitokens.models import ApiToken
from archive.models import Snapshot, WithdrawalLog
from provenance.models import ClaimLink, Relation, ReviewStatus
from tests.security_support import MARKER, build_world, role_client

pytestmark = pytest.mark.django_db


# --------------------------------------------------------------------------------------------
# kind 6: every admin action declares a permission, and Django enforces it


def test_every_admin_action_declares_its_permissions():
    undeclared = []
    for model, model_admin in admin.site._registry.items():
        request = RequestFactory().get("/admin/")
        request.user = User(is_superuser=True, is_staff=True, is_active=True)
        for name, (func, _n, _d) in model_admin.get_actions(request).items():
            if not getattr(func, "allowed_permissions", None):
                undeclared.append(f"{model._meta.label}.{name}")
    assert undeclared == []


def test_view_only_staff_cannot_accept_revoke_or_withdraw_through_actions():
    world = build_world()
    c = role_client(world.people, "viewer_staff")
    rel = Relation.objects.get(source=world.public, target=world.upstream)
    link = ClaimLink.objects.filter(status=ReviewStatus.SUGGESTED).first()
    token, key = ApiToken.issue(user=world.people["viewer_staff"], by=world.people["viewer_staff"], name="own")
    posts = [("/admin/provenance/relation/", "accept", rel.pk), ("/admin/provenance/relation/", "reject", rel.pk),
             ("/admin/provenance/claimlink/", "accept", link.pk), ("/admin/provenance/claimlink/", "reject", link.pk),
             ("/admin/apitokens/apitoken/", "revoke", token.pk),
             ("/admin/archive/snapshot/", "withdraw_selected", world.v1.pk),
             ("/admin/provenance/document/", "segment_claims", world.public.pk)]
    for url, action, pk in posts:
        c.post(url, {"action": action, "_selected_action": [pk], "apply": "1", "reason": "no"})
    rel.refresh_from_db()
    link.refresh_from_db()
    token.refresh_from_db()
    assert rel.status == ReviewStatus.SUGGESTED and link.status == ReviewStatus.SUGGESTED
    assert token.revoked_at is None and not Snapshot.objects.get(pk=world.v1.pk).is_withdrawn
    # the superuser's same posts do act (so the posts above were well formed)
    s = role_client(world.people, "superuser")
    s.post("/admin/provenance/relation/", {"action": "accept", "_selected_action": [rel.pk]})
    rel.refresh_from_db()
    assert rel.status == ReviewStatus.ACCEPTED


# --------------------------------------------------------------------------------------------
# kind 5: the admin answers like /s/<ID> for private snapshots


def test_staff_with_only_view_snapshot_cannot_open_a_private_snapshot_in_the_admin():
    world = build_world()
    c = role_client(world.people, "staff_one")
    assert APIClient().get(f"/s/{world.v2.guid}").status_code == 404
    resp = c.get(f"/admin/archive/snapshot/{world.v2.pk}/change/")
    assert resp.status_code == 302 and MARKER not in resp.content.decode()
    listing = c.get("/admin/archive/snapshot/").content.decode()
    assert world.v1.guid in listing and world.v2.guid not in listing and world.hidden_snap.guid not in listing
    assert c.get(f"/admin/archive/snapshot/{world.v1.pk}/change/").status_code == 200
    member_view = role_client(world.people, "superuser").get(f"/admin/archive/snapshot/{world.v2.pk}/change/")
    assert member_view.status_code == 200 and MARKER in member_view.content.decode()


def test_partly_hidden_document_opens_read_only_and_redacted_for_staff():
    world = build_world(privatise_later=True)  # the row holds the private title
    viewer = world.people["viewer_staff"]
    viewer.user_permissions.add(*__import__("django.contrib.auth.models", fromlist=["Permission"]).Permission
                                .objects.filter(codename="change_document"))
    c = role_client(world.people, "viewer_staff")
    page = c.get(f"/admin/provenance/document/{world.public.pk}/change/")
    body = page.content.decode()
    assert page.status_code == 200 and MARKER not in body
    assert 'name="title"' not in body  # read-only: a redacted copy must never be saved
    before = world.public.__class__.objects.get(pk=world.public.pk).title
    c.post(f"/admin/provenance/document/{world.public.pk}/change/", {"title": "overwritten", "url": world.public.url})
    assert world.public.__class__.objects.get(pk=world.public.pk).title == before


# --------------------------------------------------------------------------------------------
# kind 3: deleting a group never makes its snapshots public


def test_deleting_a_group_with_private_snapshots_is_refused_and_lists_them():
    world = build_world()
    desk = Group.objects.get(name="desk")
    with pytest.raises(ProtectedError):
        desk.delete()
    s = role_client(world.people, "superuser")
    page = s.get(f"/admin/auth/group/{desk.pk}/delete/").content.decode()
    assert world.v2.guid in page and "protected" in page.lower()
    s.post(f"/admin/auth/group/{desk.pk}/delete/", {"post": "yes"})
    assert Group.objects.filter(pk=desk.pk).exists()
    assert Snapshot.objects.get(pk=world.v2.pk).private_to_group_id == desk.pk
    assert APIClient().get(f"/api/snapshots/{world.v2.guid}/").status_code == 404


def test_a_group_without_snapshots_can_be_deleted():
    empty = Group.objects.create(name="archivo-vacío")
    empty.delete()
    assert not Group.objects.filter(name="archivo-vacío").exists()


# --------------------------------------------------------------------------------------------
# kind 8: who did it survives the account


def test_user_with_recorded_acts_cannot_be_deleted_and_admin_says_deactivate():
    world = build_world()
    member = world.people["member"]
    log = WithdrawalLog.objects.get(snapshot=world.withdrawn)
    assert log.username == "member"
    with pytest.raises(ProtectedError), transaction.atomic():  # (the deletion's own atomic has no savepoint)
        member.delete()
    s = role_client(world.people, "superuser")
    page = s.get(f"/admin/auth/user/{member.pk}/delete/").content.decode()
    assert "deactivate the account instead" in page
    s.post(f"/admin/auth/user/{member.pk}/delete/", {"post": "yes"})
    assert User.objects.filter(pk=member.pk).exists()
    log.refresh_from_db()
    assert log.user == member and log.username == "member"
    # the history of what they did still names them
    hist = role_client(world.people, "superuser").get(
        f"/api/relations/{Relation.objects.get(source=world.public, target=world.hidden).pk}/history/").json()
    assert hist["results"][-1]["type"] == "created"


def test_user_without_acts_can_be_deleted():
    world = build_world()
    outsider = world.people["outsider"]
    ApiToken.issue(user=outsider, by=outsider, name="own")  # their own tokens go with them
    outsider.delete()
    assert not User.objects.filter(username="outsider").exists()


# --------------------------------------------------------------------------------------------
# kind 7: X-Forwarded-For only from configured proxies

TINY = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"anon": "3/min", "user": "1000/min",
                                                              "capture": "1000/min"}}


def _statuses(headers_per_request, remote="198.51.100.7"):
    cache.clear()
    c = APIClient()
    return [c.get("/api/publishers/", REMOTE_ADDR=remote, **h).status_code for h in headers_per_request]


@override_settings(REST_FRAMEWORK=TINY, NAQL_TRUSTED_PROXIES=[], NAQL_NUM_PROXIES=0)
def test_forged_forwarded_for_does_not_reset_the_anonymous_limit():
    forged = [{"HTTP_X_FORWARDED_FOR": f"203.0.113.{i}"} for i in range(6)]
    assert _statuses(forged) == [200, 200, 200, 429, 429, 429]


@override_settings(REST_FRAMEWORK=TINY, NAQL_TRUSTED_PROXIES=["10.0.0.0/8"], NAQL_NUM_PROXIES=0)
def test_trusted_proxy_passes_the_client_address_and_forgeries_before_it_are_ignored():
    # behind our proxy 10.1.2.3: each client is counted on its own address
    clients = [{"HTTP_X_FORWARDED_FOR": f"203.0.113.{i % 2}"} for i in range(6)]
    assert _statuses(clients, remote="10.1.2.3") == [200, 200, 200, 200, 200, 200]
    # a client that prepends forged addresses is still counted as itself (the proxy appends it)
    forged = [{"HTTP_X_FORWARDED_FOR": f"192.0.2.{i}, 203.0.113.9"} for i in range(6)]
    assert _statuses(forged, remote="10.1.2.3") == [200, 200, 200, 429, 429, 429]
    # the same header from an untrusted peer is ignored
    assert _statuses(clients, remote="198.51.100.8") == [200, 200, 200, 429, 429, 429]


@override_settings(REST_FRAMEWORK=TINY, NAQL_TRUSTED_PROXIES=[], NAQL_NUM_PROXIES=1)
def test_num_proxies_takes_the_address_the_last_proxy_saw():
    forged = [{"HTTP_X_FORWARDED_FOR": f"192.0.2.{i}, 203.0.113.9"} for i in range(5)]
    assert _statuses(forged, remote="10.1.2.3") == [200, 200, 200, 429, 429]


def test_a_single_withdrawal_is_enough_to_keep_the_account():
    from tests.api_support import fake_snapshot

    editor = User.objects.create_user("editora", "e@example.org", "pw-not-used-123")
    ApiToken.issue(user=editor, by=editor, name="own")
    fake_snapshot("https://example.org/retirada", "2024-02-02T10:00:00").withdraw(user=editor, reason="copia")
    with pytest.raises(ProtectedError, match="withdrawal"), transaction.atomic():
        editor.delete()
    editor.is_active = False  # what to do instead
    editor.save()
    assert WithdrawalLog.objects.get(user=editor).username == "editora"
