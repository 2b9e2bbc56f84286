"""Public URLs of the provenance app."""

from django.urls import path

from provenance import downloads

urlpatterns = [
    path("provenance/document/<int:pk>.wacz", downloads.document_wacz, name="document-wacz"),
]
