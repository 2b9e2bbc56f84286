"""Watches: recapture a URL on a back-off schedule and record each change."""

from __future__ import annotations

import logging

from django.db.models import F
from django.utils import timezone

from .errors import ArchiveError
from .models import Snapshot, Watch

log = logging.getLogger(__name__)


def due_watches(now=None):
    return Watch.objects.filter(active=True, next_capture_at__lte=now or timezone.now())


def run_due_watches(now=None) -> int:
    """Queue a capture for every due watch; returns how many were queued. A watch whose URL is
    refused (e.g. the guard's rules changed) is logged and rescheduled: it does not stop the rest."""
    from .jobs import submit

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
    """Note a capture made for a watch; returns True when the article text changed."""
    prev = (Snapshot.objects.live().pages().filter(surt=snap.surt, captured_at__lte=snap.captured_at,
                                                   pk__lt=snap.pk)
            .order_by("-captured_at", "-pk").first())
    changed = bool(prev and prev.text_fingerprint and snap.text_fingerprint
                   and prev.text_fingerprint != snap.text_fingerprint)
    update = {"last_captured_at": snap.captured_at}
    if changed:  # counted in the database: two captures finishing together both count
        update.update(last_changed_at=snap.captured_at, change_count=F("change_count") + 1)
    Watch.objects.filter(pk=watch.pk).update(**update)
    watch.refresh_from_db(fields=["last_captured_at", "last_changed_at", "change_count"])
    return changed
