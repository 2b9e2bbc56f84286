"""The number of database queries of a list (API endpoints, the home page) does not grow with the
number of rows shown: measured at page sizes 5 and 50 on the captured corpus plus enough rows to
fill both pages."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from archive.models import CaptureJob, Snapshot
from provenance.models import Document, DocumentURL, Relation
from tests.api_support import *  # noqa: F403 (fixtures)
from tests.api_support import fake_snapshot, load_corpus, token_client

pytestmark = pytest.mark.django_db

LISTS = ["/api/snapshots/", "/api/documents/", "/api/claims/", "/api/claim-links/", "/api/relations/",
         "/api/capture-jobs/"]


@pytest.fixture
def rows(corpus_proxy, django_capture_on_commit_callbacks, alice):
    """The corpus, with more than 50 snapshots, documents (with aliases), relations and capture jobs, some of
    them private to alice's group."""
    load_corpus(corpus_proxy, django_capture_on_commit_callbacks)
    user, _ = alice
    prev = None
    for i in range(55):
        url = f"http://news.example/{i}"
        snap = fake_snapshot(url, f"2024-01-01T00:{i:02d}:00", text=f"text {i}",
                             group="desk" if i % 5 == 0 else None)
        doc = Document.objects.create(url=url, title=f"Doc {i}")
        DocumentURL.objects.create(document=doc, url=f"http://m.news.example/{i}")
        CaptureJob.objects.create(url=url, created_by=user, snapshot=snap, state=CaptureJob.State.SUCCEEDED)
        if prev is not None:
            Relation.objects.create(source=doc, target=prev, type=Relation.Type.CITES, evidence_snapshot=snap,
                                    evidence_text=f"text {i}", recorded_by=user)
        prev = doc
    yield
    corpus_proxy.reset()


def count_queries(client, url) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as ctx:
        resp = client.get(url)
    assert resp.status_code == 200, resp.content
    return len(resp.json()["results"]), len(ctx)


@pytest.mark.parametrize("endpoint", LISTS)
def test_list_endpoints_make_as_many_queries_for_50_rows_as_for_5(api, rows, alice, endpoint):
    client = token_client(alice[1])
    client.get("/api/")  # the token's first use is recorded once
    n5, q5 = count_queries(client, f"{endpoint}?page_size=5")
    n50, q50 = count_queries(client, f"{endpoint}?page_size=50")
    assert n5 == 5 and n50 > 5 * 3, (n5, n50)
    assert q50 == q5, f"{endpoint}: {q5} queries for 5 rows, {q50} for {n50}"
    if endpoint != "/api/capture-jobs/":  # anonymous readers get the same lists, minus private rows
        assert count_queries(api, f"{endpoint}?page_size=50")[1] == count_queries(api, f"{endpoint}?page_size=5")[1]


def test_document_list_shows_the_same_versions_as_the_document_itself(api, rows, alice):
    client = token_client(alice[1])
    listed = {d["id"]: d["snapshots"] for d in client.get("/api/documents/?page_size=200").json()["results"]}
    for doc in Document.objects.all():
        mine = [s.guid for s in doc.snapshots().filter(pk__in=Snapshot.objects.visible_to(alice[0]))]
        assert listed[doc.pk] == mine == client.get(f"/api/documents/{doc.pk}/").json()["snapshots"]
    public = {d["id"]: d["snapshots"] for d in api.get("/api/documents/?page_size=200").json()["results"]}
    hidden = Snapshot.objects.filter(private_to_group__name="desk").values_list("guid", flat=True)
    assert hidden and not set(hidden) & {g for guids in public.values() for g in guids}


@pytest.mark.parametrize("model", ["relations", "claim-links"])
def test_history_pages_make_as_many_queries_for_50_records_as_for_5(rows, alice, model):
    from provenance.models import ClaimLink

    obj = (Relation if model == "relations" else ClaimLink).objects.order_by("pk").first()
    for i in range(60):
        obj.note = f"note {i}"
        obj._history_user = alice[0] if i % 2 else None
        obj.save()
    client = token_client(alice[1])
    client.get("/api/")
    n5, q5 = count_queries(client, f"/api/{model}/{obj.pk}/history/?page_size=5")
    n50, q50 = count_queries(client, f"/api/{model}/{obj.pk}/history/?page_size=50")
    assert (n5, n50) == (5, 50) and q50 == q5, (q5, q50)
    # every record is diffed against the one before it, across page boundaries too
    entries = [e for page in (1, 2) for e in client.get(
        f"/api/{model}/{obj.pk}/history/?page_size=50&page={page}").json()["results"]]
    assert [c["new"] for e in entries[:60] for c in e["changes"] if c["field"] == "note"] == [
        f"note {i}" for i in reversed(range(60))]
    assert [e["user"] for e in entries[:4]] == ["alice", None, "alice", None]
