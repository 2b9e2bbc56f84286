"""REST API of provenance: publishers, documents, relations, claims, claim links, chains, history.

Thin viewsets over the provenance modules: claims are made by :func:`provenance.text.claims.claim_for_text`,
reviews by ``ClaimLink.set_status``, chains by :mod:`provenance.chain` and :mod:`provenance.export`,
suggestions by :func:`provenance.suggest.run_suggestions`. Serializers and visibility rules are in
``provenance.api_serializers``; chain and history shapes in ``provenance.api_chain``.

Reading is open (within the visibility rules); writing needs a user (token or session), and every
write is recorded in the object's history with that user.
"""

from __future__ import annotations

import django_filters
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from archive import api as archive_api
from archive.models import Snapshot
from naql.api_base import ApiError, BooleanFilter, IdListSerializer, IntegerFilter, NoteSerializer
from provenance import api_chain as ch
from provenance.api_serializers import (
    ClaimCreateSerializer,
    ClaimLinkSerializer,
    ClaimSerializer,
    DocumentSerializer,
    PublisherSerializer,
    RelationReviewResultSerializer,
    RelationSerializer,
    ReviewResultSerializer,
    set_status,
    visible_claims,
    visible_documents,
    visible_links,
    visible_relations,
    with_snapshot_visibility,
)
from provenance.models import Claim, ClaimLink, Document, DocumentURL, Publisher, Relation, ReviewStatus
from provenance.text.claims import claim_for_text
from provenance.visibility import request_viewer

WRITE = [permissions.IsAuthenticatedOrReadOnly]


class HistoryMixin:
    """``GET …/{id}/history/``: every recorded version of the object, newest first, with who and what."""

    @extend_schema(summary="History of this object (who changed what, when)", responses=ch.HistoryPageSerializer,
                   filters=False)
    @action(detail=True, methods=["get"], filter_backends=[])
    def history(self, request, pk=None, format=None):
        obj = self.get_object()
        records = obj.history.select_related("history_user").order_by("-history_date", "-history_id")
        page = self.paginate_queryset(records)
        older = None  # the record just before the page's last, to diff that one against
        if page:
            last = page[-1]
            older = records.filter(Q(history_date__lt=last.history_date)
                                   | Q(history_date=last.history_date, history_id__lt=last.history_id)).first()
        return self.get_paginated_response(ch.history_entries(page, older, request_viewer(request)))


def _review(viewset, request, status_value: str):
    body = NoteSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    obj = viewset.get_object()
    set_status(obj, status_value, user=request.user, note=body.validated_data.get("note", ""))
    obj.refresh_from_db()
    return Response(viewset.get_serializer(obj).data)


def _bulk_review(viewset, request, status_value: str, key: str):
    body = IdListSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    ids = body.validated_data["ids"]
    objs = {o.pk: o for o in viewset.get_queryset().filter(pk__in=ids)}
    missing = [i for i in ids if i not in objs]
    if missing:
        raise ApiError(f"{len(missing)} ID(s) not found; nothing was changed.", code="not_found",
                       details={"ids": missing})
    with transaction.atomic():
        n = sum(set_status(objs[i], status_value, user=request.user, note=body.validated_data.get("note", ""))
                for i in ids)
    items = viewset.get_serializer(list(viewset.get_queryset().filter(pk__in=ids)), many=True).data
    return Response({"updated": n, key: items})


# --------------------------------------------------------------------------------------------
# publishers


class PublisherFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=Publisher.Kind.choices, help_text="Kind of publisher.")
    language = django_filters.CharFilter(help_text="Main language (ISO 639-1).")
    name = django_filters.CharFilter(lookup_expr="icontains", help_text="Part of the name.")
    domain = django_filters.CharFilter(method="filter_domain", help_text="Publishers of this host (or a parent).")

    class Meta:
        model = Publisher
        fields = []

    def filter_domain(self, qs, name, value):
        return qs.for_domain(value)


@extend_schema_view(list=extend_schema(summary="Publishers"), retrieve=extend_schema(summary="A publisher"),
                    create=extend_schema(summary="Record a publisher"),
                    partial_update=extend_schema(summary="Edit a publisher"))
class PublisherViewSet(HistoryMixin, mixins.CreateModelMixin, mixins.UpdateModelMixin, viewsets.ReadOnlyModelViewSet):
    queryset = Publisher.objects.order_by("name", "pk")
    serializer_class = PublisherSerializer
    permission_classes = WRITE
    filterset_class = PublisherFilter
    http_method_names = ["get", "post", "patch", "head", "options"]


# --------------------------------------------------------------------------------------------
# documents


class DocumentFilter(django_filters.FilterSet):
    url = django_filters.CharFilter(method="filter_url", help_text="The document of this URL (canonical or alias).")
    publisher = IntegerFilter(field_name="publisher_id", help_text="Publisher ID.")
    language = django_filters.CharFilter(help_text="Language (ISO 639-1).")
    kind = django_filters.ChoiceFilter(choices=Document.Kind.choices, help_text="Kind of document.")
    title = django_filters.CharFilter(lookup_expr="icontains", help_text="Part of the title.")
    has_claims = BooleanFilter(method="filter_has_claims", help_text="Only documents with claims.")

    class Meta:
        model = Document
        fields = []

    def filter_url(self, qs, name, value):
        try:
            return qs.filter(pk__in=Document.objects.for_url(value).values("pk"))
        except ValueError as exc:
            raise exceptions.ValidationError({"url": [f"Not a URL: {value!r}"]}) from exc

    def filter_has_claims(self, qs, name, value):
        return qs.filter(pk__in=Claim.objects.values("document_id")) if value else qs.exclude(
            pk__in=Claim.objects.values("document_id"))


@extend_schema_view(list=extend_schema(summary="Documents"), retrieve=extend_schema(summary="A document"),
                    partial_update=extend_schema(summary="Edit a document's metadata"))
class DocumentViewSet(HistoryMixin, mixins.UpdateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Documents are made from captures (a document per canonical URL); their metadata can be edited."""

    serializer_class = DocumentSerializer
    permission_classes = WRITE
    filterset_class = DocumentFilter
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Document.objects.none()
        return (visible_documents(self.request.user).select_related("publisher").prefetch_related("urls")
                .order_by("-published_at", "url", "pk"))

    @extend_schema(summary="Chain of a document (JSON): relations, upstream tree, origins, claims",
                   responses=ch.DocumentChainSerializer, filters=False)
    @action(detail=True, methods=["get"], filter_backends=[])
    def chain(self, request, pk=None, format=None):
        return Response(ch.document_chain_json(self.get_object(), request.user))

    @extend_schema(summary="Chain of a document as W3C PROV-JSON", responses={200: ch.PROV_JSON_SCHEMA}, filters=False)
    @action(detail=True, methods=["get"], url_path="prov", filter_backends=[])
    def prov(self, request, pk=None, format=None):
        return Response(ch.document_prov_json(self.get_object(), request.user, request))

    @extend_schema(summary="Suggest claim links to the document's upstream documents", request=None,
                   responses=ReviewResultSerializer, filters=False,
                   description="Runs the aligner from this document's claims (latest snapshot) to the sentences "
                               "of every upstream document of its live relations, and stores the results as "
                               "`suggested` automatic claim links (re-running is idempotent).")
    @action(detail=True, methods=["post"], filter_backends=[])
    def suggest(self, request, pk=None, format=None):
        from provenance.suggest import run_suggestions

        if not isinstance(request.data, dict):
            raise exceptions.ValidationError(["Expected no body (or an empty JSON object)."])
        if request.data:
            raise exceptions.ValidationError({k: ["Unknown field."] for k in request.data})
        run = run_suggestions(self.get_object(), user=request.user)
        links = visible_links(request.user).filter(pk__in=[link.pk for link in run])
        data = ClaimLinkSerializer(links, many=True, context=self.get_serializer_context()).data
        return Response({"updated": getattr(run, "created", 0) + getattr(run, "updated", 0), "links": data})


# --------------------------------------------------------------------------------------------
# relations


class RelationFilter(django_filters.FilterSet):
    source = IntegerFilter(field_name="source_id", help_text="Downstream document ID.")
    target = IntegerFilter(field_name="target_id", help_text="Upstream document ID.")
    document = IntegerFilter(method="filter_document", help_text="Either end is this document.")
    type = django_filters.ChoiceFilter(choices=Relation.Type.choices, help_text="Relation type.")
    status = django_filters.ChoiceFilter(choices=ReviewStatus.choices, help_text="Review status.")

    class Meta:
        model = Relation
        fields = []

    def filter_document(self, qs, name, value):
        return qs.filter(Q(source_id=value) | Q(target_id=value))


class RelationViewSet(HistoryMixin, mixins.CreateModelMixin, mixins.UpdateModelMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = RelationSerializer
    permission_classes = WRITE
    filterset_class = RelationFilter
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Relation.objects.none()
        qs = visible_relations(self.request.user).select_related("evidence_snapshot", "recorded_by")
        return with_snapshot_visibility(qs, self.request.user, "evidence_snapshot").order_by(
            "source_id", "type", "target_id", "pk")

    def perform_create(self, serializer):
        serializer.save(recorded_by=self.request.user)

    @extend_schema(summary="Accept a relation", request=NoteSerializer, responses=RelationSerializer, filters=False)
    @action(detail=True, methods=["post"], filter_backends=[])
    def accept(self, request, pk=None, format=None):
        return _review(self, request, ReviewStatus.ACCEPTED)

    @extend_schema(summary="Reject a relation", request=NoteSerializer, responses=RelationSerializer, filters=False)
    @action(detail=True, methods=["post"], filter_backends=[])
    def reject(self, request, pk=None, format=None):
        return _review(self, request, ReviewStatus.REJECTED)

    @extend_schema(summary="Accept several relations", request=IdListSerializer,
                   responses=RelationReviewResultSerializer, filters=False)
    @action(detail=False, methods=["post"], url_path="bulk-accept", filter_backends=[])
    def bulk_accept(self, request, format=None):
        return _bulk_review(self, request, ReviewStatus.ACCEPTED, "relations")

    @extend_schema(summary="Reject several relations", request=IdListSerializer,
                   responses=RelationReviewResultSerializer, filters=False)
    @action(detail=False, methods=["post"], url_path="bulk-reject", filter_backends=[])
    def bulk_reject(self, request, format=None):
        return _bulk_review(self, request, ReviewStatus.REJECTED, "relations")


# --------------------------------------------------------------------------------------------
# claims


class ClaimFilter(django_filters.FilterSet):
    document = IntegerFilter(field_name="document_id", help_text="Document ID.")
    snapshot = django_filters.CharFilter(field_name="snapshot__guid", help_text="Snapshot ID.")
    kind = django_filters.ChoiceFilter(choices=Claim.Kind.choices, help_text="Kind of claim.")
    anchor_state = django_filters.ChoiceFilter(choices=Claim.AnchorState.choices, help_text="Re-anchoring state.")
    language = django_filters.CharFilter(help_text="Language.")
    text = django_filters.CharFilter(field_name="exact", lookup_expr="icontains", help_text="Part of the text.")

    class Meta:
        model = Claim
        fields = []


@extend_schema_view(create=extend_schema(
    summary="Record a claim (a span of a snapshot's text)", request=ClaimCreateSerializer,
    responses={201: ClaimSerializer, 200: ClaimSerializer},
    description="Finds `exact` in the snapshot text (default: the document's latest version) and returns the "
                "claim at that span: an existing one (200) or a new one (201)."))
class ClaimViewSet(HistoryMixin, mixins.CreateModelMixin, mixins.UpdateModelMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = ClaimSerializer
    permission_classes = WRITE
    filterset_class = ClaimFilter
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Claim.objects.none()
        qs = visible_claims(self.request.user).select_related("snapshot", "anchor_snapshot")
        return with_snapshot_visibility(qs, self.request.user, "anchor_snapshot").order_by(
            "document_id", "snapshot__captured_at", "start", "pk")

    def create(self, request, *args, **kwargs):
        body = ClaimCreateSerializer(data=request.data, context=self.get_serializer_context())
        body.is_valid(raise_exception=True)
        v = body.validated_data
        snap = v.get("snapshot")
        if snap is not None and snap.surt not in v["document"].url_keys():
            raise exceptions.ValidationError({"snapshot": ["This snapshot is not a version of the document."]})
        if snap is None:  # the latest version *you may see*: a private newer one must not answer for it
            visible = Snapshot.objects.visible_to(request.user).values("pk")
            snap = v["document"].snapshots().filter(pk__in=visible).last()
            if snap is None:
                raise exceptions.ValidationError({"snapshot": ["The document has no version you may see."]})
        started = timezone.now()
        with transaction.atomic():
            claim = claim_for_text(v["document"], v["exact"], snap, origin="manual", user=request.user)
            if claim is None:
                raise exceptions.ValidationError({"exact": ["This text is not in the snapshot's text."]})
            if v.get("kind") and claim.kind != v["kind"]:
                claim.kind = v["kind"]
                claim.save(update_fields=["kind"])
        created = claim.created_at >= started  # not a count: another writer's claim must not make this 201
        return Response(self.get_serializer(claim).data, status=status.HTTP_201_CREATED if created else 200)

    @extend_schema(summary="Chain of a claim (JSON): accepted upstream links as a tree, and origins",
                   responses=ch.ClaimChainSerializer, filters=False)
    @action(detail=True, methods=["get"], filter_backends=[])
    def chain(self, request, pk=None, format=None):
        return Response(ch.claim_chain_json(self.get_object(), request.user))

    @extend_schema(summary="Chain of a claim as W3C PROV-JSON", responses={200: ch.PROV_JSON_SCHEMA}, filters=False)
    @action(detail=True, methods=["get"], url_path="prov", filter_backends=[])
    def prov(self, request, pk=None, format=None):
        return Response(ch.claim_prov_json(self.get_object(), request.user, request))


# --------------------------------------------------------------------------------------------
# claim links


class ClaimLinkFilter(django_filters.FilterSet):
    claim = IntegerFilter(field_name="claim_id", help_text="Downstream claim ID.")
    document = IntegerFilter(field_name="claim__document_id", help_text="Downstream document ID.")
    upstream_document = IntegerFilter(field_name="upstream_document_id", help_text="Upstream document ID.")
    status = django_filters.ChoiceFilter(choices=ReviewStatus.choices, help_text="Review status.")
    method = django_filters.ChoiceFilter(choices=ClaimLink.Method.choices, help_text="manual or automatic.")
    relation = django_filters.ChoiceFilter(choices=ClaimLink.Relation.choices, help_text="Link relation.")
    origin = BooleanFilter(help_text="Only links to an origin (or only others).")

    class Meta:
        model = ClaimLink
        fields = []


class ClaimLinkViewSet(HistoryMixin, mixins.CreateModelMixin, mixins.UpdateModelMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = ClaimLinkSerializer
    permission_classes = WRITE
    filterset_class = ClaimLinkFilter
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ClaimLink.objects.none()
        return visible_links(self.request.user).select_related("created_by").order_by("claim_id", "-origin", "pk")

    def perform_create(self, serializer):
        serializer.save(created_by=self.request.user, method=ClaimLink.Method.MANUAL)

    @extend_schema(summary="Accept a claim link", request=NoteSerializer, responses=ClaimLinkSerializer,
                   filters=False)
    @action(detail=True, methods=["post"], filter_backends=[])
    def accept(self, request, pk=None, format=None):
        return _review(self, request, ReviewStatus.ACCEPTED)

    @extend_schema(summary="Reject a claim link", request=NoteSerializer, responses=ClaimLinkSerializer,
                   filters=False)
    @action(detail=True, methods=["post"], filter_backends=[])
    def reject(self, request, pk=None, format=None):
        return _review(self, request, ReviewStatus.REJECTED)

    @extend_schema(summary="Accept several claim links", request=IdListSerializer,
                   responses=ReviewResultSerializer, filters=False)
    @action(detail=False, methods=["post"], url_path="bulk-accept", filter_backends=[])
    def bulk_accept(self, request, format=None):
        return _bulk_review(self, request, ReviewStatus.ACCEPTED, "links")

    @extend_schema(summary="Reject several claim links", request=IdListSerializer,
                   responses=ReviewResultSerializer, filters=False)
    @action(detail=False, methods=["post"], url_path="bulk-reject", filter_backends=[])
    def bulk_reject(self, request, format=None):
        return _bulk_review(self, request, ReviewStatus.REJECTED, "links")


# --------------------------------------------------------------------------------------------
# snapshots, with the publisher filter (archive knows nothing of publishers)


class SnapshotFilter(archive_api.SnapshotFilter):
    publisher = IntegerFilter(method="filter_documents", help_text="Versions of the documents of this publisher (ID).")
    document = IntegerFilter(method="filter_documents", help_text="Versions of this document (ID).")

    def filter_documents(self, qs, name, value):
        docs = Document.objects.filter(**{"publisher_id" if name == "publisher" else "pk": value})
        return qs.filter(Q(surt__in=docs.values("surt")) | Q(surt__in=DocumentURL.objects.filter(
            document__in=docs).values("surt")))


class SnapshotViewSet(archive_api.SnapshotViewSet):
    filterset_class = SnapshotFilter
