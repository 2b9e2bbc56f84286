"""Commit first, derive later: the analysis of a captured page.

A capture is done when its bytes are written, fsynced, checksummed and indexed
(:mod:`archive.capture.capture`). What is *derived* from the bytes (charset, visible and article
text, title, byline, dates, language, links, the text fingerprint that tells versions apart)
is computed afterwards, from the stored record, by :func:`analyse`:

* in the ``archive.tasks.analyse_snapshot`` Celery task, queued when the capture commits, or
* right after the commit in the capturing process when ``NAQL_ANALYSE_INLINE`` is true, or
* by any follow-up that needs the text first (provenance's follow-up calls :func:`analyse` at
  its start; it is idempotent and costs one query when the analysis has already run).

Until then ``Snapshot.analysis_pending`` is true: the snapshot is citable (``/s/<ID>``, its
citations fall back to the URL for a title) and replayable, and its page says "analysing…".
When the analysis finishes: the job's progress gains an ``analysed`` step, a watch counts the
change if the text differs, and :data:`archive.signals.snapshot_analysed` is sent once.
"""

from __future__ import annotations

import logging

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from archive.errors import CaptureError
from archive.models import Snapshot
from archive.store.snapshots import (
    apply_extraction,
    decoded_body,
    resource_block,
    share_derived,
    stored_response,
)

log = logging.getLogger(__name__)

#: Fields :func:`archive.store.snapshots.apply_extraction` fills.
DERIVED_FIELDS = ("charset", "title", "byline", "published_at", "modified_at", "language", "canonical_url",
                  "main_text", "text", "text_fingerprint", "extracted")

ANALYSE_TASK = "archive.tasks.analyse_snapshot"  # addressed by name: this module never imports tasks


def analyse(snap: Snapshot) -> Snapshot:
    """Run the pending analysis of ``snap`` (no-op when none is pending) and return it with its
    derived fields filled. Safe to call concurrently: one caller stores the result and sends
    the signal. Raises ``FixityError``/``OSError`` when the stored bytes cannot be read."""
    if not snap.analysis_pending:
        return snap
    fresh = Snapshot.objects.filter(pk=snap.pk).first()
    if fresh is None:
        return snap
    if fresh.analysis_pending and share_derived(fresh):
        values = {f: fresh.__dict__[f] for f in DERIVED_FIELDS}
        _store(snap, fresh, values, text_from_payload=True)
    elif fresh.analysis_pending:
        try:
            body = decoded_body(stored_response(fresh))
        except CaptureError as exc:  # the server sent it corrupt: the bytes stay, nothing to derive
            log.info("analysis of %s: body not decodable (%s)", fresh.guid, exc.message)
            body = b""
        apply_extraction(fresh, body, fresh.content_type)
        if not (fresh.main_text or "").strip() and (dom := resource_block(fresh, "dom")) is not None:
            # a browser capture of a page built by script: its text is in the rendered DOM
            apply_extraction(fresh, dom[1], "text/html; charset=utf-8")
            fresh.extracted = {**(fresh.extracted or {}), "text_source": "rendered_dom"}
        _store(snap, fresh, {f: getattr(fresh, f) for f in DERIVED_FIELDS})
    for f in (*DERIVED_FIELDS, "analysis_pending", "text_from_payload"):
        snap.__dict__[f] = fresh.__dict__[f]
    return snap


def _store(snap: Snapshot, fresh: Snapshot, values: dict, **extra) -> None:
    with transaction.atomic():
        won = Snapshot.objects.filter(pk=fresh.pk, analysis_pending=True).update(analysis_pending=False,
                                                                                **values, **extra)
        if won:  # the caller's instance may hold its job already (capture's own, inline)
            _after_analysis(fresh, snap.job if snap.job_id else None)
    if not won:
        fresh.refresh_from_db()


def _after_analysis(snap: Snapshot, job) -> None:
    from archive.signals import snapshot_analysed

    snap.analysis_pending = False
    if job is not None:
        job.heartbeat("analysed", snapshot=snap.guid, at_seconds_after_capture=round(
            (timezone.now() - snap.captured_at).total_seconds(), 3))
        if job.watch_id:  # the change count compares texts, so it waits for them
            job.watch.record_capture(snap)
    transaction.on_commit(lambda: snapshot_analysed.send(sender=Snapshot, snapshot=snap))


def schedule(snap: Snapshot) -> None:
    """After a capture's commit: analyse ``snap`` now (``NAQL_ANALYSE_INLINE``) or queue it.
    A failure here never undoes the capture; the sweeper re-queues what is left pending."""
    try:
        if settings.NAQL_ANALYSE_INLINE:
            analyse(snap)
        else:
            current_app.signature(ANALYSE_TASK, args=(snap.pk,)).apply_async()
    except Exception:  # noqa: BLE001 - the capture is committed; its analysis can be re-run
        log.exception("analysis of snapshot %s not run now; it stays pending", snap.pk)


def requeue_pending(limit: int = 100, older_than_seconds: float = 600) -> int:
    """Queue the analysis of page snapshots still pending some minutes after their capture
    (a lost message, a worker that died)."""
    from datetime import timedelta

    n = 0
    due = Snapshot.objects.filter(analysis_pending=True,
                                  captured_at__lt=timezone.now() - timedelta(seconds=older_than_seconds))
    for pk in due.order_by("pk").values_list("pk", flat=True)[:limit]:
        current_app.signature(ANALYSE_TASK, args=(pk,)).apply_async()
        n += 1
    return n
