"""``/api/traces/``: start a trace (one URL in, its chain captured, aligned and shown) and follow
its progress. Thin: the work is :mod:`provenance.trace`; the body is :func:`trace.trace_dict`.

* ``POST /api/traces/`` ``{"url": …, "depth"?, "max_documents"?, "time_budget"?, "reuse_age"?,
  "requisites"?}`` → 202 with the pending trace and ``Location``; the URL is guarded first (a
  refused URL is a 400 and no trace is made). The trace runs in the background (the ``run_trace``
  task); poll ``GET /api/traces/{id}/`` until ``done``.
* ``GET /api/traces/`` (yours; all for staff), ``GET /api/traces/{id}/`` (state, live progress:
  phase, hop, URL, steps; then documents, relations, failures, unresolved names, timings).
* ``POST /api/traces/{id}/rerun/`` → 202: run a finished trace again (upstream captures older than
  its reuse age are taken again, so new versions are picked up); 409 while it runs.
"""

from __future__ import annotations

from django.db import transaction
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from archive.errors import ArchiveError
from archive.ids import canonical_guid
from naql.api_base import ApiError, CaptureThrottle, StrictCharField, StrictSerializer
from provenance import trace as tracing
from provenance.models import Trace

ID_PARAM = OpenApiParameter("id", str, OpenApiParameter.PATH,
                            description="Short trace ID like K7QM-4XR2 (case, hyphen and spaces are canonicalised).")


class TraceRequestSerializer(StrictSerializer):
    url = StrictCharField(max_length=4000, trim_whitespace=True, help_text="The article to trace (http or https).")
    depth = serializers.IntegerField(required=False, min_value=0, max_value=10,
                                     help_text="Hops upstream (default NAQL_TRACE_DEPTH, 4).")
    max_documents = serializers.IntegerField(required=False, min_value=1, max_value=200,
                                             help_text="URLs captured or reused at most, the start included "
                                                       "(default NAQL_TRACE_MAX_DOCUMENTS, 25).")
    time_budget = serializers.FloatField(required=False, min_value=1, max_value=3600,
                                         help_text="Seconds (default NAQL_TRACE_TIME_BUDGET, 300).")
    reuse_age = serializers.IntegerField(required=False, min_value=0,
                                         help_text="Reuse captures younger than this many seconds "
                                                   "(default NAQL_TRACE_REUSE_AGE, a day).")
    requisites = serializers.BooleanField(required=False, help_text="Also capture page requisites (default true).")


class RerunRequestSerializer(StrictSerializer):
    """A re-run takes no fields: an empty body (or none)."""


class TraceSerializer(serializers.Serializer):
    """The trace as :func:`provenance.trace.trace_dict` gives it."""

    id = serializers.CharField(help_text="Trace ID.")
    url = serializers.CharField(help_text="Starting URL (ASCII form).")
    state = serializers.ChoiceField(choices=Trace.State.choices, help_text="pending → running → succeeded/failed.")
    done = serializers.BooleanField(help_text="True once succeeded or failed.")
    progress = serializers.DictField(help_text="Live: phase, hop, url, documents, attempts, failures.")
    steps = serializers.ListField(child=serializers.DictField(), help_text="Steps so far: at (s), phase, message.")
    documents = serializers.ListField(child=serializers.DictField(),
                                      help_text="Documents reached, each with `origin` (nothing further upstream).")
    relations = serializers.ListField(child=serializers.DictField(), help_text="Relations between them.")
    failures = serializers.ListField(child=serializers.DictField(),
                                     help_text="Candidates not captured or not followed: url, code, message.")
    unresolved = serializers.ListField(child=serializers.DictField(),
                                       help_text="Sources named but neither linked nor archived.")
    stopped_by = serializers.CharField(help_text="Bound that stopped the walk, if any.")
    timings = serializers.DictField(help_text="Seconds per phase.")
    alignment = serializers.DictField(help_text="Claim alignment summary.")
    error = serializers.DictField(allow_null=True, help_text="Structured error when the trace failed.")

    def to_representation(self, instance):
        body = tracing.trace_dict(instance)
        body["links"] = {"self": f"/api/traces/{instance.guid}/", "page": f"/traces/{instance.guid}"}
        return body


@extend_schema_view(
    list=extend_schema(summary="Your traces", description="Traces you started (all traces for staff)."),
    retrieve=extend_schema(summary="A trace: state, live progress, what it reached", parameters=[ID_PARAM]),
)
class TraceViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = TraceSerializer
    permission_classes = [permissions.IsAuthenticated]
    lookup_value_regex = "[^/]+"

    def get_throttles(self):
        extra = [CaptureThrottle()] if self.action in ("create", "rerun") else []
        return [*super().get_throttles(), *extra]

    def get_queryset(self):
        user = self.request.user
        if getattr(self, "swagger_fake_view", False) or not user.is_authenticated:
            return Trace.objects.none()
        return (Trace.objects.visible_to(user).select_related("document", "created_by")
                .order_by("-created_at", "-pk"))

    def get_object(self):
        guid = canonical_guid(self.kwargs["pk"])
        obj = self.get_queryset().filter(guid=guid).first() if guid else None
        if obj is None:
            raise exceptions.NotFound("No trace with this ID.")
        return obj

    @extend_schema(summary="Trace one URL", request=TraceRequestSerializer, responses={202: TraceSerializer},
                   description="The URL is checked by the SSRF guard first (400 and nothing made when refused). "
                               "The trace runs in the background: poll `GET /api/traces/{id}/`.")
    def create(self, request, *args, **kwargs):
        req = TraceRequestSerializer(data=request.data)
        req.is_valid(raise_exception=True)
        data = dict(req.validated_data)
        url = data.pop("url")
        try:
            with transaction.atomic():
                t = tracing.start_trace(url, user=request.user, **data)
        except ArchiveError:
            raise  # the one error format (400 with the guard's code), by the API's exception handler
        except ValueError as exc:
            raise ApiError(str(exc), code="invalid", details={"url": url}) from exc
        t.refresh_from_db()  # an eager queue may have run it already
        return Response(TraceSerializer(t).data, status=status.HTTP_202_ACCEPTED,
                        headers={"Location": f"/api/traces/{t.guid}/"})

    @extend_schema(summary="Run a finished trace again", request=RerunRequestSerializer,
                   responses={202: TraceSerializer},
                   parameters=[ID_PARAM])
    @action(detail=True, methods=["post"])
    def rerun(self, request, pk=None):
        RerunRequestSerializer(data=request.data).is_valid(raise_exception=True)
        t = self.get_object()
        if not t.done:
            raise ApiError("The trace is still running.", code="trace_running", status_code=409)
        t.reset()
        transaction.on_commit(lambda: tracing.enqueue_trace(t))
        return Response(TraceSerializer(t).data, status=status.HTTP_202_ACCEPTED)
