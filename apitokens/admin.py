"""Per-user API tokens: hashed at rest, created and revoked in the admin, sent in ``Authorization`` only.

A token acts as the person who creates it. Staff with "add API token" make tokens for
themselves only (the user field is not even shown to them); a superuser may make one for
another user by choosing the user *and* ticking "on behalf of another user", and that act is
written to the admin log (``LogEntry``, shown in the token's history) and the application log.
Non-superusers see and revoke their own tokens only.
"""

import logging

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import PermissionDenied

from apitokens.models import ApiToken, generate_key, hash_key
from naql.accounts import recorded_acts

log = logging.getLogger("naql.security")


@admin.action(description="Revoke selected tokens", permissions=["change"])
def revoke(modeladmin, request, queryset):
    n = 0
    for token in modeladmin.get_queryset(request).filter(pk__in=queryset.values("pk"), revoked_at__isnull=True):
        token.revoke()
        modeladmin.log_change(request, token, "Revoked.")
        n += 1
    modeladmin.message_user(request, f"{n} token(s) revoked.")


class ApiTokenAddForm(forms.ModelForm):
    on_behalf = forms.BooleanField(
        required=False, label="On behalf of another user",
        help_text="Tick to create a token that acts as the user chosen above (superusers only; logged).")

    class Meta:
        model = ApiToken
        fields = ["user", "name", "expires_at"]

    request = None  # set by ApiTokenAdmin.get_form

    def clean(self):
        data = super().clean()
        by = self.request.user
        target = data.get("user") or by
        try:
            ApiToken.check_issue(user=target, by=by, on_behalf=bool(data.get("on_behalf")))
        except PermissionDenied as exc:
            raise forms.ValidationError(f"{exc}.") from exc
        data["user"] = target
        return data


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "prefix", "created_at", "created_by_username", "last_used_at", "expires_at",
                    "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "user__username", "prefix"]
    readonly_fields = ["prefix", "created_at", "created_by_username", "last_used_at", "revoked_at"]
    fields = ["user", "name", "expires_at", "prefix", "created_at", "created_by_username", "last_used_at",
              "revoked_at"]
    actions = [revoke]
    raw_id_fields = ["user"]

    def get_queryset(self, request):
        qs = super().get_queryset(request).select_related("user")
        return qs if request.user.is_superuser else qs.filter(user=request.user)

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: the record of a token stays

    def get_fields(self, request, obj=None):
        if obj is not None:
            return self.fields
        if request.user.is_superuser:
            return ["user", "on_behalf", "name", "expires_at"]
        return ["name", "expires_at"]  # a token for yourself: no user to choose

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "user"] if obj else []

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ApiTokenAddForm
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is None:
            form.request = request
            if "user" in form.base_fields:
                form.base_fields["user"].required = False
                form.base_fields["user"].help_text = "Leave empty for a token of your own."
        return form

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        target = form.cleaned_data.get("user") or request.user
        # checked again here, not only in the form: the rule must hold whatever built the form
        ApiToken.check_issue(user=target, by=request.user, on_behalf=bool(form.cleaned_data.get("on_behalf")))
        obj.user = target
        key, obj.prefix = generate_key()
        obj.key_hash = hash_key(key)
        obj.created_by, obj.created_by_username = request.user, request.user.get_username()
        super().save_model(request, obj, form, change)
        messages.warning(request, f"API key for {obj.user}: {key} — copy it now, it will not be shown again.")

    def log_addition(self, request, obj, message):
        if obj.issued_for_another:
            message = (f"Issued API token {obj.prefix} acting as user {obj.user.get_username()!r} "
                       f"on behalf of them (by superuser {request.user.get_username()!r}).")
            log.warning("API token %s issued for user %r by superuser %r", obj.prefix, obj.user.get_username(),
                        request.user.get_username())
        return super().log_addition(request, obj, message)


# --------------------------------------------------------------------------------------------
# users: an account with recorded acts is deactivated, not deleted (naql.accounts)

User = get_user_model()


class NaqlUserAdmin(UserAdmin):
    def get_deleted_objects(self, objs, request):
        deleted, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        protected = list(protected)
        for user in objs:
            for label, n in recorded_acts(user):
                protected.append(f"{user.get_username()}: {n} {label} — deactivate the account instead")
        return deleted, model_count, perms_needed, protected


if admin.site.is_registered(User):
    admin.site.unregister(User)
admin.site.register(User, NaqlUserAdmin)
