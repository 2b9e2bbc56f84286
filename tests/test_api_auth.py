"""API authentication and limits: hashed tokens from the admin, header-only keys, history users,
throttling, the one error body, no tracebacks."""

from __future__ import annotations

from unittest import mock

import pytest
from django.conf import settings
from django.test import override_settings
from rest_framework.test import APIClient

from apitokens.models import ApiToken, hash_key
from provenance.models import Publisher
from tests.api_support import *  # noqa: F403 (fixtures)
from tests.api_support import error_of, make_user, token_client

pytestmark = pytest.mark.django_db

def rates(**scopes):
    """Tiny throttle rates for one test."""
    return override_settings(REST_FRAMEWORK={**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": scopes})


PUBLISHER = {"name": "Agencia EFE", "kind": "agency", "language": "es", "domains": ["efe.com"]}


def test_token_is_stored_hashed_and_only_its_prefix_in_clear(alice):
    user, key = alice
    token = ApiToken.objects.get(user=user)
    assert key.startswith(f"naql_{token.prefix}_")
    assert token.key_hash == hash_key(key) and key not in token.key_hash
    assert not ApiToken.objects.filter(key_hash=key).exists()


def test_admin_creates_a_token_shows_the_key_once_and_stores_only_its_hash(admin_client, admin_user):
    resp = admin_client.post("/admin/apitokens/apitoken/add/", {"user": admin_user.pk, "name": "notebook"},
                             follow=True)
    assert resp.status_code == 200
    shown = [str(m) for m in resp.context["messages"]]
    key = next(w for m in shown for w in m.split() if w.startswith("naql_"))
    token = ApiToken.objects.get(name="notebook")
    assert token.key_hash == hash_key(key)
    page = admin_client.get(f"/admin/apitokens/apitoken/{token.pk}/change/")
    assert key.encode() not in page.content  # never shown again
    assert token_client(key).get("/api/capture-jobs/").status_code == 200


def test_admin_revokes_a_token_and_it_stops_working(admin_client, alice):
    user, key = alice
    assert token_client(key).get("/api/capture-jobs/").status_code == 200
    token = ApiToken.objects.get(user=user)
    resp = admin_client.post("/admin/apitokens/apitoken/", {"action": "revoke", "_selected_action": [token.pk]})
    assert resp.status_code == 302
    r = token_client(key).get("/api/capture-jobs/")
    assert r.status_code == 401 and error_of(r)["code"] == "authentication_failed"
    assert r["WWW-Authenticate"].startswith("Token")


def test_bearer_scheme_works_like_token(alice):
    assert token_client(alice[1], "Bearer").get("/api/capture-jobs/").status_code == 200


def test_wrong_or_malformed_token_is_401_with_the_error_body():
    for header in ("Token naql_deadbeef_nope", "Token", "Bearer a b"):
        c = APIClient()
        c.credentials(HTTP_AUTHORIZATION=header)
        r = c.get("/api/documents/")
        assert r.status_code == 401, header
        assert error_of(r)["code"] == "authentication_failed"


def test_token_in_query_string_is_ignored(alice, api):
    _, key = alice
    for param in ("token", "key", "api_key", "access_token", "auth_token"):
        r = api.post(f"/api/publishers/?{param}={key}", PUBLISHER, format="json")
        assert r.status_code == 401, param
    r = api.get(f"/api/capture-jobs/?token={key}")
    assert r.status_code == 401
    assert Publisher.objects.count() == 0


def test_anonymous_reads_but_cannot_write(api):
    assert api.get("/api/publishers/").status_code == 200
    r = api.post("/api/publishers/", PUBLISHER, format="json")
    assert r.status_code == 401 and error_of(r)["code"] == "not_authenticated"
    assert api.post("/api/capture-jobs/", {"url": "http://example.org/"}, format="json").status_code == 401


def test_write_with_token_records_the_user_in_history(alice):
    user, key = alice
    c = token_client(key)
    r = c.post("/api/publishers/", PUBLISHER, format="json")
    assert r.status_code == 201, r.content
    pid = r.json()["id"]
    assert c.patch(f"/api/publishers/{pid}/", {"aliases": ["EFE"]}, format="json").status_code == 200
    pub = Publisher.objects.get(pk=pid)
    assert [h.history_user for h in pub.history.all()] == [user, user]
    hist = APIClient().get(f"/api/publishers/{pid}/history/").json()
    assert [e["user"] for e in hist["results"]] == ["alice", "alice"]
    assert hist["results"][0]["type"] == "changed"
    assert hist["results"][0]["changes"] == [{"field": "aliases", "old": [], "new": ["EFE"]}]


def test_session_auth_for_the_browser_with_csrf(alice):
    user, _ = alice
    c = APIClient(enforce_csrf_checks=True)
    c.force_login(user)
    assert c.get("/api/capture-jobs/").status_code == 200
    r = c.post("/api/publishers/", PUBLISHER, format="json")
    assert r.status_code == 403 and "CSRF" in error_of(r)["message"]


@rates(anon="3/min", user="5/min", capture="2/min")
def test_throttling_per_anonymous_client_and_per_user(alice, bob):
    anon = APIClient()
    assert [anon.get("/api/publishers/").status_code for _ in range(4)] == [200, 200, 200, 429]
    r = anon.get("/api/publishers/")
    err = error_of(r)
    assert err["code"] == "throttled" and int(r["Retry-After"]) > 0
    assert err["details"]["retry_after_seconds"] > 0
    a = token_client(alice[1])
    assert [a.get("/api/publishers/").status_code for _ in range(6)] == [200] * 5 + [429]
    # another user has their own budget
    assert token_client(bob[1]).get("/api/publishers/").status_code == 200


@rates(anon="100/min", user="100/min", capture="3/min")
def test_capture_throttle_counts_urls_not_requests(alice):
    c = token_client(alice[1])
    with mock.patch("archive.jobs.enqueue_job"):
        r = c.post("/api/capture-jobs/", {"urls": ["http://a.example/", "http://b.example/"]}, format="json")
        assert r.status_code == 201
        r = c.post("/api/capture-jobs/", {"urls": ["http://c.example/", "http://d.example/"]}, format="json")
        assert r.status_code == 429 and error_of(r)["code"] == "throttled"
        assert c.post("/api/capture-jobs/", {"url": "http://c.example/"}, format="json").status_code == 201


def test_unknown_endpoint_is_json_404(api):
    r = api.get("/api/no-such-thing/")
    assert r.status_code == 404 and error_of(r)["code"] == "not_found"


def test_unexpected_exception_is_500_with_error_body_and_no_traceback(api):
    with mock.patch("provenance.api.PublisherViewSet.get_queryset", side_effect=RuntimeError("secret detail")):
        r = api.get("/api/publishers/")
    assert r.status_code == 500
    err = error_of(r)
    assert err["code"] == "internal_error" and "secret" not in r.content.decode()


def test_malformed_json_is_400_parse_error(alice):
    c = token_client(alice[1])
    r = c.generic("POST", "/api/publishers/", "{not json", content_type="application/json")
    assert r.status_code == 400 and error_of(r)["code"] == "parse_error"


def test_superuser_token_is_admin(root):
    c = token_client(root[1])
    assert c.get("/api/warc-files/").status_code == 200


def test_non_admin_cannot_list_warc_files(alice, api):
    assert token_client(alice[1]).get("/api/warc-files/").status_code == 403
    assert api.get("/api/warc-files/").status_code == 401


def test_expired_token_is_refused():
    from datetime import timedelta

    from django.utils import timezone

    user, key = make_user("carol")
    ApiToken.objects.filter(user=user).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert token_client(key).get("/api/capture-jobs/").status_code == 401
