from django.apps import AppConfig


class ProvenanceConfig(AppConfig):
    name = "provenance"
    verbose_name = "Provenance"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from provenance import (
            signals,
            trace_tasks,  # noqa: F401 - registers the trace tasks, addressed by name
            visibility,
        )
        from provenance.models import Document

        signals.connect()
        Document.display_title = staticmethod(visibility.display_title)
