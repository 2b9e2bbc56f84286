"""Public URLs of the provenance app (included from naql/urls.py): the trace pages, the provenance
page of a document, the parallel view of a translation, claim addresses and review in place."""

from django.urls import path, re_path

from provenance.web import document_views, views

urlpatterns = [
    path("traces", views.trace_submit, name="trace-submit"),
    re_path(r"^traces/(?P<guid>[^/]+)\.json$", views.trace_json, name="trace-json"),
    re_path(r"^traces/(?P<guid>[^/]+)/source$", views.trace_add_source, name="trace-add-source"),
    re_path(r"^traces/(?P<guid>[^/]+)/rerun$", views.trace_rerun, name="trace-rerun"),
    re_path(r"^traces/(?P<guid>[^/.]+)/?$", views.trace_page, name="trace-page"),
    path("d/review", document_views.review, name="provenance-review"),
    path("d/<int:pk>", document_views.document_page, name="provenance-document"),
    path("d/<int:pk>/parallel/<int:other>", document_views.parallel_page, name="provenance-parallel"),
    path("c/<int:pk>", document_views.claim_redirect, name="provenance-claim"),
]
