"""Wayback-style replay and Memento views, sandboxed; raw ``id_`` mode.

Views are thin: URL parsing and index look-ups live in :mod:`archive.replay.memento`, HTML/CSS
rewriting in :mod:`archive.replay.rewrite`. This module turns a stored response into a replay response:

* ``id_``: the archived body byte for byte (transfer chunking removed, Content-Encoding kept),
  with the archived status, Content-Type and Content-Encoding.
* any other mode: HTML and CSS are decoded (``decode_html`` for HTML, so legacy charsets such as
  windows-1256 come out right), rewritten to archive URLs and served as UTF-8; everything else
  is served as archived. A redirect replays as a redirect to the archived target.

Isolation. Every replay response carries ``Content-Security-Policy: sandbox allow-scripts
allow-forms allow-popups`` (no ``allow-same-origin``: the document gets an opaque origin, so
it can read no cookie or storage of Naql and its requests to ``/api`` or ``/admin`` are
cross-origin without credentials) plus ``default-src 'self' ...``, which keeps archived scripts
from loading anything from the live web. ``Set-Cookie`` headers of the archived response are
dropped; every other archived header that is not part of the replay (caching, HSTS, CSP,
``Refresh``, ``Link``...) is renamed ``X-Archive-Orig-<name>`` and so inert. When
``NAQL_REPLAY_HOST`` is set, ``/web/`` is served only on that host (the app host redirects
there) and :class:`ReplayHostMiddleware` keeps the replay host from serving anything else.
"""

from __future__ import annotations

import logging
from urllib.parse import urljoin, urlsplit

from django.conf import settings
from django.http import HttpResponse, HttpResponseNotFound, HttpResponseRedirect
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.http import require_safe

from archive.errors import ArchiveError, CaptureError
from archive.extract.article import decode_html
from archive.models import Snapshot
from archive.replay import banner, codings, memento
from archive.replay.headers import add_header_line
from archive.replay.rewrite import (
    MODIFIERS,
    Rewriter,
    archive_path,
    inject_client_shim,
    rewrite_css,
    rewrite_html,
)
from archive.store.snapshots import decoded_body, stored_response
from archive.uri import iri_to_uri

log = logging.getLogger(__name__)

IFRAME_SANDBOX = "allow-scripts allow-forms allow-popups"
SANDBOX = f"sandbox {IFRAME_SANDBOX}"
_CSP_FETCH = "default-src 'self' 'unsafe-inline' 'unsafe-eval' data: blob:"
HTML_TYPES = ("text/html", "application/xhtml+xml")
_KEEP_HEADERS = {"content-type", "content-encoding", "content-language"}
_DROP_HEADERS = {"set-cookie", "set-cookie2"}
_REDIRECTS = {301, 302, 303, 307, 308}


# --------------------------------------------------------------------------------------------
# host isolation
# --------------------------------------------------------------------------------------------
def replay_host() -> str:
    """``host[:port]`` of NAQL_REPLAY_HOST, lower-case; empty in the embedded default."""
    value = (settings.NAQL_REPLAY_HOST or "").strip().rstrip("/")
    if "://" in value:
        value = urlsplit(value).netloc
    return value.lower()


def is_replay_host(request) -> bool:
    host = replay_host()
    return bool(host) and request.get_host().lower() == host


def _frame_ancestors() -> str:
    sources = ["'self'"]
    if replay_host() and settings.NAQL_PUBLIC_URL:
        public = urlsplit(settings.NAQL_PUBLIC_URL)
        if public.scheme and public.netloc:
            sources.append(f"{public.scheme}://{public.netloc}")
    return "frame-ancestors " + " ".join(sources)


def replay_csp() -> str:
    return f"{SANDBOX}; {_CSP_FETCH}; {_frame_ancestors()}"


def _wrong_host(request) -> HttpResponse | None:
    """On the app host, when a replay host is configured: send /web/ requests there."""
    if not replay_host() or is_replay_host(request):
        return None
    return HttpResponseRedirect(memento.replay_origin(request) + request.get_full_path())


class ReplayHostMiddleware:
    """With NAQL_REPLAY_HOST set, the replay host serves ``/web/`` and nothing else (no admin,
    API, citable pages or sessions on the origin that runs archived scripts)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if replay_host() and not request.path.startswith("/web/") and is_replay_host(request):
            return HttpResponseNotFound("Not found on the replay host.", content_type="text/plain")
        return self.get_response(request)


def _isolate(resp: HttpResponse) -> HttpResponse:
    resp["Content-Security-Policy"] = replay_csp()
    resp["Access-Control-Allow-Origin"] = "*"  # fonts/CORS fetches from the opaque origin
    resp["Referrer-Policy"] = "no-referrer"
    resp.cookies.clear()
    return resp


def _page(request, template: str, context: dict, status: int) -> HttpResponse:
    return _isolate(render(request, template, context, status=status))


def _user(request):
    return getattr(request, "user", None)


# --------------------------------------------------------------------------------------------
# building a replay response from a stored one
# --------------------------------------------------------------------------------------------
def _archived_headers(resp, out: HttpResponse, *, raw: bool) -> None:
    for name, value in resp.headers:
        low = name.lower()
        if low in _DROP_HEADERS or "\r" in value or "\n" in value:
            continue
        if low in _KEEP_HEADERS and (raw or low == "content-language"):
            target = name
        elif low == "location":
            continue
        else:
            target = f"X-Archive-Orig-{name}"
        try:
            add_header_line(out, target, value)  # repeated lines (Link, Vary, Cache-Control…) all kept
        except (ValueError, UnicodeError):
            log.debug("skipping unsendable archived header %r", name)


def _decode_css(body: bytes, content_type: str) -> str:
    from archive.extract.charset import decode_css

    return decode_css(body, content_type)[0]  # BOM, header, @charset, UTF-8: the WHATWG/CSS order


def _decoded_or_none(snap: Snapshot, stored) -> bytes | None:
    try:
        return decoded_body(stored)
    except CaptureError as exc:  # the server sent it corrupt: nothing to rewrite
        log.info("replaying %s as archived: %s", snap.guid, exc.message)
        return None


def build_response(snap: Snapshot, mod: str, origin: str, user=None, accept_encoding: str | None = None
                   ) -> HttpResponse:
    """The replay response of ``snap`` in mode ``mod`` (``id_`` raw, else rewritten).
    ``accept_encoding``: the request's Accept-Encoding (None: header absent), see ``codings``."""
    stored = stored_response(snap)
    raw = mod == "id_"
    mime = snap.mime or (stored.header("Content-Type") or "").split(";")[0].strip().lower()
    location = stored.header("Location")
    if stored.status in _REDIRECTS and location:
        body = stored.body if raw else b""
        out = HttpResponse(body, status=stored.status)
        _archived_headers(stored, out, raw=raw)
        target = snap.redirect_to
        if target is not None and target.withdrawn_at is None:
            out["Location"] = archive_path(target.timestamp, mod, target.url)
        else:
            try:
                out["Location"] = archive_path(snap.timestamp, mod, iri_to_uri(urljoin(snap.url, location.strip())))
            except ValueError:
                out["Location"] = "/web/"
    elif not raw and mime in (*HTML_TYPES, "text/css") and (body := _decoded_or_none(snap, stored)) is not None:
        if mime == "text/css":
            css = rewrite_css(_decode_css(body, stored.header("Content-Type") or ""),
                              Rewriter(snap.url, snap.timestamp))
            out = HttpResponse(css.encode("utf-8"), status=stored.status, content_type="text/css; charset=utf-8")
        else:
            text, _charset = decode_html(body, stored.header("Content-Type") or snap.content_type)
            rw = Rewriter(snap.url, snap.timestamp)
            html = rewrite_html(text, rw)
            if "<script" in text[:5_000_000].lower():  # a page with scripts may load its content by script
                html = inject_client_shim(html, rw)
            out = HttpResponse(html.encode("utf-8"), status=stored.status, content_type=f"{mime}; charset=utf-8")
        _archived_headers(stored, out, raw=False)
    elif not codings.accepts(accept_encoding, codings.content_codings(stored.headers)):
        # the client does not accept the archived coding: decode it for the client, or refuse (406)
        coding = ", ".join(codings.content_codings(stored.headers))
        if (body := _decoded_or_none(snap, stored)) is None:
            out = HttpResponse(f"The archived body is {coding}-encoded, cannot be decoded here, and this client "
                               f"does not accept {coding}.\n", status=406, content_type="text/plain; charset=utf-8")
        else:
            out = HttpResponse(body, status=stored.status)
            _archived_headers(stored, out, raw=True)
            del out["Content-Encoding"]
            out["X-Archive-Orig-Content-Encoding"] = coding
            if not stored.header("Content-Type"):
                del out["Content-Type"]
        out["Vary"] = "Accept-Encoding"
    else:  # id_, media, and pages whose Content-Encoding cannot be undone: the archived bytes as they are
        out = HttpResponse(stored.body, status=stored.status)
        _archived_headers(stored, out, raw=True)
        if not stored.header("Content-Type"):
            del out["Content-Type"]
        if codings.content_codings(stored.headers):
            out["Vary"] = "Accept-Encoding"
    for k, v in memento.memento_headers(snap, origin, user).items():
        out[k] = v
    return _isolate(out)


# --------------------------------------------------------------------------------------------
# views
# --------------------------------------------------------------------------------------------
def _bad_request(request, message: str) -> HttpResponse:
    return _page(request, "archive/replay_error.html", {"message": message, "status": 400}, 400)


def _not_archived(request, url: str, when=None) -> HttpResponse:
    try:
        near = memento.nearby(url, _user(request))
    except ValueError:
        near = []
    return _page(request, "archive/not_archived.html", {"url": url, "when": when, "nearby": near}, 404)


def _gone(request, snap: Snapshot) -> HttpResponse:
    return _page(request, "archive/gone.html", {"snapshot": snap}, 410)


def _read_error(request, snap: Snapshot, exc: Exception) -> HttpResponse:
    log.error("cannot replay %s: %s", snap.guid, exc)
    return _page(request, "archive/replay_error.html",
                 {"message": "The archived bytes of this capture could not be read or failed their fixity "
                             "check. The incident has been logged.", "status": 502}, 502)


@xframe_options_exempt
@require_safe
def memento_view(request, ts: str, url: str, mod: str | None = None):
    """``/web/<ts>[mod]/<url>``: the memento closest to ``ts``."""
    wrong = _wrong_host(request)
    if wrong:
        return wrong
    mod = mod or ""
    if mod and mod not in MODIFIERS:
        return _bad_request(request, f"Unknown replay modifier “{mod}”.")
    try:
        when = memento.parse_ts(ts)
    except ValueError:
        return _bad_request(request, f"“{ts}” is not a timestamp (use 4 to 14 digits, YYYYMMDDhhmmss).")
    try:
        target = memento.target_url(url, request.META.get("QUERY_STRING", ""))
    except memento.BadTarget:
        return _bad_request(request, "That is not an http(s) URL that could have been archived.")
    user = _user(request)
    surt = memento.surt_key(target)
    snap = memento.closest(surt, when, user, target)
    exact = len(ts) == 14
    if exact and (snap is None or snap.timestamp != ts):
        withdrawn = memento.withdrawn_at(surt, when, user)
        if withdrawn is not None:
            return _gone(request, withdrawn)
    if snap is None:
        return _not_archived(request, target, when)
    if mod in ("", "mp_") and snap.timestamp != ts:
        # a page: go to the exact URI-M of the chosen memento (embeds are served in place)
        return _isolate(HttpResponseRedirect(archive_path(snap.timestamp, mod, snap.url)))
    if banner.wants_banner(request, snap, mod):
        return banner.banner_response(request, snap, memento.replay_origin(request), user, sandbox=IFRAME_SANDBOX,
                                      on_replay_host=is_replay_host(request))
    try:
        resp = build_response(snap, mod, memento.replay_origin(request), user,
                               accept_encoding=request.META.get("HTTP_ACCEPT_ENCODING"))
    except (ArchiveError, OSError) as exc:
        return _read_error(request, snap, exc)
    if mod == "":
        patch_vary_headers(resp, ["Sec-Fetch-Dest"])  # a top-level navigation gets the banner page instead
    return resp


@xframe_options_exempt
@require_safe
def timegate_view(request, url: str):
    """``/web/<url>``: TimeGate (RFC 7089 pattern 2.2, 302 style)."""
    wrong = _wrong_host(request)
    if wrong:
        return wrong
    try:
        target = memento.target_url(url, request.META.get("QUERY_STRING", ""))
    except memento.BadTarget:
        return _bad_request(request, "That is not an http(s) URL that could have been archived.")
    try:
        neg = memento.negotiate(target, request.headers.get("Accept-Datetime"), memento.replay_origin(request),
                                _user(request))
    except (ValueError, OverflowError):
        return _bad_request(request, "Accept-Datetime must be an RFC 1123 date, e.g. "
                                     "“Sat, 27 Nov 2021 12:00:00 GMT”.")
    if neg is None:
        resp = _not_archived(request, target)
        resp["Vary"] = "accept-datetime"
        return resp
    resp = HttpResponseRedirect(neg.location)
    for k, v in neg.headers.items():
        resp[k] = v
    return _isolate(resp)


@xframe_options_exempt
@require_safe
def timemap_view(request, fmt: str, url: str, from_ts: str | None = None):
    """``/web/timemap/link|json/[from/<ts>/]<url>``."""
    wrong = _wrong_host(request)
    if wrong:
        return wrong
    try:
        target = memento.target_url(url, request.META.get("QUERY_STRING", ""))
        page = memento.timemap_page(target, _user(request), from_ts)
    except memento.BadTarget:
        return _bad_request(request, "That is not an http(s) URL that could have been archived.")
    except ValueError:
        return _bad_request(request, "Bad TimeMap page cursor.")
    if not page.entries:
        return _not_archived(request, target)
    origin = memento.replay_origin(request)
    if fmt == "json":
        resp = HttpResponse(memento.render_json_lines(page, origin), content_type=memento.JSON_LINES)
    else:
        resp = HttpResponse(memento.render_link_format(page, origin), content_type=memento.LINK_FORMAT)
    resp["Link"] = ", ".join(memento.timemap_links(page, origin, fmt))
    return _isolate(resp)
