"""Browser capture, written down: the exchanges of :func:`archive.capture.browser.browse` as one WARC.

Same order of work as :mod:`archive.capture.capture` (everything in memory first, then one WARC
published, then the snapshot rows in one transaction), with three more records:

* ``resource`` ``urn:view:<page URL>``, ``image/png``: the full-page screenshot;
* ``resource`` ``urn:dom:<page URL>``, ``text/html; charset=utf-8``: the rendered DOM;
* the ``metadata`` record (``application/json``) carries the browser's provenance summary:
  version, user agent, viewport, timings, budget, requests refused and why, popups and
  downloads blocked.

Both resources name the page's response record in ``WARC-Concurrent-To`` (the ``urn:view:`` /
``urn:dom:`` forms follow Browsertrix's ``urn:<kind>:<url>`` convention; replay tools skip them).
The page snapshot lists them in ``records`` with a ``role`` (``screenshot``, ``dom``).
"""

from __future__ import annotations

import json
import time
from urllib.parse import urljoin

from django.conf import settings

from archive import clock, software_versions
from archive.capture.capture import (
    REDIRECT_STATUSES,
    CaptureResult,
    RevisitIndex,
    _exchange_note,
    _index,
    _write_exchange,
    capture,
    follow_redirects,
    has_article_text,
)
from archive.capture.fetch import Exchange
from archive.capture.guard import check_url
from archive.errors import BrowserFailure, BrowserUnavailable, CaptureError, ForbiddenAddress
from archive.models import CaptureJob
from archive.store.warcstore import WarcBuilder
from archive.uri import iri_to_uri, surt_key

__all__ = ["capture_browser", "capture_with_mode", "page_chain"]


def capture_with_mode(url: str, *, mode: str = "raw", job: CaptureJob | None = None, requisites: bool = True,
                      user=None) -> CaptureResult:
    """Capture ``url`` in ``mode``: ``raw`` (:func:`archive.capture.capture.capture`),
    ``browser`` (:func:`capture_browser`) or ``auto``: raw fetch first; when the page is HTML
    without article text, a browser capture instead; if this worker has no browser, the raw
    capture is kept and its metadata record says why."""
    if mode == "browser":
        return capture_browser(url, job=job, user=user)
    if mode != "auto":
        return capture(url, job=job, requisites=requisites, user=user)
    hops = follow_redirects(url)
    note = None
    if not has_article_text(hops[-1]):
        try:
            return capture_browser(url, job=job, user=user, note="auto: the raw page has no article text")
        except BrowserUnavailable as exc:
            note = f"auto: the raw page has no article text, but {exc.message}"
    return capture(url, job=job, requisites=requisites, user=user, hops=hops, mode_note=note)


def page_chain(requested: str, exchanges: list[Exchange]) -> tuple[list[Exchange], list[Exchange]]:
    """Split a browser's exchanges into the page's redirect chain (first GET of ``requested``,
    then of each ``Location``) and everything else, in request order."""
    first: dict[str, Exchange] = {}
    for ex in exchanges:
        if ex.method == "GET":
            first.setdefault(ex.url, ex)
    hops: list[Exchange] = []
    cur = requested
    if cur not in first:  # the browser spelled the URL differently (case, escapes): same SURT key
        key = surt_key(cur)
        cur = next((u for u in first if surt_key(u) == key), cur)
    while cur in first and all(h is not first[cur] for h in hops):
        ex = first[cur]
        hops.append(ex)
        loc = ex.header("Location") if ex.status in REDIRECT_STATUSES else None
        if not loc:
            break
        try:
            cur = check_url(iri_to_uri(urljoin(cur, loc.strip())),
                            allowed_networks=settings.NAQL_CAPTURE_ALLOWED_NETWORKS).url
        except CaptureError:
            break
    rest = [ex for ex in exchanges if all(ex is not h for h in hops)]
    return hops, rest


def capture_browser(url: str, *, job: CaptureJob | None = None, user=None, note: str | None = None,
                    ssl_context=None) -> CaptureResult:
    """Capture ``url`` through Chromium and the recording proxy. Raises ``BrowserUnavailable``
    (no Chromium here: nothing was done), ``ForbiddenAddress`` (the page itself was refused) or
    ``BrowserFailure``; on any error nothing is written."""
    from archive.capture.browser import browse

    requested = check_url(iri_to_uri(url), allowed_networks=settings.NAQL_CAPTURE_ALLOWED_NETWORKS).url
    t0 = time.monotonic()
    bc = browse(requested, ssl_context=ssl_context)
    skew = clock.offset()  # capture times come from the database's clock, as in raw capture
    if skew:
        for ex in bc.exchanges:
            ex.started_at, ex.finished_at = ex.started_at + skew, ex.finished_at + skew
    hops, rest = page_chain(requested, bc.exchanges)
    if not hops:
        why = next((r for r in bc.refused if r["url"] == requested), None) or (bc.refused[:1] or [None])[0]
        if why and why["code"] == "forbidden_address":
            raise ForbiddenAddress(why["message"], details={"url": requested})
        raise BrowserFailure("the browser recorded no response for the page" + (f": {why['message']}" if why else ""),
                             details={"url": requested, "refused": bc.refused[:20]})
    if job:
        job.heartbeat("browsed", exchanges=len(bc.exchanges), refused=len(bc.refused),
                      seconds=round(time.monotonic() - t0, 3))
    builder = WarcBuilder()
    try:
        builder.write_warcinfo(extra={"operator": "Naql", "robots": "ignore (archival capture on request)",
                                      "capture-mode": "browser",
                                      "browser": f"Chromium {bc.info.get('browser', {}).get('version', '?')}",
                                      "capture-proxy": "yes" if settings.NAQL_CAPTURE_PROXY else "no",
                                      "max-body-bytes": settings.NAQL_CAPTURE_MAX_BODY})
        index = RevisitIndex()
        index.look_up([*hops, *rest])  # the originals of every exchange, in one statement
        written = [_write_exchange(builder, ex, index=index) for ex in [*hops, *rest]]
        page = written[len(hops) - 1]
        page_url = page["exchange"].url
        resources = []
        for role, block, ctype, scheme in (
            ("screenshot", bc.screenshot, "image/png", "urn:view:"),
            ("dom", bc.dom.encode("utf-8") if bc.dom is not None else None, "text/html; charset=utf-8", "urn:dom:"),
        ):
            if block is None:
                continue
            rec = builder.write_record("resource", block=block, content_type=ctype, uri=scheme + page_url,
                                       date=page["exchange"].started_at,
                                       headers={"WARC-Concurrent-To": page["response"].record_id})
            resources.append({**rec.as_dict(), "role": role, "content_type": ctype})
        meta = {
            "requested_url": url, "requested_uri": requested, "final_url": page_url, "mode": "browser",
            "browser_final_url": bc.final_url,
            "redirects": [{"url": h.url, "status": h.status, "location": h.header("Location")} for h in hops[:-1]],
            "requisites": [ex.url for ex in rest], "requisite_errors": bc.refused,
            "job": job.guid if job else None, "browser": bc.info,
            "timings": {"exchanges": [_exchange_note(w) for w in written]},
            "software": {**software_versions(), "playwright": _version("playwright")},
        }
        if note:
            meta["mode_note"] = note
        meta_rec = builder.write_record(
            "metadata", block=json.dumps(meta, ensure_ascii=False, indent=1).encode("utf-8"),
            content_type="application/json", uri=hops[0].url, date=hops[0].started_at,
            headers={"WARC-Concurrent-To": written[0]["response"].record_id},
        )
        published = builder.publish()
    except BaseException:
        builder.abort()
        raise
    if job:
        job.heartbeat("written", warc=published.name, bytes=published.size)
    return _index(published, written, meta_rec, n_hops=len(hops), job=job, user=user, req_errors=bc.refused,
                  mode="browser", resources=resources,
                  rendered_dom=bc.dom.encode("utf-8") if bc.dom is not None else None)


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "unknown"
