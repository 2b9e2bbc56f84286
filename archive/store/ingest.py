"""Import WARC, ARC (gzipped or not) and WACZ files made by other tools as snapshots.

All or nothing: the file is read completely and every digest checked *before* anything is
written. Records are re-written into a Naql WARC (one gzip member each) with their WARC headers'
identity (record ID, date, target URI) and their blocks byte-for-byte; the original file's name
and SHA-256 are kept in the new file's warcinfo record and on the WarcFile row.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.db import transaction
from warcio.archiveiterator import ArchiveIterator
from warcio.bufferedreaders import ChunkedDataReader
from warcio.exceptions import ArchiveLoadFailed

from archive.capture.fetch import decode_content
from archive.errors import CaptureError, WarcImportError
from archive.models import Snapshot, WarcFile
from archive.store.snapshots import apply_extraction
from archive.store.warcstore import (
    WarcBuilder,
    http_payload_offset,
    raw_http_body,
    read_response,
    warc_digest,
)
from archive.uri import iri_to_uri, surt_key

HTML_TYPES = ("text/html", "application/xhtml+xml")


@dataclass
class _Rec:
    type: str
    headers: list[tuple[str, str]]
    block: bytes
    uri: str | None
    date: datetime
    record_id: str | None
    content_type: str


@dataclass
class ImportResult:
    warc_file: WarcFile
    snapshots: list[Snapshot]
    skipped: list[str]


def _parse_date(value: str | None) -> datetime:
    if not value:
        return datetime.now(UTC)
    value = value.strip()
    for fmt in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ", "%Y%m%d%H%M%S"):
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise WarcImportError(f"unparseable WARC-Date {value!r}")


def _digest_matches(declared: str, data: bytes) -> bool | None:
    """Compare a WARC digest header (any algorithm warcio knows; base32, hex or base64) with data."""
    from warcio.digestverifyingreader import _compare_digest_rfc_3548
    from warcio.utils import Digester

    try:
        algo = declared.split(":", 1)[0]
        d = Digester(algo)
    except ValueError:
        return None
    d.update(data)
    return _compare_digest_rfc_3548(d, declared)


def _read_all(stream, label: str) -> list[_Rec]:
    """Read every record, checking block and payload digests and lengths. Any problem rejects
    the whole file. HTTP heads are not parsed here, so blocks stay byte-exact."""
    records: list[_Rec] = []
    problems: list[str] = []
    try:
        # Digests are checked here rather than by warcio: with the HTTP head left unparsed
        # (byte-exactness), warcio would hash the whole block as the payload.
        it = ArchiveIterator(stream, arc2warc=True, no_record_parse=True)
        for rec in it:
            block = rec.raw_stream.read()
            offset = it.get_record_offset()
            h = rec.rec_headers
            bd = h.get_header("WARC-Block-Digest")
            if bd and _digest_matches(bd, block) is False:
                problems.append(f"record at offset {offset}: block digest failed: {bd}")
            declared = h.get_header("Content-Length")
            if declared is not None and rec.rec_type != "warcinfo" and int(declared) != len(block):
                problems.append(f"record at offset {offset}: Content-Length {declared} but {len(block)} bytes "
                                "present (truncated or altered)")
            ctype = h.get_header("Content-Type") or "application/octet-stream"
            pd = h.get_header("WARC-Payload-Digest")
            if pd and rec.rec_type in ("response", "request") and ctype.startswith("application/http"):
                if _digest_matches(pd, block[http_payload_offset(block):]) is False:
                    problems.append(f"record at offset {offset}: payload digest failed: {pd}")
            records.append(_Rec(
                type=rec.rec_type, headers=list(h.headers), block=block, uri=h.get_header("WARC-Target-URI"),
                date=_parse_date(h.get_header("WARC-Date")), record_id=h.get_header("WARC-Record-ID"),
                content_type=ctype,
            ))
    except (ArchiveLoadFailed, EOFError, OSError, ValueError, zipfile.BadZipFile) as exc:
        raise WarcImportError(f"{label}: not a readable WARC/ARC file ({exc})") from exc
    if problems:
        raise WarcImportError(f"{label}: digest or length check failed; nothing imported",
                              details={"problems": problems[:50]})
    if not records:
        raise WarcImportError(f"{label}: no WARC or ARC records found")
    return records


def _open_inputs(path: Path) -> list[tuple[str, io.BufferedIOBase]]:
    if path.suffix.lower() == ".wacz":
        try:
            zf = zipfile.ZipFile(path)
        except zipfile.BadZipFile as exc:
            raise WarcImportError(f"{path.name}: not a WACZ (zip) file") from exc
        names = [n for n in zf.namelist() if n.startswith("archive/") and (n.endswith(".warc.gz") or n.endswith(".warc"))]
        if not names:
            raise WarcImportError(f"{path.name}: WACZ has no archive/*.warc(.gz) files")
        return [(f"{path.name}!{n}", io.BytesIO(zf.read(n))) for n in names]
    return [(path.name, open(path, "rb"))]  # noqa: SIM115 - closed by the caller


def import_file(path: str | Path, *, user=None) -> ImportResult:
    path = Path(path)
    if not path.is_file():
        raise WarcImportError(f"{path}: no such file")
    source_sha = hashlib.sha256(path.read_bytes()).hexdigest()
    records: list[_Rec] = []
    for label, stream in _open_inputs(path):
        with stream:
            records.extend(_read_all(stream, label))
    return _write_and_index(records, source_name=path.name, source_sha=source_sha, user=user)


def _body(block: bytes, headers: dict[str, str]) -> bytes:
    body = block[http_payload_offset(block):]
    if headers.get("transfer-encoding", "").lower() == "chunked" and body:
        body = ChunkedDataReader(io.BytesIO(body)).read()
    return body


def _http_meta(block: bytes) -> tuple[int, dict[str, str]]:
    head = block[: http_payload_offset(block)].decode("latin-1")
    lines = head.split("\r\n") if "\r\n" in head else head.split("\n")
    try:
        status = int(lines[0].split()[1])
    except (IndexError, ValueError):
        status = 0
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers.setdefault(k.strip().lower(), v.strip())
    return status, headers


def _write_and_index(records: list[_Rec], *, source_name: str, source_sha: str, user) -> ImportResult:
    builder = WarcBuilder()
    written = []
    try:
        builder.write_warcinfo(extra={"imported-from": source_name, "imported-from-sha256": source_sha})
        for r in records:
            if r.type == "warcinfo":
                continue
            keep = {k: v for k, v in r.headers if k.lower() not in {
                "warc-type", "warc-record-id", "warc-date", "warc-target-uri", "content-type", "content-length",
                "warc-block-digest", "warc-payload-digest"}}
            is_http = r.type in ("response", "request", "revisit") and r.content_type.startswith("application/http")
            declared = dict((k.lower(), v) for k, v in r.headers).get("warc-payload-digest")
            if r.type == "revisit" or (
                    is_http and declared and declared == warc_digest(r.block[http_payload_offset(r.block):])):
                # a revisit's declared digest, or one already in Naql's form (sha256, base32; checked in
                # _read_all), is kept where it stood: a record exported by Naql is re-written to the very
                # same bytes (same record SHA-256)
                keep = {k: v for k, v in r.headers if k.lower() not in {
                    "warc-type", "warc-record-id", "warc-date", "warc-target-uri", "content-type",
                    "content-length", "warc-block-digest"}}
            info = builder.write_record(r.type, block=r.block, content_type=r.content_type, uri=r.uri, date=r.date,
                                        headers=keep, http_payload=is_http and r.type != "revisit",
                                        record_id=r.record_id)
            written.append((r, info))
        published = builder.publish(prefix="import")
    except BaseException:
        builder.abort()
        raise
    snaps: list[Snapshot] = []
    skipped: list[str] = []
    with transaction.atomic():
        wf = WarcFile.objects.create(name=published.name, size=published.size, sha256=published.sha256,
                                     record_count=len(published.records), origin=WarcFile.Origin.IMPORTED,
                                     source_name=source_name)
        for r, info in written:
            if r.type not in ("response", "revisit") or not r.uri or not r.content_type.startswith("application/http"):
                continue
            status, headers = _http_meta(r.block)
            mime = headers.get("content-type", "").split(";")[0].strip().lower()
            body = _body(r.block, headers)
            original = None
            if r.type == "revisit":
                digest = dict((k.lower(), v) for k, v in r.headers).get("warc-payload-digest")
                original = _revisit_original(r.uri, digest) if digest else None
                if original is None:
                    skipped.append(f"revisit of {r.uri}: original not in the archive")
                    continue
            snap = Snapshot(
                url=iri_to_uri(r.uri), captured_at=r.date, status=status, mime=mime,
                content_type=headers.get("content-type", ""),
                payload_sha256=original.payload_sha256 if original else hashlib.sha256(body).hexdigest(),
                payload_length=original.payload_length if original else len(body),
                payload_digest=info.payload_digest or warc_digest(r.block[http_payload_offset(r.block):]),
                record_type=r.type, record_id=info.record_id, record_sha256=info.sha256, warc_file=wf,
                offset=info.offset, length=info.length, records=[info.as_dict()], payload_snapshot=original,
                is_requisite=mime not in HTML_TYPES, owner=user if getattr(user, "pk", None) else None,
            )
            if mime in HTML_TYPES and not original and (decoded := _decoded(body, headers)) is not None:
                apply_extraction(snap, decoded, snap.content_type)
            snap.save()
            snaps.append(snap)
        from archive.signals import snapshot_captured

        pages = [s for s in snaps if not s.is_requisite and s.status == 200]
        transaction.on_commit(lambda: [snapshot_captured.send(sender=Snapshot, snapshot=s) for s in pages])
    return ImportResult(wf, snaps, skipped)


REVISIT_CANDIDATES = 20


def _revisit_original(uri: str, digest: str) -> Snapshot | None:
    """The archived response whose payload a revisit record refers to. Same key and index as
    capture's dedup, (surt, sha256 payload digest); other tools mostly write sha1 (or another
    encoding), so failing that, the latest captures of the URL are checked against the digest
    as declared, on their stored bytes."""
    responses = Snapshot.objects.filter(surt=surt_key(uri), record_type=Snapshot.RecordType.RESPONSE)
    hit = responses.filter(payload_digest=digest).order_by("-captured_at").first()
    if hit is not None:
        return hit
    for cand in responses.select_related("warc_file").order_by("-captured_at")[:REVISIT_CANDIDATES]:
        stored = read_response(cand.warc_file.name, cand.offset, cand.length, expected_sha256=cand.record_sha256)
        if _digest_matches(digest, raw_http_body(stored.raw_block)):
            return cand
    return None


def _decoded(body: bytes, headers: dict[str, str]) -> bytes | None:
    """Body with Content-Encoding undone (as at capture), or None when it cannot be: the record
    is imported either way, only extraction is skipped."""
    try:
        return decode_content(body, [headers.get("content-encoding", "")], max_size=settings.NAQL_CAPTURE_MAX_BODY)
    except CaptureError:
        return None
