"""Capture jobs over the API: submit one URL or a batch, poll progress, structured errors,
idempotency, batch limits, hostile URLs refused with nothing written, per-user visibility."""

from __future__ import annotations

from unittest import mock

import pytest
from django.test import override_settings

from archive.models import CaptureJob, Snapshot
from tests.api_support import *  # noqa: F403 (fixtures)
from tests.api_support import error_of, token_client
from tests.helpers import ELESPANOL_SHORT_URL, WATAN_URL

pytestmark = pytest.mark.django_db

HOSTILE = [
    "http://169.254.169.254/latest/meta-data/",
    "http://127.0.0.1:8000/admin/",
    "http://[::1]/",
    "http://0x7f000001/",
    "http://localhost/",
    "file:///etc/passwd",
    "gopher://example.org/",
    "http://user:pw@example.org/",
    "javascript:alert(1)",
    "not a url",
]


@pytest.fixture
def via_proxy(corpus_proxy):
    corpus_proxy.reset()
    with override_settings(NAQL_CAPTURE_PROXY=corpus_proxy.proxy_url, CELERY_TASK_ALWAYS_EAGER=True):
        yield corpus_proxy


def test_capture_one_url_runs_the_job_and_reports_progress_and_snapshot(alice, via_proxy,
                                                                       django_capture_on_commit_callbacks):
    c = token_client(alice[1])
    with django_capture_on_commit_callbacks(execute=True):
        r = c.post("/api/capture-jobs/", {"url": WATAN_URL, "requisites": False}, format="json")
    assert r.status_code == 201, r.content
    (job,) = r.json()["jobs"]
    assert r["Location"] == f"/api/capture-jobs/{job['id']}/"
    assert job["state"] == "pending" and job["created_by"] == "alice" and job["requisites"] is False
    got = c.get(f"/api/capture-jobs/{job['id']}/").json()
    assert got["state"] == "succeeded" and got["attempts"] == 1 and got["error"] is None
    assert [p["step"] for p in got["progress"]] == ["fetched", "written", "archived", "analysed"]
    snap = Snapshot.objects.get(guid=got["final_snapshot"])
    assert snap.url == WATAN_URL and got["links"]["snapshot"].endswith(f"/s/{snap.guid}")
    # the ID is canonicalised on lookup
    assert c.get(f"/api/capture-jobs/{job['id'].lower().replace('-', '')}/").json()["id"] == job["id"]


def test_failed_job_shows_the_structured_error(alice, via_proxy, django_capture_on_commit_callbacks):
    c = token_client(alice[1])
    with django_capture_on_commit_callbacks(execute=True):
        r = c.post("/api/capture-jobs/", {"url": "http://lab.naql.test/loop-a", "requisites": False}, format="json")
    job = c.get(f"/api/capture-jobs/{r.json()['jobs'][0]['id']}/").json()
    assert job["state"] == "failed"
    assert job["error"]["code"] == "redirect_loop" and job["error"]["permanent"] is True
    assert job["error"]["message"] and isinstance(job["error"]["details"], dict)


def test_batch_makes_one_job_per_url_in_order(alice):
    urls = [WATAN_URL, ELESPANOL_SHORT_URL, "https://example.org/a"]
    with mock.patch("archive.jobs.enqueue_job"):
        r = token_client(alice[1]).post("/api/capture-jobs/", {"urls": urls}, format="json")
    assert r.status_code == 201
    assert [j["url"] for j in r.json()["jobs"]] == urls
    assert CaptureJob.objects.count() == 3


@pytest.mark.parametrize("url", HOSTILE)
def test_hostile_or_invalid_url_is_400_with_a_clear_message_and_nothing_written(alice, url):
    r = token_client(alice[1]).post("/api/capture-jobs/", {"url": url}, format="json")
    assert r.status_code == 400, r.content
    err = error_of(r)
    assert err["code"] in {"forbidden_address", "invalid_url", "unsupported_scheme"}
    assert len(err["message"]) > 10
    assert CaptureJob.objects.count() == 0


def test_metadata_address_message_names_the_reason(alice):
    r = token_client(alice[1]).post("/api/capture-jobs/", {"url": "http://169.254.169.254/"}, format="json")
    assert "169.254.169.254" in error_of(r)["message"] and "link-local" in error_of(r)["message"]


def test_one_hostile_url_in_a_batch_refuses_the_whole_batch(alice):
    urls = [WATAN_URL, "http://169.254.169.254/", ELESPANOL_SHORT_URL, "ftp://example.org/"]
    with mock.patch("archive.jobs.enqueue_job") as enqueue:
        r = token_client(alice[1]).post("/api/capture-jobs/", {"urls": urls}, format="json")
    assert r.status_code == 400
    err = error_of(r)
    assert err["code"] == "invalid_urls"
    assert set(err["details"]["urls"]) == {"1", "3"}
    assert err["details"]["urls"]["1"]["code"] == "forbidden_address"
    assert CaptureJob.objects.count() == 0 and enqueue.call_count == 0


@override_settings(NAQL_API_MAX_BATCH=5)
def test_oversized_batch_is_400(alice):
    r = token_client(alice[1]).post("/api/capture-jobs/", {"urls": [f"http://e.example/{i}" for i in range(6)]},
                                    format="json")
    assert r.status_code == 400 and "At most 5" in error_of(r)["message"]
    assert CaptureJob.objects.count() == 0


def test_default_batch_limit_is_100(alice):
    r = token_client(alice[1]).post("/api/capture-jobs/", {"urls": [f"http://e.example/{i}" for i in range(101)]},
                                    format="json")
    assert r.status_code == 400 and "At most 100" in error_of(r)["message"]


@pytest.mark.parametrize("body", [
    {"url": 123}, {"url": ["http://a.example/"]}, {"urls": "http://a.example/"}, {"urls": [1, 2]}, {"urls": []},
    {"url": "http://a.example/", "requisites": "perhaps"}, {}, {"url": "http://a.example/", "urls": ["http://b/"]},
    {"url": "http://a.example/", "priority": 1}, {"url": "http://a.example/", "state": "succeeded"},
    {"url": "http://a.example/" + "a" * 5000}, [], "http://a.example/",
])
def test_bad_capture_body_is_400_and_writes_nothing(alice, body):
    r = token_client(alice[1]).post("/api/capture-jobs/", body, format="json")
    assert r.status_code == 400, (body, r.content)
    error_of(r)
    assert CaptureJob.objects.count() == 0


def test_unknown_field_is_named_in_the_error(alice):
    r = token_client(alice[1]).post("/api/capture-jobs/", {"url": "http://a.example/", "requisite": False},
                                    format="json")
    assert error_of(r)["details"] == {"requisite": ["Unknown field."]}


def test_same_idempotency_key_returns_the_same_job_with_200(alice, django_capture_on_commit_callbacks):
    c = token_client(alice[1])
    with mock.patch("archive.jobs.enqueue_job") as enqueue, django_capture_on_commit_callbacks(execute=True):
        r1 = c.post("/api/capture-jobs/", {"url": WATAN_URL}, format="json", HTTP_IDEMPOTENCY_KEY="sheet-row-7")
        r2 = c.post("/api/capture-jobs/", {"url": WATAN_URL}, format="json", HTTP_IDEMPOTENCY_KEY="sheet-row-7")
    assert (r1.status_code, r2.status_code) == (201, 200)
    assert r1.json()["jobs"][0]["id"] == r2.json()["jobs"][0]["id"]
    assert CaptureJob.objects.count() == 1 and enqueue.call_count == 1


def test_idempotency_key_is_per_user(alice, bob):
    with mock.patch("archive.jobs.enqueue_job"):
        a = token_client(alice[1]).post("/api/capture-jobs/", {"url": WATAN_URL}, format="json",
                                        HTTP_IDEMPOTENCY_KEY="k1")
        b = token_client(bob[1]).post("/api/capture-jobs/", {"url": WATAN_URL}, format="json",
                                      HTTP_IDEMPOTENCY_KEY="k1")
    assert (a.status_code, b.status_code) == (201, 201)
    assert a.json()["jobs"][0]["id"] != b.json()["jobs"][0]["id"]


def test_idempotent_batch_returns_the_same_jobs(alice):
    c = token_client(alice[1])
    body = {"urls": [WATAN_URL, ELESPANOL_SHORT_URL]}
    with mock.patch("archive.jobs.enqueue_job"):
        r1 = c.post("/api/capture-jobs/", body, format="json", HTTP_IDEMPOTENCY_KEY="batch-1")
        r2 = c.post("/api/capture-jobs/", body, format="json", HTTP_IDEMPOTENCY_KEY="batch-1")
    assert (r1.status_code, r2.status_code) == (201, 200)
    assert [j["id"] for j in r1.json()["jobs"]] == [j["id"] for j in r2.json()["jobs"]]


def test_reusing_an_idempotency_key_for_another_url_is_422(alice):
    c = token_client(alice[1])
    with mock.patch("archive.jobs.enqueue_job"):
        c.post("/api/capture-jobs/", {"url": WATAN_URL}, format="json", HTTP_IDEMPOTENCY_KEY="k")
        r = c.post("/api/capture-jobs/", {"url": ELESPANOL_SHORT_URL}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert r.status_code == 422 and error_of(r)["code"] == "idempotency_mismatch"
    assert CaptureJob.objects.count() == 1


def test_overlong_idempotency_key_is_400(alice):
    r = token_client(alice[1]).post("/api/capture-jobs/", {"url": WATAN_URL}, format="json",
                                    HTTP_IDEMPOTENCY_KEY="k" * 151)
    assert r.status_code == 400 and CaptureJob.objects.count() == 0


def test_jobs_are_visible_to_their_owner_and_superusers_only(alice, bob, root, api):
    with mock.patch("archive.jobs.enqueue_job"):
        job = token_client(alice[1]).post("/api/capture-jobs/", {"url": WATAN_URL}, format="json").json()["jobs"][0]
    assert token_client(alice[1]).get("/api/capture-jobs/").json()["count"] == 1
    assert token_client(bob[1]).get("/api/capture-jobs/").json()["count"] == 0
    r = token_client(bob[1]).get(f"/api/capture-jobs/{job['id']}/")
    assert r.status_code == 404 and error_of(r)["code"] == "not_found"
    assert token_client(root[1]).get(f"/api/capture-jobs/{job['id']}/").status_code == 200
    assert api.get(f"/api/capture-jobs/{job['id']}/").status_code == 401


def test_job_list_filters_by_state(alice):
    with mock.patch("archive.jobs.enqueue_job"):
        token_client(alice[1]).post("/api/capture-jobs/", {"urls": [WATAN_URL, ELESPANOL_SHORT_URL]}, format="json")
    CaptureJob.objects.filter(url=WATAN_URL).update(state="failed")
    c = token_client(alice[1])
    assert [j["url"] for j in c.get("/api/capture-jobs/?state=failed").json()["results"]] == [WATAN_URL]
    for bad in ("state=exploded", "state=", "created_after=yesterday"):
        r = c.get(f"/api/capture-jobs/?{bad}")
        assert r.status_code == 400 and error_of(r)["code"] == "invalid", bad


def test_jobs_cannot_be_edited_or_deleted(alice):
    with mock.patch("archive.jobs.enqueue_job"):
        job = token_client(alice[1]).post("/api/capture-jobs/", {"url": WATAN_URL}, format="json").json()["jobs"][0]
    c = token_client(alice[1])
    assert c.delete(f"/api/capture-jobs/{job['id']}/").status_code == 405
    assert c.patch(f"/api/capture-jobs/{job['id']}/", {"state": "succeeded"}, format="json").status_code == 405
