"""Fixtures and helpers shared by the REST API tests (tests/test_api_*.py import what they use)."""

from __future__ import annotations

import io
import itertools
from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Group, User
from django.core.cache import cache
from django.core.management import call_command
from rest_framework.test import APIClient

from apitokens.models import ApiToken
from archive.models import Snapshot, WarcFile
from tests.helpers import CORPUS

_n = itertools.count(1)


@pytest.fixture(autouse=True)
def fresh_throttles():
    cache.clear()  # throttle histories live in the cache
    yield
    cache.clear()


@pytest.fixture
def api():
    return APIClient()


def make_user(username: str, *, groups=(), superuser: bool = False) -> tuple[User, str]:
    """A user and a fresh API key for them."""
    if superuser:
        user = User.objects.create_superuser(username, f"{username}@example.org", "pw-not-used-123")
    else:
        user = User.objects.create_user(username, f"{username}@example.org", "pw-not-used-123")
    for name in groups:
        user.groups.add(Group.objects.get_or_create(name=name)[0])
    _, key = ApiToken.create_for(user, f"{username}'s script")
    return user, key


def token_client(key: str, scheme: str = "Token") -> APIClient:
    c = APIClient()
    c.credentials(HTTP_AUTHORIZATION=f"{scheme} {key}")
    return c


@pytest.fixture
def alice():
    """A researcher in group 'desk'."""
    return make_user("alice", groups=["desk"])


@pytest.fixture
def bob():
    """A researcher in another group."""
    return make_user("bob", groups=["other"])


@pytest.fixture
def root():
    return make_user("root", superuser=True)


def fake_snapshot(url: str, when: datetime | str, *, status: int = 200, group: str | None = None,
                  mime: str = "text/html", text: str = "", **extra) -> Snapshot:
    """A snapshot row pointing at a placeholder WARC (for listing/filtering/visibility tests)."""
    if isinstance(when, str):
        when = datetime.fromisoformat(when).replace(tzinfo=UTC)
    n = next(_n)
    warc = WarcFile.objects.create(name=f"test/fake-{n}.warc.gz", size=100, sha256=f"{n:064x}", record_count=2)
    return Snapshot.objects.create(
        url=url, captured_at=when, status=status, mime=mime, payload_sha256=f"{n:064x}", record_id=f"<urn:x:{n}>",
        record_sha256=f"{n:064x}", warc_file=warc, offset=0, length=100, text=text,
        private_to_group=Group.objects.get_or_create(name=group)[0] if group else None, **extra)


def load_corpus(proxy, on_commit, *, gold: bool = True) -> dict:
    """Capture the Watan ← El Español ← tweet/communiqué/NGO corpus (and load the gold claim links)."""
    from tests.test_provenance_chain import capture_corpus

    proxy.reset()
    snaps = capture_corpus(proxy, on_commit)
    if gold:
        call_command("load_gold_links", str(CORPUS / "gold" / "claims.json"), stdout=io.StringIO())
    return snaps


def error_of(resp) -> dict:
    body = resp.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert "Traceback" not in resp.content.decode("utf-8", "replace")
    return body["error"]
