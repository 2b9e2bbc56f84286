"""Template filters of the archive pages."""

from __future__ import annotations

from urllib.parse import unquote

from django import template

register = template.Library()


@register.filter
def iri(url: str) -> str:
    """The URL as people read it: percent-escapes of UTF-8 text decoded (``%D8%A7`` → ``ا``).

    For display only, next to the exact ASCII form; escapes that are not valid UTF-8, and those
    of characters that would change the URL's structure or are invisible, stay as written."""
    if not url or "%" not in url:
        return url or ""
    try:
        decoded = unquote(url, errors="strict")
    except UnicodeDecodeError:
        return url
    if any(c in decoded for c in "\x00\r\n\t \u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"):
        return url
    # keep reserved characters that were escaped on purpose
    if any(unquote(esc) in decoded for esc in ("%2F", "%3F", "%23", "%26", "%3D", "%25")
           if esc.lower() in url.lower()):
        return url
    return decoded
