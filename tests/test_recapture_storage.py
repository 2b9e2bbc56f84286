"""Storage of unchanged recaptures (issue 19): what each recapture of an unchanged page adds.

Captures go through the ``capture`` management command (``--json --follow-up inline``), as a
user on the embedded default would run them; the corpus proxy serves the same page, stylesheet
and logo each time. Each recapture stays a memento of its own: a Snapshot row with its time and
status, a WARC 1.1 revisit record naming its original, replayable and verified."""

from __future__ import annotations

import gzip
import io
import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from warcio.archiveiterator import ArchiveIterator

from archive.models import Snapshot, WarcFile
from tests.helpers import WATAN_URL, assert_warcio_check, corpus_bytes, warc_path
from tests.replay_support import V1_AT, fetch_clock

pytestmark = pytest.mark.django_db

LOGO_URL = "http://www.watanserb.com/wp-content/themes/watan/images/logo.png"
CSS_URL = "http://www.watanserb.com/wp-content/themes/watan/style.css?ver=5.8.2"


def _capture(proxy, when) -> Snapshot:
    out = io.StringIO()
    with override_settings(NAQL_CAPTURE_PROXY=proxy.proxy_url), fetch_clock(when):
        call_command("capture", WATAN_URL, "--json", "--follow-up", "inline", stdout=out)
    line = json.loads(out.getvalue().strip().splitlines()[-1])
    assert line["ok"] and line["requisites"] == 2, line
    return Snapshot.objects.get(guid=line["final_snapshot"])


def _warc_bytes() -> int:
    return sum(WarcFile.objects.values_list("size", flat=True))


def _db_bytes() -> int:
    with connection.cursor() as cur:
        cur.execute("SELECT SUM(payload) FROM dbstat WHERE name NOT LIKE 'sqlite_%'")
        return int(cur.fetchone()[0] or 0)


def _records(snap: Snapshot) -> list:
    with open(warc_path(snap.warc_file.name), "rb") as fh:
        return [(r.rec_type, r.rec_headers, r.content_stream().read()) for r in ArchiveIterator(fh)]


def test_each_unchanged_recapture_adds_one_row_and_under_2_4_kb_of_warc(clean_proxy):
    first = _capture(clean_proxy, V1_AT)
    warc_one, rows_one = _warc_bytes(), Snapshot.objects.count()
    db_one = _db_bytes() if connection.vendor == "sqlite" else 0
    n = 5
    for k in range(1, n + 1):
        _capture(clean_proxy, V1_AT + timedelta(minutes=10 * k))
    # before issue 19's storage work, 4,725 bytes each: a warcinfo, the page's revisit and request,
    # the stylesheet's and the logo's revisits and requests, and an indented metadata record
    assert (_warc_bytes() - warc_one) / n <= 2400
    assert Snapshot.objects.count() == rows_one + n  # the page's memento; its requisites are reused
    if connection.vendor == "sqlite":  # dbstat: table and index payload (was 32,549 bytes each;
        # 4,145 with a second, full (surt, captured_at) index: 3,714 without it)
        assert (_db_bytes() - db_one) / n <= 3800
    again = list(Snapshot.objects.pages().filter(captured_at__gt=first.captured_at).order_by("captured_at"))
    assert len(again) == n
    for s in again:
        assert s.record_type == "revisit" and s.payload_snapshot_id == first.pk and s.status == 200
        # the derived text is the original's, not a stored copy, and reads the same
        stored = Snapshot.objects.filter(pk=s.pk).values("text", "main_text", "extracted", "canonical_url").get()
        assert stored == {"text": "", "main_text": "", "extracted": {}, "canonical_url": ""}
        assert s.text_from_payload and s.text == first.text and s.main_text == first.main_text
        assert s.extracted == first.extracted and s.canonical_url == first.canonical_url
        assert s.title == first.title and s.text_fingerprint == first.text_fingerprint
        assert sorted(Snapshot.objects.get(pk=pk).url for pk in s.requisites_reused) == sorted([CSS_URL, LOGO_URL])


def test_a_recapture_replays_verifies_and_its_revisit_names_its_original(client, clean_proxy, capsys):
    first = _capture(clean_proxy, V1_AT)
    again = _capture(clean_proxy, V1_AT + timedelta(hours=1))
    # replay: the page at the recapture's own time, with the original's body
    resp = client.get(f"/web/{again.timestamp}id_/{again.url}")
    assert resp.status_code == 200 and b"".join(resp) == corpus_bytes("watan/article.v1.html")
    assert resp["Memento-Datetime"] == "Sat, 27 Nov 2021 13:00:00 GMT"
    logo = client.get(f"/web/{again.timestamp}id_/{LOGO_URL}")
    assert logo.status_code == 200 and b"".join(logo) == corpus_bytes("watan/logo.png")
    # the WARC: a warcinfo, a standard WARC 1.1 revisit, the capture's metadata
    recs = _records(again)
    assert [t for t, _, _ in recs] == ["warcinfo", "revisit", "metadata"]
    h = recs[1][1]
    assert h.get_header("WARC-Profile") == "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest"
    assert h.get_header("WARC-Refers-To") == first.record_id
    assert h.get_header("WARC-Refers-To-Target-URI") == first.url
    assert h.get_header("WARC-Refers-To-Date") == "2021-11-27T12:00:00Z"
    assert h.get_header("WARC-Payload-Digest") == first.payload_digest
    with open(warc_path(again.warc_file.name), "rb") as fh:
        block = gzip.decompress(fh.read())
    assert b"HTTP/1.1 200 OK" in block  # the revisit keeps the HTTP head, not the body and corpus_bytes("watan/article.v1.html")[:200] not in block
    meta = json.loads(recs[2][2])
    first_request = next(r for r in first.records if r["type"] == "request")
    assert meta["timings"]["exchanges"][0]["request_same_as"] == first_request["record_id"]
    held = {s.url: s.record_id for s in first.requisites.all()}
    assert {r["url"]: r["same_as"] for r in meta["requisites_reused"]} == held
    assert_warcio_check(warc_path(again.warc_file.name))
    call_command("verify", "--deep")
    assert "2 of 2 WARC file(s) verified" in capsys.readouterr().out


def test_requisites_are_recorded_again_once_their_capture_is_old_or_private(clean_proxy):
    first = _capture(clean_proxy, V1_AT)
    late = _capture(clean_proxy, V1_AT + timedelta(days=2))  # past NAQL_CAPTURE_REQUISITE_REUSE_SECONDS
    assert late.requisites_reused == [] and late.requisites.count() == 2
    assert {s.record_type for s in late.requisites.all()} == {"revisit"}
    from django.contrib.auth.models import Group

    logo = late.requisites.get(url=LOGO_URL)
    Snapshot.objects.filter(pk=logo.pk).update(private_to_group=Group.objects.create(name="desk"))
    third = _capture(clean_proxy, V1_AT + timedelta(days=2, minutes=5))
    # a public page is not given a requisite only a group may see: the logo is recorded
    assert [s.url for s in third.requisites.all()] == [LOGO_URL]
    assert [Snapshot.objects.get(pk=pk).url for pk in third.requisites_reused] == [CSS_URL]
    assert first.pk not in third.requisites_reused


@override_settings(NAQL_CAPTURE_REQUISITE_REUSE_SECONDS=0)
def test_with_reuse_off_every_requisite_is_recorded_as_a_revisit(clean_proxy):
    _capture(clean_proxy, V1_AT)
    again = _capture(clean_proxy, V1_AT + timedelta(minutes=1))
    assert again.requisites_reused == [] and again.requisites.count() == 2


def test_the_wacz_of_a_recapture_carries_the_requisites_it_reused(clean_proxy):
    from archive.store.wacz import collect

    first = _capture(clean_proxy, V1_AT)
    again = _capture(clean_proxy, V1_AT + timedelta(minutes=3))
    urls = {s.url for s in collect([again])}
    assert {again.url, CSS_URL, LOGO_URL} <= urls
    assert first.pk in {s.pk for s in collect([again])}  # the revisit's original, which holds the payload


def test_a_recapture_keeps_its_text_in_the_api_after_its_original_is_withdrawn(client, clean_proxy):
    first = _capture(clean_proxy, V1_AT)
    again = _capture(clean_proxy, V1_AT + timedelta(minutes=7))
    first.withdraw(user=None, reason="a court order for the first capture only")
    body = client.get(f"/api/snapshots/{again.guid}/").json()
    assert body["record_type"] == "revisit" and body["payload_snapshot"] == first.guid
    assert body["text"] == first.text and body["canonical_url"] == first.canonical_url and body["text"]
    assert client.get(f"/api/snapshots/{first.guid}/").status_code == 410
