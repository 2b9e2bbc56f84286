"""One clock for capture times across hosts.

Workers on several machines disagree about the time (a host's clock can be minutes off). A
snapshot's capture time (its WARC-Date and ``captured_at``) orders the versions of a URL and is
cited, so it must come from one source: the database server's clock. :func:`offset` measures how
far this host's clock is from the database's (one ``SELECT clock_timestamp()``, about a
millisecond on a LAN); capture adds it to the times it reads locally, which keeps the local
clock's resolution for the durations within one capture.

On SQLite (the embedded default) the database is a file on this machine: the offset is zero.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.db import connection

#: Smallest skew that is corrected (WARC-Date has one-second precision).
SIGNIFICANT = timedelta(seconds=1)


def offset() -> timedelta:
    """Database clock minus this host's clock (``timedelta``; zero where the database is local).

    The measurement's error is at most the query's round trip; a database error propagates (a
    capture that cannot reach the database cannot be indexed either)."""
    if connection.vendor != "postgresql":
        return timedelta(0)
    before = datetime.now(UTC)
    with connection.cursor() as cur:
        cur.execute("SELECT clock_timestamp()")
        db_now = cur.fetchone()[0]
    after = datetime.now(UTC)
    skew = db_now - (before + (after - before) / 2)
    # Below a second the two clocks agree at WARC-Date's precision; applying a few milliseconds
    # would only move a time sitting on a second boundary into the previous second.
    return skew if abs(skew) >= SIGNIFICANT else timedelta(0)
