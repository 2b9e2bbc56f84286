"""Text is decoded in the WHATWG order everywhere: BOM, transport header, in-document declaration,
then detection or the default (issue 13 kind 8): HTML and CSS alike, in extraction and replay."""

from __future__ import annotations

import codecs

import pytest

from archive.extract.charset import decode_css, decode_html
from tests.replay_support import URLCONF
from tests.warc_builders import http_response, record, write_warc

ARABIC = "الأمطار غزيرة على الساحل"


@pytest.mark.parametrize("decode", [decode_html, decode_css])
def test_byte_order_mark_wins_over_the_header(decode):
    text, name = decode(codecs.BOM_UTF8 + f"p::before {{ content: '{ARABIC}' }}".encode(), "text/css; charset=windows-1256")
    assert name == "utf-8" and ARABIC in text


@pytest.mark.parametrize("decode", [decode_html, decode_css])
def test_header_wins_over_the_in_document_declaration(decode):
    body = b'@charset "utf-8";<meta charset="utf-8">' + f"{ARABIC}".encode("cp1256")
    text, name = decode(body, "text/html; charset=windows-1256")
    assert name == "windows-1256" and ARABIC in text


def test_css_charset_rule_uses_whatwg_labels():
    text, name = decode_css(b'@charset "iso-8859-1"; a::after { content: "\x80 \xe9" }')
    assert name == "windows-1252" and "€ é" in text  # latin1 means windows-1252, as in HTML
    text, name = decode_css(b'@charset "windows-1256"; b::after { content: "' + ARABIC.encode("cp1256") + b'" }')
    assert name == "windows-1256" and ARABIC in text
    assert decode_css(b'@charset "utf-16"; x {}')[1] == "utf-8"


def test_css_falls_back_to_the_referring_document_then_utf8():
    assert decode_css(ARABIC.encode("cp1256"), None, "windows-1256")[0] == ARABIC
    assert decode_css("ñ".encode())[1] == "utf-8"


@pytest.mark.django_db
@pytest.mark.urls(URLCONF)
def test_replayed_stylesheet_with_a_bom_is_decoded_by_its_bom(tmp_path, client):
    from archive.models import Snapshot
    from archive.store.ingest import import_file

    css = codecs.BOM_UTF8 + f'h1::before {{ content: "{ARABIC}"; background: url(fondo.png) }}'.encode()
    block, _ = http_response(css, headers=[("Content-Type", "text/css; charset=windows-1256")])
    import_file(write_warc(tmp_path / "css.warc.gz", [record("response", "https://example.org/s.css", block)[1]]))
    snap = Snapshot.objects.get()
    resp = client.get(f"/web/{snap.timestamp}cs_/{snap.url}")
    text = resp.content.decode("utf-8")
    assert ARABIC in text and f"/web/{snap.timestamp}im_/https://example.org/fondo.png" in text
