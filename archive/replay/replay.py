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
from django.http import HttpResponse, HttpResponseNotFound, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.http import require_safe

from archive.capture.fetch import decode_content
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
from archive.store.stream import StreamedResponse, open_response
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
    API, citable pages or sessions on the origin that runs archived scripts).

    Fast path: an anonymous ``/web/`` request (no session cookie, no Authorization header) is
    answered here, by the replay view directly, without the middleware below this one (static
    files, sessions, CSRF, auth, messages, history): none of them has anything to do for an
    anonymous read-only replay request, and together they cost as much as the look-up itself.
    ``SecurityMiddleware`` above still runs. A request with credentials takes the full stack,
    so a group member still sees the group's private mementos."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith("/web/"):
            if (settings.SESSION_COOKIE_NAME not in request.COOKIES and "HTTP_AUTHORIZATION" not in request.META
                    and (resp := _anonymous_replay(request)) is not None):
                return resp
        elif replay_host() and is_replay_host(request):
            return HttpResponseNotFound("Not found on the replay host.", content_type="text/plain")
        return self.get_response(request)


def _anonymous_replay(request) -> HttpResponse | None:
    from django.contrib.auth.models import AnonymousUser
    from django.urls import Resolver404, resolve
    from django.utils.cache import patch_vary_headers

    try:
        match = resolve(request.path_info, getattr(request, "urlconf", None))
    except Resolver404:
        return None
    if match.func not in _FAST_VIEWS:
        return None
    request.user = AnonymousUser()
    resp = match.func(request, *match.args, **match.kwargs)
    patch_vary_headers(resp, ("Cookie",))  # as the session middleware would: the answer depends on who asks
    if not resp.streaming and not resp.has_header("Content-Length"):
        resp.headers["Content-Length"] = str(len(resp.content))  # as CommonMiddleware would
    return resp


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


def _decoded_or_none(snap: Snapshot, stored: StreamedResponse) -> bytes | None:
    """The body with Content-Encoding undone, for rewriting; None when it cannot be (corrupt or
    unknown coding, or over the capture body limit: then it is served as archived, streamed)."""
    body = stored.read(settings.NAQL_CAPTURE_MAX_BODY)
    if body is None:
        log.info("replaying %s as archived: body over NAQL_CAPTURE_MAX_BODY", snap.guid)
        return None
    encodings = [v for k, v in stored.headers if k.lower() == "content-encoding"]
    try:
        return decode_content(body, encodings, max_size=settings.NAQL_CAPTURE_MAX_BODY)
    except CaptureError as exc:  # the server sent it corrupt: nothing to rewrite
        log.info("replaying %s as archived: %s", snap.guid, exc.message)
        return None


def _warc_name(snap: Snapshot) -> str:
    # memento look-ups select the file name with the row (no second query per request)
    return getattr(snap, "warc_name", None) or snap.warc_file.name


def open_stored(snap: Snapshot) -> StreamedResponse:
    """The stored response of ``snap``, verified, body streamed: for a revisit, the headers of
    the revisit record and the body of the original it refers to."""
    body_from = None
    if snap.record_type == Snapshot.RecordType.REVISIT and snap.payload_snapshot_id:
        src = snap.payload_snapshot
        body_from = (src.warc_file.name, src.offset, src.length, src.record_sha256, snap.status != 304)
    return open_response(_warc_name(snap), snap.offset, snap.length, expected_sha256=snap.record_sha256,
                         body_from=body_from)


def _archived_body(stored: StreamedResponse, status: int) -> HttpResponse:
    """The archived body as it is: a plain response up to one chunk, streamed beyond (memory
    flat in the body size)."""
    body = stored.small_or_stream()
    if isinstance(body, bytes):
        return HttpResponse(body, status=status)
    return StreamingHttpResponse(body, status=status)


def build_response(snap: Snapshot, mod: str, origin: str, user=None, accept_encoding: str | None = None
                   ) -> HttpResponse:
    """The replay response of ``snap`` in mode ``mod`` (``id_`` raw, else rewritten).
    ``accept_encoding``: the request's Accept-Encoding (None: header absent), see ``codings``."""
    stored = open_stored(snap)
    try:
        out = _build(snap, stored, mod, accept_encoding)
    except BaseException:
        stored.close()
        raise
    for k, v in memento.memento_headers(snap, origin, user).items():
        out[k] = v
    return _isolate(out)


def _build(snap: Snapshot, stored: StreamedResponse, mod: str, accept_encoding: str | None) -> HttpResponse:
    raw = mod == "id_"
    mime = snap.mime or (stored.header("Content-Type") or "").split(";")[0].strip().lower()
    location = stored.header("Location")
    if stored.status in _REDIRECTS and location:
        if raw:
            out = _archived_body(stored, stored.status)
        else:
            stored.close()
            out = HttpResponse(b"", status=stored.status)
        _archived_headers(stored, out, raw=raw)
        target = snap.redirect_to
        if target is not None and target.withdrawn_at is None:
            out["Location"] = archive_path(target.timestamp, mod, target.url)
        else:
            try:
                out["Location"] = archive_path(snap.timestamp, mod, iri_to_uri(urljoin(snap.url, location.strip())))
            except ValueError:
                out["Location"] = "/web/"
        return out
    if not raw and mime in (*HTML_TYPES, "text/css"):
        body = _decoded_or_none(snap, stored)
        if body is not None:
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
            return out
        stored = open_stored(snap)  # the first read consumed (part of) the body: start again
    archived_codings = codings.content_codings(stored.headers)
    if archived_codings and not codings.accepts(accept_encoding, archived_codings):
        # the client does not accept the archived coding: decode it for the client, or refuse (406)
        coding = ", ".join(archived_codings)
        body = _decoded_or_none(snap, stored)
        stored.close()
        if body is None:
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
        return out
    # id_, media, and pages whose Content-Encoding cannot be undone: the archived bytes as they are
    out = _archived_body(stored, stored.status)
    _archived_headers(stored, out, raw=True)
    if not stored.header("Content-Type"):
        del out["Content-Type"]
    if archived_codings:
        out["Vary"] = "Accept-Encoding"
    return out


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


_FAST_VIEWS = (memento_view, timegate_view, timemap_view)
