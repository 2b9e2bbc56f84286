"""Build small WARC/ARC/WACZ inputs byte by byte, the way other tools write them (tests only).

Hand-built rather than through warcio's writer where a test needs what warcio would not write:
digests over chunked bytes, segmented records, odd dates, wrong lengths."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import uuid
import zipfile
from pathlib import Path


def b32(algo: str, data: bytes) -> str:
    return f"{algo}:{base64.b32encode(hashlib.new(algo, data).digest()).decode()}"


def http_response(body: bytes, *, status: str = "200 OK", headers: list[tuple[str, str]] | None = None,
                  chunked: bool = False) -> tuple[bytes, bytes]:
    """(block, entity as sent on the wire after the head) of an HTTP/1.1 response."""
    headers = list(headers or [("Content-Type", "text/html; charset=utf-8")])
    if chunked:
        half = len(body) // 2
        wire = b"".join(f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in (body[:half], body[half:]) if p) + b"0\r\n\r\n"
        headers.append(("Transfer-Encoding", "chunked"))
    else:
        wire = body
        headers.append(("Content-Length", str(len(body))))
    head = f"HTTP/1.1 {status}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
    return head.encode("latin-1") + wire, wire


def record(warc_type: str, uri: str | None, block: bytes, *, date: str = "2024-05-06T07:08:09Z",
           content_type: str = "application/http; msgtype=response", extra: list[tuple[str, str]] | None = None,
           record_id: str | None = None, length: int | None = None, block_digest: bool = True,
           payload_digest: str | None = None, version: str = "WARC/1.1") -> tuple[str, bytes]:
    """(record ID, bytes of one uncompressed WARC record, trailing CRLF CRLF included)."""
    rid = record_id or f"<urn:uuid:{uuid.uuid4()}>"
    lines = [("WARC-Type", warc_type), ("WARC-Record-ID", rid), ("WARC-Date", date)]
    if uri is not None:
        lines.append(("WARC-Target-URI", uri))
    lines += extra or []
    lines.append(("Content-Type", content_type))
    if block_digest:
        lines.append(("WARC-Block-Digest", b32("sha1", block)))
    if payload_digest:
        lines.append(("WARC-Payload-Digest", payload_digest))
    lines.append(("Content-Length", str(len(block) if length is None else length)))
    head = version + "\r\n" + "".join(f"{k}: {v}\r\n" for k, v in lines) + "\r\n"
    return rid, head.encode() + block + b"\r\n\r\n"


def response(uri: str, body: bytes, *, chunked: bool = False, digest_basis: str = "decoded", **kw) -> tuple[str, bytes]:
    block, wire = http_response(body, chunked=chunked, headers=kw.pop("http_headers", None),
                                status=kw.pop("status", "200 OK"))
    payload = body if digest_basis == "decoded" else wire
    return record("response", uri, block, payload_digest=b32("sha1", payload), **kw)


def write_warc(path: Path, records: list[bytes], *, gz: bool = True) -> Path:
    with open(path, "wb") as fh:
        for r in records:
            fh.write(gzip.compress(r) if gz else r)
    return path


def write_wacz(path: Path, warcs: dict[str, bytes], *, pages: list[dict] | None = None,
               tamper: str | None = None, cdxj: str | None = None) -> Path:
    """A WACZ 1.1.1 package; ``tamper`` names a file whose bytes change after hashing."""
    files = {f"archive/{name}": data for name, data in warcs.items()}
    if cdxj is not None:
        files["indexes/index.cdxj"] = cdxj.encode()
    files["pages/pages.jsonl"] = "\n".join(json.dumps(r) for r in
                                           [{"format": "json-pages-1.0", "id": "pages"}] + (pages or [])).encode()
    resources = [{"name": Path(n).name, "path": n, "hash": "sha256:" + hashlib.sha256(d).hexdigest(),
                  "bytes": len(d)} for n, d in files.items()]
    if tamper:
        files[tamper] = files[tamper][:-10] + bytes(10)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for n, d in files.items():
            zf.writestr(n, d)
        zf.writestr("datapackage.json", json.dumps({"profile": "data-package", "wacz_version": "1.1.1",
                                                     "resources": resources}))
    return path
