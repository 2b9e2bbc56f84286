"""Derived work has a queue of its own (issue 18): a capture's text analysis and its provenance
follow-up go to ``NAQL_DERIVED_QUEUE``, so capture workers (``-Q celery``) never wait behind them,
and a worker started without ``-Q`` (the one ``manage.py run`` starts) still does everything.
Real Celery workers on the filesystem broker (embedded default) or Redis (service mode)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from celery import current_app
from django.conf import settings

from archive.management.commands.run import worker_argv
from archive.models import CaptureJob, Snapshot
from provenance.models import DocumentIndex
from tests.api_support import *  # noqa: F403 (fixtures)
from tests.api_support import token_client
from tests.helpers import ELESPANOL_URL, WATAN_URL, start_worker, stop_worker, subprocess_env, wait_until

ROOT = Path(__file__).resolve().parent.parent


def _queued(queue: str) -> int:
    """Messages waiting in a broker queue (the filesystem broker or Redis alike)."""
    with current_app.connection_for_write() as conn:
        return conn.default_channel.queue_declare(queue=queue, passive=False, durable=True,
                                                  auto_delete=False).message_count


def _submit(client, *urls: str) -> list[CaptureJob]:
    r = client.post("/api/capture-jobs/", {"urls": list(urls), "requisites": False}, format="json")
    assert r.status_code == 201, r.content
    return [CaptureJob.objects.get(guid=j["id"]) for j in r.json()["jobs"]]


def _succeeded(jobs) -> bool:
    return all(CaptureJob.objects.get(pk=j.pk).state == CaptureJob.State.SUCCEEDED for j in jobs)


def test_derived_tasks_are_routed_to_the_derived_queue_and_captures_are_not():
    route = current_app.amqp.router.route
    assert settings.NAQL_DERIVED_QUEUE == "derived"
    for name in ("archive.tasks.analyse_snapshot", "provenance.tasks.after_capture", "archive.tasks.analyse_imported",
                 "archive.tasks.analyse_snapshots", "provenance.tasks.after_capture_many"):
        assert route({}, name)["queue"].name == "derived", name
    for name in ("archive.tasks.run_capture_job", "archive.tasks.sweep_stale_jobs", "provenance.trace_tasks.run_trace_task"):
        assert route({}, name)["queue"].name == "celery", name
    # a worker without -Q consumes every declared queue
    assert {"celery", "derived", "browser"} <= set(current_app.amqp.queues)


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_capture_workers_finish_captures_while_derived_work_waits_for_its_own_workers(corpus_proxy, alice):
    corpus_proxy.reset()
    env = subprocess_env(NAQL_CAPTURE_PROXY=corpus_proxy.proxy_url, NAQL_CAPTURE_PROXY_LOCAL_DNS="false")
    derived_before = _queued("derived")
    capture_only = start_worker(env, "-Q", "celery", name="dq")
    try:
        jobs = _submit(token_client(alice[1]), WATAN_URL, ELESPANOL_URL)
        wait_until(lambda: _succeeded(jobs), 120, "the capture-only worker to finish both captures")
        time.sleep(3)  # time enough to have taken derived work, had it consumed that queue
    finally:
        out = stop_worker(capture_only)
    # task names as the worker logs a received message (the banner lists every registered task)
    assert "run_capture_job[" in out and "analyse_snapshot[" not in out and "after_capture[" not in out, out[-3000:]
    snaps = [CaptureJob.objects.get(pk=j.pk).snapshot for j in jobs]
    assert all(s.analysis_pending for s in snaps), "the analysis waits on the derived queue"
    assert not DocumentIndex.objects.exists(), "the provenance follow-up waits on the derived queue"
    # each capture queued its analysis and its follow-up there, and nothing is left on the capture queue
    assert _queued("derived") - derived_before >= 2 * len(jobs)
    assert _queued("celery") == 0

    derived_only = start_worker(env, "-Q", "derived", name="dq")
    try:
        wait_until(lambda: not Snapshot.objects.filter(pk__in=[s.pk for s in snaps], analysis_pending=True).exists()
              and DocumentIndex.objects.count() == len(snaps), 180,
              "the derived-only worker to analyse both pages and run their follow-ups")
    finally:
        out = stop_worker(derived_only)
    assert "analyse_snapshot[" in out and "after_capture[" in out and "run_capture_job[" not in out, out[-3000:]
    assert all(Snapshot.objects.get(pk=s.pk).title for s in snaps)


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_the_worker_run_starts_does_capture_analysis_and_follow_up_alone(corpus_proxy, alice):
    """The embedded default's single worker (the argv ``manage.py run`` uses, beat included)."""
    corpus_proxy.reset()
    env = subprocess_env(NAQL_CAPTURE_PROXY=corpus_proxy.proxy_url, NAQL_CAPTURE_PROXY_LOCAL_DNS="false")
    worker = start_worker(env, name="dq", argv=worker_argv())
    try:
        (job,) = _submit(token_client(alice[1]), WATAN_URL)
        wait_until(lambda: _succeeded([job]), 120, "the worker to capture")
        job.refresh_from_db()
        wait_until(lambda: not Snapshot.objects.get(pk=job.snapshot_id).analysis_pending
              and DocumentIndex.objects.filter(snapshot_id=job.snapshot_id).exists(), 120,
              "the same worker to analyse the page and run its follow-up")
    finally:
        out = stop_worker(worker)
    banner = out[: out.find("[tasks]")] if "[tasks]" in out else out
    assert ".> celery" in banner and ".> derived" in banner, banner[-2000:]
    assert "run_capture_job[" in out and "analyse_snapshot[" in out and "after_capture[" in out, out[-3000:]
