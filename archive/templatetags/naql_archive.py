"""Template filters of the archive pages."""

from __future__ import annotations

from django import template

from archive.uri import uri_to_iri

register = template.Library()


@register.filter
def iri(url: str) -> str:
    """The URL as people read it (:func:`archive.uri.uri_to_iri`): ``%D8%A7`` → ``ا``, ``xn--``
    hosts in Unicode. For display only, next to (or linking to) the exact ASCII form."""
    return uri_to_iri(url or "")
