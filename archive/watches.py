"""Watches: recapture a URL on a back-off schedule and record each change.

Layering: watches call down into jobs (submit); jobs never import watches or tasks.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from archive.errors import ArchiveError
from archive.jobs import submit
from archive.models import Snapshot, Watch

log = logging.getLogger(__name__)


def due_watches(now=None):
    return Watch.objects.filter(active=True, next_capture_at__lte=now or timezone.now())


def run_due_watches(now=None) -> int:
    """Queue a capture for every due watch; returns how many were queued. A watch whose URL is
    refused (e.g. the guard's rules changed) is logged and rescheduled: it does not stop the rest.

    Safe to run on several beat instances at once: each watch is claimed by a compare-and-set of
    its ``next_capture_at`` in the same transaction as its job, so only one instance submits it."""
    now = now or timezone.now()
    n = 0
    for watch in due_watches(now).select_related("created_by"):
        with transaction.atomic():
            won = Watch.objects.filter(pk=watch.pk, next_capture_at=watch.next_capture_at).update(
                next_capture_at=now + watch.interval(now))
            if not won:  # another beat instance took this one
                continue
            try:
                submit(watch.url, user=watch.created_by, watch=watch)
            except ArchiveError as exc:
                log.warning("watch %s (%s) not captured: [%s] %s", watch.pk, watch.url, exc.code, exc.message)
            else:
                n += 1
    return n


def record_watch_capture(watch: Watch, snap: Snapshot) -> bool:
    """Note a capture made for a watch; returns True when the article text changed (see Watch.record_capture)."""
    return watch.record_capture(snap)
