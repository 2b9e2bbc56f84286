"""archive.extract.versions: change detection and diffs between versions of one URL (gold stealth edit)."""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path

import pytest

from archive.extract.article import Extracted, extract
from archive.extract.versions import (
    comparable_units,
    compare,
    paragraph_key,
    render_html,
    text_fingerprint,
    tokenize,
)

CORPUS = Path(__file__).parent / "fixtures" / "corpus"
GOLD = CORPUS / "gold"
EDIT = json.loads((GOLD / "stealth_edit.json").read_text(encoding="utf-8"))
CHANGES = {c["type"]: c for c in EDIT["changes"]}
URL = EDIT["url"]


def _html(file: str) -> str:
    return (CORPUS / file).read_text(encoding="utf-8")


def _ex(html: str | bytes, content_type: str = "text/html; charset=UTF-8") -> Extracted:
    body = html.encode("utf-8") if isinstance(html, str) else html
    return extract(body, content_type, URL)


@pytest.fixture(scope="module")
def v1() -> Extracted:
    return _ex(_html(EDIT["before"]["file"]))


@pytest.fixture(scope="module")
def v2() -> Extracted:
    return _ex(_html(EDIT["after"]["file"]))


@pytest.fixture(scope="module")
def stealth(v1, v2):
    return compare(v1, v2)


# -- the gold stealth edit ---------------------------------------------------------------------


def test_stealth_edit_is_an_edit_with_different_fingerprints(stealth, v1, v2):
    assert stealth.is_edit
    assert stealth.old_fingerprint == text_fingerprint(v1) != text_fingerprint(v2) == stealth.new_fingerprint


def test_stealth_edit_reports_the_changed_headline(stealth):
    change = CHANGES["headline_changed"]
    assert stealth.title_changed
    assert (stealth.old_title, stealth.new_title) == (change["before"], change["after"])
    assert "".join(w.text for w in stealth.title_words if w.op != "delete") == change["after"]
    assert "".join(w.text for w in stealth.title_words if w.op != "insert") == change["before"]


def test_stealth_edit_reports_reworded_c04_removed_c20_and_added_note_and_nothing_else(stealth):
    changes = stealth.changes
    assert [c.op for c in changes] == ["replace", "delete", "insert"]
    reworded, removed, added = changes
    assert (reworded.old_text, reworded.new_text) == (CHANGES["sentence_reworded"]["before"],
                                                      CHANGES["sentence_reworded"]["after"])
    assert removed.old_text == CHANGES["paragraph_removed"]["before"]
    assert added.new_text == CHANGES["note_added"]["after"]
    s = stealth.summary
    assert (s.paragraphs_changed, s.paragraphs_removed, s.paragraphs_added) == (1, 1, 1)


def test_update_note_is_inserted_right_after_the_source_line(stealth):
    ops = stealth.ops
    i = next(k for k, op in enumerate(ops) if op.op == "insert")
    assert ops[i - 1].op == "equal" and ops[i - 1].new_text == CHANGES["note_added"]["after_text"]


def test_unchanged_paragraphs_are_aligned_as_equal(stealth, v1):
    equal = [op for op in stealth.ops if op.op == "equal"]
    assert len(equal) == len(comparable_units(v1)) - 2  # all but the reworded and removed paragraphs
    assert all(op.old_text == op.new_text for op in equal)


def test_reworded_sentence_diff_is_whole_words(stealth):
    reworded = stealth.changes[0]
    deleted = [w.text for w in reworded.words if w.op == "delete"]
    inserted = [w.text for w in reworded.words if w.op == "insert"]
    assert [t.split() for t in deleted] == [["وزير", "الدفاع", "المغربي"]]
    assert inserted == ["، الوزير المنتدب لدى رئيس الحكومة المكلف بإدارة الدفاع الوطني في المغرب،"]
    s = stealth.summary
    assert s.words_removed == 3 + len(CHANGES["paragraph_removed"]["before"].split())
    assert s.words_added > 3 and s.chars_added > s.words_added


def test_word_ops_rebuild_old_and_new_paragraph_exactly(stealth):
    for op in stealth.changes:
        if op.op != "replace":
            continue
        assert "".join(w.text for w in op.words if w.op != "insert") == op.old_text
        assert "".join(w.text for w in op.words if w.op != "delete") == op.new_text


def test_compare_works_on_extractions_restored_from_stored_json(v1, v2, stealth):
    a = Extracted.from_dict(json.loads(json.dumps(v1.as_dict())))
    b = Extracted.from_dict(json.loads(json.dumps(v2.as_dict())))
    assert compare(a, b).as_dict() == stealth.as_dict()


def test_comparison_as_dict_is_json_serialisable(stealth):
    data = json.loads(json.dumps(stealth.as_dict(), ensure_ascii=False))
    assert data["is_edit"] is True
    assert data["summary"]["paragraphs_changed"] == 1
    assert [op["op"] for op in data["ops"] if op["op"] != "equal"] == ["replace", "delete", "insert"]


# -- boring variation is not an edit -----------------------------------------------------------


def test_same_capture_twice_is_not_an_edit(v1):
    again = _ex(_html("watan/article.v1.html"))
    result = compare(v1, again)
    assert not result.is_edit and not result.changes and not result.title_changed


def test_whitespace_only_changes_are_not_an_edit(v1):
    html = _html("watan/article.v1.html")
    body_at = html.index("<body")
    head, body = html[:body_at], html[body_at:]
    body = body.replace("، ", "،\n      ").replace(". ", ".&nbsp; ").replace("</p>", " \t</p>")
    body = body.replace("2020 .في", "2020 . في").replace("\n", "\r\n")
    variant = _ex(head + body)
    assert variant.visible.text != v1.visible.text  # the visible text really differs…
    assert text_fingerprint(variant) == text_fingerprint(v1)  # …but only in whitespace
    assert not compare(v1, variant).is_edit


def test_rotated_related_links_are_not_an_edit(v1):
    html = _html("watan/article.v1.html")
    # "قد يعجبك أيضاً": reverse the three items and swap one for another article.
    block = re.search(r"(<section class=\"related-posts\">.*?<ul>)(.*?)(</ul>)", html, re.S)
    items = re.findall(r"<li>.*?</li>", block.group(2), re.S)
    items = list(reversed(items))
    items[0] = '<li><a href="http://www.watanserb.com/2021/11/28/other/">مقال آخر عن العلاقات المغربية الإسرائيلية</a></li>'
    html = html[: block.start(2)] + "\n".join(items) + html[block.end(2):]
    # In-body "اقرأ أيضاً" lines rotate too.
    html = html.replace("باحث مقدسي لـِ”وطن”: اتفاقية المغرب مع “إسرائيل” الأمنية هدفها الجزائر",
                        "صحيفة إسبانية: المغرب يعزز احتلال الصحراء الغربية بدعم أمريكا وإسرائيل", 1)
    variant = _ex(html)
    assert variant.visible.text != v1.visible.text
    assert text_fingerprint(variant) == text_fingerprint(v1)
    assert not compare(v1, variant).is_edit


def test_windows_1256_copy_is_not_an_edit(v1):
    copy = extract((CORPUS / "watan/article.windows-1256.html").read_bytes(), "text/html", URL)
    assert copy.charset == "windows-1256"
    result = compare(v1, copy)
    assert not result.is_edit and not result.changes
    assert text_fingerprint(copy) == text_fingerprint(v1)


def test_view_counters_and_timestamps_in_boilerplate_lines_are_not_an_edit():
    old = "نُشر في 27 نوفمبر 2021 - 10:15\n1,234 مشاهدة\nThe council approved the budget on Monday.\nUpdated 3 hours ago"
    new = "نُشر في 27 نوفمبر 2021 - 10:47\n1,567 مشاهدة\nThe council approved the budget on Monday.\nUpdated 5 hours ago"
    assert text_fingerprint(old) == text_fingerprint(new)
    assert not compare(old, new).is_edit


def test_dates_and_numbers_in_article_prose_still_count():
    old = "The memorandum was signed in Rabat on 24 November 2021 by the two defence ministers."
    new = "The memorandum was signed in Rabat on 25 November 2021 by the two defence ministers."
    assert text_fingerprint(old) != text_fingerprint(new)
    result = compare(old, new)
    assert result.is_edit
    assert [(w.op, w.text) for w in result.changes[0].words if w.op != "equal"] == [("delete", "24"), ("insert", "25")]


def test_invisible_characters_and_tatweel_are_boring():
    assert paragraph_key("الأمـــن\u200b السيبراني\u200f") == paragraph_key("الأمن السيبراني")
    assert paragraph_key("abc") != paragraph_key("abd")


def test_title_change_alone_is_an_edit(v1):
    html = _html("watan/article.v1.html").replace(
        'content="الأمن السيبراني والاستخبارات.. مفاتيح اتفاقية الدفاع بين إسرائيل والمغرب"',
        'content="عنوان جديد"', 1)
    variant = _ex(html)
    result = compare(v1, variant)
    assert result.is_edit and result.title_changed and not result.changes


# -- tokens ------------------------------------------------------------------------------------


ARABIC = "لـِ”وطن”: الاتفاقية التي وقّعناها لعَلاقات الدولة، يُذكر. (2017-2021) وشدد هناوي"


def test_tokenize_round_trips_exactly():
    for text in (ARABIC, CHANGES["sentence_reworded"]["after"], "l'État-Major, 10:15 a.m. — 1,342 Retweets"):
        assert "".join(tokenize(text)) == text


def test_tokenize_never_splits_an_arabic_letter_from_its_diacritics():
    tokens = tokenize(ARABIC)
    assert not any(unicodedata.category(t[0]).startswith("M") for t in tokens)
    for word in ("لـِ", "وقّعناها", "لعَلاقات", "يُذكر", "هناوي"):
        assert word in tokens
    assert "،" in tokens and "”" in tokens  # punctuation is its own token


def test_tokenize_keeps_connected_words_whole():
    tokens = tokenize("Político-Militar l'État 10:15 1,342 end.")
    assert tokens == ["Político-Militar", " ", "l'État", " ", "10:15", " ", "1,342", " ", "end", "."]


def test_whitespace_tokens_join_changes_into_one_run():
    result = compare("one two three four five", "one six seven four five")
    words = [(w.op, w.text) for w in result.changes[0].words]
    assert words == [("equal", "one "), ("delete", "two three"), ("insert", "six seven"), ("equal", " four five")]


def test_paragraph_split_into_unrelated_text_is_delete_plus_insert():
    result = compare("alpha beta gamma delta epsilon\nkeep this line",
                     "completely different words here now\nkeep this line")
    assert [c.op for c in result.changes] == ["delete", "insert"]
    assert (result.summary.paragraphs_removed, result.summary.paragraphs_added) == (1, 1)


# -- rendering ---------------------------------------------------------------------------------


def test_render_html_marks_changes_and_renders_arabic_paragraphs_rtl(stealth):
    out = render_html(stealth)
    assert out.startswith('<div class="naql-diff" dir="auto">') and out.endswith("</div>")
    assert "<del>وزير الدفاع المغربي </del>" in out
    assert f'<p class="naql-diff-removed" dir="auto"><del>{CHANGES["paragraph_removed"]["before"]}</del></p>' in out
    assert f'<p class="naql-diff-added" dir="auto"><ins>{CHANGES["note_added"]["after"]}</ins></p>' in out
    paragraphs = re.findall(r"<p [^>]*>", out)
    assert paragraphs and all('dir="auto"' in p for p in paragraphs)


def test_render_html_escapes_page_text():
    result = compare("<b>safe</b> & sound", '<script>alert("x")</script> & sound')
    out = render_html(result)
    markup = re.sub(r"</?(?:div|p|h2|ins|del)(?: [^>]*)?>", "", out)
    assert "<" not in markup and ">" not in markup and '"' not in markup
    assert "&lt;" in markup and "&amp; sound" in markup and "&quot;x&quot;" in markup


def test_render_html_context_collapses_unchanged_paragraphs(stealth):
    full, short = render_html(stealth), render_html(stealth, context=0)
    assert short.count("naql-diff-equal") == 0 and "naql-diff-skip" in short
    assert short.count("<p ") < full.count("<p ")
    assert "<ins>" in short and "<del>" in short


def test_render_html_says_when_there_is_no_change(v1):
    out = render_html(compare(v1, v1))
    assert "naql-diff-none" in out and "<ins>" not in out and "<del>" not in out
