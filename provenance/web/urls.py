"""Public URLs of the provenance app: the trace page and its JSON (included from naql/urls.py)."""

from django.urls import path, re_path

from provenance.web import views

urlpatterns = [
    path("traces", views.trace_submit, name="trace-submit"),
    re_path(r"^traces/(?P<guid>[^/]+)\.json$", views.trace_json, name="trace-json"),
    re_path(r"^traces/(?P<guid>[^/]+)/source$", views.trace_add_source, name="trace-add-source"),
    re_path(r"^traces/(?P<guid>[^/]+)/rerun$", views.trace_rerun, name="trace-rerun"),
    re_path(r"^traces/(?P<guid>[^/.]+)/?$", views.trace_page, name="trace-page"),
]
