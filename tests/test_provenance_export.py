"""PROV export of the corpus chain: PROV-JSON and PROV-O Turtle load back with prov and rdflib."""

from __future__ import annotations

import io

import pytest
import rdflib
from django.core.management import call_command
from prov.model import PROV_TYPE, ProvDerivation, ProvDocument
from rdflib.namespace import PROV

from provenance.export import claim_prov, document_prov, to_prov_json, to_turtle
from provenance.models import Claim, Document, Relation
from tests.helpers import CORPUS, ELESPANOL_URL, NGO_URL, TWEET_URL, WATAN_URL, gold
from tests.test_provenance_chain import capture_corpus

pytestmark = pytest.mark.django_db


@pytest.fixture
def traced(corpus_proxy, django_capture_on_commit_callbacks):
    corpus_proxy.reset()
    snaps = capture_corpus(corpus_proxy, django_capture_on_commit_callbacks, with_v2=True)
    corpus_proxy.reset()
    call_command("load_gold_links", str(CORPUS / "gold" / "claims.json"), stdout=io.StringIO())
    return snaps


def _types(r) -> set[str]:
    return {str(t) for t in r.get_attribute(PROV_TYPE)}


def _of(recs, prov_type: str | None):
    ds = [r for r in recs if isinstance(r, ProvDerivation)]
    if prov_type is None:
        return [r for r in ds if not _types(r) & {"prov:Quotation", "prov:Revision", "prov:PrimarySource"}]
    return [r for r in ds if prov_type in _types(r)]


def _snap_iri(doc_url: str) -> str:
    from archive.uri import public_origin

    snap = Document.objects.get(url=doc_url).snapshots().first()
    return f"{public_origin()}/s/{snap.guid}"


def test_prov_json_round_trips_with_the_expected_derivations(traced):
    watan = Document.objects.get(url=WATAN_URL)
    text = to_prov_json(document_prov(watan))
    back = ProvDocument.deserialize(content=text, format="json")
    recs = back.get_records()
    derivations = _of(recs, None)
    pairs = {(str(r.formal_attributes[0][1]), str(r.formal_attributes[1][1]), str(r.formal_attributes[2][1]))
             for r in derivations}
    es_snap = Document.objects.get(url=ELESPANOL_URL).latest_snapshot().guid
    ev = Relation.objects.get(source=watan, type="translation_of").evidence_snapshot.guid
    assert any(g == f"snap:{ev}" and u == f"snap:{es_snap}" and a.startswith("naql:translation-rel")
               for g, u, a in pairs), pairs
    quotes = {(str(r.formal_attributes[0][1]), str(r.formal_attributes[1][1])) for r in _of(recs, "prov:Quotation")}
    tweet = Document.objects.get(url=TWEET_URL).latest_snapshot().guid
    ngo = Document.objects.get(url=NGO_URL).latest_snapshot().guid
    assert (f"snap:{es_snap}", f"snap:{tweet}") in quotes and (f"snap:{es_snap}", f"snap:{ngo}") in quotes
    revisions = _of(recs, "prov:Revision")
    assert len(revisions) == 1  # v2 wasRevisionOf v1
    primaries = _of(recs, "prov:PrimarySource")
    assert len(primaries) >= 3 + 7  # document origins (tweet, FAR, NGO) and the 7 claim → origin links
    assert back == ProvDocument.deserialize(content=to_prov_json(back), format="json")


def test_prov_turtle_loads_in_rdflib_with_prov_o_triples(traced):
    watan = Document.objects.get(url=WATAN_URL)
    ttl = to_turtle(document_prov(watan))
    g = rdflib.Graph()
    g.parse(data=ttl, format="turtle")
    watan_v1 = rdflib.URIRef(_snap_iri(WATAN_URL))
    es = rdflib.URIRef(_snap_iri(ELESPANOL_URL))
    tweet = rdflib.URIRef(_snap_iri(TWEET_URL))
    ev = Relation.objects.get(source=watan, type="translation_of").evidence_snapshot.guid
    assert (rdflib.URIRef(_snap_iri(WATAN_URL).rsplit("/", 1)[0] + "/" + ev), PROV.wasDerivedFrom, es) in g
    assert (es, PROV.wasQuotedFrom, tweet) in g
    assert (watan_v1, PROV.wasGeneratedBy, None) in g
    v2 = rdflib.URIRef(_snap_iri(WATAN_URL).rsplit("/", 1)[0] + "/" + watan.latest_snapshot().guid)
    assert (v2, PROV.wasRevisionOf, watan_v1) in g
    assert len(list(g.triples((None, PROV.hadPrimarySource, None)))) >= 3
    # the translation activity is typed, and used the upstream snapshot
    acts = set(g.subjects(PROV.used, es))
    assert acts and all((a, rdflib.RDF.type, PROV.Activity) in g for a in acts)


def test_claim_prov_has_quote_and_primary_source_of_the_tweet(traced):
    c05 = Claim.objects.get(exact=gold("claims.json")["claims"][4]["exact"])
    back = ProvDocument.deserialize(content=to_prov_json(claim_prov(c05)), format="json")
    recs = back.get_records()
    assert _of(recs, "prov:Quotation")
    assert len(_of(recs, "prov:PrimarySource")) == 1
    g = rdflib.Graph().parse(data=to_turtle(claim_prov(c05)), format="turtle")
    assert len(list(g.triples((None, PROV.wasQuotedFrom, None)))) == 1
