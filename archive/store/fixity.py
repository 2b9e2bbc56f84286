"""Fixity audits over the whole store; results are recorded on each WarcFile row."""

from __future__ import annotations

import json
import os

from django.db import connection
from django.db.models import TextField
from django.db.models.functions import Cast
from django.utils import timezone

from archive.models import Snapshot, WarcFile
from archive.store.warcstore import FixityReport, audit_file, audit_stored, local_root, warc_storage


def expected_records(wf: WarcFile) -> dict[int, tuple[int, str, str | None]]:
    """offset → (length, SHA-256, WARC-Record-ID) of every record the index knows in ``wf``."""
    return _records_by_file(warc_file_id=wf.pk).get(wf.pk, {})


def _records_by_file(**where) -> dict[int, dict[int, tuple[int, str, str | None]]]:
    """warc_file_id → :func:`expected_records` of the WARC files that ``where`` (a filter on
    ``warc_file_id``) selects: one query for the snapshots, one for the pending revisits."""
    from archive.models import PendingRevisit

    out: dict[int, dict[int, tuple[int, str, str | None]]] = {}
    # the records as JSON text, decoded by one json.loads for all the rows (a call per row costs more)
    rows = list(Snapshot.objects.filter(**where).values_list("warc_file_id", Cast("records", TextField())))
    decoded = json.loads("[" + ",".join(text or "[]" for _id, text in rows) + "]")
    for (wf_id, _text), records in zip(rows, decoded, strict=True):
        mine = out.setdefault(wf_id, {})
        for r in records:
            mine[r["offset"]] = (r["length"], r["sha256"], r.get("record_id"))
    for wf_id, off, length, sha, rid in PendingRevisit.objects.filter(**where).values_list(
            "warc_file_id", "offset", "length", "record_sha256", "record_id"):
        out.setdefault(wf_id, {})[off] = (length, sha, rid)
    return out


def audit(wf: WarcFile, *, deep: bool = False) -> FixityReport:
    report = audit_file(wf.name, expected_sha256=wf.sha256, expected_records=expected_records(wf),
                        record_count=wf.record_count, deep=deep)
    WarcFile.objects.filter(pk=wf.pk).update(last_verified_at=timezone.now(), last_verified_ok=report.ok)
    return report


def audit_all(*, deep: bool = False, batch: int = 2000) -> list[FixityReport]:
    """Audit every WARC file (see :func:`archive.store.warcstore.audit_file`), in ``pk`` order; one
    report per file. Per ``batch`` files: one query for the files, one for their snapshots' records,
    one for their pending revisits, and one UPDATE of ``last_verified_at``/``last_verified_ok`` per
    outcome, so the number of queries does not depend on the number of files within a batch."""
    reports: list[FixityReport] = []
    storage = warc_storage()
    root = local_root(storage)
    files = WarcFile.objects.order_by("pk").values_list("pk", "name", "sha256", "record_count")
    last = 0
    while True:
        chunk = list(files.filter(pk__gt=last)[:batch])
        if not chunk:
            return reports
        # the chunk is every file in (last, chunk's last]: a range, not a list of ids, selects their records
        records = _records_by_file(warc_file_id__gt=last, warc_file_id__lte=chunk[-1][0])
        now = timezone.now()
        outcome: dict[bool, list[int]] = {True: [], False: []}
        for pk, name, sha256, record_count in chunk:
            report = audit_stored(storage, root, name, expected_sha256=sha256, expected_records=records.get(pk),
                                  record_count=record_count, deep=deep)
            outcome[report.ok].append(pk)
            reports.append(report)
        for ok, ids in outcome.items():
            _record_outcome(ids, ok, now)
        last = chunk[-1][0]


def _record_outcome(ids: list[int], ok: bool, when) -> None:
    """``last_verified_at = when, last_verified_ok = ok`` on the WarcFile rows ``ids``, in one UPDATE.

    The ids (integers read from the table) are written into the statement: as thousands of
    parameters, Django's lookup and the driver's placeholder parsing cost more than the update."""
    if not ids:
        return
    qn, meta = connection.ops.quote_name, WarcFile._meta
    at, verified_ok = meta.get_field("last_verified_at"), meta.get_field("last_verified_ok")
    with connection.cursor() as cur:
        cur.execute(f"UPDATE {qn(meta.db_table)} SET {qn(at.column)} = %s, {qn(verified_ok.column)} = %s "  # noqa: S608 - quoted names, int()s
                    f"WHERE {qn(meta.pk.column)} IN ({','.join(str(int(i)) for i in ids)})",
                    [at.get_db_prep_save(when, connection), verified_ok.get_db_prep_save(ok, connection)])


def orphan_files() -> list[str]:
    """Published WARC files no WarcFile row refers to (a crash between publishing and indexing).

    They are valid, immutable files; ``verify`` lists them so an operator can re-import them."""
    storage = warc_storage()
    root = local_root(storage)
    found: list[str] = []

    def walk(prefix: str) -> None:
        dirs, files = storage.listdir(prefix)
        for f in files:
            if f.endswith(".warc.gz"):
                found.append(f"{prefix}/{f}" if prefix else f)
        for d in dirs:
            walk(f"{prefix}/{d}" if prefix else d)

    if root is not None:  # a local store: os.walk, one scandir per directory without the storage layer
        for dirpath, _dirs, files in os.walk(root, followlinks=True):
            prefix = dirpath[len(root):].replace(os.sep, "/")
            found.extend(f"{prefix}/{f}" if prefix else f for f in files if f.endswith(".warc.gz"))
    else:
        try:
            walk("")
        except FileNotFoundError:
            return []
    known = set(WarcFile.objects.values_list("name", flat=True))
    return sorted(n for n in found if n not in known)


def cleanup_partial_files(max_age_seconds: int = 3600) -> int:
    """Remove ``.part`` files left by killed captures (never published, never referenced)."""
    import time

    from django.conf import settings

    n = 0
    for p in settings.NAQL_TMP_DIR.glob("*.part"):
        if time.time() - p.stat().st_mtime > max_age_seconds:
            p.unlink(missing_ok=True)
            n += 1
    return n
