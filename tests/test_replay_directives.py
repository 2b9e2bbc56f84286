"""Archived in-document directives that would break replay are neutralised (issue 13 kind 7)."""

from __future__ import annotations

import lxml.html
import pytest

from archive.replay.rewrite import Rewriter, rewrite_html
from tests.replay_support import URLCONF
from tests.warc_builders import http_response, record, write_warc

TS = "20240506070809"


def _rw(doc: str, base: str = "https://diario.example.org/seccion/nota.html") -> lxml.html.HtmlElement:
    return lxml.html.fromstring(rewrite_html(doc, Rewriter(base, TS)))


@pytest.mark.parametrize("equiv", ["Content-Security-Policy", "content-security-policy-report-only",
                                   "X-WebKit-CSP"])
def test_meta_csp_is_renamed_so_the_browser_ignores_it(equiv):
    tree = _rw(f'<html><head><meta http-equiv="{equiv}" content="default-src \'self\' https://diario.example.org">'
               "</head><body><img src=/a.png></body></html>")
    metas = tree.xpath("//meta")
    assert [m.get("http-equiv") for m in metas] == [f"x-archive-orig-{equiv.lower()}"]
    assert metas[0].get("content").startswith("default-src")


def test_meta_refresh_to_the_live_web_goes_to_the_archive():
    tree = _rw('<html><head><meta content="3;URL=\'https://otro.example.com/destino?x=1\'" http-equiv="Refresh">'
               "</head><body></body></html>")
    content = tree.xpath("//meta")[0].get("content")
    assert content == f"3;URL='/web/{TS}/https://otro.example.com/destino?x=1'"


def test_only_the_first_base_sets_the_base_and_base_points_into_the_archive():
    tree = _rw('<html><head><base href="https://cdn.example.net/v2/"><base href="https://malo.example.com/">'
               '</head><body><a href="pagina.html">x</a><img src="foto.jpg"></body></html>')
    bases = [b.get("href") for b in tree.xpath("//base")]
    assert bases == [f"/web/{TS}/https://cdn.example.net/v2/", f"/web/{TS}/https://malo.example.com/"]
    assert tree.xpath("//a")[0].get("href") == f"/web/{TS}/https://cdn.example.net/v2/pagina.html"
    assert tree.xpath("//img")[0].get("src") == f"/web/{TS}im_/https://cdn.example.net/v2/foto.jpg"


@pytest.mark.django_db
@pytest.mark.urls(URLCONF)
def test_replayed_page_carries_no_archived_csp_and_no_live_refresh(tmp_path, client):
    from archive.models import Snapshot
    from archive.store.ingest import import_file

    doc = (b'<!doctype html><html><head><meta http-equiv="content-security-policy" content="img-src https://x.example">'
           b'<meta http-equiv="refresh" content="0; url=https://vivo.example.org/">'
           b"<title>Directivas</title></head><body><p>Texto archivado.</p></body></html>")
    block, _ = http_response(doc, headers=[("Content-Type", "text/html; charset=utf-8"),
                                           ("Content-Security-Policy", "default-src 'none'")])
    import_file(write_warc(tmp_path / "directivas.warc.gz", [record("response", "https://example.org/d", block)[1]]))
    snap = Snapshot.objects.get()
    resp = client.get(f"/web/{snap.timestamp}/{snap.url}")
    page = resp.content.decode()
    assert resp.status_code == 200
    assert 'http-equiv="content-security-policy"' not in page.lower()
    assert "url=https://vivo.example.org" not in page and "/web/" in page
    assert resp["X-Archive-Orig-Content-Security-Policy"] == "default-src 'none'"
