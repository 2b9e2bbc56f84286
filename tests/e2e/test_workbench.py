"""The researcher's workbench in Chromium: home and capture with live progress, the citable
snapshot page with its replay, versions and diff, the admin document view (claim → chain picture,
accept in place with the keyboard, history), and the isolation of replayed pages from the app."""

from __future__ import annotations

import json
import re
from unittest import mock

import pytest
from django.test import override_settings

from archive.models import CaptureJob, Snapshot
from archive.uri import uri_to_iri
from provenance.models import Claim, ClaimLink, Document, Relation
from tests.e2e.support import (
    NARROW,
    PROBE_URL,
    capture_demo,
    login,
    make_researcher,
    probe_proxy,
    run_job_soon,
)
from tests.helpers import ELESPANOL_URL, OLD_WATAN_URL, TWEET_URL, WATAN_URL

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

HEADLINE = "الأمن السيبراني والاستخبارات"


@pytest.fixture
def demo(transactional_db, corpus_proxy):
    snaps = capture_demo(corpus_proxy)
    make_researcher()
    return snaps


def _tweet_claim() -> Claim:
    """A Watan claim whose gold chain reaches the minister's tweet (its origin)."""
    link = (ClaimLink.objects.filter(claim__document__url=WATAN_URL, status="accepted", origin=True,
                                     upstream_document__url__contains="twitter.com")
            .select_related("claim").order_by("claim__start").first())
    assert link is not None, "gold links should chain a Watan claim to the tweet"
    return link.claim


def test_anonymous_home_lists_public_snapshots_and_a_login_link(demo, new_page, shot):
    page = new_page()
    page.goto("/")
    assert page.get_by_role("link", name="Log in").first.is_visible()
    recent = page.locator("#nq-recent li")
    assert recent.count() >= 5
    assert HEADLINE in page.locator("#nq-recent").inner_text()
    assert page.locator("#nq-capture").count() == 0  # capturing needs a login
    shot(page, "home-anonymous")
    narrow = new_page(viewport=NARROW)
    narrow.goto("/")
    assert narrow.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    shot(narrow, "home-anonymous-narrow")


def test_researcher_logs_in_captures_a_url_and_watches_the_job_finish(demo, new_page, shot, corpus_proxy):
    threads = []

    def enqueue(job, countdown=None):
        threads.append(run_job_soon(job.pk))

    page = new_page()
    login(page)
    assert "Signed in as" in page.locator(".nq-top").inner_text()
    assert "Documents awaiting review" in page.inner_text("main")
    v1, v2 = demo["v1"], demo["v2"]
    assert page.locator(f"a[href='/s/{v1.guid}/diff/{v2.guid}']", has_text="see the diff").count() == 1
    with override_settings(NAQL_CAPTURE_PROXY=corpus_proxy.proxy_url, NAQL_PROVENANCE_INLINE=True), \
            mock.patch("archive.jobs.enqueue_job", enqueue):
        page.get_by_label("URL to capture").fill(OLD_WATAN_URL)
        page.get_by_role("button", name="Capture").click()
        job_panel = page.locator("#nq-job")
        job_panel.wait_for(state="visible")
        states = {job_panel.get_attribute("data-state")}
        page.wait_for_selector("#nq-job[data-state='succeeded']", timeout=30_000)
        states.add("succeeded")
        for t in threads:
            t.join(30)
    job = CaptureJob.objects.get(url=OLD_WATAN_URL)
    assert job.state == "succeeded" and job.created_by.username == "researcher"
    assert states & {"pending", "running"}, "the page should have shown the job before it finished"
    assert page.locator(".nq-steps li.done", has_text="written").count() == 1
    link = page.locator("#nq-job-snapshot")
    guid = link.inner_text()
    shot(page, "home-capture-finished")
    link.click()
    page.wait_for_url(f"**/s/{guid}")
    frame = page.frame_locator("iframe.replay")
    assert HEADLINE in frame.locator("h1").first.inner_text()  # windows-1256 decoded in the replay


def test_snapshot_page_shows_replay_metadata_versions_and_copies_a_citation(demo, new_page, shot, live_server):
    v1 = demo["v1"]
    page = new_page(permissions=["clipboard-read", "clipboard-write"])
    page.goto(f"/s/{v1.guid}")
    assert HEADLINE in page.locator("h1").inner_text()
    frame = page.frame_locator("iframe.replay")
    assert HEADLINE in frame.locator("h1").first.inner_text()
    assert page.locator("iframe.replay").get_attribute("sandbox") == "allow-scripts allow-forms allow-popups"
    shot(page, "snapshot", full_page=False)  # before anything scrolls the sandboxed frame away
    shot(page, "snapshot-full")
    assert v1.record_sha256 in page.locator("dl.evidence").inner_text()
    rows = page.locator("table.versions tr:has(td)")
    assert rows.count() == 2
    assert "first capture" in rows.nth(0).inner_text() and "text changed" in rows.nth(1).inner_text()
    assert rows.nth(1).locator(".nq-dot.changed").count() == 1
    page.locator("#cite .nq-cite").first.get_by_role("button", name="Copy").click()
    page.wait_for_function("document.getElementById('nq-cite-status').textContent.includes('Copied')")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == page.locator("#cite-text-apa").input_value() and uri_to_iri(WATAN_URL) in copied
    shot(page.locator("#cite"), "snapshot-citations")
    narrow = new_page(viewport=NARROW)
    narrow.goto(f"/s/{v1.guid}")
    assert HEADLINE in narrow.frame_locator("iframe.replay").locator("h1").first.inner_text()
    assert narrow.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    shot(narrow, "snapshot-narrow")


def test_the_scripts_speak_the_pages_language_copy_and_compare_in_arabic(demo, new_page):
    """The scripts' own messages (copy status, the diff chooser's note) come translated with the page."""
    v2 = demo["v2"]
    page = new_page(locale="ar", extra_http_headers={"Accept-Language": "ar"},
                    permissions=["clipboard-read", "clipboard-write"])
    page.goto(f"/s/{v2.guid}")
    assert page.locator("html").get_attribute("dir") == "rtl"
    page.locator("#cite .nq-cite").first.locator("button[data-copy]").click()
    page.wait_for_function("document.getElementById('nq-cite-status').textContent.includes('الحافظة')")
    assert "Copied" not in page.locator("#nq-cite-status").inner_text()
    # the same capture as A and B: the chooser's note, in Arabic
    page.locator(f'#nq-compare input[name=a][value="{v2.guid}"]').check()
    page.locator(f'#nq-compare input[name=b][value="{v2.guid}"]').check()
    page.wait_for_function("document.getElementById('nq-compare-note').textContent.length > 0")
    assert page.locator("#nq-compare-note").inner_text() == "اختر التقاطتين مختلفتين."


def test_comparing_v1_and_v2_shows_the_diff(demo, new_page, shot):
    v1, v2 = demo["v1"], demo["v2"]
    page = new_page()
    page.goto(f"/s/{v2.guid}")
    page.get_by_label(f"Compare from {v1.guid}").check()
    page.get_by_label(f"Compare to {v2.guid}").check()
    page.get_by_role("button", name="Compare A and B").click()
    page.wait_for_url(f"**/s/{v1.guid}/diff/{v2.guid}")
    assert "The article text was edited." in page.locator("ul.summary").inner_text()
    assert "مفاتيح" in " ".join(page.locator(".naql-diff-title del").all_inner_texts())
    assert page.locator(".naql-diff ins").count() > 0 and page.locator(".naql-diff del").count() > 0
    shot(page, "diff")


def test_document_view_draws_a_claims_chain_to_the_tweet(demo, new_page, shot):
    claim = _tweet_claim()
    doc = Document.objects.get(url=WATAN_URL)
    page = new_page()
    login(page, next_url=f"/admin/provenance/document/{doc.pk}/change/")
    article = page.locator(".nq-article")
    assert article.get_attribute("dir") == "rtl" and article.get_attribute("lang") == "ar"
    mark = page.locator(f".nq-article mark[data-claim='{claim.pk}']").first
    assert "st-accepted" in mark.get_attribute("class")
    mark.locator("a").click()
    svg = page.locator("#nq-chain-panel svg.nq-chain-svg")
    svg.wait_for()
    picture = page.locator("#nq-chain-panel").text_content()
    assert "twitter.com" in picture and "ORIGIN" in picture and "elespanol.com" in picture
    tweet_snap = Snapshot.objects.filter(url=TWEET_URL).first()
    assert f"snapshot {tweet_snap.guid}" in picture
    assert re.search(r"\bES\b", picture) and re.search(r"\bAR\b", picture)
    assert page.url.endswith(f"/document/{doc.pk}/change/")  # drawn in place, no navigation
    shot(page.locator(".nq-article-wrap"), "document-chain")
    shot(page, "document-full")
    page.set_viewport_size(NARROW)
    page.locator("#nq-chain-panel").scroll_into_view_if_needed()
    shot(page, "document-chain-narrow", full_page=False)


def test_accepting_a_suggested_link_in_place_with_the_keyboard_shows_in_history(demo, new_page, shot):
    watan = Document.objects.get(url=WATAN_URL)
    linked = set(ClaimLink.objects.values_list("claim_id", flat=True))
    down = Claim.objects.filter(document=watan).exclude(pk__in=linked).order_by("start").first()
    up = Claim.objects.filter(document__url=ELESPANOL_URL).order_by("start").first()
    suggestion = ClaimLink.objects.create(claim=down, upstream_claim=up, relation="translation", confidence=0.71,
                                          method="automatic", method_name="e2e", status="suggested")
    page = new_page()
    login(page, next_url=f"/admin/provenance/document/{watan.pk}/change/")
    item = page.locator(f".nq-review-item[data-model='claimlink'][data-pk='{suggestion.pk}']")
    assert item.get_attribute("data-status") == "suggested"
    page.locator(".nq-review-item").first.focus()
    for _ in range(page.locator(".nq-review-item").count()):  # move down with the keyboard to it
        if page.evaluate("document.activeElement.dataset.pk") == str(suggestion.pk) and \
                page.evaluate("document.activeElement.dataset.model") == "claimlink":
            break
        page.keyboard.press("ArrowDown")
    assert page.evaluate("[document.activeElement.dataset.model, document.activeElement.dataset.pk]") == [
        "claimlink", str(suggestion.pk)]
    page.keyboard.press("a")
    page.wait_for_selector(f".nq-review-item[data-model='claimlink'][data-pk='{suggestion.pk}'][data-status='accepted']")
    assert "Accepted" in item.locator(".nq-result").inner_text()
    suggestion.refresh_from_db()
    assert suggestion.status == "accepted"
    assert suggestion.history.first().history_user.username == "researcher"
    page.wait_for_selector(f".nq-article mark.st-accepted[data-claim='{down.pk}']")
    item.and_(page.locator("[data-synced]")).wait_for()
    shot(page.locator("#nq-review"), "document-review-accepted")
    # a suggested relation rejected with a click
    rel = Relation.objects.filter(source=watan, status="suggested").first()
    if rel is not None:
        page.locator(f".nq-review-item[data-model='relation'][data-pk='{rel.pk}']").get_by_role(
            "button", name="Reject").click()
        page.wait_for_selector(f".nq-review-item[data-model='relation'][data-pk='{rel.pk}'][data-status='rejected']"
                               "[data-synced]")
        rel.refresh_from_db()
        assert rel.status == "rejected"
    item.get_by_role("link", name="History").click()
    page.wait_for_url(f"**/claimlink/{suggestion.pk}/history/")
    history = page.locator("#change-history").inner_text()
    assert "researcher" in history
    shot(page, "claimlink-history")


def test_replayed_page_cannot_read_the_admins_cookies_or_call_the_app_as_the_user(demo, new_page, shot, console):
    from archive.capture.capture import capture

    with probe_proxy() as proxy_url, override_settings(NAQL_CAPTURE_PROXY=proxy_url):
        probe = capture(PROBE_URL, requisites=False).final
    console.allow(r"blocked by CORS policy|net::ERR_FAILED|Failed to load resource")
    page = new_page()
    login(page)
    cookies = {c["name"] for c in page.context.cookies()}
    assert "sessionid" in cookies  # the admin is logged in: there is something to steal
    sent = []
    page.on("request", lambda req: sent.append(req) if req.frame != page.main_frame else None)
    page.goto(f"/s/{probe.guid}")
    report_el = page.frame_locator("iframe.replay").locator("#report[data-done]")
    report_el.wait_for(timeout=20_000)
    report = json.loads(report_el.inner_text())
    assert report["origin"] == "null"
    assert report.get("cookie", "") == "" or "cookie_error" in report
    assert "sessionid" not in report.get("cookie", "") and "csrftoken" not in report.get("cookie", "")
    assert "storage_error" in report and "parent_error" in report and "top_error" in report
    for name in ("admin", "admin_same", "api", "home"):
        got = report[name]
        assert "error" in got or not got["leaked"], (name, got)
    app_requests = [r for r in sent if re.search(r"/(admin|api)/", r.url)]
    for req in app_requests:
        assert "sessionid" not in (req.all_headers().get("cookie") or ""), req.url
    shot(page, "isolation-probe")
