"""The cue lexicon (provenance/rules/cues.json): every cue matches the example written for it, and
quotation marks around an outlet's name do not make a quotation."""

from __future__ import annotations

import re

import pytest

from provenance.detect.cues import (
    cue_rules,
    find_cues,
    is_name_quote,
    named_publishers,
    speech_quotations,
    translation_marker,
)
from provenance.models import Publisher
from provenance.text.textnorm import normalize

CUES = cue_rules()["cues"]


def _norm(s: str) -> str:
    return normalize(s).text


@pytest.mark.parametrize("cue", CUES, ids=[c["id"] for c in CUES])
def test_every_cue_matches_the_sentence_written_for_it(cue):
    assert cue.get("example"), "each cue carries an example sentence"
    assert re.search(cue["pattern"], _norm(cue["example"])), cue["example"]


@pytest.mark.parametrize("cue", [c for c in CUES if c["kind"] in ("report", "document")],
                         ids=[c["id"] for c in CUES if c["kind"] in ("report", "document")])
def test_reporting_cues_are_found_by_find_cues_in_their_language(cue):
    lang = cue["lang"] if cue["lang"] != "any" else "en"
    assert cue["id"] in {cid for _s, _e, cid in find_cues(_norm(cue["example"]), lang)}


@pytest.mark.parametrize("dateline", cue_rules()["datelines"], ids=lambda d: d["id"])
def test_datelines_match_their_example_and_give_the_agency(dateline):
    m = re.search(dateline["pattern"], _norm(dateline["example"]))
    assert m and len(m.group("source").split()) >= 1


@pytest.mark.parametrize(("sentence", "lang"), [
    ("وأفادت الصحيفة نقلا عن مسؤولين بأن الاجتماع أرجئ.", "ar"),
    ("ونقلته وكالة الجنوب عن شهود عيان.", "ar"),
    ("وقالوا لإذاعة المدينة إن المياه انقطعت.", "ar"),
    ("وحسبما أفاده موقع الرصد، فإن الطريق مقطوع.", "ar"),
    ("La cifra, recogida por el diario Levante Hoy, es provisional.", "es"),
    ("Selon des informations rapportées par l'hebdomadaire Le Phare, le chantier est arrêté.", "fr"),
    ("The figures were first reported by the Eastbrook Times.", "en"),
])
def test_clitic_gender_and_number_forms_are_cues(sentence, lang):
    assert find_cues(_norm(sentence), lang)


def test_plain_sentences_hold_no_reporting_cue():
    assert not find_cues(_norm("ارتفعت أسعار الخبز في الأسواق هذا الأسبوع."), "ar")
    assert not find_cues(_norm("El tren llegó con dos horas de retraso."), "es")


@pytest.mark.parametrize(("text", "lang"), [
    ("Traducido del portugués por la redacción.", "es"),
    ("Article traduit de l'anglais par notre équipe.", "fr"),
    ("في تقرير ترجمته منصة الجسر إلى العربية", "ar"),
])
def test_translation_markers(text, lang):
    assert translation_marker(_norm(text), lang)


@pytest.mark.parametrize(("sentence", "lang", "name"), [
    ("ونقلت صحيفة «الضفة اليوم» عن مصدر أمني أن الطريق أغلق.", "ar", "الضفة اليوم"),
    ('ونقلت "الرصيف" عن مسؤول في البلدية أن العمل توقف.', "ar", "الرصيف"),
    ("Le port restera fermé, selon le quotidien « La Vigie du Nord ».", "fr", "La Vigie du Nord"),
    ("El alcalde habló con el diario «Costa Norte» el lunes.", "es", "Costa Norte"),
    ("The mayor told the daily “Eastbrook Herald” that the road will reopen.", "en", "Eastbrook Herald"),
])
def test_an_outlet_name_in_quotation_marks_is_not_a_quotation(sentence, lang, name):
    quotes = [q for _s, _e, q in speech_quotations(sentence, lang)]
    assert name not in quotes
    s = sentence.index(name)
    assert is_name_quote(sentence, s, s + len(name), lang)


def test_short_quoted_speech_after_a_verb_stays_a_quotation():
    sentence = 'وقال "لن نتراجع أبدا" قبل أن يغادر القاعة.'
    assert [q for _s, _e, q in speech_quotations(sentence, "ar")] == ["لن نتراجع أبدا"]


def test_quoted_words_stay_quotations():
    sentence = "وقال الوزير إن «الحكومة لن تتراجع عن قرار رفع الأجور هذا العام»."
    assert [q for _s, _e, q in speech_quotations(sentence, "ar")] == [
        "الحكومة لن تتراجع عن قرار رفع الأجور هذا العام"]


@pytest.mark.django_db
def test_a_name_in_quotation_marks_is_still_found_as_a_named_source():
    pub = Publisher.objects.create(name="Al Rasif", aliases=["الرصيف"], domains=["rasif.example"])
    sentence = 'ونقلت "الرصيف" عن مسؤول في البلدية أن العمل توقف.'
    assert named_publishers(_norm(sentence), [pub]) == [pub]


@pytest.mark.django_db
@pytest.mark.parametrize(("window", "names"), [
    ("نقلت صحيفة «إل فارو ديل نورتي» الإسبانية", ["El Faro del Norte"]),
    ("حسبما أفادت وكالة «نوردبرس» الألمانية", ["Nordpress"]),
    ("وفقا لما أوردته «لو بوتي ريفاج»", ["Le Petit Rivage"]),
    ("كما ذكرت صحيفة لاتريبون الفرنسية", ["La Tribune"]),
])
def test_publishers_are_named_across_scripts_by_transliteration(window, names):
    pubs = [Publisher.objects.create(name=n, domains=[f"p{i}.example"]) for i, n in enumerate(names)]
    other = Publisher.objects.create(name="Gazette Centrale", domains=["other.example"])
    assert named_publishers(_norm(window), [*pubs, other]) == pubs
