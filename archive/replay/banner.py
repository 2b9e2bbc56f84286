"""The "archived copy" banner of a replay opened on its own (Wayback/pywb "framed replay").

When a browser navigates its top window to ``/web/<ts>/<url>`` (``Sec-Fetch-Dest: document``),
an archived HTML page is answered with a small page of Naql's own: a banner (archived copy, the
original URL, capture time in UTC, a link to the citable page ``/s/<ID>``) above a sandboxed
iframe that loads ``/web/<ts>mp_/<url>``: the archived page exactly as replay serves it anywhere
else. The banner is never injected into the archived document, so the archived DOM, scripts and
bytes are untouched. Frames (``Sec-Fetch-Dest: iframe``), scripts, ``id_``/``mp_`` requests and
clients that send no Fetch Metadata (curl, Memento clients, tests) get the memento itself.

The banner page has no script; its CSP allows only its own inline style and frames of the replay
origin, and it carries the memento's ``Memento-Datetime`` and ``Link`` headers.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import render

from archive.models import Snapshot
from archive.replay import memento
from archive.replay.rewrite import archive_path
from archive.uri import public_origin

HTML_TYPES = ("text/html", "application/xhtml+xml")


def wants_banner(request, snap: Snapshot, mod: str) -> bool:
    """A top-level navigation to an archived HTML page (not a frame, not a raw or frame mode)."""
    return (mod == "" and request.headers.get("Sec-Fetch-Dest", "") == "document"
            and 200 <= snap.status < 300 and snap.redirect_to_id is None
            and (snap.mime or "").lower() in HTML_TYPES)


def _citable_origin(request, on_replay_host: bool) -> str:
    """Where /s/<ID> lives: the app, which is not the replay host when one is configured."""
    if on_replay_host:
        return (settings.NAQL_PUBLIC_URL or "").rstrip("/")  # empty: a relative link (set NAQL_PUBLIC_URL)
    return public_origin(request)


def banner_response(request, snap: Snapshot, origin: str, user=None, *, sandbox: str,
                    on_replay_host: bool = False) -> HttpResponse:
    """The banner page; ``sandbox`` is the iframe's sandbox attribute (replay's IFRAME_SANDBOX)."""
    frame_src = archive_path(snap.timestamp, "mp_", snap.url)
    resp = render(request, "archive/replay_banner.html", {
        "snapshot": snap, "frame_src": frame_src, "sandbox": sandbox,
        "citable": f"{_citable_origin(request, on_replay_host)}/s/{snap.guid}",
    })
    resp["Content-Security-Policy"] = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
                                       f"frame-src 'self' {origin}; frame-ancestors 'self'; base-uri 'none'; "
                                       "form-action 'none'")
    resp["Referrer-Policy"] = "no-referrer"
    resp["Vary"] = "Sec-Fetch-Dest"
    for k, v in memento.memento_headers(snap, origin, user).items():
        resp[k] = v
    resp.cookies.clear()
    return resp
