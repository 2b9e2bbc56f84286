"""The interface in Arabic, French and Spanish as well as English: every interface string has a
real translation, the committed .mo files are the compiled .po files (a fresh machine needs no
gettext tools), the browser's language or the switch chooses, and the archived text is never
translated or altered."""

from __future__ import annotations

import gettext
import io
from pathlib import Path

import lxml.html
import polib
import pytest
from django.core.management import call_command

from provenance.models import Claim, Document
from tests.helpers import CORPUS, WATAN_URL
from tests.test_provenance_chain import capture_corpus

LOCALE = Path(__file__).resolve().parent.parent / "locale"
LANGS = ("ar", "fr", "es")


@pytest.mark.parametrize("lang", LANGS)
def test_every_interface_string_is_translated_and_the_mo_file_is_the_compiled_po(lang):
    po = polib.pofile(str(LOCALE / lang / "LC_MESSAGES" / "django.po"))
    assert len(po) >= 150
    assert po.percent_translated() == 100 and not po.fuzzy_entries()
    mo = gettext.GNUTranslations((LOCALE / lang / "LC_MESSAGES" / "django.mo").open("rb"))
    for e in po:
        if e.msgid_plural:
            for n, form in e.msgstr_plural.items():
                assert form.strip(), e.msgid
            assert mo.ngettext(e.msgid, e.msgid_plural, 1) != "" and mo.ngettext(e.msgid, e.msgid_plural, 5)
        else:
            assert e.msgstr.strip() and e.msgstr != e.msgid or e.msgid in ("Versions", "Provenance", "paraphrase",
                                                                          "Capture (UTC)", "auto %(c)s"), e.msgid
            assert mo.gettext(e.msgid) == e.msgstr, f"{lang}: .mo is stale for {e.msgid!r}; recompile"


def test_arabic_plural_forms_pick_the_right_form():
    mo = gettext.GNUTranslations((LOCALE / "ar" / "LC_MESSAGES" / "django.mo").open("rb"))
    forms = [mo.ngettext("%(n)s capture", "%(n)s captures", n) % {"n": n} for n in (0, 1, 2, 5, 11, 100)]
    assert forms == ["لا لقطات", "لقطة واحدة", "لقطتان", "5 لقطات", "11 لقطة", "100 لقطة"]


@pytest.fixture
def chain(corpus_proxy, django_capture_on_commit_callbacks, monkeypatch):
    monkeypatch.setenv("NAQL_EMBEDDINGS", "off")
    corpus_proxy.reset()
    capture_corpus(corpus_proxy, django_capture_on_commit_callbacks)
    corpus_proxy.reset()
    call_command("load_gold_links", str(CORPUS / "gold" / "claims.json"), stdout=io.StringIO())


@pytest.mark.django_db
@pytest.mark.parametrize("lang, dir_, phrase", [
    ("ar", "rtl", "المقال وادعاءاته"), ("fr", "ltr", "L’article et ses affirmations"),
    ("es", "ltr", "El artículo y sus afirmaciones"), ("en", "ltr", "The article and its claims")])
def test_the_browsers_language_chooses_and_the_archived_text_stays_as_it_was(client, chain, lang, dir_, phrase):
    watan = Document.objects.get(url=WATAN_URL)
    page = client.get(f"/d/{watan.pk}", HTTP_ACCEPT_LANGUAGE=f"{lang},en;q=0.5").content.decode()
    doc = lxml.html.fromstring(page)
    html = doc.getroottree().getroot()
    assert (html.get("lang"), html.get("dir")) == (lang, dir_)
    assert phrase in page
    article = doc.xpath("//div[contains(@class, 'nq-article')]")[0].text_content()
    for claim in Claim.objects.filter(document=watan, snapshot=watan.latest_snapshot())[:10]:
        assert claim.exact in article  # the archived text itself, whatever the interface language
    assert watan.title in page


@pytest.mark.django_db
def test_the_switch_changes_the_language_and_dates_follow_it(client, chain):
    watan = Document.objects.get(url=WATAN_URL)
    resp = client.post("/i18n/setlang/", {"language": "fr", "next": f"/d/{watan.pk}"})
    assert resp.status_code == 302 and resp["Location"] == f"/d/{watan.pk}"
    page = client.get(f"/d/{watan.pk}").content.decode()
    assert "Provenance d’un document" in page and "novembre 2021" in page  # published 27 Nov 2021
    client.post("/i18n/setlang/", {"language": "ar", "next": "/"})
    page = client.get(f"/d/{watan.pk}").content.decode()
    assert "نوفمبر" in page or "تشرين الثاني" in page
