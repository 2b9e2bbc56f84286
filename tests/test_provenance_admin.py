"""The admin workbench: pages render (RTL article, chain), edits and actions write history with the user."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from provenance.models import Claim, ClaimLink, Document, Publisher, Relation
from tests.helpers import CORPUS, ELESPANOL_URL, WATAN_URL, gold
from tests.test_provenance_chain import capture_corpus

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_(client, corpus_proxy, django_capture_on_commit_callbacks):
    corpus_proxy.reset()
    capture_corpus(corpus_proxy, django_capture_on_commit_callbacks)
    call_command("load_gold_links", str(CORPUS / "gold" / "claims.json"), stdout=io.StringIO())
    user = get_user_model().objects.create_superuser("researcher", "r@example.org", "pw-not-used")
    client.force_login(user)
    client.user = user
    return client


def _form_data(resp) -> dict:
    """The POST data a browser would send back for an admin change form, unchanged."""
    data = {}

    def put(prefix, form):
        for name in form.fields:
            key = f"{prefix}{name}"
            value = form[name].value()
            if value is None:
                continue
            if isinstance(value, bool):
                if value:
                    data[key] = "on"
            elif isinstance(value, list | tuple):
                data[key] = list(value)
            else:
                data[key] = value

    put("", resp.context["adminform"].form)
    for inline in resp.context["inline_admin_formsets"]:
        fs = inline.formset
        for name in fs.management_form.fields:
            data[f"{fs.prefix}-{name}"] = fs.management_form[name].value()
        for f in fs.forms:
            put(f"{f.prefix}-", f)
    return data


def test_document_page_shows_rtl_article_with_claims_snapshots_and_chain(admin_client_):
    doc = Document.objects.get(url=WATAN_URL)
    resp = admin_client_.get(reverse("admin:provenance_document_change", args=[doc.pk]))
    assert resp.status_code == 200
    html = resp.content.decode()
    assert 'class="nq-article" dir="rtl" lang="ar"' in html
    assert html.count("<mark") >= 26
    assert doc.latest_snapshot().guid in html
    assert "translation of" in html and ELESPANOL_URL in html
    assert "https://cdn" not in html and "<script src=\"http" not in html


def test_changelist_filters_and_search(admin_client_):
    url = reverse("admin:provenance_document_changelist")
    assert admin_client_.get(url, {"language": "ar"}).status_code == 200
    resp = admin_client_.get(url, {"q": "ngo-oumma"})
    assert resp.status_code == 200 and resp.context["cl"].result_count == 1
    resp = admin_client_.get(url, {"q": "لقد اتخذنا خطوة تاريخية"})  # search by claim text
    assert resp.context["cl"].result_count == 1
    for name in ("claim", "claimlink", "relation", "publisher"):
        assert admin_client_.get(reverse(f"admin:provenance_{name}_changelist")).status_code == 200
    resp = admin_client_.get(reverse("admin:provenance_relation_changelist"), {"status__exact": "suggested"})
    assert resp.context["cl"].result_count == 7


def test_editing_a_claim_in_the_admin_writes_history_with_the_user(admin_client_):
    claim = Claim.objects.get(exact=gold("claims.json")["claims"][4]["exact"])
    url = reverse("admin:provenance_claim_change", args=[claim.pk])
    data = _form_data(admin_client_.get(url))
    data["speaker"] = "بيني غانتس"
    data["links-0-note"] = "checked against the tweet"
    resp = admin_client_.post(url, data)
    assert resp.status_code == 302, resp.context["adminform"].form.errors if resp.context else resp
    claim.refresh_from_db()
    assert claim.speaker == "بيني غانتس"
    last = claim.history.first()
    assert last.history_user == admin_client_.user and last.history_type == "~"
    link = ClaimLink.objects.get(pk=data["links-0-id"])
    assert link.note == "checked against the tweet" and link.history.first().history_user == admin_client_.user
    # the history page lists the change with the user
    hist = admin_client_.get(reverse("admin:provenance_claim_history", args=[claim.pk]))
    assert hist.status_code == 200 and "researcher" in hist.content.decode()


def test_accept_and_reject_actions_record_who(admin_client_):
    rels = list(Relation.objects.filter(source__url=WATAN_URL))
    url = reverse("admin:provenance_relation_changelist")
    resp = admin_client_.post(url, {"action": "accept", "_selected_action": [r.pk for r in rels]})
    assert resp.status_code == 302
    for r in rels:
        r.refresh_from_db()
        assert r.status == "accepted"
        assert r.history.first().history_user == admin_client_.user
    link = ClaimLink.objects.first()
    admin_client_.post(reverse("admin:provenance_claimlink_changelist"),
                       {"action": "reject", "_selected_action": [link.pk]})
    link.refresh_from_db()
    assert link.status == "rejected" and link.history.first().history_user == admin_client_.user


def test_document_actions_detect_segment_reanchor(admin_client_):
    doc = Document.objects.get(url=WATAN_URL)
    url = reverse("admin:provenance_document_changelist")
    Relation.objects.filter(source=doc, type="attributes_to").delete()
    resp = admin_client_.post(url, {"action": "detect_relations", "_selected_action": [doc.pk]}, follow=True)
    assert resp.status_code == 200
    assert Relation.objects.filter(source=doc, type="attributes_to").count() == 3
    assert Relation.objects.get(source=doc, type="translation_of").history.first().history_user == admin_client_.user
    n = Claim.objects.filter(document=doc).count()
    admin_client_.post(url, {"action": "segment_claims", "_selected_action": [doc.pk]})
    assert Claim.objects.filter(document=doc).count() == n  # idempotent: every sentence already has its claim
    resp = admin_client_.post(url, {"action": "reanchor_latest", "_selected_action": [doc.pk]}, follow=True)
    assert "nothing to re-anchor" in resp.content.decode()


def test_claim_page_draws_its_chain(admin_client_):
    claim = Claim.objects.get(exact=gold("claims.json")["claims"][4]["exact"])
    html = admin_client_.get(reverse("admin:provenance_claim_change", args=[claim.pk])).content.decode()
    assert "ORIGIN" in html and "We have taken a historic step." in html


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def _more_rows(user, n: int = 4) -> None:
    """n more of every kind of row the changelists show: publishers with documents, documents with
    snapshots-less URLs and claims, manual relations (recorded by a person), claim links."""
    watan = Document.objects.get(url=WATAN_URL)
    snap = watan.latest_snapshot()
    for k in range(n):
        pub = Publisher.objects.create(name=f"Extra {k}", domains=[f"extra{k}.example"])
        doc = Document.objects.create(url=f"https://extra{k}.example/a", publisher=pub, language="ar")
        claim = Claim.objects.create(document=doc, snapshot=snap, exact=snap.text[:10], start=0, end=10)
        Relation.objects.create(source=doc, target=watan, type="cites", recorded_by=user, detector="")
        ClaimLink.objects.create(claim=claim, upstream_document=watan, relation="quote", created_by=user)


def test_changelists_cost_the_same_number_of_queries_whatever_the_number_of_rows(admin_client_):
    names = ("document", "relation", "claim", "claimlink", "publisher")
    urls = {name: reverse(f"admin:provenance_{name}_changelist") for name in names}
    before = {name: _queries(admin_client_, url) for name, url in urls.items()}
    _more_rows(admin_client_.user)
    after = {name: _queries(admin_client_, url) for name, url in urls.items()}
    assert after == before
    resp = admin_client_.get(urls["document"])
    counts = {d.url: (d.n_snapshots, d.n_claims) for d in resp.context["cl"].result_list}
    watan = Document.objects.get(url=WATAN_URL)
    assert counts[WATAN_URL] == (watan.snapshots().count(), watan.claims.count()) and counts[WATAN_URL][1] >= 26
    assert counts["https://extra0.example/a"] == (0, 1)
    pubs = {p.name: p.n_documents for p in admin_client_.get(urls["publisher"]).context["cl"].result_list}
    assert pubs["Extra 0"] == 1


def test_document_page_queries_do_not_grow_with_unlinked_claims(admin_client_):
    watan = Document.objects.get(url=WATAN_URL)
    url = reverse("admin:provenance_document_change", args=[watan.pk])
    before = _queries(admin_client_, url)
    snap = watan.latest_snapshot()
    for k in range(5):
        Claim.objects.create(document=watan, snapshot=snap, exact=snap.text[k:k + 5], start=k, end=k + 5)
    assert _queries(admin_client_, url) == before
