"""Commit first, derive later (issue 19): a capture is done when its bytes and index rows are
committed; its text is extracted afterwards (archive.analysis), and nothing a reader needs
right after the capture waits for that."""

from __future__ import annotations

import pytest
from django.test import override_settings

from archive import jobs
from archive.analysis import analyse
from archive.models import CaptureJob, Snapshot
from archive.signals import snapshot_analysed
from tests.helpers import WATAN_URL, corpus_bytes
from tests.replay_support import URLCONF, V1_AT, capture_at

pytestmark = [pytest.mark.django_db, pytest.mark.urls(URLCONF)]

TITLE_PART = "الأمن السيبراني والاستخبارات"


@pytest.fixture
def deferred(settings):
    settings.NAQL_ANALYSE_INLINE = False  # as in production: the analysis is a queued task


def test_a_snapshot_is_citable_and_replayable_before_its_analysis_has_run(client, clean_proxy, deferred):
    snap = capture_at(clean_proxy, WATAN_URL, V1_AT, requisites=False).final
    assert snap.analysis_pending and snap.title == "" and snap.text == ""
    stored = Snapshot.objects.get(pk=snap.pk)
    assert stored.analysis_pending and stored.text == ""

    page = client.get(f"/s/{snap.guid}")
    html = page.content.decode()
    assert page.status_code == 200 and "analysing…" in html
    assert snap.record_sha256 in html and snap.guid in html  # the evidence and the citable ID
    raw = client.get(f"/web/{snap.timestamp}id_/{snap.url}")
    assert raw.status_code == 200 and raw.content == corpus_bytes("watan/article.v1.html")
    replay = client.get(f"/web/{snap.timestamp}/{snap.url}")
    assert replay.status_code == 200 and TITLE_PART in replay.content.decode()
    api = client.get(f"/api/snapshots/{snap.guid}/")
    assert api.status_code == 200 and api.json()["analysis_pending"] is True

    from archive.tasks import analyse_snapshot

    assert analyse_snapshot(snap.pk) is True  # what the worker runs
    snap.refresh_from_db()
    assert not snap.analysis_pending and TITLE_PART in snap.title and TITLE_PART in snap.text
    assert snap.text_fingerprint
    after = client.get(f"/s/{snap.guid}").content.decode()
    assert "analysing…" not in after and TITLE_PART in after
    assert client.get(f"/api/snapshots/{snap.guid}/").json()["analysis_pending"] is False


def test_the_job_shows_archived_then_analysed(clean_proxy, deferred):
    job = jobs.submit(WATAN_URL, enqueue=False, requisites=False)
    with override_settings(NAQL_CAPTURE_PROXY=clean_proxy.proxy_url):
        job = jobs.run_job(job.pk)
    assert job.state == CaptureJob.State.SUCCEEDED
    assert [p["step"] for p in job.progress] == ["fetched", "written", "archived"]
    snap = job.snapshot.final or job.snapshot
    assert snap.analysis_pending
    analyse(snap)
    job.refresh_from_db()
    assert [p["step"] for p in job.progress] == ["fetched", "written", "archived", "analysed"]


def test_the_provenance_follow_up_extracts_the_text_itself_when_it_runs_first(
        clean_proxy, deferred, django_capture_on_commit_callbacks):
    sent = []

    def receiver(sender, snapshot, **kwargs):
        sent.append(snapshot.pk)

    snapshot_analysed.connect(receiver)
    try:
        snap = capture_at(clean_proxy, WATAN_URL, V1_AT, requisites=False).final
        assert snap.analysis_pending
        from provenance.models import Document
        from provenance.tasks import process_snapshot

        with django_capture_on_commit_callbacks(execute=True):
            summary = process_snapshot(snap.pk)  # an inline follow-up, before any analysis task
        assert "skipped" not in summary
        doc = Document.objects.get(url=snap.url)
        assert TITLE_PART in doc.title
        with django_capture_on_commit_callbacks(execute=True):
            analyse(Snapshot.objects.get(pk=snap.pk))  # the queued task, arriving late: nothing to do
            process_snapshot(snap.pk)
        assert sent == [snap.pk]  # sent once
    finally:
        snapshot_analysed.disconnect(receiver)


def test_media_and_requisites_have_nothing_pending(clean_proxy, deferred):
    result = capture_at(clean_proxy, WATAN_URL, V1_AT, requisites=True)
    assert result.final.analysis_pending
    requisites = [s for s in result.snapshots if s.is_requisite]
    assert requisites and not any(s.analysis_pending for s in requisites)
