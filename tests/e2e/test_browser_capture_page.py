"""A researcher captures a script-built post with the browser mode from the home page, and the
citable page /s/<ID> shows the screenshot the capture browser took (issue 15)."""

from __future__ import annotations

from unittest import mock

import pytest
from django.test import override_settings

from archive.capture.browser import browser_missing_reason
from archive.models import CaptureJob
from tests.e2e.support import login, make_researcher, run_job_soon

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.django_db(transaction=True),
              pytest.mark.skipif(browser_missing_reason() is not None, reason=browser_missing_reason() or "")]

POST_URL = "http://social.example.org/saltmere_port/status/90417"


def test_browser_mode_capture_from_the_home_page_shows_its_screenshot_on_the_snapshot_page(
        transactional_db, corpus_proxy, new_page, shot):
    make_researcher()
    threads = []
    page = new_page()
    login(page)
    with override_settings(NAQL_CAPTURE_PROXY=corpus_proxy.proxy_url, NAQL_BROWSER_SETTLE_MAX=3.0,
                           NAQL_PROVENANCE_INLINE=True), \
            mock.patch("archive.jobs.enqueue_job", lambda job, countdown=None: threads.append(run_job_soon(job.pk))):
        page.get_by_label("URL to capture").fill(POST_URL)
        page.get_by_label("Capture with").select_option("browser")
        page.get_by_role("button", name="Capture").click()
        page.locator("#nq-job[data-state='succeeded']").wait_for(timeout=60_000)
        for t in threads:
            t.join(timeout=60)
    job = CaptureJob.objects.get(url=POST_URL)
    assert job.mode == "browser" and job.state == "succeeded"
    final = job.snapshot.final or job.snapshot
    page.goto(f"/s/{final.guid}")
    img = page.locator("#nq-screenshot img")
    img.scroll_into_view_if_needed()
    page.wait_for_function("() => { const i = document.querySelector('#nq-screenshot img');"
                           " return i && i.complete && i.naturalWidth > 0; }")
    assert img.evaluate("i => i.naturalWidth") == 1280  # the capture viewport's width, full page
    assert img.evaluate("i => i.naturalHeight") > 900  # full page: taller than the viewport
    assert "a browser (Chromium behind Naql's recording proxy); text from the rendered page" in \
        page.locator("dl.evidence").inner_text()
    # the replay runs the archived script, whose JSON request is answered from the archive
    frame = page.frame_locator("iframe.replay")
    frame.locator("article p", has_text="eastern breakwater will close for repairs").wait_for(timeout=15_000)
    assert "Freight traffic through the container terminal" in frame.locator("article").inner_text()
    shot(page, "snapshot-browser-capture")
    resp = page.request.get(f"/s/{final.guid}/screenshot.png")
    assert resp.status == 200 and resp.headers["content-type"] == "image/png"
    assert resp.body()[:8] == b"\x89PNG\r\n\x1a\n"
