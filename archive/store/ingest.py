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
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from django.db import models, transaction

from archive.errors import WarcImportError
from archive.models import PendingRevisit, Snapshot, WarcFile
from archive.store.durability import durable_commit
from archive.store.warcfast import scan_file
from archive.store.warcread import (
    CONTENT_SCHEMES,
    NOT_MODIFIED_PROFILE_SUFFIX,
    RecordMeta,
    iter_range,
    iter_record_bytes,
    normalize_digest,
    parse_warc_date,
    scan,
)
from archive.store.warcstore import RecordInfo, WarcBuilder, raw_http_body, read_response
from archive.uri import iri_to_uri, surt_key

log = logging.getLogger(__name__)

HTML_TYPES = ("text/html", "application/xhtml+xml")
REVISIT_CANDIDATES = 20
_SECOND = timedelta(seconds=1)


@dataclass
class ImportResult:
    """``warc_file`` is None when every record was already archived (nothing new was written)."""

    warc_file: WarcFile | None
    snapshots: list[Snapshot]
    skipped: list[str]
    notes: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)  # record IDs of revisits waiting for their original
    resolved: list[Snapshot] = field(default_factory=list)  # earlier pending revisits this import resolved


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
def import_file(path: str | Path, *, user=None, analyse: bool = True) -> ImportResult:
    """Import one WARC/ARC/WACZ file; see the module docstring. ``analyse=False`` leaves extraction
    to a later ``reextract`` (the snapshots are citable and replayable either way).
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
    dups = _already_archived([m for _, sc in scans for m in sc.records])
    result = ImportResult(None, [], [f"{m.where}: already archived as {guid}" for m, guid in dups.values()], notes)
    if not any(m.type in ("response", "resource", "revisit") and m.record_id not in dups
               for _, sc in scans for m in sc.records):
        result.notes.append("nothing new: every response, resource and revisit record is already archived")
        return result
    builder = WarcBuilder()
    written: list[tuple[_Source, RecordMeta, RecordInfo]] = []  # the records that may become snapshots
    bases: Counter = Counter()
    try:
        builder.write_warcinfo(extra={"imported-from": path.name, "imported-from-sha256": source_sha})
        for src, sc in scans:
            for m, i in _copy_records(src, sc, dups, builder):
                if m.digest_basis:
                    bases[m.digest_basis] += 1
                if m.type in ("response", "resource", "revisit"):
                    written.append((src, m, i))
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
                                     record_count=len(published.records), origin=WarcFile.Origin.IMPORTED,
                                     source_name=path.name)
        result.warc_file = wf
        _index(written, wf, user, result)
    if analyse:
        analyse_snapshots(result.snapshots + result.resolved)
    else:  # commit first, derive later: one queued task for the whole import, not one per page
        _queue_analysis(wf.pk)
    return result


ANALYSE_TASK = "archive.tasks.analyse_imported"


def _queue_analysis(warc_file_id: int) -> None:
    from celery import current_app

    try:
        current_app.signature(ANALYSE_TASK, args=(warc_file_id,)).apply_async()
    except Exception:  # noqa: BLE001 - a broker outage must not undo an import; analyse_warc_file can re-run
        log.exception("could not queue the analysis of imported WARC %s", warc_file_id)


def analyse_warc_file(warc_file_id: int) -> int:
    """Run the deferred analysis of one import: its snapshots and the revisits it resolved."""
    snaps = list(Snapshot.objects.filter(warc_file_id=warc_file_id).select_related("payload_snapshot__warc_file",
                                                                                    "warc_file"))
    analyse_snapshots(snaps)
    return len(snaps)


def _already_archived(metas: list[RecordMeta]) -> dict[str, tuple[RecordMeta, str]]:
    """record ID → (meta, GUID) for content records Naql already holds (same ID, same payload)."""
    ids = [m.record_id for m in metas if m.type in ("response", "resource", "revisit") and not m.generated_id]
    found: dict[str, tuple[RecordMeta, str]] = {}
    by_id = {m.record_id: m for m in metas}
    for i in range(0, len(ids), 500):
        for rid, sha, guid in Snapshot.objects.filter(record_id__in=ids[i : i + 500]).values_list(
                "record_id", "payload_sha256", "guid"):
            m = by_id[rid]
            if m.type == "revisit" or m.payload_sha256 == sha:
                found[rid] = (m, guid)
        for rid in PendingRevisit.objects.filter(record_id__in=ids[i : i + 500]).values_list("record_id", flat=True):
            found[rid] = (by_id[rid], "a pending revisit")
    return found


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


def _index(written, wf: WarcFile, user, result: ImportResult) -> None:
    owner = user if getattr(user, "pk", None) else None
    owner_id = owner.pk if owner is not None else None
    revisits = []

    def rows():  # column values of the new snapshots (by attname), built as they are inserted
        for src, m, info in written:
            if m.type not in ("response", "resource", "revisit"):
                continue
            if (why := _content_refusal(m)) is not None:
                result.skipped.append(why)
                continue
            if m.type == "revisit":
                revisits.append((src, m, info))
                continue
            headers = m.http_headers if m.type == "response" else [("Content-Type", m.content_type)]
            ctype = next((v for k, v in headers if k.lower() == "content-type"), "")
            mime = ctype.split(";")[0].strip().lower()
            url = iri_to_uri(m.uri)
            yield dict(
                url=url, surt=surt_key(url), captured_at=m.date, status=m.status if m.type == "response" else 200,
                mime=mime, content_type=ctype, payload_sha256=m.payload_sha256, payload_length=m.payload_length,
                payload_digest=m.payload_digest or _sha256_b32(m.payload_sha256), record_type=m.type,
                record_id=info.record_id, record_sha256=info.sha256, warc_file_id=wf.pk, offset=info.offset,
                length=info.length, records=[info.as_dict()], is_requisite=_is_requisite(src, m.uri, mime),
                owner_id=owner_id, title=src.pages.get(m.uri, ""))  # the capturing tool saw the rendered title
    result.snapshots = _bulk_insert(rows(), wf, revisits=False)

    local = _LocalIndex(result.snapshots)
    revisit_rows = [row for src, m, info in revisits
                    if (row := _resolve_or_keep(src, m, info, wf, owner, result, local)) is not None]
    result.snapshots.extend(_bulk_insert(revisit_rows, wf, revisits=True))
    new = [s for s in result.snapshots if s.record_type != Snapshot.RecordType.REVISIT]
    result.resolved = resolve_pending({s.surt for s in new}, {s.record_id for s in new})


def _bulk_insert(rows, wf: WarcFile, *, revisits: bool) -> list[Snapshot]:
    """Insert new snapshot rows (column values by attname) with one ``executemany`` per 1000 and
    read them back, lean, in the same order.

    By hand rather than ``bulk_create`` because Django compiles SQL per field per row (and, on
    SQLite, per batch of ~24 rows under its 999-parameter limit), and rather than model instances
    because building ~3,000 of them took a sixth of an import. The values are what saving a
    ``Snapshot(**row)`` writes: each given value and each callable default (the GUID) goes through its
    field's ``get_db_prep_save``; a constant default is prepared once."""
    from itertools import chain, islice

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
    cols = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    sql = (f"INSERT INTO {connection.ops.quote_name(Snapshot._meta.db_table)} ({cols}) "  # noqa: S608 - names from the model
           f"VALUES ({', '.join(['%s'] * len(fields))})")

    def values(row: dict) -> list:
        out = template.copy()
        for i, f, plain, default in per_row:
            v = default() if default is not None else row[f.attname]
            # a str into a char/text column, an int into an integer one, a bool into a boolean one: as is
            out[i] = v if type(v) is plain else f.get_db_prep_save(v, connection)
        return out

    ids = []
    with connection.cursor() as cur:
        while chunk := list(islice(rows, 1000)):
            ids.extend(r["record_id"] for r in chunk)
            cur.executemany(sql, [values(row) for row in chunk])
    # read back lean (derived fields deferred)
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
    """This import's new responses, looked up in memory before the database (the common case: a
    crawl's revisits point into the same file)."""

    def __init__(self, snaps: list[Snapshot]):
        self.by_id = {s.record_id: s for s in snaps}
        self.by_digest = {(s.surt, s.payload_digest): s for s in snaps}
        self.by_second = {}
        for s in snaps:
            self.by_second.setdefault((s.surt, s.captured_at.replace(microsecond=0)), s)

    def find(self, p: PendingRevisit) -> Snapshot | None:
        if p.refers_to and (hit := self.by_id.get(p.refers_to)):
            return hit
        if p.refers_to_date is not None and (hit := self.by_second.get(
                (p.refers_to_surt, p.refers_to_date.replace(microsecond=0)))):
            return hit
        return self.by_digest.get((p.refers_to_surt, p.payload_digest)) if p.payload_digest else None


def _resolve_or_keep(src, m: RecordMeta, info: RecordInfo, wf, owner, result: ImportResult,
                     local: _LocalIndex) -> dict | None:
    ref_date_raw = m.header("WARC-Refers-To-Date")
    try:
        ref_date = parse_warc_date(ref_date_raw) if ref_date_raw else None
    except ValueError:
        ref_date = None
    ref_url = m.header("WARC-Refers-To-Target-URI") or ""
    ctype = next((v for k, v in m.http_headers if k.lower() == "content-type"), "")
    pending = PendingRevisit(
        warc_file=wf, offset=info.offset, length=info.length, record_sha256=info.sha256, record_id=info.record_id,
        url=iri_to_uri(m.uri), captured_at=m.date, status=m.status, content_type=ctype,
        profile=m.header("WARC-Profile") or "", payload_digest=m.payload_digest or "",
        refers_to=m.header("WARC-Refers-To") or "", refers_to_url=ref_url,
        refers_to_surt=surt_key(iri_to_uri(ref_url or m.uri)), refers_to_date=ref_date,
        is_requisite=_is_requisite(src, m.uri, ctype.split(";")[0].strip().lower()), owner=owner)
    original = local.find(pending) or find_original(pending)
    if original is None:
        pending.save()
        result.pending.append(pending.record_id)
        result.skipped.append(f"revisit {m.record_id} of {ref_url or m.uri}: original not archived yet; kept "
                              "pending and resolved when an import brings it")
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
        url=p.url, surt=surt_key(p.url), captured_at=p.captured_at,
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


