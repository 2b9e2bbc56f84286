"""Short, typable, unambiguous IDs shown to people (``K7QM-4XR2``).

The alphabet is Crockford-like without 0/O/1/I/L/U, so an ID read aloud or copied from
print survives. Lookups canonicalise: case, missing hyphen, and look-alike characters.
"""

from __future__ import annotations

import secrets

ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH = 8


def new_guid() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    return f"{raw[:4]}-{raw[4:]}"


def canonical_guid(value: str) -> str | None:
    """Return the canonical form of a typed ID, or None when it cannot be one.

    ``k7qm4xr2``, ``K7QM 4XR2`` and ``k7qm-4xr2`` all give ``K7QM-4XR2``. Characters that are
    never issued (0, 1, I, L, O, U) are not silently remapped to issued ones: such an ID is
    simply not valid.
    """
    if not value:
        return None
    compact = "".join(ch for ch in value.upper() if ch.isalnum())
    if len(compact) != LENGTH or any(ch not in ALPHABET for ch in compact):
        return None
    return f"{compact[:4]}-{compact[4:]}"
