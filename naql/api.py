"""The REST API under ``/api/``: router, OpenAPI schema and docs, and the one error format.

Every error, whatever raised it (DRF, Django, an ``ArchiveError`` from the archive modules, a
bug), leaves as ``{"error": {"code", "message", "details"}}`` with no traceback. The OpenAPI
description declares these error responses on every operation.
"""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from django.urls import path, re_path
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework import exceptions, routers
from rest_framework.response import Response
from rest_framework.views import set_rollback

from archive import api as archive_api
from archive.errors import ArchiveError, StorageError
from naql.api_base import ApiError
from provenance import api as provenance_api
from provenance import api_trace

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------
# errors


def error_body(code: str, message: str, details=None) -> dict:
    return {"error": {"code": code, "message": message, "details": details if isinstance(details, dict) else
                      ({} if details is None else {"errors": details})}}


def _message(detail) -> str:
    if isinstance(detail, list | tuple) and detail:
        return _message(detail[0])
    if isinstance(detail, dict) and detail:
        return _message(next(iter(detail.values())))
    return str(detail)


def exception_handler(exc, context):
    """DRF exception handler: map every exception to the error body (registered in settings)."""
    headers = {}
    if isinstance(exc, ArchiveError):
        code = 503 if isinstance(exc, StorageError) and not exc.permanent else 400
        return Response(error_body(exc.code, exc.message, exc.details), status=code)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, ApiError):
        set_rollback()
        return Response(error_body(exc.error_code, str(exc.detail), exc.error_details), status=exc.status_code)
    if isinstance(exc, exceptions.APIException):
        set_rollback()
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if isinstance(exc, exceptions.ValidationError):
            detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
            first = _message(detail)
            return Response(error_body("invalid", f"Invalid input: {first}", detail), status=exc.status_code)
        details = {}
        if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
            headers["Retry-After"] = str(int(exc.wait) + (0 if float(exc.wait).is_integer() else 1))
            details = {"retry_after_seconds": int(headers["Retry-After"])}
        code = exc.default_code if isinstance(exc.default_code, str) else "error"
        return Response(error_body(code, _message(exc.detail), details), status=exc.status_code, headers=headers)
    set_rollback()
    view = context.get("view")
    log.exception("API error in %s", type(view).__name__ if view else "?")
    return Response(error_body("internal_error", "Internal error; it has been logged."), status=500)


@csrf_exempt
def not_found(request, *args, **kwargs):
    return JsonResponse(error_body("not_found", "No such API endpoint."), status=404)


# --------------------------------------------------------------------------------------------
# OpenAPI


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "apitokens.authentication.ApiTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "Authorization",
                "description": "`Token <key>` or `Bearer <key>`; keys are created (and revoked) in the admin. "
                               "Keys in query strings are ignored."}


ERROR_RESPONSES = {
    "400": "Invalid input: wrong types, unknown fields, oversized batch, refused URL.",
    "401": "Not authenticated, or an invalid/revoked token.",
    "403": "Authenticated but not allowed.",
    "404": "Not found (or not visible to you).",
    "429": "Too many requests; see the Retry-After header.",
}


def postprocess_schema(result, generator, request, public):
    """Declare the error body on every operation and forbid unknown request fields in the schema."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = {
        "type": "object", "required": ["error"], "description": "Every error response has this body.",
        "properties": {"error": {"type": "object", "description": "What went wrong.",
                                 "required": ["code", "message", "details"], "properties": {
            "code": {"type": "string", "description": "Stable machine-readable code, e.g. `forbidden_address`."},
            "message": {"type": "string", "description": "Human-readable explanation."},
            "details": {"type": "object", "additionalProperties": True,
                        "description": "Structured details: field errors, offending values, limits."},
        }}},
    }
    ref = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for item in result.get("paths", {}).values():
        for method, op in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            responses = op.setdefault("responses", {})
            for code, text in ERROR_RESPONSES.items():
                responses.setdefault(code, {"description": text, "content": ref})
            responses.setdefault("default", {"description": "Any other error (same body).", "content": ref})
    for name, schema in schemas.items():
        if name.endswith("Request") and schema.get("type") == "object":
            schema["additionalProperties"] = False
    return result


# --------------------------------------------------------------------------------------------
# routes

class ApiRoot(routers.APIRootView):
    """Naql's REST API: a web archive (capture jobs, snapshots with their WARC records and citations,
    TimeMaps) and the provenance of news across languages (publishers, documents, relations between
    documents, claims with W3C selectors, claim links to the upstream passage and the origin, chains
    as JSON and as W3C PROV-JSON, and the history of every change).

    Reading public data needs no login; capturing and reviewing need a token
    (`Authorization: Token <key>`) or the browser session. The OpenAPI description is at `schema/`,
    interactive documentation at `docs/`."""

    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        base = request.build_absolute_uri("/api/")
        response.data = {
            "description": " ".join(self.__doc__.split("\n\n")[0].split()),
            "documentation": base + "docs/", "schema": base + "schema/", "timemap": base + "timemap/",
            "endpoints": response.data,
        }
        return response


class Router(routers.DefaultRouter):
    APIRootView = ApiRoot


router = Router(trailing_slash=True)
router.include_root_view = True
router.register("capture-jobs", archive_api.CaptureJobViewSet, basename="capture-job")
router.register("snapshots", provenance_api.SnapshotViewSet, basename="snapshot")
router.register("warc-files", archive_api.WarcFileViewSet, basename="warc-file")
router.register("publishers", provenance_api.PublisherViewSet, basename="publisher")
router.register("documents", provenance_api.DocumentViewSet, basename="document")
router.register("relations", provenance_api.RelationViewSet, basename="relation")
router.register("claims", provenance_api.ClaimViewSet, basename="claim")
router.register("claim-links", provenance_api.ClaimLinkViewSet, basename="claim-link")
router.register("traces", api_trace.TraceViewSet, basename="trace")

urlpatterns = [
    path("timemap/", archive_api.TimeMapView.as_view(), name="api-timemap"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    *router.urls,
    re_path(r"^.*$", not_found),
]

