"""Operations on stored snapshots: extraction onto the row, reading bytes back, timelines."""

from __future__ import annotations

import logging

from archive.models import Snapshot
from archive.store.warcstore import StoredResponse, read_range, read_response

log = logging.getLogger(__name__)

TEXT_TYPES = ("text/html", "application/xhtml+xml")


def apply_extraction(snap: Snapshot, body: bytes, content_type: str | None) -> None:
    """Fill the extracted fields of an (unsaved or saved) snapshot from its decoded body.

    Extraction is derived data: a failure is recorded on the row, never fatal to the capture."""
    if (snap.mime and snap.mime not in TEXT_TYPES) or not body:
        return
    from archive.extract.article import extract
    from archive.extract.versions import text_fingerprint

    try:
        ex = extract(body, content_type, snap.url)
    except Exception as exc:  # noqa: BLE001 - any parser failure must not lose the capture
        log.exception("extraction failed for %s", snap.url)
        snap.extracted = {"error": f"{type(exc).__name__}: {exc}"}
        return
    snap.charset = ex.charset or ""
    snap.title = ex.title or ""
    snap.byline = (ex.byline or "")[:500]
    snap.published_at = ex.published
    snap.modified_at = ex.modified
    snap.language = ex.language or ""
    snap.canonical_url = ex.canonical_url or ""
    snap.main_text = ex.main_text or ""
    snap.text = ex.visible.text
    snap.text_fingerprint = text_fingerprint(ex)
    data = ex.as_dict()
    for key in ("visible", "main_text", "title", "byline", "published", "modified", "language", "canonical_url",
                "charset"):
        data.pop(key, None)
    data["paragraphs"] = [[p.start, p.end, p.tag] for p in ex.visible.paragraphs]
    snap.extracted = data


#: Derived fields a revisit may share with its original (the large ones); the small ones are copied.
SHARED_DERIVED = ("main_text", "text", "extracted", "canonical_url")
COPIED_DERIVED = ("charset", "title", "byline", "published_at", "modified_at", "language", "text_fingerprint")


def share_derived(snap: Snapshot) -> bool:
    """Give a revisit its original's derived text instead of extracting (and storing) it again.

    Only when extraction could not differ: the original holds the identical payload (a revisit of
    it), under the same URL (links resolve against it) with the same Content-Type and
    Content-Encoding (charset and decoding), analysed, and neither is a browser capture with a
    rendered DOM. The small derived fields (title, dates, fingerprint...) are copied; ``text``,
    ``main_text``, ``extracted`` and ``canonical_url`` stay empty on the row and read as the original's
    (``Snapshot.text_from_payload``). Returns whether it did."""
    src = snap.payload_snapshot if snap.payload_snapshot_id else None
    if (src is None or snap.record_type != Snapshot.RecordType.REVISIT or src.url != snap.url
            or src.content_type != snap.content_type or src.text_from_payload or src.withdrawn_at
            or snap.resource_record("dom") or src.resource_record("dom")):
        return False
    if src.analysis_pending:  # its text is not there yet: this revisit extracts its own
        return False
    own = read_response(snap.warc_file.name, snap.offset, snap.length, expected_sha256=snap.record_sha256)
    if own.headers and src.record_type == Snapshot.RecordType.RESPONSE:
        theirs = read_response(src.warc_file.name, src.offset, src.length, expected_sha256=src.record_sha256)
        if _codings(own) != _codings(theirs):
            return False
    for f in COPIED_DERIVED:
        setattr(snap, f, getattr(src, f))
    snap.__dict__.update(main_text="", text="", extracted={}, canonical_url="")
    snap.text_from_payload = True
    return True


def _codings(resp: StoredResponse) -> list[str]:
    return [v.strip().lower() for k, v in resp.headers if k.lower() == "content-encoding"]


def stored_response(snap: Snapshot) -> StoredResponse:
    """The archived response of ``snap``: for a revisit, headers of the revisit record and the body
    of the original record it refers to."""
    resp = read_response(snap.warc_file.name, snap.offset, snap.length, expected_sha256=snap.record_sha256)
    if snap.record_type == Snapshot.RecordType.REVISIT and snap.payload_snapshot_id:
        src = snap.payload_snapshot
        original = read_response(src.warc_file.name, src.offset, src.length, expected_sha256=src.record_sha256)
        if not resp.headers or (resp.status == 304 and snap.status != 304):
            # server-not-modified revisit, or one without an HTTP head: it stands for the original
            # response (status and headers included); see archive.store.ingest
            original.raw_block = resp.raw_block
            return original
        resp.body = original.body
    return resp


def resource_block(snap: Snapshot, role: str) -> tuple[dict, bytes] | None:
    """The block of ``snap``'s ``resource`` record with ``role`` (``screenshot``, ``dom``: what a
    browser capture attached to its page), read from its WARC and checked against the recorded
    SHA-256, with the record as indexed; None when the snapshot has none. Raises FixityError when
    the stored bytes do not match."""
    import io

    from warcio.archiveiterator import ArchiveIterator

    rec = snap.resource_record(role)
    if rec is None:
        return None
    member = read_range(snap.warc_file.name, int(rec["offset"]), int(rec["length"]), expected_sha256=rec.get("sha256"))
    record = next(iter(ArchiveIterator(io.BytesIO(member))))
    return rec, record.content_stream().read()


def reextract(snap: Snapshot) -> Snapshot:
    """Run extraction again from the archived bytes (e.g. after an extractor upgrade); for a
    browser capture whose page HTML has no article text, from its rendered DOM, as at capture."""
    resp = stored_response(snap)
    if snap.text_from_payload:  # its own copy from now on
        snap.text_from_payload = False
        snap.__dict__.update(main_text="", text="", extracted={}, canonical_url="")
    apply_extraction(snap, decoded_body(resp), snap.content_type)
    if not (snap.main_text or "").strip() and (dom := resource_block(snap, "dom")) is not None:
        apply_extraction(snap, dom[1], "text/html; charset=utf-8")
        snap.extracted = {**(snap.extracted or {}), "text_source": "rendered_dom"}
    snap.save()
    return snap


def decoded_body(resp: StoredResponse) -> bytes:
    """Body with Content-Encoding undone (transfer chunking is already removed), by the same
    decoder as capture, under the same size cap. Raises ``ProtocolError`` for a body the server
    sent corrupt (or in a coding Naql cannot undo) and ``BodyTooLarge`` for a decompression bomb."""
    from django.conf import settings

    from archive.capture.fetch import decode_content

    encodings = [v for k, v in resp.headers if k.lower() == "content-encoding"]
    return decode_content(resp.body, encodings, max_size=settings.NAQL_CAPTURE_MAX_BODY)
