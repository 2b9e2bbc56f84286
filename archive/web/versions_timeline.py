"""The timeline of one URL's snapshots, marking which captures changed the article text."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.html import format_html, format_html_join

from archive.models import Snapshot


@dataclass
class TimelineEntry:
    snapshot: Snapshot
    changed: bool  # article text differs from the previous capture (boring changes ignored)
    first: bool


EVERYONE = object()  # ``user`` default: every live capture (the admin's view)


def timeline(snap_or_url, user=EVERYONE) -> list[TimelineEntry]:
    """Captures of one URL in time order; given ``user`` (None: anonymous), only those that
    user may see, so a public page never lists (or links) a private capture."""
    qs = (Snapshot.objects.live() if user is EVERYONE else Snapshot.objects.visible_to(user)).pages()
    qs = qs.for_url(snap_or_url) if isinstance(snap_or_url, str) else qs.filter(surt=snap_or_url.surt)
    entries: list[TimelineEntry] = []
    prev = None
    for s in qs.order_by("captured_at", "pk").only("guid", "captured_at", "status", "text_fingerprint", "record_type",
                                             "title", "url", "surt"):
        changed = prev is not None and bool(s.text_fingerprint) and s.text_fingerprint != prev.text_fingerprint
        entries.append(TimelineEntry(s, changed, prev is None))
        prev = s
    return entries


def timeline_html(snap: Snapshot, user=None) -> str:
    """The timeline as HTML for the admin, listing the captures ``user`` may see (None: anonymous)."""
    rows = [
        (e.snapshot.guid, e.snapshot.guid, f"{e.snapshot.captured_at:%Y-%m-%d %H:%M:%S} UTC", e.snapshot.status,
         "first capture" if e.first else ("text changed" if e.changed else "no change"))
        for e in timeline(snap, user)
    ]
    return format_html("<ul>{}</ul>", format_html_join("", '<li><a href="/s/{}">{}</a> {} · {} · {}</li>', rows))
