"""Celery tasks: thin wrappers over the provenance modules (the same functions serve the admin and CLI)."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import IntegrityError

log = logging.getLogger(__name__)

#: At most this many other documents are re-examined after a capture: those the capture may
#: affect (a new document can complete the evidence of an older one: the target of a link, a named
#: publisher, a quoted statement; see ``attribution.affected_by``), most recently updated first.
REDETECT_LIMIT = 200


def process_snapshot(snapshot_id: int) -> dict:
    """Document, claims (re-anchor + segment) and relations for a freshly captured page snapshot."""
    from archive.models import Snapshot
    from provenance.detect.attribution import affected_by, detect_relations
    from provenance.documents import document_for_snapshot
    from provenance.text.claims import claims_after_capture

    snap = Snapshot.objects.filter(pk=snapshot_id).first()
    if snap is None or snap.is_requisite:
        return {"skipped": "no such page snapshot"}
    from archive.analysis import analyse

    snap = analyse(snap)  # commit first, derive later: the text may not be extracted yet
    doc = document_for_snapshot(snap)
    if doc is None:
        return {"skipped": "not a text page"}
    summary = claims_after_capture(snap)
    try:
        relations = detect_relations(doc)
    except IntegrityError:  # the same follow-up ran concurrently (a worker and `trace`): redo on its result
        relations = detect_relations(doc)
    others = affected_by(doc)
    if len(others) > REDETECT_LIMIT:
        log.warning("capture of %s affects %d documents; re-examining the %d most recent", doc.url, len(others),
                    REDETECT_LIMIT)
        others = others[:REDETECT_LIMIT]
    for other in others:
        detect_relations(other)
    summary.update({"relations": len(relations), "redetected": len(others)})
    return summary


@shared_task(ignore_result=True, acks_late=True)
def after_capture(snapshot_id: int) -> dict:
    return process_snapshot(snapshot_id)


@shared_task(ignore_result=True, acks_late=True)
def after_capture_many(snapshot_ids: list[int]) -> int:
    """The follow-up of each page of a batch capture (archive.capture.batch), in order; one that
    fails is logged and does not stop the others (``trace`` or the admin re-runs it)."""
    done = 0
    for pk in snapshot_ids:
        try:
            process_snapshot(pk)
            done += 1
        except Exception:  # noqa: BLE001 - one page's derived data; the others still get theirs
            log.exception("provenance follow-up of snapshot %s failed", pk)
    return done


@shared_task(ignore_result=True)
def detect_document_relations(document_id: int) -> int:
    from provenance.detect.attribution import detect_relations
    from provenance.models import Document

    doc = Document.objects.filter(pk=document_id).first()
    return len(detect_relations(doc)) if doc else 0


@shared_task(ignore_result=True)
def build_document_package(document_id: int, user_id: int | None, chain: bool) -> str | None:
    """Build (into the package cache) the WACZ of a document or its whole chain, as that user sees it."""
    from django.contrib.auth import get_user_model

    from archive.errors import ArchiveError
    from provenance.models import Document
    from provenance.package import chain_package

    doc = Document.objects.filter(pk=document_id).first()
    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    if doc is None:
        return None
    try:
        return chain_package(doc, user, chain=chain).key
    except ArchiveError as exc:
        log.error("package of document %s failed: %s", document_id, exc)
        return None


#: At most this many queued follow-ups are run by :func:`catch_up` (oldest capture first).
CATCH_UP_LIMIT = 200


def pending_snapshots(limit: int = CATCH_UP_LIMIT) -> list[int]:
    """Page snapshots whose follow-up has not run yet: the latest snapshot of a URL that no
    document's detection index records (a capture whose follow-up waits for a worker). A
    snapshot whose text analysis is itself still queued (``analysis_pending``) counts: the
    follow-up runs that analysis first."""
    from django.db.models import Q

    from archive.models import Snapshot
    from provenance.models import DocumentIndex

    done = DocumentIndex.objects.filter(snapshot__isnull=False).values("snapshot_id")
    qs = (Snapshot.objects.live().pages().filter(status=200, final__isnull=True)
          .filter(~Q(text="") | Q(analysis_pending=True))
          .exclude(pk__in=done).order_by("-captured_at").values_list("pk", "surt"))
    seen, out = set(), []
    for pk, surt in qs[: limit * 4]:
        if surt not in seen:  # only the newest snapshot of each URL
            seen.add(surt)
            out.append(pk)
    return list(reversed(out[:limit]))


def catch_up(limit: int = CATCH_UP_LIMIT) -> int:
    """Run, in this process, the follow-up of captures still waiting for a worker (idempotent: a
    worker that runs them later changes nothing). Returns how many were run."""
    from archive.models import Snapshot
    from provenance.detect.candidates import is_indexed
    from provenance.documents import document_for_snapshot

    n = 0
    for pk in pending_snapshots(limit):
        snap = Snapshot.objects.get(pk=pk)
        doc = document_for_snapshot(snap, create=False)
        if doc is not None and is_indexed(doc, doc.latest_snapshot()):
            continue
        process_snapshot(pk)
        n += 1
    return n
