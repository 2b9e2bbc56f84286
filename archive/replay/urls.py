"""URL patterns of replay, Memento and the citable snapshot pages.

Include from naql/urls.py *before* the catch-all app URLs: ``path("", include("archive.replay.urls"))``.
Order matters here too: TimeMaps, then mementos (a timestamp segment), then the TimeGate.
"""

from django.urls import re_path

from archive.replay import replay
from archive.web import pages

urlpatterns = [
    re_path(r"^web/timemap/(?P<fmt>link|json)/from/(?P<from_ts>\d{1,14})/(?P<url>.+)$", replay.timemap_view,
            name="timemap-page"),
    re_path(r"^web/timemap/(?P<fmt>link|json)/(?P<url>.+)$", replay.timemap_view, name="timemap"),
    re_path(r"^web/(?P<ts>\d+)(?P<mod>[a-z]{2}_)?/(?P<url>.*)$", replay.memento_view, name="memento"),
    re_path(r"^web/(?P<url>.+)$", replay.timegate_view, name="timegate"),
    re_path(r"^s/(?P<guid>[^/]+)\.warc\.gz$", pages.warc_download, name="snapshot-warc"),
    re_path(r"^s/(?P<guid>[^/]+)/screenshot\.png$", pages.screenshot, name="snapshot-screenshot"),
    re_path(r"^s/(?P<guid>[^/]+)\.wacz$", pages.wacz_download, name="snapshot-wacz"),
    re_path(r"^\.well-known/naql-signing-key\.pem$", pages.signing_key, name="signing-key"),
    re_path(r"^s/(?P<guid>[^/]+)/diff/(?P<other>[^/]+)/?$", pages.diff_view, name="snapshot-diff"),
    re_path(r"^s/(?P<guid>[^/]+)/?$", pages.snapshot_page, name="snapshot"),
]
