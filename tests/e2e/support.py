"""Data and servers for the browser tests: the demo corpus captured through the corpus proxy (two
versions of the Watan article, gold claim links), a researcher account, and an isolation probe: a
page "on the web" (served by a tiny loopback forward proxy) whose script tries to read cookies and
storage and to call the admin and the API, and writes what it got into the page."""

from __future__ import annotations

import io
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.test import override_settings

from archive.models import Watch
from tests.helpers import CORPUS, ELESPANOL_SHORT_URL, FAR_URL, NGO_URL, TWEET_URL, WATAN_URL

DESKTOP = {"width": 1280, "height": 800}
NARROW = {"width": 390, "height": 844}
PASSWORD = "e2e-Researcher-pw-1"  # noqa: S105 - a throwaway test account
PROBE_URL = "http://probe.naql.test/lab/isolation.html"
PROBE_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Naql isolation probe</title></head>
<body><h1>Isolation probe</h1><pre id="report" style="white-space: pre-wrap; word-break: break-all">running</pre>
<script>
(async function () {
  var r = {origin: String(window.origin)};
  try { r.cookie = document.cookie; } catch (e) { r.cookie_error = e.name; }
  try { r.storage = window.localStorage.length; } catch (e) { r.storage_error = e.name; }
  try { r.parent_cookie = window.parent.document.cookie; } catch (e) { r.parent_error = e.name; }
  try { r.top_url = String(window.top.location.href); } catch (e) { r.top_error = e.name; }
  // Built at run time so no rewriter can turn these into archive URLs: the app's own origin.
  var app = location.protocol + "//" + location.host;
  async function probe(path, credentials) {
    try {
      var resp = await fetch(app + path, {credentials: credentials});
      var text = await resp.text();
      return {status: resp.status, length: text.length,
              leaked: /Site administration|Signed in as|csrfmiddlewaretoken|"username"/.test(text)};
    } catch (e) { return {error: e.name}; }
  }
  r.admin = await probe(["", "admin", ""].join("/"), "include");
  r.admin_same = await probe(["", "admin", ""].join("/"), "same-origin");
  r.api = await probe(["", "api", "capture-jobs", ""].join("/"), "include");
  r.home = await probe("/", "include");
  var out = document.getElementById("report");
  out.textContent = JSON.stringify(r);
  out.setAttribute("data-done", "1");
})();
</script></body></html>
"""


class _ProbeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - quiet
        pass

    def do_GET(self):
        body = PROBE_HTML.encode() if self.path.startswith("http://probe.naql.test/") else b"not here\n"
        status = 200 if body != b"not here\n" else 404
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8" if status == 200 else "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)


@contextmanager
def probe_proxy():
    """A forward proxy on 127.0.0.1 that answers PROBE_URL with the isolation probe."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ProbeHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def capture_demo(proxy) -> dict:
    """The demo corpus, Watan v1 then v2 at fixed times, provenance inline, gold links loaded."""
    from archive.capture.capture import capture
    from tests.replay_support import V1_AT, V2_AT, fetch_clock

    snaps = {}
    proxy.reset()
    with override_settings(NAQL_CAPTURE_PROXY=proxy.proxy_url, NAQL_PROVENANCE_INLINE=True):
        for url in (NGO_URL, TWEET_URL, FAR_URL, ELESPANOL_SHORT_URL):
            snaps[url] = capture(url, requisites=False).final
        with fetch_clock(V1_AT):
            snaps["v1"] = capture(WATAN_URL, requisites=True).final
        proxy.set_version(WATAN_URL, 1)
        with fetch_clock(V2_AT):
            snaps["v2"] = capture(WATAN_URL, requisites=True).final
    proxy.reset()
    Watch.objects.create(url=WATAN_URL, last_captured_at=snaps["v2"].captured_at,
                         last_changed_at=snaps["v2"].captured_at, change_count=1)
    call_command("load_gold_links", str(CORPUS / "gold" / "claims.json"), stdout=io.StringIO())
    return snaps


def make_researcher():
    return get_user_model().objects.create_superuser("researcher", "researcher@example.org", PASSWORD)


def run_job_soon(job_id: int, delay: float = 0.4) -> threading.Thread:
    """Run a capture job in a worker thread after ``delay`` (so the page sees it pending first)."""
    from archive.jobs import run_job

    def work():
        try:
            threading.Event().wait(delay)
            run_job(job_id)
        finally:
            connection.close()

    t = threading.Thread(target=work, name=f"e2e-job-{job_id}", daemon=True)
    t.start()
    return t


def login(page, username: str = "researcher", password: str = PASSWORD, next_url: str = "/") -> None:
    page.goto(f"/admin/login/?next={next_url}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"**{next_url}")


AXE_JS = __import__("pathlib").Path(__file__).with_name("vendor") / "axe.min.js"  # axe-core 4.14.1, MPL-2.0


def axe_violations(page, impacts=("serious", "critical")) -> list[dict]:
    """Run axe-core (vendored, injected into the page) and return its violations of the given
    impacts, each as {id, impact, help, targets}."""
    page.add_script_tag(path=str(AXE_JS))
    result = page.evaluate("""async () => {
      const r = await axe.run(document, {resultTypes: ['violations']});
      return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                     targets: v.nodes.slice(0, 5).map(n => n.target.join(' '))}));
    }""")
    return [v for v in result if v["impact"] in impacts]
