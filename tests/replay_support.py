"""Support for the replay / Memento / snapshot-page tests: URLconf, capture at a chosen time."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from django.test import override_settings
from django.urls import include, path

import archive.fetch
from archive.capture import capture

# The replay URLs in front of the project's own, whether or not naql/urls.py includes them yet.
urlpatterns = [
    path("", include("archive.urls_replay")),
    path("", include("naql.urls")),
]
URLCONF = "tests.replay_support"

V1_AT = datetime(2021, 11, 27, 12, 0, 0, tzinfo=UTC)
V2_AT = datetime(2021, 11, 29, 9, 0, 0, tzinfo=UTC)


@contextmanager
def fetch_clock(when: datetime):
    """Make the fetcher's clock (the WARC-Date of what it records) read ``when``."""

    class _Clock(datetime):
        @classmethod
        def now(cls, tz=None):
            return when if tz is None else when.astimezone(tz)

    mp = pytest.MonkeyPatch()
    mp.setattr(archive.fetch, "datetime", _Clock)
    try:
        yield
    finally:
        mp.undo()


def capture_at(proxy, url: str, when: datetime, *, version: int | None = None, requisites: bool = True):
    """Capture ``url`` through the corpus proxy as if it were ``when`` (optionally a version)."""
    if version is not None:
        proxy.set_version(url, version)
    with override_settings(NAQL_CAPTURE_PROXY=proxy.proxy_url), fetch_clock(when):
        return capture(url, requisites=requisites)


def write_warc(path, exchanges) -> None:
    """Write a WARC (gzip per record) of ``(url, when, raw_http_response_bytes)`` exchanges with
    warcio — as another tool would — for ``archive.ingest.import_file``."""
    import io

    from warcio.warcwriter import WARCWriter

    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        for url, when, block in exchanges:
            rec = writer.create_warc_record(
                url, "response", payload=io.BytesIO(block), length=len(block),
                warc_content_type="application/http; msgtype=response",
                warc_headers_dict={"WARC-Date": when.strftime("%Y-%m-%dT%H:%M:%SZ")},
            )
            writer.write_record(rec)


def import_exchanges(tmp_path, exchanges):
    """Import exchanges as a WARC made elsewhere; returns the new snapshots in order."""
    from archive.ingest import import_file

    path = tmp_path / f"in-{len(list(tmp_path.iterdir()))}.warc.gz"
    write_warc(path, exchanges)
    return import_file(path).snapshots
