"""Watches: recapture a URL on a back-off schedule and record each change."""

from __future__ import annotations

from django.utils import timezone

from .models import Snapshot, Watch


def due_watches(now=None):
    return Watch.objects.filter(active=True, next_capture_at__lte=now or timezone.now())


def run_due_watches(now=None) -> int:
    from .jobs import submit

    now = now or timezone.now()
    n = 0
    for watch in due_watches(now):
        submit(watch.url, user=watch.created_by, watch=watch)
        watch.next_capture_at = now + watch.interval(now)
        watch.save(update_fields=["next_capture_at"])
        n += 1
    return n


def record_watch_capture(watch: Watch, snap: Snapshot) -> bool:
    """Note a capture made for a watch; returns True when the article text changed."""
    prev = (Snapshot.objects.live().pages().filter(surt=snap.surt, captured_at__lte=snap.captured_at,
                                                   pk__lt=snap.pk)
            .order_by("-captured_at", "-pk").first())
    changed = bool(prev and prev.text_fingerprint and snap.text_fingerprint
                   and prev.text_fingerprint != snap.text_fingerprint)
    watch.last_captured_at = snap.captured_at
    if changed:
        watch.last_changed_at = snap.captured_at
        watch.change_count += 1
    watch.save(update_fields=["last_captured_at", "last_changed_at", "change_count"])
    return changed
