"""A researcher traces one article in Chromium: pastes the Watan URL on the home page, presses
Trace, watches the progress, and ends on the document's chain with the tweet marked as origin."""

from __future__ import annotations

import threading
from unittest import mock

import pytest
from django.db import connection
from django.test import override_settings

from archive.models import Snapshot
from provenance.models import Trace
from tests.e2e.support import login, make_researcher
from tests.helpers import TWEET_URL, WATAN_URL

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_researcher_traces_the_watan_article_and_sees_the_tweet_as_origin(new_page, shot, corpus_proxy):
    corpus_proxy.reset()
    make_researcher()
    assert Snapshot.objects.count() == 0  # nothing captured beforehand
    threads = []

    def enqueue(trace):  # a background worker: starts a moment later, so the page sees it pending
        from provenance.trace import run_trace

        def work():
            try:
                threading.Event().wait(0.5)
                run_trace(trace.pk)
            finally:
                connection.close()

        th = threading.Thread(target=work, daemon=True)
        th.start()
        threads.append(th)

    page = new_page()
    login(page)
    with override_settings(NAQL_CAPTURE_PROXY=corpus_proxy.proxy_url, NAQL_CAPTURE_BROWSER_DOMAINS=[]), \
            mock.patch("provenance.trace.enqueue_trace", enqueue):
        page.get_by_label("Article URL to trace").fill(WATAN_URL)
        page.get_by_role("button", name="Trace", exact=True).click()
        page.wait_for_url("**/traces/*")
        panel = page.locator("#nq-trace")
        seen = {panel.get_attribute("data-state")}
        page.wait_for_selector("#nq-trace-steps li", timeout=30_000)  # progress shows while it runs
        seen.add(panel.get_attribute("data-state"))
        shot(page, "trace-progress")
        page.wait_for_selector("#nq-chain-view", timeout=120_000)  # reloaded when done
        for th in threads:
            th.join(60)
    assert seen & {"pending", "running"}, seen
    t = Trace.objects.get()
    assert t.state == "succeeded" and t.created_by.username == "researcher"
    assert page.locator("#nq-trace").get_attribute("data-state") == "succeeded"
    steps = page.locator("#nq-trace-steps").inner_text()
    assert "hop 1:" in steps and "elespanol.com" in steps
    tweet = page.locator(f'.nq-node.origin[data-url="{TWEET_URL}"]').first
    assert tweet.is_visible()
    assert "origin" in tweet.locator(".nq-origin").inner_text()
    chain = page.locator("#nq-chain-view").inner_text()
    assert "translation of" in chain and "quotes" in chain
    assert "None: every source the article names is linked or archived." in page.inner_text("#nq-unresolved")
    shot(page.locator("#nq-chain-view"), "trace-chain")
    shot(page, "trace-finished")
