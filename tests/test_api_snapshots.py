"""Snapshots, TimeMaps and WARC files over the API: filters, cursor pagination, detail with digests,
citations and links, private snapshots by group, withdrawn ones, read-only."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from provenance.models import Document, Publisher
from tests.api_support import *  # noqa: F403 (fixtures)
from tests.api_support import error_of, fake_snapshot, token_client

pytestmark = pytest.mark.django_db

A = "https://www.elespanol.com/espana/20211125/gantz-visita/"
B = "https://news.elespanol.com/other/"
C = "https://www.watanserb.com/2021/11/27/x/"


@pytest.fixture
def snaps():
    return {
        "a1": fake_snapshot(A, "2021-11-25T10:00:00"),
        "a2": fake_snapshot(A, "2021-11-26T10:00:00"),
        "a3": fake_snapshot(A, "2021-11-27T10:00:00", status=404),
        "b": fake_snapshot(B, "2021-11-26T12:00:00", mime="image/png", is_requisite=True),
        "c": fake_snapshot(C, "2021-11-28T09:00:00"),
        "private": fake_snapshot(C, "2021-11-29T09:00:00", group="desk"),
    }


def ids(resp) -> list[str]:
    assert resp.status_code == 200, resp.content
    return [s["id"] for s in resp.json()["results"]]


def test_anonymous_lists_public_snapshots_newest_first(api, snaps):
    s = snaps
    assert ids(api.get("/api/snapshots/")) == [x.guid for x in (s["c"], s["a3"], s["b"], s["a2"], s["a1"])]


@pytest.mark.parametrize("query, expected", [
    (f"url={A}", ["a3", "a2", "a1"]),
    ("url=https://www.elespanol.com/espana/20211125/gantz-visita", ["a3", "a2", "a1"]),  # SURT-normalised
    ("surt_prefix=com,elespanol", ["a3", "b", "a2", "a1"]),
    ("host=elespanol.com", ["a3", "b", "a2", "a1"]),
    ("host=news.elespanol.com", ["b"]),
    ("captured_after=2021-11-26T00:00:00Z&captured_before=2021-11-27T00:00:00Z", ["b", "a2"]),
    ("status=404", ["a3"]),
    # offsets PostgreSQL refuses as such (past ±15:59) are compared in UTC, as on SQLite:
    # 2021-11-26T16:30-17:30 is 2021-11-27T10:00Z; 2021-11-26T21:00+22:00 is 2021-11-25T23:00Z
    ("captured_after=2021-11-26T16:30:00-17:30", ["c", "a3"]),
    ("captured_after=2021-11-26T21:00:00%2B22:00&captured_before=2021-11-26T12:00:00Z", ["a2"]),
    ("mime=image/png", ["b"]),
    ("is_requisite=false&surt_prefix=com,elespanol", ["a3", "a2", "a1"]),
])
def test_snapshot_filters(api, snaps, query, expected):
    assert ids(api.get(f"/api/snapshots/?{query}")) == [snaps[k].guid for k in expected]


@pytest.mark.parametrize("query", ["captured_after=yesterday", "status=abc", "url=ftp://x", "cursor=garbage",
                                   "is_requisite=maybe", "record_type=other",
                                   "captured_before=9999-12-31T23:00:00-05:00"])
def test_bad_filter_values_are_400(api, snaps, query):
    r = api.get(f"/api/snapshots/?{query}")
    assert r.status_code == 400, (query, r.content)
    error_of(r)


def test_publisher_and_document_filters_use_provenance_documents(api, snaps):
    pub = Publisher.objects.create(name="El Español", domains=["elespanol.com"])
    doc = Document.objects.create(url=A, publisher=pub)
    assert ids(api.get(f"/api/snapshots/?publisher={pub.pk}")) == [snaps[k].guid for k in ("a3", "a2", "a1")]
    assert ids(api.get(f"/api/snapshots/?document={doc.pk}")) == [snaps[k].guid for k in ("a3", "a2", "a1")]
    assert ids(api.get(f"/api/snapshots/?publisher={pub.pk + 99}")) == []


def test_cursor_pagination_walks_every_snapshot_once_even_when_new_ones_arrive(api, snaps):
    seen, url = [], "/api/snapshots/?page_size=2"
    first = True
    while url:
        body = api.get(url).json()
        assert len(body["results"]) <= 2 and "count" not in body
        seen += [s["id"] for s in body["results"]]
        if first:  # a capture arriving meanwhile does not shift later pages
            fake_snapshot(A, "2030-01-01T00:00:00")
            first = False
        url = body["next"]
    assert len(seen) == len(set(seen)) == 5


def test_page_size_is_capped_and_must_be_a_positive_integer(api):
    for i in range(3):
        fake_snapshot(f"https://x.example/{i}", f"2021-01-0{i + 1}T00:00:00")
    body = api.get("/api/snapshots/?page_size=100000").json()
    assert len(body["results"]) == 3
    for bad in ("-4", "0", "x", ""):
        r = api.get(f"/api/snapshots/?page_size={bad}")
        assert r.status_code == 400 and "page_size" in error_of(r)["details"], bad


def test_detail_has_digests_warc_location_citations_and_links(api, snaps):
    s = snaps["a1"]
    body = api.get(f"/api/snapshots/{s.guid}/").json()
    assert body["id"] == s.guid and body["payload_sha256"] == s.payload_sha256
    assert body["record_sha256"] == s.record_sha256 and body["warc_file"]["sha256"] == s.warc_file.sha256
    assert body["warc_file"]["name"] == s.warc_file.name and body["offset"] == 0 and body["length"] == 100
    assert {c["key"] for c in body["citations"]} == {"apa", "chicago", "mla", "bibtex", "ris", "csl", "robust"}
    assert f"/s/{s.guid}" in next(c["text"] for c in body["citations"] if c["key"] == "apa")
    links = body["links"]
    assert links["page"].endswith(f"/s/{s.guid}") and links["warc"].endswith(f"/s/{s.guid}.warc.gz")
    assert links["replay"].endswith(f"/web/20211125100000/{A}") and "/web/20211125100000id_/" in links["raw"]
    assert body["private"] is False


def test_detail_canonicalises_the_id_and_404s_unknown_ones(api, snaps):
    g = snaps["a1"].guid
    assert api.get(f"/api/snapshots/{g.lower().replace('-', '')}/").json()["id"] == g
    r = api.get("/api/snapshots/ZZZZ-ZZZZ/")
    assert r.status_code == 404 and error_of(r)["code"] == "not_found"
    assert api.get("/api/snapshots/not-an-id/").status_code == 404


def test_private_snapshot_visible_to_its_group_and_superusers_only(api, snaps, alice, bob, root):
    g = snaps["private"].guid
    assert g not in ids(api.get("/api/snapshots/"))
    assert api.get(f"/api/snapshots/{g}/").status_code == 404
    assert token_client(bob[1]).get(f"/api/snapshots/{g}/").status_code == 404
    assert g not in ids(token_client(bob[1]).get("/api/snapshots/"))
    body = token_client(alice[1]).get(f"/api/snapshots/{g}/").json()
    assert body["id"] == g and body["private"] is True
    assert g in ids(token_client(alice[1]).get("/api/snapshots/"))
    assert token_client(root[1]).get(f"/api/snapshots/{g}/").status_code == 200


def test_withdrawn_snapshot_is_410_with_the_reason_and_gone_from_lists(api, snaps):
    s = snaps["a1"]
    s.withdraw(user=User.objects.create_user("editor"), reason="court order")
    r = api.get(f"/api/snapshots/{s.guid}/")
    assert r.status_code == 410 and "court order" in error_of(r)["message"]
    assert s.guid not in ids(api.get("/api/snapshots/"))


def test_snapshots_are_read_only(snaps, root):
    c = token_client(root[1])
    g = snaps["a1"].guid
    assert c.post("/api/snapshots/", {"url": A}, format="json").status_code == 405
    assert c.patch(f"/api/snapshots/{g}/", {"status": 500}, format="json").status_code == 405
    assert c.delete(f"/api/snapshots/{g}/").status_code == 405


def test_timemap_json_lists_mementos_in_capture_order(api, snaps):
    body = api.get(f"/api/timemap/?url={A}").json()
    assert [m["id"] for m in body["mementos"]] == [snaps[k].guid for k in ("a1", "a2", "a3")]
    assert body["first"] == snaps["a1"].guid and body["last"] == snaps["a3"].guid and body["next"] is None
    assert body["mementos"][0]["timestamp"] == "20211125100000"
    assert body["mementos"][0]["memento"].endswith(f"/web/20211125100000/{A}")


def test_timemap_hides_private_mementos_from_others(api, snaps, alice):
    assert [m["id"] for m in api.get(f"/api/timemap/?url={C}").json()["mementos"]] == [snaps["c"].guid]
    mine = token_client(alice[1]).get(f"/api/timemap/?url={C}").json()["mementos"]
    assert [m["id"] for m in mine] == [snaps["c"].guid, snaps["private"].guid]


def test_timemap_pages(api, settings):
    settings.NAQL_TIMEMAP_PAGE_SIZE = 2
    for d in range(1, 6):
        fake_snapshot(A, f"2021-11-0{d}T00:00:00")
    body = api.get(f"/api/timemap/?url={A}").json()
    assert len(body["mementos"]) == 2 and body["next"]
    nxt = api.get(body["next"]).json()
    assert nxt["mementos"][0]["timestamp"] == "20211103000000"


@pytest.mark.parametrize("query", ["", "url=", "url=ftp://example.org/", "url=http://x.example/&from=12",
                                   "url=http://x.example/&from=abcd"])
def test_timemap_bad_input_is_400(api, query):
    r = api.get(f"/api/timemap/?{query}")
    assert r.status_code == 400, r.content
    error_of(r)


def test_warc_files_for_admins(snaps, root):
    body = token_client(root[1]).get("/api/warc-files/").json()
    assert body["count"] == 6 and {"sha256", "size", "name"} <= set(body["results"][0])
