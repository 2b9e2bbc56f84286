"""Trace: one URL in, the whole chain captured, detected and aligned, through the corpus proxy.

Nothing is captured beforehand: the trace starts from the Watan URL alone and must find the rest
(El Español through the source line's 301 link, then the tweet, the army's communiqué and the
NGO's statement through El Español's embed and links). Captures are raw (no browser hosts): the
corpus proxy serves http only, and Chromium goes to twitter.com over https (HSTS preload)."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.test import override_settings

from archive.models import CaptureJob, Snapshot
from provenance.models import Claim, ClaimLink, Document, Trace
from provenance.trace import run_trace, start_trace
from tests.helpers import ELESPANOL_URL, TWEET_URL, WATAN_URL, gold

pytestmark = pytest.mark.django_db

CHAIN = gold("chain.json")
URL_OF = {n["id"]: n["url"] for n in CHAIN["nodes"]}


def gold_edges() -> set[tuple[str, str, str]]:
    return {(URL_OF[e["from"]], e["type"], URL_OF[e["to"]]) for e in CHAIN["edges"]}


def trace_edges(trace: Trace) -> set[tuple[str, str, str]]:
    return {(r.source.url, r.type, r.target.url) for r in trace.relations.select_related("source", "target")}


@pytest.fixture
def proxied(clean_proxy):
    with override_settings(NAQL_CAPTURE_PROXY=clean_proxy.proxy_url, NAQL_CAPTURE_BROWSER_DOMAINS=[]):
        yield clean_proxy


def test_tracing_only_the_watan_url_yields_exactly_the_gold_chain(proxied):
    assert Snapshot.objects.count() == 0
    t = run_trace(start_trace(WATAN_URL, enqueue=False).pk)
    print(json.dumps({"timings": t.timings, "alignment": t.alignment, "failures": t.failures,
                      "unresolved": t.unresolved}, ensure_ascii=False, indent=1))
    assert t.state == Trace.State.SUCCEEDED, t.error
    assert trace_edges(t) == gold_edges()
    assert {d.url for d in t.documents.all()} == set(URL_OF.values())
    assert t.unresolved == []


def test_every_watan_claim_gets_its_suggested_chain_and_links_score_the_corpus_figures(proxied):
    """Claim links made by the trace, measured against gold/claims.json as test_suggest measures
    run_suggestions on a hand-captured corpus, at the corpus's alignment figures (P ≥ 0.95,
    R ≥ 0.88 with the embedding model; without it, the no-model floors of test_suggest)."""
    from provenance.chain import claim_origins
    from provenance.embeddings import get_embedder
    from tests.test_suggest import CLAIMS, FLOOR_PLAIN, measure

    t = run_trace(start_trace(WATAN_URL, enqueue=False).pk)
    watan = Document.objects.get(url=WATAN_URL)
    links = ClaimLink.objects.filter(claim__document=watan).select_related("claim", "upstream_claim")
    per_url = {}
    for url in {u["url"] for c in CLAIMS["claims"] for u in c["upstream"]}:
        rows = [{"downstream_start": x.claim.start, "downstream_end": x.claim.end,
                 "upstream_start": x.upstream_claim.start, "upstream_end": x.upstream_claim.end}
                for x in links if x.upstream_document.url == url]
        per_url[url] = measure(rows, url)
    tp = sum(m["correct"] for m in per_url.values())
    pred = sum(m["predicted"] for m in per_url.values())
    n_gold = sum(m["gold"] for m in per_url.values())
    p, r = tp / pred, tp / n_gold
    print(f"trace claim links for Watan: P {p:.3f} R {r:.3f} ({tp}/{pred}, gold {n_gold})")
    floor = {"precision": 0.95, "recall": 0.88} if get_embedder() is not None else FLOOR_PLAIN
    assert p >= floor["precision"] and r >= floor["recall"], per_url
    # every Watan claim that has a gold upstream reaches an origin through suggested links
    gold_claims = [c for c in CLAIMS["claims"] if c["upstream"]]
    text = watan.latest_snapshot().text
    reached = 0
    for gc in gold_claims:
        k = text.find(gc["exact"])
        claim = Claim.objects.filter(document=watan, start__lte=k, end__gte=k + 1).first()
        if claim and claim_origins(claim, statuses=("accepted", "suggested")):
            reached += 1
    print(f"gold claims with a suggested chain to an origin: {reached}/{len(gold_claims)}")
    assert reached / len(gold_claims) >= floor["recall"]
    assert t.alignment["claims_with_origin"] >= reached


def test_a_second_trace_sharing_upstream_reuses_the_snapshots(proxied):
    first = run_trace(start_trace(WATAN_URL, enqueue=False).pk)
    jobs, snaps = CaptureJob.objects.count(), Snapshot.objects.count()
    second = run_trace(start_trace(ELESPANOL_URL, enqueue=False).pk)
    assert second.state == Trace.State.SUCCEEDED
    assert (CaptureJob.objects.count(), Snapshot.objects.count()) == (jobs, snaps)  # nothing captured again
    assert {n["outcome"] for n in second.nodes} == {"reused"}
    by_url = {n["url"]: n["snapshot"] for n in first.nodes}
    assert all(by_url.get(n["url"]) == n["snapshot"] for n in second.nodes if n["url"] in by_url)


def test_a_rerun_recaptures_upstream_older_than_the_reuse_age(proxied):
    t = run_trace(start_trace(WATAN_URL, enqueue=False).pk)
    n = CaptureJob.objects.count()
    t.reset()
    t.options = {**t.options, "reuse_age": 0}
    t.save(update_fields=["options"])
    t = run_trace(t.pk)
    assert t.state == Trace.State.SUCCEEDED and t.runs == 2
    assert CaptureJob.objects.count() == 2 * n
    assert trace_edges(t) == gold_edges()


def test_the_trace_command_follows_from_one_url_with_no_worker(proxied):
    out, err = io.StringIO(), io.StringIO()
    call_command("trace", WATAN_URL, "--follow", "--json", "--depth", "3", "--max-documents", "10",
                 stdout=out, stderr=err)
    result = json.loads(out.getvalue())
    tr = result["trace"]
    assert tr["state"] == "succeeded" and tr["options"]["depth"] == 3 and tr["options"]["max_documents"] == 10
    assert {(r["source"], r["type"], r["target"]) for r in tr["relations"]} == gold_edges()
    assert tr["unresolved"] == [] and tr["failures"] == []
    assert result["document"]["url"] == WATAN_URL
    assert {o["url"] for o in result["origins"]} >= {TWEET_URL}
    assert "hop 1: " in err.getvalue() and "aligning" in err.getvalue()
    # the plain text form names the trace and the chain
    out = io.StringIO()
    call_command("trace", WATAN_URL, stdout=out)
    assert "translation_of" in out.getvalue()


def test_trace_command_errors_are_clear(proxied):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="cannot trace .*forbidden|refusing"):
        call_command("trace", "http://127.0.0.1:9/x", "--follow", stdout=io.StringIO(), stderr=io.StringIO())
    with pytest.raises(CommandError, match="no document"):
        call_command("trace", "http://example.org/never", stdout=io.StringIO())


@pytest.mark.django_db(transaction=True)
def test_tracing_the_same_url_twice_at_once_captures_nothing_twice(corpus_proxy):
    """Two traces of the Watan URL started together, in two threads (two database connections):
    each URL is captured by one capture job, and both traces reach the same snapshots."""
    import threading

    corpus_proxy.reset()
    with override_settings(NAQL_CAPTURE_PROXY=corpus_proxy.proxy_url, NAQL_CAPTURE_BROWSER_DOMAINS=[]):
        a, b = (start_trace(WATAN_URL, enqueue=False, requisites=False) for _ in range(2))
        barrier = threading.Barrier(2)
        errors = []

        def go(pk):
            from django.db import connection

            try:
                barrier.wait()
                run_trace(pk)
            except Exception as exc:  # noqa: BLE001 - reported by the assertion below
                errors.append(exc)
            finally:
                connection.close()

        threads = [threading.Thread(target=go, args=(t.pk,)) for t in (a, b)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(300)
    assert not errors, errors
    a.refresh_from_db()
    b.refresh_from_db()
    assert a.state == b.state == Trace.State.SUCCEEDED, (a.error, b.error)
    assert CaptureJob.objects.count() == len(URL_OF)  # one job per URL of the chain
    assert sorted(r.url for r in corpus_proxy.requests if "watanserb" in r.url) == [WATAN_URL]
    assert trace_edges(a) == trace_edges(b) == gold_edges()
    snap_of = lambda t: {n["url"]: n["snapshot"] for n in t.nodes}  # noqa: E731
    assert snap_of(a) == snap_of(b)
    assert {n["outcome"] for n in a.nodes + b.nodes} <= {"captured", "shared", "reused"}
    assert any(n["outcome"] in ("shared", "reused") for n in a.nodes + b.nodes)
    corpus_proxy.reset()
