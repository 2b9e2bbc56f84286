"""Citations: every format names the original URL, the archive URL and the capture date, and
parses back with a real parser (bibtexparser v2, rispy, the CSL-JSON schema, lxml)."""

from __future__ import annotations

import json
from pathlib import Path

import bibtexparser
import jsonschema
import lxml.html
import pytest
import rispy
from django.test import override_settings

from archive.uri import uri_to_iri
from archive.web import citations
from tests.helpers import ELESPANOL_SHORT_URL, ELESPANOL_URL, WATAN_URL
from tests.replay_support import V1_AT, capture_at

pytestmark = pytest.mark.django_db

CSL_SCHEMA = json.loads((Path(__file__).parent / "fixtures" / "schemas" / "csl-data.json").read_text("utf-8"))
PUBLIC = "https://naql.example.org"
REPLAY = "https://replay.naql.example.org"


@pytest.fixture
def watan(corpus_proxy):
    corpus_proxy.reset()
    snap = capture_at(corpus_proxy, WATAN_URL, V1_AT, requisites=False).final
    return snap, citations.citation_data(snap, public_url=PUBLIC, replay_origin=REPLAY)


def test_citation_data_carries_urls_dates_and_the_arabic_title(watan):
    snap, c = watan
    assert c.original_url == WATAN_URL and c.final_url == WATAN_URL
    assert c.archive_url == f"{PUBLIC}/s/{snap.guid}"
    assert c.memento_url == f"{REPLAY}/web/20211127120000/{WATAN_URL}"
    assert c.title.startswith("الأمن السيبراني والاستخبارات")
    assert c.captured_at == V1_AT


@pytest.mark.parametrize("style", [citations.apa, citations.chicago, citations.mla])
def test_text_citations_name_original_url_archive_url_and_capture_date(watan, style):
    snap, c = watan
    text = style(c)
    assert uri_to_iri(WATAN_URL) in text and f"{PUBLIC}/s/{snap.guid}" in text  # readable, not %D8%A7…
    assert "%D8" not in text
    assert ("November 27, 2021" in text) or ("27 Nov. 2021" in text)
    assert "الأمن السيبراني والاستخبارات" in text


@pytest.mark.parametrize("style", [citations.apa, citations.chicago, citations.mla])
def test_arabic_names_in_text_citations_are_bidi_isolated_so_dates_keep_their_order(watan, style):
    """Plain text has no <bdi>: every Arabic field sits between U+2068 and U+2069, so the digits and
    brackets after it stay in the left-to-right citation (no "(November 27 ,2021)")."""
    import re

    text = style(watan[1])
    assert re.search(r"[\u0600-\u06ff]", text)
    for m in re.finditer(r"[\u0600-\u06ff]", text):
        before = text[:m.start()]
        opened = before.count("\u2068") + before.count("\u2066")
        assert opened == before.count("\u2069") + 1, "Arabic letter outside an isolate"
    assert text.count("\u2068") + text.count("\u2066") == text.count("\u2069")


def test_a_latin_only_citation_carries_no_isolates(corpus_proxy):
    corpus_proxy.reset()
    snap = capture_at(corpus_proxy, ELESPANOL_URL, V1_AT, requisites=False).final
    c = citations.citation_data(snap, public_url=PUBLIC, replay_origin=REPLAY)
    assert not any(ch in citations.apa(c) for ch in "\u2068\u2069")


def test_bibtex_parses_back_with_bibtexparser(watan):
    snap, c = watan
    lib = bibtexparser.parse_string(citations.bibtex(c))
    assert not lib.failed_blocks
    (entry,) = lib.entries
    assert entry.entry_type == "misc" and entry.key == citations.bibtex_key(c)
    fields = {f.key: f.value for f in entry.fields}
    assert fields["url"] == WATAN_URL
    assert fields["urldate"] == "2021-11-27"
    assert f"{PUBLIC}/s/{snap.guid}" in fields["note"] and "2021-11-27 12:00:00 UTC" in fields["note"]
    assert fields["title"].strip("{}") == c.title


def test_bibtex_escapes_latex_specials_and_braces():
    c = citations.CitationData("K7QM-4XR2", "50% of {all} R&D #1_x", None, None, None, None,
                               "http://ex.com/a?b=1&c={2}", "http://ex.com/", f"{PUBLIC}/s/K7QM-4XR2",
                               f"{REPLAY}/web/1/x", V1_AT)
    lib = bibtexparser.parse_string(citations.bibtex(c))
    assert not lib.failed_blocks
    fields = {f.key: f.value for f in lib.entries[0].fields}
    assert fields["title"] == r"{50\% of \{all\} R\&D \#1\_x}"
    assert fields["url"] == "http://ex.com/a?b=1&c=%7B2%7D"


def test_ris_parses_back_with_rispy(watan):
    snap, c = watan
    (entry,) = rispy.loads(citations.ris(c))
    assert entry["type_of_reference"] == "ELEC"
    assert entry["title"] == c.title
    assert entry["urls"] == [WATAN_URL, f"{PUBLIC}/s/{snap.guid}"]
    assert entry["access_date"] == "2021/11/27"
    assert entry["accession_number"] == snap.guid


def test_csl_json_validates_against_the_csl_data_schema(watan):
    snap, c = watan
    data = json.loads(citations.csl_json(c))
    jsonschema.validate(data, CSL_SCHEMA)
    (item,) = data
    assert item["URL"] == WATAN_URL and item["archive_location"] == f"{PUBLIC}/s/{snap.guid}"
    assert item["accessed"] == {"date-parts": [[2021, 11, 27]]}
    assert item["type"] == "webpage" and item["title"] == c.title


def test_csl_schema_really_rejects_bad_items():
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate([{"id": "x", "type": "webpage", "URL": 5}], CSL_SCHEMA)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate([{"id": "x", "type": "webpage", "archive-url": "x"}], CSL_SCHEMA)


def test_robust_link_has_the_three_data_attributes(watan):
    _snap, c = watan
    a = lxml.html.fragment_fromstring(citations.robust_link(c))
    assert a.tag == "a" and a.get("href") == WATAN_URL
    assert a.get("data-originalurl") == WATAN_URL
    assert a.get("data-versionurl") == f"{REPLAY}/web/20211127120000/{WATAN_URL}"
    assert a.get("data-versiondate") == "2021-11-27T12:00:00Z"
    assert a.text_content() == c.title


def test_citing_a_redirect_hop_names_the_requested_url_and_the_final_page(corpus_proxy):
    corpus_proxy.reset()
    result = capture_at(corpus_proxy, ELESPANOL_SHORT_URL, V1_AT, requisites=False)
    with override_settings(NAQL_PUBLIC_URL=PUBLIC, NAQL_REPLAY_HOST=""):
        c = citations.citation_data(result.snapshot)
    assert c.original_url == ELESPANOL_SHORT_URL and c.final_url == ELESPANOL_URL
    assert c.memento_url == f"{PUBLIC}/web/20211127120000/{ELESPANOL_URL}"
    assert "Ciberseguridad" in c.title
    assert len(citations.all_citations(result.snapshot)) == 7
