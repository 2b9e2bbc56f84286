"""Downloads: /s/<ID>.wacz, a document's package and its whole chain, the published signing key."""

from __future__ import annotations

import zipfile

import pytest
from django.contrib.auth.models import Group, User
from django.test import override_settings

from archive.capture.capture import capture
from archive.models import Snapshot
from archive.store.verify import verify_package
from provenance.models import Document
from tests.helpers import WATAN_URL
from tests.test_provenance_chain import capture_corpus
from tests.wacz_support import wacz_validate

pytestmark = pytest.mark.django_db


@pytest.fixture
def env(corpus_proxy, tmp_path):
    corpus_proxy.reset()
    with override_settings(NAQL_CAPTURE_PROXY=corpus_proxy.proxy_url, NAQL_PACKAGE_DIR=tmp_path / "packages",
                           NAQL_TSA_URL="", NAQL_SIGNING_KEY=tmp_path / "key.pem"):
        yield corpus_proxy
    corpus_proxy.reset()


def _save(resp, path):
    path.write_bytes(b"".join(resp.streaming_content))
    return path


def test_snapshot_page_offers_a_signed_wacz_made_with_the_published_key(env, client, tmp_path):
    snap = capture(WATAN_URL).final
    page = client.get(f"/s/{snap.guid}")
    assert f'href="/s/{snap.guid}.wacz"' in page.content.decode()
    resp = client.get(f"/s/{snap.guid}.wacz")
    assert resp.status_code == 200 and resp["Content-Disposition"].startswith("attachment")
    out = _save(resp, tmp_path / "s.wacz")
    wacz_validate(out)
    key = client.get("/.well-known/naql-signing-key.pem")
    assert key.status_code == 200 and key.content.startswith(b"-----BEGIN PUBLIC KEY-----")
    report = verify_package(out, trusted_keys=[key.content])
    assert report.ok, report.failures
    assert any(f"signed by the trusted key {key['X-Naql-Key-Fingerprint']}" in p for p in report.proven)
    # lower-case, unhyphenated IDs redirect to the canonical one
    assert client.get(f"/s/{snap.guid.replace('-', '').lower()}.wacz")["Location"] == f"/s/{snap.guid}.wacz"


def test_a_private_snapshot_has_no_package_for_others(env, client):
    snap = capture(WATAN_URL, requisites=False).final
    group = Group.objects.create(name="desk")
    Snapshot.objects.filter(pk=snap.pk).update(private_to_group=group)
    assert client.get(f"/s/{snap.guid}.wacz").status_code == 404
    member = User.objects.create_user("m")
    member.groups.add(group)
    client.force_login(member)
    assert client.get(f"/s/{snap.guid}.wacz").status_code == 200


def test_document_and_whole_chain_downloads_large_chains_built_by_a_worker(
        env, client, tmp_path, django_capture_on_commit_callbacks):
    capture_corpus(env, django_capture_on_commit_callbacks)
    watan = Document.objects.get(url=WATAN_URL)
    one = client.get(f"/provenance/document/{watan.pk}.wacz")
    assert one.status_code == 200
    wacz_validate(_save(one, tmp_path / "doc.wacz"))
    with override_settings(NAQL_PACKAGE_INLINE_MAX=1, CELERY_TASK_ALWAYS_EAGER=True):
        first = client.get(f"/provenance/document/{watan.pk}.wacz?chain=1")
        assert first.status_code == 202 and first["Refresh"]  # a worker builds it (eager here)
        ready = client.get(f"/provenance/document/{watan.pk}.wacz?chain=1")
    assert ready.status_code == 200 and "chain" in ready["Content-Disposition"]
    out = _save(ready, tmp_path / "chain.wacz")
    wacz_validate(out)
    assert verify_package(out).ok
    with zipfile.ZipFile(out) as zf:
        pages = zf.read("pages/pages.jsonl").decode()
    assert pages.count('"id"') - 1 >= 5  # the five documents of the chain
    assert client.get("/provenance/document/999999.wacz").status_code == 404
