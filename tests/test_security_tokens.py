"""Issue 17, kind 1: an API token belongs to the person who creates it.

Staff with only "add API token" cannot mint a token that acts as someone else (not by posting
another user's ID, not by any other field); a superuser can, only when ticking "on behalf of
another user", and the act is logged with both names.
"""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission, User
from django.core.exceptions import PermissionDenied
from django.test import Client

from apitokens.models import ApiToken
from tests.api_support import *  # noqa: F403 (fixtures)
from tests.api_support import fake_snapshot, make_user, token_client

pytestmark = pytest.mark.django_db

ADD_URL = "/admin/apitokens/apitoken/add/"


def staff_with(username: str, *codenames: str) -> User:
    user = User.objects.create_user(username, f"{username}@example.org", "pw-not-used-123", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return user


def logged_in(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


def key_from(resp) -> str | None:
    for m in resp.context["messages"] if resp.context else []:
        for w in str(m).split():
            if w.startswith("naql_"):
                return w
    return None


def test_staff_with_only_add_token_posting_a_superuser_id_gets_a_token_of_their_own():
    chief, _ = make_user("chief", superuser=True)
    clerk = staff_with("clerk", "add_apitoken")
    fake_snapshot("https://example.org/desk-only", "2024-03-01T10:00:00", group="desk")
    resp = logged_in(clerk).post(ADD_URL, {"user": chief.pk, "on_behalf": "on", "name": "sneaky"}, follow=True)
    assert resp.status_code == 200
    token = ApiToken.objects.get(name="sneaky")
    assert token.user == clerk and token.created_by == clerk  # the posted user ID was ignored
    key = key_from(resp)
    api = token_client(key)
    assert api.get("/api/snapshots/").json()["results"] == []  # the private snapshot stays hidden
    # and what it writes is recorded under the clerk's name, not the superuser's
    made = api.post("/api/publishers/", {"name": "Diario de prueba", "kind": "news"}, format="json")
    assert made.status_code == 201
    history = api.get(f"/api/publishers/{made.json()['id']}/history/").json()["results"]
    assert history[0]["user"] == "clerk"


def test_add_form_of_non_superuser_has_no_user_field():
    clerk = staff_with("clerk2", "add_apitoken")
    page = logged_in(clerk).get(ADD_URL)
    assert page.status_code == 200
    assert b'name="user"' not in page.content and b'name="on_behalf"' not in page.content


def test_superuser_making_a_token_for_another_user_must_tick_on_behalf():
    chief, _ = make_user("chief2", superuser=True)
    reporter = User.objects.create_user("reporter", "r@example.org", "pw-not-used-123")
    c = logged_in(chief)
    refused = c.post(ADD_URL, {"user": reporter.pk, "name": "for reporter"})
    assert refused.status_code == 200 and b"confirmed explicitly" in refused.content
    assert not ApiToken.objects.filter(name="for reporter").exists()

    ok = c.post(ADD_URL, {"user": reporter.pk, "on_behalf": "on", "name": "for reporter"}, follow=True)
    token = ApiToken.objects.get(name="for reporter")
    assert token.user == reporter and token.created_by == chief and token.created_by_username == "chief2"
    entry = LogEntry.objects.get(object_id=str(token.pk), content_type__model="apitoken")
    assert entry.user == chief and "reporter" in entry.get_change_message() and "chief2" in entry.get_change_message()
    assert token_client(key_from(ok)).get("/api/capture-jobs/").status_code == 200


def test_superuser_leaving_user_empty_gets_own_token():
    chief, _ = make_user("chief3", superuser=True)
    logged_in(chief).post(ADD_URL, {"name": "mine"})
    assert ApiToken.objects.get(name="mine").user == chief


def test_model_rule_refuses_issue_for_another_user_by_non_superuser():
    clerk = staff_with("clerk3", "add_apitoken")
    other = User.objects.create_user("other3", "o@example.org", "pw-not-used-123")
    with pytest.raises(PermissionDenied):
        ApiToken.issue(user=other, by=clerk, name="x", on_behalf=True)
    token, _ = ApiToken.issue(user=clerk, by=clerk, name="own")
    assert token.user == clerk and not token.issued_for_another


def test_non_superuser_sees_and_revokes_only_own_tokens():
    alice, _ = make_user("alice9")
    clerk = staff_with("clerk4", "add_apitoken", "change_apitoken", "view_apitoken")
    theirs = ApiToken.objects.get(user=alice)
    c = logged_in(clerk)
    assert b"alice9" not in c.get("/admin/apitokens/apitoken/").content
    c.post("/admin/apitokens/apitoken/", {"action": "revoke", "_selected_action": [theirs.pk]})
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


def test_view_only_staff_cannot_revoke_even_own_token():
    clerk = staff_with("clerk5", "view_apitoken")
    token, key = ApiToken.issue(user=clerk, by=clerk, name="own")
    c = logged_in(clerk)
    c.post("/admin/apitokens/apitoken/", {"action": "revoke", "_selected_action": [token.pk]})
    token.refresh_from_db()
    assert token.revoked_at is None
    assert token_client(key).get("/api/capture-jobs/").status_code == 200
