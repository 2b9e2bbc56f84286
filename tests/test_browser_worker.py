"""Browser jobs on real Celery workers (issue 15): a worker without Chromium leaves them queued,
one with Chromium runs them. Embedded default (filesystem broker) and service mode (Redis) alike."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from archive.capture.browser import browser_missing_reason
from archive.jobs import submit
from archive.models import CaptureJob
from tests.helpers import subprocess_env

ROOT = Path(__file__).resolve().parent.parent
POST_URL = "http://social.example.org/saltmere_port/status/90417"
PROBE_URL = "http://probe.example.org/reports/outage"


def _worker(env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "naql", "worker", "--pool=solo", "--loglevel=INFO",
         "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", f"test-{time.time_ns()}@%h"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def _stop(worker: subprocess.Popen) -> str:
    worker.send_signal(signal.SIGTERM)
    try:
        out, _ = worker.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        worker.kill()
        out, _ = worker.communicate()
    return out


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.celery_worker
@pytest.mark.browser
@pytest.mark.skipif(browser_missing_reason() is not None, reason=browser_missing_reason() or "")
@pytest.mark.django_db(transaction=True)
def test_browser_jobs_wait_for_a_worker_with_chromium(corpus_proxy):
    corpus_proxy.reset()
    env = dict(NAQL_CAPTURE_PROXY=corpus_proxy.proxy_url, NAQL_CAPTURE_PROXY_LOCAL_DNS="false",
               NAQL_CAPTURE_BROWSER_DOMAINS="", NAQL_BROWSER_SETTLE_MAX="3")
    browser_job = submit(POST_URL, mode="browser")
    raw_job = submit(PROBE_URL, mode="raw")
    plain = _worker(subprocess_env(NAQL_BROWSER_EXECUTABLE="/nonexistent/chromium", **env))
    try:
        _wait(lambda: CaptureJob.objects.get(pk=raw_job.pk).state == CaptureJob.State.SUCCEEDED, 90,
              "the worker without Chromium to run the raw job")
        time.sleep(2)  # time enough to have taken the browser job, had it consumed its queue
    finally:
        out = _stop(plain)
    assert "does not take browser capture jobs" in out and "Chromium is not installed" in out, out[-3000:]
    job = CaptureJob.objects.get(pk=browser_job.pk)
    assert job.state == CaptureJob.State.PENDING and job.attempts == 0

    with_chromium = _worker(subprocess_env(**env))
    try:
        _wait(lambda: CaptureJob.objects.get(pk=browser_job.pk).state == CaptureJob.State.SUCCEEDED, 120,
              "the worker with Chromium to run the browser job still queued")
    finally:
        out = _stop(with_chromium)
    job.refresh_from_db()
    final = job.snapshot.final or job.snapshot
    assert final.capture_mode == "browser" and "eastern breakwater will close" in final.main_text
    assert final.resource_record("screenshot") is not None
