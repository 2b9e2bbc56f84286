"""Claim kinds and speakers against labelled sentences: the gold claims of the fixture corpus and
hand-written sentences in four languages (tests/fixtures/claims/kinds.json). A speaker is shown
only when it is a person's or an organisation's name, never a fragment of the sentence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from provenance.text.claims import classify, is_name, speaker

FIX = Path(__file__).parent / "fixtures"
OWN = json.loads((FIX / "claims" / "kinds.json").read_text("utf-8"))
GOLD = json.loads((FIX / "corpus" / "gold" / "claims.json").read_text("utf-8"))


@pytest.mark.parametrize("s", OWN["sentences"], ids=lambda s: f"{s['lang']}-{s['kind']}-{s['text'][:12]}")
def test_hand_written_sentence_gets_its_speaker(s):
    assert speaker(s["text"], s["lang"]).casefold() == s["speaker"].casefold()  # "The Coast Guard" opens a sentence


@pytest.mark.parametrize("c", GOLD["claims"], ids=lambda c: c["id"])
def test_gold_claim_speaker_is_the_named_person_or_organisation(c):
    assert speaker(c["exact"], GOLD["language"]) == OWN["corpus_speakers"][c["id"]]


def test_claim_kinds_of_the_gold_article_are_right_for_at_least_24_of_26():
    wrong = [(c["id"], c["kind"], classify(c["exact"], GOLD["language"])) for c in GOLD["claims"]
             if classify(c["exact"], GOLD["language"]) != c["kind"]]
    assert len(wrong) <= 2, wrong
    # the two kinds of fault seen before: a reminder quoting a name, and a plain sentence with a quoted title
    assert not [w for w in wrong if w[1] == "background"]


@pytest.mark.parametrize("text, lang, kind", [
    ("ويُشار إلى أن “دار الثقافة” افتتحت أبوابها قبل عقدين.", "ar", "background"),
    ("Depuis l'ouverture du « Marché couvert », la rue est piétonne.", "fr", "background"),
    ("Los vecinos colgaron una pancarta con el lema «Queremos el tranvía» en la plaza.", "es", "fact"),
    ("«No vamos a cerrar la escuela», dijo la directora del centro.", "es", "quote"),
    ("Según la Guardia Civil, el incendio está controlado.", "es", "attributed_statement"),
])
def test_kind_of_new_sentences(text, lang, kind):
    assert classify(text, lang) == kind


@pytest.mark.parametrize("candidate, lang, ok", [
    ("نادية السالمي", "ar", True), ("المجلس الوطني للصحفيين", "ar", True),
    ("عليها أمام مقر", "ar", False), ("الذي عرّف", "ar", False), ("رئيس", "ar", False),
    ("Marta Vidal", "es", True), ("la Fiscalía", "es", True), ("que el proyecto", "es", False),
    ("The", "en", False), ("the Red Cross", "en", True), ("", "en", False),
])
def test_is_name_accepts_names_and_refuses_fragments(candidate, lang, ok):
    assert is_name(candidate, lang) is ok
