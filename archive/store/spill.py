"""An append-only sequence that keeps at most ``buffer`` items in memory and the rest on disk.

Why: an import describes every record of a file in its first pass and needs those descriptions
again in the later ones (copy, index, report). Held in a list they grew memory with the number
of records (issue 19: 173 MiB for a 200 MB WARC of ~23,000 records vs 100 MiB for 50 MB); spilled
here, a batch at a time, memory stays flat in the file size and the cost is one ``pickle`` round
trip per item (a few microseconds for a record description).
"""

from __future__ import annotations

import pickle
import tempfile
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from pathlib import Path

__all__ = ["Spill", "batched", "BUFFER"]

BUFFER = 1000  # items kept in memory before a batch goes to disk


class Spill:
    """Items in append order; iterable any number of times, ``len()`` is the number appended.

    Items must be picklable, or ``codec`` = (pack, unpack) turns each into something cheaper to
    pickle and back (a tuple of a dataclass's fields: ~10 µs a record description instead of ~40
    through a slotted dataclass's own pickling). Past ``buffer`` items, each full batch is pickled to an anonymous
    temporary file in ``tmp_dir`` (``NAQL_TMP_DIR`` by default), removed by :meth:`close` or when
    the object is garbage-collected (it has no name on disk). Appending while iterating is not
    supported. Raises ``OSError`` when the temporary file cannot be written (e.g. a full disk)."""

    def __init__(self, items: Iterable = (), *, buffer: int | None = None, tmp_dir: str | Path | None = None,
                 codec: tuple[Callable, Callable] | None = None):
        self._mem: list = []
        self._fh = None
        self._len = 0
        self._buffer = buffer or BUFFER
        self._tmp_dir = tmp_dir
        self._pack, self._unpack = codec or (None, None)
        for item in items:
            self.append(item)

    def append(self, item) -> None:
        self._mem.append(item)
        self._len += 1
        if len(self._mem) >= self._buffer:
            self._flush()

    def _flush(self) -> None:
        if self._fh is None:
            tmp_dir = self._tmp_dir
            if tmp_dir is None:
                from django.conf import settings

                tmp_dir = settings.NAQL_TMP_DIR
            Path(tmp_dir).mkdir(parents=True, exist_ok=True)
            self._fh = tempfile.TemporaryFile(dir=tmp_dir, prefix="naql-spill-")  # noqa: SIM115 - closed in close()
        self._fh.seek(0, 2)
        batch = self._mem if self._pack is None else [self._pack(x) for x in self._mem]
        pickle.dump(batch, self._fh, protocol=pickle.HIGHEST_PROTOCOL)
        self._mem = []

    def __len__(self) -> int:
        return self._len

    def __bool__(self) -> bool:
        return self._len > 0

    def __iter__(self) -> Iterator:
        if self._fh is not None:
            self._fh.flush()
            end = self._fh.seek(0, 2)
            pos = 0
            while pos < end:  # seek each time: two iterations may be interleaved
                self._fh.seek(pos)
                batch = pickle.load(self._fh)  # noqa: S301 - our own anonymous file, never named on disk
                pos = self._fh.tell()
                yield from (batch if self._unpack is None else map(self._unpack, batch))
        yield from self._mem[:]

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        self._mem = []
        self._len = 0

    def __repr__(self) -> str:
        return f"<Spill of {self._len} item(s)>"


def batched(items: Iterable, n: int) -> Iterator[list]:
    """Lists of up to ``n`` consecutive items (``itertools.batched`` arrives in Python 3.12)."""
    it = iter(items)
    while batch := list(islice(it, n)):
        yield batch
