"""Issue 17, kind 2 (and 5): private content never leaves through any door.

A marker string is planted only in content private to the group ``desk``: the later version of a
public document (title, byline, an edited and a new sentence, a claim's speaker, the evidence of
relations, the re-anchoring of public claims) and a wholly hidden document (its URL and title).
Every URL the resolver knows (filled from ``tests.security_support.fill``; a route without a
filler fails), the list filters, PROV and chain exports, history pages and the admin (change
pages, history versions, autocomplete) are requested as each role; the marker must appear only
for the group's member and the superuser, and must appear for them (else the test proves nothing).
"""

from __future__ import annotations

import json
from urllib.parse import quote, unquote

import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import override_settings

from tests.security_support import (
    HIDDEN_URL,
    MARKER,
    MAY_SEE_PRIVATE,
    ROLES,
    body_of,
    build_world,
    concrete_urls,
    role_client,
    unnamed_patterns,
)

pytestmark = pytest.mark.django_db

NO_THROTTLE = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"anon": "100000/min", "user": "100000/min",
                                                                     "capture": "100000/min"}}


def without_echo(body: str, url: str) -> str:
    """The response minus echoes of a hidden URL the request itself carried (a TimeMap or a 404
    page naming the URL asked for tells the asker nothing new)."""
    if MARKER not in unquote(url):
        return body
    for form in (HIDDEN_URL, quote(HIDDEN_URL, safe=""), quote(HIDDEN_URL, safe="/:"), json.dumps(HIDDEN_URL)[1:-1],
                 HIDDEN_URL.replace("/", "\\/"), HIDDEN_URL.split("://", 1)[1]):
        body = body.replace(form, "")
    return body


def sweep(world, roles=ROLES, *, prefixes=("/",)):
    """{role: (urls whose response holds the marker, urls answering 500)}."""
    urls, unknown = concrete_urls(world)
    assert not unknown, f"routes with no filler in tests/security_support.py: {unknown}"
    out = {}
    for role in roles:
        client = role_client(world.people, role)
        leaks, errors = [], []
        for url in urls:
            if not url.startswith(prefixes):
                continue
            cache.clear()
            resp = client.get(url)
            if resp.status_code >= 500 and resp.status_code not in (502, 503):
                errors.append(f"{url} -> {resp.status_code}")
            if MARKER in without_echo(body_of(resp), url):
                leaks.append(url)
        out[role] = (leaks, errors)
    return out, urls


def test_every_url_pattern_is_named_or_a_known_catch_all():
    assert unnamed_patterns() == []


@override_settings(REST_FRAMEWORK=NO_THROTTLE)
def test_private_later_version_never_reaches_those_outside_the_group():
    world = build_world()
    result, urls = sweep(world)
    assert len(urls) > 150  # the sweep reaches API, pages, replay, exports, history and admin
    for role in ROLES:
        leaks, errors = result[role]
        assert errors == [], (role, errors)
        if role in MAY_SEE_PRIVATE:
            assert len(leaks) >= 5, (role, leaks)  # they do see it: the test can see a leak
        else:
            assert leaks == [], (role, "\n".join(leaks))
    member_leaks = set(result["member"][0])
    assert any(u.startswith("/api/") for u in member_leaks) and any("/s/" in u for u in member_leaks)
    assert any(u.startswith("/admin/") for u in result["superuser"][0])


@override_settings(REST_FRAMEWORK=NO_THROTTLE)
def test_version_privatised_after_the_document_took_its_title_is_redacted_everywhere():
    # the document row now holds the private title: only the visibility layer stands in the way
    world = build_world(privatise_later=True)
    assert MARKER in world.public.__class__.objects.get(pk=world.public.pk).title
    result, _ = sweep(world, ("anonymous", "outsider", "viewer_staff", "member"))
    for role in ("anonymous", "outsider", "viewer_staff"):
        leaks, errors = result[role]
        assert errors == [] and leaks == [], (role, errors, "\n".join(leaks))
    assert result["member"][0]
