from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),  # set_language: the switch on every page
    path("api/", include("naql.api")),
    path("", include("archive.replay.urls")),
    path("", include("provenance.web.urls")),
    path("", include("archive.web.urls")),
    path("", include("provenance.urls")),
]
