"""archive.extract.article: decoding, metadata, article body, links and embeds on the fixture corpus."""

from __future__ import annotations

import codecs
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from archive.extract import article as extract_mod
from archive.extract.article import Extracted, decode_html, detect_language, extract, parse_datetime
from archive.extract.text import visible_text

CORPUS = Path(__file__).parent / "fixtures" / "corpus"
GOLD = CORPUS / "gold"


def _rows() -> list[dict]:
    rows = []
    for line in (CORPUS / "urls.tsv").read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        url, file, status, content_type, _extra = line.split("\t")
        rows.append({"url": url, "file": file, "status": int(status), "content_type": content_type})
    return rows


ROWS = _rows()
CHAIN = json.loads((GOLD / "chain.json").read_text(encoding="utf-8"))
CLAIMS = json.loads((GOLD / "claims.json").read_text(encoding="utf-8"))
WATAN_URL = CHAIN["nodes"][0]["url"]
ELESPANOL_URL = next(n["url"] for n in CHAIN["nodes"] if n["id"] == "elespanol")
OLD_WATAN_URL = CLAIMS["copies"][0]["url"]


def _row(file: str) -> dict:
    return next(r for r in ROWS if r["file"] == file)


def _extract(file: str) -> Extracted:
    row = _row(file)
    return extract((CORPUS / file).read_bytes(), row["content_type"], row["url"])


@pytest.fixture(scope="module")
def v1() -> Extracted:
    return _extract("watan/article.v1.html")


@pytest.fixture(scope="module")
def v2() -> Extracted:
    return extract((CORPUS / "watan/article.v2.html").read_bytes(), "text/html; charset=UTF-8", WATAN_URL)


# -- every corpus page against gold/chain.json -------------------------------------------------

GOLD_PAGES = [(n, next(r for r in ROWS if r["url"] == n["url"] and r["status"] == 200)) for n in CHAIN["nodes"]]


@pytest.mark.parametrize(("node", "row"), GOLD_PAGES, ids=[n["id"] for n, _ in GOLD_PAGES])
def test_corpus_page_title_language_and_published_agree_with_gold_chain(node, row):
    ex = extract((CORPUS / row["file"]).read_bytes(), row["content_type"], row["url"])
    assert ex.is_html
    assert ex.language == node["language"]
    if "title" in node:
        assert ex.title == node["title"]
    gold = node["published"]
    assert ex.published is not None and ex.published.tzinfo is not None
    if "T" in gold:
        assert ex.published == datetime.fromisoformat(gold.replace("Z", "+00:00"))
    else:  # a date-only gold value: the page's own calendar date must agree
        assert ex.published.date().isoformat() == gold
    assert ex.canonical_url == node["url"]


@pytest.mark.parametrize("row", [r for r in ROWS if r["file"] != "-"], ids=lambda r: r["file"])
def test_every_served_corpus_file_extracts_without_error(row):
    ex = extract((CORPUS / row["file"]).read_bytes(), row["content_type"], row["url"])
    json.dumps(ex.as_dict())  # serialisable, whatever the type
    assert ex.is_html == row["content_type"].startswith("text/html")


def test_watan_v1_published_keeps_its_plus_0300_offset(v1):
    assert v1.published == datetime(2021, 11, 27, 10, 15, tzinfo=timezone(timedelta(hours=3)))
    assert v1.published.utcoffset() == timedelta(hours=3)
    assert v1.as_dict()["published"] == "2021-11-27T10:15:00+03:00"


def test_watan_v2_has_a_modified_date_and_v1_has_none(v1, v2):
    assert v1.modified is None
    assert v2.modified == datetime(2021, 11, 28, 16, 40, tzinfo=timezone(timedelta(hours=3)))
    assert v2.published == v1.published


def test_watan_v2_title_is_the_edited_headline(v2):
    edit = json.loads((GOLD / "stealth_edit.json").read_text(encoding="utf-8"))
    assert v2.title == edit["changes"][0]["after"]


def test_watan_metadata_byline_site_name_description(v1):
    assert v1.byline == "فريق تحرير وطن"
    assert v1.site_name == "وطن يغرد خارج السرب"
    assert v1.description.startswith("منذ اعتراف الولايات المتحدة")
    assert v1.charset == "utf-8"


def test_title_prefers_og_title_over_title_element_with_site_suffix(v1):
    assert v1.title_source == "og:title"
    assert " - وطن يغرد خارج السرب" not in v1.title


def test_title_falls_back_to_title_element_without_site_suffix():
    html = ("<html><head><title>Big news - The Daily</title>"
            "<meta property='og:site_name' content='The Daily'></head><body><p>x</p></body></html>")
    ex = extract(html.encode(), "text/html", "http://example.org/a")
    assert (ex.title, ex.title_source) == ("Big news", "title")


def test_title_uses_article_h1_when_no_og_title_or_json_ld():
    html = "<html><head><title>T - S</title></head><body><article><h1>The headline</h1></article></body></html>"
    ex = extract(html.encode(), "text/html", "http://example.org/a")
    assert (ex.title, ex.title_source) == ("The headline", "h1")


def test_byline_falls_back_to_json_ld_then_rel_author():
    ld = '<script type="application/ld+json">{"@type":"NewsArticle","author":[{"@type":"Person","name":"A. Writer"}]}</script>'
    ex = extract(f"<html><head>{ld}</head><body><p>x</p></body></html>".encode(), "text/html", "http://e.org/")
    assert ex.byline == "A. Writer"
    ex = extract(b'<html><body><a rel="author" href="/u/b">B. Writer</a></body></html>', "text/html", "http://e.org/")
    assert ex.byline == "B. Writer"


def test_published_falls_back_to_time_element_and_naive_stamps_are_utc():
    ex = extract(b'<html><body><time datetime="2021-11-24T14:05:12">x</time></body></html>', "text/html", "http://e.org/")
    assert ex.published == datetime(2021, 11, 24, 14, 5, 12, tzinfo=UTC)
    assert ex.published_source == "time"


def test_published_falls_back_to_htmldate_when_no_metadata():
    html = ("<html><body><article><p>Filed on 2021-11-24 by staff.</p>"
            "<p>Some words of the story go here.</p></article></body></html>")
    ex = extract(html.encode(), "text/html", "http://e.org/story")
    assert ex.published_source == "htmldate"
    assert ex.published.date().isoformat() == "2021-11-24"


def test_parse_datetime_handles_iso_z_date_only_and_rfc2822():
    assert parse_datetime("2021-11-24T14:05:12.000Z") == datetime(2021, 11, 24, 14, 5, 12, tzinfo=UTC)
    assert parse_datetime("2021-11-24") == datetime(2021, 11, 24, tzinfo=UTC)
    assert parse_datetime("Sat, 27 Nov 2021 07:15:00 GMT") == datetime(2021, 11, 27, 7, 15, tzinfo=UTC)
    assert parse_datetime("not a date") is None


# -- article body ------------------------------------------------------------------------------


def test_watan_v1_article_body_contains_every_gold_claim_exactly(v1):
    body = v1.article_paragraph_texts()
    for claim in CLAIMS["claims"]:
        hits = [t for t in body if claim["exact"] in t]
        assert len(hits) == 1, claim["id"]


def test_watan_v1_article_body_excludes_comment_form_footer_menu_and_related_links(v1):
    body = v1.article_text
    for boilerplate in ("أضف تعليق", "التعليق", "البريد الإلكتروني", "Akismet",  # comment form
                        "جميع الحقوق محفوظة", "سياسة الخصوصية",  # footer
                        "منوعات", "اقتصاد", "بحث عن",  # menu, search
                        "قد يعجبك أيضاً", "الجزائر تحذّر من تداعيات", "وقفات احتجاجية في مدن مغربية",  # related
                        "YOUTUBE", "بواسطة وطن"):
        assert boilerplate not in body, boilerplate
    # …and is one contiguous run of the entry content, first paragraph to source line.
    assert body.startswith("منذ اعتراف الولايات المتحدة")
    assert body.endswith("(المصدر: الإسبانيول – ترجمة وتحرير وطن)")
    assert v1.article_method == "trafilatura"


def test_article_paragraph_indices_point_into_visible_paragraphs(v1):
    texts = v1.visible.paragraph_texts()
    assert v1.article_paragraphs == sorted(set(v1.article_paragraphs))
    assert [texts[i] for i in v1.article_paragraphs] == v1.article_paragraph_texts()


def test_density_fallback_finds_watan_body_when_trafilatura_finds_nothing(monkeypatch):
    monkeypatch.setattr(extract_mod, "_main_text", lambda html, url: None)
    ex = _extract("watan/article.v1.html")
    assert ex.article_method == "density"
    body = ex.article_text
    assert sum(claim["exact"] in body for claim in CLAIMS["claims"]) == len(CLAIMS["claims"])
    assert "أضف تعليق" not in body and "جميع الحقوق محفوظة" not in body


def test_main_text_is_trafilatura_text_without_boilerplate(v1):
    assert "وقال غانتس على حسابه على تويتر" in v1.main_text
    assert "أضف تعليق" not in v1.main_text


# -- decoding ----------------------------------------------------------------------------------


def test_windows_1256_copy_with_bare_content_type_decodes_to_v1_visible_text(v1):
    raw = (CORPUS / "watan/article.windows-1256.html").read_bytes()
    text, charset = decode_html(raw, "text/html")
    assert charset == "windows-1256"
    assert visible_text(text).text == v1.visible.text
    copy = extract(raw, "text/html", OLD_WATAN_URL)
    assert copy.charset == "windows-1256"
    assert copy.visible.text == v1.visible.text
    assert copy.title == v1.title and copy.article_paragraphs == v1.article_paragraphs


def test_decode_bom_wins_over_content_type_and_meta():
    body = codecs.BOM_UTF8 + '<meta charset="windows-1256"><p>é</p>'.encode()
    assert decode_html(body, "text/html; charset=iso-8859-6") == ('<meta charset="windows-1256"><p>é</p>', "utf-8")
    body16 = codecs.BOM_UTF16_LE + "<p>ص</p>".encode("utf-16-le")
    assert decode_html(body16, None) == ("<p>ص</p>", "utf-16le")


def test_decode_content_type_charset_wins_over_meta():
    body = '<meta charset="utf-8"><p>ص</p>'.encode("cp1256")
    text, charset = decode_html(body, "text/html; charset=cp1256")
    assert charset == "windows-1256" and "ص" in text


def test_decode_meta_charset_and_http_equiv_are_found_in_prescan():
    body = '<html><head><meta charset="ISO-8859-6"></head><body>ص</body>'.encode("iso8859_6")
    assert decode_html(body, "text/html")[1] == "iso-8859-6"
    body = "<!-- <meta charset=koi8-r> --><meta http-equiv='content-type' content='text/html;charset=x-cp1256'>ص"
    assert decode_html(body.encode("cp1256"), None) == (body, "windows-1256")


def test_decode_latin1_label_means_windows_1252():
    body = b"<meta charset=latin1><p>\x93quoted\x94 caf\xe9</p>"
    text, charset = decode_html(body, "text/html")
    assert charset == "windows-1252"
    assert "“quoted” café" in text
    assert decode_html(b"\x80", "text/plain; charset=ISO-8859-1") == ("€", "windows-1252")


def test_decode_x_user_defined_and_utf16_meta_labels():
    assert decode_html(b"a\x80", "text/html; charset=x-user-defined") == ("a\uf780", "x-user-defined")
    # In a meta prescan, x-user-defined means windows-1252 and UTF-16 means UTF-8.
    assert decode_html(b'<meta charset="x-user-defined">\x80', None)[1] == "windows-1252"
    assert decode_html('<meta charset="utf-16"><p>ص</p>'.encode(), None) == ('<meta charset="utf-16"><p>ص</p>', "utf-8")


def test_decode_unknown_label_falls_through_to_detection():
    body = "<meta charset=bogus-charset><p>مرحبا بكم في موقعنا الإخباري العربي اليوم</p>".encode("cp1256")
    text, charset = decode_html(body, "text/html; charset=nonsense")
    assert "مرحبا" in text
    assert charset in ("windows-1256", "iso-8859-6")


def test_decode_meta_beyond_prescan_window_is_ignored():
    body = b"<p>" + b"x" * extract_mod.PRESCAN_BYTES + b'</p><meta charset="windows-1256">'
    assert decode_html(body, None)[1] == "utf-8"


def test_decode_invalid_bytes_never_raise():
    text, charset = decode_html(b"\xfa\xfb<p>\x00\x81</p>" * 3, "text/html; charset=utf-8")
    assert charset == "utf-8" and "\ufffd" in text
    text, charset = decode_html(bytes(range(256)) * 4, None)
    assert isinstance(text, str) and charset


# -- language ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("file", "lang"), [("elespanol/article.html", "es"), ("far/communique.html", "fr"),
                                            ("twitter/gantz-status.html", "en"), ("ngo/statement.html", "ar")])
def test_language_of_spanish_french_english_and_arabic_pages(file, lang):
    assert _extract(file).language == lang


@pytest.mark.parametrize(("file", "lang"), [("watan/article.v1.html", "ar"), ("elespanol/article.html", "es"),
                                            ("far/communique.html", "fr"), ("twitter/gantz-status.html", "en")])
def test_language_is_detected_when_nothing_is_declared(file, lang):
    raw = (CORPUS / file).read_text(encoding="utf-8").replace(' lang="', ' data-x="')
    raw = raw.replace('property="og:locale"', 'property="og:nolocale"').replace('"inLanguage"', '"x"')
    ex = extract(raw.encode(), "text/html", "http://e.org/")
    assert (ex.language, ex.language_source) == (lang, "detected")


def test_language_declared_by_og_locale_and_content_language():
    html = "<html><head><meta property='og:locale' content='fr_FR'></head><body><p>x</p></body></html>"
    assert extract(html.encode(), "text/html", "http://e.org/").language == "fr"
    ex = extract(b"<html><body><p>x</p></body></html>", "text/html", "http://e.org/", content_language="es-ES")
    assert (ex.language, ex.language_source) == ("es", "content-language")


def test_declared_language_contradicting_the_script_yields_to_detection(v1):
    raw = (CORPUS / "watan/article.v1.html").read_text(encoding="utf-8").replace('lang="ar"', 'lang="en-US"')
    ex = extract(raw.encode(), "text/html", WATAN_URL)
    assert ex.language == "ar" and ex.language_source.startswith("detected")


def test_detect_language_returns_none_for_too_little_text():
    assert detect_language("ok") is None


# -- links and embeds --------------------------------------------------------------------------


def test_links_are_absolute_with_offsets_and_article_flag(v1):
    by_url = {link.url: link for link in v1.links}
    source = by_url[ELESPANOL_URL.rstrip("/")]  # Watan links the slash-less form (a 301)
    assert source.in_article and source.text == "الإسبانيول"
    assert v1.visible.text[source.start : source.end] == source.text
    home = [link for link in v1.links if link.url == "http://www.watanserb.com/"]
    assert home and not any(link.in_article for link in home)  # root-relative menu links
    css_free = [link.url for link in v1.links]
    assert all(u.startswith(("http://", "https://")) for u in css_free)
    for link in v1.links:
        assert v1.visible.text[link.start : link.end] == link.text


def test_raw_arabic_iri_link_is_percent_encoded_and_outside_the_article(v1):
    iri = [link for link in v1.links if link.text.startswith("ماذا يعني أول اتفاق دفاعي")]
    assert len(iri) == 1
    assert iri[0].url.isascii()
    assert iri[0].url.startswith("http://www.watanserb.com/2021/11/25/%D9%85%D8%A7%D8%B0%D8%A7-")
    assert not iri[0].in_article


def test_read_also_links_inside_the_body_are_flagged_in_article(v1):
    inside = [link for link in v1.links if link.in_article]
    assert len(inside) == 4  # three "اقرأ أيضاً" links and the source link
    assert any("برامج التجسس" in link.text for link in inside)


def test_base_href_is_honoured_for_links_and_canonical():
    html = ('<html><head><base href="http://cdn.example.net/news/"><link rel="canonical" href="story.html">'
            '</head><body><p><a href="other.html">o</a> <a href="javascript:void(0)">j</a></p></body></html>')
    ex = extract(html.encode(), "text/html", "http://example.org/x")
    assert ex.canonical_url == "http://cdn.example.net/news/story.html"
    assert [link.url for link in ex.links] == ["http://cdn.example.net/news/other.html"]


def test_el_espanol_embedded_tweet_is_found():
    ex = _extract("elespanol/article.html")
    tweets = [e for e in ex.embeds if e.kind == "tweet"]
    assert [t.url for t in tweets] == ["http://twitter.com/gantzbe/status/1463509005783413970"]
    assert "We have taken a historic step" in tweets[0].text


def test_iframe_embeds_are_listed_with_absolute_src():
    html = '<html><body><iframe src="//www.youtube.com/embed/abc" title="Video"></iframe></body></html>'
    ex = extract(html.encode(), "text/html", "https://example.org/a")
    assert [(e.kind, e.url) for e in ex.embeds] == [("iframe", "https://www.youtube.com/embed/abc")]


# -- robustness and serialisation --------------------------------------------------------------


@pytest.mark.parametrize(("file", "content_type", "charset"),
                         [("watan/style.css", "text/css", "utf-8"), ("watan/logo.png", "image/png", None)])
def test_non_html_bodies_give_only_charset(file, content_type, charset):
    ex = extract((CORPUS / file).read_bytes(), content_type, "http://www.watanserb.com/x")
    assert not ex.is_html
    assert ex.charset == charset
    assert ex.visible is None and ex.title is None and ex.main_text is None and ex.published is None
    assert ex.links == [] and ex.embeds == [] and ex.article_paragraphs == []


def test_png_without_content_type_is_not_sniffed_as_html():
    ex = extract((CORPUS / "watan/logo.png").read_bytes(), None, "http://e.org/logo")
    assert not ex.is_html and ex.charset is None


def test_html_without_content_type_is_sniffed():
    ex = extract(b"  <!DOCTYPE html><html><body><h1>Hi</h1></body></html>", None, "http://e.org/")
    assert ex.is_html and ex.title == "Hi"


@pytest.mark.parametrize("body", [b"", b"   ", b"<html", b"<p>unclosed <div><a href='/x'>y",
                                  b"\x00\x01\x02<html>\x00</html>", b"<?xml version='1.0' encoding='utf-8'?><html/>",
                                  b'<script type="application/ld+json">{broken</script><time datetime="nope">'])
def test_broken_or_empty_html_does_not_crash(body):
    ex = extract(body, "text/html", "http://e.org/")
    assert ex.is_html
    assert isinstance(ex.visible.text, str)
    json.dumps(ex.as_dict())


def test_truncated_page_still_extracts_metadata():
    raw = (CORPUS / "watan/article.v1.html").read_bytes()
    ex = extract(raw[: len(raw) // 2], "text/html; charset=UTF-8", WATAN_URL)
    assert ex.title == CHAIN["nodes"][0]["title"]
    assert ex.article_paragraphs


def test_as_dict_is_json_and_from_dict_round_trips(v1):
    data = json.loads(json.dumps(v1.as_dict(), ensure_ascii=False))
    again = Extracted.from_dict(data)
    assert again.as_dict() == v1.as_dict()
    assert again.published == v1.published and again.visible.text == v1.visible.text
    assert again.article_text == v1.article_text


@pytest.mark.parametrize("stated, kept", [
    ("2023-06-02T17:45:00-04:00", True),   # a real zone: kept with its offset
    ("2023-06-02T17:45:00+14:00", True),   # Kiribati, the easternmost zone
    ("2023-06-02T17:45:00+22:30", False),  # Python accepts it; PostgreSQL refuses it; no zone has it
    ("2023-06-02T17:45:00-16:44", False),
    ("0001-01-01T03:00:00+04:00", False),  # its UTC form is year 0: stored, it could never be read back
    ("9999-12-31T22:00:00-03:00", False),  # past year 9999 in UTC
])
def test_a_stated_date_is_kept_only_when_a_real_zone_could_state_it(stated, kept):
    got = parse_datetime(stated)
    if kept:
        assert got == datetime.fromisoformat(stated) and got.utcoffset() == datetime.fromisoformat(stated).utcoffset()
    else:
        assert got is None
