"""Who may see which snapshot: the one place every view, serializer, admin page and export asks.

The rule (one rule, everywhere: API, pages, replay, TimeMaps, admin, exports, citations):

* a snapshot with no ``private_to_group`` is public: everyone may see it;
* a snapshot private to a group is seen by that group's members and by superusers only;
  everybody else gets the same answer as for an ID that does not exist (404), and listings,
  counts and derived data (titles, claims, chains, PROV …) behave as if it were not there;
* a withdrawn snapshot is in no listing; whoever could see it gets 410 with the reason.

Staff status and model permissions do **not** widen this: "view snapshot" in the admin lets a
person use the admin's snapshot pages, for the snapshots they may see.

API (``user`` may be ``None`` or ``AnonymousUser``; everything below accepts either)::

    sees_everything(user) -> bool                      superuser: no filtering at all
    visible_snapshots(user, include_withdrawn=False)   QuerySet[Snapshot] the user may see
    restrict(qs, user, field="")                       filter any queryset by the snapshot at ``field``
    can_see_snapshot(user, snap_or_pk, include_withdrawn=False) -> bool
    visible_snapshot_ids(user, pks) -> set[int]        one query for many
    Viewer(user)                                       memoised ``sees(snap_or_pk)`` for one request
    privacy_sql(user) -> (sql, params)                 the rule for hand-written SQL (replay)

``Snapshot.objects.visible_to(user)`` is ``visible_snapshots(user)``. Provenance builds on this
module in :mod:`provenance.visibility` (documents, claims, relations, chains, history).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.apps import apps
from django.db.models import Q


def _snapshot_model():
    # looked up, not imported: archive.models asks this module (Snapshot.objects.visible_to), so
    # an import here would be an import cycle
    return apps.get_model("archive", "Snapshot")


def _authenticated(user) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False))


def sees_everything(user) -> bool:
    """True for superusers: no privacy filter applies to them."""
    return bool(_authenticated(user) and getattr(user, "is_superuser", False))


def privacy_q(user, field: str = "") -> Q | None:
    """The ``Q`` selecting snapshots (at ``field``, e.g. ``"snapshot__"``) whose group rule lets
    ``user`` see them, ignoring withdrawal; None when nothing is filtered (superusers)."""
    if sees_everything(user):
        return None
    public = Q(**{f"{field}private_to_group__isnull": True})
    if not _authenticated(user):
        return public
    return public | Q(**{f"{field}private_to_group__in": user.groups.all()})


def privacy_sql(user) -> tuple[str, list]:
    """The same rule as a SQL condition on the snapshot table, with its parameters, for the
    hand-written replay look-ups (:mod:`archive.replay.memento`); live snapshots only."""
    live = "withdrawn_at IS NULL"
    if sees_everything(user):
        return live, []
    ids = list(user.groups.values_list("id", flat=True)) if _authenticated(user) else []
    if not ids:
        return f"{live} AND private_to_group_id IS NULL", []
    marks = ", ".join(["%s"] * len(ids))
    return f"{live} AND (private_to_group_id IS NULL OR private_to_group_id IN ({marks}))", ids


def restrict(qs, user, field: str = "", *, include_withdrawn: bool = False):
    """``qs`` narrowed to rows whose snapshot (at ``field``: ``""`` for a Snapshot queryset,
    ``"snapshot__"`` for a relation) ``user`` may see."""
    if not include_withdrawn:
        qs = qs.filter(**{f"{field}withdrawn_at__isnull": True})
    q = privacy_q(user, field)
    return qs if q is None else qs.filter(q)


def visible_snapshots(user, *, include_withdrawn: bool = False):
    """Snapshots ``user`` may see (live ones unless ``include_withdrawn``)."""
    return restrict(_snapshot_model().objects.all(), user, include_withdrawn=include_withdrawn)


def can_see_snapshot(user, snap, *, include_withdrawn: bool = False) -> bool:
    """May ``user`` see ``snap`` (a Snapshot or its primary key)?"""
    if snap is None:
        return False
    if isinstance(snap, _snapshot_model()):
        if snap.withdrawn_at is not None and not include_withdrawn:
            return False
        if sees_everything(user) or snap.private_to_group_id is None:
            return True
        return _authenticated(user) and user.groups.filter(pk=snap.private_to_group_id).exists()
    return visible_snapshots(user, include_withdrawn=include_withdrawn).filter(pk=snap).exists()


def visible_snapshot_ids(user, pks: Iterable[int], *, include_withdrawn: bool = False) -> set[int]:
    pks = {p for p in pks if p is not None}
    if not pks:
        return set()
    return set(visible_snapshots(user, include_withdrawn=include_withdrawn).filter(pk__in=pks)
               .values_list("pk", flat=True))


class Viewer:
    """One person's view for the length of a request: ``sees(snap_or_pk)`` memoised, and
    ``prime(pks)`` to answer many with one query."""

    def __init__(self, user):
        self.user = user
        self.everything = sees_everything(user)
        self._snaps: dict[int, bool] = {}

    def prime(self, pks: Iterable[int]) -> None:
        todo = {p for p in pks if p is not None and p not in self._snaps}
        if todo and not self.everything:
            seen = visible_snapshot_ids(self.user, todo)
            self._snaps.update({p: p in seen for p in todo})

    def sees(self, snap) -> bool:
        """May this person see ``snap`` (a Snapshot, its pk, or None → False)?"""
        if snap is None:
            return False
        if self.everything:
            return not (isinstance(snap, _snapshot_model()) and snap.withdrawn_at is not None)
        pk = snap.pk if isinstance(snap, _snapshot_model()) else snap
        if pk not in self._snaps:
            self._snaps[pk] = can_see_snapshot(self.user, snap)
        return self._snaps[pk]
