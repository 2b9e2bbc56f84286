"""Browser jobs on real Celery workers (issue 15): a worker without Chromium leaves them queued,
one with Chromium runs them. Embedded default (filesystem broker) and service mode (Redis) alike."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from archive.capture.browser import browser_missing_reason
from archive.jobs import submit
from archive.models import CaptureJob
from tests.helpers import start_worker, stop_worker, subprocess_env, wait_until

ROOT = Path(__file__).resolve().parent.parent
POST_URL = "http://social.example.org/saltmere_port/status/90417"
PROBE_URL = "http://probe.example.org/reports/outage"


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
    plain = start_worker(subprocess_env(NAQL_BROWSER_EXECUTABLE="/nonexistent/chromium", **env))
    try:
        wait_until(lambda: CaptureJob.objects.get(pk=raw_job.pk).state == CaptureJob.State.SUCCEEDED, 90,
              "the worker without Chromium to run the raw job")
        time.sleep(2)  # time enough to have taken the browser job, had it consumed its queue
    finally:
        out = stop_worker(plain)
    assert "does not take browser capture jobs" in out and "Chromium is not installed" in out, out[-3000:]
    job = CaptureJob.objects.get(pk=browser_job.pk)
    assert job.state == CaptureJob.State.PENDING and job.attempts == 0

    with_chromium = start_worker(subprocess_env(**env))
    try:
        wait_until(lambda: CaptureJob.objects.get(pk=browser_job.pk).state == CaptureJob.State.SUCCEEDED, 120,
              "the worker with Chromium to run the browser job still queued")
    finally:
        out = stop_worker(with_chromium)
    job.refresh_from_db()
    final = job.snapshot.final or job.snapshot
    assert final.capture_mode == "browser" and "eastern breakwater will close" in final.main_text
    assert final.resource_record("screenshot") is not None
