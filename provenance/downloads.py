"""Download of a document's WACZ package, or of its whole chain (``?chain=1``).

``/provenance/document/<id>.wacz[?chain=1]``: the package as the requesting reader may see it.
A package already built (the cache is keyed by content) or small enough
(``NAQL_PACKAGE_INLINE_MAX`` snapshots) is sent at once; a larger one is built by a worker
(``provenance.tasks.build_document_package``) while the reader gets 202 and a page that
reloads itself until the file is ready. The building is never done twice for the same content:
the task and the request compute the same key.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.cache import cache
from django.http import FileResponse, Http404, HttpResponse
from django.views.decorators.http import require_safe

from archive.errors import ArchiveError
from archive.store.wacz import build_planned
from provenance.api_serializers import visible_documents
from provenance.package import chain_plan

log = logging.getLogger(__name__)


def package_response(package, filename: str) -> FileResponse:
    resp = FileResponse(open(package.path, "rb"), as_attachment=True, filename=filename,  # noqa: SIM115
                        content_type="application/wacz+zip")
    resp["X-Content-Type-Options"] = "nosniff"
    resp["X-Naql-Package"] = package.key
    return resp


@require_safe
def document_wacz(request, pk: int):
    user = getattr(request, "user", None)
    doc = visible_documents(user).filter(pk=pk).first()
    if doc is None:
        raise Http404("no such document")
    chain = request.GET.get("chain") in ("1", "true", "yes")
    try:
        plan = chain_plan(doc, user, chain=chain)
        name = f"naql-document-{doc.pk}{'-chain' if chain else ''}.wacz"
        if plan.built or len(plan.snaps) <= settings.NAQL_PACKAGE_INLINE_MAX:
            return package_response(build_planned(plan), name)
    except (ArchiveError, OSError) as exc:  # a stored file missing or unreadable: 502, like the WARC download
        log.error("package of document %s failed: %s", doc.pk, exc)
        reason = exc.message if isinstance(exc, ArchiveError) else "a stored file could not be read"
        return HttpResponse(f"The package could not be built: {reason}", status=502, content_type="text/plain")
    if cache.add(f"naql-package-building:{plan.key}", 1, timeout=600):
        from provenance.tasks import build_document_package

        build_document_package.delay(doc.pk, getattr(user, "pk", None), chain)
    resp = HttpResponse(
        f"<!doctype html><meta charset=utf-8><title>Building package</title>"
        f"<p>The package of {len(plan.snaps)} snapshots is being built; this page reloads until it is ready.</p>",
        status=202, content_type="text/html; charset=utf-8")
    resp["Refresh"] = "5"
    resp["Retry-After"] = "5"
    return resp
