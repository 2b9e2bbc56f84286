"""Public URLs of the archive app (replay, Memento, citable pages are added by their modules)."""

from django.urls import path, re_path

from archive.web import views

urlpatterns = [
    path("", views.home, name="home"),
    path("capture", views.capture_submit, name="capture"),
    re_path(r"^jobs/(?P<guid>[^/]+)\.json$", views.job_json, name="job-json"),
    re_path(r"^s/(?P<guid>[^/]+)/compare/?$", views.compare, name="snapshot-compare"),
]
