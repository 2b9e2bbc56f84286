"""The citable page of a snapshot (``/s/<ID>``), its WARC download and the diff view.

``/s/<ID>`` shows the evidence (original and final URL, capture time in UTC, HTTP status,
SHA-256 of the record and of the WARC file, WARC-Record-ID), the replay in a sandboxed frame,
the timeline of versions with links to diff them, and copy-ready citations. IDs are
canonicalised: ``/s/k7qm4xr2`` answers 301 to ``/s/K7QM-4XR2``. A withdrawn snapshot answers
410 with the recorded reason.

``/s/<ID>.warc.gz`` is the snapshot's own WARC records (the gzip members listed in
``Snapshot.records``, each checked against its recorded SHA-256; for a revisit, the response
record holding the payload comes first), concatenated: a valid WARC file on its own.
"""

from __future__ import annotations

import logging

from django.http import HttpResponse, HttpResponsePermanentRedirect
from django.shortcuts import render
from django.views.decorators.http import require_safe

from archive.errors import ArchiveError
from archive.ids import canonical_guid
from archive.models import Snapshot
from archive.replay import memento
from archive.replay.replay import IFRAME_SANDBOX, is_replay_host
from archive.store.snapshots import resource_block
from archive.store.warcstore import read_range
from archive.uri import public_origin
from archive.visibility import can_see_snapshot
from archive.web import citations
from archive.web.versions_timeline import timeline

log = logging.getLogger(__name__)


def _user(request):
    return getattr(request, "user", None)


def _lookup(request, guid: str, suffix: str = "") -> Snapshot | HttpResponse:
    """The snapshot for a typed ID, or the response to send instead (301, 404, 410)."""
    if is_replay_host(request):
        return HttpResponse("Not found on the replay host.", status=404, content_type="text/plain")
    canonical = canonical_guid(guid)
    if canonical is None:
        return render(request, "archive/not_archived.html", {"guid": guid}, status=404)
    if canonical != guid:
        return HttpResponsePermanentRedirect(f"/s/{canonical}{suffix}")
    snap = (Snapshot.objects.filter(guid=canonical).select_related("warc_file", "final", "final__warc_file")
            .first())
    # a withdrawn snapshot answers 410 (with its reason) only to those who could see it
    if snap is None or not can_see_snapshot(_user(request), snap, include_withdrawn=True):
        return render(request, "archive/not_archived.html", {"guid": canonical}, status=404)
    if snap.is_withdrawn:
        return render(request, "archive/gone.html", {"snapshot": snap}, status=410)
    return snap


@require_safe
def snapshot_page(request, guid: str):
    snap = _lookup(request, guid)
    if isinstance(snap, HttpResponse):
        return snap
    page = snap.final or snap
    origin = memento.replay_origin(request)
    entries = timeline(page, _user(request))
    versions = []
    prev = None
    for e in entries:
        s = e.snapshot
        versions.append({"entry": e, "is_current": s.pk == page.pk,
                         "diff_prev": f"/s/{prev.guid}/diff/{s.guid}" if prev else None,
                         "diff_this": None if s.pk == page.pk else f"/s/{page.guid}/diff/{s.guid}"})
        prev = s
    context = {
        "snapshot": snap, "page": page, "replay_url": memento.memento_uri(page, origin), "sandbox": IFRAME_SANDBOX,
        "raw_url": memento.memento_uri(page, origin, "id_"), "timemap_url": memento.timemap_uri(page.url, origin),
        "versions": versions, "citations": citations.all_citations(snap, replay_origin=origin, request=request),
        "permalink": f"{public_origin(request)}/s/{snap.guid}",
        "chain": _redirect_chain(snap),
        "screenshot": page.resource_record("screenshot"),
    }
    return render(request, "archive/snapshot.html", context)


@require_safe
def screenshot(request, guid: str):
    """``/s/<ID>/screenshot.png``: the full-page screenshot a browser capture kept (a WARC
    ``resource`` record), byte for byte. 404 when the snapshot was not captured with a browser."""
    snap = _lookup(request, guid, "/screenshot.png")
    if isinstance(snap, HttpResponse):
        return snap
    page = snap.final or snap
    try:
        found = resource_block(page, "screenshot")
    except (ArchiveError, OSError) as exc:
        log.error("screenshot of %s failed: %s", page.guid, exc)
        return HttpResponse("The stored screenshot failed its fixity check.", status=502, content_type="text/plain")
    if found is None:
        return HttpResponse("This snapshot has no screenshot (it was not captured with a browser).", status=404,
                            content_type="text/plain")
    _rec, png = found
    resp = HttpResponse(png, content_type="image/png")
    resp["X-Content-Type-Options"] = "nosniff"
    resp["Content-Security-Policy"] = "default-src 'none'; sandbox"
    resp["Cache-Control"] = "public, max-age=31536000, immutable"  # evidence never changes
    return resp


def _redirect_chain(snap: Snapshot) -> list[Snapshot]:
    chain, seen, cur = [], set(), snap
    while cur is not None and cur.pk not in seen and len(chain) < 20:
        chain.append(cur)
        seen.add(cur.pk)
        cur = cur.redirect_to
    return chain


def snapshot_members(snap: Snapshot) -> list[bytes]:
    """The stored gzip members of ``snap``'s records (payload record first for a revisit),
    each verified against its recorded SHA-256. Raises FixityError on a mismatch."""
    sources = []
    if snap.record_type == Snapshot.RecordType.REVISIT and snap.payload_snapshot_id:
        src = snap.payload_snapshot
        sources.append((src.warc_file.name, {"offset": src.offset, "length": src.length, "sha256": src.record_sha256}))
    records = snap.records or [{"offset": snap.offset, "length": snap.length, "sha256": snap.record_sha256}]
    sources.extend((snap.warc_file.name, r) for r in records)
    return [read_range(name, int(rec["offset"]), int(rec["length"]), expected_sha256=rec.get("sha256"))
            for name, rec in sources]


@require_safe
def warc_download(request, guid: str):
    snap = _lookup(request, guid, ".warc.gz")
    if isinstance(snap, HttpResponse):
        return snap
    try:
        body = b"".join(snapshot_members(snap))
    except (ArchiveError, OSError) as exc:
        log.error("WARC download of %s failed: %s", snap.guid, exc)
        return render(request, "archive/replay_error.html",
                      {"status": 502, "message": "The stored records failed their fixity check."}, status=502)
    resp = HttpResponse(body, content_type="application/warc")
    resp["Content-Disposition"] = f'attachment; filename="naql-{snap.guid}.warc.gz"'
    resp["X-Content-Type-Options"] = "nosniff"
    return resp


@require_safe
def wacz_download(request, guid: str):
    """``/s/<ID>.wacz``: the signed WACZ of the snapshot with its requisites (archive.store.wacz)."""
    from django.http import FileResponse

    from archive.store.wacz import build_package

    snap = _lookup(request, guid, ".wacz")
    if isinstance(snap, HttpResponse):
        return snap
    try:
        package = build_package([snap], user=_user(request))
    except (ArchiveError, OSError) as exc:
        log.error("WACZ of %s failed: %s", snap.guid, exc)
        return render(request, "archive/replay_error.html",
                      {"status": 502, "message": "The package could not be built."}, status=502)
    resp = FileResponse(open(package.path, "rb"), as_attachment=True,  # noqa: SIM115 - FileResponse closes it
                        filename=f"naql-{snap.guid}.wacz", content_type="application/wacz+zip")
    resp["X-Content-Type-Options"] = "nosniff"
    return resp


@require_safe
def signing_key(request):
    """The instance's public signing key (PEM SubjectPublicKeyInfo): what packages are signed with."""
    from archive.store import signing

    resp = HttpResponse(signing.public_key_pem(), content_type="application/x-pem-file")
    resp["Access-Control-Allow-Origin"] = "*"
    resp["X-Naql-Key-Fingerprint"] = signing.fingerprint(signing.public_key_der())
    return resp


def compare_snapshots(a: Snapshot, b: Snapshot):
    """(older, newer, Comparison) of two snapshots, extracted again from their archived bytes."""
    from archive.extract.article import extract
    from archive.extract.versions import compare
    from archive.store.snapshots import decoded_body, stored_response

    old, new = sorted([a, b], key=lambda s: (s.captured_at, s.pk))
    ex = [extract(decoded_body(stored_response(s)), s.content_type, s.url) for s in (old, new)]
    return old, new, compare(ex[0], ex[1])


@require_safe
def diff_view(request, guid: str, other: str):
    a = _lookup(request, guid, f"/diff/{other}")
    if isinstance(a, HttpResponse):
        return a
    b = _lookup(request, other)
    if isinstance(b, HttpResponse):
        if b.status_code == 301:
            return HttpResponsePermanentRedirect(f"/s/{a.guid}/diff/{canonical_guid(other)}")
        return b
    a, b = a.final or a, b.final or b
    try:
        old, new, comparison = compare_snapshots(a, b)
    except (ArchiveError, OSError) as exc:
        log.error("diff %s..%s failed: %s", a.guid, b.guid, exc)
        return render(request, "archive/replay_error.html",
                      {"status": 502, "message": "The stored records failed their fixity check."}, status=502)
    from archive.extract.versions import render_html

    return render(request, "archive/diff.html", {
        "old": old, "new": new, "comparison": comparison, "summary": comparison.summary,
        "diff_html": render_html(comparison), "same_url": old.surt == new.surt,
    })
