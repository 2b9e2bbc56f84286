"""The researchers' workbench: documents with their snapshots, relations and claims; the article
with its claims highlighted (right-to-left where the language is); the chain drawn server-side;
history on every object (who changed what); actions that call the same functions as the tasks.

Privacy (issue 17): the admin follows :mod:`provenance.visibility` exactly as the API does.
Non-superusers list and open only what they may see; an object part of which comes from a
snapshot hidden from them (a document's later private version, a claim re-anchored on one, a
relation whose evidence is in one) is shown redacted and read-only; history pages redact the
same fields and never fall back to a hidden object's old versions. Every action declares the
permission it needs (``@admin.action(permissions=...)``), which Django checks before running it.
"""

from __future__ import annotations

import dataclasses

from django.contrib import admin, messages
from django.db.models import Count
from django.http import Http404
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from simple_history.admin import SimpleHistoryAdmin

from provenance.models import (
    Claim,
    ClaimLink,
    Document,
    DocumentURL,
    Publisher,
    Relation,
    ReviewStatus,
    Trace,
)
from provenance.templatetags.naql_workbench import text_dir
from provenance.visibility import (
    ANCHOR_FIELDS,
    DERIVED_FIELDS,
    EVIDENCE_FIELDS,
    ProvenanceViewer,
    request_viewer,
    visible_claims,
    visible_documents,
    visible_links,
    visible_relations,
)
from provenance.visibility import current_viewer as _current_viewer


def current_viewer() -> ProvenanceViewer:
    """The viewer of the admin request being served; anonymous outside a request, so a display
    method reached some other way shows the least."""
    viewer = _current_viewer()
    return viewer if viewer is not None else ProvenanceViewer(None)


def _set_status(request, queryset, status: str) -> int:
    n = 0
    for obj in queryset:
        if obj.status != status:
            obj.status = status
            obj._history_user = request.user
            obj.save(update_fields=["status"])
            n += 1
    return n


@admin.action(description="Accept selected", permissions=["change"])
def accept(modeladmin, request, queryset):
    queryset = modeladmin.get_queryset(request).filter(pk__in=queryset.values("pk"))
    modeladmin.message_user(request, f"{_set_status(request, queryset, ReviewStatus.ACCEPTED)} accepted.")


@admin.action(description="Reject selected", permissions=["change"])
def reject(modeladmin, request, queryset):
    queryset = modeladmin.get_queryset(request).filter(pk__in=queryset.values("pk"))
    modeladmin.message_user(request, f"{_set_status(request, queryset, ReviewStatus.REJECTED)} rejected.")


class PrivacyAdmin(SimpleHistoryAdmin):
    """A history admin that shows each person only what :mod:`provenance.visibility` allows."""

    #: fields of a partly hidden object shown blank (set by subclasses)
    redacted_fields: tuple[str, ...] = ()
    #: search fields left out for non-superusers (they would answer "is this word in hidden text?")
    private_search_fields: tuple[str, ...] = ()

    def visible_queryset(self, qs, viewer: ProvenanceViewer):
        return qs

    def partly_hidden(self, obj, viewer: ProvenanceViewer) -> bool:
        return False

    def redact(self, obj, viewer: ProvenanceViewer) -> None:
        for f in self.redacted_fields:
            field = obj._meta.get_field(f)
            setattr(obj, field.attname, None if field.null or field.is_relation else "")

    def get_queryset(self, request):
        viewer = request_viewer(request)
        qs = super().get_queryset(request)
        return qs if viewer.everything else self.visible_queryset(qs, viewer)

    def get_search_fields(self, request):
        fields = super().get_search_fields(request)
        if request.user.is_superuser:
            return fields
        return [f for f in fields if f not in self.private_search_fields]

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        viewer = request_viewer(request)
        if obj is not None and not viewer.everything and self.partly_hidden(obj, viewer):
            obj._naql_partly_hidden = True
            self.redact(obj, viewer)
        return obj

    def has_change_permission(self, request, obj=None):
        if obj is not None and getattr(obj, "_naql_partly_hidden", False):
            return False  # a redacted copy must never be saved over the real one
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and getattr(obj, "_naql_partly_hidden", False):
            return False
        return super().has_delete_permission(request, obj)

    # -- history pages
    def history_view(self, request, object_id, extra_context=None):
        if not request.user.is_superuser and self.get_object(request, object_id) is None:
            raise Http404  # never the old versions of an object one may not see
        return super().history_view(request, object_id, extra_context)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if not request.user.is_superuser:
            obj = self.get_object(request, object_id)
            record = self.model.history.filter(pk=object_id, history_id=version_id).first()
            if obj is None or record is None or request_viewer(request).withheld_fields(record):
                raise Http404
        return super().history_form_view(request, object_id, version_id, extra_context)

    def set_history_delta_changes(self, request, historical_records, foreign_keys_are_objs=True):
        viewer = request_viewer(request)
        previous = None
        for current in historical_records:
            if previous is None:
                previous = current
                continue
            delta = previous.diff_against(current, foreign_keys_are_objs=foreign_keys_are_objs)
            hidden = viewer.withheld_fields(previous) | viewer.withheld_fields(current)
            if hidden:
                delta = dataclasses.replace(delta, changes=[c for c in delta.changes if c.field not in hidden],
                                            changed_fields=[f for f in delta.changed_fields if f not in hidden])
            helper = self.get_historical_record_context_helper(request, previous)
            previous.history_delta_changes = helper.context_for_delta_changes(delta)
            previous = current


# ---------------------------------------------------------------------------------------------


@admin.register(Publisher)
class PublisherAdmin(SimpleHistoryAdmin):
    list_display = ("name", "kind", "language", "document_count")
    list_filter = ("kind", "language")
    search_fields = ("name", "aliases", "domains")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(n_documents=Count("documents"))

    @admin.display(description="documents", ordering="n_documents")
    def document_count(self, obj):
        return obj.n_documents


class DocumentURLInline(admin.TabularInline):
    model = DocumentURL
    extra = 0
    fields = ("url", "reason")
    classes = ("collapse",)
    verbose_name_plural = "other addresses of this document"


class UpstreamInline(admin.TabularInline):
    model = Relation
    fk_name = "source"
    extra = 0
    verbose_name_plural = "sources this document uses"
    fields = ("type", "target", "status", "recorded", "evidence_words")
    readonly_fields = ("recorded", "evidence_words")
    autocomplete_fields = ("target",)
    show_change_link = True

    def get_queryset(self, request):
        qs = super().get_queryset(request).select_related("source", "target", "recorded_by", "evidence_snapshot")
        return qs if request.user.is_superuser else qs.filter(pk__in=visible_relations(request.user).values("pk"))

    @admin.display(description="recorded by")
    def recorded(self, obj):
        return obj.recorded_by_display if obj.pk else ""

    @admin.display(description="evidence")
    def evidence_words(self, obj):
        """The words that show the relation (when the reader may see them), in their own direction,
        in a column wide enough to read."""
        if not obj.pk or not obj.evidence_text or not current_viewer().sees_evidence(obj):
            return "—"
        return format_html('<div class="nq-evidence" dir="auto" lang="{}">{}</div>', obj.source.language or "und",
                           obj.evidence_text)


class DownstreamInline(UpstreamInline):
    fk_name = "target"
    verbose_name_plural = "documents that use this one"
    fields = ("type", "source", "status", "recorded", "evidence_words")
    autocomplete_fields = ("source",)


class ClaimInline(admin.TabularInline):
    model = Claim
    extra = 0
    classes = ("collapse",)  # the article view above shows them; the table is for editing kind/speaker
    verbose_name_plural = "claims (edit kind and speaker)"
    fields = ("text", "kind", "speaker", "anchor_state", "links_count")
    readonly_fields = ("text", "anchor_state", "links_count")
    show_change_link = True
    can_delete = False

    @admin.display(description="claim")
    def text(self, obj):
        return format_html('<bdi dir="{}" lang="{}">{}</bdi>', text_dir(obj.language), obj.language or "und",
                           obj.exact)

    def get_queryset(self, request):
        qs = super().get_queryset(request).annotate(n_links=Count("links"))
        return qs if request.user.is_superuser else qs.filter(pk__in=visible_claims(request.user).values("pk"))

    @admin.display(description="links")
    def links_count(self, obj):
        return getattr(obj, "n_links", 0)

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Document)
class DocumentAdmin(PrivacyAdmin):
    list_display = ("title_dir", "language", "publisher", "kind", "published_at", "n_snapshots", "n_claims")
    list_filter = ("publisher", "language", "kind", "relations_up__status")
    search_fields = ("url", "urls__url", "title", "claims__exact")
    autocomplete_fields = ("publisher",)
    readonly_fields = ("surt", "url_readable", "public_page", "snapshot_list", "chain_view", "article_view",
                       "created_at", "updated_at")
    inlines = [UpstreamInline, DownstreamInline, ClaimInline, DocumentURLInline]
    actions = ["detect_relations", "segment_claims", "reanchor_latest", "suggest_claim_links"]
    redacted_fields = DERIVED_FIELDS
    private_search_fields = ("claims__exact",)
    # What a reviewer reads first (title, chain, article) on top; the addresses, which are long and
    # rarely edited, folded at the bottom.
    fieldsets = (
        (None, {"fields": ("title", "public_page", ("publisher", "kind", "language"), ("published_at", "byline"))}),
        ("Chain to the origins", {"fields": ("chain_view",)}),
        ("Article with its claims", {"fields": ("article_view",)}),
        ("Snapshots (versions)", {"fields": ("snapshot_list",)}),
        ("Address", {"fields": ("url_readable", "url", "surt"), "classes": ("collapse",)}),
        ("Record", {"fields": ("created_at", "updated_at"), "classes": ("collapse",)}),
    )

    @admin.display(description="address")
    def url_readable(self, obj):
        from archive.admin import readable_url

        return readable_url(obj.url)

    @admin.display(description="public page")
    def public_page(self, obj):
        if not obj.pk:
            return "—"
        return format_html('<a href="/d/{}">/d/{}</a> (provenance page to share)', obj.pk, obj.pk)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("publisher").with_counts()

    def visible_queryset(self, qs, viewer):
        return qs.filter(pk__in=visible_documents(viewer.user).values("pk"))

    def partly_hidden(self, obj, viewer):
        return not viewer.fully_visible(obj)

    def redact(self, obj, viewer):
        for f, v in viewer.document_meta(obj).items():
            setattr(obj, f, v)

    @admin.display(description="title", ordering="title")
    def title_dir(self, obj):
        return format_html('<bdi dir="{}">{}</bdi>', text_dir(obj.language), current_viewer().title(obj))

    @admin.display(description="snapshots", ordering="n_snapshots")
    def n_snapshots(self, obj):
        return obj.n_snapshots

    @admin.display(description="claims", ordering="n_claims")
    def n_claims(self, obj):
        return obj.n_claims

    @admin.display(description="snapshots")
    def snapshot_list(self, obj):
        from archive.uri import uri_to_iri

        rows = [(f"/s/{s.guid}", s.guid, s.captured_at.strftime("%Y-%m-%d %H:%M:%SZ"), uri_to_iri(s.url))
                for s in current_viewer().versions(obj)]
        if not rows:
            return "—"
        return format_html("<ul>{}</ul>", format_html_join(
            "", '<li><a href="{}"><code>{}</code></a> {} UTC <bdi dir="ltr" class="nq-url"><small>{}</small></bdi></li>',
            rows))

    @admin.display(description="chain")
    def chain_view(self, obj):
        from provenance.chain import document_chain

        viewer = current_viewer()
        return mark_safe(render_to_string("provenance/chain.html", {  # noqa: S308 - template autoescapes
            "document": obj, "title": viewer.title(obj), "hops": document_chain(obj, viewer=viewer),
            "dir": text_dir(obj.language)}))

    @admin.display(description="article")
    def article_view(self, obj):
        viewer = current_viewer()
        snap = viewer.latest_snapshot(obj)
        if snap is None:
            return "—"
        return mark_safe(render_to_string("provenance/article.html", {  # noqa: S308 - template autoescapes
            "snapshot": snap, "paragraphs": article_blocks(obj, snap, viewer), "dir": text_dir(obj.language),
            "lang": obj.language, "viewer": viewer}))

    @admin.action(description="Detect relations (attribution rules)", permissions=["change"])
    def detect_relations(self, request, queryset):
        from provenance.detect.attribution import detect_relations

        n = sum(len(detect_relations(doc, user=request.user)) for doc in queryset)
        self.message_user(request, f"{n} relation(s) proposed or confirmed.")

    @admin.action(description="Segment claims on the latest snapshot", permissions=["change"])
    def segment_claims(self, request, queryset):
        from provenance.text.claims import segment_snapshot

        n = 0
        for doc in queryset:
            snap = doc.latest_snapshot()
            if snap is not None:
                n += len(segment_snapshot(snap, doc))
        self.message_user(request, f"{n} new claim(s).")

    @admin.action(description="Re-anchor claims on the latest snapshot", permissions=["change"])
    def reanchor_latest(self, request, queryset):
        from provenance.anchoring import reanchor_document

        counts: dict[str, int] = {}
        for doc in queryset:
            for m in reanchor_document(doc, user=request.user).values():
                counts[m.state] = counts.get(m.state, 0) + 1
        summary = ", ".join(f"{v} {k}" for k, v in sorted(counts.items())) or "nothing to re-anchor"
        self.message_user(request, f"Re-anchored: {summary}.", messages.INFO)

    @admin.action(description="Suggest claim links from upstream relations", permissions=["change"])
    def suggest_claim_links(self, request, queryset):
        from provenance.suggest import run_suggestions

        total = {"links": 0, "created": 0, "updated": 0, "withdrawn": 0, "reviewed": 0, "documents": 0}
        for doc in queryset:
            run = run_suggestions(doc, user=request.user)
            total["links"] += len(run)
            total["documents"] += run.documents
            for k in ("created", "updated", "withdrawn", "reviewed"):
                total[k] += getattr(run, k)
        skipped = queryset.count() - total["documents"]
        self.message_user(
            request,
            f"{total['links']} suggested claim link(s) for {total['documents']} document(s): {total['created']} "
            f"created, {total['updated']} updated, {total['withdrawn']} withdrawn, {total['reviewed']} already "
            f"reviewed (left alone)" + (f"; {skipped} document(s) without snapshot or upstream relation" if skipped
                                        else "") + ".",
            messages.INFO)


def article_blocks(document: Document, snap, viewer: ProvenanceViewer | None = None) -> list[dict]:
    """Article paragraphs of ``snap`` cut into plain and claim pieces, for highlighting (only the
    claims ``viewer`` sees; all when None); the cutting is the public page's."""
    from provenance.web.page import article_blocks as cut

    claims = [c for c in Claim.objects.filter(document=document).select_related("document", "snapshot")
              .prefetch_related("links") if viewer is None or viewer.sees_claim(c)]
    return cut(snap, claims, lambda c: {
        "url": reverse("admin:provenance_claim_change", args=[c.pk]),
        "linked": any(ln.status == ReviewStatus.ACCEPTED for ln in c.links.all())})


class ClaimLinkInline(admin.TabularInline):
    model = ClaimLink
    fk_name = "claim"
    extra = 0
    fields = ("upstream_claim", "upstream_document", "relation", "origin", "status", "method", "confidence", "note")
    autocomplete_fields = ("upstream_claim", "upstream_document")
    show_change_link = True

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        return qs if request.user.is_superuser else qs.filter(pk__in=visible_links(request.user).values("pk"))


@admin.register(Claim)
class ClaimAdmin(PrivacyAdmin):
    list_display = ("text", "document", "kind", "language", "speaker", "anchor_state", "snapshot_guid")
    list_filter = ("kind", "language", "anchor_state", "document__publisher", "links__status")
    search_fields = ("exact", "speaker", "document__url", "document__title")
    autocomplete_fields = ("document",)
    readonly_fields = ("snapshot", "selectors_view", "chain_view", "anchor_snapshot", "anchor_exact", "anchor_start",
                       "anchor_end", "anchor_score", "created_at")
    inlines = [ClaimLinkInline]
    actions = []  # a claim has no review status: accept/reject belong to its links and relations
    redacted_fields = ANCHOR_FIELDS

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("document", "snapshot")

    def visible_queryset(self, qs, viewer):
        return qs.filter(pk__in=visible_claims(viewer.user).values("pk"))

    def partly_hidden(self, obj, viewer):
        return not viewer.sees_anchor(obj)

    @admin.display(description="claim", ordering="exact")
    def text(self, obj):
        return format_html('<span dir="{}">{}</span>', text_dir(obj.language), str(obj))

    @admin.display(description="snapshot")
    def snapshot_guid(self, obj):
        return obj.snapshot.guid

    @admin.display(description="selectors")
    def selectors_view(self, obj):
        return format_html('<div dir="{}"><span style="color:#888">…{}</span><mark>{}</mark>'
                           '<span style="color:#888">{}…</span></div><small>start {} · end {}</small>',
                           text_dir(obj.language), obj.prefix, obj.exact, obj.suffix, obj.start, obj.end)

    @admin.display(description="chain")
    def chain_view(self, obj):
        from provenance.chain import claim_chain

        return mark_safe(render_to_string("provenance/claim_chain.html", {  # noqa: S308 - template autoescapes
            "claim": obj, "hops": claim_chain(obj, viewer=current_viewer()), "dir": text_dir(obj.language)}))


@admin.register(Relation)
class RelationAdmin(PrivacyAdmin):
    list_display = ("source", "type", "target", "status", "recorded", "confidence", "created_at")
    list_select_related = ("source", "target", "recorded_by")  # "recorded by" of manual relations
    list_filter = ("type", "status", "detector", "source__publisher", "source__language")
    search_fields = ("source__url", "target__url", "evidence_text", "evidence_url")
    autocomplete_fields = ("source", "target")
    readonly_fields = ("evidence_snapshot", "evidence", "detector", "detector_version", "rule", "created_at")
    actions = [accept, reject]
    redacted_fields = EVIDENCE_FIELDS
    private_search_fields = ("evidence_text",)

    def visible_queryset(self, qs, viewer):
        return qs.filter(pk__in=visible_relations(viewer.user).values("pk"))

    def partly_hidden(self, obj, viewer):
        return not viewer.sees_evidence(obj)

    def redact(self, obj, viewer):
        super().redact(obj, viewer)
        obj.evidence = []

    @admin.display(description="recorded by")
    def recorded(self, obj):
        return obj.recorded_by_display

    def save_model(self, request, obj, form, change):
        if not change and not obj.detector and obj.recorded_by_id is None:
            obj.recorded_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(ClaimLink)
class ClaimLinkAdmin(PrivacyAdmin):
    list_display = ("claim", "relation", "upstream_document", "origin", "status", "method_label", "confidence")
    list_select_related = ("claim", "upstream_document", "created_by")
    list_filter = ("status", "relation", "origin", "method", "claim__document__publisher", "claim__language")
    search_fields = ("claim__exact", "upstream_claim__exact", "upstream_document__url", "note")
    autocomplete_fields = ("claim", "upstream_claim", "upstream_document")
    readonly_fields = ("signals", "created_at")
    actions = [accept, reject]

    def visible_queryset(self, qs, viewer):
        return qs.filter(pk__in=visible_links(viewer.user).values("pk"))

    @admin.display(description="how")
    def method_label(self, obj):
        return obj.method_display

    def save_model(self, request, obj, form, change):
        if not change and obj.created_by_id is None:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


# ---------------------------------------------------------------------------------------------
# traces


@admin.register(Trace)
class TraceAdmin(admin.ModelAdmin):
    """Traces with their live progress, what they reached, what failed and what stays unresolved;
    "Run again" re-runs a finished trace (new upstream versions are captured when older than the
    reuse age)."""

    list_display = ("guid", "state", "short_url", "created_by", "created_at", "duration", "n_documents",
                    "n_failures", "n_unresolved", "stopped_by")
    list_filter = ("state", "stopped_by")
    search_fields = ("guid", "url")
    readonly_fields = ("guid", "url", "created_by", "state", "options", "created_at", "started_at", "finished_at",
                       "heartbeat_at", "runs", "document", "progress_view", "documents_view", "failures_view",
                       "unresolved_view", "stopped_by", "timings", "alignment", "error", "page_link")
    exclude = ("surt", "progress", "documents", "relations", "nodes", "failures", "unresolved")
    actions = ["run_again"]

    def has_add_permission(self, request):
        return False  # traces start from the home page, the API or the command

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if not request.user.is_superuser:  # the visibility rule of the API: one's own traces
            qs = qs.filter(pk__in=Trace.objects.visible_to(request.user).values("pk"))
        return qs.select_related("created_by").annotate(n_docs=Count("documents"))

    @admin.display(description="URL")
    def short_url(self, obj):
        return obj.url if len(obj.url) <= 80 else obj.url[:77] + "…"

    @admin.display(description="seconds")
    def duration(self, obj):
        d = obj.duration_seconds
        return f"{d:.1f}" if d is not None else "—"

    @admin.display(description="documents", ordering="n_docs")
    def n_documents(self, obj):
        return obj.n_docs

    @admin.display(description="failed / not followed")
    def n_failures(self, obj):
        return len(obj.failures or [])

    @admin.display(description="unresolved names")
    def n_unresolved(self, obj):
        return len(obj.unresolved or [])

    @admin.display(description="page")
    def page_link(self, obj):
        return format_html('<a href="/traces/{}">/traces/{}</a>', obj.guid, obj.guid)

    @admin.display(description="progress")
    def progress_view(self, obj):
        p = obj.progress or {}
        rows = [(s.get("at"), s.get("phase"), s.get("message")) for s in p.get("steps", [])]
        head = format_html("<p>phase <strong>{}</strong>, hop {}, {} document(s), {} attempt(s)</p>",
                           p.get("phase", "?"), p.get("hop"), p.get("documents", 0), p.get("attempts", 0))
        return head + format_html("<ol>{}</ol>", format_html_join("", "<li>[{}s] {}: {}</li>", rows))

    @admin.display(description="documents reached")
    def documents_view(self, obj):
        rows = [(reverse("admin:provenance_document_change", args=[n["document"]]) if n.get("document") else "#",
                 n.get("hop"), n.get("outcome"), n.get("url"), n.get("snapshot") or "—") for n in obj.nodes or []]
        return format_html("<ul>{}</ul>", format_html_join(
            "", '<li>hop {1}, {2}: <a href="{0}">{3}</a> (snapshot <code>{4}</code>)</li>', rows)) if rows else "—"

    @admin.display(description="failed or not followed")
    def failures_view(self, obj):
        rows = [(f.get("code"), f.get("url"), f.get("message")) for f in obj.failures or []]
        return format_html("<ul>{}</ul>", format_html_join("", "<li><code>{}</code> {} — {}</li>", rows)) \
            if rows else "—"

    @admin.display(description="unresolved names")
    def unresolved_view(self, obj):
        rows = [(u.get("message"),) for u in obj.unresolved or []]
        return format_html("<ul>{}</ul>", format_html_join("", "<li>{}</li>", rows)) if rows else "—"

    @admin.action(description="Run again", permissions=["change"])
    def run_again(self, request, queryset):
        from provenance.trace import enqueue_trace

        n = 0
        for t in queryset:
            if t.done:
                t.reset()
                enqueue_trace(t)
                n += 1
        self.message_user(request, f"{n} trace(s) queued to run again.")
