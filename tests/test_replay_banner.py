"""A replay opened on its own (a top-level navigation) shows an "archived copy" banner above the
archived page, which is served in a sandboxed frame exactly as it is replayed anywhere else: the
banner never enters the archived document."""

from __future__ import annotations

import lxml.html
import pytest
from django.test import override_settings

from tests.helpers import WATAN_URL

pytestmark = pytest.mark.django_db


@override_settings(NAQL_PUBLIC_URL="", NAQL_REPLAY_HOST="")
def test_top_level_navigation_gets_the_banner_and_the_page_in_a_sandboxed_frame(client, two_versions):
    v1, _v2 = two_versions
    path = f"/web/{v1.timestamp}/{WATAN_URL}"
    resp = client.get(path, HTTP_SEC_FETCH_DEST="document")
    assert resp.status_code == 200 and resp["Memento-Datetime"]
    assert "script-src" not in resp["Content-Security-Policy"] and "default-src 'none'" in resp["Content-Security-Policy"]
    assert "Sec-Fetch-Dest" in resp["Vary"]
    doc = lxml.html.fromstring(resp.content.decode())
    banner = doc.xpath("//header[contains(@class, 'nq-banner')]")[0].text_content()
    assert "Archived copy" in banner and "2021-11-27 12:00:00 UTC" in banner
    assert "الأمن-السيبراني" in banner  # the URL shown readable
    assert doc.xpath(f"//a[@href='http://testserver/s/{v1.guid}']")
    assert not doc.xpath("//script")
    (frame,) = doc.xpath("//iframe")
    assert frame.get("src") == f"/web/{v1.timestamp}mp_/{WATAN_URL}"
    assert frame.get("sandbox") == "allow-scripts allow-forms allow-popups"
    # the frame gets the archived page exactly as a plain replay does: no banner inside it
    framed = client.get(frame.get("src"), HTTP_SEC_FETCH_DEST="iframe")
    plain = client.get(path)
    assert framed.status_code == plain.status_code == 200
    assert framed.content == plain.content and b"Archived copy" not in framed.content
    assert "sandbox" in framed["Content-Security-Policy"]


def test_frames_and_clients_without_fetch_metadata_get_the_memento_itself(client, two_versions):
    v1, _v2 = two_versions
    path = f"/web/{v1.timestamp}/{WATAN_URL}"
    for headers in ({}, {"HTTP_SEC_FETCH_DEST": "iframe"}):
        resp = client.get(path, **headers)
        assert resp.status_code == 200 and b"Archived copy" not in resp.content
        assert "sandbox" in resp["Content-Security-Policy"]
    raw = client.get(f"/web/{v1.timestamp}id_/{WATAN_URL}", HTTP_SEC_FETCH_DEST="document")
    assert b"Archived copy" not in raw.content  # id_ is the original bytes, always
