"""WACZ 1.1.1 packages of snapshots: the original WARC records, untouched, with index, pages and manifest.

Layout (https://specs.webrecorder.net/wacz/1.1.1/)::

    archive/data.warc.gz        the stored gzip members of every record, copied byte for byte
    indexes/index.cdx           CDXJ, SURT-sorted, offsets and lengths into archive/data.warc.gz
    pages/pages.jsonl           one line per page: id = citable snapshot ID, url, ts, title
    <dir>/<file>                extra files given by the caller (the provenance side adds PROV
                                and Web Annotation files), each listed in datapackage.json
    datapackage.json            Frictionless Data Package: sha256 and size of every file above
    datapackage-digest.json     sha256 of datapackage.json and its signature (see signing.py)

What goes in: the requested snapshots and, for each, its redirect hops, its page requisites and,
for a revisit, the snapshot holding the payload, each with all records of its exchange (request,
response or revisit, metadata), filtered through ``Snapshot.objects.visible_to(user)``. A revisit
original is included even when the reader may not see it as a snapshot: its body is what the
revisit replays, which the reader may already see.

Records are copied from the stored WARC files in (file, offset) order, so a revisit's original
always comes before it, and each record is checked against its recorded SHA-256 while it is
copied: a record failing fixity aborts the package (``FixityError``); evidence is never
packaged damaged. Writing is streamed (1 MiB at a time) into a zip on disk: memory does not grow
with the package, only with the number of records (one index line each).

Packages are cached by content under ``NAQL_PACKAGE_DIR``: the key is the SHA-256 of everything
that goes in (record digests, page metadata, extra files, signing key, TSA), so the same request
answers with the same file until something in it changes. The zip is canonical: ZIP_STORED,
every entry dated at the package's creation time, fixed attributes, nothing between entries, so
that ``verify.py`` can refuse a container with a single changed byte anywhere.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings

from archive.errors import FixityError, PackageError
from archive.models import Snapshot
from archive.store.warcstore import warc_storage
from archive.uri import public_origin, surt_key

log = logging.getLogger(__name__)

WACZ_VERSION = "1.1.1"
FORMAT = "naql-wacz-1"  # bump when the package layout changes: it is part of the cache key
WARC_NAME = "archive/data.warc.gz"
INDEX_NAME = "indexes/index.cdx"
PAGES_NAME = "pages/pages.jsonl"
CHUNK = 1 << 20
# Fixed container attributes (checked by verify.py): regular file, rw-r--r--, made on Unix.
EXTERNAL_ATTR = 0o100644 << 16
CREATE_SYSTEM = 3
ZIP64_LIMIT = (1 << 31) - 1
HEAVY = ("text", "main_text", "extracted")  # derived text, not needed to package the bytes


@dataclass
class ExtraFile:
    """A file the caller adds to the package: ``path`` is ``<dir>/<name>`` (one folder deep, as
    WACZ validators expect), ``data`` its bytes."""

    path: str
    data: bytes
    mediatype: str = "application/json"

    def __post_init__(self):
        parts = self.path.split("/")
        if len(parts) != 2 or not all(parts) or "." not in parts[1] or parts[0] in ("archive", "indexes", "pages"):
            raise PackageError(f"extra file path {self.path!r} must be <folder>/<name.ext> outside the WACZ folders")


@dataclass
class Package:
    path: Path
    key: str
    created: str
    snapshots: list[str]  # GUIDs of the page snapshots listed in pages.jsonl
    records: int
    size: int
    signed: dict | None = None
    cached: bool = False
    files: dict[str, str] = field(default_factory=dict)  # path -> "sha256:..."


# --------------------------------------------------------------------------------------------
# what goes in


def collect(snapshots: Iterable[Snapshot], user=None) -> list[Snapshot]:
    """The closure of ``snapshots`` the reader ``user`` may see (redirect hops, final, requisites,
    including those a recapture reused: ``Snapshot.requisites_reused``), plus revisit originals.
    Sorted by (WARC file, offset); no duplicates."""
    visible = Snapshot.objects.visible_to(user)
    todo = [s.pk for s in snapshots]
    seen: dict[int, Snapshot] = {}
    originals: set[int] = set()
    while todo:
        batch = [pk for pk in dict.fromkeys(todo) if pk not in seen]
        todo = []
        if not batch:
            break
        for s in visible.filter(pk__in=batch).select_related("warc_file").defer(*HEAVY):
            seen[s.pk] = s
            todo.extend(pk for pk in (s.redirect_to_id, s.final_id) if pk)
            if s.payload_snapshot_id:
                originals.add(s.payload_snapshot_id)
            todo.extend(s.requisites_reused or [])  # requisites this capture found unchanged, held by earlier ones
        todo.extend(visible.filter(page_id__in=batch).values_list("pk", flat=True))
    missing = originals - set(seen)
    for s in Snapshot.objects.live().filter(pk__in=missing).select_related("warc_file").defer(*HEAVY):
        seen[s.pk] = s
    return sorted(seen.values(), key=lambda s: (s.warc_file_id, s.offset))


def _records(snaps: list[Snapshot]) -> list[tuple[Snapshot, dict]]:
    """Every stored record of ``snaps`` as (owner snapshot, {type, offset, length, sha256})."""
    out, seen = [], set()
    for s in snaps:
        recs = s.records or [{"type": s.record_type, "offset": s.offset, "length": s.length,
                              "sha256": s.record_sha256, "record_id": s.record_id}]
        for r in recs:
            key = (s.warc_file_id, int(r["offset"]))
            if key not in seen:
                seen.add(key)
                out.append((s, r))
    out.sort(key=lambda x: (x[0].warc_file_id, int(x[1]["offset"])))
    return out


def pages_of(snaps: list[Snapshot], requested: Iterable[Snapshot]) -> list[Snapshot]:
    """Page snapshots to list: the requested ones (at the end of their redirects), in capture order."""
    by_pk = {s.pk: s for s in snaps}
    out: dict[int, Snapshot] = {}
    for r in requested:
        s = by_pk.get(r.final_id or r.pk) or by_pk.get(r.pk)
        if s is not None:
            out[s.pk] = s
    return sorted(out.values(), key=lambda s: (s.captured_at, s.pk))


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _page_line(s: Snapshot) -> dict:
    base = public_origin()  # NAQL_PUBLIC_URL, else where `run` listens (packages are built without a request)
    return {"id": s.guid, "url": s.url, "ts": _iso(s.captured_at), "title": s.title or s.url,
            "snapshot": s.guid, "citation": f"{base}/s/{s.guid}", "status": s.status,
            "recordSha256": s.record_sha256}


def package_key(snaps: list[Snapshot], pages: list[Snapshot], extra: list[ExtraFile], meta: dict,
                signer_id: str) -> str:
    h = hashlib.sha256()
    h.update(json.dumps({"format": FORMAT, "meta": meta, "signer": signer_id,
                         "pages": [_page_line(p) for p in pages]}, sort_keys=True).encode())
    for s, r in _records(snaps):
        h.update(f"{s.guid} {s.url} {s.captured_at.isoformat()} {s.status} {s.mime} {s.payload_digest} "
                 f"{s.record_type} {r['sha256']} {r['length']}\n".encode())
    for f in extra:
        h.update(f"{f.path} {f.mediatype} {hashlib.sha256(f.data).hexdigest()}\n".encode())
    return h.hexdigest()


# --------------------------------------------------------------------------------------------
# writing


class _Zip:
    """A canonical ZIP_STORED writer that hashes what it writes."""

    def __init__(self, fh, created: datetime):
        self.zf = zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_STORED)
        self.date_time = created.astimezone(UTC).timetuple()[:6]
        self.files: dict[str, tuple[str, int]] = {}

    def _info(self, name: str) -> zipfile.ZipInfo:
        zi = zipfile.ZipInfo(name, date_time=self.date_time)
        zi.compress_type = zipfile.ZIP_STORED
        zi.external_attr = EXTERNAL_ATTR
        zi.create_system = CREATE_SYSTEM
        return zi

    def write_stream(self, name: str, chunks: Iterable[bytes], *, size_hint: int = 0) -> tuple[str, int]:
        h, n = hashlib.sha256(), 0
        with self.zf.open(self._info(name), "w", force_zip64=size_hint > ZIP64_LIMIT) as out:
            for chunk in chunks:
                h.update(chunk)
                n += len(chunk)
                out.write(chunk)
        self.files[name] = ("sha256:" + h.hexdigest(), n)
        return self.files[name]

    def write_bytes(self, name: str, data: bytes) -> tuple[str, int]:
        return self.write_stream(name, [data], size_hint=len(data))

    def close(self):
        self.zf.close()


def _copy_records(records: list[tuple[Snapshot, dict]], new_offsets: dict) -> Iterable[bytes]:
    """Yield the stored bytes of ``records`` in order, checking each against its SHA-256;
    ``new_offsets[(warc_file_id, offset)]`` receives the record's offset in the package WARC."""
    storage = warc_storage()
    pos = 0
    current, fh = None, None
    try:
        for s, r in records:
            name = s.warc_file.name
            if name != current:
                if fh is not None:
                    fh.close()
                fh, current = storage.open(name, "rb"), name
            offset, length = int(r["offset"]), int(r["length"])
            fh.seek(offset)
            h, left = hashlib.sha256(), length
            new_offsets[(s.warc_file_id, offset)] = pos
            while left:
                chunk = fh.read(min(CHUNK, left))
                if not chunk:
                    raise FixityError(f"{name}: record at {offset} is truncated")
                h.update(chunk)
                left -= len(chunk)
                yield chunk
            if r.get("sha256") and h.hexdigest() != r["sha256"]:
                raise FixityError(f"{name}: record at {offset} ({s.guid}) does not match its recorded SHA-256;"
                                  " not packaged")
            pos += length
    finally:
        if fh is not None:
            fh.close()


def cdxj_lines(snaps: list[Snapshot], new_offsets: dict, warc_filename: str = "data.warc.gz") -> list[str]:
    """CDXJ lines (pywb's ``surt timestamp {json}``) of the response and revisit records, sorted."""
    lines = []
    for s in snaps:
        off = new_offsets.get((s.warc_file_id, s.offset))
        if off is None:
            continue
        rec = {"url": s.url, "mime": "warc/revisit" if s.record_type == Snapshot.RecordType.REVISIT else
               (s.mime or "unk"), "status": str(s.status), "digest": s.payload_digest, "length": str(s.length),
               "offset": str(off), "filename": warc_filename}
        lines.append((s.surt or surt_key(s.url), s.timestamp, off, json.dumps(rec, ensure_ascii=False)))
    lines.sort()
    return [f"{k} {ts} {j}\n" for k, ts, _o, j in lines]


def write_package(out, snaps: list[Snapshot], pages: list[Snapshot], *, extra: list[ExtraFile] = (),
                  meta: dict | None = None, created: datetime | None = None,
                  signer: Callable[[str, str], dict | None] | None = None) -> dict:
    """Write a WACZ to the binary file object ``out`` (seekable). Returns
    ``{"created", "files": {path: hash}, "records", "signed"}``. ``signer(hash, created)`` returns
    the ``signedData`` of datapackage-digest.json (or None: unsigned)."""
    created_dt = (created or datetime.now(UTC)).replace(microsecond=0)
    created_s = _iso(created_dt)
    meta = dict(meta or {})
    z = _Zip(out, created_dt)
    try:
        return _write_entries(z, snaps, pages, extra, meta, created, created_s, signer)
    except BaseException:
        try:  # close the half-written zip while its file is open (the caller deletes the file)
            z.close()
        except (OSError, ValueError, RuntimeError):
            pass
        raise


def _write_entries(z: _Zip, snaps, pages, extra, meta, created, created_s, signer) -> dict:
    records = _records(snaps)
    new_offsets: dict = {}
    total = sum(int(r["length"]) for _s, r in records)
    z.write_stream(WARC_NAME, _copy_records(records, new_offsets), size_hint=total)
    z.write_bytes(INDEX_NAME, "".join(cdxj_lines(snaps, new_offsets)).encode("utf-8"))
    page_lines = [{"format": "json-pages-1.0", "id": "pages", "title": "Pages"}] + [_page_line(p) for p in pages]
    z.write_bytes(PAGES_NAME, "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in page_lines).encode("utf-8"))
    for f in extra:
        z.write_bytes(f.path, f.data)
    types = {f.path: f.mediatype for f in extra}
    types.update({WARC_NAME: "application/warc", INDEX_NAME: "application/cdxj+json",
                  PAGES_NAME: "application/jsonl"})
    resources = [{"name": os.path.basename(p).lower(), "path": p, "hash": h, "bytes": n, "mediatype": types[p]}
                 for p, (h, n) in z.files.items()]
    from archive import software_versions

    # "created" is when the manifest is sealed (just before signing), not when copying began: a verifier
    # wants the RFC 3161 time within minutes of it, however long a large package took to write
    created_s = _iso(datetime.now(UTC)) if created is None else created_s
    package = {"profile": "data-package", "wacz_version": WACZ_VERSION, "resources": resources,
               "title": meta.pop("title", "Naql package"), "created": created_s,
               "software": f"Naql {software_versions()['naql']}"}
    if pages:
        package["mainPageURL"] = pages[0].url
        package["mainPageDate"] = _iso(pages[0].captured_at)
    package.update(meta)
    dp = json.dumps(package, indent=2, ensure_ascii=False).encode("utf-8")
    z.write_bytes("datapackage.json", dp)
    digest = {"path": "datapackage.json", "hash": "sha256:" + hashlib.sha256(dp).hexdigest()}
    signed = signer(digest["hash"], created_s) if signer else None
    if signed:
        digest["signedData"] = signed
    z.write_bytes("datapackage-digest.json", json.dumps(digest, indent=2).encode("utf-8"))
    z.close()
    return {"created": created_s, "files": {p: h for p, (h, _n) in z.files.items()}, "records": len(records),
            "signed": signed}


@dataclass
class Plan:
    """What a package will hold and where its cached file is (``path`` exists once built)."""

    snaps: list[Snapshot]
    pages: list[Snapshot]
    extra: list[ExtraFile]
    meta: dict
    sign: bool
    key: str
    path: Path

    @property
    def built(self) -> bool:
        return self.path.exists()


def plan_package(snapshots: Iterable[Snapshot], *, user=None, extra: list[ExtraFile] = (), meta: dict | None = None,
                 sign: bool = True) -> Plan:
    """Select what ``user`` may see of ``snapshots`` and compute the content key. PackageError
    when none of them is visible."""
    from archive.store import signing

    requested = list(snapshots)
    snaps = collect(requested, user)
    pages = pages_of(snaps, requested)
    if not pages:
        raise PackageError("none of the requested snapshots is visible to this reader")
    meta = dict(meta or {})
    signer_id = signing.signer_identity() if sign else "unsigned"
    key = package_key(snaps, pages, list(extra), meta, signer_id)
    return Plan(snaps, pages, list(extra), meta, sign, key, Path(settings.NAQL_PACKAGE_DIR) / key[:2] / f"{key}.wacz")


def build_planned(plan: Plan, *, use_cache: bool = True) -> Package:
    """Build ``plan``'s package (or return the cached one). FixityError when a stored record fails its check."""
    from archive.store import signing

    final = plan.path
    guids = [p.guid for p in plan.pages]
    if use_cache and final.exists():
        return Package(final, plan.key, "", guids, 0, final.stat().st_size, cached=True)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=".build-", suffix=".wacz.part")
    try:
        with os.fdopen(fd, "w+b") as fh:
            info = write_package(fh, plan.snaps, plan.pages, extra=plan.extra, meta=dict(plan.meta),
                                 signer=signing.sign_digest if plan.sign else None)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)  # same content key: a concurrent build wrote an equivalent package
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return Package(final, plan.key, info["created"], guids, info["records"], final.stat().st_size,
                   signed=info["signed"], files=info["files"])


def build_package(snapshots: Iterable[Snapshot], *, user=None, extra: list[ExtraFile] = (), meta: dict | None = None,
                  sign: bool = True, use_cache: bool = True) -> Package:
    """The (cached) WACZ of ``snapshots`` as ``user`` may see them. Raises PackageError when none
    of them is visible, FixityError when a stored record fails its check."""
    return build_planned(plan_package(snapshots, user=user, extra=extra, meta=meta, sign=sign), use_cache=use_cache)
