"""Unit tests without captures: anchoring outcomes, attribution rules on synthetic pages, boilerplate."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from archive.models import Snapshot, WarcFile
from archive.store.snapshots import apply_extraction
from provenance.anchoring import context, locate
from provenance.detect.attribution import detect
from provenance.documents import registered_domain
from provenance.text.segment import is_boilerplate

OLD = "Intro sentence here. The minister said the deal was historic. Another line follows. Last words."


def _loc(old_exact: str, new_text: str, old_text: str = OLD):
    start = old_text.index(old_exact)
    prefix, suffix = context(old_text, start, start + len(old_exact))
    return locate(old_exact, prefix, suffix, start, old_text, new_text)


def test_anchoring_unchanged_moved_edited_removed():
    s = "The minister said the deal was historic."
    assert _loc(s, "New headline. " + OLD).state == "unchanged"  # offsets shift, context stays
    moved = _loc(s, "Last words. Completely new opening. " + s + " Closing remark.")
    assert moved.state == "moved" and moved.score == 1.0
    edited = _loc(s, OLD.replace("said the deal was historic", "said the agreement was historic"))
    assert edited.state == "edited" and edited.exact == "The minister said the agreement was historic."
    assert 0.6 <= edited.score < 1
    removed = _loc(s, OLD.replace(s + " ", ""))
    assert removed.state == "removed" and removed.start is None
    rewritten = _loc(s, OLD.replace(s, "Rain is expected on Sunday in most regions."))
    assert rewritten.state == "removed"  # below the threshold: not the same sentence


def test_registered_domain_follows_the_public_suffix_list():
    assert registered_domain("www.elespanol.com") == "elespanol.com"
    assert registered_domain("news.bbc.co.uk") == "bbc.co.uk"
    assert registered_domain("http://old.watanserb.com/x") == "watanserb.com"
    # suffixes a two-letter-country guess gets wrong
    assert registered_domain("https://www.abc.net.au/news/") == "abc.net.au"
    assert registered_domain("www.presidencia.gob.ar") == "presidencia.gob.ar"
    assert registered_domain("actualite.gouv.qc.ca") == "gouv.qc.ca"
    assert registered_domain("https://www.kyoto-np.co.jp/articles/") == "kyoto-np.co.jp"
    # two blogs on one platform are two sites, not one publisher
    assert registered_domain("https://lecteur-engage.blogspot.com/") != registered_domain("https://autre.blogspot.com/")
    assert registered_domain("203.0.113.7") == "203.0.113.7"


@pytest.mark.parametrize(("text", "lang"), [
    ("(المصدر: الإسبانيول – ترجمة وتحرير وطن)", "ar"),
    ("اقرأ أيضاً: عنوان آخر", "ar"),
    ("Lee también: otro titular", "es"),
    ("Follow us on Twitter", "en"),
])
def test_boilerplate_lines_are_not_claims(text, lang):
    assert is_boilerplate(text, lang)


# --- synthetic pages ---------------------------------------------------------------------------

_n = 0


def page(url: str, body: str, *, lang: str, published: str, site: str, author: str = "") -> Snapshot:
    global _n
    _n += 1
    wf = WarcFile.objects.get_or_create(name=f"synthetic-{_n}.warc.gz", defaults={"size": 0, "sha256": "0" * 64})[0]
    html = (f'<html lang="{lang}"><head><meta property="og:site_name" content="{site}">'
            f'<meta property="article:published_time" content="{published}">'
            + (f'<meta name="author" content="{author}">' if author else "")
            + f"<title>T</title></head><body><article><h1>Headline of the page</h1>{body}</article></body></html>")
    snap = Snapshot(url=url, captured_at=datetime.now(UTC), status=200, mime="text/html", payload_sha256="0" * 64,
                    record_id=f"<urn:uuid:{_n}>", record_sha256="0" * 64, warc_file=wf, offset=0, length=0)
    apply_extraction(snap, html.encode(), "text/html; charset=utf-8")
    snap.save()
    from provenance.tasks import process_snapshot

    process_snapshot(snap.pk)  # the follow-up a capture runs: document, claims, relations, index
    return snap


def _edges(doc_url: str) -> set[tuple[str, str]]:
    from provenance.models import Document

    det = detect(Document.objects.get(url=doc_url))
    return {(d[0], det.document.__class__.objects.get(pk=t).url) for t, d in
            ((tid, (typ, evs)) for tid, (typ, evs) in det.best().items())}


@pytest.mark.django_db
def test_segun_link_gives_cites_and_named_unlinked_source_gives_attributes_to():
    page("http://agency.example/report/1", "<p>The ministry of health published figures on Monday about the outbreak "
         "in the north of the country.</p>", lang="en", published="2024-01-01T08:00:00Z", site="Agency Example")
    page("http://paper.example/a", '<p>Los casos aumentaron un diez por ciento, según <a href="http://agency.example/'
         'report/1">un informe</a> publicado el lunes.</p><p>El ministerio respondió a las críticas de los vecinos.'
         "</p>", lang="es", published="2024-01-02T08:00:00Z", site="Paper")
    page("http://other.example/b", "<p>Los casos aumentaron, dijo Agency Example en su boletín del lunes por la "
         "mañana.</p>", lang="es", published="2024-01-03T08:00:00Z", site="Other")
    assert _edges("http://paper.example/a") == {("cites", "http://agency.example/report/1")}
    assert _edges("http://other.example/b") == {("attributes_to", "http://agency.example/report/1")}


@pytest.mark.django_db
def test_verbatim_quote_without_link_gives_quotes_and_later_documents_are_never_sources():
    page("http://ngo.example/statement", "<p>We reject this visit because it is a grave mistake for the region.</p>",
         lang="en", published="2024-02-01T08:00:00Z", site="NGO Example")
    page("http://news.example/story", '<p>Activists called the visit "a grave mistake for the region" in a '
         "short text released on Thursday.</p>", lang="en", published="2024-02-02T08:00:00Z", site="News Example")
    assert _edges("http://news.example/story") == {("quotes", "http://ngo.example/statement")}
    assert _edges("http://ngo.example/statement") == set()  # published before: cannot quote the story


@pytest.mark.django_db
def test_byline_agency_credit_gives_republishes():
    text = ("<p>The central bank raised its main interest rate by half a point on Tuesday.</p>"
            "<p>Analysts had expected a smaller increase after the inflation figures of last month.</p>")
    page("http://efe.example/wire/1", text, lang="en", published="2024-03-01T08:00:00Z", site="EFE")
    page("http://daily.example/econ", text, lang="en", published="2024-03-01T12:00:00Z", site="Daily", author="EFE")
    assert _edges("http://daily.example/econ") == {("republishes", "http://efe.example/wire/1")}


@pytest.mark.django_db
def test_new_phrasing_is_a_data_change_not_a_code_change(monkeypatch):
    from provenance import documents

    page("http://source.example/orig", "<p>The bridge will close for repairs during the whole of next summer.</p>",
         lang="en", published="2024-04-01T08:00:00Z", site="Source")
    page("http://copy.example/c", '<p>The bridge will close next summer.</p><p>Adapted from <a href="http://source.'
         'example/orig">Source</a>.</p>', lang="en", published="2024-04-02T08:00:00Z", site="Copy")
    assert _edges("http://copy.example/c") == set()
    data = dict(documents.rules())
    data["source_lines"] = [*data["source_lines"], {"id": "en-adapted", "lang": "en", "pattern": "^adapted from\\b",
                                                    "relation": "derived_from", "unlinked": "attributes_to"}]
    monkeypatch.setattr(documents, "rules", lambda: data)
    monkeypatch.setattr("provenance.detect.cues.rules", lambda: data)
    assert _edges("http://copy.example/c") == {("derived_from", "http://source.example/orig")}
