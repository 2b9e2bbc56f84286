"""Trace bounds and failures end a trace cleanly, with the reason recorded, within its budget.

A small fixture web of its own (tests/fixtures/trace_bounds, served at its real URLs by a second
corpus proxy) holds: an article whose upstream candidates fail in every way a capture can (a
redirect loop, a 404, an IP literal and a name resolving to a private address refused by the SSRF
guard) among out-of-scope links (menu, "read also", share buttons, an ad, a comment widget) and
one source named without a link; two articles citing each other (a cycle); and, generated at
fixture time, a digest page linking 500 outbound URLs, each in an attribution sentence."""

from __future__ import annotations

import shutil
import time

import pytest
from django.test import override_settings

from archive.models import CaptureJob, Snapshot
from provenance.models import Document, Trace
from provenance.trace import run_trace, start_trace, upstream_candidates
from tests.corpus_server import CorpusServer

pytestmark = pytest.mark.django_db

FIXTURES = __import__("pathlib").Path(__file__).parent / "fixtures" / "trace_bounds"
DESK = "http://desk.example.org/2026/06/03/valley-water-rationing.html"
BOARD = "http://waterboard.example.com/notices/2026/rationing-order-14.html"
LOOP = "http://hollin.example.net/press/statement-rationing"
GONE = "http://gone.example.net/bulletins/2026-05-irrigation-cuts"
LITERAL = "http://10.20.30.40/reports/dam-assessment.pdf"
INTRANET = "http://intranet.ministry.example/memos/spillway"
LEDGER = "http://ledger.example.org/2026/10/12/ferry-timetable-winter.html"
GAZETTE = "http://gazette.example.com/news/2026/10/ferry-winter-crossings"
DIGEST = "http://digest.example.org/2026/07/weekly-sources.html"
SLOW = "http://roundup.example.org/2026/07/slow-sources.html"
N_LINKS = 500
N_SLOW = 10
SLOW_SECONDS = 1.0  # each slow source drips its body for about this long


def _digest_page() -> str:
    items = "\n".join(
        f'  <p>Item {i}: the figure for district {i} was revised, according to '
        f'<a href="http://source{i}.example.com/releases/{i}">release {i} of its statistics office</a>.</p>'
        for i in range(N_LINKS))
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Weekly sources digest</title>'
            f'</head><body><article><h1>Weekly sources digest</h1>\n{items}\n</article></body></html>\n')


def _slow_page() -> str:
    items = "\n".join(
        f'  <p>Station {i} reported a flood warning on Sunday, according to '
        f'<a href="http://lab.naql.test/slow-drip?n=5&amp;interval={SLOW_SECONDS / 5}&amp;station={i}">its bulletin</a>.</p>'
        for i in range(N_SLOW))
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Flood bulletins</title>'
            f'</head><body><article><h1>Flood bulletins</h1>\n{items}\n</article></body></html>\n')


@pytest.fixture(scope="module")
def bounds_web(tmp_path_factory, offline_dns):
    root = tmp_path_factory.mktemp("trace_bounds")
    for f in FIXTURES.iterdir():
        shutil.copy(f, root / f.name)
    (root / "digest.html").write_text(_digest_page(), encoding="utf-8")
    (root / "slow.html").write_text(_slow_page(), encoding="utf-8")
    with open(root / "urls.tsv", "a", encoding="utf-8") as fh:
        fh.write(f"{DIGEST}\tdigest.html\t200\ttext/html; charset=utf-8\t-\n")
        fh.write(f"{SLOW}\tslow.html\t200\ttext/html; charset=utf-8\t-\n")
    server = CorpusServer("proxy", corpus_dir=root).start()
    yield server
    server.stop()


@pytest.fixture
def web(bounds_web, fake_dns):
    bounds_web.reset()
    fake_dns.set("intranet.ministry.example", ["10.0.0.7"])
    with override_settings(NAQL_CAPTURE_PROXY=bounds_web.proxy_url):
        yield bounds_web


def _trace(url, **opts) -> Trace:
    return run_trace(start_trace(url, enqueue=False, requisites=False, **opts).pk)


def _failure(t: Trace, url: str) -> dict:
    found = [f for f in t.failures if f["url"] == url]
    assert len(found) == 1, (url, t.failures)
    return found[0]


def test_failing_upstreams_are_recorded_with_their_reason_and_the_trace_goes_on(web):
    t = _trace(DESK)
    assert t.state == Trace.State.SUCCEEDED, t.error
    assert _failure(t, LOOP)["code"] == "redirect_loop"
    gone = _failure(t, GONE)
    assert gone["code"] == "http_status" and gone["details"]["status"] == 404
    assert _failure(t, LITERAL)["code"] == "forbidden_address"
    assert _failure(t, INTRANET)["code"] == "forbidden_address"
    # the one good source was captured and related despite the failures around it
    assert {d.url for d in t.documents.all()} == {DESK, BOARD}
    assert {(r.source.url, r.target.url) for r in t.relations.select_related("source", "target")} == {(DESK, BOARD)}
    assert t.stopped_by == ""
    # nothing reached the private addresses: refused before any connection
    assert not web.requests_for("http://10.20.30.40") and not web.requests_for("http://intranet.ministry.example")


def test_out_of_scope_links_are_never_requested(web):
    t = _trace(DESK)
    asked = {r.url.split("?")[0] for r in web.requests}
    for host in ("partners.example.com", "other.example.com", "ads.example.net", "comments.example.net",
                 "twitter.com", "www.facebook.com"):
        assert not any(host in u for u in asked), (host, asked)
    assert not any("desk.example.org/politics" in u or "reservoir-levels" in u for u in asked)
    cands = {c.url for c in upstream_candidates(t.document)}
    assert cands == {BOARD, LOOP, GONE, LITERAL, INTRANET}


def test_a_source_named_without_a_link_is_reported_unresolved_with_its_paragraph(web):
    t = _trace(DESK)
    assert [(u["name"], u["paragraph"], u["reason"]) for u in t.unresolved] == [("The Valley Courier", 7, "not archived")]
    assert t.unresolved[0]["message"] == "The Valley Courier, named in paragraph 7: not archived"


def test_a_link_cycle_is_walked_once(web):
    t = _trace(LEDGER)
    assert t.state == Trace.State.SUCCEEDED, t.error
    assert {d.url for d in t.documents.all()} == {LEDGER, GAZETTE}
    assert len(web.requests_for(LEDGER)) == 1 and len(web.requests_for(GAZETTE)) == 1
    assert CaptureJob.objects.count() == 2
    # one relation between the two, never both directions (which way is the detector's call)
    pairs = {frozenset((r.source.url, r.target.url)) for r in t.relations.select_related("source", "target")}
    assert pairs == {frozenset((LEDGER, GAZETTE))} and t.relations.count() == 1


def test_a_page_linking_500_outbound_urls_stops_at_the_document_bound(web):
    t0 = time.monotonic()
    t = _trace(DIGEST, max_documents=25)
    assert t.state == Trace.State.SUCCEEDED, t.error
    assert t.stopped_by == "max_documents"
    assert CaptureJob.objects.count() == 25  # the digest and 24 of its sources, no more
    bound = [f for f in t.failures if f["code"] == "bound_max_documents"]
    tried = [f for f in t.failures if f["code"] != "bound_max_documents"]
    assert len(tried) == 24 and len(bound) == N_LINKS - 24
    assert all(f["code"] == "dns_failure" for f in tried), {f["code"] for f in tried}  # unknown hosts
    print(f"500-link page: {time.monotonic() - t0:.2f}s, timings {t.timings}")


def test_the_time_budget_stops_the_walk_and_says_so(web):
    """Ten sources that each take about a second to send their body; a 3.5 s budget (checked
    before each capture) lets a few through and records the rest as not followed."""
    budget = 3.5
    t = _trace(SLOW, time_budget=budget)
    assert t.state == Trace.State.SUCCEEDED, t.error
    assert t.stopped_by == "time_budget"
    slow = [n for n in t.nodes if "slow-drip" in n["url"]]
    bound = [f for f in t.failures if f["code"] == "bound_time_budget"]
    assert 1 <= len(slow) < N_SLOW and len(slow) + len(bound) == N_SLOW
    assert all(f["message"].startswith("not followed: the time budget bound (3.5)") for f in bound)
    # the walk ends within the budget plus the one capture running when it ran out (and some slack
    # for a loaded machine); never after all ten sources
    walk = t.timings["capture"] + t.timings["candidates"]
    assert walk < budget + SLOW_SECONDS + 3, t.timings
    print(f"time budget {budget}s: {len(slow)} slow sources captured, walk {walk:.2f}s, timings {t.timings}")


def test_a_starting_url_refused_by_the_guard_is_refused_before_a_trace_exists(web):
    from archive.errors import ForbiddenAddress

    with pytest.raises(ForbiddenAddress):
        start_trace("http://169.254.169.254/latest/meta-data/", enqueue=False)
    assert Trace.objects.count() == 0


def test_a_starting_url_that_404s_fails_the_trace_with_the_reason(web):
    t = _trace(GONE)
    assert t.state == Trace.State.FAILED
    assert t.error["code"] == "http_status" and "404" in t.error["message"]
    assert Snapshot.objects.filter(status=404).count() == 1  # the 404 itself is kept as evidence
    assert Document.objects.count() == 0


@pytest.mark.parametrize(("url", "expected"), [
    ("http://cronica.example.net/2026/08/14/cosecha-aceite.html", [("La Voz del Olivar", 1)]),
    ("http://veille.example.org/2026/09/02/glacier-combe.html", [("Le Courrier des Alpes", 1)]),
    ("http://akhbar.example.com/2026/08/15/qamh.html", [("الراية الجديدة", 2)]),
], ids=["es", "fr", "ar"])
def test_outlets_named_without_a_link_are_unresolved_but_people_are_not(web, url, expected):
    """An outlet after a media noun ("el diario", "le quotidien", "صحيفة «…»") is reported with its
    paragraph; a person quoted with the same cue ("Según Tomás Ruiz", "Selon Claire Fabre") or a
    ministry's statement without a name is not."""
    t = _trace(url)
    assert t.state == Trace.State.SUCCEEDED, t.error
    assert [(u["name"], u["paragraph"]) for u in t.unresolved] == expected
