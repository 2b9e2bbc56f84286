"""Serializers and visibility rules of the provenance REST API (viewsets in ``provenance.api``).

Visibility is decided in :mod:`provenance.visibility` (on :mod:`archive.visibility`): hidden
documents, claims, relations and links are not in the querysets; a visible document's metadata
is shown as ``ProvenanceViewer.document_meta`` gives it; hidden evidence and anchors are blanked.
"""

from __future__ import annotations

from collections import defaultdict

from django.db import models
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.permissions import SAFE_METHODS

from archive.models import Snapshot
from naql.api_base import StrictCharField, StrictModelSerializer, StrictSerializer
from provenance.models import Claim, ClaimLink, Document, Publisher, Relation
from provenance.visibility import (  # noqa: F401 (re-exported)
    hidden_document_ids,
    request_viewer,
    visible_claims,
    visible_documents,
    visible_links,
    visible_relations,
    visible_snapshot_guids,
    with_snapshot_visibility,
)

# --------------------------------------------------------------------------------------------
# visibility: the rules live in provenance.visibility (re-exported here for older imports)


def snapshot_visible(serializer, obj, field: str) -> bool:
    """Whether the requesting user may see ``obj.<field>`` (a snapshot; True when unset)."""
    snap_id = getattr(obj, f"{field}_id")
    if snap_id is None:
        return True
    known = getattr(obj, f"{field}_visible", None)  # from with_snapshot_visibility
    if known is not None:
        return known
    return Snapshot.objects.visible_to(_request_user(serializer)).filter(pk=snap_id).exists()


def _request_user(serializer):
    request = serializer.context.get("request")
    return getattr(request, "user", None)


class VisibleChoicesMixin:
    """Related fields accept only objects the requesting user may see. The querysets are set when
    the fields are built for a write (never at import, never for reading)."""

    def choices(self, user) -> dict:
        return {}

    def get_fields(self):
        fields = super().get_fields()
        request = self.context.get("request")
        if getattr(self.context.get("view"), "swagger_fake_view", False):
            return fields  # building the OpenAPI description
        if request is not None and request.method not in SAFE_METHODS:
            for name, qs in self.choices(request.user).items():
                if name in fields and not fields[name].read_only:
                    fields[name].queryset = qs
        return fields


# --------------------------------------------------------------------------------------------
# publishers and documents


class PublisherSerializer(StrictModelSerializer):
    domains = serializers.ListField(child=StrictCharField(max_length=300), required=False, max_length=200,
                                    help_text="Host names (or host/path prefixes for social accounts) it publishes on.")
    aliases = serializers.ListField(child=StrictCharField(max_length=300), required=False, max_length=200,
                                    help_text="Other names: translations, transliterations, handles, acronyms.")

    class Meta:
        model = Publisher
        fields = ["id", "name", "kind", "language", "domains", "aliases", "homepage", "created_at"]
        read_only_fields = ["id", "created_at"]
        extra_kwargs = {"id": {"help_text": "Publisher ID."}, "created_at": {"help_text": "When it was recorded."}}

    def validate_domains(self, value: list[str]) -> list[str]:
        """A domain names one publisher (the model's rule, asked here as the admin asks it)."""
        taken = Publisher(pk=getattr(self.instance, "pk", None), domains=value).domains_taken()
        if taken:
            raise serializers.ValidationError(
                [f"{d} is already a domain of the publisher {n}." for d, n in sorted(taken.items())])
        return value


def document_snapshot_guids(docs, user) -> dict[int, list[str]]:
    """IDs of each document's versions (as ``Document.snapshots``) that ``user`` may see, oldest
    first, in one query for all the documents (their ``urls`` are best prefetched)."""
    docs_of: dict[str, list[int]] = defaultdict(list)
    for doc in docs:
        for key in {doc.surt, *(u.surt for u in doc.urls.all())}:
            docs_of[key].append(doc.pk)
    out: dict[int, list[str]] = {doc.pk: [] for doc in docs}
    if docs_of:
        rows = (Snapshot.objects.visible_to(user).pages().filter(surt__in=docs_of, status=200).exclude(text="")
                .order_by("captured_at", "pk").values_list("surt", "guid"))
        for surt, guid in rows:
            for pk in docs_of[surt]:
                out[pk].append(guid)
    return out


class DocumentListSerializer(serializers.ListSerializer):
    def to_representation(self, data):
        docs = list(data.all() if isinstance(data, models.manager.BaseManager) else data)
        self.child._snapshot_guids = document_snapshot_guids(docs, _request_user(self))
        request = self.context.get("request")
        if request is not None:
            request_viewer(request).prime_documents(docs)
        return super().to_representation(docs)


class DocumentSerializer(StrictModelSerializer):
    publisher_name = serializers.CharField(source="publisher.name", read_only=True, allow_null=True, default=None,
                                           help_text="Name of the publisher.")
    urls = serializers.SerializerMethodField(help_text="Other URLs of the document (redirects, variants, mirrors).")
    snapshots = serializers.SerializerMethodField(help_text="IDs of its versions (snapshots you may see), oldest first.")

    class Meta:
        model = Document
        fields = ["id", "url", "publisher", "publisher_name", "kind", "language", "title", "byline", "published_at",
                  "created_at", "updated_at", "urls", "snapshots"]
        list_serializer_class = DocumentListSerializer
        read_only_fields = ["id", "url", "created_at", "updated_at"]
        extra_kwargs = {"id": {"help_text": "Document ID."}, "updated_at": {"help_text": "Last change."},
                        "created_at": {"help_text": "When the document was recorded."},
                        "publisher": {"help_text": "Publisher ID."}, "kind": {"help_text": "What kind of text it is."}}

    def get_urls(self, doc) -> list[str]:
        return [u.url for u in doc.urls.all()]

    def get_snapshots(self, doc) -> list[str]:
        guids = getattr(self, "_snapshot_guids", None)  # set by DocumentListSerializer for a whole page
        if guids is None or doc.pk not in guids:
            guids = document_snapshot_guids([doc], _request_user(self))
        return guids[doc.pk]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        request = self.context.get("request")
        viewer = request_viewer(request) if request is not None else None
        if viewer is not None and not viewer.everything:
            meta = viewer.document_meta(instance)  # values only hidden versions carry are replaced
            data.update(title=meta["title"], byline=meta["byline"],
                        published_at=self.fields["published_at"].to_representation(meta["published_at"])
                        if meta["published_at"] else None)
        return data


# --------------------------------------------------------------------------------------------
# relations


class RelationSerializer(VisibleChoicesMixin, StrictModelSerializer):
    evidence_snapshot = serializers.SlugRelatedField(
        slug_field="guid", queryset=Snapshot.objects.none(), required=False, allow_null=True,
        help_text="ID of the downstream snapshot showing the evidence.")
    recorded_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True,
                                               help_text="User who recorded it (null for a detector).")

    class Meta:
        model = Relation
        fields = ["id", "source", "target", "type", "status", "confidence", "evidence_snapshot", "evidence_text",
                  "evidence_url", "evidence_start", "evidence_end", "note", "recorded_by", "detector",
                  "detector_version", "rule", "created_at"]
        read_only_fields = ["id", "recorded_by", "detector", "detector_version", "rule", "created_at"]
        extra_kwargs = {
            "id": {"help_text": "Relation ID."}, "status": {"help_text": "Review status."},
            "confidence": {"min_value": 0.0, "max_value": 1.0, "help_text": "Confidence in [0, 1]."},
            "note": {"help_text": "Free-text note."}, "type": {"help_text": "How the source uses the target."},
            "detector_version": {"help_text": "Version of the detector."},
            "evidence_end": {"help_text": "End offset of the evidence in the snapshot text."},
            "created_at": {"help_text": "When it was recorded."},
        }

    def choices(self, user) -> dict:
        docs = visible_documents(user)
        return {"source": docs, "target": docs, "evidence_snapshot": Snapshot.objects.visible_to(user)}

    def validate(self, attrs):
        source = attrs.get("source", getattr(self.instance, "source", None))
        target = attrs.get("target", getattr(self.instance, "target", None))
        rtype = attrs.get("type", getattr(self.instance, "type", None))
        if source is not None and source == target:
            raise serializers.ValidationError({"target": ["A document cannot be its own upstream."]})
        dup = Relation.objects.filter(source=source, target=target, type=rtype)
        if self.instance is not None:
            dup = dup.exclude(pk=self.instance.pk)
        if dup.exists():
            raise serializers.ValidationError({"type": ["This relation already exists."]})
        return attrs

    def get_validators(self):
        return []  # uniqueness is checked in validate() with a clear message

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if not snapshot_visible(self, instance, "evidence_snapshot"):  # as the chain JSON: no ID, no text
            data.update(evidence_snapshot=None, evidence_text="", evidence_start=None, evidence_end=None)
        return data


# --------------------------------------------------------------------------------------------
# claims


class AnchorSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=Claim.AnchorState.choices, help_text="Re-anchoring outcome.")
    snapshot = serializers.CharField(allow_null=True, help_text="Newest snapshot the claim was re-anchored on.")
    exact = serializers.CharField(allow_null=True, help_text="Text found there (differs when edited).")
    start = serializers.IntegerField(allow_null=True, help_text="Start offset on that snapshot.")
    end = serializers.IntegerField(allow_null=True, help_text="End offset on that snapshot.")
    score = serializers.FloatField(allow_null=True, help_text="Match score in [0, 1] (1: exact).")


class SelectorSerializer(serializers.Serializer):
    type = serializers.CharField(help_text="TextQuoteSelector or TextPositionSelector (W3C Web Annotation).")
    exact = serializers.CharField(required=False, help_text="Quote: the text.")
    prefix = serializers.CharField(required=False, allow_blank=True, help_text="Quote: 32 characters before.")
    suffix = serializers.CharField(required=False, allow_blank=True, help_text="Quote: 32 characters after.")
    start = serializers.IntegerField(required=False, help_text="Position: start offset.")
    end = serializers.IntegerField(required=False, help_text="Position: end offset (exclusive).")


class ClaimSerializer(StrictModelSerializer):
    snapshot = serializers.SlugRelatedField(slug_field="guid", read_only=True,
                                            help_text="ID of the snapshot the selectors point into.")
    selectors = serializers.SerializerMethodField(help_text="W3C Web Annotation selectors over the snapshot text.")
    anchor = serializers.SerializerMethodField(help_text="Re-anchoring state on the newest snapshot checked.")

    class Meta:
        model = Claim
        fields = ["id", "document", "snapshot", "exact", "start", "end", "kind", "language", "speaker", "origin",
                  "selectors", "anchor", "created_at"]
        read_only_fields = ["id", "document", "snapshot", "exact", "start", "end", "language", "origin",
                            "created_at"]
        extra_kwargs = {"id": {"help_text": "Claim ID."}, "document": {"help_text": "Document ID."},
                        "kind": {"help_text": "fact, direct quote, attributed statement or background."},
                        "language": {"help_text": "Language of the claim."},
                        "created_at": {"help_text": "When the claim was recorded."}}

    @extend_schema_field(SelectorSerializer(many=True))
    def get_selectors(self, claim) -> list:
        return claim.selectors()

    @extend_schema_field(AnchorSerializer)
    def get_anchor(self, c) -> dict:
        if not snapshot_visible(self, c, "anchor_snapshot"):  # re-anchored on a version hidden from you
            return {"state": c.anchor_state, "snapshot": None, "exact": None, "start": None, "end": None,
                    "score": c.anchor_score}
        return {"state": c.anchor_state, "snapshot": c.anchor_snapshot.guid if c.anchor_snapshot_id else None,
                "exact": c.anchor_exact or None, "start": c.anchor_start, "end": c.anchor_end,
                "score": c.anchor_score}


class ClaimCreateSerializer(VisibleChoicesMixin, StrictSerializer):
    document = serializers.PrimaryKeyRelatedField(queryset=Document.objects.none(),
                                                  help_text="Document ID the claim belongs to.")
    exact = StrictCharField(max_length=20000, help_text="The claim's text, exactly as in the snapshot text.")
    snapshot = serializers.SlugRelatedField(slug_field="guid", queryset=Snapshot.objects.none(), required=False,
                                            help_text="Snapshot ID (default: the document's latest version).")
    kind = serializers.ChoiceField(choices=Claim.Kind.choices, required=False, help_text="Kind of claim.")

    def choices(self, user) -> dict:
        return {"document": visible_documents(user), "snapshot": Snapshot.objects.visible_to(user)}


# --------------------------------------------------------------------------------------------
# claim links


class ClaimLinkSerializer(VisibleChoicesMixin, StrictModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True,
                                              help_text="User who created the link (null for an automatic one).")
    signals = serializers.DictField(read_only=True, help_text="What an automatic method based its score on.")
    upstream_document = serializers.PrimaryKeyRelatedField(
        queryset=Document.objects.none(), required=False,
        help_text="Upstream document ID (taken from the upstream claim when that is given).")

    class Meta:
        model = ClaimLink
        fields = ["id", "claim", "upstream_claim", "upstream_document", "relation", "origin", "confidence", "status",
                  "method", "method_name", "method_version", "signals", "note", "created_by", "created_at"]
        read_only_fields = ["id", "method", "method_name", "method_version", "signals", "created_by", "created_at"]
        extra_kwargs = {
            "id": {"help_text": "Claim link ID."}, "relation": {"help_text": "translation, paraphrase or quote."},
            "confidence": {"min_value": 0.0, "max_value": 1.0, "help_text": "Confidence in [0, 1]."},
            "status": {"help_text": "Review status: suggested, accepted or rejected."},
            "method": {"help_text": "manual or automatic."}, "note": {"help_text": "Free-text note."},
            "method_version": {"help_text": "Version of the automatic method."},
            "created_at": {"help_text": "When the link was recorded."},
        }

    def choices(self, user) -> dict:
        claims = visible_claims(user)
        return {"claim": claims, "upstream_claim": claims, "upstream_document": visible_documents(user)}

    def get_fields(self):
        fields = super().get_fields()
        if self.instance is not None and not isinstance(self.instance, list | tuple) and hasattr(self.instance, "pk"):
            for name in ("claim", "upstream_claim", "upstream_document"):
                fields[name].read_only = True  # re-pointing a link is a new link
        return fields

    def validate(self, attrs):
        claim = attrs.get("claim", getattr(self.instance, "claim", None))
        up_claim = attrs.get("upstream_claim", getattr(self.instance, "upstream_claim", None))
        up_doc = attrs.get("upstream_document", getattr(self.instance, "upstream_document", None))
        if up_claim is None and up_doc is None:
            raise serializers.ValidationError({"upstream_document": ["Give upstream_claim or upstream_document."]})
        if up_claim is not None and claim is not None and up_claim.pk == claim.pk:
            raise serializers.ValidationError({"upstream_claim": ["A claim cannot link to itself."]})
        if up_claim is not None and up_doc is not None and up_claim.document_id != up_doc.pk:
            raise serializers.ValidationError({"upstream_document": ["The upstream claim belongs to another document."]})
        if self.instance is None and up_claim is not None and ClaimLink.objects.filter(
                claim=claim, upstream_claim=up_claim).exists():
            raise serializers.ValidationError({"upstream_claim": ["This claim is already linked to that claim."]})
        if up_claim is not None and "upstream_document" not in attrs and self.instance is None:
            attrs["upstream_document"] = up_claim.document
        return attrs

    def get_validators(self):
        return []


class ReviewResultSerializer(serializers.Serializer):
    updated = serializers.IntegerField(help_text="How many links changed status.")
    links = ClaimLinkSerializer(many=True, help_text="The links after the change.")


class RelationReviewResultSerializer(serializers.Serializer):
    updated = serializers.IntegerField(help_text="How many relations changed status.")
    relations = RelationSerializer(many=True, help_text="The relations after the change.")


def set_status(obj, status: str, *, user, note: str = "") -> bool:
    """Accept or reject a relation or claim link, attributed to ``user`` in its history."""
    if obj.status == status and not note:
        return False
    if isinstance(obj, ClaimLink):
        obj.set_status(status, user=user, note=note)
        return True
    obj.status = status
    if note:
        obj.note = note
    obj._history_user = user
    obj.save(update_fields=["status", "note"])
    return True


