"""The corpus chain (Watan ← El Español ← tweet, communiqué, NGO statement) as one WACZ: evidence and
reasoning together; PROV-JSON loads with `prov`, the claims (Web Annotations) with `rdflib`; only what
the reader may see goes in."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
import rdflib
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.test import override_settings
from prov.model import ProvDocument
from rdflib.namespace import RDF
from warcio.archiveiterator import ArchiveIterator

from archive.models import Snapshot
from archive.store.verify import verify_package
from provenance.models import ClaimLink, Document
from tests.helpers import CORPUS, ELESPANOL_URL, FAR_URL, NGO_URL, TWEET_URL, WATAN_URL, gold
from tests.test_provenance_chain import capture_corpus
from tests.wacz_support import export, wacz_validate

pytestmark = pytest.mark.django_db
OA = rdflib.Namespace("http://www.w3.org/ns/oa#")


@pytest.fixture
def traced(corpus_proxy, django_capture_on_commit_callbacks, tmp_path):
    corpus_proxy.reset()
    with override_settings(NAQL_PACKAGE_DIR=tmp_path / "packages", NAQL_TSA_URL=""):
        snaps = capture_corpus(corpus_proxy, django_capture_on_commit_callbacks, with_v2=True)
        corpus_proxy.reset()
        reviewer = User.objects.create_user("rania")
        call_command("load_gold_links", str(CORPUS / "gold" / "claims.json"), "--user", "rania", stdout=io.StringIO())
        yield snaps, reviewer


def _read(path):
    with zipfile.ZipFile(path) as zf:
        return ({n: zf.read(n) for n in zf.namelist()})


def test_corpus_chain_is_one_package_whose_prov_and_claims_load_back(traced, tmp_path):
    watan = Document.objects.get(url=WATAN_URL)
    out = export(tmp_path / "chain.wacz", "--document", str(watan.pk), "--chain")
    wacz_validate(out)
    assert verify_package(out).ok
    files = _read(out)
    dp = json.loads(files["datapackage.json"])
    assert {"provenance/chain.prov.json", "provenance/claims.jsonld"} <= {r["path"] for r in dp["resources"]}
    pages = [json.loads(x) for x in files["pages/pages.jsonl"].decode().splitlines()[1:]]
    urls = {p["url"] for p in pages}
    # every document of the chain, both Watan versions, up to the three origins
    for url in (WATAN_URL, ELESPANOL_URL, TWEET_URL, FAR_URL, NGO_URL):
        doc = Document.objects.get(url=url)
        assert {s.guid for s in doc.snapshots()} <= {p["id"] for p in pages}, url
    assert len([p for p in pages if p["url"] == WATAN_URL]) == 2 and len(urls) >= 5
    # PROV-JSON loads with prov; every snapshot entity it names is a page of the package
    prov = ProvDocument.deserialize(content=files["provenance/chain.prov.json"].decode(), format="json")
    snap_entities = {str(r.identifier).split(":", 1)[1] for r in prov.get_records()
                     if r.is_element() and str(r.identifier).startswith("snap:")}
    assert snap_entities and snap_entities <= {p["id"] for p in pages}
    # the Web Annotations load with rdflib (inline context, offline)
    g = rdflib.Graph().parse(data=files["provenance/claims.jsonld"].decode(), format="json-ld")
    annotations = set(g.subjects(RDF.type, OA.Annotation))
    linking = {a for a in annotations if (a, OA.motivatedBy, OA.linking) in g}
    identifying = annotations - linking
    gold_claims = gold("claims.json")["claims"]
    assert len(linking) == ClaimLink.objects.count() and len(linking) >= len(gold_claims)
    assert len(identifying) >= len(gold_claims)
    # a link: target the downstream claim, body the upstream text with its selectors on a packaged snapshot
    naql = rdflib.Namespace(f"{dp['naql']['document'].rsplit('/provenance/', 1)[0]}/ns/provenance#")
    link = next(iter(linking))
    body = g.value(link, OA.hasBody)
    selectors = set(g.objects(body, OA.hasSelector))
    assert {g.value(s, RDF.type) for s in selectors} == {OA.TextQuoteSelector, OA.TextPositionSelector}
    exact = next(str(g.value(s, OA.exact)) for s in selectors if g.value(s, OA.exact) is not None)
    assert exact and str(g.value(body, naql.snapshot)) in {p["id"] for p in pages}
    state = g.value(body, OA.hasState)
    assert g.value(state, OA.sourceDate) is not None and "/s/" in str(g.value(state, OA.cachedSource))
    assert str(g.value(link, naql.reviewStatus)) == "accepted"
    reviewer = g.value(link, naql.reviewedBy)
    assert str(g.value(reviewer, rdflib.URIRef("http://xmlns.com/foaf/0.1/nick"))) == "rania"
    assert g.value(link, naql.reviewedAt) is not None and g.value(link, rdflib.URIRef(
        "http://purl.org/dc/terms/created")) is not None
    # the same request again is served from the cache: same bytes
    again = export(tmp_path / "again.wacz", "--document", str(watan.pk), "--chain")
    assert again.read_bytes() == out.read_bytes()


def test_a_package_holds_only_what_the_reader_may_see(traced, tmp_path):
    newsroom = Group.objects.create(name="newsroom")
    member = User.objects.create_user("member")
    member.groups.add(newsroom)
    ngo = Document.objects.get(url=NGO_URL)
    hidden = {s.guid for s in ngo.snapshots()}
    Snapshot.objects.filter(guid__in=hidden).update(private_to_group=newsroom)
    watan = Document.objects.get(url=WATAN_URL)
    public = _read(export(tmp_path / "public.wacz", "--document", str(watan.pk), "--chain"))
    inside = _read(export(tmp_path / "member.wacz", "--document", str(watan.pk), "--chain", "--as-user", "member"))
    ngo_snaps = list(Snapshot.objects.filter(guid__in=hidden))
    for files, visible in ((public, False), (inside, True)):
        for name, data in files.items():
            assert all((s.guid.encode() in data) == (visible and name in (
                "pages/pages.jsonl", "provenance/chain.prov.json", "provenance/claims.jsonld"))
                or s.guid.encode() not in data for s in ngo_snaps), (name, visible)
        assert all((s.guid.encode() in files["pages/pages.jsonl"]) == visible for s in ngo_snaps)
        ids = {r.rec_headers.get_header("WARC-Record-ID")
               for r in ArchiveIterator(io.BytesIO(files["archive/data.warc.gz"]))}
        assert all((s.record_id in ids) == visible for s in ngo_snaps)
        quoted = ClaimLink.objects.filter(upstream_claim__document__url=NGO_URL).first().upstream_claim
        assert (quoted.exact.encode() in files["provenance/claims.jsonld"]) == visible
