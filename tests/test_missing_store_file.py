"""A stored WARC file gone (an operator's mistake, a failed disk, an S3 object deleted): every page
and endpoint that reads it says so with a clear status (502: the store, not the request, failed),
never a 500 and never a page that pretends the capture is fine; `verify` names the file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client, override_settings

from archive.capture.capture import capture
from provenance.documents import document_for_snapshot
from tests.helpers import WATAN_URL, warc_path

pytestmark = pytest.mark.django_db


@pytest.fixture
def gone(corpus_proxy):
    corpus_proxy.reset()
    with override_settings(NAQL_CAPTURE_PROXY=corpus_proxy.proxy_url):
        snap = capture(WATAN_URL, requisites=False).final
    doc = document_for_snapshot(snap)
    path = Path(warc_path(snap.warc_file.name))
    moved = path.with_suffix(".moved")
    shutil.move(path, moved)
    try:
        yield snap, doc
    finally:
        shutil.move(moved, path)


def test_reading_a_missing_warc_file_is_a_502_everywhere(gone):
    snap, doc = gone
    ts = snap.captured_at.strftime("%Y%m%d%H%M%S")
    client = Client(raise_request_exception=False)
    admin = User.objects.create_superuser("root", "root@example.org", "pw")
    staff = Client(raise_request_exception=False)
    staff.force_login(admin)
    for c, url in [
        (client, f"/web/{ts}id_/{WATAN_URL}"),
        (client, f"/web/{ts}/{WATAN_URL}"),
        (client, f"/s/{snap.guid}.warc.gz"),
        (client, f"/s/{snap.guid}.wacz"),
        (client, f"/provenance/document/{doc.pk}.wacz"),
    ]:
        r = c.get(url)
        body = b"".join(r.streaming_content) if r.streaming else r.content
        assert r.status_code == 502, (url, r.status_code, body[:300])
    # pages that only show the capture's record (from the database) still work
    for c, url in [(client, f"/s/{snap.guid}"), (client, f"/api/snapshots/{snap.guid}/"), (client, f"/d/{doc.pk}"),
                   (staff, f"/admin/provenance/document/{doc.pk}/change/")]:
        r = c.get(url)
        assert r.status_code == 200, (url, r.status_code)
