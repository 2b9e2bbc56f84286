from django.apps import AppConfig


class ApiTokensConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "apitokens"
    verbose_name = "API tokens"

    def ready(self):
        from django.contrib.auth import get_user_model
        from django.db.models.signals import pre_delete

        from naql.accounts import refuse_deleting_users_with_acts

        pre_delete.connect(refuse_deleting_users_with_acts, sender=get_user_model(),
                           dispatch_uid="naql-keep-users-with-acts")
