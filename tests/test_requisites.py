"""Page requisites: what a browser would load to render a page."""

from __future__ import annotations

from archive.capture.requisites import css_requisites, html_requisites, srcset_urls
from tests.corpus_server import CORPUS_DIR

WATAN = "http://www.watanserb.com/2021/11/27/%D8%A7%D9%84%D8%A3%D9%85%D9%86/"


def test_watan_v1_requisites_are_its_css_with_query_string_and_logo():
    html = (CORPUS_DIR / "watan/article.v1.html").read_text(encoding="utf-8")
    assert html_requisites(html, WATAN) == [
        "http://www.watanserb.com/wp-content/themes/watan/style.css?ver=5.8.2",
        "http://www.watanserb.com/wp-content/themes/watan/images/logo.png",
    ]


def test_elespanol_requisites_include_the_external_widget_script_but_no_links():
    html = (CORPUS_DIR / "elespanol/article.html").read_text(encoding="utf-8")
    reqs = html_requisites(html, "http://www.elespanol.com/mundo/")
    assert "https://platform.twitter.com/widgets.js" in reqs
    assert not any("far.ma" in u or "ngo-oumma" in u for u in reqs)  # hyperlinks are not requisites


def test_relative_root_relative_and_protocol_relative_urls_are_resolved():
    html = '<img src="a.png"><img src="/b.png"><img src="../c.png"><script src="//cdn.example.net/j.js"></script>'
    assert html_requisites(html, "https://site.example/dir/page.html") == [
        "https://site.example/dir/a.png",
        "https://site.example/b.png",
        "https://site.example/c.png",
        "https://cdn.example.net/j.js",
    ]


def test_base_href_is_honoured():
    html = '<head><base href="http://static.example/assets/"></head><img src="x.png"><link rel=icon href="/f.ico">'
    assert html_requisites(html, "http://site.example/a/b") == [
        "http://static.example/assets/x.png",
        "http://static.example/f.ico",
    ]


def test_srcset_picture_source_and_lazy_images():
    html = """<picture><source srcset="hero.webp 1x, hero@2x.webp 2x" type="image/webp">
    <img src="hero.jpg" srcset="hero-480.jpg 480w, hero-960.jpg 960w" data-src="lazy.jpg"></picture>"""
    assert html_requisites(html, "http://s.example/") == [
        "http://s.example/hero.webp",
        "http://s.example/hero@2x.webp",
        "http://s.example/hero.jpg",
        "http://s.example/hero-480.jpg",
        "http://s.example/hero-960.jpg",
        "http://s.example/lazy.jpg",
    ]


def test_srcset_parser_keeps_commas_inside_urls():
    assert srcset_urls("a.jpg 1x, b,c.jpg 2x,d.jpg") == ["a.jpg", "b,c.jpg", "d.jpg"]


def test_links_preloads_media_inputs_and_styles():
    html = """<link rel="stylesheet" href="s.css"><link rel="preload" as="font" href="f.woff2" crossorigin>
    <link rel="preload" as="script" href="p.js"><link rel="preload" as="fetch" href="data.json">
    <link rel="canonical" href="canon.html"><link rel="alternate" href="feed.xml">
    <video poster="poster.jpg" src="clip.mp4"></video><audio src="a.mp3"></audio>
    <input type="image" src="go.png"><input type="text" src="not.png">
    <div style="background-image: url('bg.png')"></div>
    <style>@import "print.css"; .x { background: url(x.svg) }</style>"""
    assert html_requisites(html, "http://s.example/") == [
        "http://s.example/s.css",
        "http://s.example/f.woff2",
        "http://s.example/p.js",
        "http://s.example/poster.jpg",
        "http://s.example/clip.mp4",
        "http://s.example/a.mp3",
        "http://s.example/go.png",
        "http://s.example/bg.png",
        "http://s.example/print.css",
        "http://s.example/x.svg",
    ]


def test_non_fetchable_references_are_skipped():
    html = """<img src="data:image/png;base64,AAAA"><script src="javascript:void(0)"></script>
    <img src="mailto:a@b.c"><img src="about:blank"><img src="#frag"><img src="">
    <img src="blob:http://s.example/1"><img src=" JavaScript:alert(1)"><img src="ok.png">"""
    assert html_requisites(html, "http://s.example/") == ["http://s.example/ok.png"]


def test_duplicates_are_dropped_and_document_order_kept():
    html = '<img src="b.png"><img src="a.png"><img src="/b.png"><img src="b.png#x">'
    assert html_requisites(html, "http://s.example/") == ["http://s.example/b.png", "http://s.example/a.png"]


def test_iri_requisites_become_percent_encoded_uris():
    html = '<img src="/صور/شعار.png"><img src="http://وطن.example/a b.png">'
    assert html_requisites(html, "http://s.example/") == [
        "http://s.example/%D8%B5%D9%88%D8%B1/%D8%B4%D8%B9%D8%A7%D8%B1.png",
        "http://xn--2gb4ae.example/a%20b.png",
    ]


def test_empty_or_broken_html_gives_no_requisites():
    assert html_requisites("", "http://s.example/") == []
    assert html_requisites("   ", "http://s.example/") == []
    assert html_requisites("<img src='x.png'", "http://s.example/") == []  # unterminated tag: nothing


def test_css_url_and_import_forms_resolved_against_the_stylesheet():
    css = """@import url("reset.css"); @import 'theme/print.css' print;
    /* url(commented-out.png) */
    @font-face { font-family: N; src: url(../fonts/naskh.woff2) format("woff2"), url('/fonts/naskh.woff') }
    .a { background: url( "img/a.png" ) } .b { background: url(data:image/gif;base64,R0lG) }
    .c { background: url(img/a.png) } .d { cursor: url(/c.cur), auto }"""
    assert css_requisites(css, "http://s.example/css/main.css?v=2") == [
        "http://s.example/css/reset.css",
        "http://s.example/css/theme/print.css",
        "http://s.example/fonts/naskh.woff2",
        "http://s.example/fonts/naskh.woff",
        "http://s.example/css/img/a.png",
        "http://s.example/c.cur",
    ]


def test_css_escapes_in_urls_are_decoded():
    assert css_requisites(r'.x{background:url("a\ b.png")}', "http://s.example/") == ["http://s.example/a%20b.png"]


def test_watan_stylesheet_has_no_further_requisites():
    css = (CORPUS_DIR / "watan/style.css").read_text(encoding="utf-8")
    assert "url(" not in css
    assert css_requisites(css, "http://www.watanserb.com/wp-content/themes/watan/style.css?ver=5.8.2") == []
