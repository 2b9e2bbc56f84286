"""Citations, permalinks and PROV identifiers name the host people reached Naql at: the host of the
request when NAQL_PUBLIC_URL is unset, the configured origin when it is set (never a default that
points nowhere)."""

from __future__ import annotations

import json
import re

import pytest
from django.test import override_settings

from archive.uri import public_origin
from provenance.documents import document_for_snapshot

pytestmark = pytest.mark.django_db

HOST = "naql.example.org:8443"
CONFIGURED = "https://archive.example.com"
ANY_HOST = ["*"]


def _origins_in(text: str) -> set[str]:
    """Every scheme://host[:port] that precedes a /s/, /d/ or /c/ path in ``text``."""
    return set(re.findall(r"(https?://[^/\s\"'<>{}]+)/(?:s|d|c)/", text))


def _page_citations(client, guid: str) -> dict[str, str]:
    import lxml.html

    resp = client.get(f"/s/{guid}", HTTP_HOST=HOST)
    assert resp.status_code == 200
    tree = lxml.html.fromstring(resp.content.decode())
    out = {ta.get("data-format"): ta.text_content() for ta in tree.xpath("//textarea[contains(@class, 'cite')]")}
    out["permalink"] = tree.get_element_by_id("nq-permalink").get("value")
    return out


@override_settings(NAQL_PUBLIC_URL="", ALLOWED_HOSTS=ANY_HOST, NAQL_REPLAY_HOST="")
def test_citations_and_permalink_use_the_request_host_when_no_public_url_is_set(client, two_versions):
    v1, _v2 = two_versions
    cites = _page_citations(client, v1.guid)
    assert set(cites) == {"apa", "chicago", "mla", "bibtex", "ris", "csl", "robust", "permalink"}
    for fmt, text in cites.items():
        if fmt == "robust":  # names the memento, on the replay origin (the request host here too)
            assert f"http://{HOST}/web/" in text
            continue
        assert _origins_in(text) == {f"http://{HOST}"}, (fmt, text)
    api = client.get(f"/api/snapshots/{v1.guid}/", HTTP_HOST=HOST).json()
    for c in api["citations"]:
        if c["key"] != "robust":
            assert _origins_in(c["text"]) == {f"http://{HOST}"}, c


@override_settings(NAQL_PUBLIC_URL=CONFIGURED + "/", ALLOWED_HOSTS=ANY_HOST, NAQL_REPLAY_HOST="")
def test_citations_and_permalink_use_the_configured_public_url_when_set(client, two_versions):
    v1, _v2 = two_versions
    cites = _page_citations(client, v1.guid)
    for fmt, text in cites.items():
        if fmt != "robust":
            assert _origins_in(text) == {CONFIGURED}, (fmt, text)
    api = client.get(f"/api/snapshots/{v1.guid}/", HTTP_HOST=HOST).json()
    assert all(_origins_in(c["text"]) == {CONFIGURED} for c in api["citations"] if c["key"] != "robust")


@pytest.mark.parametrize("configured, expected", [("", f"http://{HOST}"), (CONFIGURED, CONFIGURED)])
def test_prov_identifiers_follow_the_request_host_or_the_configured_url(client, two_versions, configured, expected):
    v1, _v2 = two_versions
    doc = document_for_snapshot(v1)
    assert doc is not None
    with override_settings(NAQL_PUBLIC_URL=configured, ALLOWED_HOSTS=ANY_HOST):
        prov = client.get(f"/api/documents/{doc.pk}/prov/", HTTP_HOST=HOST).json()
    prefixes = prov["prefix"]
    assert prefixes["snap"] == f"{expected}/s/" and prefixes["doc"] == f"{expected}/d/"
    assert prefixes["claim"] == f"{expected}/c/" and prefixes["naql"].startswith(expected + "/")
    assert "127.0.0.1" not in json.dumps(prefixes)


def test_without_a_request_the_origin_is_where_run_listens():
    with override_settings(NAQL_PUBLIC_URL="", NAQL_ADDR="0.0.0.0:9100"):
        assert public_origin() == "http://0.0.0.0:9100"
    with override_settings(NAQL_PUBLIC_URL="https://x.example.org/"):
        assert public_origin() == "https://x.example.org"
