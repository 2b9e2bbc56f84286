"""The HTML rewriter's tokenizer (archive.replay.rewrite.rewrite_html).

rewrite_html scans with compiled expressions and parses only the start tags that may hold a URL;
before issue 19 it was an html.parser.HTMLParser subclass. ``_reference`` below is that design,
with the same per-tag logic (``_TagRewriter``): the two must agree tag for tag on real pages and
on the awkward inputs listed here. They differ on purpose in three places, tested at the end:
what no rewriting touches (text, references, end tags, comments, declarations) is copied as it is
(HTMLParser re-serialised it: ``&copy`` came out ``&copy;``, ``<![CDATA[x]]>`` as
``<![CDATA[x]>``, ``</P >`` as ``</p>``), an unclosed ``<script>`` at the end no longer loses the
rest of the document, and malformed character references no longer stop the rewriting.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from archive.extract.article import decode_html
from archive.replay.rewrite import Rewriter, _TagRewriter, rewrite_css, rewrite_html

FIXTURES = Path(__file__).parent / "fixtures"
BASE, TS = "http://www.example.com/news/2021/article.html", "20211127120000"


class _Reference(HTMLParser):
    """The HTMLParser-driven rewriter rewrite_html replaced (same per-tag logic)."""

    def __init__(self, rw: Rewriter):
        super().__init__(convert_charrefs=False)
        self.rw, self.tags, self.out, self.in_style = rw, _TagRewriter(rw), [], False

    def handle_starttag(self, tag, attrs):
        self.out.append(self.tags.tag(tag, attrs, self.get_starttag_text(), closed=False))
        self.in_style = tag == "style"

    def handle_startendtag(self, tag, attrs):
        self.out.append(self.tags.tag(tag, attrs, self.get_starttag_text(), closed=True))

    def handle_endtag(self, tag):
        self.in_style = False if tag == "style" else self.in_style
        self.out.append(f"</{tag}>")

    def handle_data(self, data):
        self.out.append(rewrite_css(data, self.rw) if self.in_style else data)

    def handle_entityref(self, name):
        self.out.append(f"&{name};")

    def handle_charref(self, name):
        self.out.append(f"&#{name};")

    def handle_comment(self, data):
        self.out.append(f"<!--{data}-->")

    def handle_decl(self, decl):
        self.out.append(f"<!{decl}>")

    def unknown_decl(self, data):
        self.out.append(f"<![{data}]>")

    def handle_pi(self, data):
        self.out.append(f"<?{data}>")


def _reference(text: str) -> str:
    parser = _Reference(Rewriter(BASE, TS))
    parser.feed(text)
    parser.close()
    return "".join(parser.out)


def _same_end_tags(text: str) -> str:
    """End tags and comment ends as HTMLParser wrote them (lower-case name, nothing else)."""
    text = re.sub(r"</\s*([a-zA-Z][^\s>]*)[^>]*>", lambda m: f"</{m.group(1).lower()}>", text)
    return re.sub(r"--\s+>", "-->", text)


def _new(text: str) -> str:
    return rewrite_html(text, Rewriter(BASE, TS))


PAGES = sorted(p for p in FIXTURES.rglob("*") if p.suffix in (".html", ".htm"))


def test_there_are_fixture_pages_to_compare():
    assert len(PAGES) >= 20


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_fixture_pages_rewrite_as_the_htmlparser_rewriter_did(page):
    text, _ = decode_html(page.read_bytes(), "text/html")
    new = _new(text)
    assert _same_end_tags(new) == _same_end_tags(_reference(text))
    assert new != text or "/web/" not in new  # something to compare: most pages have links


EDGE_CASES = [
    '<a title="x>y" href="/p">z</a>',  # ">" inside a quoted value
    "<a title='it\"s' href=rel.html>q</a>",
    "<!-- <img src=\"in-comment.png\"> --><img src=\"out.png\">",
    "<script>var s = '<img src=\"in-script.png\">'; if (a < b) {}</script><img src=x.png>",
    "<script src=app.js></script><script type=module>import x from './y.js'</script>",
    "<style>body{background:url(bg.png)} @import 'x.css';</style><p style=\"background:url('p.png')\">",
    "<STYLE>a{b:URL(up.png)}</STYLE ><IMG SRC=\"UP.PNG\" SrcSet=\"a.png 1x, b.png 2x\">",
    '<div data-x="http&#58;//ex.org/a">d</div><div title="&#47;&#47;ex.org/p">t</div>',
    '<meta property="og:url" content="https://www.example.com/x"><meta name=viewport content="width=1">',
    '<meta http-equiv="Content-Security-Policy" content="default-src \'self\'"><meta charset=windows-1256>',
    "<base href=\"https://cdn.example.net/\"><a href=a.html>a</a><base href=/other/><img src=i.png>",
    "<br/><img src=a.png/><img src=b.png />text<input type=image src=btn.gif>",
    '<p class="x"   id=y>no url at all</p><span hidden>&amp; &lt; &#169; &copy;</span>',
    "a < b and c<d, 1<2 > 0 <3 <-- <",
    "<a href=x",  # the input ends inside a tag
    "<img src=\"a.png\" <p>next</p>",
    '<img alt=">" src=x',
    "<!DOCTYPE html><html lang=ar dir=rtl><?xml-stylesheet href=s.css?><img src=a.png>",
    '<link rel="stylesheet" href="s.css" integrity="sha384-x"><a ping="https://t.example/p" href=#top>t</a>',
    '<svg><image xlink:href="i.svg"/><use href="#s"/></svg><object data=o.swf codebase=c/></object>',
    '<img data-src="lazy.jpg" data-lazy-srcset="l.jpg 2x" longdesc="d.html" lowsrc="low.jpg">',
    "<a href='javascript:void(0)'>j</a><a href=\"mailto:a@b\">m</a><img src='data:image/png;base64,AA=='>",
    '<form action="/search"><button formaction=/go>g</button></form><blockquote cite="//ex.org/q">',
    "<td background=bg.gif><video poster=p.jpg src=v.mp4><source srcset=\"s.webp\"></video>",
    '<div itemscope itemtype="https://schema.org/NewsArticle" xmlns:og="http://ogp.me/ns#">',
    "<p>\x00<img\x00src=a.png></p>",
    "<a\thref\n=\n'tab.html'\n>t</a><a href = \"sp.html\" >s</a>",
    '<a href="https://example.com/ق?x=1&amp;y=2#frag">arabic</a><img src="صورة.png">',
]


@pytest.mark.parametrize("text", EDGE_CASES)
def test_awkward_inputs_rewrite_as_the_htmlparser_rewriter_did(text):
    assert _same_end_tags(_new(text)) == _same_end_tags(_reference(text))


def test_what_cannot_change_is_copied_byte_for_byte():
    text = ("<!DOCTYPE html>\n<HTML><Body CLASS=a>\n<!-- note -- >\n<P>a &amp; b &#1575; &nbsp &copy</P >\n"
            "<![CDATA[x]]><!bogus>\n"
            "<script>if (a<b && c>d) { x = '</p>'; }</script>\n<textarea>\t</TEXTAREA\n></Body></HTML>\n")
    assert _new(text) == text


def test_only_the_url_attributes_change_and_the_rest_of_the_tag_is_kept():
    out = _new('<p>x</p ><img class=logo src="logo.png" alt="Watan"></DIV >')
    assert out == (f'<p>x</p ><img class="logo" src="/web/{TS}im_/http://www.example.com/news/2021/logo.png" '
                   'alt="Watan"></DIV >')


def test_an_unclosed_script_at_the_end_keeps_the_rest_of_the_document():
    text = '<p><img src="a.png"><script>var a = 1; document.write("<img src=b.png>")'
    out = _new(text)
    assert out.endswith('<script>var a = 1; document.write("<img src=b.png>")')
    assert f"/web/{TS}im_/http://www.example.com/news/2021/a.png" in out
    assert "var a = 1" not in _reference(text)  # HTMLParser dropped it


def test_malformed_character_references_do_not_stop_the_rewriting():
    text = '<p>&#xZZ; x &#xQQ; y;</p><img src="after.png">'
    assert f'src="/web/{TS}im_/http://www.example.com/news/2021/after.png"' in _new(text)
    assert 'src="after.png"' in _reference(text)  # HTMLParser stopped at the second one


def test_an_unclosed_comment_hides_the_rest_as_in_a_browser():
    text = '<img src="a.png"><!-- <img src="hidden.png">'
    assert _new(text) == f'<img src="/web/{TS}im_/http://www.example.com/news/2021/a.png"><!-- <img src="hidden.png">'
