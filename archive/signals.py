"""Signals the archive sends; other apps (provenance) listen. archive never imports provenance.

Commit first, derive later (issue 19). A capture commits its bytes and index rows, then:

1. ``snapshot_captured`` is sent (after the commit, for the page snapshot at the end of the
   redirect chain; also by imports, for each imported page). Its bytes and index fields are
   final; its *derived* fields (``title``, ``text``, ``text_fingerprint``, ``extracted``...) may
   still be empty: ``snapshot.analysis_pending`` is then true. A receiver that needs the text
   calls ``archive.analysis.analyse(snapshot)`` first: it is idempotent, runs the extraction
   inline when it has not run yet (so an inline follow-up, e.g. a shell command that captures
   then traces, gets the text in the same process) and costs one query when it has. The
   provenance follow-up does exactly that at its start.
2. ``snapshot_analysed`` is sent once, after the analysis of a captured page has stored its
   derived fields (by the ``archive.tasks.analyse_snapshot`` task, inline with
   ``NAQL_ANALYSE_INLINE``, or by whichever follow-up ran :func:`archive.analysis.analyse`
   first). Receivers that only care about text can listen to this one instead.
"""

from django.dispatch import Signal

#: Sent after the transaction that created a page snapshot commits. kwargs: snapshot.
#: The snapshot's analysis may still be pending (see above).
snapshot_captured = Signal()

#: Sent after the transaction of a batch capture (:mod:`archive.capture.batch`: several pages in
#: one WARC and one commit) commits, once for the whole batch instead of one ``snapshot_captured``
#: per page. kwargs: snapshots (the final page snapshot of each URL, in order). Receivers of
#: ``snapshot_captured`` should listen to this one too.
snapshots_captured = Signal()

#: Sent once when a captured page's analysis (text and metadata extraction) has been stored.
#: kwargs: snapshot (with its derived fields filled).
snapshot_analysed = Signal()


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
