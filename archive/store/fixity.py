"""Fixity audits over the whole store; results are recorded on each WarcFile row."""

from __future__ import annotations

from django.utils import timezone

from archive.models import Snapshot, WarcFile
from archive.store.warcstore import FixityReport, audit_file


def expected_records(wf: WarcFile) -> dict[int, tuple[int, str, str | None]]:
    """offset → (length, SHA-256, WARC-Record-ID) of every record the index knows in ``wf``."""
    out: dict[int, tuple[int, str, str | None]] = {}
    for records in Snapshot.objects.filter(warc_file=wf).values_list("records", flat=True):
        for r in records:
            out[r["offset"]] = (r["length"], r["sha256"], r.get("record_id"))
    return out


def audit(wf: WarcFile) -> FixityReport:
    report = audit_file(wf.name, expected_sha256=wf.sha256, expected_records=expected_records(wf))
    WarcFile.objects.filter(pk=wf.pk).update(last_verified_at=timezone.now(), last_verified_ok=report.ok)
    return report


def audit_all() -> list[FixityReport]:
    return [audit(wf) for wf in WarcFile.objects.order_by("pk").iterator()]


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
