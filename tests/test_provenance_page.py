"""The provenance page of a document (/d/<ID>) and the parallel view of a translation, through HTTP:
what a reader sees, what a reader of another group does not see (exactly as the API), and
reviewing in place."""

from __future__ import annotations

import io

import lxml.html
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command

from archive.models import Snapshot
from provenance.models import Claim, ClaimLink, Document, ReviewStatus
from tests.helpers import CORPUS, ELESPANOL_URL, NGO_URL, TWEET_URL, WATAN_URL
from tests.test_provenance_chain import capture_corpus

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module", autouse=True)
def _no_embeddings():
    mp = pytest.MonkeyPatch()
    mp.setenv("NAQL_EMBEDDINGS", "off")  # the parallel view's aligner without the model: same code, faster
    yield
    mp.undo()


@pytest.fixture
def chain(corpus_proxy, django_capture_on_commit_callbacks):
    corpus_proxy.reset()
    snaps = capture_corpus(corpus_proxy, django_capture_on_commit_callbacks, with_v2=True)
    corpus_proxy.reset()
    call_command("load_gold_links", str(CORPUS / "gold" / "claims.json"), stdout=io.StringIO())
    return snaps


def _html(resp):
    assert resp.status_code == 200, resp.status_code
    return lxml.html.fromstring(resp.content.decode())


def _tweet_claim() -> Claim:
    link = (ClaimLink.objects.filter(claim__document__url=WATAN_URL, status="accepted", origin=True,
                                     upstream_document__url=TWEET_URL).select_related("claim")
            .order_by("claim__start").first())
    return link.claim


def test_anyone_reads_the_provenance_page_of_a_public_document(client, chain):
    watan = Document.objects.get(url=WATAN_URL)
    claim = _tweet_claim()
    doc = _html(client.get(f"/d/{watan.pk}?claim={claim.pk}"))
    article = doc.xpath("//div[contains(@class, 'nq-article')]")[0]
    assert article.get("dir") == "rtl" and article.get("lang") == "ar" and article.get("translate") == "no"
    marks = doc.xpath("//mark[contains(@class, 'nq-claim')]")
    assert len(marks) >= 20 and {m.get("class").split()[-1] for m in marks} >= {"st-accepted", "st-none"}
    panel = doc.get_element_by_id(f"claim-{claim.pk}")
    assert panel.get("hidden") is None  # the selected claim's chain is open
    hops = panel.xpath(".//div[contains(concat(' ', @class, ' '), ' nq-hop ')]")
    texts = [h.text_content() for h in hops]  # side by side: the claim, then each hop's column in turn
    assert claim.exact in texts[0]
    es = next(i for i, t in enumerate(texts) if "El Español" in t or "elespanol" in t)
    tw = next(i for i, t in enumerate(texts) if "gantz" in t.lower() and i > es)
    assert "nq-origin" in hops[tw].get("class")
    es_snap = Document.objects.get(url=ELESPANOL_URL).latest_snapshot()
    assert es_snap.guid in texts[es] and "ES" in texts[es]
    assert hops[es].xpath(".//blockquote")[0].get("lang") == "es"
    # the picture, the evidence, every snapshot with the diff, the citation
    svg = doc.xpath("//*[local-name()='svg' and contains(@class, 'nq-pic')]")[0]
    assert "translation of" in svg.text_content() and "El Español" in svg.text_content()
    assert "ترجمة وتحرير" in doc.xpath("//ul[@class='nq-rels']")[0].text_content()
    guids = [s.guid for s in watan.snapshots()]
    assert len(guids) == 2 and all(doc.xpath(f"//a[@href='/s/{g}']") for g in guids)
    assert doc.xpath(f"//a[@href='/s/{guids[0]}/diff/{guids[1]}']")
    cites = {t.get("data-format"): t.text_content() for t in doc.xpath("//textarea[@data-format]")}
    assert "http://testserver/s/" in cites["apa"] and "November" in cites["apa"]
    assert doc.xpath(f"//a[@href='/d/{watan.pk}/parallel/{Document.objects.get(url=ELESPANOL_URL).pk}']")


def test_a_private_document_page_is_hidden_exactly_as_the_api_hides_it(client, chain):
    User = get_user_model()
    group = Group.objects.create(name="desk")
    member = User.objects.create_user("member", password="x")
    member.groups.add(group)
    User.objects.create_user("outsider", password="x")
    ngo = Document.objects.get(url=NGO_URL)
    Snapshot.objects.filter(surt=ngo.surt).update(private_to_group=group)
    watan = Document.objects.get(url=WATAN_URL)
    private = set(Snapshot.objects.filter(surt=ngo.surt).values_list("guid", flat=True))
    for who, sees in ((None, False), ("outsider", False), ("member", True)):
        client.logout()
        if who:
            client.force_login(User.objects.get(username=who))
        page = client.get(f"/d/{ngo.pk}")
        api = client.get(f"/api/documents/{ngo.pk}/")
        assert (page.status_code == 200) is sees and page.status_code == api.status_code
        chain_page = client.get(f"/d/{watan.pk}").content.decode()
        assert any(g in chain_page for g in private) is sees
        claim = Claim.objects.filter(document=ngo).first()
        assert (client.get(f"/c/{claim.pk}").status_code == 302) is sees


def test_parallel_view_pairs_sentences_and_marks_what_was_added_or_left_out(client, chain):
    watan, es = Document.objects.get(url=WATAN_URL), Document.objects.get(url=ELESPANOL_URL)
    doc = _html(client.get(f"/d/{es.pk}/parallel/{watan.pk}"))  # either order: the translation goes left
    rows = doc.xpath("//table[contains(@class, 'nq-parallel')]/tbody/tr")
    assert rows
    left, right = rows[0].xpath("./td")[0], rows[0].xpath("./td")[2]
    assert left.get("lang") == "ar" and left.get("dir") == "rtl" and right.get("lang") == "es"
    classes = [r.get("class") for r in rows]
    reviewed = [r for r in rows if "r-reviewed" in r.get("class")]
    assert len(reviewed) >= 15  # the gold links pair most Watan sentences with El Español ones
    pair = next(r for r in reviewed if "Israel y Marruecos firmaron" in r.text_content())
    assert "الأربعاء" in pair.xpath("./td")[0].text_content()
    assert any("r-added" in c or "r-dropped" in c for c in classes)
    head = doc.xpath("//header[contains(@class, 'nq-prov-head')]")[0].text_content()
    assert "translated sentences have a source sentence" in head
    # no translation relation: no parallel view
    ngo = Document.objects.get(url=NGO_URL)
    assert client.get(f"/d/{watan.pk}/parallel/{ngo.pk}").status_code == 404


def test_reviewer_accepts_a_suggested_link_in_place_and_history_names_them(client, chain):
    User = get_user_model()
    watan = Document.objects.get(url=WATAN_URL)
    es_claim = Claim.objects.filter(document__url=ELESPANOL_URL).order_by("start").first()
    down = Claim.objects.filter(document=watan).exclude(links__isnull=False).order_by("start").first()
    link = ClaimLink.objects.create(claim=down, upstream_claim=es_claim, relation="translation", confidence=0.64,
                                    method="automatic", method_name="test", status="suggested")
    page = client.get(f"/d/{watan.pk}?claim={down.pk}").content.decode()
    assert f'data-link="{link.pk}"' in page and 'name="status" value="accepted"' not in page  # anonymous: no buttons
    assert client.post("/d/review", {"model": "claimlink", "pk": link.pk, "status": "accepted"},
                       HTTP_ACCEPT="application/json").status_code == 403
    editor = User.objects.create_superuser("editor", "e@example.org", "x")
    client.force_login(editor)
    assert 'name="status" value="accepted"' in client.get(f"/d/{watan.pk}?claim={down.pk}").content.decode()
    r = client.post("/d/review", {"model": "claimlink", "pk": link.pk, "status": "accepted"},
                    HTTP_ACCEPT="application/json")
    assert r.status_code == 200 and r.json()["status"] == "accepted"
    link.refresh_from_db()
    assert link.status == ReviewStatus.ACCEPTED and link.history.first().history_user == editor
    assert "reviewed by editor" in client.get(f"/d/{watan.pk}?claim={down.pk}").content.decode()
    bad = client.post("/d/review", {"model": "snapshot", "pk": 1, "status": "accepted"}, HTTP_ACCEPT="application/json")
    assert bad.status_code == 400
