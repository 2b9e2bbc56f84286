"""Fixity audits over the whole store; results are recorded on each WarcFile row."""

from __future__ import annotations

from django.utils import timezone

from .models import Snapshot, WarcFile
from .warcstore import FixityReport, audit_file


def expected_records(wf: WarcFile) -> dict[int, tuple[int, str]]:
    out: dict[int, tuple[int, str]] = {}
    for records in Snapshot.objects.filter(warc_file=wf).values_list("records", flat=True):
        for r in records:
            out[r["offset"]] = (r["length"], r["sha256"])
    return out


def audit(wf: WarcFile) -> FixityReport:
    report = audit_file(wf.name, expected_sha256=wf.sha256, expected_records=expected_records(wf))
    WarcFile.objects.filter(pk=wf.pk).update(last_verified_at=timezone.now(), last_verified_ok=report.ok)
    return report


def audit_all() -> list[FixityReport]:
    return [audit(wf) for wf in WarcFile.objects.order_by("pk").iterator()]
