"""Signals the archive sends; other apps (provenance) listen. archive never imports provenance."""

from django.dispatch import Signal

#: Sent after the transaction that created a page snapshot commits. kwargs: snapshot.
snapshot_captured = Signal()
