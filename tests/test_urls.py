"""URL helpers: IRI → URI, SURT keys, Wayback timestamps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from archive.uri import iri_to_uri, parse_timestamp14, surt_key, timestamp14, uri_to_iri
from tests.corpus_server import load_rows

WATAN_IRI = "http://www.watanserb.com/2021/11/27/الأمن-السيبراني-والاستخبارات-مفاتيح-اتفاقية-الدفاع-بين-إسرائيل-والمغرب/"


def test_arabic_iri_becomes_the_encoded_url_of_urls_tsv():
    assert iri_to_uri(WATAN_IRI) in {row.url for rows in load_rows().values() for row in rows}


def test_existing_percent_escapes_are_never_double_encoded():
    assert iri_to_uri("http://a.example/%D8%A7ب?q=%d8%a7ب") == "http://a.example/%D8%A7%D8%A8?q=%d8%a7%D8%A8"


def test_lone_percent_sign_is_encoded():
    assert iri_to_uri("http://a.example/100%/x?d=50%") == "http://a.example/100%25/x?d=50%25"


def test_host_becomes_lowercase_idna_and_fragment_is_dropped():
    assert iri_to_uri("https://وطن.Example:8443/ص#section") == "https://xn--2gb4ae.example:8443/%D8%B5"


def test_spaces_and_unsafe_ascii_are_encoded_reserved_kept():
    assert iri_to_uri('http://a.example/a b/"c"?x=1&y=a|b') == "http://a.example/a%20b/%22c%22?x=1&y=a%7Cb"


def test_ascii_uri_is_unchanged():
    url = "http://www.elespanol.com/mundo/africa/20211125/x/?a=1&b=%2F"
    assert iri_to_uri(url) == url


def test_surt_key_of_watan_article():
    key = surt_key(WATAN_IRI)
    assert key.startswith("com,watanserb)/2021/11/27/%d8%a7%d9%84%d8%a3")
    assert key == surt_key(iri_to_uri(WATAN_IRI))


def test_surt_key_ignores_scheme_www_default_port_and_query_order():
    assert surt_key("https://WWW.Example.com:443/A?b=2&a=1") == surt_key("http://example.com/A?a=1&b=2")
    assert surt_key("http://example.com/A?a=1") == "com,example)/a?a=1"


def test_timestamp14_formats_in_utc():
    plus3 = timezone(timedelta(hours=3))
    assert timestamp14(datetime(2021, 11, 27, 10, 15, 0, tzinfo=plus3)) == "20211127071500"
    assert timestamp14(datetime(2021, 11, 27, 7, 15, 0)) == "20211127071500"  # naive = UTC


def test_timestamp14_round_trips():
    dt = datetime(2021, 11, 29, 9, 0, 5, tzinfo=UTC)
    assert parse_timestamp14(timestamp14(dt)) == dt


@pytest.mark.parametrize(
    ("ts", "earliest", "latest"),
    [
        ("2021", (2021, 1, 1, 0, 0, 0), (2021, 12, 31, 23, 59, 59)),
        ("202111", (2021, 11, 1, 0, 0, 0), (2021, 11, 30, 23, 59, 59)),
        ("202102", (2021, 2, 1, 0, 0, 0), (2021, 2, 28, 23, 59, 59)),
        ("202002", (2020, 2, 1, 0, 0, 0), (2020, 2, 29, 23, 59, 59)),
        ("20211127", (2021, 11, 27, 0, 0, 0), (2021, 11, 27, 23, 59, 59)),
        ("2021112710", (2021, 11, 27, 10, 0, 0), (2021, 11, 27, 10, 59, 59)),
        ("20211127101500", (2021, 11, 27, 10, 15, 0), (2021, 11, 27, 10, 15, 0)),
        ("20210231", (2021, 2, 28, 0, 0, 0), (2021, 2, 28, 23, 59, 59)),  # clamped like pywb
    ],
)
def test_parse_timestamp14_pads_prefixes_to_earliest_or_latest(ts, earliest, latest):
    assert parse_timestamp14(ts) == datetime(*earliest, tzinfo=UTC)
    assert parse_timestamp14(ts, latest=True) == datetime(*latest, tzinfo=UTC)


@pytest.mark.parametrize("bad", ["", "202", "202111271015001", "2021-11-27", "abcd", "٢٠٢١", " 2021"])
def test_parse_timestamp14_rejects_non_timestamps(bad):
    with pytest.raises(ValueError):
        parse_timestamp14(bad)


# --- uri_to_iri: display form (RFC 3987 §3.2) -------------------------------------------------


@pytest.mark.parametrize("uri, shown", [
    ("https://news.example.org/%D8%AA%D9%82%D8%B1%D9%8A%D8%B1-%D8%AE%D8%A7%D8%B5/?id=7",
     "https://news.example.org/تقرير-خاص/?id=7"),
    ("https://xn--mgbh0fb.example/%C3%A9t%C3%A9", "https://مثال.example/été"),
    ("https://a.example/%D8%B3%2F%D8%B3", "https://a.example/س%2Fس"),  # an escaped "/" stays escaped
    ("https://a.example/%D9%85%20%D9%85", "https://a.example/م%20م"),  # a space stays escaped
    ("https://a.example/x%E2%80%AEy", "https://a.example/x%E2%80%AEy"),  # RIGHT-TO-LEFT OVERRIDE stays escaped
    ("https://a.example/%D8%B3%D8", "https://a.example/س%D8"),  # a cut UTF-8 sequence stays escaped
    ("https://a.example/plain?q=1", "https://a.example/plain?q=1"),
])
def test_uri_to_iri_decodes_text_but_not_structure_or_invisible_characters(uri, shown):
    assert uri_to_iri(uri) == shown
    assert iri_to_uri(uri_to_iri(uri)).lower() == uri.lower()  # the display form maps back


def test_iri_to_uri_shortcut_for_urls_already_uris_gives_what_the_parse_gives():
    """The import calls iri_to_uri once per record; URLs that are already URIs skip the parse, with
    the same answer as the parse for them and for near misses (random strings over the characters
    that decide it)."""
    import random

    from archive.uri import _ALREADY_URI, _iri_to_uri

    rnd = random.Random(19)
    alphabet = "aZ09.-_~!$&'()*+,;=:@/?%#[] \t\\|^`{}\"<>éب" + "0aF"
    samples = ["https://a.example", "http://a.example:", "http://a.example:80/x?", "https://a.example?q=1",
               "http://a.example/%d8%A7?x=%zz", "HTTP://a.example/", "http://A.example/", "http://u@a.example/",
               "http://[::1]/", "http://a.example/#f", " http://a.example/", "http://a.example/a b"]
    for _ in range(20000):
        samples.append(rnd.choice(["http://", "https://"]) + rnd.choice(["a.example", "a.b-c.example", "x"])
                       + "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 12))))
    hits = 0
    for url in samples:
        if _ALREADY_URI.fullmatch(url):
            hits += 1
            assert _iri_to_uri(url) == url, url
    assert hits > 1000
