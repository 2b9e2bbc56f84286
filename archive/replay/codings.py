"""Content-coding negotiation for replay (RFC 9110 §8.4, §12.5.3).

Archived bodies keep the Content-Encoding the server sent (``id_`` is byte-exact). A client that
does not accept that coding must not receive it as if it did: the body is decoded for it when
Naql can (gzip, deflate, br), and refused with 406 when it cannot (an unknown or corrupt coding).
"""

from __future__ import annotations


def content_codings(headers: list[tuple[str, str]]) -> list[str]:
    """Codings applied to a body, in order, from its Content-Encoding header lines (identity dropped)."""
    return [c.strip().lower() for k, v in headers if k.lower() == "content-encoding"
            for c in v.split(",") if c.strip() and c.strip().lower() != "identity"]


def accepts(accept_encoding: str | None, codings: list[str]) -> bool:
    """Whether a request's ``Accept-Encoding`` admits every coding in ``codings``. No header means
    any coding is acceptable (RFC 9110 §12.5.3); ``q=0`` refuses; ``*`` covers codings not named;
    ``x-gzip`` is ``gzip``."""
    if accept_encoding is None or not codings:
        return True
    prefs: dict[str, float] = {}
    for part in accept_encoding.split(","):
        token, *params = [p.strip() for p in part.split(";")]
        if not token:
            continue
        q = 1.0
        for p in params:
            if p.lower().startswith("q="):
                try:
                    q = float(p[2:])
                except ValueError:
                    q = 0.0
        prefs[_canon(token.lower())] = q
    for c in codings:
        q = prefs.get(_canon(c), prefs.get("*", 0.0))
        if q <= 0:
            return False
    return True


def _canon(coding: str) -> str:
    return {"x-gzip": "gzip", "x-compress": "compress"}.get(coding, coding)
