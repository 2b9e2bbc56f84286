"""Watches: recapture a URL on a back-off schedule and record each change.

Layering: watches call down into jobs (submit); jobs never import watches or tasks.
"""

from __future__ import annotations

import logging

from django.utils import timezone

from archive.errors import ArchiveError
from archive.jobs import submit
from archive.models import Snapshot, Watch

log = logging.getLogger(__name__)


def due_watches(now=None):
    return Watch.objects.filter(active=True, next_capture_at__lte=now or timezone.now())


def run_due_watches(now=None) -> int:
    """Queue a capture for every due watch; returns how many were queued. A watch whose URL is
    refused (e.g. the guard's rules changed) is logged and rescheduled: it does not stop the rest."""
    now = now or timezone.now()
    n = 0
    for watch in due_watches(now).select_related("created_by"):
        try:
            submit(watch.url, user=watch.created_by, watch=watch)
        except ArchiveError as exc:
            log.warning("watch %s (%s) not captured: [%s] %s", watch.pk, watch.url, exc.code, exc.message)
        else:
            n += 1
        watch.next_capture_at = now + watch.interval(now)
        watch.save(update_fields=["next_capture_at"])
    return n


def record_watch_capture(watch: Watch, snap: Snapshot) -> bool:
    """Note a capture made for a watch; returns True when the article text changed (see Watch.record_capture)."""
    return watch.record_capture(snap)
