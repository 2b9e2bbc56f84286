"""Fixity audits over the whole store; results are recorded on each WarcFile row."""

from __future__ import annotations

from django.utils import timezone

from archive.models import Snapshot, WarcFile
from archive.store.warcstore import FixityReport, audit_file


def expected_records(wf: WarcFile) -> dict[int, tuple[int, str, str | None]]:
    """offset → (length, SHA-256, WARC-Record-ID) of every record the index knows in ``wf``."""
    return _records_by_file([wf.pk]).get(wf.pk, {})


def _records_by_file(ids: list[int]) -> dict[int, dict[int, tuple[int, str, str | None]]]:
    from archive.models import PendingRevisit

    out: dict[int, dict[int, tuple[int, str, str | None]]] = {}
    rows = Snapshot.objects.filter(warc_file_id__in=ids).values_list("warc_file_id", "records")
    for wf_id, records in rows.iterator(chunk_size=2000):
        for r in records:
            out.setdefault(wf_id, {})[r["offset"]] = (r["length"], r["sha256"], r.get("record_id"))
    for wf_id, off, length, sha, rid in PendingRevisit.objects.filter(warc_file_id__in=ids).values_list(
            "warc_file_id", "offset", "length", "record_sha256", "record_id"):
        out.setdefault(wf_id, {})[off] = (length, sha, rid)
    return out


def audit(wf: WarcFile, *, deep: bool = False) -> FixityReport:
    report = audit_file(wf.name, expected_sha256=wf.sha256, expected_records=expected_records(wf),
                        record_count=wf.record_count, deep=deep)
    WarcFile.objects.filter(pk=wf.pk).update(last_verified_at=timezone.now(), last_verified_ok=report.ok)
    return report


def audit_all(*, deep: bool = False, batch: int = 500) -> list[FixityReport]:
    """Audit every WARC file, ``batch`` files per index query and per bulk update of the results."""
    reports: list[FixityReport] = []
    files = WarcFile.objects.order_by("pk").only("pk", "name", "sha256", "record_count")
    last = 0
    while True:
        chunk = list(files.filter(pk__gt=last)[:batch])
        if not chunk:
            return reports
        records = _records_by_file([wf.pk for wf in chunk])
        now = timezone.now()
        for wf in chunk:
            report = audit_file(wf.name, expected_sha256=wf.sha256, expected_records=records.get(wf.pk, {}),
                                record_count=wf.record_count, deep=deep)
            wf.last_verified_at, wf.last_verified_ok = now, report.ok
            reports.append(report)
        WarcFile.objects.bulk_update(chunk, ["last_verified_at", "last_verified_ok"])
        last = chunk[-1].pk


def orphan_files() -> list[str]:
    """Published WARC files no WarcFile row refers to (a crash between publishing and indexing).

    They are valid, immutable files; ``verify`` lists them so an operator can re-import them."""
    from archive.store.warcstore import warc_storage

    storage = warc_storage()
    found: list[str] = []

    def walk(prefix: str) -> None:
        dirs, files = storage.listdir(prefix)
        for f in files:
            if f.endswith(".warc.gz"):
                found.append(f"{prefix}/{f}" if prefix else f)
        for d in dirs:
            walk(f"{prefix}/{d}" if prefix else d)

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
