"""Real processes: a Celery worker picks up jobs queued by the admin; killed captures leave a
consistent store."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.test import override_settings

from archive.capture.capture import capture
from archive.models import CaptureJob, Snapshot, WarcFile
from archive.store.fixity import orphan_files
from tests.helpers import WATAN_URL, published_warcs, start_worker, stop_worker, subprocess_env, wait_until

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_capture_job_queued_from_admin_runs_on_a_real_celery_worker(corpus_proxy, admin_client):
    """Embedded default: filesystem broker; service mode: Redis. Same code path either way."""
    corpus_proxy.reset()
    env = subprocess_env(NAQL_CAPTURE_PROXY=corpus_proxy.proxy_url, NAQL_CAPTURE_PROXY_LOCAL_DNS="false")
    worker = start_worker(env, name="test")
    try:
        t0 = time.monotonic()
        resp = admin_client.post("/admin/archive/capturejob/capture/", {"url": WATAN_URL, "requisites": "on"})
        assert resp.status_code == 302 and time.monotonic() - t0 < 5
        job = CaptureJob.objects.get()
        assert job.state in (CaptureJob.State.PENDING, CaptureJob.State.RUNNING)
        wait_until(lambda: CaptureJob.objects.get(pk=job.pk).state == CaptureJob.State.SUCCEEDED, 90,
              "the worker to finish the job")
        job.refresh_from_db()
        assert job.snapshot.status == 200
        # commit first, derive later: the same worker then runs the analysis task it queued
        wait_until(lambda: not Snapshot.objects.get(pk=job.snapshot_id).analysis_pending, 90,
              "the worker to analyse the page")
        job.refresh_from_db()
        assert job.snapshot.title
        assert [p["step"] for p in job.progress][-2:] == ["archived", "analysed"]
        assert job.snapshot.requisites.count() >= 2
    finally:
        out = stop_worker(worker)
    assert "run_capture_job" in out, out[-3000:]


@pytest.mark.django_db(transaction=True)
def test_capture_killed_mid_fetch_leaves_no_file_and_no_snapshot(corpus_proxy):
    corpus_proxy.reset()
    env = subprocess_env(NAQL_CAPTURE_PROXY=corpus_proxy.proxy_url, NAQL_CAPTURE_PROXY_LOCAL_DNS="false")
    before = set(published_warcs())
    parts_before = set(Path(settings.NAQL_TMP_DIR).glob("*.part"))
    proc = subprocess.Popen([sys.executable, "manage.py", "capture", "http://lab.naql.test/slow-drip"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: any("slow-drip" in r.url for r in corpus_proxy.requests), 30, "the fetch to start")
        time.sleep(1.0)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert set(published_warcs()) == before
    assert set(Path(settings.NAQL_TMP_DIR).glob("*.part")) == parts_before  # no temporary WARC left either
    assert WarcFile.objects.count() == 0 and Snapshot.objects.count() == 0
    job = CaptureJob.objects.get()
    assert job.state == CaptureJob.State.RUNNING  # the killed process's claim; the sweeper settles it
    CaptureJob.objects.filter(pk=job.pk).update(heartbeat_at=job.heartbeat_at - settings.NAQL_JOB_STALE_AFTER * 2)
    assert CaptureJob.sweep_stale() == 1
    job.refresh_from_db()
    # the capture command allows one attempt, so the lost run ends as a clear failure, not "running"
    assert job.state == CaptureJob.State.FAILED and job.error["code"] == "worker_lost"


@pytest.mark.django_db
def test_crash_between_publish_and_index_leaves_a_valid_orphan_not_a_dangling_row(corpus_proxy, monkeypatch):
    corpus_proxy.reset()

    def boom(*args, **kwargs):
        raise RuntimeError("power cut")

    monkeypatch.setattr("archive.capture.capture._index", boom)
    before = set(orphan_files())
    with override_settings(NAQL_CAPTURE_PROXY=corpus_proxy.proxy_url):
        with pytest.raises(RuntimeError):
            capture(WATAN_URL, requisites=False)
    assert Snapshot.objects.count() == 0
    orphans = sorted(set(orphan_files()) - before)
    assert len(orphans) == 1
    from archive.store.ingest import import_file
    from tests.helpers import warc_path

    recovered = import_file(warc_path(orphans[0])).snapshots
    assert [s.url for s in recovered] == [WATAN_URL]
