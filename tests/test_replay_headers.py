"""Archived headers kept whole in replay, and RFC 7089 to the letter (issue 13 kind 9)."""

from __future__ import annotations

import pytest

from archive.models import Snapshot
from archive.replay.headers import header_lines
from archive.store.ingest import import_file
from tests.replay_support import URLCONF
from tests.warc_builders import http_response, record, write_warc

pytestmark = [pytest.mark.django_db, pytest.mark.urls(URLCONF)]

LINKS = ['<https://example.org/estilo.css>; rel=preload; as=style', '<https://example.org/>; rel="canonical"']


@pytest.fixture
def archived(tmp_path):
    body = b"<!doctype html><html><head><title>Cabeceras</title></head><body><p>Hola.</p></body></html>"
    block, _ = http_response(body, headers=[
        ("Content-Type", "text/html; charset=utf-8"), ("Vary", "Accept-Encoding"), ("Vary", "Cookie"),
        ("Link", LINKS[0]), ("Link", LINKS[1]), ("Cache-Control", "public"), ("Cache-Control", "max-age=600"),
        ("Set-Cookie", "a=1; Path=/"), ("Set-Cookie", "b=2; Path=/")])
    import_file(write_warc(tmp_path / "headers.warc.gz", [record("response", "https://example.org/h", block)[1]]))
    return Snapshot.objects.get()


@pytest.mark.parametrize("mod", ["id_", ""])
def test_repeated_archived_headers_are_all_kept(client, archived, mod):
    resp = client.get(f"/web/{archived.timestamp}{mod}/{archived.url}")
    assert resp.status_code == 200
    assert header_lines(resp, "X-Archive-Orig-Link") == LINKS
    assert header_lines(resp, "X-Archive-Orig-Vary") == ["Accept-Encoding", "Cookie"]
    assert header_lines(resp, "X-Archive-Orig-Cache-Control") == ["public", "max-age=600"]
    assert header_lines(resp, "Set-Cookie") == [] and not resp.cookies
    assert len(header_lines(resp, "Link")) == 1 and 'rel="original"' in resp["Link"]  # the Memento Link


def test_repeated_headers_reach_the_wire(live_server, archived):
    import http.client
    from urllib.parse import urlsplit

    u = urlsplit(live_server.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    conn.request("GET", f"/web/{archived.timestamp}id_/{archived.url}")
    resp = conn.getresponse()
    assert resp.status == 200
    assert resp.headers.get_all("X-Archive-Orig-Link") == LINKS
    assert resp.headers.get_all("X-Archive-Orig-Vary") == ["Accept-Encoding", "Cookie"]


@pytest.mark.parametrize("value", ["Sunday, 06-May-24 07:08:09 GMT",  # RFC 850: HTTP accepts it, RFC 7089 not
                                   "Sun May  6 07:08:09 2024",  # asctime
                                   "2024-05-06T07:08:09Z", "Mon, 06 May 2024 07:08:09 +0000", ""])
def test_timegate_answers_400_to_an_accept_datetime_that_is_not_rfc1123(client, archived, value):
    resp = client.get(f"/web/{archived.url}", HTTP_ACCEPT_DATETIME=value)
    assert resp.status_code == 400


def test_timegate_negotiates_an_rfc1123_accept_datetime(client, archived):
    resp = client.get(f"/web/{archived.url}", HTTP_ACCEPT_DATETIME="Mon, 06 May 2024 07:08:09 GMT")
    assert resp.status_code == 302 and "accept-datetime" in [v.strip() for v in resp["Vary"].lower().split(",")]
    assert resp["Location"].endswith(f"/web/{archived.timestamp}/{archived.url}")
    assert 'rel="original"' in resp["Link"] and 'rel="timemap"' in resp["Link"]
