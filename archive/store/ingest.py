"""Import WARC, ARC (gzipped or not) and WACZ files made by other tools as snapshots.

All or nothing, in two streaming passes (memory flat in the file's size):

1. :func:`archive.store.warcread.scan` reads every record once, checking lengths, digests (both
   bases WARC allows), dates and size limits; any problem rejects the whole file, naming file,
   offset and record ID. A WACZ is first checked against the hashes of its ``datapackage.json``.
2. The records are copied into a new Naql WARC. A ``.warc.gz`` whose records are each their own
   gzip member is copied member by member, byte for byte (hashed once while copied); other files
   (uncompressed WARC, ARC, one gzip member for the whole file) are re-compressed one record per
   member, ARC records converted to WARC by warcio's arc2warc. Records already archived (same
   WARC-Record-ID and payload) are not copied or indexed again.

Then the records are indexed in one transaction (bulk inserts), revisits resolved against their
originals by ``WARC-Refers-To``, ``WARC-Refers-To-Target-URI`` + ``-Date``, or payload digest
(WARC 1.1 §6.7), whatever order they arrive in: one whose original is not archived yet is kept as
a :class:`~archive.models.PendingRevisit` and resolved by the import that brings it. Extraction
(derived data) runs after the commit.

Memory: the records' descriptions wait between the passes in a :class:`~archive.store.spill.Spill`
(on disk past a thousand), rows are inserted a thousand at a time and revisits resolved 250 at a
time against their originals looked up by key, and the new snapshots are listed from a spill too;
with ``keep_snapshots=False`` (``import_warc``) nothing is held per record of the file.

Only records whose target is http(s) become snapshots (``dns:``, ``javascript:``, ``data:``,
``file:`` … are kept in the WARC as received, never served as archived content); a segmented
record (WARC 1.1 §7) is refused as incomplete rather than served truncated.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import zipfile
from collections import Counter
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from operator import attrgetter
from pathlib import Path
from typing import NamedTuple

from django.db import models, transaction

from archive.errors import WarcImportError
from archive.models import PendingRevisit, Snapshot, WarcFile
from archive.store.durability import durable_commit
from archive.store.spill import Spill, batched
from archive.store.warcfast import scan_file
from archive.store.warcread import (
    CONTENT_SCHEMES,
    META_CODEC,
    NOT_MODIFIED_PROFILE_SUFFIX,
    RecordMeta,
    iter_range,
    iter_record_bytes,
    normalize_digest,
    parse_warc_date,
    scan,
)
from archive.store.warcstore import RecordInfo, WarcBuilder, raw_http_body, read_response
from archive.uri import index_keys, surt_key_uncached

log = logging.getLogger(__name__)

HTML_TYPES = ("text/html", "application/xhtml+xml")
REVISIT_CANDIDATES = 20
ROWS_PER_BATCH = 1000  # snapshot rows per INSERT executemany
REVISITS_PER_BATCH = 250  # revisits resolved together (each holds its pending row and original: a few KB)
IDS_PER_QUERY = 500  # record IDs / SURTs per look-up query
_SECOND = timedelta(seconds=1)


class Imported(NamedTuple):
    """One snapshot an import made, as the ``import_warc`` command lists it."""

    guid: str
    status: int
    captured_at: datetime
    url: str


@dataclass
class ImportResult:
    """``warc_file`` is None when every record was already archived (nothing new was written).

    ``listing`` has one :class:`Imported` per new snapshot, in the order they were indexed
    (responses and resources, then revisits), ``count`` items: spilled to disk, so a file of many
    records costs no memory per record. ``snapshots`` holds them as model instances too unless the
    import was asked not to keep them (``keep_snapshots=False``: it stays empty)."""

    warc_file: WarcFile | None
    snapshots: list[Snapshot]
    skipped: list[str]
    notes: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)  # record IDs of revisits waiting for their original
    resolved: list[Snapshot] = field(default_factory=list)  # earlier pending revisits this import resolved
    listing: Spill = field(default_factory=Spill)
    count: int = 0


@dataclass
class _Source:
    label: str
    open: object  # () -> binary stream
    pages: dict = field(default_factory=dict)  # url -> title, from a WACZ's pages.jsonl
    cdx_offsets: set | None = None  # record offsets the package's own CDX(J) index points at
    path: Path | None = None  # a plain file (not a WACZ member): read by the fast first pass


# --------------------------------------------------------------------------------------------
# sources: a WARC/ARC file, or the WARCs of a WACZ checked against its datapackage.json
# --------------------------------------------------------------------------------------------
def _hash_stream(fh, algo: str) -> tuple[str, int]:
    h, n = hashlib.new(algo), 0
    for chunk in iter(lambda: fh.read(1 << 20), b""):
        h.update(chunk)
        n += len(chunk)
    return h.hexdigest(), n


def _wacz_sources(path: Path) -> tuple[list[_Source], list[str]]:
    """WACZ 1.1.1: every file listed in ``datapackage.json`` must match its ``hash`` (and ``bytes``);
    ``pages/*.jsonl`` give page URLs and titles."""
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise WarcImportError(f"{path.name}: not a WACZ (zip) file") from exc
    names = set(zf.namelist())
    notes: list[str] = []
    if "datapackage.json" in names:
        try:
            package = json.loads(zf.read("datapackage.json"))
        except ValueError as exc:
            raise WarcImportError(f"{path.name}: datapackage.json is not JSON ({exc})") from exc
        problems = []
        for res in package.get("resources", []):
            name, declared = res.get("path", ""), res.get("hash", "")
            if name not in names:
                problems.append(f"{name}: listed in datapackage.json but missing from the package")
                continue
            algo, _, expected = declared.partition(":")
            if not expected:
                problems.append(f"{name}: no hash in datapackage.json")
                continue
            try:
                with zf.open(name) as fh:
                    actual, size = _hash_stream(fh, algo.lower().replace("-", ""))
            except ValueError:
                problems.append(f"{name}: unknown hash algorithm {algo!r}")
                continue
            if actual != expected.lower():
                problems.append(f"{name}: {algo} is {actual}, datapackage.json says {expected}")
            elif "bytes" in res and res["bytes"] != size:
                problems.append(f"{name}: {size} bytes, datapackage.json says {res['bytes']}")
        if problems:
            raise WarcImportError(f"{path.name}: files do not match datapackage.json; nothing imported",
                                  details={"problems": problems})
        notes.append(f"{path.name}: {len(package.get('resources', []))} file(s) match datapackage.json")
    else:
        notes.append(f"{path.name}: no datapackage.json, so file hashes could not be checked")
    pages: dict[str, str] = {}
    for name in sorted(n for n in names if n.startswith("pages/") and n.endswith(".jsonl")):
        with zf.open(name) as fh:
            for line in fh:
                try:
                    row = json.loads(line)
                except ValueError:
                    continue
                if isinstance(row, dict) and row.get("url"):
                    pages[row["url"]] = row.get("title") or pages.get(row["url"], "")
    warcs = sorted(n for n in names if n.startswith("archive/") and n.endswith((".warc.gz", ".warc")))
    if not warcs:
        raise WarcImportError(f"{path.name}: WACZ has no archive/*.warc(.gz) files")
    cdx = _package_index(zf, names)
    return [_Source(f"{path.name}!{n}", (lambda n=n: zf.open(n)), pages,
                    cdx.get(n.removeprefix("archive/")) if cdx else None) for n in warcs], notes


def _package_index(zf: zipfile.ZipFile, names: set[str]) -> dict[str, set[int]]:
    """filename → record offsets, from the package's ``indexes/*.cdx[j][.gz]`` (CDXJ: ``surt ts {json}``
    with ``filename`` and ``offset``). Used to check that the package's index points at records the
    import found (a mismatch is recorded in the import notes); ZipNum ``.idx`` indexes are not read."""
    import gzip as _gzip

    out: dict[str, set[int]] = {}
    for name in sorted(n for n in names if n.startswith("indexes/") and n.endswith((".cdx", ".cdxj", ".cdx.gz",
                                                                                      ".cdxj.gz"))):
        with zf.open(name) as raw:
            fh = _gzip.GzipFile(fileobj=raw) if name.endswith(".gz") else raw
            for line in fh:
                _, _, rest = line.partition(b" {")
                if not rest:
                    continue
                try:
                    row = json.loads(b"{" + rest)
                    out.setdefault(row["filename"], set()).add(int(row["offset"]))
                except (ValueError, KeyError, TypeError):
                    continue
    return out


def _sources(path: Path) -> tuple[list[_Source], list[str]]:
    if path.suffix.lower() == ".wacz":
        return _wacz_sources(path)
    return [_Source(path.name, lambda: open(path, "rb"), path=path)], []  # noqa: SIM115 - closed by the reader


# --------------------------------------------------------------------------------------------
# import
# --------------------------------------------------------------------------------------------
def import_file(path: str | Path, *, user=None, analyse: bool = True, keep_snapshots: bool = True) -> ImportResult:
    """Import one WARC/ARC/WACZ file; see the module docstring. ``analyse=False`` leaves extraction
    to a later ``reextract`` (the snapshots are citable and replayable either way).
    ``keep_snapshots=False`` (what ``import_warc`` uses): ``result.snapshots`` stays empty and the
    new snapshots are only in ``result.listing``; memory is then flat in the file's size (the
    records' descriptions wait on disk between the passes, rows are inserted a thousand at a time
    and revisits resolved 250 at a time). The stored rows are the same either way.
    Raises :class:`WarcImportError` (nothing imported) for any unreadable, altered or oversized record."""
    path = Path(path)
    if not path.is_file():
        raise WarcImportError(f"{path}: no such file")
    sources, notes = _sources(path)
    source_sha = None
    scans = []
    for src in sources:
        if src.path is not None:  # the file's SHA-256 comes with the scan (one read of the file)
            sc, source_sha = scan_file(src.path, src.label)
        else:
            sc = scan(src.open, src.label)
        scans.append((src, sc))
    for src, sc in scans:
        if src.cdx_offsets is not None:
            stray = src.cdx_offsets - {m.src_offset for m in sc.records}
            notes.append(f"{src.label}: the package's CDXJ index points at {len(src.cdx_offsets)} record(s)"
                         + (f"; {len(stray)} of its offsets start no record (first: {min(stray)})" if stray else
                            ", all of them found"))
    if source_sha is None:
        with open(path, "rb") as fh:
            source_sha, _ = _hash_stream(fh, "sha256")
    dups, any_new = _already_archived(sc.records for _, sc in scans)
    result = ImportResult(None, [], [f"{where}: already archived as {guid}" for where, guid in dups.values()], notes)
    if not any_new:
        result.notes.append("nothing new: every response, resource and revisit record is already archived")
        return result
    builder = WarcBuilder(keep_records=False)
    # the records that may become snapshots: (source's index, description, where it was written)
    written = Spill(codec=_WRITTEN_CODEC)
    bases: Counter = Counter()
    try:
        builder.write_warcinfo(extra={"imported-from": path.name, "imported-from-sha256": source_sha})
        for si, (src, sc) in enumerate(scans):
            for m, i in _copy_records(src, sc, dups, builder):
                if m.digest_basis:
                    bases[m.digest_basis] += 1
                if m.type in ("response", "resource", "revisit"):
                    written.append((si, m, i))
            sc.records.close()
        published = builder.publish(prefix="import")
    except BaseException:
        builder.abort()
        raise
    if bases:
        result.notes.append("payload digests: " + ", ".join(
            f"{n} over the {'transfer-decoded entity (WARC 1.1)' if b == 'transfer-decoded' else 'chunked bytes as transmitted (WARC 1.0 tools)'}"
            for b, n in sorted(bases.items())))
    with durable_commit(), transaction.atomic():  # reported imported: must survive a power cut
        wf = WarcFile.objects.create(name=published.name, size=published.size, sha256=published.sha256,
                                     record_count=published.record_count, origin=WarcFile.Origin.IMPORTED,
                                     source_name=path.name)
        result.warc_file = wf
        last_pk = _index(written, [src for src, _ in scans], wf, user, result, keep=keep_snapshots)
    written.close()
    if analyse and keep_snapshots:
        analyse_snapshots(result.snapshots + result.resolved)
    elif analyse:  # the same snapshots in the same order, read back a page at a time
        _analyse_in_pages(Snapshot.objects.filter(warc_file=wf, pk__lte=last_pk))
        analyse_snapshots(result.resolved)
    else:  # commit first, derive later: one queued task for the whole import, not one per page
        _queue_analysis(wf.pk)
    return result


ANALYSE_TASK = "archive.tasks.analyse_imported"


_INFO_FIELDS = attrgetter(*(f.name for f in fields(RecordInfo)))
_WRITTEN_CODEC = (lambda w: (w[0], META_CODEC[0](w[1]), _INFO_FIELDS(w[2])),
                  lambda t: (t[0], META_CODEC[1](t[1]), RecordInfo(*t[2])))


def _queue_analysis(warc_file_id: int) -> None:
    from celery import current_app

    try:
        current_app.signature(ANALYSE_TASK, args=(warc_file_id,)).apply_async()
    except Exception:  # noqa: BLE001 - a broker outage must not undo an import; analyse_warc_file can re-run
        log.exception("could not queue the analysis of imported WARC %s", warc_file_id)


def _analyse_in_pages(snaps, page: int = 200) -> None:
    """:func:`analyse_snapshots` over a queryset in primary-key order, ``page`` instances at a time
    (only those it analyses: HTML with status 200)."""
    snaps = snaps.filter(mime__in=HTML_TYPES, status=200).select_related("payload_snapshot__warc_file", "warc_file")
    last = 0
    while chunk := list(snaps.filter(pk__gt=last).order_by("pk")[:page]):
        analyse_snapshots(chunk)
        last = chunk[-1].pk


def analyse_warc_file(warc_file_id: int) -> int:
    """Run the deferred analysis of one import: its snapshots and the revisits it resolved."""
    snaps = list(Snapshot.objects.filter(warc_file_id=warc_file_id).select_related("payload_snapshot__warc_file",
                                                                                    "warc_file"))
    analyse_snapshots(snaps)
    return len(snaps)


_CONTENT = ("response", "resource", "revisit")


def _already_archived(scans) -> tuple[dict[str, tuple[str, str]], bool]:
    """(record ID → (where, GUID) for content records Naql already holds (same ID, same payload),
    whether any content record is new), reading the records' descriptions once, 500 IDs per query.
    A record ID that occurs twice in the file is judged by its last occurrence (WARC-Record-IDs
    are unique by the standard)."""
    found: dict[str, tuple[str, str]] = {}
    held: set[str] = set()  # IDs with a row (matching or not): only these can be in ``found``
    any_absent = False  # a content record whose ID has no row at all: new
    by_id: dict[str, RecordMeta] = {}
    ids: list[str] = []

    def look_up() -> None:
        nonlocal any_absent
        matched, rows = set(), set()
        for rid, sha, guid in Snapshot.objects.filter(record_id__in=ids).values_list(
                "record_id", "payload_sha256", "guid"):
            m = by_id[rid]
            rows.add(rid)
            if m.type == "revisit" or m.payload_sha256 == sha:
                found[rid] = (m.where, guid)
                matched.add(rid)
        for rid in rows - matched:  # judged again by this (later) occurrence
            found.pop(rid, None)
        for rid in PendingRevisit.objects.filter(record_id__in=ids).values_list("record_id", flat=True):
            found[rid] = (by_id[rid].where, "a pending revisit")
            rows.add(rid)
        held.update(rows)
        any_absent = any_absent or len(rows) < len(set(ids))
        by_id.clear()
        ids.clear()

    for metas in scans:
        for m in metas:
            by_id[m.record_id] = m
            if m.type in _CONTENT:
                if m.generated_id:
                    any_absent = True
                else:
                    ids.append(m.record_id)
                    if len(ids) == IDS_PER_QUERY:
                        look_up()
    if ids:
        look_up()
    return found, any_absent or any(rid not in found for rid in held)


def _copy_records(src: _Source, sc, dups: dict, builder: WarcBuilder):
    def info_args(m: RecordMeta) -> dict:
        return {"warc_type": m.type, "record_id": m.record_id, "uri": m.uri, "date": m.date,
                "block_digest": m.header("WARC-Block-Digest") or "", "payload_digest": m.payload_digest or None}

    if sc.verbatim:
        with src.open() as fh:
            for m in sc.records:
                if m.record_id in dups:
                    continue
                yield m, builder.append_member(iter_range(fh, m.src_offset, m.src_length), compress=False,
                                               **info_args(m))
        return
    with src.open() as fh:
        for m, chunks in iter_record_bytes(fh, sc.records, decompress_whole=sc.decompress_whole):
            if m.record_id in dups:
                continue
            yield m, builder.append_member(chunks, compress=True, **info_args(m))


def _content_refusal(m: RecordMeta) -> str | None:
    """Why a response/resource/revisit record is not archived content, or None when it is."""
    scheme = (m.uri or "").split(":", 1)[0].strip().lower() if m.uri and ":" in m.uri else ""
    if scheme not in CONTENT_SCHEMES:
        return (f"{m.where}: target URI {(m.uri or '')[:80]!r} is not http(s); kept in the WARC, "
                "not served as archived content")
    if m.header("WARC-Segment-Number"):
        return (f"{m.where}: segment {m.header('WARC-Segment-Number')} of a segmented record (WARC 1.1 §7); "
                "refused as incomplete, not served")
    if m.type == "response" and (not m.is_http or not m.status):
        return f"{m.where}: response record without an HTTP status line; not served"
    return None


def _sha256_b32(hexdigest: str) -> str:
    return "sha256:" + base64.b32encode(bytes.fromhex(hexdigest)).decode("ascii")


def _index(written: Spill, sources: list[_Source], wf: WarcFile, user, result: ImportResult, *, keep: bool) -> int:
    """Insert the snapshot rows of ``written`` (responses and resources first, then revisits,
    resolved against their originals 250 at a time), then resolve the pending revisits of
    earlier imports that the new rows answer. Returns the largest primary key inserted."""
    owner = user if getattr(user, "pk", None) else None
    owner_id = owner.pk if owner is not None else None
    revisits = Spill(codec=_WRITTEN_CODEC)

    def rows():  # column values of the new snapshots (by attname), built as they are inserted
        for si, m, info in written:
            if m.type not in _CONTENT:
                continue
            if (why := _content_refusal(m)) is not None:
                result.skipped.append(why)
                continue
            if m.type == "revisit":
                revisits.append((si, m, info))
                continue
            src = sources[si]
            headers = m.http_headers if m.type == "response" else [("Content-Type", m.content_type)]
            ctype = next((v for k, v in headers if k.lower() == "content-type"), "")
            mime = ctype.split(";")[0].strip().lower()
            url, surt = index_keys(m.uri)
            yield dict(
                url=url, surt=surt, captured_at=m.date, status=m.status if m.type == "response" else 200,
                mime=mime, content_type=ctype, payload_sha256=m.payload_sha256, payload_length=m.payload_length,
                payload_digest=m.payload_digest or _sha256_b32(m.payload_sha256), record_type=m.type,
                record_id=info.record_id, record_sha256=info.sha256, warc_file_id=wf.pk, offset=info.offset,
                length=info.length, records=[info.as_dict()], is_requisite=_is_requisite(src, m.uri, mime),
                owner_id=owner_id, title=src.pages.get(m.uri, ""))  # the capturing tool saw the rendered title

    ids = _bulk_insert(rows(), result.listing, keep=keep)
    if keep:
        result.snapshots = _read_back(wf, ids, revisits=False)
    revisit_ids = []
    for chunk in batched(revisits, REVISITS_PER_BATCH):
        pendings = [(sources[si], m, _pending(sources[si], m, info, wf, owner)) for si, m, info in chunk]
        local = _LocalIndex(wf, [p for _, _, p in pendings])
        revisit_rows = [row for src, m, p in pendings if (row := _resolve_or_keep(m, p, result, local)) is not None]
        revisit_ids += _bulk_insert(revisit_rows, result.listing, keep=keep)
    revisits.close()
    if keep:
        result.snapshots.extend(_read_back(wf, revisit_ids, revisits=True))
    result.count = len(result.listing)
    last_pk = Snapshot.objects.filter(warc_file=wf).order_by("-pk").values_list("pk", flat=True).first() or 0
    result.resolved = _resolve_pending_answered_by(wf)
    return last_pk


def _bulk_insert(rows, listing: Spill, *, keep: bool) -> list[str]:
    """Insert new snapshot rows (column values by attname) with one ``executemany`` per 1000; each
    new snapshot goes to ``listing`` (:class:`Imported`). Returns the record IDs inserted when
    ``keep`` (for :func:`_read_back`), else nothing.

    By hand rather than ``bulk_create`` because Django compiles SQL per field per row (and, on
    SQLite, per batch of ~24 rows under its 999-parameter limit), and rather than model instances
    because building ~3,000 of them took a sixth of an import. The values are what saving a
    ``Snapshot(**row)`` writes: each given value and each callable default (the GUID) goes through its
    field's ``get_db_prep_save``; a constant default is prepared once."""
    from itertools import chain

    from django.db import connection

    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        return []
    rows = chain([first], rows)
    fields = [f for f in Snapshot._meta.concrete_fields if not f.primary_key]
    given = first.keys()
    per_row, const = [], {}
    for i, f in enumerate(fields):
        if f.attname in given:
            per_row.append((i, f, _plain_type(f), None))
        elif callable(f.default) and f.default not in (list, dict):
            per_row.append((i, f, None, f.get_default))  # the GUID
        else:
            const[i] = f.get_db_prep_save(f.get_default(), connection)
    template = [const.get(i) for i in range(len(fields))]
    guid_at = next(i for i, f in enumerate(fields) if f.attname == "guid")
    cols = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    sql = (f"INSERT INTO {connection.ops.quote_name(Snapshot._meta.db_table)} ({cols}) "  # noqa: S608 - names from the model
           f"VALUES ({', '.join(['%s'] * len(fields))})")

    def values(row: dict) -> list:
        out = template.copy()
        for i, f, plain, default in per_row:
            v = default() if default is not None else row[f.attname]
            # a str into a char/text column, an int into an integer one, a bool into a boolean one: as is
            out[i] = v if type(v) is plain else f.get_db_prep_save(v, connection)
        listing.append(Imported(out[guid_at], row["status"], row["captured_at"], row["url"]))
        return out

    ids = []
    with connection.cursor() as cur:
        for chunk in batched(rows, ROWS_PER_BATCH):
            if keep:
                ids.extend(r["record_id"] for r in chunk)
            cur.executemany(sql, [values(row) for row in chunk])
    return ids


def _read_back(wf: WarcFile, ids: list[str], *, revisits: bool) -> list[Snapshot]:
    """The rows just inserted, lean (derived fields deferred), in the order of ``ids``."""
    lean = Snapshot.objects.filter(warc_file=wf).defer(
        "byline", "main_text", "text", "extracted", "canonical_url", "records", "text_fingerprint")
    lean = lean.filter(record_type=Snapshot.RecordType.REVISIT) if revisits else lean.exclude(
        record_type=Snapshot.RecordType.REVISIT)
    by_id = {s.record_id: s for s in lean}
    return [by_id[r] for r in ids]


def _plain_type(f) -> type | None:
    """The type of value this field's ``get_db_prep_save`` returns unchanged, or None. Django 5.2:
    CharField and TextField keep a str (``to_python``), IntegerField passes an int through
    ``adapt_integerfield_value`` (the identity on SQLite and PostgreSQL), BooleanField keeps a bool.
    Only when no subclass overrides the preparation methods."""
    for base, kind in ((models.BooleanField, bool), (models.IntegerField, int), (models.CharField, str),
                       (models.TextField, str)):
        if isinstance(f, base):
            same = all(getattr(type(f), m) is getattr(base, m)
                       for m in ("get_db_prep_save", "get_db_prep_value", "get_prep_value", "to_python"))
            return kind if same else None
    return None


def _is_requisite(src: _Source, uri: str, mime: str) -> bool:
    if src.pages:  # the package says which URLs are pages
        return uri not in src.pages
    return mime not in HTML_TYPES


class _LocalIndex:
    """This import's new responses and resources that a chunk of its revisits may refer to, looked
    up before the whole archive (the common case: a crawl's revisits point into the same file).

    Built from the database for the chunk's own keys (so memory is bounded by the chunk, not the
    file), with the answers an index of every new row would give: by record ID and by URL +
    payload digest the last such row inserted, by URL + second of capture the first."""

    def __init__(self, wf: WarcFile, pendings: list[PendingRevisit]):
        ids = {p.refers_to for p in pendings if p.refers_to}
        seconds = {(p.refers_to_surt, p.refers_to_date.replace(microsecond=0))
                   for p in pendings if p.refers_to_date is not None}
        digests = {(p.refers_to_surt, p.payload_digest) for p in pendings if p.payload_digest}
        surts = sorted({k[0] for k in seconds} | {k[0] for k in digests})
        new = Snapshot.objects.filter(warc_file=wf).exclude(record_type=Snapshot.RecordType.REVISIT).order_by("pk")
        by_id, by_second, by_digest = {}, {}, {}
        for batch in batched(sorted(ids), IDS_PER_QUERY):
            by_id.update(new.filter(record_id__in=batch).values_list("record_id", "pk"))  # in order: the last wins
        for batch in batched(surts, IDS_PER_QUERY):
            for pk, surt, digest, at in new.filter(surt__in=batch).values_list(
                    "pk", "surt", "payload_digest", "captured_at").iterator(chunk_size=2000):
                if (key := (surt, at.replace(microsecond=0))) in seconds:
                    by_second.setdefault(key, pk)
                if (key := (surt, digest)) in digests:
                    by_digest[key] = pk
        snaps = Snapshot.objects.in_bulk({*by_id.values(), *by_second.values(), *by_digest.values()})
        self.by_id = {k: snaps[pk] for k, pk in by_id.items()}
        self.by_second = {k: snaps[pk] for k, pk in by_second.items()}
        self.by_digest = {k: snaps[pk] for k, pk in by_digest.items()}

    def find(self, p: PendingRevisit) -> Snapshot | None:
        if p.refers_to and (hit := self.by_id.get(p.refers_to)):
            return hit
        if p.refers_to_date is not None and (hit := self.by_second.get(
                (p.refers_to_surt, p.refers_to_date.replace(microsecond=0)))):
            return hit
        return self.by_digest.get((p.refers_to_surt, p.payload_digest)) if p.payload_digest else None


def _pending(src: _Source, m: RecordMeta, info: RecordInfo, wf: WarcFile, owner) -> PendingRevisit:
    ref_date_raw = m.header("WARC-Refers-To-Date")
    try:
        ref_date = parse_warc_date(ref_date_raw) if ref_date_raw else None
    except ValueError:
        ref_date = None
    ref_url = m.header("WARC-Refers-To-Target-URI") or ""
    ctype = next((v for k, v in m.http_headers if k.lower() == "content-type"), "")
    return PendingRevisit(
        warc_file=wf, offset=info.offset, length=info.length, record_sha256=info.sha256, record_id=info.record_id,
        url=index_keys(m.uri)[0], captured_at=m.date, status=m.status, content_type=ctype,
        profile=m.header("WARC-Profile") or "", payload_digest=m.payload_digest or "",
        refers_to=m.header("WARC-Refers-To") or "", refers_to_url=ref_url,
        refers_to_surt=index_keys(ref_url or m.uri)[1], refers_to_date=ref_date,
        is_requisite=_is_requisite(src, m.uri, ctype.split(";")[0].strip().lower()), owner=owner)


def _resolve_or_keep(m: RecordMeta, pending: PendingRevisit, result: ImportResult, local: _LocalIndex) -> dict | None:
    original = local.find(pending) or find_original(pending)
    if original is None:
        pending.save()
        result.pending.append(pending.record_id)
        result.skipped.append(f"revisit {m.record_id} of {pending.refers_to_url or m.uri}: original not archived "
                              "yet; kept pending and resolved when an import brings it")
        return None
    return _revisit_row(pending, original)


def find_original(p: PendingRevisit) -> Snapshot | None:
    """The archived response (or resource) a revisit refers to: by ``WARC-Refers-To`` record ID,
    then by ``WARC-Refers-To-Target-URI`` (or the revisit's own URI) and ``WARC-Refers-To-Date``,
    then by URI and payload digest (the declared digest, or recomputed on the latest captures'
    stored bytes: other tools mostly write sha1). WARC 1.1 §6.7."""
    content = Snapshot.objects.exclude(record_type=Snapshot.RecordType.REVISIT).filter(withdrawn_at__isnull=True)
    if p.refers_to:
        hit = content.filter(record_id=p.refers_to).order_by("pk").first()
        if hit is not None:
            return hit
    same_url = content.filter(surt=p.refers_to_surt)
    if p.refers_to_date is not None:
        at = same_url.filter(captured_at__gte=p.refers_to_date.replace(microsecond=0),
                             captured_at__lt=p.refers_to_date.replace(microsecond=0) + _SECOND)
        hit = (at.filter(payload_digest=p.payload_digest).first() if p.payload_digest else None) or at.first()
        if hit is not None:
            return hit
    if not p.payload_digest:
        return None
    hit = same_url.filter(payload_digest=p.payload_digest).order_by("-captured_at").first()
    if hit is not None:
        return hit
    algo = p.payload_digest.split(":", 1)[0]
    for cand in same_url.select_related("warc_file").order_by("-captured_at")[:REVISIT_CANDIDATES]:
        if algo == "sha256" and _sha256_b32(cand.payload_sha256) == p.payload_digest:
            return cand
        stored = read_response(cand.warc_file.name, cand.offset, cand.length, expected_sha256=cand.record_sha256)
        for body in {raw_http_body(stored.raw_block), stored.body}:
            h = hashlib.new(algo)
            h.update(body)
            if normalize_digest(f"{algo}:{h.hexdigest()}") == p.payload_digest:
                return cand
    return None


def _revisit_row(p: PendingRevisit, original: Snapshot) -> dict:
    """A server-not-modified revisit (or one with no HTTP head) stands for the original response:
    its status and headers are the original's; an identical-payload-digest revisit keeps its own.
    The snapshot's column values (what ``Snapshot.save`` would write, SURT included)."""
    source = original.payload_source()
    not_modified = p.profile.endswith(NOT_MODIFIED_PROFILE_SUFFIX) or p.status in (0, 304)
    content_type = original.content_type if not_modified or not p.content_type else p.content_type
    return dict(
        url=p.url, surt=surt_key_uncached(p.url), captured_at=p.captured_at,
        status=original.status if not_modified else p.status,
        content_type=content_type, mime=content_type.split(";")[0].strip().lower(),
        payload_sha256=source.payload_sha256, payload_length=source.payload_length,
        payload_digest=p.payload_digest or source.payload_digest, record_type=Snapshot.RecordType.REVISIT,
        record_id=p.record_id, record_sha256=p.record_sha256, warc_file_id=p.warc_file_id, offset=p.offset,
        length=p.length, records=[{"type": "revisit", "record_id": p.record_id, "offset": p.offset,
                                   "length": p.length, "sha256": p.record_sha256}],
        payload_snapshot_id=source.pk, is_requisite=p.is_requisite, owner_id=p.owner_id)


def _snapshot_from_revisit(p: PendingRevisit, original: Snapshot) -> Snapshot:
    snap = Snapshot(**_revisit_row(p, original))
    snap.save()
    return snap


def _resolve_pending_answered_by(wf: WarcFile) -> list[Snapshot]:
    """:func:`resolve_pending` for the responses and resources ``wf``'s import just indexed, read
    from the database 500 at a time rather than held: the same revisits, resolved in the same
    (primary-key) order."""
    from django.db.models import Q

    if not PendingRevisit.objects.exists():
        return []
    new = Snapshot.objects.filter(warc_file=wf).exclude(record_type=Snapshot.RecordType.REVISIT)
    answered: set[int] = set()
    last = 0
    while chunk := list(new.filter(pk__gt=last).order_by("pk").values_list("pk", "surt", "record_id")[:IDS_PER_QUERY]):
        last = chunk[-1][0]
        answered.update(PendingRevisit.objects.filter(
            Q(refers_to_surt__in={s for _, s, _ in chunk}) | Q(refers_to__in={r for _, _, r in chunk})
        ).values_list("pk", flat=True))
    out = []
    for batch in batched(sorted(answered), IDS_PER_QUERY):
        for p in PendingRevisit.objects.filter(pk__in=batch).order_by("pk"):
            original = find_original(p)
            if original is not None:
                out.append(_snapshot_from_revisit(p, original))
                p.delete()
    return out


def resolve_pending(surts: set[str], record_ids: set[str]) -> list[Snapshot]:
    """Resolve the pending revisits that newly archived responses (by SURT or record ID) may answer."""
    from django.db.models import Q

    if not surts and not record_ids:
        return []
    out = []
    surts, ids = list(surts), list(record_ids)
    q = Q()
    for i in range(0, max(len(surts), len(ids)), 500):
        q |= Q(refers_to_surt__in=surts[i : i + 500]) | Q(refers_to__in=ids[i : i + 500])
    for p in PendingRevisit.objects.filter(q).order_by("pk"):
        original = find_original(p)
        if original is not None:
            out.append(_snapshot_from_revisit(p, original))
            p.delete()
    return out


# --------------------------------------------------------------------------------------------
# derived data, after the commit
# --------------------------------------------------------------------------------------------
def analyse_snapshots(snaps: list[Snapshot]) -> None:
    """Extraction for the HTML pages among ``snaps`` (derived data: re-derivable any time from
    the bytes). A body that cannot be decoded is recorded with the reason, never fatal."""
    from archive.signals import snapshot_captured
    from archive.store.snapshots import apply_extraction, decoded_body, stored_response

    for s in snaps:
        if s.mime not in HTML_TYPES or s.status != 200:
            continue
        package_title = s.title  # from a WACZ's pages.jsonl: kept over the extracted one
        try:
            body = decoded_body(stored_response(s))
        except WarcImportError:
            raise
        except Exception as exc:  # noqa: BLE001 - derived data: the reason is recorded, the import stands
            s.extracted = {"empty_reason": f"body could not be decoded: {getattr(exc, 'message', exc)}"}
        else:
            apply_extraction(s, body, s.content_type)
        s.title = package_title or s.title
        s.save()
        if not s.is_requisite:
            snapshot_captured.send(sender=Snapshot, snapshot=s)


