"""A response body as it comes off the socket: spooled, hashed and counted while it is read.

:class:`Body` keeps the bytes in memory up to :data:`SPOOL_IN_MEMORY` and in an anonymous
temporary file (``O_TMPFILE`` where available: nothing is left behind by a crash) past that, so a
capture's memory does not grow with the size of what it captures. Every byte written updates the
SHA-256 of the body (the WARC payload digest, the snapshot's payload SHA-256) and, optionally, a
second SHA-256 seeded with a prefix (the response head: the WARC block digest of the record
``head + body``). The WARC writer copies the body from :meth:`Body.chunks`, a piece at a time;
nothing hashes it again.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator

__all__ = ["Body", "SPOOL_IN_MEMORY", "PIECE"]

SPOOL_IN_MEMORY = 1 << 20  # bodies up to 1 MiB never touch the disk
PIECE = 1 << 20  # copied out a MiB at a time


class Body:
    """Write-once byte sink, then readable any number of times. Not thread-safe (one owner)."""

    __slots__ = ("_file", "length", "hash", "block_hash", "_done")

    def __init__(self, *, block_prefix: bytes | None = None, spool_dir: str | None = None):
        self._file = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY, dir=spool_dir)  # noqa: SIM115
        self.length = 0
        self.hash = hashlib.sha256()
        # SHA-256 of ``block_prefix`` followed by the body (None without a prefix)
        self.block_hash = hashlib.sha256(block_prefix) if block_prefix is not None else None
        self._done = False

    @classmethod
    def from_bytes(cls, data: bytes, *, block_prefix: bytes | None = None) -> Body:
        body = cls(block_prefix=block_prefix)
        body.write(data)
        return body

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._done:
            raise ValueError("body already read back")
        if not data:
            return
        self._file.write(data)
        self.hash.update(data)
        if self.block_hash is not None:
            self.block_hash.update(data)
        self.length += len(data)

    def chunks(self, size: int = PIECE) -> Iterator[bytes]:
        """The bytes from the start, ``size`` at a time (memory flat in the body's length)."""
        self._done = True
        self._file.seek(0)
        while True:
            piece = self._file.read(size)
            if not piece:
                return
            yield piece

    def read(self) -> bytes:
        """All the bytes at once: only for bodies known to be small (or for tests)."""
        return b"".join(self.chunks(max(self.length, 1)))

    def hexdigest(self) -> str:
        return self.hash.hexdigest()

    def close(self) -> None:
        self._file.close()

    def __len__(self) -> int:
        return self.length

    def __repr__(self) -> str:
        return f"<Body {self.length} bytes>"
