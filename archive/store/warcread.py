"""Streaming, checking reader for WARC and ARC files written by other tools (the first pass of an import).

One pass over the file, memory flat in its size: each record's block is read in 1 MiB chunks,
its length and digests checked on the way, and only a small description (:class:`RecordMeta`)
is kept. Nothing is written here; :mod:`archive.store.ingest` writes after every record passed.

What is checked, and why (WARC 1.1, https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/):

* ``Content-Length`` against the bytes present, for every record type (§5.6): a record claiming
  more bytes than the file holds, or fewer than it has, rejects the whole file.
* ``WARC-Block-Digest`` over the block; ``WARC-Payload-Digest`` over the entity *after* transfer
  decoding (§5.9) or, as older tools wrote it, over the chunked bytes as transmitted: both are
  accepted (warcio's checker hashes the bytes as stored) and the basis is reported.
* ``WARC-Date`` with any precision W3C-DTF allows (§5.4): year only to fractions of a second, any
  number of fractional digits.
* Size: no record block over ``NAQL_CAPTURE_MAX_BODY`` (+ room for HTTP headers), and no gzip
  member inflating more than ``NAQL_IMPORT_MAX_RATIO`` times once past ``NAQL_IMPORT_RATIO_FLOOR``.

Every problem names the file, the record's offset in it and its WARC-Record-ID.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import re
import uuid
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from itertools import chain
from operator import attrgetter

from django.conf import settings
from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from archive.errors import WarcImportError
from archive.store.spill import Spill

CHUNK = 1 << 20
MAX_HTTP_HEAD = 256 * 1024
CONTENT_SCHEMES = ("http", "https")
NOT_MODIFIED_PROFILE_SUFFIX = "/revisit/server-not-modified"


# --------------------------------------------------------------------------------------------
# field syntax
# --------------------------------------------------------------------------------------------
_W3CDTF = re.compile(
    r"^(\d{4})(?:-(\d\d)(?:-(\d\d)(?:T(\d\d):(\d\d)(?::(\d\d)(?:[.,](\d+))?)?"
    r"(Z|[+-]\d\d:?\d\d)?)?)?)?$")


def parse_warc_date(value: str) -> datetime:
    """A ``WARC-Date`` (W3C-DTF, WARC 1.1 §5.4: from ``YYYY`` to any number of fractional second
    digits, ``Z`` or an offset) or an ARC 14-digit date, as an aware UTC datetime. Fractions
    beyond microseconds are truncated. ``ValueError`` when it is neither."""
    value = (value or "").strip()
    if re.fullmatch(r"\d{14}(\d{1,6})?", value):  # ARC dates and 14-digit timestamps
        dt = datetime.strptime(value[:14], "%Y%m%d%H%M%S")
        frac = value[14:]
        return dt.replace(tzinfo=UTC, microsecond=int(frac.ljust(6, "0")) if frac else 0)
    m = _W3CDTF.match(value)
    if not m:
        raise ValueError(f"WARC-Date {value!r} is not a W3C-DTF date")
    y, mo, d, hh, mi, ss, frac, tz = m.groups()
    dt = datetime(int(y), int(mo or 1), int(d or 1), int(hh or 0), int(mi or 0), int(ss or 0),
                  int((frac or "0")[:6].ljust(6, "0")), tzinfo=UTC)
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        dt -= sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return dt


_B32 = re.compile(r"[A-Za-z2-7]+")
# the characters whose low (5 - used) bits are zero, by the number of bits the last character carries
_B32_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_B32_LAST = {used: frozenset(c for i, c in enumerate(_B32_ALPHABET) if i % (1 << (5 - used)) == 0)
             for used in range(1, 5)}
_B32_LAST[0] = frozenset(_B32_ALPHABET)


def normalize_digest(value: str | None) -> str | None:
    """A WARC digest (``algo:value``, value in base32, hex or base64: RFC 3548 as WARC allows) as
    ``algo:BASE32``, or None when it cannot be read."""
    if not value or ":" not in value:
        return None
    algo, _, v = value.strip().partition(":")
    algo = algo.lower().replace("-", "")
    try:
        size = hashlib.new(algo).digest_size
    except (ValueError, TypeError):
        return None
    v = v.strip()
    b32_len = -(-size * 8 // 5)
    if len(v) == b32_len and _B32.fullmatch(v) and v[-1].upper() in _B32_LAST[(size * 8) % 5]:
        # already canonical base32 (what warcio, wget, Heritrix and Naql write): decoding and
        # re-encoding would give back the same text (the last character's unused bits are zero)
        return f"{algo}:{v.upper()}{'=' * (-b32_len % 8)}"
    raw = None
    try:
        if len(v.rstrip("=")) == -(-size * 8 // 5):
            raw = base64.b32decode(v.rstrip("=").upper() + "=" * (-len(v.rstrip("=")) % 8))
        elif len(v) == size * 2:
            raw = bytes.fromhex(v)
        else:
            raw = base64.b64decode(v + "=" * (-len(v) % 4), altchars=b"-_" if ("-" in v or "_" in v) else None)
    except ValueError:
        return None
    if len(raw) != size:
        return None
    return f"{algo}:{base64.b32encode(raw).decode('ascii')}"


def b32_digest(algo: str, h) -> str:
    return f"{algo}:{base64.b32encode(h.digest()).decode('ascii')}"


# --------------------------------------------------------------------------------------------
# transfer decoding, pushed
# --------------------------------------------------------------------------------------------
class _Dechunker:
    """Undo ``Transfer-Encoding: chunked`` on data pushed in pieces (RFC 9112 §7.1).

    Written by hand because warcio's ``ChunkedDataReader`` pulls from a whole stream, and here each
    block streams past once, feeding several hashes. ``failed`` is set on malformed framing; the
    caller then treats the body as not chunked, as warcio does."""

    def __init__(self, sink):
        self.sink = sink
        self.buf = b""
        self.state = "size"
        self.remaining = 0
        self.failed = False
        self.done = False

    def feed(self, data: bytes) -> None:
        if self.failed or self.done:
            return
        self.buf += data
        while self.buf and not (self.failed or self.done):
            if self.state == "size":
                i = self.buf.find(b"\n")
                if i < 0:
                    if len(self.buf) > 4096:
                        self.failed = True
                    return
                line, self.buf = self.buf[:i].strip(), self.buf[i + 1 :]
                try:
                    size = int(line.split(b";")[0].strip(), 16)
                except ValueError:
                    self.failed = True
                    return
                if size == 0:
                    self.done = True
                    return
                self.remaining, self.state = size, "data"
            elif self.state == "data":
                take = min(self.remaining, len(self.buf))
                self.sink(self.buf[:take])
                self.buf, self.remaining = self.buf[take:], self.remaining - take
                if self.remaining == 0:
                    self.state = "crlf"
            else:  # the CRLF after a chunk's data
                if self.buf.startswith(b"\r\n"):
                    self.buf = self.buf[2:]
                elif self.buf.startswith(b"\n"):
                    self.buf = self.buf[1:]
                elif len(self.buf) < 2 and self.buf == b"\r":
                    return
                else:
                    self.failed = True
                    return
                self.state = "size"


# --------------------------------------------------------------------------------------------
# records
# --------------------------------------------------------------------------------------------
_KEPT_WARC = {"warc-block-digest", "warc-refers-to", "warc-refers-to-target-uri", "warc-refers-to-date",
              "warc-profile", "warc-segment-number", "warc-payload-digest"}


@dataclass(slots=True)
class RecordMeta:
    """What the import needs to know of one record; the block itself is never kept."""

    index: int
    src_offset: int
    src_length: int
    type: str
    record_id: str
    protocol: str
    warc_headers: list[tuple[str, str]]
    uri: str | None
    date: datetime
    content_type: str
    block_length: int
    block_sha256: str = ""
    status: int = 0
    http_headers: list[tuple[str, str]] = field(default_factory=list)
    payload_sha256: str = ""
    payload_length: int = 0
    payload_digest: str = ""  # normalised algo:BASE32: the declared one if any, else computed sha256
    digest_basis: str = ""  # "transfer-decoded" | "as-transmitted" | "" (no payload digest declared)
    generated_id: bool = False

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((v for k, v in self.warc_headers if k.lower() == name), None)

    def http_header(self, name: str) -> str | None:
        name = name.lower()
        return next((v for k, v in self.http_headers if k.lower() == name), None)

    @property
    def is_http(self) -> bool:
        return self.content_type.lower().startswith("application/http")

    where_text: str = ""

    def slim(self) -> None:
        """Keep only the header lines the import still needs: a description per record stays a few
        hundred bytes, so a file of many records does not grow memory by its headers."""
        self.warc_headers = [(k, v) for k, v in self.warc_headers if k.lower() in _KEPT_WARC]
        self.http_headers = [(k, v) for k, v in self.http_headers if k.lower() == "content-type"]
        if not self.where_text.startswith("record at offset"):
            self.where_text = ""

    @property
    def where(self) -> str:
        return self.where_text or f"record {self.record_id} at offset {self.src_offset}"


_META_FIELDS = attrgetter(*(f.name for f in fields(RecordMeta)))
#: how a :class:`~archive.store.spill.Spill` keeps record descriptions on disk: as tuples of their fields
META_CODEC = (_META_FIELDS, lambda t: RecordMeta(*t))


@dataclass
class ScanResult:
    records: Spill  # of RecordMeta, in file order: on disk past a thousand (memory flat in the file size)
    verbatim: bool  # every record is its own gzip member and may be copied byte for byte
    decompress_whole: bool  # a single-member gzip: read through gzip, re-compress per record


def _parse_http_head(head: bytes) -> tuple[int, list[tuple[str, str]]]:
    text = head.decode("latin-1")
    lines = text.split("\r\n") if "\r\n" in text else text.split("\n")
    try:
        status = int(lines[0].split()[1])
    except (IndexError, ValueError):
        status = 0
    headers = []
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers.append((k.strip(), v.strip()))
    return status, headers


def _head_end(buf: bytes) -> int:
    """Index where the HTTP body begins, or -1 when the head is not complete in ``buf``."""
    i = buf.find(b"\r\n\r\n")
    # a "\n\n" only matters when it ends before "\r\n\r\n" does: not searched through the whole body
    j = buf.find(b"\n\n", 0, i + 3) if i >= 0 else buf.find(b"\n\n")
    ends = [x + 4 for x in (i,) if x >= 0] + [x + 2 for x in (j,) if x >= 0]
    return min(ends) if ends else -1


class _Digests:
    def __init__(self, declared: str | None):
        self.algo = declared.split(":", 1)[0].lower().replace("-", "") if declared else None
        try:
            self.h = hashlib.new(self.algo) if self.algo else None
        except ValueError:
            self.h = None

    def update(self, data: bytes) -> None:
        if self.h:
            self.h.update(data)

    def matches(self, declared_norm: str | None) -> bool | None:
        if not self.h or not declared_norm:
            return None
        algo, _, value = declared_norm.partition(":")
        return algo == self.algo and self.h.digest() == _b32_raw(value, self.h.digest_size)


_TO_BASE32_DIGITS = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "0123456789abcdefghijklmnopqrstuv")


def _b32_raw(value: str, size: int) -> bytes | None:
    """The bytes of a canonical base32 digest (as :func:`normalize_digest` writes it), decoded by
    ``int(…, 32)`` after mapping RFC 4648's alphabet onto int's: ``base64.b32decode`` (and re-encoding
    the computed digest, as this did before) is pure Python, a few percent of an import of small records."""
    value = value.rstrip("=")
    extra = len(value) * 5 - size * 8
    if extra < 0 or extra >= 5:
        return None
    return (int(value.translate(_TO_BASE32_DIGITS), 32) >> extra).to_bytes(size, "big")


def _limit() -> int:
    return settings.NAQL_CAPTURE_MAX_BODY + MAX_HTTP_HEAD


def _scan_record(rec, meta: RecordMeta, problems: list[str], *, want_block_sha: bool) -> None:
    """Read one block in chunks: length, block digest, HTTP head, payload digests (both bases).

    Each byte is hashed as few times as the checks need: the declared block digest, the declared
    payload digest (shared with the SHA-256 of the payload when both are SHA-256), and, only for a
    chunked body, the same again over the transfer-decoded bytes."""
    h = meta.header
    block_declared = h("WARC-Block-Digest")
    block_norm = normalize_digest(block_declared)
    if block_declared and not block_norm:
        problems.append(f"{meta.where}: unreadable WARC-Block-Digest {block_declared!r}")
    block_d = _Digests(block_declared if block_norm else None)
    block_sha = hashlib.sha256() if want_block_sha else None
    # a revisit's payload digest is its original's; a segment's covers the reassembled payload (§7)
    pd_declared = h("WARC-Payload-Digest") if meta.type != "revisit" and not h("WARC-Segment-Number") else None
    pd_norm = normalize_digest(pd_declared)
    if pd_declared and not pd_norm:
        problems.append(f"{meta.where}: unreadable WARC-Payload-Digest {pd_declared!r}")
    has_payload = (meta.type in ("response", "request") and meta.is_http) or meta.type == "resource"
    raw_d = _Digests(pd_declared if pd_norm else None)  # over the payload as stored
    raw_sha = raw_d.h if raw_d.algo == "sha256" else hashlib.sha256()
    raw_len = 0
    dec = None  # (digest in the declared algorithm, sha256, length) over the dechunked entity

    head_buf = b""
    in_head = has_payload and meta.type != "resource"
    head_only = meta.type == "revisit" and meta.is_http
    dechunker = None
    total = 0
    while True:
        chunk = rec.raw_stream.read(CHUNK)
        if not chunk:
            break
        total += len(chunk)
        block_d.update(chunk)
        if block_sha is not None:
            block_sha.update(chunk)
        if head_only and len(head_buf) < MAX_HTTP_HEAD:
            head_buf += chunk[:MAX_HTTP_HEAD]
        if not has_payload:
            continue
        if in_head:
            head_buf += chunk
            end = _head_end(head_buf)
            if end < 0:
                if len(head_buf) > MAX_HTTP_HEAD:
                    problems.append(f"{meta.where}: HTTP head longer than {MAX_HTTP_HEAD} bytes")
                    has_payload = False
                continue
            meta.status, meta.http_headers = _parse_http_head(head_buf[:end])
            chunk, head_buf, in_head = head_buf[end:], b"", False
            if (meta.http_header("Transfer-Encoding") or "").lower().startswith("chunked"):
                dec = [_Digests(pd_declared if pd_norm else None), hashlib.sha256(), 0]

                def sink(data: bytes, dec=dec) -> None:
                    dec[0].update(data)
                    dec[1].update(data)
                    dec[2] += len(data)

                dechunker = _Dechunker(sink)
        raw_d.update(chunk)
        if raw_sha is not raw_d.h:
            raw_sha.update(chunk)
        raw_len += len(chunk)
        if dechunker is not None:
            dechunker.feed(chunk)
    if head_only and head_buf:
        end = _head_end(head_buf)
        meta.status, meta.http_headers = _parse_http_head(head_buf[: end if end >= 0 else len(head_buf)])
    if total != meta.block_length:
        problems.append(f"{meta.where}: Content-Length {meta.block_length} but {total} bytes present "
                        "(truncated or altered)")
        return
    if block_sha is not None:
        meta.block_sha256 = block_sha.hexdigest()
    if block_norm and block_d.matches(block_norm) is False:
        problems.append(f"{meta.where}: block digest failed: {block_declared}")
    if meta.type == "revisit":
        meta.payload_digest = normalize_digest(h("WARC-Payload-Digest")) or ""
    if not has_payload:
        return
    if dec is not None and not dechunker.failed:
        meta.payload_sha256, meta.payload_length = dec[1].hexdigest(), dec[2]
        decoded_ok = dec[0].matches(pd_norm)
    else:  # not chunked (or malformed chunking, kept as stored, as warcio's reader does)
        meta.payload_sha256, meta.payload_length = raw_sha.hexdigest(), raw_len
        decoded_ok = raw_d.matches(pd_norm)
    if pd_norm:
        if decoded_ok:
            meta.digest_basis = "transfer-decoded"
        elif raw_d.matches(pd_norm):
            meta.digest_basis = "as-transmitted"
        else:
            problems.append(f"{meta.where}: payload digest failed: {pd_declared} (checked over the entity both "
                            "after and before transfer decoding)")
    meta.payload_digest = pd_norm if pd_norm and len(pd_norm) <= 80 else ""


def _base_meta(rec, index: int, offset: int, prev: str, problems: list[str], *, arc: bool) -> RecordMeta:
    h = rec.rec_headers
    rid = h.get_header("WARC-Record-ID")
    if arc:  # warcio's arc2warc makes up a new ID on each read: one ID per import, from this pass
        rid = None
    generated = not rid
    rid = rid or f"<urn:uuid:{uuid.uuid4()}>"
    where = f"record {rid} at offset {offset}" if not generated else \
        f"record at offset {offset} (no WARC-Record-ID; after {prev})"
    raw_date = h.get_header("WARC-Date") or h.get_header("archive-date")
    try:
        date = parse_warc_date(raw_date or "")
    except ValueError as exc:
        problems.append(f"{where}: {exc}")
        date = datetime.now(UTC)
    try:
        length = rec.length if arc else int((h.get_header("Content-Length") or "0").strip())
    except ValueError:
        problems.append(f"{where}: Content-Length {h.get_header('Content-Length')!r} is not a number")
        length = 0
    return RecordMeta(index=index, src_offset=offset, src_length=0, type=rec.rec_type or "", record_id=rid,
                      protocol="ARC" if arc else (h.protocol or "WARC/1.1"), warc_headers=list(h.headers),
                      uri=h.get_header("WARC-Target-URI"), date=date,
                      content_type=(h.get_header("Content-Type") or "application/octet-stream").strip(),
                      block_length=length, generated_id=generated, where_text=where)


def scan(open_stream, label: str, *, file_size: int | None = None) -> ScanResult:
    """Check every record of one WARC/ARC stream. ``open_stream()`` returns a fresh binary stream
    (called again to read a single-member gzip through ``gzip``). Raises :class:`WarcImportError`
    naming the file, offset and record of every problem; nothing is written either way."""
    arc = _looks_like_arc(open_stream)
    try:
        return _scan(open_stream(), label, decompress_whole=False, arc=arc)
    except _NotChunkedGzip:
        with open_stream() as raw:
            return _scan(gzip.GzipFile(fileobj=raw), label, decompress_whole=True, arc=arc)


def _looks_like_arc(open_stream) -> bool:
    with open_stream() as fh:
        start = fh.read(4096)
    if start[:2] == b"\x1f\x8b":
        try:
            start = zlib.decompressobj(31).decompress(start, 64)
        except zlib.error:
            return False
    return start.lstrip().startswith(b"filedesc://")


class _NotChunkedGzip(Exception):
    pass


def _scan(stream, label: str, *, decompress_whole: bool, arc: bool) -> ScanResult:
    records = Spill(codec=META_CODEC)
    problems: list[str] = []
    limit = _limit()
    ratio_max = settings.NAQL_IMPORT_MAX_RATIO
    ratio_floor = settings.NAQL_IMPORT_RATIO_FLOOR
    gz_members = False
    with stream:
        it = ArchiveIterator(stream, arc2warc=arc, no_record_parse=True)
        offset = 0
        prev = "the start of the file"
        try:
            for rec in it:
                offset = it.offset
                if not arc and rec.format != "warc":
                    raise ArchiveLoadFailed(f"not a WARC record ({rec.format} header)")
                gz_members = it.reader.decompressor is not None
                meta = _base_meta(rec, len(records), offset, prev, problems, arc=arc)
                if meta.block_length > limit:
                    raise WarcImportError(
                        f"{label}: {meta.where} declares a {meta.block_length}-byte block, over the import limit "
                        f"of {limit} bytes (NAQL_CAPTURE_MAX_BODY); nothing imported",
                        details={"problems": [f"{meta.where}: block too large"]})
                errs = it.err_count
                _scan_record(rec, meta, problems, want_block_sha=arc)
                meta.src_length = it.get_record_length()
                if it.err_count != errs:
                    problems.append(f"{meta.where}: not followed by the blank lines that end a record; its "
                                    f"Content-Length {meta.block_length} does not match the bytes that follow")
                if (gz_members and meta.block_length > ratio_floor
                        and meta.block_length > ratio_max * max(meta.src_length, 1)):
                    raise WarcImportError(
                        f"{label}: {meta.where} inflates from {meta.src_length} to {meta.block_length} bytes, over "
                        f"the decompression-ratio limit {ratio_max}:1 (NAQL_IMPORT_MAX_RATIO); nothing imported",
                        details={"problems": [f"{meta.where}: decompression ratio over limit"]})
                meta.slim()
                records.append(meta)
                prev = f"record {meta.record_id} at offset {offset}"
        except WarcImportError:
            raise
        except ArchiveLoadFailed as exc:
            if "non-chunked gzip" in str(exc) and not decompress_whole:
                raise _NotChunkedGzip() from exc
            raise WarcImportError(f"{label}: the record at offset {it.offset} (after {prev}, whose Content-Length "
                                  "may be wrong) cannot be read "
                                  f"({str(exc).strip().splitlines()[0] if str(exc).strip() else exc}); nothing imported"
                                  ) from exc
        except (EOFError, OSError, ValueError) as exc:
            raise WarcImportError(f"{label}: the record at offset {it.offset} (after {prev}, whose Content-Length "
                                  f"may be wrong) cannot be read ({exc}); nothing imported") from exc
    if problems:
        raise WarcImportError(f"{label}: {len(problems)} record(s) failed the length or digest checks "
                              f"(first: {problems[0]}); nothing imported", details={"problems": problems[:50]})
    if not records:
        raise WarcImportError(f"{label}: no WARC or ARC records found")
    verbatim = gz_members and not decompress_whole and not arc
    return ScanResult(records, verbatim=verbatim, decompress_whole=decompress_whole)


def iter_range(stream, offset: int, length: int) -> Iterator[bytes]:
    stream.seek(offset)
    left = length
    while left:
        data = stream.read(min(CHUNK, left))
        if not data:
            raise WarcImportError(f"source changed while importing: {length} bytes expected at offset {offset}")
        left -= len(data)
        yield data


def iter_record_bytes(stream, metas: Iterable[RecordMeta], *, decompress_whole: bool) -> Iterator[tuple[RecordMeta, Iterator[bytes]]]:
    """Second pass for files that cannot be copied member by member (uncompressed WARC, ARC, one
    gzip member for the whole file): each record as WARC bytes (head, block, CRLF CRLF), streamed.
    ARC records become WARC records (warcio's arc2warc) with the record ID and block digest from
    the first pass."""
    metas = iter(metas)
    first = next(metas, None)
    if first is None:
        return
    src = gzip.GzipFile(fileobj=stream) if decompress_whole else stream
    it = ArchiveIterator(src, arc2warc=first.protocol == "ARC", no_record_parse=True)
    for meta, rec in zip(chain([first], metas), it, strict=False):
        yield meta, _record_chunks(rec, meta)


def _record_chunks(rec, meta: RecordMeta) -> Iterator[bytes]:
    h = rec.rec_headers
    lines = []
    if meta.protocol == "ARC":
        lines.append("WARC/1.1")
        for k, v in h.headers:
            if k.lower() in ("warc-record-id", "warc-block-digest", "content-length"):
                continue
            lines.append(f"{k}: {v}")
        lines.insert(2, f"WARC-Record-ID: {meta.record_id}")
        lines.append(f"Content-Length: {meta.block_length}")
        lines.append(f"WARC-Block-Digest: sha256:{base64.b32encode(bytes.fromhex(meta.block_sha256)).decode()}")
    else:
        lines.append(h.protocol)
        if meta.generated_id:
            lines.append(f"WARC-Record-ID: {meta.record_id}")
        lines.extend(f"{k}: {v}" for k, v in h.headers)
    yield ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")
    while True:
        chunk = rec.raw_stream.read(CHUNK)
        if not chunk:
            break
        yield chunk
    yield b"\r\n\r\n"
