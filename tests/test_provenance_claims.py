"""Claims on the captured corpus: segmentation, gold links and chains, re-anchoring v1 → v2, trace --json."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command

from provenance.chain import claim_chain, claim_origins
from provenance.models import Claim, ClaimLink, Document
from provenance.text.claims import claim_for_text, classify, speaker
from tests.helpers import CORPUS, ELESPANOL_URL, WATAN_URL, gold
from tests.test_provenance_chain import capture_corpus

pytestmark = pytest.mark.django_db

CLAIMS = gold("claims.json")
EDIT = gold("stealth_edit.json")
GOLD_PATH = str(CORPUS / "gold" / "claims.json")


@pytest.fixture
def captured(corpus_proxy, django_capture_on_commit_callbacks):
    corpus_proxy.reset()
    snaps = capture_corpus(corpus_proxy, django_capture_on_commit_callbacks)
    yield snaps
    corpus_proxy.reset()


@pytest.fixture
def with_gold(captured):
    call_command("load_gold_links", GOLD_PATH, stdout=io.StringIO())
    return captured


def watan_claims(snap=None) -> list[Claim]:
    qs = Claim.objects.filter(document__url=WATAN_URL)
    if snap is not None:
        qs = qs.filter(snapshot=snap)
    return list(qs.order_by("start"))


def test_segmented_claims_cover_every_gold_sentence(captured):
    texts = [c.exact for c in watan_claims()]
    for g in CLAIMS["claims"]:
        ok = g["exact"] in texts or any(
            " ".join(texts[i:j]) == g["exact"] for i in range(len(texts)) for j in range(i + 2, min(i + 5, len(texts)) + 1)
        )
        assert ok, f"{g['id']} not covered by one claim or consecutive claims"


def test_boilerplate_headings_and_source_line_are_not_claims(captured):
    texts = [c.exact for c in watan_claims()]
    assert not any(t.startswith(("اقرأ أيضا", "(المصدر", "قد يعجبك")) for t in texts)
    assert "تحالف معرفي استراتيجي" not in texts  # a sub-heading
    assert not any("الاسم" == t or "البريد الإلكتروني" in t for t in texts)
    # the embedded tweet inside El Español is the tweet's text, not a claim of El Español
    es_texts = [c.exact for c in Claim.objects.filter(document__url=ELESPANOL_URL)]
    assert not any(t.startswith("Today in Rabat") for t in es_texts)


def test_claim_selectors_point_into_the_snapshot_text(captured):
    for c in watan_claims():
        text = c.snapshot.text
        assert text[c.start:c.end] == c.exact
        assert text[max(0, c.start - 32):c.start] == c.prefix and text[c.end:c.end + 32] == c.suffix
        assert c.language == "ar"


def test_claim_kind_and_speaker_heuristics():
    assert classify("وقال غانتس على حسابه على تويتر “لقد اتخذنا خطوة تاريخية”.", "ar") == "quote"
    assert classify("يُذكر أنه تم الإعلان عن تطبيع العلاقات.", "ar") == "background"
    assert speaker("وقال غانتس على حسابه على تويتر “لقد اتخذنا خطوة تاريخية”.", "ar") == "غانتس"
    assert speaker("«Hemos dado un paso histórico», escribió Gantz en su cuenta de Twitter.", "es") == "Gantz"


def test_gold_links_give_each_claim_its_chain_to_the_origin(with_gold):
    for g in CLAIMS["claims"]:
        claim = Claim.objects.get(document__url=WATAN_URL, exact=g["exact"])
        hops = claim_chain(claim)
        got = {(h.upstream_document.url, h.upstream_claim.exact, h.link.relation, h.link.origin) for h in hops}
        want = {(u["url"], u["exact"], u["relation"], u["origin"]) for u in g["upstream"]}
        assert got == want, g["id"]
        for h in hops:
            assert h.snapshot is not None and h.upstream_claim.exact in h.snapshot.text
        origins = {h.upstream_document.url for h in claim_origins(claim)}
        want_origins = {u["url"] for u in g["upstream"] if u["origin"]} or {u["url"] for u in g["upstream"]}
        assert origins == want_origins, g["id"]
    assert ClaimLink.objects.count() == 32
    assert set(ClaimLink.objects.values_list("status", "method").distinct()) == {("accepted", "manual")}


def test_chain_walks_several_hops_and_survives_cycles(with_gold):
    c05 = Claim.objects.get(exact=CLAIMS["claims"][4]["exact"])
    es_claim = ClaimLink.objects.get(claim=c05, relation="translation").upstream_claim
    tweet_claim = ClaimLink.objects.get(claim=c05, origin=True).upstream_claim
    ClaimLink.objects.create(claim=es_claim, upstream_claim=tweet_claim, relation="translation", origin=True,
                             status="accepted")
    ClaimLink.objects.create(claim=tweet_claim, upstream_claim=c05, relation="quote", status="accepted")  # a cycle
    hops = claim_chain(c05)
    es_hop = next(h for h in hops if h.upstream_claim == es_claim)
    assert es_hop.children[0].upstream_claim == tweet_claim and es_hop.children[0].depth == 2
    assert es_hop.children[0].children[0].cycle  # back to c05: reported, not entered
    assert {h.upstream_claim for h in claim_origins(c05)} == {tweet_claim}


def test_reanchoring_v1_to_v2_finds_the_edit_and_the_removal(corpus_proxy, django_capture_on_commit_callbacks):
    corpus_proxy.reset()
    snaps = capture_corpus(corpus_proxy, django_capture_on_commit_callbacks, [WATAN_URL, ELESPANOL_URL])
    v1 = snaps[WATAN_URL]
    doc = Document.objects.get(url=WATAN_URL)
    for g in CLAIMS["claims"]:  # gold sentences as claims (merging segmenter parts where needed)
        claim_for_text(doc, g["exact"], v1)
    capture_corpus(corpus_proxy, django_capture_on_commit_callbacks, [], with_v2=True)
    corpus_proxy.reset()
    v2 = doc.latest_snapshot()
    assert v2 != v1
    reworded = next(c for c in EDIT["changes"] if c["type"] == "sentence_reworded")
    for g in CLAIMS["claims"]:
        claim = Claim.objects.get(document=doc, snapshot=v1, exact=g["exact"])
        assert claim.anchor_snapshot == v2
        if g["id"] == "c04":
            assert claim.anchor_state == "edited"
            assert claim.anchor_exact == reworded["after"]
            assert 0.6 <= claim.anchor_score < 1
            assert v2.text[claim.anchor_start:claim.anchor_end] == reworded["after"]
        elif g["id"] == "c20":
            assert claim.anchor_state == "removed" and claim.anchor_start is None
        else:
            assert claim.anchor_state == "unchanged", g["id"]
            assert v2.text[claim.anchor_start:claim.anchor_end] == g["exact"]
        assert claim.history.count() >= 2  # the re-anchoring is a recorded change
    # the update note is new text on v2: a new claim anchored there
    assert Claim.objects.filter(document=doc, snapshot=v2, exact__startswith="تم تحديث هذا المقال").exists()


def test_trace_json_for_the_watan_url_field_by_field(with_gold):
    out = io.StringIO()
    call_command("trace", WATAN_URL, "--json", stdout=out)
    t = json.loads(out.getvalue())
    doc = Document.objects.get(url=WATAN_URL)
    assert t["document"]["url"] == WATAN_URL and t["document"]["language"] == "ar"
    assert t["document"]["title"] == gold("chain.json")["nodes"][0]["title"]
    assert [s["id"] for s in t["document"]["snapshots"]] == [s.guid for s in doc.snapshots()]
    ups = {(r["type"], r["url"]) for r in t["relations"]["upstream"]}
    chain = gold("chain.json")
    url_of = {n["id"]: n["url"] for n in chain["nodes"]}
    assert ups == {(e["type"], url_of[e["to"]]) for e in chain["edges"] if e["from"] == "watan"}
    assert t["relations"]["downstream"] == []
    tr = next(r for r in t["relations"]["upstream"] if r["type"] == "translation_of")
    assert tr["evidence"]["snapshot"] == doc.snapshots().first().guid and "ترجمة وتحرير" in tr["evidence"]["text"]
    # the document chain reaches El Español's sources through it
    es_hop = next(h for h in t["chain"] if h["type"] == "translation_of")
    assert {(h["type"], h["url"]) for h in es_hop["upstream"]} == {
        (e["type"], url_of[e["to"]]) for e in chain["edges"] if e["from"] == "elespanol"}
    by_exact = {c["exact"]: c for c in t["claims"]}
    for g in CLAIMS["claims"]:
        c = by_exact[g["exact"]]
        assert c["language"] == "ar" and c["snapshot"] == doc.snapshots().first().guid
        assert c["selectors"][0]["type"] == "TextQuoteSelector" and c["selectors"][0]["exact"] == g["exact"]
        links = {(ln["url"], ln["exact"], ln["relation"], ln["origin"]) for ln in c["links"]}
        assert links == {(u["url"], u["exact"], u["relation"], u["origin"]) for u in g["upstream"]}, g["id"]
        for ln in c["links"]:
            up_doc = Document.objects.get(url=ln["url"])
            assert ln["snapshot"] in [s.guid for s in up_doc.snapshots()]
            assert ln["method"] == "manual" and ln["status"] == "accepted"
        assert {o["url"] for o in c["origins"] if o["origin"]} == {u["url"] for u in g["upstream"] if u["origin"]}
    c25 = by_exact[CLAIMS["claims"][24]["exact"]]
    assert c25["links"] == [] and c25["origins"] == []


def test_trace_text_output_and_unknown_url(with_gold):
    out = io.StringIO()
    call_command("trace", WATAN_URL, stdout=out)
    assert "translation_of" in out.getvalue() and "ORIGIN" in out.getvalue()
    # people read the Arabic URL, not a wall of %D8%A7…; --json keeps the exact ASCII URI
    assert "watanserb.com/2021/11/27/الأمن-السيبراني" in out.getvalue() and "%D8" not in out.getvalue()
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("trace", "http://unknown.example/x", stdout=io.StringIO())
