"""Provenance on the captured corpus: documents, detected relations exactly as gold/chain.json."""

from __future__ import annotations

import pytest
from django.test import override_settings

from archive.capture.capture import capture
from provenance.detect.attribution import affected_by, detect_relations
from provenance.models import Document, Relation
from provenance.tasks import process_snapshot
from tests.helpers import (
    ELESPANOL_URL,
    FAR_URL,
    NGO_URL,
    OLD_WATAN_URL,
    TWEET_URL,
    WATAN_URL,
    gold,
)

pytestmark = pytest.mark.django_db

CHAIN = gold("chain.json")
URL_OF = {n["id"]: n["url"] for n in CHAIN["nodes"]}
ORDERS = {
    "watan_first": [WATAN_URL, ELESPANOL_URL.rstrip("/"), TWEET_URL, FAR_URL, NGO_URL],
    "origins_first": [NGO_URL, FAR_URL, TWEET_URL, ELESPANOL_URL, WATAN_URL],
}


def capture_corpus(proxy, callbacks, urls=None, *, with_v2=False, with_copy=False):
    urls = list(urls or ORDERS["watan_first"])
    if with_copy:
        urls.append(OLD_WATAN_URL)
    snaps = {}
    with override_settings(NAQL_CAPTURE_PROXY=proxy.proxy_url, CELERY_TASK_ALWAYS_EAGER=True):
        for url in urls:
            with callbacks(execute=True):
                snaps[url] = capture(url, requisites=False).final
        if with_v2:
            proxy.set_version(WATAN_URL, 1)
            with callbacks(execute=True):
                snaps["v2"] = capture(WATAN_URL, requisites=False).final
    return snaps


@pytest.fixture
def corpus(corpus_proxy, django_capture_on_commit_callbacks):
    corpus_proxy.reset()
    snaps = capture_corpus(corpus_proxy, django_capture_on_commit_callbacks)
    yield snaps
    corpus_proxy.reset()


def edges() -> set[tuple[str, str, str]]:
    return {(r.source.url, r.type, r.target.url) for r in Relation.objects.live().select_related("source", "target")}


def gold_edges() -> set[tuple[str, str, str]]:
    return {(URL_OF[e["from"]], e["type"], URL_OF[e["to"]]) for e in CHAIN["edges"]}


@pytest.mark.parametrize("order", sorted(ORDERS))
def test_detected_chain_equals_gold_whatever_the_capture_order(corpus_proxy, django_capture_on_commit_callbacks,
                                                                order):
    corpus_proxy.reset()
    capture_corpus(corpus_proxy, django_capture_on_commit_callbacks, ORDERS[order])
    got, want = edges(), gold_edges()
    assert got - want == set(), "extra relations"
    assert want - got == set(), "missing relations"


def test_documents_have_canonical_urls_and_the_301_url_is_an_alias(corpus):
    assert Document.objects.count() == 5
    es = Document.objects.get(url=ELESPANOL_URL)
    assert Document.objects.for_url(ELESPANOL_URL.rstrip("/")).get() == es
    assert es.language == "es" and es.publisher.name == "El Español"
    tweet = Document.objects.get(url=TWEET_URL)
    assert tweet.kind == Document.Kind.POST and "Gantz" in tweet.publisher.name
    watan = Document.objects.get(url=WATAN_URL)
    assert watan.language == "ar" and watan.snapshots().count() == 1


def test_translation_relation_carries_its_evidence(corpus):
    rel = Relation.objects.get(source__url=WATAN_URL, type="translation_of")
    assert rel.target.url == ELESPANOL_URL
    assert rel.evidence_url == ELESPANOL_URL.rstrip("/")
    assert "ترجمة وتحرير" in rel.evidence_text
    assert rel.evidence_snapshot == corpus[WATAN_URL]
    assert rel.evidence_snapshot.text[rel.evidence_start:rel.evidence_end] == rel.evidence_text
    assert rel.detector == "naql-attribution" and rel.status == "suggested" and rel.recorded_by is None


def test_a_capture_re_examines_only_the_documents_it_can_affect(corpus):
    """Not every document after every capture: those linking, embedding, naming or quoting the new
    one, those with a relation to it, and the translations of those."""
    def affected(url):
        return {d.url for d in affected_by(Document.objects.get(url=url))}

    assert affected(WATAN_URL) == set()  # nobody links, names or translates Watan
    assert affected(ELESPANOL_URL) == {WATAN_URL}  # linked from Watan's source line
    # the tweet: embedded by El Español, and Watan translates El Español; the NGO names Gantz but
    # published two days before the tweet, so the tweet cannot be its source
    assert affected(TWEET_URL) == {ELESPANOL_URL, WATAN_URL}
    assert affected(FAR_URL) == {ELESPANOL_URL, WATAN_URL}
    # a new version of Watan: nothing to redo elsewhere, and detection leaves the chain as it was
    summary = process_snapshot(corpus[WATAN_URL].pk)
    assert summary["redetected"] == 0
    assert edges() == gold_edges()


def test_automatic_redetection_writes_history_only_for_real_changes(corpus):
    watan = Document.objects.get(url=WATAN_URL)
    n = Relation.history.count()
    assert {r.pk for r in detect_relations(watan)} == set(Relation.objects.filter(source=watan).values_list("pk", flat=True))
    assert Relation.history.count() == n  # nothing changed: no history row
    rel = Relation.objects.get(source=watan, type="translation_of")
    Relation.objects.filter(pk=rel.pk).update(evidence_text="stale")  # behind history's back
    detect_relations(watan)
    rel.refresh_from_db()
    assert "ترجمة وتحرير" in rel.evidence_text
    assert Relation.history.count() == n + 1 and rel.history.first().evidence_text == rel.evidence_text
