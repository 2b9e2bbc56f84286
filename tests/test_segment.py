"""provenance.text.segment: sentence candidates, merges of stray full stops, boilerplate, headings."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from archive.extract.text import visible_text
from provenance.text.segment import is_boilerplate, page_segments, quotations, segment

CORPUS = Path(__file__).resolve().parent / "fixtures" / "corpus"
GOLD = json.loads((CORPUS / "gold" / "claims.json").read_text(encoding="utf-8"))


def _charset(raw: bytes, ctype: str) -> str:
    m = re.search(r"charset=([\w-]+)", ctype, re.I)
    if m:
        return m.group(1)
    m = re.search(rb"<meta[^>]+charset=[\"']?([\w-]+)", raw[:2048], re.I)
    return m.group(1).decode() if m else "utf-8"


def _page(file: str):
    ctype = next((ln.split("\t")[3] for ln in (CORPUS / "urls.tsv").read_text(encoding="utf-8").splitlines()
                  if ln.split("\t")[1] == file), "")
    raw = (CORPUS / file).read_bytes()
    return visible_text(raw.decode(_charset(raw, ctype)))


def _body(vt, marker: str, tag: str = "p"):
    return [p for p in vt.paragraphs if p.tag == tag and any(marker in x for x in p.path)]


@dataclass(frozen=True)
class P:
    start: int
    end: int
    tag: str = "p"


def _one(text: str, lang: str):
    return [s.text for s in segment(text, [P(0, len(text))], lang)]


def test_watan_body_every_gold_claim_is_one_segment_or_consecutive_segments_of_one_paragraph():
    vt = _page(GOLD["file"])
    segs = segment(vt.text, _body(vt, "div.entry-content"), "ar")
    for s in segs:
        assert vt.text[s.start:s.end] == s.text
    for claim in GOLD["claims"]:
        start = vt.text.index(claim["exact"])
        end = start + len(claim["exact"])
        inside = [s for s in segs if s.start >= start and s.end <= end]
        assert inside, claim["id"]
        assert inside[0].start == start and inside[-1].end == end, claim["id"]
        assert len({s.paragraph for s in inside}) == 1, claim["id"]
        assert not any(s.start < start < s.end or s.start < end < s.end for s in segs), claim["id"]


def test_watan_stray_full_stop_before_a_short_verbless_fragment_is_merged():
    vt = _page(GOLD["file"])
    texts = [s.text for s in segment(vt.text, _body(vt, "div.entry-content"), "ar")]
    c02 = GOLD["claims"][1]["exact"]
    assert c02.endswith("يوم الأربعاء الماضي في الرباط.")
    assert c02 in texts


def test_watan_read_also_lines_source_line_and_headings_yield_no_claim():
    vt = _page(GOLD["file"])
    body = _body(vt, "div.entry-content", "p") + _body(vt, "div.entry-content", "h2")
    segs = segment(vt.text, body, "ar")
    joined = " ".join(s.text for s in segs)
    assert "اقرأ أيضا" not in joined and "اقرأ أيضاً" not in joined
    assert "المصدر" not in joined
    flagged = segment(vt.text, body, "ar", keep_all=True)
    assert sum(1 for s in flagged if s.kind == "boilerplate") == 4  # 3 read-also + source line
    assert {s.text for s in flagged if s.kind == "heading"} >= {"تطبيع العلاقات", "“خطوة تاريخية”"}


def test_page_segments_finds_the_watan_claims_without_site_specific_selectors():
    vt = _page(GOLD["file"])
    segs = page_segments(vt, "ar")
    covered = {c["id"] for c in GOLD["claims"]
               if any(s.start >= vt.text.index(c["exact"]) and s.end <= vt.text.index(c["exact"]) + len(c["exact"])
                      for s in segs)}
    assert len(covered) == len(GOLD["claims"])
    in_claims = sum(1 for s in segs if any(s.text in c["exact"] for c in GOLD["claims"]))
    assert in_claims == len(segs)  # nothing outside the article body (menus, related links, comments)


def test_es_body_keeps_guillemet_quotes_whole_and_splits_sentences():
    vt = _page("elespanol/article.html")
    texts = [s.text for s in page_segments(vt, "es")]
    wanted = {u["exact"] for c in GOLD["claims"] for u in c["upstream"] if "elespanol" in u["url"]}
    wanted |= {u["exact"] for u in GOLD["untranslated_upstream"]}
    assert wanted <= set(texts)


def test_fr_communique_m_abbreviation_does_not_end_a_sentence():
    vt = _page("far/communique.html")
    segs = page_segments(vt, "fr")
    texts = [s.text for s in segs]
    assert "La coopération bilatérale s'étendra également au domaine de la cybersécurité." in texts
    assert any(t.startswith("Dans le cadre") and "M. Benny Gantz" in t and "M. Abdellatif Loudiyi" in t for t in texts)


def test_en_tweet_is_three_sentences_and_counters_are_not_claims():
    vt = _page("twitter/gantz-status.html")
    texts = [s.text for s in page_segments(vt, "en")]
    assert texts == [
        "Today in Rabat, together with Minister Abdellatif Loudiyi, I signed the first defense memorandum "
        "of understanding between Israel and Morocco.",
        "We have taken a historic step.",
        "The agreement will allow us to work on joint projects and to strengthen industrial cooperation.",
    ]


@pytest.mark.parametrize("text,lang,expected", [
    ("El Sr. García llegó a EE.UU. el martes. Luego volvió.", "es",
     ["El Sr. García llegó a EE.UU. el martes.", "Luego volvió."]),
    ("Dr. Smith paid $3.50 for it. J. R. Jones agreed! Did he?", "en",
     ["Dr. Smith paid $3.50 for it.", "J. R. Jones agreed!", "Did he?"]),
    ("M. Dupont a dit « Non. Jamais. » Puis il est parti.", "fr",
     ["M. Dupont a dit « Non. Jamais. »", "Puis il est parti."]),
    ("He said \"Stop. Now.\" Then he left.", "en", ["He said \"Stop. Now.\"", "Then he left."]),
    ("قال الوزير “لن نتراجع. أبدا”. وغادر القاعة؟ نعم غادر.", "ar",
     ["قال الوزير “لن نتراجع. أبدا”.", "وغادر القاعة؟", "نعم غادر."]),
    ("بلغ النمو 3.5 بالمئة في عام 2020 .في إطار الخطة الجديدة للحكومة.", "ar",
     ["بلغ النمو 3.5 بالمئة في عام 2020 .في إطار الخطة الجديدة للحكومة."]),
])
def test_split_on_sentence_punctuation_but_not_abbreviations_decimals_initials_or_quotes(text, lang, expected):
    assert _one(text, lang) == expected


@pytest.mark.parametrize("text,lang,expected", [
    # continuation word (complementiser) after a stray full stop
    ("وقال المتحدث في مؤتمر صحفي. إن الحكومة ستعلن القرار قريبا.", "ar",
     ["وقال المتحدث في مؤتمر صحفي. إن الحكومة ستعلن القرار قريبا."]),
    # relative pronoun
    ("زار الوفد المدينة القديمة. التي تضم مساجد تاريخية كثيرة.", "ar",
     ["زار الوفد المدينة القديمة. التي تضم مساجد تاريخية كثيرة."]),
    # very short fragment without a predicate
    ("وقع الطرفان الاتفاق النهائي. صباح الخميس في القاهرة.", "ar",
     ["وقع الطرفان الاتفاق النهائي. صباح الخميس في القاهرة."]),
    # a short fragment with a verb stands alone
    ("وقع الطرفان الاتفاق النهائي. وقال الوزير ذلك.", "ar",
     ["وقع الطرفان الاتفاق النهائي.", "وقال الوزير ذلك."]),
    # a new quotation starts a new statement, even after a complementiser-looking word
    ("ووصف التعاون بأنه “شراكة”. “أن هذا الاتفاق مهم جدا لنا”.", "ar",
     ["ووصف التعاون بأنه “شراكة”.", "“أن هذا الاتفاق mهم جدا لنا”.".replace("m", "م")]),
    ("Firmaron el acuerdo en Rabat. El martes pasado.", "es", ["Firmaron el acuerdo en Rabat. El martes pasado."]),
    ("Firmaron el acuerdo en Rabat. El texto es breve.", "es", ["Firmaron el acuerdo en Rabat.", "El texto es breve."]),
])
def test_fragments_that_cannot_stand_alone_merge_into_the_previous_sentence(text, lang, expected):
    assert _one(text, lang) == expected


@pytest.mark.parametrize("text,lang", [
    ("اقرأ أيضاً: باحث مقدسي يتحدث عن الاتفاقية", "ar"),
    ("اقرأ أيضا: تقرير جديد", "ar"),
    ("«تابعنا عبر قناتنا في YOUTUBE»", "ar"),
    ("قد يعجبك أيضاً", "ar"),
    ("(المصدر: الإسبانيول – ترجمة وتحرير وطن)", "ar"),
    ("جميع الحقوق محفوظة © 2021 وطن", "ar"),
    ("البريد الإلكتروني", "ar"),
    ("Lee también: Gantz llega a Rabat", "es"),
    ("© 2021 El Español. Todos los derechos reservados.", "es"),
    ("Lire aussi : le Maroc et Israël", "fr"),
    ("Read more: Israel and Morocco sign pact", "en"),
    ("Follow us on Twitter", "en"),
    ("Leave a Reply", "en"),
])
def test_boilerplate_rules_recognise_site_furniture_and_credit_lines(text, lang):
    assert is_boilerplate(text, lang)


@pytest.mark.parametrize("text,lang", [
    ("وقالت الهيئة في بيان إن الزيارة مرفوضة.", "ar"),
    ("Israel y Marruecos firmaron el pasado miércoles en Rabat un memorando.", "es"),
    ("La source de la rivière est au Maroc.", "fr"),
])
def test_claim_sentences_are_not_boilerplate(text, lang):
    assert not is_boilerplate(text, lang)


def test_heading_paragraphs_are_flagged_not_claims():
    text = "عنوان فرعي هنا وقع الطرفان الاتفاق."
    paras = [P(0, 14, "h2"), P(15, len(text), "p")]
    assert [s.text for s in segment(text, paras, "ar")] == ["وقع الطرفان الاتفاق."]
    kinds = [(s.kind, s.text) for s in segment(text, paras, "ar", keep_all=True)]
    assert kinds[0] == ("heading", "عنوان فرعي هنا")


@pytest.mark.parametrize("text", [
    "Dijo: «Hemos dado un paso histórico» ayer.",
    "He said “We have taken a historic step” today.",
    "Er sagte „Wir haben einen Schritt getan“ heute.",
    "Il a dit ‹ Nous avons franchi un pas › hier.",
    'He said "We have taken a historic step" today.',
    "قال ”لقد اتخذنا خطوة تاريخية“ أمس.",
])
def test_quotations_give_the_inner_text_at_its_offsets_in_every_quote_style(text):
    (start, end, inner), = quotations(text)
    assert text[start:end] == inner and len(inner.split()) >= 4
    assert text[start - 1] in "«“„‹\"”" and text[end] in "»”“›\""


def test_claims_align_and_attribution_find_quotes_with_one_function():
    from provenance import align
    from provenance.detect import attribution
    from provenance.text import claims

    assert claims.quotations is quotations and attribution.quotations is quotations
    assert align.quotations is quotations
