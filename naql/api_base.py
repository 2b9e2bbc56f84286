"""Building blocks shared by the REST API of every app: pagination, throttles, strict serializers.

Kept apart from ``naql.api`` (the router, which imports every app's API module) so that the
apps' API modules can import these without an import cycle.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping

import django_filters
import django_filters.fields
import django_filters.rest_framework
from django import forms
from django.conf import settings
from django.db import models
from rest_framework import exceptions, pagination, parsers, serializers, throttling
from rest_framework.settings import api_settings

MAX_PAGE_SIZE = 200


def max_batch() -> int:
    """Largest number of items one write request may carry (URLs to capture, links to review)."""
    return settings.NAQL_API_MAX_BATCH


# --------------------------------------------------------------------------------------------
# filters


class _StrictBooleanField(forms.NullBooleanField):
    widget = forms.TextInput

    def to_python(self, value):
        if value in (None, ""):
            return None
        if value in (True, "true", "True", "1"):
            return True
        if value in (False, "false", "False", "0"):
            return False
        raise forms.ValidationError("Expected true or false.")

    def validate(self, value):
        pass


class BooleanFilter(django_filters.BooleanFilter):
    """``true``/``false`` (or 1/0); anything else is a 400, not silently ignored."""

    field_class = _StrictBooleanField


class FilterBackend(django_filters.rest_framework.DjangoFilterBackend):
    """django-filter, but a filter given with an empty value is a 400 (leave it out instead): an
    empty ``captured_before=`` silently meaning "no limit" hides mistakes in scripts."""

    def get_filterset_kwargs(self, request, queryset, view):
        kwargs = super().get_filterset_kwargs(request, queryset, view)
        filterset_class = self.get_filterset_class(view, queryset)
        names = set(filterset_class.base_filters) if filterset_class else set()
        empty = sorted(k for k, v in request.query_params.lists() if k in names and any(x == "" for x in v))
        if empty:
            raise exceptions.ValidationError({k: ["Empty value: give a value or leave the parameter out."]
                                              for k in empty})
        return kwargs


class IntegerFilter(django_filters.NumberFilter):
    """An integer (``status=404``, ``publisher=3``); ``0.5`` is a 400, not a decimal."""

    field_class = forms.IntegerField


class _UTCDateTimeField(django_filters.fields.IsoDateTimeField):
    """ISO 8601 date-time, turned into UTC before it reaches the database.

    Python accepts any UTC offset under 24 h (``-16:44``); PostgreSQL refuses offsets past
    ±15:59 with a DataError, so an unconverted value was a 500 on PostgreSQL and fine on SQLite.
    Real zones span -12:00..+14:00; a value whose UTC form leaves the representable range is a 400.
    """

    def to_python(self, value):
        parsed = super().to_python(value)  # Django's own ISO 8601 parse comes first, then strptime
        if parsed is None or parsed.tzinfo is None:
            return parsed
        try:
            return parsed.astimezone(datetime.UTC)
        except OverflowError as exc:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from exc


class IsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 date-time (``2021-11-27T10:00:00+01:00``), compared in UTC on every database."""

    field_class = _UTCDateTimeField


# --------------------------------------------------------------------------------------------
# parsing


def _has_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing a body with a NUL character (U+0000) in any key or string (400).

    DRF's CharField refuses NUL, but not every field is one: a slug lookup (``"snapshot":
    "\u0000…"``) went to the database, where PostgreSQL raises a DataError (a 500). No Naql field
    can hold a NUL; query parameters get the same rule from ``naql.middleware.RefuseNulMiddleware``.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        if _has_nul(data):
            raise exceptions.ParseError("JSON parse error - NUL characters (\\u0000) are not allowed.")
        return data


# --------------------------------------------------------------------------------------------
# pagination


def _page_size(paginator, request) -> int:
    raw = request.query_params.get(paginator.page_size_query_param)
    if raw is None:
        return paginator.page_size
    try:
        size = int(raw)
    except ValueError:
        size = 0
    if size < 1:
        raise exceptions.ValidationError({paginator.page_size_query_param: ["Expected a positive integer."]})
    return min(size, paginator.max_page_size)


def _with_page_size_schema(paginator, params: list[dict]) -> list[dict]:
    for p in params:
        if p["name"] == paginator.page_size_query_param:
            p["schema"] = {"type": "integer", "minimum": 1}
            p["description"] = (f"Results per page (default {paginator.page_size}, "
                                f"at most {paginator.max_page_size}).")
    return params


class PageNumberPagination(pagination.PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE

    def get_page_size(self, request):
        return _page_size(self, request)

    def paginate_queryset(self, queryset, request, view=None):
        # An empty or non-numeric ``page=`` is a client error (400), as every other empty filter
        # value is; DRF would silently serve page 1 for an empty one.
        raw = request.query_params.get(self.page_query_param)
        if raw is not None and raw != "last" and not raw.strip().isdigit():
            raise exceptions.ValidationError({self.page_query_param: ["Expected a positive integer or 'last'."]})
        return super().paginate_queryset(queryset, request, view)

    def get_schema_operation_parameters(self, view):
        return _with_page_size_schema(self, super().get_schema_operation_parameters(view))


class CursorPagination(pagination.CursorPagination):
    """Stable paging over a large, growing table: new rows never shift later pages."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE

    def get_page_size(self, request):
        return _page_size(self, request)

    def get_schema_operation_parameters(self, view):
        return _with_page_size_schema(self, super().get_schema_operation_parameters(view))

    def decode_cursor(self, request):
        try:
            return super().decode_cursor(request)
        except exceptions.NotFound as exc:
            raise exceptions.ValidationError({self.cursor_query_param: ["Invalid cursor."]}) from exc


# --------------------------------------------------------------------------------------------
# throttles (rates read per request, so settings overrides apply at once)


def client_ip(request) -> str:
    """The address of the client, for rate limits; ``X-Forwarded-For`` only as far as it was
    written by proxies we trust.

    ``REMOTE_ADDR`` is the peer of the connection. When it is one of ``NAQL_TRUSTED_PROXIES``
    (addresses or CIDR networks), the ``X-Forwarded-For`` list is read from the right, skipping
    further trusted proxies, and the first other address is the client. Otherwise, or with
    ``NAQL_NUM_PROXIES`` unset and no trusted list, the header is ignored: anyone can write it,
    so trusting it lets a client pick a fresh identity per request (issue 17, kind 7).
    ``NAQL_NUM_PROXIES=N`` (DRF's ``NUM_PROXIES``) instead takes the N-th address from the right.
    """
    meta = getattr(request, "META", {})
    remote = (meta.get("REMOTE_ADDR") or "").strip()
    xff = [a.strip() for a in (meta.get("HTTP_X_FORWARDED_FOR") or "").split(",") if a.strip()]
    trusted = _trusted_networks()
    if trusted:
        if not xff or not _in(remote, trusted):
            return remote
        for addr in reversed(xff):
            if not _in(addr, trusted):
                return addr
        return xff[0]
    num = settings.NAQL_NUM_PROXIES
    if not num or not xff:
        return remote
    return xff[-min(num, len(xff))]


def _trusted_networks():
    import ipaddress

    return [ipaddress.ip_network(n.strip(), strict=False) for n in settings.NAQL_TRUSTED_PROXIES if n.strip()]


def _in(addr: str, networks) -> bool:
    import ipaddress

    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False
    return any(ip in n for n in networks)


class _RateFromSettings:
    def get_ident(self, request):
        return client_ip(request)

    def get_rate(self):
        rates = api_settings.DEFAULT_THROTTLE_RATES or {}
        if self.scope not in rates:
            from django.core.exceptions import ImproperlyConfigured

            raise ImproperlyConfigured(f"No throttle rate set for scope {self.scope!r}")
        return rates[self.scope]


class AnonThrottle(_RateFromSettings, throttling.AnonRateThrottle):
    """Requests per anonymous client (by address)."""


class UserThrottle(_RateFromSettings, throttling.UserRateThrottle):
    """Requests per authenticated user."""


class CaptureThrottle(_RateFromSettings, throttling.UserRateThrottle):
    """URLs submitted for capture per user: a batch of 40 URLs counts 40."""

    scope = "capture"

    def allow_request(self, request, view):
        if request.method != "POST" or self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        data = request.data if isinstance(request.data, Mapping) else {}
        urls = data.get("urls")
        n = len(urls) if isinstance(urls, list) else 1
        n = max(1, min(n, max_batch()))
        self.history = self.cache.get(self.key, [])
        self.now = self.timer()
        while self.history and self.history[-1] <= self.now - self.duration:
            self.history.pop()
        if len(self.history) + n > self.num_requests:
            return self.throttle_failure()
        self.history[:0] = [self.now] * n
        self.cache.set(self.key, self.history, self.duration)
        return True


# --------------------------------------------------------------------------------------------
# serializers


class StrictCharField(serializers.CharField):
    """A string, and only a string: ``0`` or ``true`` are type errors, not coerced."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictMixin:
    # Reject keys the serializer does not accept (unknown or read-only) instead of ignoring them:
    # a misspelt field must not silently do nothing.

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            writable = {name for name, f in self.fields.items() if not f.read_only}
            extra = sorted(str(k) for k in data if k not in writable)
            if extra:
                raise serializers.ValidationError(
                    {k: ["Read-only field." if k in self.fields else "Unknown field."] for k in extra})
        return super().to_internal_value(data)


class StrictSerializer(StrictMixin, serializers.Serializer):
    pass


class StrictModelSerializer(StrictMixin, serializers.ModelSerializer):
    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.CharField: StrictCharField,
        models.TextField: StrictCharField,
    }


class IdListSerializer(StrictSerializer):
    ids = serializers.ListField(child=serializers.IntegerField(min_value=1), allow_empty=False,
                                help_text="IDs of the objects to act on (at most the batch limit, 100 by default).")
    note = StrictCharField(required=False, allow_blank=True, max_length=5000,
                           help_text="Optional note recorded with the change.")

    def validate_ids(self, value):
        if len(value) > max_batch():
            raise serializers.ValidationError(f"At most {max_batch()} IDs per request (got {len(value)}).")
        return list(dict.fromkeys(value))


class NoteSerializer(StrictSerializer):
    note = StrictCharField(required=False, allow_blank=True, max_length=5000,
                           help_text="Optional note recorded with the review.")


class ApiError(exceptions.APIException):
    """An API error with its own code and structured details (rendered by ``naql.api.exception_handler``)."""

    def __init__(self, message: str, *, code: str, details: dict | None = None, status_code: int = 400):
        super().__init__(message, code)
        self.status_code = status_code
        self.error_code, self.error_details = code, details or {}
