"""REST API of the archive: capture jobs, snapshots, TimeMaps, WARC files.

Views are thin: capture requests go through :func:`archive.jobs.submit` (which guards every
URL), look-ups through the named querysets (``visible_to``), TimeMaps through
:mod:`archive.replay.memento`, citations through :mod:`archive.web.citations`. Nothing here imports
``provenance``.
"""

from __future__ import annotations

from urllib.parse import urlencode

import django_filters
from django.db import transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, extend_schema_view
from rest_framework import exceptions, mixins, permissions, serializers, status, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from archive import jobs
from archive.errors import ArchiveError, InvalidURL
from archive.ids import canonical_guid
from archive.models import CaptureJob, Snapshot, WarcFile
from archive.replay import memento
from archive.uri import surt_key, timestamp14
from archive.visibility import can_see_snapshot
from archive.web import citations
from naql.api_base import (
    ApiError,
    BooleanFilter,
    CaptureThrottle,
    CursorPagination,
    IntegerFilter,
    IsoDateTimeFilter,
    StrictCharField,
    StrictSerializer,
    max_batch,
)

IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_URL = 4000


def _guid_or_404(value: str) -> str:
    guid = canonical_guid(value)
    if guid is None:
        raise exceptions.NotFound("No such ID (IDs look like K7QM-4XR2).")
    return guid


def _may_see(user, snap: Snapshot) -> bool:
    """Visibility of one snapshot, withdrawn or not (:mod:`archive.visibility`)."""
    return can_see_snapshot(user, snap, include_withdrawn=True)


def _user(request):
    user = getattr(request, "user", None)
    return user if user is not None and user.is_authenticated else None


# --------------------------------------------------------------------------------------------
# capture jobs
# --------------------------------------------------------------------------------------------


class JobErrorSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Machine code, e.g. `dns_failure`, `forbidden_address`, `timeout`.")
    message = serializers.CharField(help_text="Human explanation.")
    details = serializers.DictField(help_text="Structured details of the failure.")
    permanent = serializers.BooleanField(help_text="True: retrying will not help. False: retried with back-off.")


class JobStepSerializer(serializers.Serializer):
    step = serializers.CharField(help_text="Step name, e.g. `fetched`, `written`.")
    at = serializers.DateTimeField(help_text="When the step finished (UTC).")


class CaptureJobSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="guid", read_only=True, help_text="Job ID (short, typable).")
    url = serializers.CharField(read_only=True, help_text="URL to capture, normalised (ASCII form).")
    state = serializers.ChoiceField(choices=CaptureJob.State.choices, read_only=True,
                                    help_text="pending → running → succeeded or failed.")
    progress = JobStepSerializer(many=True, read_only=True, help_text="Steps done so far, with times.")
    error = JobErrorSerializer(read_only=True, allow_null=True,
                               help_text="Structured error of the last failed attempt; null when none.")
    snapshot = serializers.SerializerMethodField(help_text="ID of the snapshot of the URL once captured.")
    final_snapshot = serializers.SerializerMethodField(
        help_text="ID of the snapshot at the end of the redirect chain (the page itself).")
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True,
                                              help_text="User who submitted the job.")
    duration_seconds = serializers.FloatField(read_only=True, allow_null=True,
                                              help_text="Seconds between start and finish of the last attempt.")
    links = serializers.SerializerMethodField(help_text="API and citable-page URLs.")

    class Meta:
        model = CaptureJob
        fields = ["id", "url", "state", "requisites", "mode", "attempts", "max_attempts", "created_at", "not_before",
                  "started_at", "finished_at", "duration_seconds", "progress", "error", "snapshot",
                  "final_snapshot", "created_by", "links"]
        read_only_fields = fields
        extra_kwargs = {
            "attempts": {"help_text": "Attempts made so far."},
            "max_attempts": {"help_text": "Attempts allowed before the job fails for good."},
            "created_at": {"help_text": "When the job was submitted (UTC)."},
            "started_at": {"help_text": "Start of the last attempt (UTC)."},
            "finished_at": {"help_text": "End of the job (UTC)."},
        }

    def get_snapshot(self, job) -> str | None:
        return job.snapshot.guid if job.snapshot_id else None

    def get_final_snapshot(self, job) -> str | None:
        if not job.snapshot_id:
            return None
        return (job.snapshot.final or job.snapshot).guid

    @extend_schema_field({"type": "object", "additionalProperties": {"type": "string", "format": "uri"},
                          "description": "`self` (this job) and, once captured, `snapshot` (citable page)."})
    def get_links(self, job) -> dict:
        request = self.context.get("request")
        out = {"self": f"/api/capture-jobs/{job.guid}/"}
        if job.snapshot_id:
            out["snapshot"] = f"/s/{(job.snapshot.final or job.snapshot).guid}"
        return {k: request.build_absolute_uri(v) if request else v for k, v in out.items()}


class CaptureRequestSerializer(StrictSerializer):
    url = StrictCharField(required=False, max_length=MAX_URL, trim_whitespace=True,
                          help_text="One http(s) URL to capture. Give `url` or `urls`, not both.")
    urls = serializers.ListField(child=StrictCharField(max_length=MAX_URL), required=False, allow_empty=False,
                                 help_text="Several URLs to capture (at most the batch limit, 100 by default).")
    requisites = serializers.BooleanField(default=True,
                                          help_text="Also capture stylesheets, images, scripts and fonts.")
    mode = serializers.ChoiceField(
        choices=["raw", "browser", "auto"], required=False,
        help_text="`raw`: Naql's fetch client, exact bytes of the page and its requisites. `browser`: Chromium "
                  "behind Naql's recording proxy (every request guarded and kept), plus a screenshot and the "
                  "rendered DOM; for pages built by scripts. `auto`: raw first, browser when the page has no "
                  "article text. Default: `browser` for the hosts in NAQL_CAPTURE_BROWSER_DOMAINS (x.com, "
                  "twitter.com, facebook.com, t.me), else NAQL_CAPTURE_DEFAULT_MODE.")

    def validate(self, attrs):
        if ("url" in attrs) == ("urls" in attrs):
            raise serializers.ValidationError({"url": ["Give exactly one of `url` or `urls`."]})
        urls = [attrs["url"]] if "url" in attrs else attrs["urls"]
        if len(urls) > max_batch():
            raise serializers.ValidationError(
                {"urls": [f"At most {max_batch()} URLs per request (got {len(urls)}); split the batch."]})
        clean, errors = [], {}
        for i, u in enumerate(urls):
            try:
                clean.append(jobs.validate_url(u))
            except ArchiveError as exc:
                errors[str(i)] = {"code": exc.code, "message": exc.message}
            except ValueError as exc:
                errors[str(i)] = {"code": InvalidURL.code, "message": f"not a valid URL: {exc}"}
        if errors:
            if "url" in attrs:
                e = errors["0"]
                raise ApiError(e["message"], code=e["code"], details={"url": attrs["url"]})
            raise ApiError(f"{len(errors)} of {len(urls)} URLs cannot be captured; nothing was submitted.",
                           code="invalid_urls", details={"urls": errors})
        attrs["clean_urls"] = clean
        return attrs


class CaptureBatchSerializer(serializers.Serializer):
    jobs = CaptureJobSerializer(many=True, help_text="One job per submitted URL, in the order submitted.")


class CaptureJobFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(choices=CaptureJob.State.choices, help_text="Only jobs in this state.")
    created_after = IsoDateTimeFilter(field_name="created_at", lookup_expr="gte",
                                                     help_text="Submitted at or after (ISO 8601).")
    created_before = IsoDateTimeFilter(field_name="created_at", lookup_expr="lt",
                                                      help_text="Submitted before (ISO 8601).")

    class Meta:
        model = CaptureJob
        fields = ["state"]


ID_PARAM = OpenApiParameter("id", str, OpenApiParameter.PATH,
                            description="Short ID like K7QM-4XR2 (case, hyphen and spaces are canonicalised).")


@extend_schema_view(
    list=extend_schema(summary="Your capture jobs", description="Jobs you submitted (all jobs for superusers)."),
    retrieve=extend_schema(summary="A capture job: state, progress and structured error", parameters=[ID_PARAM]),
)
class CaptureJobViewSet(mixins.CreateModelMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                        viewsets.GenericViewSet):
    serializer_class = CaptureJobSerializer
    permission_classes = [permissions.IsAuthenticated]
    filterset_class = CaptureJobFilter
    lookup_field = "guid"
    lookup_value_regex = "[^/]+"
    lookup_url_kwarg = "id"

    def get_throttles(self):
        return [*super().get_throttles(), CaptureThrottle()] if self.action == "create" else super().get_throttles()

    def get_queryset(self):
        qs = CaptureJob.objects.select_related("snapshot__final", "created_by").order_by("-created_at", "-pk")
        user = self.request.user
        if getattr(self, "swagger_fake_view", False) or not user.is_authenticated:
            return qs.none()
        return qs if user.is_superuser else qs.filter(created_by=user)

    def get_object(self):
        obj = self.get_queryset().filter(guid=_guid_or_404(self.kwargs["id"])).first()
        if obj is None:
            raise exceptions.NotFound("No capture job with this ID.")
        return obj

    @extend_schema(
        summary="Capture one URL or a batch",
        request=CaptureRequestSerializer, responses={201: CaptureBatchSerializer, 200: CaptureBatchSerializer},
        parameters=[OpenApiParameter(IDEMPOTENCY_HEADER, str, OpenApiParameter.HEADER, required=False,
                                     description="Any string up to 150 characters. Resubmitting with the same key "
                                                 "returns the same job(s) with status 200 instead of new ones.")],
        description="Each URL is checked by the SSRF guard first; if any is refused the request fails with 400 "
                    "and nothing is submitted. Jobs run in the background: poll `GET /api/capture-jobs/{id}/`.",
    )
    def create(self, request, *args, **kwargs):
        req = CaptureRequestSerializer(data=request.data)
        req.is_valid(raise_exception=True)
        key = (request.headers.get(IDEMPOTENCY_HEADER) or "").strip()
        if len(key) > 150 or not key.isprintable():
            raise exceptions.ValidationError({IDEMPOTENCY_HEADER: ["At most 150 printable characters."]})
        urls = req.validated_data["clean_urls"]
        single = "url" in req.validated_data
        created = False
        out = []
        with transaction.atomic():
            for i, url in enumerate(urls):
                k = (key if single else f"{key}#{i}") if key else ""
                existing = CaptureJob.objects.filter(created_by=request.user, idempotency_key=k).first() if k else None
                if existing is not None:
                    if existing.url != url:
                        raise ApiError("This Idempotency-Key was already used for a different request.",
                                       code="idempotency_mismatch", status_code=422, details={"key": key})
                    out.append(existing)
                    continue
                out.append(jobs.submit(url, user=request.user, requisites=req.validated_data["requisites"],
                                       idempotency_key=k, mode=req.validated_data.get("mode")))
                created = True
        body = CaptureBatchSerializer({"jobs": out}, context=self.get_serializer_context()).data
        headers = {"Location": f"/api/capture-jobs/{out[0].guid}/"} if single else {}
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK, headers=headers)


# --------------------------------------------------------------------------------------------
# snapshots
# --------------------------------------------------------------------------------------------


class WarcFileSerializer(serializers.ModelSerializer):
    class Meta:
        model = WarcFile
        fields = ["id", "name", "size", "sha256", "record_count", "origin", "source_name", "created_at",
                  "last_verified_at", "last_verified_ok"]
        extra_kwargs = {"id": {"help_text": "Internal ID."},
                        "record_count": {"help_text": "Number of WARC records in the file."},
                        "origin": {"help_text": "captured by Naql, or imported from elsewhere."},
                        "created_at": {"help_text": "When the file was published (UTC)."},
                        "last_verified_at": {"help_text": "When fixity was last audited."}}


class CitationSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="Format key: apa, chicago, mla, bibtex, ris, csl, robust.")
    label = serializers.CharField(help_text="Format name for display.")
    text = serializers.CharField(help_text="The citation, ready to paste.")


def _snapshot_links(snap: Snapshot, request) -> dict:
    origin = memento.replay_origin(request)
    page = snap.final or snap

    def absolute(path):
        return request.build_absolute_uri(path) if request else path

    return {"self": absolute(f"/api/snapshots/{snap.guid}/"), "page": absolute(f"/s/{snap.guid}"),
            "replay": memento.memento_uri(page, origin), "raw": memento.memento_uri(page, origin, "id_"),
            "warc": absolute(f"/s/{snap.guid}.warc.gz"), "timemap": absolute(f"/api/timemap/?url={snap.url}"),
            "timegate": memento.timegate_uri(snap.url, origin)}


LINKS_SCHEMA = {"type": "object", "additionalProperties": {"type": "string"},
                "description": "`self` (API), `page` (citable page /s/ID), `replay` (memento), `raw` (original "
                               "bytes, id_ mode), `warc` (this snapshot's WARC records), `timemap`, `timegate`."}


class SnapshotSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="guid", read_only=True, help_text="Citable ID, e.g. K7QM-4XR2.")
    final = serializers.SlugRelatedField(slug_field="guid", read_only=True, allow_null=True,
                                         help_text="ID of the snapshot at the end of the redirect chain.")
    links = serializers.SerializerMethodField(help_text="Citable page, replay, raw, WARC download, TimeMap.")

    class Meta:
        model = Snapshot
        fields = ["id", "url", "captured_at", "status", "mime", "title", "language", "record_type", "is_requisite",
                  "capture_mode", "analysis_pending", "payload_sha256", "final", "links"]
        extra_kwargs = {"is_requisite": {"help_text": "A page requisite (stylesheet, image …), not a page."},
                        "analysis_pending": {"help_text": "The capture is committed but its text and metadata "
                                                          "(title, language …) are still being extracted."},
                        "title": {"help_text": "Title extracted from the page."},
                        "language": {"help_text": "Language of the page (ISO 639-1) as detected."},
                        "record_type": {"help_text": "response, or revisit (identical payload stored once)."}}

    @extend_schema_field(LINKS_SCHEMA)
    def get_links(self, snap) -> dict:
        return _snapshot_links(snap, self.context.get("request"))


class SnapshotDetailSerializer(SnapshotSerializer):
    redirect_to = serializers.SlugRelatedField(slug_field="guid", read_only=True, allow_null=True,
                                               help_text="ID of the next hop's snapshot, for a redirect.")
    page = serializers.SlugRelatedField(slug_field="guid", read_only=True, allow_null=True,
                                        help_text="For a requisite: ID of the page it was captured for.")
    payload_snapshot = serializers.SlugRelatedField(slug_field="guid", read_only=True, allow_null=True,
                                                    help_text="For a revisit: ID of the snapshot holding the payload.")
    warc_file = WarcFileSerializer(read_only=True, help_text="The WARC file holding the record.")
    private = serializers.SerializerMethodField(help_text="True when visible only to one group's members.")
    citations = serializers.SerializerMethodField(help_text="Copy-ready citations in every format.")

    class Meta(SnapshotSerializer.Meta):
        fields = [*SnapshotSerializer.Meta.fields, "content_type", "payload_length", "payload_digest", "record_id",
                  "record_sha256", "offset", "length", "warc_file", "redirect_to", "page", "payload_snapshot",
                  "charset", "byline", "published_at", "modified_at", "canonical_url", "text_fingerprint", "text",
                  "private", "citations"]
        extra_kwargs = {**SnapshotSerializer.Meta.extra_kwargs,
                        "payload_length": {"help_text": "Length of the HTTP entity body in bytes."},
                        "charset": {"help_text": "Character encoding the text was decoded with."},
                        "byline": {"help_text": "Author or credit line extracted from the page."},
                        "published_at": {"help_text": "Publication date the page states."},
                        "modified_at": {"help_text": "Modification date the page states."},
                        "canonical_url": {"help_text": "rel=canonical / og:url of the page."}}

    def get_private(self, snap) -> bool:
        return snap.private_to_group_id is not None

    @extend_schema_field(CitationSerializer(many=True))
    def get_citations(self, snap) -> list:
        request = self.context.get("request")
        return citations.all_citations(snap, replay_origin=memento.replay_origin(request), request=request)


class SnapshotFilter(django_filters.FilterSet):
    url = django_filters.CharFilter(method="filter_url", help_text="Captures of exactly this URL (SURT match).")
    surt_prefix = django_filters.CharFilter(field_name="surt", lookup_expr="startswith",
                                            help_text="SURT key prefix, e.g. `com,elespanol)/` or `com,elespanol`.")
    host = django_filters.CharFilter(method="filter_host", help_text="Host name; includes its subdomains.")
    captured_after = IsoDateTimeFilter(field_name="captured_at", lookup_expr="gte",
                                                      help_text="Captured at or after (ISO 8601).")
    captured_before = IsoDateTimeFilter(field_name="captured_at", lookup_expr="lt",
                                                       help_text="Captured before (ISO 8601).")
    status = IntegerFilter(help_text="HTTP status code.")
    mime = django_filters.CharFilter(help_text="MIME type, e.g. text/html.")
    language = django_filters.CharFilter(help_text="Detected language (ISO 639-1).")
    is_requisite = BooleanFilter(help_text="true: requisites only; false: pages only.")
    record_type = django_filters.ChoiceFilter(choices=Snapshot.RecordType.choices, help_text="response or revisit.")
    job = django_filters.CharFilter(method="filter_job", help_text="Snapshots written by this capture job (ID).")

    class Meta:
        model = Snapshot
        fields = []

    def filter_url(self, qs, name, value):
        try:
            return qs.filter(surt=surt_key(memento.target_url(value)))
        except ValueError as exc:
            raise exceptions.ValidationError({"url": [f"Not an http(s) URL: {value!r}"]}) from exc

    def filter_host(self, qs, name, value):
        try:
            key = surt_key(memento.target_url(value.strip().strip("/") + "/")).split(")", 1)[0]
        except ValueError as exc:
            raise exceptions.ValidationError({"host": [f"Not a host name: {value!r}"]}) from exc
        return qs.filter(surt__startswith=key + ")") | qs.filter(surt__startswith=key + ",")

    def filter_job(self, qs, name, value):
        return qs.filter(job__guid=canonical_guid(value) or "-")


class SnapshotPagination(CursorPagination):
    ordering = ("-captured_at", "-pk")


@extend_schema_view(
    list=extend_schema(summary="Snapshots (cursor-paginated, newest first)"),
    retrieve=extend_schema(summary="A snapshot: digests, WARC location, citations and links", parameters=[ID_PARAM]),
)
class SnapshotViewSet(viewsets.ReadOnlyModelViewSet):
    """Snapshots you may see: public ones, and private ones of your groups. Withdrawn ones answer 410."""

    permission_classes = [permissions.AllowAny]
    pagination_class = SnapshotPagination
    filterset_class = SnapshotFilter
    lookup_field = "guid"
    lookup_url_kwarg = "id"
    lookup_value_regex = "[^/]+"

    def get_queryset(self):
        return Snapshot.objects.visible_to(self.request.user).select_related("final", "warc_file")

    def get_serializer_class(self):
        return SnapshotDetailSerializer if self.action == "retrieve" else SnapshotSerializer

    def get_object(self):
        guid = _guid_or_404(self.kwargs["id"])
        snap = self.get_queryset().select_related("redirect_to", "page", "payload_snapshot").filter(guid=guid).first()
        if snap is None:
            gone = Snapshot.objects.filter(guid=guid, withdrawn_at__isnull=False).first()
            if gone is not None and _may_see(self.request.user, gone):
                raise ApiError(f"This snapshot was withdrawn: {gone.withdrawn_reason}", code="withdrawn",
                               status_code=410, details={"withdrawn_at": gone.withdrawn_at.isoformat()})
            raise exceptions.NotFound("No snapshot with this ID.")
        return snap


# --------------------------------------------------------------------------------------------
# TimeMap
# --------------------------------------------------------------------------------------------


class MementoSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="Snapshot ID.")
    datetime = serializers.DateTimeField(help_text="Capture time (UTC).")
    timestamp = serializers.CharField(help_text="14-digit Wayback timestamp.")
    url = serializers.CharField(help_text="URL as captured.")
    status = serializers.IntegerField(help_text="HTTP status.")
    mime = serializers.CharField(allow_blank=True, help_text="MIME type.")
    digest = serializers.CharField(allow_blank=True, help_text="WARC payload digest.")
    memento = serializers.CharField(help_text="URI-M (replay URL).")


class TimeMapSerializer(serializers.Serializer):
    original = serializers.CharField(help_text="URI-R: the URL as normalised for look-up.")
    timegate = serializers.CharField(help_text="TimeGate URI.")
    timemap_link = serializers.CharField(help_text="RFC 7089 link-format TimeMap URI.")
    first = serializers.CharField(allow_null=True, help_text="ID of the earliest memento.")
    last = serializers.CharField(allow_null=True, help_text="ID of the latest memento.")
    next = serializers.CharField(allow_null=True, help_text="API URL of the next page, null on the last page.")
    mementos = MementoSerializer(many=True, help_text="Mementos in capture order.")


class TimeMapView(APIView):
    permission_classes = [permissions.AllowAny]

    @extend_schema(
        summary="TimeMap of a URL (JSON)", responses=TimeMapSerializer,
        parameters=[
            OpenApiParameter("url", OpenApiTypes.STR, required=True, description="The URL (URI-R)."),
            OpenApiParameter("from", OpenApiTypes.STR, description="Page start: 14-digit timestamp (inclusive)."),
        ],
    )
    def get(self, request):
        url = request.query_params.get("url", "")
        from_ts = request.query_params.get("from") or None
        try:
            target = memento.target_url(url)
        except ValueError as exc:
            raise exceptions.ValidationError({"url": [f"Not an http(s) URL: {url!r}"]}) from exc
        if from_ts is not None and not (from_ts.isdigit() and 4 <= len(from_ts) <= 14):
            raise exceptions.ValidationError({"from": ["Expected a 4 to 14 digit timestamp."]})
        try:
            page = memento.timemap_page(target, _user(request), from_ts)
        except ValueError as exc:
            raise exceptions.ValidationError({"from": [str(exc)]}) from exc
        origin = memento.replay_origin(request)
        nxt = None
        if page.next_ts:
            nxt = request.build_absolute_uri("/api/timemap/") + "?" + urlencode({"url": target, "from": page.next_ts})
        body = {
            "original": target, "timegate": memento.timegate_uri(target, origin),
            "timemap_link": memento.timemap_uri(target, origin), "first": page.first.guid if page.first else None,
            "last": page.last.guid if page.last else None, "next": nxt,
            "mementos": [{"id": s.guid, "datetime": s.captured_at, "timestamp": timestamp14(s.captured_at),
                          "url": s.url, "status": s.status, "mime": s.mime, "digest": s.payload_digest,
                          "memento": memento.memento_uri(s, origin)} for s in page.entries],
        }
        return Response(TimeMapSerializer(body).data)


# --------------------------------------------------------------------------------------------
# WARC files (administrators)
# --------------------------------------------------------------------------------------------


class WarcFileFilter(django_filters.FilterSet):
    origin = django_filters.ChoiceFilter(choices=WarcFile.Origin.choices, help_text="captured or imported.")
    last_verified_ok = BooleanFilter(help_text="Outcome of the last fixity audit.")

    class Meta:
        model = WarcFile
        fields = []


@extend_schema_view(list=extend_schema(summary="WARC files (administrators)"),
                    retrieve=extend_schema(summary="A WARC file (administrators)"))
class WarcFileViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = WarcFile.objects.order_by("-created_at", "-pk")
    serializer_class = WarcFileSerializer
    permission_classes = [permissions.IsAdminUser]
    filterset_class = WarcFileFilter
