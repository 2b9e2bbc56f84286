"""The first pass of an import, fast: FastWARC (C++) reads, inflates and splits the records of a
well-formed WARC file, and every record is still checked by :func:`archive.store.warcread._scan_record`
(lengths, both payload-digest bases, dates, size limits): only the reading changes.

Why a second reader: warcio's pure-Python buffered reader and header parser took most of an
import's time (issue 19: ``import_warc`` at 0.25 of ``warcio index``). FastWARC is lenient where
warcio is strict (it accepts a record without its closing blank lines, and its ``stream_pos`` is not a
member boundary when a gzip member holds several records), so it is only trusted for what it
does exactly, and every record boundary is re-established from the file's own bytes:

* each record's WARC head is read from the file at the offset FastWARC reports and parsed with
  warcio's own header parser (the same ``RecordMeta`` as the warcio pass, byte for byte);
* records are contiguous: the first at offset 0, each next one where the previous ends, the last
  ending at the end of the file;
* gzip: every record starts a gzip member, and that member's ISIZE (RFC 1952 §2.3.1) is exactly
  head + ``Content-Length`` + 4, i.e. one record per member with its two CRLFs (so it may be
  copied byte for byte); uncompressed: the four bytes after the block are CRLF CRLF.

Anything else, any exception, any failed check or any problem found in a record sends the file to
the warcio pass (:func:`archive.store.warcread.scan`), which gives the exact, established errors
and handles every other layout (ARC, one gzip member for the whole file, odd headers). So the fast
pass never accepts a file the warcio pass would reject, and gives the same descriptions for the
files it accepts (``tests/test_import_fast.py`` checks both).

It also computes the SHA-256 of the whole source file while reading (the warcinfo record names it),
instead of a separate pass.

FastWARC is optional and not a declared dependency: its package requires Google's ``brotli``, and
with that module installed warcio registers a ``br`` reader that fails (warcio issue #73; see
``archive/capture/fetch.py``): ``warcio check`` then crashes on brotli-encoded records. Install it
without its requirements, ``pip install --no-deps 'fastwarc>=2.0'`` (its C++ extension reads gzip
WARCs without the Python ``brotli`` module). Without it every file takes the warcio pass.
"""

from __future__ import annotations

import hashlib
import io
import logging
import zlib
from pathlib import Path

from django.conf import settings
from warcio.recordloader import ArcWarcRecordLoader
from warcio.statusandheaders import StatusAndHeaders, StatusAndHeadersParser

from archive.store.spill import Spill
from archive.store.warcread import CHUNK, META_CODEC, ScanResult, _base_meta, _limit, _scan_record

log = logging.getLogger(__name__)
HEAD_PROBE = 64 * 1024  # FastWARC refuses heads over 32 KiB (max_header_len): a head always fits
_GZIP_MAGIC = b"\x1f\x8b"
_WARC_TYPES = frozenset(ArcWarcRecordLoader.WARC_TYPES)
_WARC_PARSER = StatusAndHeadersParser(ArcWarcRecordLoader.WARC_TYPES)


class _Fallback(Exception):
    """The fast pass cannot vouch for this file: use the warcio pass."""


class _HashingReader(io.RawIOBase):
    """The file as FastWARC reads it, hashed on the way (sequential reads only)."""

    def __init__(self, fh):
        self.fh = fh
        self.sha = hashlib.sha256()
        self.sequential = True

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        data = self.fh.read(n)
        self.sha.update(data)
        return data

    def readinto(self, b) -> int:
        n = self.fh.readinto(b)
        self.sha.update(memoryview(b)[:n])
        return n

    def seek(self, offset: int, whence: int = 0) -> int:
        pos = self.fh.tell()
        new = self.fh.seek(offset, whence)
        if new != pos:
            self.sequential = False
        return new

    def tell(self) -> int:
        return self.fh.tell()


class _Rec:
    """What ``_base_meta`` and ``_scan_record`` read of a warcio record."""

    __slots__ = ("rec_headers", "rec_type", "raw_stream", "length")

    def __init__(self, rec_headers, raw_stream):
        self.rec_headers = rec_headers
        self.rec_type = rec_headers.get_header("WARC-Type")
        self.raw_stream = raw_stream
        self.length = None


def scan_file(path: Path, label: str) -> tuple[ScanResult, str]:
    """(the checks of :func:`warcread.scan`, SHA-256 of the file), by the fast pass when it can vouch
    for the file, else by the warcio pass (and a separate hash of the file)."""
    from archive.store.warcread import scan

    try:
        return _scan_fast(path, label)
    except _Fallback as exc:
        log.debug("%s: read by the warcio pass (%r)", label, exc.__cause__)
    result = scan(lambda: open(path, "rb"), label)  # noqa: SIM115 - closed by the reader
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            h.update(chunk)
    return result, h.hexdigest()


def _scan_fast(path: Path, label: str) -> tuple[ScanResult, str]:
    try:
        from fastwarc.warc import ArchiveIterator
    except ImportError as exc:  # an optional speed-up: the warcio pass reads everything
        raise _Fallback() from exc
    size = path.stat().st_size
    with open(path, "rb") as raw, open(path, "rb") as probe:
        start = raw.read(8)
        raw.seek(0)
        gz = start[:2] == _GZIP_MAGIC
        if not gz and not start.startswith(b"WARC/"):
            raise _Fallback()  # ARC, or anything else: the warcio pass decides
        reader = _HashingReader(raw)
        limit = _limit()
        ratio_max, ratio_floor = settings.NAQL_IMPORT_MAX_RATIO, settings.NAQL_IMPORT_RATIO_FLOOR
        records, problems = Spill(codec=META_CODEC), []
        n = 0  # records read (the last of a gzip file is appended once its member's end is known)
        prev = "the start of the file"
        expected_pos = 0  # where the next record must start (uncompressed; for gzip, past the last one)
        pending = None  # gzip: (meta, head length) of the last record, whose member ends where the next starts

        def close(meta, head_len: int, end: int) -> None:
            if not gz:
                return
            probe.seek(end - 4)
            if int.from_bytes(probe.read(4), "little") != (head_len + meta.block_length + 4) & 0xFFFFFFFF:
                raise _Fallback()  # not exactly one record (with its two CRLFs) in this gzip member
            meta.src_length = end - meta.src_offset
            if meta.block_length > ratio_floor and meta.block_length > ratio_max * max(meta.src_length, 1):
                raise _Fallback()  # the warcio pass raises the established ratio error

        try:
            it = ArchiveIterator(reader, parse_http=False, stream_detect=True)
            for rec in it:
                pos = rec.stream_pos
                if pending is not None:
                    if pos <= pending[0].src_offset:
                        raise _Fallback()
                    close(*pending, pos)
                    records.append(pending[0])  # only now complete: a spilled record is not changed after
                    pending = None
                elif pos != expected_pos:
                    raise _Fallback()
                head = _read_head(probe, pos, gz)
                rec_headers = _headers(rec, head)
                r = _Rec(rec_headers, rec.reader)
                meta = _base_meta(r, n, pos, prev, problems, arc=False)
                n += 1
                if problems or meta.block_length != rec.content_length or meta.block_length > limit:
                    raise _Fallback()
                _scan_record(r, meta, problems, want_block_sha=False)
                if problems:
                    raise _Fallback()
                meta.slim()
                if gz:
                    pending = (meta, len(head))
                else:
                    expected_pos = pos + len(head) + meta.block_length + 4
                    probe.seek(expected_pos - 4)
                    if expected_pos > size or probe.read(4) != b"\r\n\r\n":
                        raise _Fallback()
                    meta.src_length = expected_pos - 4 - pos  # as warcio counts it: without the CRLF CRLF
                    records.append(meta)
                prev = f"record {meta.record_id} at offset {pos}"
            if pending is not None:
                close(*pending, size)
                records.append(pending[0])
                expected_pos = size
        except (OSError, ValueError, EOFError) as exc:
            raise _Fallback() from exc
        if not records or expected_pos != size:
            raise _Fallback()
        rest = reader.read()  # nothing should be left; hashed all the same
        if rest or not reader.sequential:
            raise _Fallback()
    return ScanResult(records, verbatim=gz, decompress_whole=False), reader.sha.hexdigest()


def _headers(rec, head: bytes) -> StatusAndHeaders:
    """The record's WARC headers as warcio parses ``head``: FastWARC's parse when writing it back
    gives exactly ``head`` in the one form warcio reads the same way (``Name: value`` lines, no
    surrounding blanks, no colon in a name, no continuation lines), warcio's own parser otherwise."""
    buf = io.BytesIO()
    rec.headers.write(buf)
    proto = rec.headers.status_line
    items = rec.headers.items()
    if buf.getvalue() == head and proto in _WARC_TYPES and all(
            k and ":" not in k and k == k.strip() and v == v.strip() for k, v in items):
        return StatusAndHeaders("", list(items), protocol=proto)
    try:
        return _WARC_PARSER.parse(io.BytesIO(head))
    except Exception as exc:  # noqa: BLE001 - whatever warcio's parser dislikes, the warcio pass reports
        raise _Fallback() from exc


def _read_head(fh, pos: int, gz: bool) -> bytes:
    """The record's WARC head (up to and with its blank line), from the file's own bytes: the first
    4 KiB are tried first (a head is mostly a few hundred bytes), then up to 64 KiB."""
    for probe in (1024, 8192, HEAD_PROBE):
        fh.seek(pos)
        data = fh.read(probe)
        if gz:
            if data[:2] != _GZIP_MAGIC:
                raise _Fallback()
            try:
                data = zlib.decompressobj(31).decompress(data, probe)
            except zlib.error as exc:
                raise _Fallback() from exc
        end = data.find(b"\r\n\r\n")
        if end >= 0:
            return data[: end + 4]
    raise _Fallback()
