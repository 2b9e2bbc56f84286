"""Browser captures (issue 15): Chromium behind Naql's recording proxy, through the capture command.

The pages are fixtures of tests/fixtures/browser, served by the corpus proxy at their real URLs:
a post whose text a script inserts from a JSON request (and a lazy-loaded image), a page whose
scripts reach for internal addresses (fetch, images, redirects, WebSocket), a page that never
stops loading, a page that opens a popup and starts a download. Tests marked ``browser`` are
skipped, with the reason, on a machine without Chromium or Playwright (scripts/e2e-setup).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from archive.capture.browser import browser_missing_reason
from archive.models import CaptureJob, Snapshot
from archive.store.warcstore import read_range, warc_storage

POST_URL = "http://social.example.org/saltmere_port/status/90417"
POST_SENTENCES = [
    "The Saltmere Port Authority confirmed on Tuesday that the eastern breakwater will close for repairs from 3 March.",
    "Freight traffic through the container terminal is not affected, according to the authority's statement.",
]
PROBE_URL = "http://probe.example.org/reports/outage"
LIVE_URL = "http://live.example.org/blog/minute-by-minute"
SHARE_URL = "http://share.example.org/notice"

browser = pytest.mark.browser
_missing = browser_missing_reason()
needs_chromium = pytest.mark.skipif(_missing is not None, reason=_missing or "")


def _settings(proxy, **extra):
    values = {"NAQL_CAPTURE_PROXY": proxy.proxy_url, "NAQL_BROWSER_PAGE_TIMEOUT": 25.0,
              "NAQL_BROWSER_SETTLE_MAX": 3.0, "NAQL_CAPTURE_BROWSER_DOMAINS": [], **extra}
    return override_settings(**values)


def capture_json(*args) -> dict:
    from io import StringIO

    out = StringIO()
    call_command("capture", *args, "--json", stdout=out)
    return json.loads(out.getvalue().strip().splitlines()[-1])


def metadata_of(snap: Snapshot) -> dict:
    rec = next(r for r in snap.records if r["type"] == "metadata")
    import gzip

    member = gzip.decompress(read_range(snap.warc_file.name, rec["offset"], rec["length"]))
    return json.loads(member.split(b"\r\n\r\n", 1)[1].rsplit(b"\r\n\r\n", 1)[0])


def resource_block(snap: Snapshot, role: str) -> tuple[dict, bytes]:
    import gzip

    rec = snap.resource_record(role)
    assert rec is not None, f"no {role} record on {snap.guid}"
    member = gzip.decompress(read_range(snap.warc_file.name, rec["offset"], rec["length"], expected_sha256=rec["sha256"]))
    head, _, rest = member.partition(b"\r\n\r\n")
    headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n")[1:])
    return headers, rest[: int(headers["Content-Length"])]


def warcio_check(snap: Snapshot) -> None:
    path = warc_storage().path(snap.warc_file.name)
    exe = Path(sys.executable).with_name("warcio")
    result = subprocess.run([str(exe), "check", "-v", path], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


class Canary:
    """A TCP server on a loopback address that counts every connection it receives."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.hits: list[bytes] = []
        self._t = threading.Thread(target=self._loop, daemon=True)
        self._t.start()

    def _loop(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.settimeout(1)
            try:
                self.hits.append(conn.recv(200))
            except OSError:
                self.hits.append(b"")
            conn.close()

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def _chromium_children() -> list[str]:
    """Processes whose parent is this test process and whose name says Chromium."""
    import os

    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open(f"/proc/{entry}/stat", "rb").read()
            except OSError:
                continue
            comm, rest = stat.split(b"(", 1)[1].rsplit(b")", 1)
            if int(rest.split()[1]) == os.getpid() and b"chrom" in comm.lower():
                found.append(f"{entry} {comm.decode()}")
    return found


# --- with Chromium ---------------------------------------------------------------------------

@browser
@needs_chromium
@pytest.mark.django_db
def test_script_built_post_is_captured_with_its_text_claims_screenshot_and_dom(clean_proxy,
                                                                                django_capture_on_commit_callbacks):
    from provenance.models import Claim

    with _settings(clean_proxy, NAQL_PROVENANCE_INLINE=True), django_capture_on_commit_callbacks(execute=True):
        out = capture_json(POST_URL, "--browser")
    assert out["ok"] and out["mode"] == "browser" and out["screenshot"], out
    snap = Snapshot.objects.get(guid=out["final_snapshot"])
    assert snap.capture_mode == "browser" and snap.status == 200
    # the page's own HTML has no article text: the text is the rendered DOM's, i.e. the post's
    assert snap.extracted.get("text_source") == "rendered_dom"
    for sentence in POST_SENTENCES:
        assert sentence in snap.main_text
    # every request of the page is kept with its bytes: the script, the JSON, the lazy image
    urls = set(snap.requisites.values_list("url", flat=True))
    assert {"http://social.example.org/static/post.js", "http://social.example.org/api/status/90417.json",
            "http://social.example.org/media/breakwater.png"} <= urls
    json_snap = snap.requisites.get(url="http://social.example.org/api/status/90417.json")
    fixture = (Path(__file__).parent / "fixtures/browser/post/status-90417.json").read_bytes()
    assert json_snap.payload_length == len(fixture) and json_snap.capture_mode == "browser"
    # screenshot and DOM: resource records tied to the page's response record
    headers, png = resource_block(snap, "screenshot")
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and headers["WARC-Type"] == "resource"
    assert headers["WARC-Concurrent-To"] == snap.record_id and headers["Content-Type"] == "image/png"
    assert headers["WARC-Target-URI"] == f"urn:view:{POST_URL}"
    headers, dom = resource_block(snap, "dom")
    assert POST_SENTENCES[0].encode() in dom and headers["WARC-Concurrent-To"] == snap.record_id
    # provenance summary
    meta = metadata_of(snap)
    info = meta["browser"]
    assert meta["mode"] == "browser" and info["browser"]["name"] == "chromium" and info["browser"]["version"]
    assert "Chrome/" in info["user_agent"] and info["viewport"] == {"width": 1280, "height": 900}
    assert info["timings"]["total_ms"] > 0 and info["scroll_steps"] >= 2
    # claims segmented from that text
    claims = list(Claim.objects.filter(snapshot=snap).values_list("exact", flat=True))
    assert any("eastern breakwater will close" in c for c in claims), claims
    assert any("Freight traffic" in c for c in claims), claims
    warcio_check(snap)
    # re-extraction from the stored bytes comes back to the same text (from the DOM record)
    from archive.store.snapshots import reextract

    before = snap.main_text
    Snapshot.objects.filter(pk=snap.pk).update(main_text="", text="", extracted={})
    assert reextract(Snapshot.objects.get(pk=snap.pk)).main_text == before


@browser
@needs_chromium
@pytest.mark.django_db
def test_no_request_of_a_browser_capture_reaches_a_loopback_canary(clean_proxy, fake_dns):
    canary = Canary()
    fake_dns.set("canary.example.org", ["127.0.0.1"])
    clean_proxy.substitutions[b"__CANARY_PORT__"] = str(canary.port).encode()
    try:
        with _settings(clean_proxy):
            out = capture_json(PROBE_URL, "--browser")
    finally:
        clean_proxy.substitutions.clear()
        canary.close()
    assert canary.hits == [], canary.hits
    assert out["ok"], out  # the refused requests do not fail the capture
    snap = Snapshot.objects.get(guid=out["final_snapshot"])
    assert "main burst near the fish market" in snap.main_text
    refused = metadata_of(snap)["browser"]["refused"]
    by_url = {r["url"]: r["code"] for r in refused}
    port = canary.port
    assert by_url.get("http://169.254.169.254/latest/meta-data/iam/security-credentials/") == "forbidden_address"
    for path in ("pixel.gif", "fetched", "redirected.gif", "via-redirect", "frame"):
        assert by_url.get(f"http://127.0.0.1:{port}/{path}") == "forbidden_address", (path, refused)
    assert by_url.get(f"http://canary.example.org:{port}/named.gif") == "forbidden_address"
    # WebSockets: refused at CONNECT (loopback) or at the upgrade; none is relayed
    ws = [r for r in refused if str(port) in r["url"] and ("CONNECT" == r["method"] or r["url"].startswith("ws"))]
    assert len(ws) >= 2, refused
    # the redirects that pointed there are kept as exchanges (they are evidence too)
    assert snap.requisites.filter(url__startswith="http://lab.naql.test/redirect-to", status=302).exists()
    warcio_check(snap)


@browser
@needs_chromium
@pytest.mark.django_db
def test_a_page_that_never_stops_loading_is_ended_by_the_budget_and_kept(clean_proxy):
    with _settings(clean_proxy, NAQL_BROWSER_PAGE_TIMEOUT=8.0, NAQL_BROWSER_SETTLE_MAX=2.0):
        out = capture_json(LIVE_URL, "--browser")
    assert out["ok"], out
    snap = Snapshot.objects.get(guid=out["final_snapshot"])
    info = metadata_of(snap)["browser"]
    assert info["network_settled"] is False
    assert info["load"] == "timeout"  # the slow image holds the load event past the budget
    assert "Gusts of up to 110 km/h" in snap.main_text
    assert snap.resource_record("screenshot") is not None
    warcio_check(snap)
    # nothing of the browser is left: no Chromium process, no profile, no CA files
    from django.conf import settings

    assert _chromium_children() == []
    assert list(Path(settings.NAQL_TMP_DIR).glob("naql-chromium-*")) == []
    assert list(Path(settings.NAQL_TMP_DIR).glob("naql-ca-*")) == []


@browser
@needs_chromium
@pytest.mark.django_db
def test_popups_and_downloads_are_blocked(clean_proxy):
    with _settings(clean_proxy):
        out = capture_json(SHARE_URL, "--browser")
    assert out["ok"], out
    snap = Snapshot.objects.get(guid=out["final_snapshot"])
    info = metadata_of(snap)["browser"]
    assert clean_proxy.requests_for("http://share.example.org/elsewhere") == []  # the popup never loaded
    assert not Snapshot.objects.filter(url="http://share.example.org/elsewhere").exists()
    assert info["downloads_blocked"] == ["http://share.example.org/files/notice.pdf"], info
    warcio_check(snap)


@browser
@needs_chromium
@pytest.mark.django_db
def test_auto_mode_takes_the_browser_only_for_a_page_without_article_text(clean_proxy):
    with _settings(clean_proxy):
        post = capture_json(POST_URL, "--mode", "auto", "--no-requisites")
        probe = capture_json(SHARE_URL, "--mode", "auto", "--no-requisites")
    assert post["mode"] == "browser" and probe["mode"] == "raw"
    snap = Snapshot.objects.get(guid=post["final_snapshot"])
    assert metadata_of(snap)["mode_note"].startswith("auto: the raw page has no article text")
    assert POST_SENTENCES[1] in snap.main_text


@browser
@needs_chromium
def test_https_goes_through_connect_and_the_per_capture_ca(corpus_proxy, tls_client_context, settings):
    """Chromium trusts the recorder's CA (SPKI list, this profile only); the recorder fetches the
    origin itself with TLS verified against the origin's real certificate."""
    from archive.capture.browser import BrowserLimits, browse

    settings.NAQL_CAPTURE_PROXY = corpus_proxy.proxy_url
    bc = browse("https://secure.naql.test/", limits=BrowserLimits(page_timeout=15, settle_max=2, scroll_steps=1),
                ssl_context=tls_client_context)
    page = [ex for ex in bc.exchanges if ex.url == "https://secure.naql.test/"]
    assert page and page[0].status == 200 and b"<title>lab</title>" in page[0].response_bytes
    assert bc.dom and "lab" in bc.dom and bc.screenshot


# --- without Chromium ------------------------------------------------------------------------

@pytest.mark.django_db
def test_without_chromium_browser_jobs_wait_and_the_command_says_why(clean_proxy, client, django_user_model):
    with _settings(clean_proxy, NAQL_BROWSER_EXECUTABLE="/nonexistent/chromium"):
        with pytest.raises(CommandError, match="cannot run browser captures.*not installed"):
            call_command("capture", POST_URL, "--browser")
        from archive.jobs import run_job, submit

        job = submit(POST_URL, mode="browser", enqueue=False)
        job = run_job(job.pk)
        job.refresh_from_db()
    assert job.state == CaptureJob.State.PENDING and job.attempts == 0
    assert job.error["code"] == "browser_unavailable" and "not installed" in job.error["message"]
    assert not Snapshot.objects.exists()


def test_browser_hosts_default_to_browser_mode(settings):
    from archive.jobs import default_mode

    assert settings.NAQL_CAPTURE_BROWSER_DOMAINS == ["x.com", "twitter.com", "facebook.com", "t.me"]
    assert default_mode("https://x.com/someone/status/1") == "browser"
    assert default_mode("https://mobile.twitter.com/a") == "browser"
    assert default_mode("https://t.me/s/channel") == "browser"
    assert default_mode("https://notx.com/") == "raw"
    assert default_mode("http://www.example.org/") == "raw"
    settings.NAQL_CAPTURE_DEFAULT_MODE = "auto"
    assert default_mode("http://www.example.org/") == "auto"


@pytest.mark.django_db
def test_api_takes_a_capture_mode_and_defaults_by_host(settings):
    from tests.api_support import make_user, token_client

    settings.NAQL_CAPTURE_BROWSER_DOMAINS = ["social.example.org"]
    _user, key = make_user("modes")
    c = token_client(key)
    r = c.post("/api/capture-jobs/", {"url": PROBE_URL, "mode": "browser"}, format="json")
    assert r.status_code == 201, r.content
    assert r.json()["jobs"][0]["mode"] == "browser"
    r = c.post("/api/capture-jobs/", {"urls": [POST_URL, PROBE_URL]}, format="json")
    assert [j["mode"] for j in r.json()["jobs"]] == ["browser", "raw"]  # social.example.org → browser
    r = c.post("/api/capture-jobs/", {"url": PROBE_URL, "mode": "screenshot-only"}, format="json")
    assert r.status_code == 400 and "mode" in r.json()["error"]["details"]
    assert CaptureJob.objects.filter(mode="browser").count() == 2
