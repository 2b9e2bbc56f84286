"""Capture jobs: state machine, atomic claim, retries, sweeping, the capture command, the admin."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone

from archive import jobs
from archive.errors import ForbiddenAddress, InvalidURL
from archive.models import CaptureJob, Snapshot, WarcFile
from tests.helpers import ELESPANOL_SHORT_URL, WATAN_URL

pytestmark = pytest.mark.django_db


@pytest.fixture
def via_proxy(corpus_proxy):
    corpus_proxy.reset()
    with override_settings(NAQL_CAPTURE_PROXY=corpus_proxy.proxy_url):
        yield corpus_proxy


def test_job_moves_pending_running_succeeded_and_records_progress(via_proxy):
    job = jobs.submit(WATAN_URL, enqueue=False)
    assert job.state == CaptureJob.State.PENDING
    job = jobs.run_job(job.pk)
    assert job.state == CaptureJob.State.SUCCEEDED and job.attempts == 1
    assert job.snapshot.url == WATAN_URL and job.started_at <= job.finished_at
    # commit first, derive later: archived (bytes and index committed), then analysed (text)
    assert [p["step"] for p in job.progress] == ["fetched", "written", "archived", "analysed"]
    job.refresh_from_db()
    assert [p["step"] for p in job.progress] == ["fetched", "written", "archived", "analysed"]


def test_claim_is_atomic_only_one_worker_wins(via_proxy):
    job = jobs.submit(WATAN_URL, enqueue=False)
    a = CaptureJob.objects.get(pk=job.pk)
    b = CaptureJob.objects.get(pk=job.pk)
    assert a.claim() is True
    assert b.claim() is False


def test_permanent_failure_is_not_retried_and_keeps_a_structured_error(via_proxy):
    job = jobs.submit("http://lab.naql.test/loop-a", enqueue=False)
    job = jobs.run_job(job.pk)
    assert job.state == CaptureJob.State.FAILED and job.attempts == 1
    assert job.error["code"] == "redirect_loop" and job.error["permanent"] is True
    assert "redirect loop" in job.error["message"]


def test_transient_failure_goes_back_to_pending_with_backoff_then_fails_after_max_attempts(via_proxy):
    job = jobs.submit("http://unknown-host.naql.test/", enqueue=False)
    job = jobs.run_job(job.pk)
    assert job.state == CaptureJob.State.PENDING and job.error["code"] == "dns_failure"
    assert job.not_before > timezone.now() + timedelta(seconds=20)
    for _ in range(job.max_attempts - 1):
        job = jobs.run_job(job.pk)
    assert job.state == CaptureJob.State.FAILED and job.attempts == job.max_attempts


def test_stale_running_job_is_swept_back_to_pending(via_proxy):
    job = jobs.submit(WATAN_URL, enqueue=False)
    assert job.claim()
    CaptureJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(hours=2))
    assert CaptureJob.sweep_stale() == 1
    job.refresh_from_db()
    assert job.state == CaptureJob.State.PENDING and job.error["code"] == "worker_lost"


@pytest.mark.parametrize("url", ["not a url", "http://", "ftp://example.org/x", "http://10.0.0.1/"])
def test_submit_refuses_bad_urls_and_creates_no_job(url):
    with pytest.raises((InvalidURL, ForbiddenAddress, Exception)) as info:
        jobs.submit(url, enqueue=False)
    assert getattr(info.value, "code", None) in {"invalid_url", "unsupported_scheme", "forbidden_address"}
    assert CaptureJob.objects.count() == 0


def test_capture_command_prints_json_per_url(via_proxy, capsys):
    call_command("capture", WATAN_URL, ELESPANOL_SHORT_URL, "--json", "--no-requisites")
    lines = [json.loads(x) for x in capsys.readouterr().out.strip().splitlines()]
    assert [x["ok"] for x in lines] == [True, True]
    assert lines[1]["status"] == 200 and lines[1]["final_url"].endswith("marruecos/")
    snap = Snapshot.objects.get(guid=lines[0]["snapshot"])
    assert lines[0]["record_sha256"] == snap.record_sha256
    assert lines[0]["warc_sha256"] == snap.warc_file.sha256


def test_capture_command_exits_non_zero_with_the_reason(via_proxy, capsys):
    with pytest.raises(CommandError, match="1 of 2"):
        call_command("capture", WATAN_URL, "http://169.254.169.254/latest/", "--no-requisites")
    assert "forbidden_address" in capsys.readouterr().err


def test_admin_capture_returns_at_once_with_a_pending_job(via_proxy, admin_client,
                                                         django_capture_on_commit_callbacks):
    from unittest import mock

    with mock.patch("archive.jobs.enqueue_job") as enqueue:
        with django_capture_on_commit_callbacks(execute=True):
            resp = admin_client.post("/admin/archive/capturejob/capture/", {"url": WATAN_URL, "requisites": "on"})
    assert resp.status_code == 302
    job = CaptureJob.objects.get()
    assert job.state == CaptureJob.State.PENDING and WarcFile.objects.count() == 0
    assert enqueue.call_count == 1
    page = admin_client.get(resp["Location"])
    assert page.status_code == 200 and b"State: <strong>pending</strong>" in page.content
    assert b'http-equiv="refresh"' in page.content  # the page follows the job until it is done
    jobs.run_job(job.pk)
    page = admin_client.get(resp["Location"])
    assert b"State: <strong>succeeded</strong>" in page.content and b'http-equiv="refresh"' not in page.content


def test_admin_capture_form_shows_the_guard_error(admin_client):
    resp = admin_client.post("/admin/archive/capturejob/capture/", {"url": "http://127.0.0.1:8000/admin/"})
    assert resp.status_code == 200 and b"refusing to connect to 127.0.0.1" in resp.content
    assert CaptureJob.objects.count() == 0


def test_snapshots_are_read_only_in_admin_and_withdrawal_is_recorded(via_proxy, admin_client, admin_user):
    snap = jobs.run_job(jobs.submit(WATAN_URL, enqueue=False, requisites=False).pk).snapshot
    assert admin_client.get(f"/admin/archive/snapshot/{snap.pk}/delete/").status_code == 403
    resp = admin_client.post("/admin/archive/snapshot/", {"action": "withdraw_selected", "_selected_action": [snap.pk],
                                                           "apply": "1", "reason": "court order 12/2026"})
    assert resp.status_code == 302
    snap.refresh_from_db()
    assert snap.withdrawn_at and snap.withdrawn_by == admin_user and snap.withdrawn_reason == "court order 12/2026"
    assert snap.withdrawals.get().user == admin_user
    assert Snapshot.objects.filter(pk=snap.pk).exists()  # the row and its bytes remain
    assert not Snapshot.objects.live().filter(pk=snap.pk).exists()


def _admin_rows(n: int, user, start: int = 0) -> None:
    from django.contrib.auth.models import Group

    from archive.models import Watch

    wf = WarcFile.objects.create(name=f"rows-batch-{start}.warc.gz", size=1, sha256="0" * 64)
    for i in range(start, start + n):
        snap = Snapshot.objects.create(
            url=f"http://rows.test/{i}", captured_at=timezone.now(), status=200, payload_sha256="0",
            record_id=f"<urn:uuid:{i}>", record_sha256="0", warc_file=wf, offset=0, length=1, owner=user,
            private_to_group=Group.objects.create(name=f"rows-{i}"), text="long article text " * 50)
        watch = Watch.objects.create(url=snap.url, created_by=user)
        CaptureJob.objects.create(url=snap.url, snapshot=snap, created_by=user, watch=watch)
        WarcFile.objects.create(name=f"rows-{i}.warc.gz", size=1, sha256="0" * 64)
        snap.withdraw(user=user, reason="test")


@pytest.mark.parametrize("model", ["snapshot", "capturejob", "warcfile", "watch", "withdrawallog"])
def test_admin_changelist_queries_do_not_grow_with_rows(model, admin_client, admin_user):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    url = f"/admin/archive/{model}/" + ("?withdrawn_at__isempty=0" if model == "snapshot" else "")

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert admin_client.get(url).status_code == 200
        return len(ctx.captured_queries)

    _admin_rows(2, admin_user)
    few = count()
    _admin_rows(20, admin_user, start=2)
    assert count() == few


def test_attempt_that_indexed_its_capture_but_died_before_succeeding_is_not_captured_again(via_proxy):
    # e.g. the database connection cut between the index transaction and job.succeed()
    job = jobs.submit(WATAN_URL, enqueue=False)
    from archive.capture.capture import capture

    job.claim()
    result = capture(job.url, job=job, requisites=False)  # indexed, linked to the job ...
    job.refresh_from_db()
    assert job.state == CaptureJob.State.RUNNING  # ... and the worker died here
    CaptureJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(days=1))
    assert CaptureJob.sweep_stale() == 1
    requests_before = len(via_proxy.requests)
    job = jobs.run_job(job.pk)
    assert job.state == CaptureJob.State.SUCCEEDED and job.snapshot == result.snapshot
    assert Snapshot.objects.filter(url=WATAN_URL).count() == 1 and WarcFile.objects.count() == 1
    assert len(via_proxy.requests) == requests_before  # nothing fetched again


def test_an_unreachable_warc_store_delays_a_job_without_using_up_its_attempts(via_proxy, monkeypatch):
    from archive.errors import StorageUnavailable

    def down(*args, **kwargs):
        raise StorageUnavailable("the object store is unreachable")

    monkeypatch.setattr("archive.capture.capture.WarcBuilder.publish", down)
    job = jobs.submit(WATAN_URL, enqueue=False)
    for _ in range(job.max_attempts + 2):
        CaptureJob.objects.filter(pk=job.pk).update(not_before=timezone.now())
        job = jobs.run_job(job.pk)
        assert job.state == CaptureJob.State.PENDING and job.attempts == 0
        assert job.error["code"] == "storage_unavailable" and job.not_before > timezone.now()
    monkeypatch.undo()
    CaptureJob.objects.filter(pk=job.pk).update(not_before=timezone.now())
    job = jobs.run_job(job.pk)
    assert job.state == CaptureJob.State.SUCCEEDED and job.attempts == 1
