"""The citable page /s/<ID>: evidence, sandboxed replay, WARC download, versions and diffs."""

from __future__ import annotations

import gzip
import hashlib
import io

import lxml.html
import pytest
from warcio.archiveiterator import ArchiveIterator

from archive.models import Snapshot
from archive.uri import uri_to_iri
from tests.helpers import ELESPANOL_SHORT_URL, WATAN_URL, assert_warcio_check, gold
from tests.replay_support import URLCONF, V1_AT, V2_AT, capture_at

pytestmark = [pytest.mark.django_db, pytest.mark.urls(URLCONF)]




def _doc(resp):
    return lxml.html.fromstring(resp.content)


def test_snapshot_page_shows_the_evidence_and_a_sandboxed_replay(client, two_versions):
    v1, _ = two_versions
    resp = client.get(f"/s/{v1.guid}")
    assert resp.status_code == 200
    html = resp.content.decode()
    for value in (WATAN_URL, v1.record_sha256, v1.warc_file.sha256, v1.record_id, "2021-11-27 12:00:00 UTC",
                  v1.payload_sha256):
        assert value.replace("<", "&lt;").replace(">", "&gt;") in html, value
    doc = _doc(resp)
    h1 = doc.xpath("//h1")[0]
    assert h1.get("dir") == "auto" and h1.text_content().startswith("الأمن السيبراني والاستخبارات")
    frame = doc.xpath("//iframe")[0]
    assert frame.get("sandbox") == "allow-scripts allow-forms allow-popups"
    assert frame.get("src") == f"http://testserver/web/{v1.timestamp}/{WATAN_URL}"
    assert doc.xpath(f"//a[@href='/s/{v1.guid}.warc.gz']")
    formats = {t.get("data-format"): t.text_content() for t in doc.xpath("//textarea[@data-format]")}
    assert set(formats) == {"apa", "chicago", "mla", "bibtex", "ris", "csl", "robust"}
    # machine formats keep the ASCII URI; prose citations show it readable (RFC 3987 IRI)
    assert all(WATAN_URL in formats[k] for k in ("bibtex", "ris", "csl", "robust"))
    assert all(uri_to_iri(WATAN_URL) in formats[k] and "%D8" not in formats[k] for k in ("apa", "chicago", "mla"))


def test_framed_replay_is_not_blocked_by_x_frame_options(client, two_versions):
    v1, _ = two_versions
    resp = client.get(f"/web/{v1.timestamp}/{WATAN_URL}")
    assert "X-Frame-Options" not in resp
    assert "frame-ancestors 'self'" in resp["Content-Security-Policy"]


def test_redirect_hop_page_shows_original_and_final_url(client, clean_proxy):
    result = capture_at(clean_proxy, ELESPANOL_SHORT_URL, V1_AT, requisites=False)
    html = client.get(f"/s/{result.snapshot.guid}").content.decode()
    assert ELESPANOL_SHORT_URL in html and result.final.url in html
    assert "301 → 200" in html


@pytest.mark.parametrize("form", ["lower", "nohyphen", "spaced"])
def test_non_canonical_ids_redirect_permanently_to_the_canonical_form(client, two_versions, form):
    v1, _ = two_versions
    typed = {"lower": v1.guid.lower(), "nohyphen": v1.guid.replace("-", "").lower(),
             "spaced": v1.guid.replace("-", "%20")}[form]
    resp = client.get(f"/s/{typed}")
    assert resp.status_code == 301 and resp["Location"] == f"/s/{v1.guid}"
    warc = client.get(f"/s/{typed}.warc.gz")
    assert warc.status_code == 301 and warc["Location"] == f"/s/{v1.guid}.warc.gz"


@pytest.mark.parametrize("bad", ["nope", "K7QM-4XR0", "00000000", "K7QM-4XR2-EXTRA", "%00"])
def test_unknown_or_invalid_ids_are_404(client, db, bad):
    assert client.get(f"/s/{bad}").status_code == 404


def test_withdrawn_snapshot_page_and_download_answer_410_with_the_reason(client, two_versions):
    v1, _ = two_versions
    v1.withdraw(user=None, reason="Withdrawn at the author's request")
    for url in (f"/s/{v1.guid}", f"/s/{v1.guid}.warc.gz"):
        resp = client.get(url)
        assert resp.status_code == 410
        assert "Withdrawn at the author&#x27;s request" in resp.content.decode()


def test_warc_download_is_the_snapshots_records_and_passes_warcio_check(client, two_versions, tmp_path):
    v1, _ = two_versions
    resp = client.get(f"/s/{v1.guid}.warc.gz")
    assert resp.status_code == 200
    assert resp["Content-Disposition"] == f'attachment; filename="naql-{v1.guid}.warc.gz"'
    path = tmp_path / "dl.warc.gz"
    path.write_bytes(resp.content)
    assert_warcio_check(str(path))
    records = list(ArchiveIterator(io.BytesIO(resp.content)))
    assert [r.rec_type for r in records] == [r["type"] for r in v1.records]
    assert records[0].rec_headers.get_header("WARC-Record-ID") == v1.record_id
    assert hashlib.sha256(gzip.decompress(resp.content)).hexdigest()  # whole file is valid gzip


def test_revisit_download_carries_the_payload_record_too(client, clean_proxy, tmp_path):
    capture_at(clean_proxy, WATAN_URL, V1_AT, requisites=False)
    again = capture_at(clean_proxy, WATAN_URL, V2_AT, requisites=False).final
    assert again.record_type == Snapshot.RecordType.REVISIT
    resp = client.get(f"/s/{again.guid}.warc.gz")
    path = tmp_path / "revisit.warc.gz"
    path.write_bytes(resp.content)
    assert_warcio_check(str(path))
    types = [r.rec_type for r in ArchiveIterator(io.BytesIO(resp.content))]
    assert types[:2] == ["response", "revisit"]


def test_versions_timeline_marks_the_change_and_links_the_diff(client, two_versions):
    v1, v2 = two_versions
    doc = _doc(client.get(f"/s/{v2.guid}"))
    rows = doc.xpath("//table[@class='versions']/tr[td]")
    assert len(rows) == 2
    assert "first capture" in rows[0].text_content() and "text changed" in rows[1].text_content()
    assert doc.xpath(f"//a[@href='/s/{v1.guid}/diff/{v2.guid}']")


def test_versions_timeline_hides_captures_the_reader_may_not_see(client, two_versions):
    from django.contrib.auth.models import Group

    v1, v2 = two_versions
    Snapshot.objects.filter(pk=v2.pk).update(private_to_group=Group.objects.create(name="desk"))
    html = client.get(f"/s/{v1.guid}").content.decode()
    assert v2.guid not in html  # neither its ID nor its diff link leaks to an anonymous reader
    rows = _doc(client.get(f"/s/{v1.guid}")).xpath("//table[@class='versions']/tr[td]")
    assert len(rows) == 1


def test_diff_view_shows_the_gold_stealth_edit(client, two_versions):
    v1, v2 = two_versions
    resp = client.get(f"/s/{v1.guid}/diff/{v2.guid}")
    assert resp.status_code == 200
    doc = _doc(resp)
    changes = {c["type"]: c for c in gold("stealth_edit.json")["changes"]}
    title = doc.xpath("//h2[contains(@class,'naql-diff-title')]")[0]
    assert title.get("dir") == "auto"
    assert "مفاتيح" in "".join(title.xpath(".//del//text()"))
    assert "ركيزتا" in "".join(title.xpath(".//ins//text()"))
    removed = " ".join(p.text_content() for p in doc.xpath("//p[contains(@class,'naql-diff-removed')]"))
    assert changes["paragraph_removed"]["before"] in removed
    added = " ".join(p.text_content() for p in doc.xpath("//p[contains(@class,'naql-diff-added')]"))
    assert changes["note_added"]["after"] in added
    changed = doc.xpath("//p[contains(@class,'naql-diff-changed')]")
    inserted = " ".join("".join(p.xpath(".//ins//text()")) for p in changed)
    assert "الوزير المنتدب لدى رئيس الحكومة" in inserted
    assert all(p.get("dir") == "auto" for p in doc.xpath("//div[@class='naql-diff']//p"))
    summary = doc.xpath("//ul[@class='summary']")[0].text_content()
    assert "Headline changed" in summary and "1 added, 1 removed" in summary
    # the same diff whichever order the IDs come in, and lower-case IDs are canonicalised
    assert client.get(f"/s/{v2.guid}/diff/{v1.guid}").status_code == 200
    lower = client.get(f"/s/{v1.guid.lower()}/diff/{v2.guid.lower()}")
    assert lower.status_code == 301 and lower["Location"] == f"/s/{v1.guid}/diff/{v2.guid.lower()}"
    assert client.get(lower["Location"])["Location"] == f"/s/{v1.guid}/diff/{v2.guid}"
