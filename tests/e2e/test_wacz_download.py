"""A reader downloads signed WACZ packages in Chromium: a snapshot's from its citable page, a whole
chain from the document view; both verify offline."""

from __future__ import annotations

import pytest

from archive.store.verify import verify_package
from provenance.models import Document
from tests.e2e.support import capture_demo, login, make_researcher
from tests.helpers import WATAN_URL
from tests.wacz_support import wacz_validate

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo(transactional_db, corpus_proxy, settings, tmp_path):
    settings.NAQL_PACKAGE_DIR = tmp_path / "packages"
    settings.NAQL_TSA_URL = ""
    snaps = capture_demo(corpus_proxy)
    make_researcher()
    return snaps


def test_reader_downloads_the_snapshot_package_and_the_whole_chain(demo, new_page, tmp_path, shot):
    page = new_page()
    page.goto(f"/s/{demo['v1'].guid}")
    with page.expect_download() as dl:
        page.get_by_role("link", name="Signed package (.wacz)").click()
    one = tmp_path / dl.value.suggested_filename
    dl.value.save_as(one)
    assert one.name == f"naql-{demo['v1'].guid}.wacz"
    wacz_validate(one)
    assert verify_package(one).ok
    doc = Document.objects.get(url=WATAN_URL)
    login(page, next_url=f"/admin/provenance/document/{doc.pk}/change/")
    shot(page.locator(".nq-downloads"), "document-downloads", full_page=False)
    with page.expect_download() as dl:
        page.get_by_role("link", name="whole chain").click()
    chain = tmp_path / dl.value.suggested_filename
    dl.value.save_as(chain)
    wacz_validate(chain)
    report = verify_package(chain)
    assert report.ok, report.failures
    assert sum(1 for p in report.proven if "captured at" in p) >= 6  # 5 documents, 2 Watan versions
