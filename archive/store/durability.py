"""Durable commits for the moments Naql reports bytes archived (a capture, an import)."""

from __future__ import annotations

from contextlib import contextmanager

from django.db import connection


@contextmanager
def durable_commit():
    """Make the commit of the block (the moment a capture or an import is reported archived) survive
    a power cut.

    Embedded mode runs SQLite in WAL mode with ``synchronous=NORMAL`` (naql/settings.py): a commit
    there is not fsynced, and a power cut may roll it back, leaving a published WARC that nothing
    indexes and a snapshot that was reported archived but is gone. For the block's own
    transaction the connection switches to ``synchronous=FULL`` (the WAL is fsynced at COMMIT: one
    fsync) and back afterwards. SQLite refuses the switch inside a transaction, so inside an outer
    atomic block (whose owner commits) nothing changes. PostgreSQL commits durably by default."""
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        yield
        return
    with connection.cursor() as cur:
        cur.execute("PRAGMA synchronous")
        before = int(cur.fetchone()[0])
        if before < 2:
            cur.execute("PRAGMA synchronous=FULL")
    try:
        yield
    finally:
        if before < 2:
            with connection.cursor() as cur:
                cur.execute(f"PRAGMA synchronous={before}")
