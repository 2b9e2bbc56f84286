"""Celery tasks: thin wrappers over the provenance modules (the same functions serve the admin and CLI)."""

from __future__ import annotations

import logging

from celery import shared_task

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
    doc = document_for_snapshot(snap)
    if doc is None:
        return {"skipped": "not a text page"}
    summary = claims_after_capture(snap)
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
