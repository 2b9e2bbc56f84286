"""API tokens: a random key shown once at creation; only its SHA-256 is stored.

A key looks like ``naql_<prefix>_<secret>``: the 8-character prefix is stored in clear so a
person can tell tokens apart in the admin; the whole key is looked up by its SHA-256 (the key
has 256 bits of entropy, so a fast hash is enough). Revoking sets ``revoked_at``; a revoked or
expired token authenticates nobody.
"""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import models
from django.utils import timezone

KEY_PREFIX = "naql_"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def generate_key() -> tuple[str, str]:
    """(full key, public prefix)."""
    prefix = secrets.token_hex(4)
    return f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}", prefix


class ApiTokenQuerySet(models.QuerySet):
    def active(self, now=None):
        now = now or timezone.now()
        return self.filter(revoked_at__isnull=True, user__is_active=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now))


class ApiToken(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens",
                             help_text="The user this token acts as.")
    name = models.CharField(max_length=100, help_text="What the token is for (a notebook, a script).")
    prefix = models.CharField(max_length=8, editable=False, db_index=True,
                              help_text="First characters of the key, to recognise it.")
    key_hash = models.CharField(max_length=64, unique=True, editable=False, help_text="SHA-256 of the key.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Optional expiry.")
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", editable=False, help_text="Who issued the token.")
    created_by_username = models.CharField(max_length=150, blank=True, editable=False,
                                           help_text="Username of who issued it (kept if the account goes).")

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} (naql_{self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > timezone.now())

    @classmethod
    def create_for(cls, user, name: str, **extra) -> tuple[ApiToken, str]:
        """A new token for ``user`` and its key (the only time the key exists in clear)."""
        key, prefix = generate_key()
        token = cls.objects.create(user=user, name=name, prefix=prefix, key_hash=hash_key(key), **extra)
        return token, key

    @property
    def issued_for_another(self) -> bool:
        return self.created_by_id is not None and self.created_by_id != self.user_id

    @classmethod
    def issue(cls, *, user, by, name: str, on_behalf: bool = False, **extra) -> tuple[ApiToken, str]:
        """A new token acting as ``user``, issued by ``by`` (a person, never None).

        ``user`` must be ``by`` itself, unless ``by`` is a superuser and ``on_behalf`` is True
        (a deliberate act: the caller logs it). Raises ``PermissionDenied`` otherwise.
        """
        cls.check_issue(user=user, by=by, on_behalf=on_behalf)
        return cls.create_for(user, name, created_by=by, created_by_username=by.get_username(), **extra)

    @staticmethod
    def check_issue(*, user, by, on_behalf: bool = False) -> None:
        """Raise ``PermissionDenied`` unless ``by`` may issue a token acting as ``user`` (see :meth:`issue`)."""
        if by is None or not getattr(by, "is_authenticated", False):
            raise PermissionDenied("a token is issued by a signed-in person")
        if user.pk != by.pk:
            if not by.is_superuser:
                raise PermissionDenied("only a superuser may create a token for another user")
            if not on_behalf:
                raise PermissionDenied("creating a token for another user must be confirmed explicitly")

    @classmethod
    def authenticate(cls, key: str) -> ApiToken | None:
        if not key.startswith(KEY_PREFIX) or len(key) > 200:
            return None
        token = cls.objects.active().select_related("user").filter(key_hash=hash_key(key)).first()
        if token is not None:
            now = timezone.now()
            if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
                cls.objects.filter(pk=token.pk).update(last_used_at=now)
                token.last_used_at = now
        return token

    def revoke(self) -> None:
        if self.revoked_at is None:
            self.revoked_at = timezone.now()
            ApiToken.objects.filter(pk=self.pk).update(revoked_at=self.revoked_at)
