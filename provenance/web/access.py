"""Who may see what on the provenance pages: exactly what the REST API lets them see.

One adapter so the pages never decide visibility themselves; it delegates to the visibility layer
(``provenance.visibility`` over ``archive.visibility``), the one the API, admin and exports ask.
"""

from __future__ import annotations

from archive.visibility import visible_snapshots
from provenance.visibility import visible_claims, visible_documents, visible_links, visible_relations

__all__ = ["documents", "claims", "links", "relations", "snapshots", "can_review"]


def documents(user):
    return visible_documents(user)


def claims(user):
    return visible_claims(user)


def links(user):
    return visible_links(user)


def relations(user):
    return visible_relations(user)


def snapshots(user):
    return visible_snapshots(user)


def can_review(user, model: str) -> bool:
    """Accepting or rejecting needs the change permission the admin asks for (``claimlink``, ``relation``)."""
    return bool(user is not None and user.is_authenticated and user.has_perm(f"provenance.change_{model}"))
