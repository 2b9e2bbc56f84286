"""Archive admin: snapshots are read-only evidence; jobs show their state machine; watches editable.

Privacy (issue 17): non-superusers see here only the snapshots :mod:`archive.visibility` lets
them see (withdrawn ones included, as the admin is where withdrawals are reviewed), and the jobs
and withdrawals of those snapshots; "view snapshot" is a right to use these pages, not to read
another group's captures. Actions declare their permission (``@admin.action(permissions=…)``).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin
from django.contrib.auth.models import Group
from django.db.models import Q
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.html import format_html

from archive.errors import ArchiveError
from archive.jobs import submit
from archive.models import CaptureJob, Snapshot, WarcFile, Watch, WithdrawalLog
from archive.uri import uri_to_iri
from archive.visibility import restrict, sees_everything, visible_snapshots


def readable_url(url: str, limit: int = 0) -> str:
    """A URL as people read it (Arabic decoded), left-to-right, the exact ASCII form on hover."""
    text = uri_to_iri(url or "")
    if limit and len(text) > limit:
        text = text[:limit - 1] + "…"
    return format_html('<bdi dir="ltr" class="nq-url" title="{}">{}</bdi>', url, text)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class WithdrawForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), help_text="Recorded with your name and the time.")


@admin.register(Snapshot)
class SnapshotAdmin(ReadOnlyAdmin):
    list_display = ("guid", "short_url", "status", "captured_at", "record_type", "title", "language", "withdrawn")
    list_filter = ("status", "record_type", "language", "is_requisite", ("withdrawn_at", admin.EmptyFieldListFilter))
    search_fields = ("guid", "url", "title", "surt")
    date_hierarchy = "captured_at"
    actions = ["withdraw_selected"]
    readonly_fields = [f.name for f in Snapshot._meta.fields] + ["citable_link", "timeline", "url_readable"]
    fieldsets = (
        (None, {"fields": ("guid", "citable_link", "url_readable", "url", "status", "mime", "captured_at", "title", "byline",
                           "published_at", "modified_at", "language", "canonical_url")}),
        ("Evidence", {"fields": ("warc_file", "record_type", "record_id", "offset", "length", "record_sha256",
                                 "payload_sha256", "payload_digest", "payload_length", "records",
                                 "payload_snapshot", "redirect_to", "final", "page", "job")}),
        ("Versions of this URL", {"fields": ("timeline",)}),
        ("Text", {"classes": ("collapse",), "fields": ("main_text", "text", "text_fingerprint", "extracted")}),
        ("Withdrawal", {"fields": ("withdrawn_at", "withdrawn_by", "withdrawn_reason")}),
    )

    def get_queryset(self, request):
        qs = restrict(super().get_queryset(request), request.user, include_withdrawn=True)
        return qs.defer("text", "main_text", "extracted")

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is not None:
            obj._naql_viewer_user = request.user  # the timeline lists only what this person may see
        return obj

    def has_withdraw_permission(self, request):
        return request.user.has_perm("archive.change_snapshot")

    @admin.display(description="URL", ordering="url")
    def short_url(self, obj):
        return readable_url(obj.url, 80)

    @admin.display(description="URL (readable)")
    def url_readable(self, obj):
        return readable_url(obj.url)

    @admin.display(boolean=True)
    def withdrawn(self, obj):
        return obj.withdrawn_at is not None

    @admin.display(description="Citable page")
    def citable_link(self, obj):
        return format_html('<a href="/s/{}">/s/{}</a>', obj.guid, obj.guid)

    @admin.display(description="Timeline")
    def timeline(self, obj):
        from archive.web.versions_timeline import timeline_html

        return timeline_html(obj, getattr(obj, "_naql_viewer_user", None))

    @admin.action(description="Withdraw selected snapshots (recorded, with a reason)", permissions=["withdraw"])
    def withdraw_selected(self, request, queryset):
        if not self.has_withdraw_permission(request):  # Django checks it too; kept for direct calls
            self.message_user(request, "You may not withdraw snapshots.", messages.ERROR)
            return None
        queryset = self.get_queryset(request).filter(pk__in=queryset.values("pk"))
        if "apply" in request.POST:
            form = WithdrawForm(request.POST)
            if form.is_valid():
                for snap in queryset:
                    snap.withdraw(user=request.user, reason=form.cleaned_data["reason"])
                self.message_user(request, f"Withdrew {queryset.count()} snapshot(s).")
                return None
        else:
            form = WithdrawForm()
        return render(request, "admin/archive/withdraw.html",
                      {"form": form, "snapshots": queryset, "title": "Withdraw snapshots",
                       "action": "withdraw_selected", "opts": self.model._meta})


class CaptureForm(forms.Form):
    url = forms.CharField(label="URL", widget=forms.URLInput(attrs={"size": 80, "autofocus": True}))
    requisites = forms.BooleanField(required=False, initial=True, label="Also capture page requisites")


@admin.register(CaptureJob)
class CaptureJobAdmin(ReadOnlyAdmin):
    list_display = ("guid", "short_url", "state", "attempts", "created_at", "finished_at", "snapshot_link", "error_code")
    list_filter = ("state",)
    search_fields = ("guid", "url")
    readonly_fields = [f.name for f in CaptureJob._meta.fields]
    list_select_related = ("snapshot",)
    change_list_template = "admin/archive/capturejob/change_list.html"
    change_form_template = "admin/archive/capturejob/change_form.html"

    def get_urls(self):
        return [path("capture/", self.admin_site.admin_view(self.capture_view), name="archive_capture")] + super().get_urls()

    def capture_view(self, request):
        form = CaptureForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                job = submit(form.cleaned_data["url"], user=request.user, requisites=form.cleaned_data["requisites"])
            except ArchiveError as exc:
                form.add_error("url", exc.message)
            else:
                self.message_user(request, f"Capture job {job.guid} queued for {job.url}.")
                return redirect(reverse("admin:archive_capturejob_change", args=[job.pk]))
        return render(request, "admin/archive/capture.html",
                      {**self.admin_site.each_context(request), "form": form, "title": "Capture a URL",
                       "opts": self.model._meta})

    def get_queryset(self, request):
        # the list joins the snapshot for its ID only: leave its article text behind
        qs = super().get_queryset(request).defer("snapshot__text", "snapshot__main_text", "snapshot__extracted")
        if sees_everything(request.user):
            return qs
        # one's own jobs, and jobs whose snapshot one may see
        return qs.filter(Q(created_by=request.user)
                         | Q(snapshot__in=visible_snapshots(request.user, include_withdrawn=True)))

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is not None and obj.snapshot_id and not sees_everything(request.user) and not visible_snapshots(
                request.user, include_withdrawn=True).filter(pk=obj.snapshot_id).exists():
            obj.snapshot = None  # one's own job whose snapshot became another group's
        return obj

    @admin.display(description="URL", ordering="url")
    def short_url(self, obj):
        return readable_url(obj.url, 90)

    @admin.display(description="Snapshot")
    def snapshot_link(self, obj):
        return format_html('<a href="/s/{}">{}</a>', obj.snapshot.guid, obj.snapshot.guid) if obj.snapshot else "—"

    @admin.display(description="Error")
    def error_code(self, obj):
        return (obj.error or {}).get("code", "")


@admin.register(WarcFile)
class WarcFileAdmin(ReadOnlyAdmin):
    list_display = ("name", "origin", "size", "record_count", "created_at", "last_verified_ok", "last_verified_at")
    list_filter = ("origin", "last_verified_ok")
    search_fields = ("name", "sha256", "source_name")
    readonly_fields = [f.name for f in WarcFile._meta.fields]


@admin.register(WithdrawalLog)
class WithdrawalLogAdmin(ReadOnlyAdmin):
    list_display = ("snapshot", "username", "at", "reason")
    list_select_related = ("snapshot", "user")
    readonly_fields = ("snapshot", "user", "username", "at", "reason")

    def get_queryset(self, request):
        qs = super().get_queryset(request).defer("snapshot__text", "snapshot__main_text", "snapshot__extracted")
        return restrict(qs, request.user, "snapshot__", include_withdrawn=True)


@admin.register(Watch)
class WatchAdmin(admin.ModelAdmin):
    list_display = ("short_url", "active", "next_capture_at", "last_captured_at", "last_changed_at", "change_count")
    list_filter = ("active",)

    @admin.display(description="URL", ordering="url")
    def short_url(self, obj):
        return readable_url(obj.url, 90)
    search_fields = ("url",)
    readonly_fields = ("surt", "last_captured_at", "last_changed_at", "change_count", "created_at", "created_by")

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


# --------------------------------------------------------------------------------------------
# groups: deleting one never makes its snapshots public (Snapshot.private_to_group is PROTECT)


class NaqlGroupAdmin(GroupAdmin):
    def get_deleted_objects(self, objs, request):
        deleted, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        private = Snapshot.objects.filter(private_to_group__in=list(objs)).order_by("captured_at", "pk")
        if private.exists():
            # not a missing permission: nobody may make these public by deleting their group
            perms_needed = {p for p in perms_needed if p != Snapshot._meta.verbose_name}
            protected = [*protected, *(format_html('Snapshot <a href="/s/{}">{}</a> {} (private to {})',
                                                   s.guid, s.guid, s.url, s.private_to_group.name)
                                       for s in private.select_related("private_to_group")[:500])]
        return deleted, model_count, perms_needed, protected


if admin.site.is_registered(Group):
    admin.site.unregister(Group)
admin.site.register(Group, NaqlGroupAdmin)
