"""Signals the archive sends; other apps (provenance) listen. archive never imports provenance."""

from django.dispatch import Signal

#: Sent after the transaction that created a page snapshot commits. kwargs: snapshot.
snapshot_captured = Signal()

import contextvars  # noqa: E402
from contextlib import contextmanager  # noqa: E402

_INLINE = contextvars.ContextVar("naql_followup_inline", default=False)


@contextmanager
def followup_inline():
    """Within this block, receivers of :data:`snapshot_captured` do their follow-up work in this
    process before returning, instead of queueing it for a worker (used by shell commands on the
    embedded default, where no worker may be running)."""
    token = _INLINE.set(True)
    try:
        yield
    finally:
        _INLINE.reset(token)


def followup_is_inline() -> bool:
    return _INLINE.get()
