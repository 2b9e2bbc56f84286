"""Accounts with recorded acts are deactivated, never deleted (issue 17, kind 8).

Who withdrew a snapshot, who recorded a relation, who accepted a link, who changed what in any
object's history (django-simple-history), who queued a capture, who issued a token: these are
evidence, kept as foreign keys to the user. Deleting the user would set them to NULL (or, for
the admin log, delete them), erasing the author. So a user referenced by any such row cannot be
deleted: :func:`recorded_acts` finds those rows through every foreign key to the user model
(a new model with a user field is covered without being listed here), the ``pre_delete`` guard
refuses the deletion everywhere (shell, commands, admin), and the admin lists the acts on its
deletion page as what blocks it. Deactivate the account instead (``is_active = False``): a
deactivated user cannot log in and their tokens stop working.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import ProtectedError

#: (app_label, model_name, field) pointing at a user that are not acts: they go with the account
NOT_ACTS = {
    ("apitokens", "apitoken", "user"),  # the user's own tokens
    ("apitokens", "apitoken", "created_by"),  # issuing is in the admin log (and created_by_username)
}


def _user_fields():
    user_model = get_user_model()
    # include_hidden: most of these keys have related_name="+" (no reverse accessor)
    for rel in user_model._meta.get_fields(include_hidden=True):
        if not rel.is_relation or not rel.auto_created or rel.concrete:
            continue
        if not (rel.one_to_many or rel.one_to_one) or rel.field.model._meta.auto_created:
            continue
        model = rel.related_model
        if (model._meta.app_label, model._meta.model_name, rel.field.name) in NOT_ACTS:
            continue
        yield model, rel.field.name


def recorded_acts(user) -> list[tuple[str, int]]:
    """``[(label, count)]`` of rows that record something ``user`` did (empty: safe to delete)."""
    out = []
    for model, field in _user_fields():
        n = model._default_manager.filter(**{field: user}).count()
        if n:
            out.append((f"{model._meta.verbose_name_plural} ({field.replace('_', ' ')})", n))
    return out


def refuse_deleting_users_with_acts(sender, instance, **kwargs):
    """``pre_delete`` receiver for the user model."""
    acts = recorded_acts(instance)
    if acts:
        summary = ", ".join(f"{n} {label}" for label, n in acts)
        raise ProtectedError(
            f"User {instance.get_username()!r} has recorded acts ({summary}); deactivate the account instead "
            f"of deleting it, so that who did what stays on record.", set())
