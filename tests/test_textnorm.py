"""provenance.text.textnorm: matching normalisation and its offset map back to the original."""

from __future__ import annotations

import pytest

from provenance.text.textnorm import base_lang, normalize

SAMPLES = [
    "أَعْلَنَ وزيرُ الدفاعِ إسرائيلَ، آخر ٱلأخبار على الطاولة: مكتبة",
    "Él dijo «Sí» — el 24 de noviembre de 2021\u00a0\u00a0en Rabat.",
    "La coopération s’étendra également au domaine de la cybersécurité.",
    "\ufeff\u200fنـــــوفمبر ٢٠٢١ و۱۹۷۳\u202b “خطوة”\u202c",
    "STRASSE ß İstanbul ﻻ",
]


@pytest.mark.parametrize("text", SAMPLES)
def test_offsets_point_at_the_original_character_of_each_normalised_character(text):
    nt = normalize(text)
    assert len(nt.offsets) == len(nt.text) == len(nt.ends)
    for i, ch in enumerate(nt.text):
        src = text[nt.offsets[i]:nt.ends[i]]
        if ch == " ":
            assert src.strip() == "" or not src.isalnum()
        elif ch == "'":  # apostrophe: depends on the letters around it
            assert src[0] in "'’ʼ`´"
        else:
            assert normalize(src).text.startswith(ch) or ch in normalize(src).text


@pytest.mark.parametrize("text", SAMPLES)
def test_normalised_span_maps_back_to_the_exact_original_span(text):
    nt = normalize(text)
    words = nt.text.split(" ")
    pos = 0
    for w in words:
        start, end = nt.original_span(pos, pos + len(w))
        assert normalize(text[start:end]).text == w
        pos += len(w) + 1


def test_original_span_keeps_dropped_diacritics_inside_the_span():
    text = "قالَ غانتسُ"
    nt = normalize(text)
    assert nt.text == "قال غانتس"
    assert text[slice(*nt.original_span(0, 3))] == "قالَ"
    assert text[slice(*nt.original_span(4, 9))] == "غانتسُ"


def test_original_span_rejects_out_of_range_spans():
    with pytest.raises(ValueError):
        normalize("abc").original_span(1, 9)


@pytest.mark.parametrize("text", SAMPLES)
def test_normalize_is_idempotent(text):
    once = normalize(text).text
    assert normalize(once).text == once


def test_arabic_diacritics_tatweel_and_quranic_marks_are_removed():
    assert normalize("مُحَمَّدٌ").text == "محمد"
    assert normalize("نـــوفمبر").text == "نوفمبر"
    assert normalize("الرَّحْمَٰنِ ۖ").text == "الرحمن"


def test_alef_variants_unify_to_bare_alef():
    assert normalize("أ إ آ ٱ").text == "ا ا ا ا"


def test_alef_maqsura_becomes_ya_and_ta_marbuta_becomes_ha():
    assert normalize("على مكتبة").text == "علي مكتبه"


def test_arabic_indic_and_eastern_arabic_digits_become_ascii():
    assert normalize("٢٠٢١ ۱۹۷۳").text == "2021 1973"


def test_bidi_and_format_controls_are_removed():
    assert normalize("\ufeffa\u200bb\u200fc\u202ad\u202ce\u2066f\u2069\u061cg").text == "abcdefg"


def test_latin_is_casefolded_and_accents_are_stripped():
    assert normalize("Él Ñandú CAFÉ Größe").text == "el nandu cafe grosse"


def test_turkish_dotted_and_dotless_i_follow_the_language():
    assert normalize("İstanbul", lang="tr").text == "istanbul"
    assert normalize("ISPARTA", lang="tr").text == "ısparta"


def test_quotes_unify_to_double_quote_and_apostrophes_inside_words_stay():
    assert normalize("“a” „b“ «c» ‹d› 'e' ′f′").text == '"a" "b" "c" "d" "e" "f"'
    assert normalize("s’étendra l'État").text == "s'etendra l'etat"


def test_dashes_unify_to_hyphen():
    assert normalize("a–b—c−d‒e―f").text == "a-b-c-d-e-f"


def test_nbsp_and_whitespace_runs_become_one_space_and_ends_are_trimmed():
    assert normalize("  a\u00a0\u00a0b\t\n c \u2003").text == "a b c"


def test_presentation_forms_become_base_letters():
    assert normalize("ﻻ ﺍﻟﻠﻪ").text == "لا الله"


@pytest.mark.parametrize("tag, base", [("ar", "ar"), ("ar-MA", "ar"), ("es_ES", "es"), ("FR-fr", "fr"),
                                       ("", ""), (None, "")])
def test_base_lang_is_the_primary_subtag_whatever_the_separator(tag, base):
    assert base_lang(tag) == base
