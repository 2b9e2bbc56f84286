"""Receivers: provenance follows the archive. After a page snapshot is committed, the follow-up
task builds its Document, re-anchors and segments claims, and detects relations."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings

log = logging.getLogger(__name__)

#: Set while a caller (the trace engine) runs a capture and derives its provenance itself, right
#: after: the follow-up is then neither queued nor run twice.
_CALLER_FOLLOWS_UP: ContextVar[bool] = ContextVar("naql_caller_follows_up", default=False)


@contextmanager
def followup_by_caller():
    """Within this block, captured snapshots get no automatic follow-up: the caller runs
    :func:`provenance.tasks.process_snapshot` itself (and so knows when it is done)."""
    token = _CALLER_FOLLOWS_UP.set(True)
    try:
        yield
    finally:
        _CALLER_FOLLOWS_UP.reset(token)


def _inline() -> bool:
    """Whether the follow-up runs here, before the capture returns (eager Celery, the inline
    setting, or a shell command's ``followup_inline`` block), rather than queued."""
    from archive.signals import followup_is_inline

    return (getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False)
            or getattr(settings, "NAQL_PROVENANCE_INLINE", False) or followup_is_inline())


def on_snapshot_captured(sender, snapshot, **kwargs) -> None:
    from provenance.tasks import after_capture, process_snapshot

    if snapshot is None or snapshot.is_requisite or _CALLER_FOLLOWS_UP.get():
        return
    if _inline():
        process_snapshot(snapshot.pk)
        return
    try:
        after_capture.delay(snapshot.pk)
    except Exception:  # noqa: BLE001 - a broker outage must not fail the capture; admin can re-run
        log.exception("could not queue provenance follow-up for snapshot %s", snapshot.pk)


def on_snapshots_captured(sender, snapshots, **kwargs) -> None:
    """A batch capture's pages: followed up here (inline, as for one page) or by one queued task.
    Inline, a page whose follow-up raises is logged and skipped, as in
    :func:`provenance.tasks.after_capture_many`: its capture is committed, the next pages still
    get theirs, and the batch's jobs are not failed by derived work."""
    from provenance.tasks import after_capture_many

    pks = [s.pk for s in snapshots if s is not None and not s.is_requisite]
    if not pks or _CALLER_FOLLOWS_UP.get():
        return
    if _inline():
        after_capture_many(pks)  # the task's own loop, run here
        return
    try:
        after_capture_many.delay(pks)
    except Exception:  # noqa: BLE001 - a broker outage must not fail the captures; trace/admin can re-run
        log.exception("could not queue provenance follow-up for %d snapshots", len(pks))


def connect() -> None:
    from archive.signals import snapshot_captured, snapshots_captured

    snapshot_captured.connect(on_snapshot_captured, dispatch_uid="provenance.on_snapshot_captured")
    snapshots_captured.connect(on_snapshots_captured, dispatch_uid="provenance.on_snapshots_captured")
