from django.apps import AppConfig


class ArchiveConfig(AppConfig):
    name = "archive"
    verbose_name = "Archive"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Register the Celery tasks in every process (web, commands, workers): archive.jobs addresses
        # them by name and must find them registered, so eager mode and routing apply.
        from archive import tasks  # noqa: F401
