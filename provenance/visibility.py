"""What of provenance a person may see: documents, claims, relations, links, chains, history.

Built on :mod:`archive.visibility` (the snapshot rule); every serializer, view, admin page,
export (chain JSON, PROV), history endpoint and template of ``provenance`` asks here. The rule:

* a **document** is hidden when every live capture of its URLs is hidden from the person (a
  document with no capture at all is visible); a visible document whose versions the person
  cannot all see is shown with its metadata (title, byline, publication date) taken from
  what they can see: a value that occurs only in hidden versions is replaced by the latest
  visible version's (see :meth:`ProvenanceViewer.document_meta`);
* a **claim** is visible when its snapshot and its document are; its re-anchoring on a hidden
  version is blanked (:meth:`ProvenanceViewer.anchor`);
* a **relation** is visible when both documents are; its evidence (text, offsets, snapshot) is
  blanked when the evidence snapshot is hidden;
* a **claim link** is visible when its claim, its upstream claim (if any) and its upstream
  document are;
* **history** rows are redacted field by field with the same rules
  (:meth:`ProvenanceViewer.withheld_fields`).

API for views, templates, exports (``user`` may be None/anonymous)::

    viewer = viewer_for(user)                        # ProvenanceViewer, memoised per object
    viewer = request_viewer(request)                 # the same, made once per request
    viewer.sees_document(doc) / sees_claim(c) / sees_relation(r) / sees_link(link) / sees(snap)
    viewer.document_meta(doc) -> {"title", "byline", "published_at"}
    viewer.versions(doc) -> [Snapshot]               # visible versions, oldest first
    viewer.latest_snapshot(doc) -> Snapshot | None   # latest visible version
    viewer.claim_fields(claim) -> dict | None        # exact, prefix, suffix, speaker, selectors …
    viewer.anchor(claim) -> dict                     # re-anchoring, blanked when hidden
    visible_documents(user), visible_claims(user), visible_relations(user), visible_links(user)
    EVERYONE                                         # the viewer of commands run by the operator
    current_viewer() / display_title(doc)            # the request being served (CurrentRequestMiddleware)
"""

from __future__ import annotations

from contextvars import ContextVar

from django.db.models import BooleanField, Exists, ExpressionWrapper, OuterRef, Q, Value

from archive.models import Snapshot
from archive.visibility import Viewer, sees_everything, visible_snapshots
from provenance.models import Claim, ClaimLink, Document, Relation

#: Document fields filled from its newest capture (``provenance.documents.document_for_snapshot``).
DERIVED_FIELDS = ("title", "byline", "published_at")
#: Claim fields describing its re-anchoring on a newer snapshot.
ANCHOR_FIELDS = ("anchor_snapshot", "anchor_exact", "anchor_start", "anchor_end")
#: Claim fields holding text of its own snapshot.
CLAIM_TEXT_FIELDS = ("exact", "prefix", "suffix", "speaker", "start", "end", "snapshot")
#: Relation fields taken from the evidence snapshot.
EVIDENCE_FIELDS = ("evidence_snapshot", "evidence_text", "evidence_start", "evidence_end", "evidence")


# --------------------------------------------------------------------------------------------
# querysets


def hidden_document_ids(user) -> set[int]:
    """Documents every live capture of which is hidden from ``user``."""
    if sees_everything(user):
        return set()
    private = Snapshot.objects.live().filter(private_to_group__isnull=False)
    if user is not None and user.is_authenticated:
        private = private.exclude(private_to_group__in=user.groups.all())
    surts = set(private.values_list("surt", flat=True).distinct())
    if not surts:
        return set()
    surts -= set(visible_snapshots(user).filter(surt__in=surts).values_list("surt", flat=True))
    if not surts:
        return set()
    hidden = set(Document.objects.filter(Q(surt__in=surts) | Q(urls__surt__in=surts)).values_list("pk", flat=True))
    if hidden:  # a document with one visible capture under another of its URLs stays visible
        seen = set()
        for doc in Document.objects.filter(pk__in=hidden).prefetch_related("urls"):
            keys = {doc.surt, *(u.surt for u in doc.urls.all())}
            if visible_snapshots(user).filter(surt__in=keys).exists():
                seen.add(doc.pk)
        hidden -= seen
    return hidden


def visible_documents(user):
    hidden = hidden_document_ids(user)
    return Document.objects.exclude(pk__in=hidden) if hidden else Document.objects.all()


def visible_claims(user):
    if sees_everything(user):
        return Claim.objects.all()
    hidden = hidden_document_ids(user)
    qs = Claim.objects.filter(snapshot__in=visible_snapshots(user))
    return qs.exclude(document__in=hidden) if hidden else qs


def visible_relations(user):
    hidden = hidden_document_ids(user)
    qs = Relation.objects.all()
    return qs.exclude(source__in=hidden).exclude(target__in=hidden) if hidden else qs


def visible_links(user):
    if sees_everything(user):
        return ClaimLink.objects.all()
    claims = visible_claims(user)
    hidden = hidden_document_ids(user)
    qs = ClaimLink.objects.filter(claim__in=claims).filter(Q(upstream_claim__isnull=True) | Q(upstream_claim__in=claims))
    return qs.exclude(upstream_document__in=hidden) if hidden else qs


def with_snapshot_visibility(qs, user, *fields: str):
    """Annotate ``<field>_visible`` (may ``user`` see the snapshot ``<field>`` points to?) for
    each snapshot foreign key in ``fields``: one subquery instead of a query per row."""
    if sees_everything(user):
        return qs.annotate(**{f"{f}_visible": Value(True) for f in fields})
    visible = visible_snapshots(user)
    return qs.annotate(**{f"{f}_visible": Exists(visible.filter(pk=OuterRef(f"{f}_id"))) for f in fields})


def visible_snapshot_guids(user, guids: set[str]) -> set[str]:
    return set(visible_snapshots(user).filter(guid__in=guids).values_list("guid", flat=True))


# --------------------------------------------------------------------------------------------
# one person's view


class ProvenanceViewer(Viewer):
    """What one person sees of provenance objects; memoised, so make one per request."""

    def __init__(self, user):
        super().__init__(user)
        self._hidden_docs: set[int] | None = None
        self._doc_values: dict[int, tuple[list[Snapshot], dict[str, set], dict[str, set]]] = {}
        self._docs: dict[int, Document | None] = {}

    # -- documents
    @property
    def hidden_documents(self) -> set[int]:
        if self._hidden_docs is None:
            self._hidden_docs = set() if self.everything else hidden_document_ids(self.user)
        return self._hidden_docs

    def sees_document(self, doc) -> bool:
        if doc is None:
            return False
        pk = doc.pk if isinstance(doc, Document) else doc
        return pk not in self.hidden_documents

    def prime_documents(self, docs) -> None:
        """Load what :meth:`document_meta` and :meth:`versions` need for many documents in two
        queries (their ``urls`` are best prefetched)."""
        docs = [d for d in docs if d.pk not in self._doc_values]
        if not docs or self.everything:
            return
        keys_of = {d.pk: {d.surt, *(u.surt for u in d.urls.all())} for d in docs}
        all_keys = set().union(*keys_of.values())
        snaps = list(Snapshot.objects.live().filter(surt__in=all_keys)
                     .annotate(has_text=ExpressionWrapper(~Q(text=""), output_field=BooleanField()))
                     .order_by("captured_at", "pk")
                     .only("pk", "guid", "surt", "private_to_group_id", "withdrawn_at", "captured_at", "url",
                           "is_requisite", "status", *DERIVED_FIELDS))
        self.prime(s.pk for s in snaps)
        for d in docs:
            mine = [s for s in snaps if s.surt in keys_of[d.pk]]
            seen = [s for s in mine if self.sees(s.pk)]
            hidden = [s for s in mine if not self.sees(s.pk)]
            vis_vals = {f: {getattr(s, f) for s in seen if getattr(s, f)} for f in DERIVED_FIELDS}
            hid_vals = {f: {getattr(s, f) for s in hidden if getattr(s, f)} - vis_vals[f] for f in DERIVED_FIELDS}
            # the versions, as Document.snapshots() chooses them
            versions = [s for s in seen if not s.is_requisite and s.status == 200 and s.has_text]
            self._doc_values[d.pk] = (versions, hid_vals, vis_vals)

    def _values(self, doc: Document):
        """(visible versions oldest first, hidden-only values per derived field, visible values)."""
        if doc.pk not in self._doc_values:
            self.prime_documents([doc])
        return self._doc_values[doc.pk]

    def fully_visible(self, doc: Document) -> bool:
        """Does this person see every capture of the document (so its row can be shown as is)?"""
        if self.everything:
            return True
        return not any(self._values(doc)[1].values())

    def document_meta(self, doc: Document) -> dict:
        """``title``, ``byline``, ``published_at`` as this person may see them."""
        meta = {f: getattr(doc, f) for f in DERIVED_FIELDS}
        if self.everything:
            return meta
        versions, hid_vals, _ = self._values(doc)
        latest = versions[-1] if versions else None
        for f in DERIVED_FIELDS:
            if meta[f] and meta[f] in hid_vals[f]:
                meta[f] = getattr(latest, f, None) or (None if f == "published_at" else "")
        return meta

    def title(self, doc: Document) -> str:
        return self.document_meta(doc)["title"] or doc.url

    def versions(self, doc: Document) -> list[Snapshot]:
        """The document's versions (as ``Document.snapshots``) this person may see, oldest first."""
        if self.everything:
            return list(doc.snapshots())
        return self._values(doc)[0]

    def latest_snapshot(self, doc: Document) -> Snapshot | None:
        if self.everything:
            return doc.latest_snapshot()
        versions = self.versions(doc)
        return Snapshot.objects.get(pk=versions[-1].pk) if versions else None

    # -- claims, relations, links
    def sees_claim(self, claim) -> bool:
        if claim is None:
            return False
        return self.sees(claim.snapshot_id) and self.sees_document(claim.document_id)

    def sees_relation(self, r: Relation) -> bool:
        return self.sees_document(r.source_id) and self.sees_document(r.target_id)

    def sees_link(self, link: ClaimLink) -> bool:
        if not self.sees_document(link.upstream_document_id) or not self.sees_claim(link.claim):
            return False
        return link.upstream_claim_id is None or self.sees_claim(link.upstream_claim)

    def sees_evidence(self, r: Relation) -> bool:
        return r.evidence_snapshot_id is None or self.sees(r.evidence_snapshot_id)

    def sees_anchor(self, claim: Claim) -> bool:
        return claim.anchor_snapshot_id is None or self.sees(claim.anchor_snapshot_id)

    def claim_fields(self, claim: Claim) -> dict | None:
        """The claim's text and selectors (None when the claim itself is hidden)."""
        if not self.sees_claim(claim):
            return None
        return {"exact": claim.exact, "prefix": claim.prefix, "suffix": claim.suffix, "speaker": claim.speaker,
                "selectors": claim.selectors()}

    def anchor(self, claim: Claim) -> dict:
        """Re-anchoring state: snapshot ID, text and offsets blanked when that snapshot is hidden."""
        if not self.sees_anchor(claim):
            return {"state": claim.anchor_state, "snapshot": None, "exact": None, "start": None, "end": None,
                    "score": claim.anchor_score}
        return {"state": claim.anchor_state,
                "snapshot": claim.anchor_snapshot.guid if claim.anchor_snapshot_id else None,
                "exact": claim.anchor_exact or None, "start": claim.anchor_start, "end": claim.anchor_end,
                "score": claim.anchor_score}

    # -- history
    def withheld_fields(self, record) -> set[str]:
        """Fields of one django-simple-history record this person may not read."""
        if self.everything:
            return set()
        model = record.instance_type
        out: set[str] = set()
        if model is Document:
            if record.id not in self._docs:
                self._docs[record.id] = Document.objects.filter(pk=record.id).first()
            doc = self._docs[record.id]
            if doc is not None:
                hid_vals = self._values(doc)[1]
                out |= {f for f in DERIVED_FIELDS if getattr(record, f) and getattr(record, f) in hid_vals[f]}
        elif model is Claim:
            if record.snapshot_id is not None and not self.sees(record.snapshot_id):
                out |= set(CLAIM_TEXT_FIELDS)
            if record.anchor_snapshot_id is not None and not self.sees(record.anchor_snapshot_id):
                out |= set(ANCHOR_FIELDS)
        elif model is Relation:
            if record.evidence_snapshot_id is not None and not self.sees(record.evidence_snapshot_id):
                out |= set(EVIDENCE_FIELDS)
        return out


class _Everyone(ProvenanceViewer):
    """The operator's view (management commands, superuser exports): nothing withheld."""

    def __init__(self):
        super().__init__(None)
        self.everything = True


EVERYONE = _Everyone()


def request_viewer(request) -> ProvenanceViewer:
    """The viewer of ``request.user``, made once per request (DRF or Django request)."""
    viewer = getattr(request, "_naql_viewer", None)
    user = getattr(request, "user", None)
    if viewer is None or viewer.user is not user:
        viewer = ProvenanceViewer(user)
        request._naql_viewer = viewer
    return viewer


_request: ContextVar = ContextVar("naql_request", default=None)


class CurrentRequestMiddleware:
    """Remembers the request being served, so that :func:`display_title` (``Document.__str__``,
    which the admin prints in lists, autocompletes and inlines) can ask its viewer."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _request.set(request)
        try:
            return self.get_response(request)
        finally:
            _request.reset(token)


def current_viewer() -> ProvenanceViewer | None:
    """The viewer of the request being served (None outside a request: commands, tasks)."""
    request = _request.get()
    return request_viewer(request) if request is not None else None


def display_title(doc: Document) -> str:
    """The document's title (or URL) as the person being served may see it; the operator's view
    outside a request."""
    viewer = current_viewer()
    if viewer is None or viewer.everything:
        return doc.title or doc.url
    return viewer.title(doc)


def viewer_for(user_or_viewer) -> ProvenanceViewer:
    """A :class:`ProvenanceViewer` for ``user`` (or the viewer itself when given one)."""
    if isinstance(user_or_viewer, ProvenanceViewer):
        return user_or_viewer
    return ProvenanceViewer(user_or_viewer)
