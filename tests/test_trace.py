"""Trace: one URL in, the whole chain captured, detected and aligned, through the corpus proxy.

Nothing is captured beforehand: the trace starts from the Watan URL alone and must find the rest
(El Español through the source line's 301 link, then the tweet, the army's communiqué and the
NGO's statement through El Español's embed and links)."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.test import override_settings

from archive.models import CaptureJob, Snapshot
from provenance.models import Claim, ClaimLink, Document, Relation, Trace
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
    with override_settings(NAQL_CAPTURE_PROXY=clean_proxy.proxy_url):
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
