"""The researcher's home page, the capture endpoint and the job JSON it polls, the diff chooser's
redirect and the readable-URL filter (the browser tests in tests/e2e drive the same pages)."""

from __future__ import annotations

from unittest import mock

import pytest
from django.contrib.auth import get_user_model

from archive.models import CaptureJob
from archive.templatetags.naql_archive import iri
from tests.helpers import WATAN_URL

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(client):
    user = get_user_model().objects.create_user("alice", "a@example.org", "pw-alice-1", is_staff=True)
    client.force_login(user)
    return user


def test_anonymous_home_offers_a_login_and_no_capture_form(client):
    html = client.get("/").content.decode()
    assert "/admin/login/?next=/" in html and 'id="nq-capture"' not in html
    assert "Signed in as" not in html


def test_signed_in_home_has_a_labelled_capture_form(client, alice):
    html = client.get("/").content.decode()
    assert 'id="nq-capture"' in html and '<label for="id_url">URL to capture</label>' in html
    assert "Documents awaiting review" in html and "Watched URLs" in html


def test_capture_post_queues_a_job_and_its_json_reports_the_state(client, alice, django_capture_on_commit_callbacks):
    with mock.patch("archive.jobs.enqueue_job") as enqueue, django_capture_on_commit_callbacks(execute=True):
        r = client.post("/capture", {"url": WATAN_URL, "requisites": "on"}, HTTP_ACCEPT="application/json")
    assert r.status_code == 202 and enqueue.call_count == 1
    job = r.json()["job"]
    assert job["state"] == "pending" and not job["done"] and r.json()["status_url"] == f"/jobs/{job['id']}.json"
    got = client.get(f"/jobs/{job['id'].lower().replace('-', '')}.json")
    assert got.status_code == 200 and got.json()["id"] == job["id"] and got["Cache-Control"].startswith("max-age=0")
    assert CaptureJob.objects.get(guid=job["id"]).created_by == alice


def test_capture_form_without_script_redirects_to_the_job_on_the_home_page(client, alice):
    with mock.patch("archive.jobs.enqueue_job"):
        r = client.post("/capture", {"url": WATAN_URL})
    guid = CaptureJob.objects.get().guid
    assert r.status_code == 302 and r["Location"] == f"/?job={guid}"
    assert guid in client.get(r["Location"]).content.decode()


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/", "not a url", "file:///etc/passwd"])
def test_refused_urls_answer_400_with_a_message_and_queue_nothing(client, alice, url):
    r = client.post("/capture", {"url": url}, HTTP_ACCEPT="application/json")
    assert r.status_code == 400 and r.json()["error"]["message"]
    assert not CaptureJob.objects.exists()


def test_jobs_are_private_to_their_owner_and_staff(client, alice):
    with mock.patch("archive.jobs.enqueue_job"):
        guid = client.post("/capture", {"url": WATAN_URL}, HTTP_ACCEPT="application/json").json()["job"]["id"]
    bob = get_user_model().objects.create_user("bob", "b@example.org", "pw-bob-1")
    client.force_login(bob)
    assert client.get(f"/jobs/{guid}.json").status_code == 404
    client.logout()
    assert client.get(f"/jobs/{guid}.json").status_code == 403
    assert client.post("/capture", {"url": WATAN_URL}, HTTP_ACCEPT="application/json").status_code == 403


def test_compare_redirects_to_the_diff_of_the_two_chosen_ids(client):
    r = client.get("/s/K7QM-4XR2/compare", {"a": "k7qm4xr2", "b": "M3PQ-RS7T"})
    assert r.status_code == 302 and r["Location"] == "/s/K7QM-4XR2/diff/M3PQ-RS7T"
    assert client.get("/s/K7QM-4XR2/compare", {"a": "K7QM-4XR2", "b": "K7QM-4XR2"})["Location"] == "/s/K7QM-4XR2#versions"


def test_iri_filter_decodes_utf8_escapes_but_keeps_reserved_and_invalid_ones():
    assert iri(WATAN_URL).startswith("http://www.watanserb.com/2021/11/27/الأمن-")
    assert iri("http://x.example/a%2Fb") == "http://x.example/a%2Fb"
    assert iri("http://x.example/%FF") == "http://x.example/%FF"
    assert iri("http://x.example/%E2%80%AEevil") == "http://x.example/%E2%80%AEevil"


def _watched(url: str, n: int, *, private_from: int | None = None) -> list:
    from archive.models import Watch
    from tests.api_support import fake_snapshot

    Watch.objects.create(url=url)
    return [fake_snapshot(url, f"2024-02-0{i + 1}T10:00:00", text_fingerprint=f"fp{i}",
                          group="desk" if private_from is not None and i >= private_from else None)
            for i in range(n)]


def test_watched_urls_show_only_captures_the_reader_may_see(client, alice):
    snaps = _watched("http://news.example/watched", 3, private_from=2)
    html = client.get("/").content.decode()
    assert snaps[2].guid not in html  # private to a group alice is not in
    assert f"/s/{snaps[0].guid}/diff/{snaps[1].guid}" in html and "2 captures" in html
    alice.groups.add(snaps[2].private_to_group)
    html = client.get("/").content.decode()
    assert f"/s/{snaps[1].guid}/diff/{snaps[2].guid}" in html and "3 captures" in html


def test_home_page_queries_do_not_grow_with_recent_snapshots_watches_or_jobs(client, alice, settings):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from archive.web import views

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/").status_code == 200
        return len(ctx)

    for i in range(2):
        snaps = _watched(f"http://news.example/w{i}", 3)
        CaptureJob.objects.create(url=snaps[0].url, created_by=alice, snapshot=snaps[0], state="succeeded")
    few = queries()
    for i in range(2, 14):
        snaps = _watched(f"http://news.example/w{i}", 3)
        CaptureJob.objects.create(url=snaps[0].url, created_by=alice, snapshot=snaps[0], state="succeeded")
    with mock.patch.object(views, "RECENT", 50):
        html = client.get("/").content.decode()
        assert html.count("see the diff") == views.WATCHES and html.count('class="nq-guid"') > 40
        assert queries() == few


def test_job_json_withholds_a_snapshot_once_it_is_withdrawn(client, alice):
    from django.utils import timezone

    from tests.api_support import fake_snapshot

    snap = fake_snapshot(WATAN_URL, "2024-03-01T10:00:00", title="Withdrawn title")
    job = CaptureJob.objects.create(url=WATAN_URL, created_by=alice, snapshot=snap, state="succeeded")
    assert client.get(f"/jobs/{job.guid}.json").json()["snapshot"]["title"] == "Withdrawn title"
    snap.withdrawn_at = timezone.now()
    snap.save(update_fields=["withdrawn_at"])
    body = client.get(f"/jobs/{job.guid}.json").json()
    assert body["state"] == "succeeded" and body["snapshot"] is None
    assert "Withdrawn title" not in client.get(f"/?job={job.guid}").content.decode()
