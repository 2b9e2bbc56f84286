"""Append-only WARC files: writing records with exact bytes, publishing, reading, fixity.

Why Naql writes records itself rather than through ``warcio.WARCWriter``: warcio re-serialises
the HTTP headers it parsed, which rewrites non-ASCII header bytes; evidence must be the bytes the
server sent. Reading, indexing and checking still go through warcio.

Publishing: a WARC is assembled in ``NAQL_TMP_DIR`` under a ``.part`` name, fsynced, checksummed,
and only then published to the ``warcs`` storage under a deterministic, content-addressed,
sharded name (``YYYY/MM/DD/<sha[:2]>/naql-<timestamp>-<sha[:16]>.warc.gz``). A published file is
never opened for writing again; the filesystem backend links it into place (no overwrite
possible), makes it read-only, fsyncs the directory (the name is durable, not only the bytes;
a day or shard directory created for it is fsynced into its parent too), and refuses deletion.
A crash before publishing leaves only a ``.part`` file, which nothing points to. These two
fsyncs (file, directory; a third and fourth when the day's shard directory is new, for about the
first 256 captures of a day), and the fsync of the database commit that indexes the file, are
the per-capture floor of a durable commit: one WARC file per capture, page and requisites
together. Each waits for its predecessor (bytes, then name, then index), so they cannot overlap.

Large bodies: :meth:`WarcBuilder.write_record` takes a ``block_tail`` (a spooled response body)
with the block digest computed while it was read, and copies it a piece at a time.
"""

from __future__ import annotations

import base64
import errno
import gzip
import hashlib
import io
import json
import os
import platform
import tempfile
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import FileSystemStorage, storages
from warcio.archiveiterator import ArchiveIterator
from warcio.bufferedreaders import ChunkedDataReader

from archive.errors import (
    ArchiveError,
    FixityError,
    ImmutableFileExists,
    StorageError,
    StorageFull,
    StorageUnavailable,
)

REVISIT_PROFILE = "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest"
HTTP_RESPONSE_TYPE = "application/http; msgtype=response"
HTTP_REQUEST_TYPE = "application/http; msgtype=request"


# --------------------------------------------------------------------------------------------
# storage
# --------------------------------------------------------------------------------------------
class ImmutableFileSystemStorage(FileSystemStorage):
    """A FileSystemStorage that publishes by hard-linking a fsynced temp file, never overwrites
    and never deletes."""

    def get_available_name(self, name, max_length=None):
        return name  # no "_abc123" suffixes: a name is an identity, and collisions are errors

    def _save(self, name, content):
        full = Path(self.path(name))
        _durable_mkdir(full.parent)
        fd, tmp = tempfile.mkstemp(dir=full.parent, prefix=".publish-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as fh:
                for chunk in content.chunks():
                    fh.write(chunk)
                fh.flush()
                os.fsync(fh.fileno())
            self._link_into_place(Path(tmp), full)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return name

    def publish_path(self, src: Path, name: str) -> str:
        """Publish an already fsynced local file (same filesystem: a link, no copy)."""
        full = Path(self.path(name))
        _durable_mkdir(full.parent)
        try:
            self._link_into_place(src, full)
        except OSError as exc:  # cross-device: fall back to a copy through _save
            if isinstance(exc, ImmutableFileExists):
                raise
            with open(src, "rb") as fh:
                self._save(name, File(fh))
        return name

    @staticmethod
    def _link_into_place(src: Path, full: Path) -> None:
        try:
            os.link(src, full)
        except FileExistsError as exc:
            raise ImmutableFileExists(f"refusing to overwrite published WARC {full.name}") from exc
        os.chmod(full, 0o444)
        _fsync_dir(full.parent)  # the new name is durable, not only the bytes

    def delete(self, name):
        raise StorageError("published WARC files are never deleted; withdraw the snapshot instead")


def _fsync_dir(path: Path) -> None:
    dir_fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _durable_mkdir(path: Path) -> None:
    """``mkdir -p`` whose new entries survive a power cut: each directory created is fsynced in its
    parent (the day and shard directories are new a few hundred times a day; most captures find
    theirs and pay one ``stat``)."""
    if path.is_dir():
        return
    missing = []
    while not path.is_dir():
        missing.append(path)
        path = path.parent
    for new in reversed(missing):
        try:
            new.mkdir()
        except FileExistsError:  # another worker made it just now: fsynced below all the same
            pass
        _fsync_dir(new.parent)


def warc_storage():
    return storages["warcs"]


# --------------------------------------------------------------------------------------------
# digests
# --------------------------------------------------------------------------------------------
def warc_digest(data: bytes | hashlib._Hash) -> str:
    h = data if hasattr(data, "digest") else hashlib.sha256(data)
    return "sha256:" + base64.b32encode(h.digest()).decode("ascii")


def http_payload_offset(block: bytes) -> int:
    """Index where the HTTP body starts in an application/http block (after the blank line)."""
    for sep in (b"\r\n\r\n", b"\n\n"):
        i = block.find(sep)
        if i >= 0:
            return i + len(sep)
    return len(block)


def warc_date(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_record_id() -> str:
    return f"<urn:uuid:{uuid.uuid4()}>"


# --------------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------------
@dataclass
class RecordInfo:
    type: str
    record_id: str
    uri: str | None
    offset: int
    length: int
    sha256: str
    block_digest: str
    payload_digest: str | None
    date: datetime

    def as_dict(self) -> dict:
        return {"type": self.type, "record_id": self.record_id, "offset": self.offset, "length": self.length,
                "sha256": self.sha256}


@dataclass
class PublishedWarc:
    name: str
    size: int
    sha256: str
    records: list[RecordInfo] = field(default_factory=list)  # empty when the builder did not keep them
    record_count: int = 0


def storage_os_error(exc: OSError, name: str) -> StorageError:
    """The archive error for an OSError of the WARC store: :class:`StorageFull` for a full disk or
    quota (ENOSPC, EDQUOT), :class:`StorageUnavailable` otherwise. Both are transient."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return StorageFull(f"no space left to write {name}", details={"name": name, "errno": exc.errno})
    return StorageUnavailable(f"could not write {name}: {exc.strerror or exc}",
                              details={"name": name, "errno": exc.errno})


class WarcBuilder:
    """Assemble one WARC file, each record its own gzip member, in a temporary file.

    ``keep_records=False``: ``records`` stays empty (only counted), so a file of many records (an
    import) costs no memory per record; each write still returns its :class:`RecordInfo`."""

    def __init__(self, tmp_dir: Path | None = None, *, keep_records: bool = True):
        tmp_dir = Path(tmp_dir or settings.NAQL_TMP_DIR)
        tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, path = tempfile.mkstemp(dir=tmp_dir, prefix="naql-", suffix=".warc.gz.part")
        self.path = Path(path)
        self._fh = os.fdopen(fd, "wb")
        self._file_hash = hashlib.sha256()
        self.size = 0
        self.records: list[RecordInfo] = []
        self.keep_records = keep_records
        self.record_count = 0
        self.first_date: datetime | None = None

    def write_record(self, warc_type: str, *, block: bytes, content_type: str, uri: str | None = None,
                     date: datetime | None = None, headers: dict | None = None, http_payload: bool = False,
                     record_id: str | None = None, block_tail=None, block_digest: str | None = None) -> RecordInfo:
        """Write one record whose block is ``block``, followed by ``block_tail`` when given: a
        streamed body (``.length`` and ``.chunks()``, e.g. :class:`archive.capture.spool.Body`),
        copied a piece at a time. With a tail, ``block_digest`` (of ``block`` + tail, computed
        while the body was read) is required: the block is not hashed again here."""
        date = (date or datetime.now(UTC)).replace(microsecond=0)
        self.first_date = self.first_date or date
        record_id = record_id or new_record_id()
        headers = headers or {}
        if block_tail is not None and not block_digest:
            raise ValueError("a streamed block needs the block digest computed while it was read")
        block_digest = block_digest or warc_digest(block)
        block_length = len(block) + (block_tail.length if block_tail is not None else 0)
        # a WARC-Payload-Digest the caller already computed is used, not computed again
        payload_digest = headers.get("WARC-Payload-Digest")
        if http_payload and not payload_digest and block_tail is None:
            payload_digest = warc_digest(block[http_payload_offset(block):])
        lines = [("WARC-Type", warc_type), ("WARC-Record-ID", record_id), ("WARC-Date", warc_date(date))]
        if uri:
            lines.append(("WARC-Target-URI", uri))
        for k, v in headers.items():
            if v is not None:
                lines.append((k, str(v)))
        lines.append(("Content-Type", content_type))
        lines.append(("WARC-Block-Digest", block_digest))
        if payload_digest and "WARC-Payload-Digest" not in headers:
            lines.append(("WARC-Payload-Digest", payload_digest))
        lines.append(("Content-Length", str(block_length)))
        head = "WARC/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in lines) + "\r\n"
        for k, v in lines:
            if "\r" in str(v) or "\n" in str(v):
                raise StorageError(f"WARC header {k} contains a line break")
        length, member_sha = self._write_member(head.encode("utf-8"), block, block_tail)
        info = RecordInfo(warc_type, record_id, uri, self.size, length, member_sha, block_digest, payload_digest,
                          date)
        self.size += length
        self.record_count += 1
        if self.keep_records:
            self.records.append(info)
        return info

    def append_member(self, chunks, *, compress: bool, warc_type: str, record_id: str, uri: str | None,
                      date: datetime, block_digest: str = "", payload_digest: str | None = None) -> RecordInfo:
        """Append one record from an iterable of byte chunks, streamed (memory flat in its size).

        ``compress=False``: the chunks already form one gzip member holding exactly one record (a
        record copied verbatim from another tool's ``.warc.gz``); ``compress=True``: they are the
        record's uncompressed bytes (WARC head, block, and the two CRLFs), gzipped here as one member.
        The member is hashed while it is written, once."""
        self.first_date = self.first_date or date
        offset = self.size
        member_hash = hashlib.sha256()
        comp = zlib.compressobj(6, zlib.DEFLATED, 31) if compress else None

        def emit(data: bytes) -> None:
            if data:
                self._fh.write(data)
                self._file_hash.update(data)
                member_hash.update(data)
                self.size += len(data)

        for chunk in chunks:
            emit(comp.compress(chunk) if comp else chunk)
        if comp:
            emit(comp.flush())
        info = RecordInfo(warc_type, record_id, uri, offset, self.size - offset, member_hash.hexdigest(),
                          block_digest, payload_digest, date)
        self.record_count += 1
        if self.keep_records:
            self.records.append(info)
        return info

    _PIECE = 1 << 20

    def _write_member(self, head: bytes, block: bytes, tail=None) -> tuple[int, str]:
        """Write ``head + block (+ tail) + CRLF CRLF`` as one gzip member, compressed and hashed a
        piece at a time (``gzip.compress`` of the concatenation held two more copies of a large
        body). Returns the member's length and SHA-256."""
        z = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # gzip container, mtime 0
        member_hash, length = hashlib.sha256(), 0

        def emit(data: bytes) -> None:
            nonlocal length
            if data:
                self._fh.write(data)
                self._file_hash.update(data)
                member_hash.update(data)
                length += len(data)

        emit(z.compress(head))
        view = memoryview(block)
        for at in range(0, len(view), self._PIECE):
            emit(z.compress(view[at:at + self._PIECE]))
        if tail is not None:
            for piece in tail.chunks(self._PIECE):
                emit(z.compress(piece))
        emit(z.compress(b"\r\n\r\n"))
        emit(z.flush())
        return length, member_hash.hexdigest()

    def write_warcinfo(self, filename_hint: str = "", extra: dict | None = None) -> RecordInfo:
        from archive import software_versions  # local: avoids import-time Django settings access

        fields = {"software": f"Naql/{software_versions()['naql']}", "format": "WARC File Format 1.1",
                  "conformsTo": "http://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/",
                  "hostname": platform.node(), "python": platform.python_version(),
                  "tools": json.dumps(software_versions(), sort_keys=True)}
        fields.update(extra or {})
        block = "".join(f"{k}: {v}\r\n" for k, v in fields.items()).encode("utf-8")
        return self.write_record("warcinfo", block=block, content_type="application/warc-fields",
                                 headers={"WARC-Filename": filename_hint or None})

    def abort(self) -> None:
        try:
            self._fh.close()
        except OSError:  # a full disk fails the buffered write on close too; the file goes below
            pass
        finally:
            self.path.unlink(missing_ok=True)

    def publish(self, *, prefix: str = "naql") -> PublishedWarc:
        """fsync, checksum and publish under a content-addressed name. The .part file is removed."""
        try:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            sha = self._file_hash.hexdigest()
            when = self.first_date or datetime.now(UTC)
            name = f"{when:%Y/%m/%d}/{sha[:2]}/{prefix}-{when:%Y%m%d%H%M%S}-{sha[:16]}.warc.gz"
            storage = warc_storage()
            try:
                if isinstance(storage, ImmutableFileSystemStorage):
                    storage.publish_path(self.path, name)  # link(2) refuses an existing name by itself
                else:
                    if storage.exists(name):
                        raise ImmutableFileExists(f"refusing to overwrite published WARC {name}")
                    with open(self.path, "rb") as fh:
                        storage.save(name, File(fh))
            except ArchiveError:
                raise
            except OSError as exc:
                raise storage_os_error(exc, name) from exc
            except Exception as exc:  # noqa: BLE001 - any client error of a remote store: retryable
                raise StorageUnavailable(f"could not publish {name}: {type(exc).__name__}: {exc}",
                                         details={"name": name, "type": type(exc).__name__}) from exc
            return PublishedWarc(name, self.size, sha, list(self.records), self.record_count)
        finally:
            self.path.unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------
def read_range(name: str, offset: int, length: int, *, expected_sha256: str | None = None) -> bytes:
    """``length`` bytes of ``name`` at ``offset``; FixityError when truncated or, given
    ``expected_sha256``, when they do not hash to it."""
    with warc_storage().open(name, "rb") as fh:
        fh.seek(offset)
        data = fh.read(length)
    return _check_range(name, offset, length, data, expected_sha256)


def _check_range(name: str, offset: int, length: int, data: bytes, expected_sha256: str | None) -> bytes:
    """``data``, the bytes found at ``offset``, when they are ``length`` bytes hashing to ``expected_sha256``."""
    if len(data) != length:
        raise FixityError(f"{name}: record at {offset} is truncated ({len(data)} of {length} bytes)")
    if expected_sha256 and hashlib.sha256(data).hexdigest() != expected_sha256:
        raise FixityError(f"{name}: record at {offset} does not match its recorded SHA-256")
    return data


@dataclass
class StoredResponse:
    """An HTTP response as read back from a WARC record."""

    status: int
    status_line: str
    headers: list[tuple[str, str]]
    raw_block: bytes  # the application/http block, exactly as stored
    body: bytes  # entity body: transfer-decoded (dechunked), Content-Encoding kept

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), None)


def read_response(name: str, offset: int, length: int, *, expected_sha256: str | None = None) -> StoredResponse:
    member = read_range(name, offset, length, expected_sha256=expected_sha256)
    it = ArchiveIterator(io.BytesIO(member))
    rec = next(iter(it))
    http = rec.http_headers
    block = gzip.decompress(member)
    start = block.find(b"\r\n\r\n") + 4
    raw_block = block[start : start + int(rec.rec_headers.get_header("Content-Length"))]
    if rec.rec_type == "resource":
        # WARC resource record (e.g. written by a browser-based crawler): the block is the content,
        # served as a 200 with the record's Content-Type, as pywb does
        ctype = rec.rec_headers.get_header("Content-Type") or "application/octet-stream"
        return StoredResponse(200, "HTTP/1.1 200 OK", [("Content-Type", ctype),
                                                      ("Content-Length", str(len(raw_block)))], raw_block, raw_block)
    headers = list(http.headers) if http else []
    status = int(http.get_statuscode()) if http else 0
    body = raw_http_body(raw_block)
    if http and (http.get_header("Transfer-Encoding") or "").lower() == "chunked" and body:
        body = ChunkedDataReader(io.BytesIO(body)).read()
    status_line = f"{http.protocol} {http.statusline}" if http else ""
    return StoredResponse(status, status_line, headers, raw_block, body)


def raw_http_body(raw_block: bytes) -> bytes:
    """Entity body as stored (still chunked, if the server chunked it)."""
    return raw_block[http_payload_offset(raw_block):]


# --------------------------------------------------------------------------------------------
# fixity
# --------------------------------------------------------------------------------------------
@dataclass
class FixityReport:
    name: str
    ok: bool
    problems: list[str] = field(default_factory=list)
    records_checked: int = 0


KEEP_WHOLE = 4 << 20  # files up to this size are read in one piece and kept for the record checks


def local_root(storage) -> str | None:
    """The directory of a local filesystem storage, ending in a separator (its files are opened
    directly: Django's storage layer costs more than hashing a small file); None for other storages."""
    return os.path.join(storage.location, "") if isinstance(storage, FileSystemStorage) else None


def _open_stored(storage, root: str | None, name: str):
    """``name`` opened for reading (a raw ``io.FileIO`` for a local file), or None when it is missing."""
    if root is None:
        return storage.open(name, "rb") if storage.exists(name) else None
    # a name safe_join would accept unchanged is joined here; any other (absolute, with "..") goes
    # through storage.path, which refuses what would leave the storage's directory
    path = storage.path(name) if name.startswith("/") or ".." in name or "\0" in name else root + name
    try:
        return open(path, "rb", buffering=0)  # noqa: SIM115 - closed by the caller
    except FileNotFoundError:
        return None


def _digest_open(fh) -> tuple[str, int, bytes | None]:
    """(SHA-256 hex, size in bytes, the bytes when at most KEEP_WHOLE) of an open file, read once."""
    if isinstance(fh, io.FileIO) and os.fstat(fh.fileno()).st_size <= KEEP_WHOLE:
        data = fh.read()  # one read of the whole (small) file
        return hashlib.sha256(data).hexdigest(), len(data), data
    h, size, kept = hashlib.sha256(), 0, []
    for chunk in iter(lambda: fh.read(1 << 20), b""):
        h.update(chunk)
        size += len(chunk)
        if size <= KEEP_WHOLE:
            kept.append(chunk)
    return h.hexdigest(), size, b"".join(kept) if size <= KEEP_WHOLE else None


def audit_file(name: str, *, expected_sha256: str,
               expected_records: dict[int, tuple[int, str, str | None]] | None = None,
               record_count: int | None = None, deep: bool = False) -> FixityReport:
    """Re-read a WARC file and compare it with what was recorded when it was written.

    One sequential pass computes the whole file's SHA-256; when it matches, every byte is the byte
    written (and checked: record digests are verified before a file is published), so the file is
    sound. Only when it does not match, or with ``deep``, is each record re-read: its stored SHA-256 at
    its recorded offset (``expected_records``: offset → (length, sha256, WARC-Record-ID as indexed)),
    so a damaged record is named even when it no longer parses, and with ``deep`` every record's
    WARC block and payload digests (the payload digest accepted over the entity after or before
    transfer decoding, as WARC 1.1 and older tools define it). A file of at most ``KEEP_WHOLE``
    bytes is read once: its records are checked from the bytes that were hashed."""
    storage = warc_storage()
    return audit_stored(storage, local_root(storage), name, expected_sha256=expected_sha256,
                        expected_records=expected_records, record_count=record_count, deep=deep)


def audit_stored(storage, root: str | None, name: str, *, expected_sha256: str,
                 expected_records: dict[int, tuple[int, str, str | None]] | None = None,
                 record_count: int | None = None, deep: bool = False) -> FixityReport:
    """:func:`audit_file` with the storage and its :func:`local_root` given (looked up once for many files)."""
    fh = _open_stored(storage, root, name)
    if fh is None:
        return FixityReport(name, False, ["file is missing from storage"])
    with fh:
        found, size, data = _digest_open(fh)
    expected_records = expected_records or {}
    checked = record_count if record_count is not None else len(expected_records)
    file_ok = found == expected_sha256
    if file_ok and not deep and all(offset + length <= size for offset, (length, _s, _r) in expected_records.items()):
        return FixityReport(name, True, [], checked)  # the common case, with nothing more to read
    report = FixityReport(name, True, records_checked=checked)
    if not file_ok:
        report.problems.append(f"file SHA-256 {found} != recorded {expected_sha256}")
    for offset, (length, _sha, record_id) in expected_records.items():
        if offset + length > size:
            report.problems.append(f"{name}: record at {offset} ({record_id or '?'}) lies beyond the file's end")
    if not file_ok or deep:
        for offset, (length, sha, record_id) in sorted(expected_records.items()):
            try:
                if data is None:
                    read_range(name, offset, length, expected_sha256=sha)
                else:
                    _check_range(name, offset, length, data[offset:offset + length], sha)
            except FixityError as exc:
                report.problems.append(f"{exc} ({record_id or '?'})")
    if deep:
        from archive.errors import WarcImportError
        from archive.store.warcread import scan

        opener = (lambda: storage.open(name, "rb")) if data is None else (lambda: io.BytesIO(data))
        try:
            report.records_checked = len(scan(opener, name).records)
        except WarcImportError as exc:
            report.problems.extend(exc.details.get("problems") or [exc.message])
    report.ok = not report.problems
    return report
