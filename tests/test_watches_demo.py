"""Watches (recapture on a back-off schedule, recording changes) and the demo loader."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from archive import jobs
from archive.models import CaptureJob, Snapshot, Watch
from archive.watches import run_due_watches
from tests.helpers import WATAN_URL

pytestmark = pytest.mark.django_db


def test_watch_schedule_backs_off_from_hourly_to_daily_to_weekly():
    w = Watch.objects.create(url=WATAN_URL)
    t0 = w.created_at
    assert w.interval(t0 + timedelta(hours=1)) == timedelta(hours=1)
    assert w.interval(t0 + timedelta(hours=10)) == timedelta(hours=3)
    assert w.interval(t0 + timedelta(days=3)) == timedelta(hours=24)
    assert w.interval(t0 + timedelta(days=30)) == timedelta(days=7)
    w.schedule = [[0, 2]]
    assert w.interval(t0 + timedelta(days=30)) == timedelta(hours=2)


def test_due_watch_is_recaptured_and_an_edit_is_recorded(corpus_proxy):
    corpus_proxy.reset()
    w = Watch.objects.create(url=WATAN_URL)
    with override_settings(NAQL_CAPTURE_PROXY=corpus_proxy.proxy_url), \
            mock.patch("archive.jobs.enqueue_job") as enqueue:
        assert run_due_watches() == 1
        job = CaptureJob.objects.get(watch=w)
        jobs.run_job(job.pk)
        w.refresh_from_db()
        assert w.change_count == 0 and w.last_captured_at and w.next_capture_at > timezone.now()
        assert run_due_watches() == 0  # not due again yet
        corpus_proxy.set_version(WATAN_URL, 1)
        Watch.objects.filter(pk=w.pk).update(next_capture_at=timezone.now())
        assert run_due_watches() == 1
        jobs.run_job(CaptureJob.objects.filter(watch=w).order_by("-pk").first().pk)
    assert enqueue.call_count == 0  # on_commit never fires inside the test transaction
    w.refresh_from_db()
    assert w.change_count == 1 and w.last_changed_at is not None


def test_a_watch_the_guard_refuses_does_not_stop_the_other_watches(corpus_proxy):
    refused = Watch.objects.create(url="http://127.0.0.1/admin/")  # e.g. allowed once, not any more
    ok = Watch.objects.create(url=WATAN_URL)
    Watch.objects.filter(pk=refused.pk).update(next_capture_at=timezone.now() - timedelta(minutes=5))
    with override_settings(NAQL_CAPTURE_PROXY=corpus_proxy.proxy_url):
        assert run_due_watches() == 1
    assert CaptureJob.objects.filter(watch=ok).count() == 1
    assert not CaptureJob.objects.filter(watch=refused).exists()
    refused.refresh_from_db()
    assert refused.next_capture_at > timezone.now()  # rescheduled, not retried on every beat


def test_unchanged_recapture_is_not_counted_as_a_change(corpus_proxy):
    corpus_proxy.reset()
    w = Watch.objects.create(url=WATAN_URL)
    with override_settings(NAQL_CAPTURE_PROXY=corpus_proxy.proxy_url):
        for _ in range(2):
            Watch.objects.filter(pk=w.pk).update(next_capture_at=timezone.now())
            run_due_watches()
            jobs.run_job(CaptureJob.objects.filter(watch=w).order_by("-pk").first().pk)
    w.refresh_from_db()
    assert w.change_count == 0
    assert Snapshot.objects.for_url(WATAN_URL).filter(record_type="revisit").count() == 1


def test_load_demo_captures_the_chain_with_two_versions_of_the_watan_article(capsys):
    call_command("load_demo", "--no-admin")
    watan = Snapshot.objects.for_url(WATAN_URL).order_by("captured_at")
    assert watan.count() == 2 and watan[0].payload_sha256 != watan[1].payload_sha256
    assert Snapshot.objects.pages().filter(status=200).count() >= 7
    assert Snapshot.objects.filter(status=301).count() == 1 and Snapshot.objects.pages().filter(status=404).count() == 1
