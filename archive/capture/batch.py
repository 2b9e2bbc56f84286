"""Capture several URLs into one WARC file with one durable commit (a batch).

A single :func:`archive.capture.capture.capture` is durable when it returns: its WARC file is
fsynced (file and directory) and its rows are committed with the WAL fsynced. On this kind of
machine those fsyncs and the commit cost more than fetching and writing a small page (issue 19:
~14 ms against a 7 ms page on a loaded disk), so capturing a list of URLs one call at a time can
never approach a plain ``warcio`` loop. A batch keeps every guarantee of a single capture but pays
them once for all its pages, as crawlers do (Browsertrix, Heritrix: many pages per WARC file).
``manage.py capture URL URL...`` runs its raw-mode URLs this way (``NAQL_CAPTURE_BATCH_SIZE`` at a
time, :func:`archive.jobs.run_jobs`); jobs from the API stay one per message, so that several
workers capture them side by side (a batch is sequential in one process):

1. each URL is fetched in turn (redirects, requisites), exactly as a single capture fetches it;
   a URL that cannot be fetched gets its own error and is left out, the others go on;
2. each fetched page is written at once into the batch's one temporary WARC (one ``warcinfo``;
   per page its responses or revisits, requests and metadata record) and its bodies released, so
   that a batch holds one page in memory and spooled on disk at a time, as a single capture does;
   after the last page the file is fsynced, checksummed and published, immutable from then on;
3. all snapshot rows (and the file's row) are created in one transaction, committed durably;
4. after the commit, one message asks for the analysis of the batch's pages and one signal
   (:data:`archive.signals.snapshots_captured`) lets provenance queue one follow-up for them.

Nothing is archived until the batch commits: a failure in step 2 or 3 (a full disk, a lost
database) fails every page of the batch, having written nothing a reader can see (a crash
between 2 and 3 leaves a valid, unreferenced file that ``verify`` lists, as for one capture).

Within a batch, a response identical to one written earlier in the same file (the same URL,
status and payload digest, e.g. a stylesheet every page of a site shares) is written as a revisit
of it. (Had the earlier page been committed first, a requisite fetched again within
``NAQL_CAPTURE_REQUISITE_REUSE_SECONDS`` would not be recorded at all; within a batch it costs a
revisit record, and its request record is written again.)
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from archive import clock
from archive.capture.capture import (
    CaptureResult,
    FetchedPage,
    RevisitIndex,
    WrittenPage,
    build_warc,
    create_warc_file,
    fetch_page,
    index_rows,
    warcinfo_fields,
    write_page,
)
from archive.errors import ArchiveError, InternalError
from archive.models import CaptureJob, Snapshot
from archive.store.durability import durable_commit

log = logging.getLogger(__name__)

#: Seconds between two heart-beats of a batch's waiting jobs (well under NAQL_JOB_STALE_AFTER).
KEEP_ALIVE_SECONDS = 30

#: The analysis of a batch's pages, addressed by name (this module never imports archive.tasks).
ANALYSE_MANY_TASK = "archive.tasks.analyse_snapshots"


@dataclass
class BatchItem:
    """One URL of a batch: what to capture, for whom, and (after :func:`capture_batch`) its
    ``result`` or its ``error`` (an :class:`archive.errors.ArchiveError`; nothing archived)."""

    url: str
    requisites: bool = True
    user: object = None
    job: CaptureJob | None = None
    result: CaptureResult | None = None
    error: ArchiveError | None = None


def capture_batch(items: list[BatchItem]) -> list[BatchItem]:
    """Capture every item's URL with Naql's fetch client into one WARC file, indexed in one
    durable transaction; returns ``items`` with ``result`` or ``error`` set on each.

    A URL whose fetch fails (a CaptureError: refused address, timeout, too large, redirect
    loop...; an InternalError for an unexpected exception) gets that error; the others are
    archived. Raises an ArchiveError (a StorageError when the temporary WARC or the WARC store
    cannot be written) when the batch as a whole cannot be archived: then no item is. Raw mode
    only: browser captures are one page per Chromium session."""
    skew = clock.offset()  # capture times come from the database's clock, not this host's
    fetched: list[tuple[BatchItem, FetchedPage]] = []
    pages: list[WrittenPage] = []
    job_ids = [item.job.pk for item in items if item.job is not None]
    alive = time.monotonic()
    batch = RevisitIndex()  # shared by the batch's pages: each finds its originals in those before it

    def fetch_and_write(builder) -> list[WrittenPage] | None:
        nonlocal alive
        for item in items:
            try:
                page = fetch_page(item.url, requisites=item.requisites, skew=skew)
            except ArchiveError as exc:
                item.error = exc
            except Exception as exc:  # noqa: BLE001 - a bug met on one page fails that page, not its batch
                log.exception("capture of %s crashed", item.url)
                item.error = InternalError("internal error during capture", details={"type": type(exc).__name__})
            else:
                if item.job:  # the jobs' steps are written once, with "archived" (one UPDATE per job)
                    item.job.note("fetched", exchanges=len(page.hops) + len(page.extra),
                                  seconds=round(page.fetch_seconds, 3))
                # written at once, so that a batch holds one page's bodies at a time, as a single
                # capture does (their hashes and lengths, all the index needs, outlive close())
                pages.append(write_page(builder, page, job=item.job, batch=batch))
                fetched.append((item, page))
                for ex in (*page.hops, *page.extra):
                    ex.close()
            if job_ids and time.monotonic() - alive > KEEP_ALIVE_SECONDS:
                # the batch's jobs wait for the others' fetches: alive, not stale (NAQL_JOB_STALE_AFTER)
                CaptureJob.objects.filter(pk__in=job_ids, state=CaptureJob.State.RUNNING).update(
                    heartbeat_at=timezone.now())
                alive = time.monotonic()
        return pages or None  # None: nothing fetched, nothing to publish

    published, _ = build_warc({**warcinfo_fields(), "batch-urls": len(items)}, fetch_and_write)
    if published is None:
        return items
    for item, _ in fetched:
        if item.job:
            item.job.note("written", warc=published.name, bytes=published.size, batch_pages=len(fetched))
    _index_batch(published, fetched, pages)
    return items


def _index_batch(published, fetched: list[tuple[BatchItem, FetchedPage]], pages: list[WrittenPage]) -> None:
    saved: dict = {}
    with durable_commit(), transaction.atomic():
        wf = create_warc_file(published)
        for (item, page), w in zip(fetched, pages, strict=True):
            snaps = index_rows(wf, w.written, w.meta_rec, n_hops=w.n_hops, job=item.job, user=item.user,
                               reused=w.reused, saved=saved)
            hop_snaps = snaps[:w.n_hops]
            item.result = CaptureResult(snaps[0], hop_snaps[-1], snaps, wf, page.req_errors,
                                        analysis_deferred=any(s.analysis_pending for s in hop_snaps))
        results = [item.result for item, _ in fetched]
        transaction.on_commit(lambda: _after_commit(results))
    jobs = [item.job for item, _ in fetched if item.job]
    for item, _ in fetched:
        if item.job:
            item.job.note("archived", snapshot=item.result.final.guid,
                          analysis="pending" if item.result.analysis_deferred else "none needed")
    if jobs:  # the steps noted so far (fetched, written, archived), one query for the batch
        CaptureJob.write_progress(jobs)
    if settings.NAQL_ANALYSE_INLINE:  # the rows are committed (or, in a test, saved)
        from archive.analysis import schedule

        for s in _pending(results):
            schedule(s)


def _pending(results: list[CaptureResult]) -> list[Snapshot]:
    return [s for r in results for s in r.snapshots[:r.snapshots.index(r.final) + 1] if s.analysis_pending]


def _after_commit(results: list[CaptureResult]) -> None:
    """One message for the analysis of every page of the batch (before the signal, as for one
    capture: a follow-up then usually finds the text ready; it calls ``analyse`` anyway), then
    :data:`archive.signals.snapshots_captured` once with the batch's final page snapshots."""
    from celery import current_app

    from archive.signals import snapshots_captured

    pending = [] if settings.NAQL_ANALYSE_INLINE else _pending(results)
    if pending:
        try:
            current_app.signature(ANALYSE_MANY_TASK, args=([s.pk for s in pending],)).apply_async()
        except Exception:  # noqa: BLE001 - the captures are committed; the sweeper re-queues their analysis
            log.exception("analysis of %d snapshots not queued now; they stay pending", len(pending))
    snapshots_captured.send(sender=Snapshot, snapshots=[r.final for r in results])
