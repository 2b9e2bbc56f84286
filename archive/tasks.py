"""Celery tasks: thin wrappers over archive.jobs and archive.watches."""

from celery import shared_task


@shared_task(acks_late=True, ignore_result=True)
def run_capture_job(job_id: int) -> str:
    from archive.jobs import run_job

    return run_job(job_id).state


@shared_task(ignore_result=True)
def sweep_stale_jobs() -> int:
    from archive.analysis import requeue_pending
    from archive.jobs import run_due_jobs
    from archive.models import CaptureJob
    from archive.store.fixity import cleanup_partial_files

    swept = CaptureJob.sweep_stale()
    run_due_jobs()
    cleanup_partial_files()
    requeue_pending()
    return swept


@shared_task(ignore_result=True)
def run_due_watches() -> int:
    from archive.watches import run_due_watches as run

    return run()


@shared_task(acks_late=True, ignore_result=True)
def analyse_imported(warc_file_id: int) -> int:
    """Derived data of one import (extraction, then the provenance follow-up of each page)."""
    from archive.store.ingest import analyse_warc_file

    return analyse_warc_file(warc_file_id)


@shared_task(acks_late=True, ignore_result=True)
def analyse_snapshot(snapshot_id: int) -> bool:
    """Text and metadata of a freshly captured page (archive.analysis.analyse)."""
    from archive.analysis import analyse
    from archive.models import Snapshot

    snap = Snapshot.objects.filter(pk=snapshot_id).first()
    return bool(snap and not analyse(snap).analysis_pending)


@shared_task(acks_late=True, ignore_result=True)
def analyse_snapshots(snapshot_ids: list[int]) -> int:
    """The analysis of the pages of a batch capture (archive.capture.batch), one after another;
    one that fails stays pending (the sweeper re-queues it) and does not stop the others."""
    import logging

    from archive.analysis import analyse
    from archive.models import Snapshot

    done = 0
    for snap in Snapshot.objects.filter(pk__in=snapshot_ids).order_by("pk"):
        try:
            done += not analyse(snap).analysis_pending
        except Exception:  # noqa: BLE001 - derived data: re-run by the sweeper
            logging.getLogger(__name__).exception("analysis of snapshot %s failed; it stays pending", snap.pk)
    return done
