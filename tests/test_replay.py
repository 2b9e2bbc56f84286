"""Replay: byte-exact id_ mode, rewritten pages with no live-web URL left, redirects, isolation."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import lxml.html
import pytest
from django.test import override_settings

from archive.models import Snapshot
from archive.replay.rewrite import Rewriter, rewrite_css, rewrite_html, rewrite_srcset
from tests.helpers import (
    DELETED_URL,
    ELESPANOL_SHORT_URL,
    ELESPANOL_URL,
    OLD_WATAN_URL,
    WATAN_URL,
    corpus_bytes,
    corpus_rows,
)
from tests.replay_support import URLCONF, V1_AT, capture_at, import_exchanges

pytestmark = [pytest.mark.django_db, pytest.mark.urls(URLCONF)]

NOT_FETCHED = {"xmlns", "itemtype", "itemprop", "itemid", "property", "typeof", "vocab", "prefix", "profile",
               "rel", "rev", "about", "resource", "datatype"}



def _web(snap: Snapshot, mod: str = "") -> str:
    return f"/web/{snap.timestamp}{mod}/{snap.url}"


def _headers(resp) -> dict:
    return {k.lower(): v for k, v in resp.headers.items()}


# --------------------------------------------------------------------------------------------
# id_: the archived bytes
# --------------------------------------------------------------------------------------------
PAGES = [r for r in corpus_rows() if r["file"] != "-" and r["file"] != "watan/article.v2.html"]


@pytest.mark.parametrize("row", PAGES, ids=[r["file"] for r in PAGES])
def test_id_mode_returns_every_corpus_response_byte_for_byte(client, clean_proxy, row):
    snap = capture_at(clean_proxy, row["url"], V1_AT, requisites=False).final
    resp = client.get(_web(snap, "id_"))
    assert resp.status_code == row["status"]
    assert resp.content == corpus_bytes(row["file"])
    assert resp["Content-Type"] == row["ctype"]
    assert "Content-Encoding" not in resp


def test_id_mode_of_a_gzip_response_keeps_content_encoding(client, clean_proxy, local_origin):
    from tests.replay_support import fetch_clock

    with override_settings(NAQL_CAPTURE_ALLOWED_NETWORKS=["127.0.0.1/32"]), fetch_clock(V1_AT):
        from archive.capture.capture import capture

        snap = capture(local_origin.url("/gzip"), requisites=False).final
    from archive.store.snapshots import stored_response

    stored = stored_response(snap)
    resp = client.get(_web(snap, "id_"))
    assert resp.content == stored.body
    assert resp["Content-Encoding"] == stored.header("Content-Encoding")


def test_a_page_whose_gzip_body_is_corrupt_replays_as_archived_not_500(client, clean_proxy, local_origin):
    """The server sent broken gzip: the rewritten replay cannot decode it, so it serves the
    archived bytes as they are (same as id_), sandboxed, instead of failing."""
    from tests.replay_support import fetch_clock

    with override_settings(NAQL_CAPTURE_ALLOWED_NETWORKS=["127.0.0.1/32"]), fetch_clock(V1_AT):
        from archive.capture.capture import capture

        snap = capture(local_origin.url("/gzip-corrupt-html"), requisites=False).final
    raw = client.get(_web(snap, "id_"))
    resp = client.get(_web(snap))
    assert resp.status_code == 200 and resp.content == raw.content
    assert resp["Content-Encoding"] == "gzip" and "sandbox" in resp["Content-Security-Policy"]


# --------------------------------------------------------------------------------------------
# rewritten replay
# --------------------------------------------------------------------------------------------
def _live_urls(html_text: str) -> list[tuple[str, str, str]]:
    """(tag, attribute, value) of every attribute that holds an http(s) URL outside the archive."""
    doc = lxml.html.fromstring(html_text)
    bad = []
    for el in doc.iter():
        if not isinstance(el.tag, str):
            continue
        for name, value in el.attrib.items():
            if name in NOT_FETCHED or name.startswith("xmlns"):
                continue
            for m in re.finditer(r"(?:https?:)?//[^\s,\"'()]+", value):
                start = m.start()
                if value[:start].endswith("/web/") or re.search(r"/web/\d{14}[a-z_]{0,3}/$", value[:start]):
                    continue
                bad.append((el.tag, name, value))
        style = el.text if el.tag == "style" else None
        if style and re.search(r"url\(\s*['\"]?https?:", style):
            bad.append(("style", "#text", style[:80]))
    return bad


def test_replayed_watan_page_has_no_live_web_url_and_its_requisites_replay(client, clean_proxy):
    result = capture_at(clean_proxy, WATAN_URL, V1_AT)
    snap = result.final
    resp = client.get(_web(snap))
    assert resp.status_code == 200
    assert resp["Content-Type"] == "text/html; charset=utf-8"
    html_text = resp.content.decode("utf-8")
    assert _live_urls(html_text) == []
    doc = lxml.html.fromstring(html_text)
    css = doc.xpath("//link[@rel='stylesheet']/@href")[0]
    logo = doc.xpath("//img/@src")[0]
    assert css == f"/web/{snap.timestamp}cs_/http://www.watanserb.com/wp-content/themes/watan/style.css?ver=5.8.2"
    assert logo.startswith(f"/web/{snap.timestamp}im_/http://www.watanserb.com/")
    path, _, query = css.partition("?")
    css_resp = client.get(path, QUERY_STRING=query)
    assert css_resp.status_code == 200 and css_resp["Content-Type"] == "text/css; charset=utf-8"
    logo_resp = client.get(logo)
    assert logo_resp.status_code == 200 and logo_resp.content == corpus_bytes("watan/logo.png")
    # the raw Arabic IRI link is rewritten to its ASCII URI inside the archive
    links = doc.xpath("//a/@href")
    assert any("%D9%85%D8%A7%D8%B0%D8%A7" in h for h in links)
    assert all(not re.search(r"[\u0600-\u06ff]", h) for h in links)


def test_windows_1256_page_replays_as_utf8_with_correct_arabic_and_rtl(client, clean_proxy):
    snap = capture_at(clean_proxy, OLD_WATAN_URL, V1_AT, requisites=False).final
    resp = client.get(_web(snap))
    assert resp["Content-Type"] == "text/html; charset=utf-8"
    text = resp.content.decode("utf-8")
    assert "الأمن السيبراني والاستخبارات" in text
    assert "windows-1256" not in text.lower()
    doc = lxml.html.fromstring(resp.content)
    assert doc.get("dir") == "rtl" and doc.get("lang", "").startswith("ar")


def test_redirect_hop_replays_as_redirect_to_the_archived_target(client, clean_proxy):
    result = capture_at(clean_proxy, ELESPANOL_SHORT_URL, V1_AT, requisites=False)
    hop = result.snapshot
    assert hop.status == 301
    resp = client.get(_web(hop))
    assert resp.status_code == 301
    assert resp["Location"] == f"/web/{result.final.timestamp}/{ELESPANOL_URL}"
    followed = client.get(resp["Location"])
    assert followed.status_code == 200 and b"Ciberseguridad" in followed.content


def test_404_capture_replays_with_its_archived_status(client, clean_proxy):
    snap = capture_at(clean_proxy, DELETED_URL, V1_AT, requisites=False).final
    assert client.get(_web(snap)).status_code == 404
    assert client.get(_web(snap, "id_")).content == corpus_bytes("watan/404.html")


def test_inexact_timestamp_redirects_a_page_to_the_exact_memento(client, clean_proxy):
    snap = capture_at(clean_proxy, WATAN_URL, V1_AT, requisites=False).final
    resp = client.get(f"/web/2021/{snap.url}")
    assert resp.status_code == 302 and resp["Location"] == _web(snap)
    embedded = client.get(f"/web/2021id_/{snap.url}")
    assert embedded.status_code == 200 and embedded["Memento-Datetime"] == "Sat, 27 Nov 2021 12:00:00 GMT"


def test_unarchived_url_gives_a_not_archived_page_listing_nearby_captures(client, clean_proxy):
    capture_at(clean_proxy, WATAN_URL, V1_AT, requisites=False)
    resp = client.get("/web/20211127120000/http://www.watanserb.com/2021/11/27/no-such-article/")
    assert resp.status_code == 404
    body = resp.content.decode()
    assert "Not archived" in body and "www.watanserb.com/2021/11/27/%D8%A7" in body
    nothing = client.get("/web/20211127120000/http://unknown.example/")
    assert nothing.status_code == 404 and "No other capture" in nothing.content.decode()


@pytest.mark.parametrize("path", [
    "/web/1/http://example.com/", "/web/99999999999999999/http://example.com/", "/web/2021/",
    "/web/2021/javascript:alert(1)", "/web/2021/http://[::1", "/web/2021/http://xn--a.com/",
    "/web/2021zz_/http://example.com/", "/web/20211127120000/http://%ff%fe/", "/web/timemap/link/%00",
    "/web/timemap/link/from/1/http://example.com/", "/web/http://", "/web/20210229000000/http://example.com/",
])
def test_garbage_input_never_gives_a_500(client, path):
    resp = client.get(path)
    assert resp.status_code in (400, 404), (path, resp.status_code)


# --------------------------------------------------------------------------------------------
# isolation
# --------------------------------------------------------------------------------------------
def test_every_replay_response_is_sandboxed_and_sets_no_cookie(client, clean_proxy):
    from django.contrib.auth.models import User

    result = capture_at(clean_proxy, ELESPANOL_SHORT_URL, V1_AT)
    User.objects.create_superuser("root", "r@example.org", "pw")
    client.login(username="root", password="pw")
    urls = [_web(result.snapshot), _web(result.final), _web(result.final, "id_"), f"/web/{ELESPANOL_URL}",
            f"/web/timemap/link/{ELESPANOL_URL}", "/web/20211127120000/http://unknown.example/"]
    for url in urls:
        resp = client.get(url)
        csp = resp["Content-Security-Policy"]
        tokens = [t.strip() for t in csp.split(";")]
        assert "sandbox allow-scripts allow-forms allow-popups" in tokens, url
        assert "allow-same-origin" not in csp
        assert not resp.cookies, url
        assert "set-cookie" not in _headers(resp)


def test_archived_set_cookie_and_dangerous_headers_are_not_replayed(client, tmp_path):
    block = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nSet-Cookie: sid=evil; Path=/\r\n"
             b"Strict-Transport-Security: max-age=999\r\nRefresh: 0; url=http://live.example/\r\n"
             b"Content-Security-Policy: default-src *\r\n\r\n<p>hi</p>")
    (snap,) = import_exchanges(tmp_path, [("http://cookies.example/", V1_AT, block)])
    for mod in ("", "id_"):
        resp = client.get(_web(snap, mod))
        h = _headers(resp)
        assert resp.status_code == 200
        assert not resp.cookies and "set-cookie" not in h
        assert b"sid=evil" not in resp.serialize_headers()
        assert "strict-transport-security" not in h and "refresh" not in h
        assert h["x-archive-orig-refresh"] == "0; url=http://live.example/"
        assert h["content-security-policy"].startswith("sandbox allow-scripts allow-forms allow-popups")


@override_settings(NAQL_REPLAY_HOST="replay.naql.test", NAQL_PUBLIC_URL="http://app.naql.test",
                   ALLOWED_HOSTS=["app.naql.test", "replay.naql.test", "testserver"])
def test_with_a_replay_host_web_is_served_only_there(client, clean_proxy):
    snap = capture_at(clean_proxy, WATAN_URL, V1_AT, requisites=False).final
    on_app = client.get(_web(snap), HTTP_HOST="app.naql.test")
    assert on_app.status_code == 302
    assert on_app["Location"].startswith("http://replay.naql.test/web/")
    assert b"<html" not in on_app.content
    on_replay = client.get(_web(snap), HTTP_HOST="replay.naql.test")
    assert on_replay.status_code == 200 and "sandbox" in on_replay["Content-Security-Policy"]
    assert "http://app.naql.test" in on_replay["Content-Security-Policy"]  # frame-ancestors
    page = client.get(f"/s/{snap.guid}", HTTP_HOST="app.naql.test")
    frame = lxml.html.fromstring(page.content).xpath("//iframe")[0]
    assert urlsplit(frame.get("src")).netloc == "replay.naql.test"
    assert frame.get("sandbox") == "allow-scripts allow-forms allow-popups"
    assert client.get(f"/s/{snap.guid}", HTTP_HOST="replay.naql.test").status_code == 404


def test_replay_host_middleware_refuses_non_replay_paths_on_the_replay_host(rf):
    from archive.replay.replay import ReplayHostMiddleware

    mw = ReplayHostMiddleware(lambda r: "app")
    with override_settings(NAQL_REPLAY_HOST="replay.naql.test", ALLOWED_HOSTS=["*"]):
        assert mw(rf.get("/admin/", HTTP_HOST="replay.naql.test")).status_code == 404
        assert mw(rf.get("/api/x", HTTP_HOST="replay.naql.test")).status_code == 404
        # (with a session cookie: an anonymous /web/ request is answered by the replay view itself)
        assert mw(rf.get("/web/x", HTTP_HOST="replay.naql.test", HTTP_COOKIE="sessionid=abc")) == "app"
        assert mw(rf.get("/admin/", HTTP_HOST="app.naql.test")) == "app"


# --------------------------------------------------------------------------------------------
# rewriting units
# --------------------------------------------------------------------------------------------
def test_rewriter_handles_srcset_style_base_meta_refresh_and_integrity():
    rw = Rewriter("http://ex.com/a/page.html", "20211127120000")
    html_in = (
        '<html><head><base href="http://cdn.ex.com/b/"><meta charset="windows-1256">'
        '<meta http-equiv="refresh" content="5; url=next.html">'
        '<meta property="og:image" content="https://ex.com/i.png">'
        '<link rel="stylesheet" href="s.css" integrity="sha384-x">'
        '<style>@import "t.css"; body{background:url(bg.png)}</style></head>'
        '<body style="background-image:url(\'x.png\')"><img srcset="a.png 1x, b.png 2x" src="a.png">'
        '<a href="#top">top</a><a href="javascript:void(0)">js</a><a href="mailto:a@b">m</a>'
        '<a href="//other.org/p?q=1&amp;r=2#frag">o</a><script src="app.js"></script>'
        '<div itemtype="https://schema.org/NewsArticle"></div></body></html>'
    )
    out = rewrite_html(html_in, rw)
    assert '<base href="/web/20211127120000/http://cdn.ex.com/b/">' in out
    assert 'charset="utf-8"' in out
    assert 'content="5; url=/web/20211127120000/http://cdn.ex.com/b/next.html"' in out
    assert 'content="/web/20211127120000/https://ex.com/i.png"' in out
    assert 'href="/web/20211127120000cs_/http://cdn.ex.com/b/s.css"' in out and "integrity" not in out
    assert '@import url("/web/20211127120000cs_/http://cdn.ex.com/b/t.css")' in out
    assert 'url("/web/20211127120000im_/http://cdn.ex.com/b/bg.png")' in out
    assert "url(&quot;/web/20211127120000im_/http://cdn.ex.com/b/x.png&quot;)" in out
    assert ('srcset="/web/20211127120000im_/http://cdn.ex.com/b/a.png 1x, '
            '/web/20211127120000im_/http://cdn.ex.com/b/b.png 2x"') in out
    assert 'href="#top"' in out and 'href="javascript:void(0)"' in out and 'href="mailto:a@b"' in out
    assert 'href="/web/20211127120000/http://other.org/p?q=1&amp;r=2#frag"' in out
    assert 'src="/web/20211127120000js_/http://cdn.ex.com/b/app.js"' in out
    assert 'itemtype="https://schema.org/NewsArticle"' in out


def test_css_rewriting_keeps_data_urls_and_quotes_results():
    rw = Rewriter("http://ex.com/css/site.css", "2021")
    css = "a{b:url(data:image/png;base64,AA)} @font-face{src:url('../f o.woff') format('woff')}"
    out = rewrite_css(css, rw)
    assert "url(data:image/png;base64,AA)" in out
    assert 'url("/web/2021im_/http://ex.com/f%20o.woff")' in out
    assert rewrite_srcset("x.jpg, y,z.jpg 2x", lambda u: f"[{u}]") == "[x.jpg], [y,z.jpg] 2x"


# --------------------------------------------------------------------------------------------
# pywb interop: pywb serving the WARCs Naql wrote gives the same id_ bytes
# --------------------------------------------------------------------------------------------
def test_pywb_serves_the_same_id_bytes_from_naqls_warcs(client, clean_proxy, local_origin, tmp_path):
    from tests.helpers import warc_path
    from tests.replay_support import PywbServer, fetch_clock, pywb_bin

    if pywb_bin() is None:
        pytest.skip("pywb not installed (it needs its own virtualenv: see tests/replay_support.pywb_bin)")
    snaps = []
    for row in PAGES:
        snaps += capture_at(clean_proxy, row["url"], V1_AT, requisites=row["file"] == "watan/article.v1.html").snapshots
    with override_settings(NAQL_CAPTURE_ALLOWED_NETWORKS=["127.0.0.1/32"]), fetch_clock(V1_AT):
        from archive.capture.capture import capture

        for lab in ("/gzip", "/chunked"):
            snaps += capture(local_origin.url(lab), requisites=False).snapshots
    snaps = [s for s in snaps if s.status not in (301, 302)]
    assert len(snaps) >= 10
    warcs = sorted({warc_path(s.warc_file.name) for s in snaps})
    work = tmp_path / "pywb"
    work.mkdir()
    with PywbServer(warcs, work) as pywb:
        for s in snaps:
            ours = client.get(_web(s, "id_"))
            status, headers, body = pywb.get(f"/{s.timestamp}id_/{s.url}")
            assert status == ours.status_code, s.url
            assert body == ours.content, s.url
            theirs = {k.lower(): v for k, v in headers.items()}
            assert theirs.get("content-type") == ours.get("Content-Type"), s.url
            assert theirs.get("content-encoding") == ours.get("Content-Encoding"), s.url
            assert theirs.get("memento-datetime") == ours["Memento-Datetime"], s.url
