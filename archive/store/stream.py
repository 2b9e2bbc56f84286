"""Reading a stored HTTP response back in bounded memory, for replay.

:func:`open_response` checks the stored record against its recorded SHA-256 first (reading the
gzip member in :data:`CHUNK`-sized pieces), then parses the WARC and HTTP headers with warcio
and hands back the entity body as an iterator of byte chunks: transfer chunking removed
(warcio's ``ChunkedDataReader``, no content decoding), ``Content-Encoding`` kept, exactly as
:func:`archive.store.warcstore.read_response` returns it whole. Memory stays flat in the body
size (one chunk of the body, plus warcio's read buffer; for a chunked body, one HTTP chunk),
however much the stored gzip member inflates.

Why two passes: a replay response must not start with bytes that then turn out not to be the
evidence; verifying first means a damaged record is refused (``FixityError``) before a status
line is sent. A second read of a small record comes from the page cache.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from warcio.archiveiterator import ArchiveIterator
from warcio.bufferedreaders import ChunkedDataReader

from archive.errors import FixityError
from archive.store.warcstore import warc_storage

CHUNK = 1 << 20  # bytes per read and per body chunk handed to the server


class _Window:
    """A read-only file-like view of ``length`` bytes of ``fh`` from its current position."""

    def __init__(self, fh, length: int):
        self.fh, self.left = fh, length

    def read(self, n: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        n = self.left if n is None or n < 0 else min(n, self.left)
        data = self.fh.read(n)
        self.left -= len(data)
        return data

    def readline(self, limit: int = -1) -> bytes:  # warcio reads headers line by line
        if self.left <= 0:
            return b""
        limit = self.left if limit is None or limit < 0 else min(limit, self.left)
        data = self.fh.readline(limit)
        self.left -= len(data)
        return data


class _Inflate:
    """Read a gzip member (or plain bytes) from ``raw`` inflated, at most ``n`` bytes per read.

    Hand-written over ``zlib`` because warcio inflates each compressed block whole: 64 KiB of a
    very repetitive body (a decompression bomb, or just a blank image) would become tens of MiB
    in one call. Here every ``decompress`` call is capped with ``max_length``."""

    def __init__(self, raw, block: int = 64 * 1024):
        self.raw, self.block = raw, block
        head = raw.read(2)
        self.z = zlib.decompressobj(16 + zlib.MAX_WBITS) if head == b"\x1f\x8b" else None
        self.pending = head  # compressed input not yet inflated (or plain bytes)
        self.buf = b""

    def _more(self, n: int) -> bytes:
        if self.z is None:
            data, self.pending = self.pending or self.raw.read(max(n, self.block)), b""
            return data
        while True:
            if not self.pending:
                if self.z.eof:
                    return b""
                self.pending = self.raw.read(self.block)
                if not self.pending:
                    raise FixityError("a stored gzip member ends early")
            out = self.z.decompress(self.pending, max(n, 1))
            self.pending = self.z.unconsumed_tail
            if self.z.eof:
                self.pending = b""
            if out:
                return out

    def read(self, n: int = -1) -> bytes:
        n = CHUNK if n is None or n < 0 else n
        while len(self.buf) < n:
            data = self._more(n - len(self.buf))
            if not data:
                break
            self.buf += data
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def readline(self, limit: int = -1) -> bytes:
        limit = CHUNK if limit is None or limit < 0 else limit
        while b"\n" not in self.buf and len(self.buf) < limit:
            data = self._more(min(self.block, limit))
            if not data:
                break
            self.buf += data
        end = self.buf.find(b"\n", 0, limit)
        end = limit if end < 0 else end + 1
        out, self.buf = self.buf[:end], self.buf[end:]
        return out


def verify_range(name: str, offset: int, length: int, expected_sha256: str) -> None:
    """FixityError unless ``length`` bytes of ``name`` at ``offset`` hash to ``expected_sha256``
    (read :data:`CHUNK` bytes at a time)."""
    digest, seen = hashlib.sha256(), 0
    with warc_storage().open(name, "rb") as fh:
        fh.seek(offset)
        while seen < length:
            data = fh.read(min(CHUNK, length - seen))
            if not data:
                break
            digest.update(data)
            seen += len(data)
    if seen != length:
        raise FixityError(f"{name}: record at {offset} is truncated ({seen} of {length} bytes)")
    if digest.hexdigest() != expected_sha256:
        raise FixityError(f"{name}: record at {offset} does not match its recorded SHA-256")


@dataclass
class StreamedResponse:
    """Status and headers of a stored response; its body is read by iterating :meth:`body`
    once (or :meth:`read` for a bounded prefix), then :meth:`close`."""

    status: int
    headers: list[tuple[str, str]]
    _fh: object
    _stream: object

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), None)

    def body(self) -> Iterator[bytes]:
        """The entity body in chunks of at most :data:`CHUNK` bytes; closes the file at the end."""
        try:
            while data := self._stream.read(CHUNK):
                yield data
        finally:
            self.close()

    def read(self, limit: int) -> bytes | None:
        """The whole body if it has at most ``limit`` bytes, else None (and nothing more is read)."""
        data = self._stream.read(limit + 1)
        self.close()
        return None if len(data) > limit else data

    def small_or_stream(self, limit: int = CHUNK) -> bytes | Iterator[bytes]:
        """The body as bytes when it has at most ``limit`` bytes (the common case: one read,
        a plain response), else as an iterator of chunks starting with what was read."""
        head = self._stream.read(limit + 1)
        if len(head) <= limit:
            self.close()
            return head

        def chunks():
            yield head
            yield from self.body()

        return chunks()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def open_response(name: str, offset: int, length: int, *, expected_sha256: str | None,
                  body_from: tuple | None = None) -> StreamedResponse:
    """The response record at ``offset`` of WARC ``name``, verified, with a streaming body.

    ``body_from`` (name, offset, length, sha256) takes the body from another record, as a
    revisit's body is its original's. Raises ``FixityError`` (damaged or truncated record) or
    ``OSError``."""
    if expected_sha256:
        verify_range(name, offset, length, expected_sha256)
    fh, rec = _open_record(name, offset, length)
    http = rec.http_headers
    headers = list(http.headers) if http else []
    status = int(http.get_statuscode()) if http else 0
    if body_from is not None and (not http or status == 304) and body_from_status_ok(body_from):
        # a server-not-modified revisit (or one without an HTTP head) stands for its original
        # response, status and headers included (WARC 1.1 §6.7.3; see archive.store.ingest)
        fh.close()
        return open_response(*body_from[:3], expected_sha256=body_from[3])
    if http is None and rec.rec_type == "resource":
        # a resource record with an http(s) target is archived content: its block is the body
        ctype = rec.rec_headers.get_header("Content-Type")
        headers, status = ([("Content-Type", ctype)] if ctype else []), 200
    if body_from is None:
        body_fh, body_rec = fh, rec
    else:
        fh.close()
        if body_from[3]:
            verify_range(*body_from[:4])
        body_fh, body_rec = _open_record(*body_from[:3])
    body_http = body_rec.http_headers
    stream = body_rec.raw_stream
    if body_http and (body_http.get_header("Transfer-Encoding") or "").lower() == "chunked":
        stream = ChunkedDataReader(stream)
    return StreamedResponse(status, headers, body_fh, stream)


def body_from_status_ok(body_from) -> bool:
    """Whether a revisit's 304 stands for its original (set by the caller through ``body_from``'s
    optional fifth item: the indexed status of the snapshot is not 304)."""
    return len(body_from) < 5 or bool(body_from[4])


def _open_record(name: str, offset: int, length: int):
    fh = warc_storage().open(name, "rb")
    try:
        fh.seek(offset)
        rec = next(iter(ArchiveIterator(_Inflate(_Window(fh, length)), block_size=64 * 1024)))
    except BaseException:
        fh.close()
        raise
    return fh, rec
