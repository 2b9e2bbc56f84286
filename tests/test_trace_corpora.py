"""Trace on every chain corpus: starting from each most-downstream article alone (nothing captured
before), the trace yields exactly the gold edges reachable from it, and no unresolved name.

Corpora: every ``tests/fixtures/**/gold/chain.json`` next to a ``urls.tsv`` (the Watan corpus, and
the chains written for the provenance issue as they land), plus any directory listed in
``NAQL_TEST_CORPORA`` (``os.pathsep``-separated; e.g. a corpus held back from the repository).
Each corpus is served at its real URLs by its own corpus proxy."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from django.test import override_settings

from provenance.models import Trace
from provenance.trace import run_trace, start_trace
from tests.corpus_server import CorpusServer

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).parent / "fixtures"


def _corpora() -> list[Path]:
    found = {p.parent.parent for p in FIXTURES.rglob("gold/chain.json") if (p.parent.parent / "urls.tsv").exists()}
    extra = [Path(x) for x in os.environ.get("NAQL_TEST_CORPORA", "").split(os.pathsep) if x.strip()]
    return sorted(found | {p for p in extra if (p / "gold" / "chain.json").exists()})


def _starts() -> list[tuple[Path, str]]:
    out = []
    for corpus in _corpora():
        chain = json.loads((corpus / "gold" / "chain.json").read_text(encoding="utf-8"))
        targets = {e["to"] for e in chain["edges"]}
        out += [(corpus, n["id"]) for n in chain["nodes"] if n["id"] not in targets]
    return out


def reachable(chain: dict, start: str) -> set[tuple[str, str, str]]:
    url = {n["id"]: n["url"] for n in chain["nodes"]}
    seen, todo, edges = {start}, [start], set()
    while todo:
        node = todo.pop()
        for e in chain["edges"]:
            if e["from"] == node:
                edges.add((url[e["from"]], e["type"], url[e["to"]]))
                if e["to"] not in seen:
                    seen.add(e["to"])
                    todo.append(e["to"])
    return edges


def _edges(t: Trace) -> set[tuple[str, str, str]]:
    return {(r.source.url, r.type, r.target.url) for r in t.relations.select_related("source", "target")}


@pytest.mark.parametrize(("corpus", "start"), _starts(), ids=lambda v: v.name if isinstance(v, Path) else v)
def test_trace_from_the_most_downstream_article_yields_its_gold_chain(corpus, start, offline_dns):
    """Linked sources are followed by the trace itself. A source only named (no link, nothing
    archived) cannot be captured without its URL: it must be reported as unresolved by the
    document naming it; giving its URL (what "Capture this URL" does) and running the trace again
    must then complete the gold chain, with nothing left unresolved."""
    chain = json.loads((corpus / "gold" / "chain.json").read_text(encoding="utf-8"))
    url_of = {n["id"]: n["url"] for n in chain["nodes"]}
    want = reachable(chain, start)
    with CorpusServer("proxy", corpus_dir=corpus) as proxy, override_settings(
            NAQL_CAPTURE_PROXY=proxy.proxy_url, NAQL_CAPTURE_BROWSER_DOMAINS=[]):
        t = run_trace(start_trace(url_of[start], enqueue=False, requisites=False).pk)
        assert t.state == Trace.State.SUCCEEDED, t.error
        got, reached = _edges(t), {d.url for d in t.documents.all()}
        print(json.dumps({"start": start, "extra": sorted(got - want), "missing": sorted(want - got),
                          "documents": sorted(reached), "failures": [f["url"] for f in t.failures],
                          "unresolved": [(u["document_url"], u["name"]) for u in t.unresolved]}, ensure_ascii=False))
        assert got - want == set(), "extra relations"
        missing = want - got
        unreached = {tgt for _s, _t, tgt in missing if tgt not in reached}
        assert all(tgt in unreached for _s, _t, tgt in missing), "a relation between reached documents is missing"
        naming = {u["document_url"] for u in t.unresolved}
        assert {src for src, _t, _tgt in missing if src in reached} <= naming, \
            "a reached document whose source is named only reports no unresolved name"
        if unreached:  # the researcher gives the URLs of the named sources and runs the trace again
            t.reset()
            t.options = {**t.options, "sources": sorted(unreached)}
            t.save(update_fields=["options"])
            t = run_trace(t.pk)
            assert t.state == Trace.State.SUCCEEDED, t.error
    assert _edges(t) == want
    assert t.unresolved == [], t.unresolved
