"""Chains (JSON shapes of :mod:`provenance.chain`), PROV-JSON and history for the REST API.

The serializers describe, and render, the dicts ``provenance.chain.trace`` and ``claim_dict``
produce, so the OpenAPI description and the responses cannot drift apart. Snapshot IDs the
caller may not see are blanked (with the text taken from them).
"""

from __future__ import annotations

import json

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from archive.uri import public_origin
from provenance import chain, export
from provenance.api_serializers import SelectorSerializer
from provenance.visibility import viewer_for, visible_snapshot_guids

# --------------------------------------------------------------------------------------------
# chain shapes


class SnapRefSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="Snapshot ID.")
    url = serializers.CharField(help_text="URL captured.")
    captured_at = serializers.DateTimeField(help_text="Capture time (UTC).")


class PublisherRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="Publisher ID.")
    name = serializers.CharField(help_text="Publisher name.")
    kind = serializers.CharField(help_text="Publisher kind.")


class EvidenceSerializer(serializers.Serializer):
    snapshot = serializers.CharField(allow_null=True, help_text="Snapshot ID where the evidence was seen.")
    text = serializers.CharField(allow_blank=True, help_text="The words showing the relation.")
    url = serializers.CharField(allow_blank=True, help_text="The link or embed URL as written.")
    start = serializers.IntegerField(required=False, allow_null=True, help_text="Start offset of the evidence.")
    end = serializers.IntegerField(required=False, allow_null=True, help_text="End offset of the evidence.")


class RelationRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="Relation ID.")
    type = serializers.CharField(help_text="translation_of, quotes, cites, attributes_to, republishes, derived_from.")
    status = serializers.CharField(help_text="Review status.")
    url = serializers.CharField(help_text="URL of the other document.")
    document_id = serializers.IntegerField(help_text="ID of the other document.")
    title = serializers.CharField(allow_blank=True, help_text="Title of the other document.")
    language = serializers.CharField(allow_blank=True, help_text="Language of the other document.")
    confidence = serializers.FloatField(help_text="Confidence in [0, 1].")
    recorded_by = serializers.CharField(help_text="Person or detector that recorded it.")
    rule = serializers.CharField(allow_blank=True, help_text="Attribution rule that fired.")
    evidence = EvidenceSerializer(help_text="Evidence of the relation.")


class DocHopSerializer(serializers.Serializer):
    relation_id = serializers.IntegerField(help_text="Relation ID of this hop.")
    depth = serializers.IntegerField(help_text="1 for a direct upstream, 2 for its upstream …")
    type = serializers.CharField(help_text="Relation type.")
    status = serializers.CharField(help_text="Review status.")
    url = serializers.CharField(help_text="Upstream document URL.")
    document_id = serializers.IntegerField(help_text="Upstream document ID.")
    language = serializers.CharField(allow_blank=True, help_text="Upstream document language.")
    title = serializers.CharField(allow_blank=True, help_text="Upstream document title.")
    evidence = EvidenceSerializer(help_text="Evidence of the relation.")
    recorded_by = serializers.CharField(help_text="Person or detector that recorded it.")
    cycle = serializers.BooleanField(help_text="True when this hop closes a cycle (not walked further).")
    upstream = serializers.SerializerMethodField(help_text="Hops further upstream (same shape).")

    def get_upstream(self, hop) -> list:
        return DocHopSerializer(hop["upstream"], many=True).data


class ClaimHopSerializer(serializers.Serializer):
    link_id = serializers.IntegerField(help_text="Claim link ID of this hop.")
    depth = serializers.IntegerField(help_text="1 for a direct upstream, 2 for its upstream …")
    relation = serializers.CharField(help_text="translation, paraphrase or quote.")
    origin = serializers.BooleanField(help_text="The upstream is the first known appearance.")
    status = serializers.CharField(help_text="Review status.")
    method = serializers.CharField(help_text="manual, or the automatic method and version.")
    confidence = serializers.FloatField(help_text="Confidence in [0, 1].")
    url = serializers.CharField(help_text="Upstream document URL.")
    document_id = serializers.IntegerField(help_text="Upstream document ID.")
    language = serializers.CharField(allow_blank=True, help_text="Language of the upstream text.")
    claim_id = serializers.IntegerField(allow_null=True, help_text="Upstream claim ID, when known.")
    exact = serializers.CharField(allow_null=True, help_text="Upstream claim text, when known.")
    snapshot = serializers.CharField(allow_null=True, help_text="Snapshot holding the upstream text.")
    captured_at = serializers.DateTimeField(allow_null=True, help_text="Its capture time.")
    cycle = serializers.BooleanField(help_text="True when this hop closes a cycle.")
    upstream = serializers.SerializerMethodField(help_text="Hops further upstream (same shape).")

    def get_upstream(self, hop) -> list:
        return ClaimHopSerializer(hop["upstream"], many=True).data


extend_schema_field(DocHopSerializer(many=True))(DocHopSerializer.get_upstream)
extend_schema_field(ClaimHopSerializer(many=True))(ClaimHopSerializer.get_upstream)


class ClaimOriginSerializer(serializers.Serializer):
    url = serializers.CharField(help_text="URL of the origin document.")
    snapshot = serializers.CharField(allow_null=True, help_text="Snapshot holding the origin text.")
    exact = serializers.CharField(allow_null=True, help_text="Origin text, when known.")
    origin = serializers.BooleanField(help_text="Flagged as origin (else: the furthest known hop).")


class ChainAnchorSerializer(serializers.Serializer):
    state = serializers.CharField(help_text="Re-anchoring outcome.")
    snapshot = serializers.CharField(allow_null=True, help_text="Newest snapshot it was re-anchored on.")
    exact = serializers.CharField(allow_null=True, help_text="Text found there.")
    score = serializers.FloatField(allow_null=True, help_text="Match score.")


class ClaimChainSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="Claim ID.")
    exact = serializers.CharField(allow_null=True, help_text="Claim text.")
    kind = serializers.CharField(help_text="Kind of claim.")
    language = serializers.CharField(allow_blank=True, help_text="Language.")
    speaker = serializers.CharField(allow_blank=True, help_text="Who the sentence says is speaking.")
    snapshot = serializers.CharField(allow_null=True, help_text="Snapshot the selectors point into.")
    selectors = SelectorSerializer(many=True, help_text="W3C Web Annotation selectors.")
    anchor = ChainAnchorSerializer(help_text="Re-anchoring state.")
    links = ClaimHopSerializer(many=True, help_text="Accepted upstream links, as a tree.")
    origins = ClaimOriginSerializer(many=True, help_text="Where the claim first appeared.")


class TraceDocumentSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="Document ID.")
    url = serializers.CharField(help_text="Canonical URL.")
    title = serializers.CharField(allow_blank=True, help_text="Title.")
    language = serializers.CharField(allow_blank=True, help_text="Language.")
    kind = serializers.CharField(help_text="Kind.")
    byline = serializers.CharField(allow_blank=True, help_text="Byline.")
    published = serializers.DateTimeField(allow_null=True, help_text="Publication date the page states.")
    publisher = PublisherRefSerializer(allow_null=True, help_text="Publisher.")
    snapshots = SnapRefSerializer(many=True, help_text="Its versions you may see.")
    urls = serializers.ListField(child=serializers.CharField(), help_text="All its URLs.")


class TraceRelationsSerializer(serializers.Serializer):
    upstream = RelationRefSerializer(many=True, help_text="Documents it uses.")
    downstream = RelationRefSerializer(many=True, help_text="Documents that use it.")


class OriginDocSerializer(serializers.Serializer):
    url = serializers.CharField(help_text="Origin document URL.")
    document_id = serializers.IntegerField(help_text="Origin document ID.")


class DocumentChainSerializer(serializers.Serializer):
    document = TraceDocumentSerializer(help_text="The document.")
    relations = TraceRelationsSerializer(help_text="Direct relations, both ways.")
    chain = DocHopSerializer(many=True, help_text="The upstream tree of live relations.")
    origins = OriginDocSerializer(many=True, help_text="Documents at the ends of the tree.")
    claims = ClaimChainSerializer(many=True, help_text="Its claims, each with its upstream links.")


PROV_JSON_SCHEMA = {"type": "object", "additionalProperties": True,
                    "description": "W3C PROV-JSON document (entity, activity, agent, wasDerivedFrom …)."}


# --------------------------------------------------------------------------------------------
# redaction and rendering


def _collect(o, out: set[str]) -> None:
    if isinstance(o, dict):
        if isinstance(o.get("snapshot"), str):
            out.add(o["snapshot"])
        for s in o.get("snapshots", []) if isinstance(o.get("snapshots"), list) else []:
            out.add(s["id"])
        for v in o.values():
            _collect(v, out)
    elif isinstance(o, list):
        for v in o:
            _collect(v, out)


def _blank(o, visible: set[str]) -> None:
    if isinstance(o, dict):
        snap = o.get("snapshot")
        if isinstance(snap, str) and snap not in visible:
            o["snapshot"] = None
            for key, empty in (("exact", None), ("text", ""), ("captured_at", None), ("speaker", ""),
                               ("selectors", []), ("start", None), ("end", None)):
                if key in o:
                    o[key] = empty
        if isinstance(o.get("snapshots"), list):
            o["snapshots"] = [s for s in o["snapshots"] if s["id"] in visible]
        for v in o.values():
            _blank(v, visible)
    elif isinstance(o, list):
        for v in o:
            _blank(v, visible)


def redact(data: dict, user) -> dict:
    """Second line of defence after :mod:`provenance.visibility` (which ``chain`` already
    applies): blank every snapshot ID the user may not see and the text taken from it."""
    if getattr(user, "is_superuser", False):
        return data
    guids: set[str] = set()
    _collect(data, guids)
    if guids:
        _blank(data, visible_snapshot_guids(user, guids))
    return data


def _user(user_or_viewer):
    return getattr(user_or_viewer, "user", user_or_viewer)


def document_chain_json(document, user) -> dict:
    """``user``: a user or a ProvenanceViewer."""
    viewer = viewer_for(user)
    return DocumentChainSerializer(redact(chain.trace(document, viewer), _user(user))).data


def claim_chain_json(claim, user) -> dict:
    viewer = viewer_for(user)
    return ClaimChainSerializer(redact(chain.claim_dict(claim, viewer), _user(user))).data


def document_prov_json(document, user=None, request=None) -> dict:
    """PROV-JSON as ``user`` may see it; identifiers on :func:`archive.uri.public_origin` of ``request``."""
    return json.loads(export.to_prov_json(export.document_prov(document, viewer=viewer_for(user),
                                                               base=public_origin(request))))


def claim_prov_json(claim, user=None, request=None) -> dict:
    return json.loads(export.to_prov_json(export.claim_prov(claim, viewer=viewer_for(user),
                                                            base=public_origin(request))))


# --------------------------------------------------------------------------------------------
# history (django-simple-history)

HISTORY_TYPES = {"+": "created", "~": "changed", "-": "deleted"}


class FieldChangeSerializer(serializers.Serializer):
    field = serializers.CharField(help_text="Field name.")
    old = serializers.JSONField(allow_null=True, help_text="Value before (IDs for references).")
    new = serializers.JSONField(allow_null=True, help_text="Value after.")
    withheld = serializers.BooleanField(required=False, help_text="Present (true) when a value came from a "
                                                                  "snapshot you may not see; it is given as null.")


class HistoryEntrySerializer(serializers.Serializer):
    history_id = serializers.IntegerField(help_text="ID of this history record.")
    date = serializers.DateTimeField(help_text="When the change was made (UTC).")
    type = serializers.ChoiceField(choices=["created", "changed", "deleted"], help_text="What happened.")
    user = serializers.CharField(allow_null=True, help_text="Username of who made the change (null: a process).")
    reason = serializers.CharField(allow_null=True, help_text="Change reason, if recorded.")
    changes = FieldChangeSerializer(many=True, help_text="Fields changed against the previous record.")


class HistoryPageSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="Number of history records.")
    next = serializers.CharField(allow_null=True, help_text="URL of the next page.")
    previous = serializers.CharField(allow_null=True, help_text="URL of the previous page.")
    results = HistoryEntrySerializer(many=True, help_text="Newest first.")


def _jsonable(v):
    if v is None or isinstance(v, bool | int | float | str | list | dict):
        return v
    return str(v)


def history_entries(records, older=None, viewer=None) -> list[dict]:
    """``records`` newest first, each diffed against the next one (the last against ``older``,
    the record before it, or None): no query per record, unlike ``prev_record``. Values
    ``viewer`` may not read (:meth:`ProvenanceViewer.withheld_fields`) are given as null."""
    records = list(records)
    viewer = viewer_for(viewer)
    out = []
    for rec, prev in zip(records, [*records[1:], older], strict=True):
        changes = []
        if prev is not None:
            delta = rec.diff_against(prev)
            hide_new, hide_old = viewer.withheld_fields(rec), viewer.withheld_fields(prev)
            for c in delta.changes:
                change = {"field": c.field, "old": None if c.field in hide_old else _jsonable(c.old),
                          "new": None if c.field in hide_new else _jsonable(c.new)}
                if c.field in hide_new or c.field in hide_old:
                    change["withheld"] = True
                changes.append(change)
        out.append({"history_id": rec.history_id, "date": rec.history_date,
                    "type": HISTORY_TYPES.get(rec.history_type, rec.history_type),
                    "user": rec.history_user.get_username() if rec.history_user_id else None,
                    "reason": rec.history_change_reason, "changes": changes})
    return out
