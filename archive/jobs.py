"""Capture jobs: submit, run (claim → capture → succeed/fail), retry and sweep.

The same ``run_job`` serves the Celery task, the ``capture`` command and tests, so every path
records the same state transitions, attempts, timings and structured errors.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from celery import current_app
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from archive.capture.guard import check_url
from archive.errors import ArchiveError, StorageError
from archive.models import CaptureJob, CaptureMode, Watch
from archive.uri import iri_to_uri

log = logging.getLogger(__name__)


def validate_url(url: str) -> str:
    """Normalise and guard a submitted URL; raises InvalidURL/UnsupportedScheme/ForbiddenAddress."""
    return check_url(iri_to_uri(url.strip()), allowed_networks=settings.NAQL_CAPTURE_ALLOWED_NETWORKS).url


def default_mode(url: str) -> str:
    """The capture mode for ``url`` when the request names none: ``browser`` for hosts listed in
    ``NAQL_CAPTURE_BROWSER_DOMAINS`` (and their subdomains), else ``NAQL_CAPTURE_DEFAULT_MODE``."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    for domain in settings.NAQL_CAPTURE_BROWSER_DOMAINS:
        d = domain.strip().lower().strip(".")
        if d and (host == d or host.endswith("." + d)):
            return CaptureMode.BROWSER
    return settings.NAQL_CAPTURE_DEFAULT_MODE


def needs_browser(mode: str) -> bool:
    return mode in (CaptureMode.BROWSER, CaptureMode.AUTO)


def submit(url: str, *, user=None, requisites: bool = True, idempotency_key: str = "", watch: Watch | None = None,
           enqueue: bool = True, mode: str | None = None, max_attempts: int | None = None) -> CaptureJob:
    """Create a pending job (after guarding the URL) and queue it once the transaction commits.

    ``mode``: ``raw``, ``browser`` or ``auto``; None takes :func:`default_mode`. A ValueError
    names an unknown mode."""
    clean = validate_url(url)
    mode = mode or default_mode(clean)
    if mode not in CaptureMode.values:
        raise ValueError(f"unknown capture mode {mode!r} (expected one of {', '.join(CaptureMode.values)})")
    owner = user if getattr(user, "pk", None) else None
    if idempotency_key and owner:
        existing = CaptureJob.objects.filter(created_by=owner, idempotency_key=idempotency_key).first()
        if existing:
            return existing
    try:
        with transaction.atomic():
            job = CaptureJob.objects.create(url=clean, created_by=owner, requisites=requisites, mode=mode,
                                            idempotency_key=idempotency_key if owner else "", watch=watch,
                                            max_attempts=max_attempts or settings.NAQL_CAPTURE_MAX_ATTEMPTS)
    except IntegrityError:
        return CaptureJob.objects.get(created_by=owner, idempotency_key=idempotency_key)
    if enqueue:
        transaction.on_commit(lambda: enqueue_job(job))
    return job


#: The Celery task that runs a job, addressed by name: tasks.py is a thin wrapper that calls down into
#: this module, so this module never imports it (no jobs ⇄ tasks import cycle).
RUN_TASK = "archive.tasks.run_capture_job"


def enqueue_job(job: CaptureJob, countdown: float | None = None) -> None:
    # A signature by name resolves to the registered task when it is known (so eager mode and
    # routing work as with a direct call) and falls back to send_task otherwise.
    # Browser jobs go to their own queue, consumed only by workers that have Chromium (naql/celery.py).
    queue = settings.NAQL_BROWSER_QUEUE if needs_browser(job.mode) else None
    current_app.signature(RUN_TASK, args=(job.pk,)).apply_async(countdown=countdown, queue=queue)


def run_job(job_id: int) -> CaptureJob:
    """Run one attempt of a job. Safe to call twice: only the claimant does the work."""
    from archive.capture.browser_capture import capture_with_mode

    job = CaptureJob.objects.get(pk=job_id)
    if job.mode == CaptureMode.BROWSER and job.state == CaptureJob.State.PENDING:
        from archive.capture.browser import browser_missing_reason

        reason = browser_missing_reason()
        if reason:
            # Not an attempt: the job stays pending (the sweeper re-queues it on the browser queue)
            # for a worker that has Chromium; the reason is on the job for whoever looks.
            log.warning("capture job %s needs a browser, this worker has none: %s", job.guid, reason)
            job.error = {"code": "browser_unavailable", "message": f"this worker cannot run browser captures: {reason}",
                         "details": {}, "permanent": False}
            CaptureJob.objects.filter(pk=job.pk, state=CaptureJob.State.PENDING).update(error=job.error)
            return job
    if not _claim(job):
        return job
    try:
        result = capture_with_mode(job.url, mode=job.mode, job=job, requisites=job.requisites, user=job.created_by)
    except ArchiveError as exc:
        _failed(job, exc)
        return job
    except Exception as exc:  # an unexpected bug: record it as a structured, permanent failure
        # ... unless it came after the capture's commit (derived work run inline, say): the page
        # is archived, and the job says so (as run_jobs does for a batch)
        indexed = CaptureJob.indexed_pages([job])
        if job.pk in indexed:
            log.exception("capture job %s: error after its capture was indexed", job.guid)
            job.succeed(indexed[job.pk])
        else:
            _crashed(job, exc)
        return job
    _succeeded(job, result)
    return job


def _claim(job: CaptureJob) -> bool:
    """Claim ``job`` for this attempt; False when another worker has it, or when an earlier
    attempt had already indexed its capture (the job is then marked succeeded with it)."""
    if not job.claim():
        return False
    log.info("capture job %s: attempt %s for %s", job.guid, job.attempts, job.url)
    # An earlier attempt may have indexed its capture and died before recording success: its
    # snapshot is the result; capturing again would duplicate it.
    done = CaptureJob.indexed_pages([job]).get(job.pk)
    if done is not None:
        log.info("capture job %s: already indexed as %s by an earlier attempt", job.guid, done.guid)
        job.succeed(done)
        return False
    return True


def _failed(job: CaptureJob, exc: ArchiveError) -> None:
    job.fail(exc.as_dict(), permanent=exc.permanent, counts=not isinstance(exc, StorageError))
    if job.state == CaptureJob.State.PENDING:  # transient: retry after back-off, on its own
        delay = max(0.0, (job.not_before - timezone.now()).total_seconds())
        transaction.on_commit(lambda: enqueue_job(job, countdown=delay))


def _crashed(job: CaptureJob, exc: Exception) -> None:
    log.exception("capture job %s crashed", job.guid, exc_info=exc)
    job.fail({"code": "internal_error", "message": "internal error during capture",
              "details": {"type": type(exc).__name__}, "permanent": True}, permanent=True)


def _succeeded(job: CaptureJob, result) -> None:
    job.succeed(result.snapshot)
    if job.watch_id and not result.analysis_deferred:  # else the analysis records it, once texts exist
        job.watch.record_capture(result.final)


def batchable(job: CaptureJob) -> bool:
    """Whether ``job`` can share a WARC file and a commit with others (raw mode: a browser
    capture is one page per Chromium session)."""
    return job.mode == CaptureMode.RAW


def run_jobs(job_ids: list[int]) -> list[CaptureJob]:
    """Run one attempt of each job, like :func:`run_job`, the raw-mode ones together: one WARC
    file and one durable commit for all of them (:mod:`archive.capture.batch`). A job whose URL
    fails gets its own error (a transient one is retried on its own); a failure of the batch as a
    whole (the WARC store unreachable or full) fails each of its jobs alike, except a job whose
    capture was indexed before the failure (an error after the commit): it succeeds with it.
    Returns the jobs in the order given."""
    from archive.capture.batch import BatchItem, capture_batch

    by_id = CaptureJob.objects.select_related("created_by").in_bulk(job_ids)
    todo = [by_id[i] for i in job_ids if i in by_id]
    raw = [job for job in todo if batchable(job)]
    if len(raw) < 2:  # one raw job alone is a single capture (its temporary WARC is opened only
        raw = []      # once the page is fetched: a process killed mid-fetch leaves no partial file)
    for job in todo:
        if job not in raw:
            run_job(job.pk)
    claimed = CaptureJob.claim_many(raw)
    # as in _claim: an earlier attempt may have indexed its capture and died before succeeding
    earlier = CaptureJob.indexed_pages(claimed)
    together = []
    for job in claimed:
        log.info("capture job %s: attempt %s for %s", job.guid, job.attempts, job.url)
        if job.pk in earlier:
            log.info("capture job %s: already indexed as %s by an earlier attempt", job.guid, earlier[job.pk].guid)
            job.succeed(earlier[job.pk])
        else:
            together.append(job)
    if together:
        items = [BatchItem(job.url, requisites=job.requisites, user=job.created_by, job=job) for job in together]
        try:
            capture_batch(items)
        except Exception as exc:  # noqa: BLE001 - an ArchiveError fails each job alike; any other is a bug
            # The error may come after the batch's commit (its jobs' progress, derived work run
            # inline): a job whose capture was indexed succeeded all the same.
            indexed = CaptureJob.indexed_pages(together)
            for item in items:
                if item.job.pk in indexed:
                    item.job.succeed(indexed[item.job.pk])
                elif item.error is not None:
                    _failed(item.job, item.error)
                elif isinstance(exc, ArchiveError):
                    _failed(item.job, exc)
                else:
                    _crashed(item.job, exc)
        else:
            for item in items:
                if item.error is not None:
                    _failed(item.job, item.error)
            won = [item for item in items if item.error is None]
            CaptureJob.succeed_many([(item.job, item.result.snapshot) for item in won])
            for item in won:
                if item.job.watch_id and not item.result.analysis_deferred:  # as in _succeeded
                    item.job.watch.record_capture(item.result.final)
    fresh = CaptureJob.objects.select_related("snapshot__final", "snapshot__warc_file").in_bulk(job_ids)
    return [fresh[i] for i in job_ids if i in fresh]


def run_due_jobs() -> int:
    """Re-queue pending jobs whose time has come (covers messages lost with a dead broker)."""
    n = 0
    for job in CaptureJob.objects.due().order_by("created_at")[:100]:
        enqueue_job(job)
        n += 1
    return n
