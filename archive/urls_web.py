"""Public URLs of the archive app (replay, Memento, citable pages are added by their modules)."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
]
