from django.contrib import admin, messages
from django.utils import timezone

from apitokens.models import ApiToken, generate_key, hash_key


@admin.action(description="Revoke selected tokens")
def revoke(modeladmin, request, queryset):
    n = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
    modeladmin.message_user(request, f"{n} token(s) revoked.")


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "prefix", "created_at", "last_used_at", "expires_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "user__username", "prefix"]
    readonly_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]
    fields = ["user", "name", "expires_at", "prefix", "created_at", "last_used_at", "revoked_at"]
    actions = [revoke]
    raw_id_fields = ["user"]

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: the record of a token stays

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "user"] if obj else self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        key, obj.prefix = generate_key()
        obj.key_hash = hash_key(key)
        super().save_model(request, obj, form, change)
        messages.warning(request, f"API key for {obj.user}: {key} — copy it now, it will not be shown again.")
