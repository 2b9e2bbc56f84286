"""A NUL character (U+0000) in a request parameter or a JSON body is a 400 everywhere (PostgreSQL
text cannot hold one: a lookup with it was a 500 there, found by the API fuzzer), decided once
(a middleware for parameters, the API's JSON parser for bodies) rather than field by field.
Replay is left alone: its query string is part of the archived URL."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from provenance.models import Document
from tests.api_support import *  # noqa: F403 (fixtures)
from tests.api_support import error_of, fake_snapshot, make_user, token_client

pytestmark = pytest.mark.django_db

PAGE = "https://www.example.org/2024/rapport-annuel"


@pytest.fixture
def rows():
    snap = fake_snapshot(PAGE, "2024-05-02T08:00:00", text="Le rapport annuel paraît ce matin.")
    doc = Document.objects.create(url=PAGE, language="fr")
    return snap, doc


@pytest.mark.parametrize("query", ["mime=text%00html", "url=https://www.example.org/%00", "host=exa%00mple.org",
                                   "job=AB%00C", "%00=1"])
def test_a_nul_in_an_api_query_parameter_is_a_400(api, rows, query):
    r = api.get(f"/api/snapshots/?{query}")
    assert r.status_code == 400, (query, r.content)
    assert "NUL" in error_of(r)["message"]


def test_a_nul_anywhere_in_a_json_body_is_a_400_and_writes_nothing(rows):
    snap, doc = rows
    _user, key = make_user("editor", superuser=True)
    c = token_client(key)
    for body in ({"snapshot": "\x00" + snap.guid, "exact": "Le rapport", "document": doc.pk},
                 {"snapshot": snap.guid, "exact": "Le rapport", "document": doc.pk, "note\x00": "x"},
                 {"urls": ["https://www.example.org/a", "https://www.example.org/\x00b"]}):
        url = "/api/capture-jobs/" if "urls" in body else "/api/claims/"
        r = c.post(url, json.dumps(body), content_type="application/json")
        assert r.status_code == 400, (body, r.content)
        assert "NUL" in error_of(r)["message"]
    assert not doc.claims.exists()


def test_a_nul_in_an_admin_search_or_a_page_parameter_is_a_400(rows):
    from django.contrib.auth.models import User

    staff = Client()
    staff.force_login(User.objects.create_superuser("root", "root@example.org", "pw"))
    for url in ("/admin/archive/snapshot/?q=rapport%00", "/admin/provenance/document/?q=%00",
                "/d/review?claim=%00"):
        r = staff.get(url)
        assert r.status_code == 400, (url, r.status_code)
    assert staff.get("/admin/archive/snapshot/?q=rapport").status_code == 200


def test_replay_is_not_refused_for_a_nul_in_the_archived_urls_query(rows):
    for url in ("/web/20240502080000id_/https://www.example.org/2024/rapport-annuel?x=%00",
                "/web/20240502080000id_/https://www.example.org/2024/rapport%00annuel",
                "/web/https://www.example.org/2024/rapport%00annuel",
                "/web/timemap/link/https://www.example.org/%00"):
        r = Client().get(url)
        assert r.status_code in (200, 302, 404), (url, r.status_code)
