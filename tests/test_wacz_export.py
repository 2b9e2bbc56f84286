"""WACZ export: `export_wacz` packages pass `wacz validate`, carry the stored records byte for byte,
index them where they are, and import back into a fresh Naql as the same snapshots."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from django.test import override_settings
from warcio.archiveiterator import ArchiveIterator

from archive.capture.capture import capture
from archive.models import Snapshot
from archive.store.warcstore import read_range
from tests.helpers import WATAN_URL
from tests.wacz_support import export, wacz_validate

pytestmark = pytest.mark.django_db


@pytest.fixture
def via_proxy(corpus_proxy):
    corpus_proxy.reset()
    with override_settings(NAQL_CAPTURE_PROXY=corpus_proxy.proxy_url):
        yield corpus_proxy
    corpus_proxy.reset()


def test_snapshot_package_passes_wacz_validate_and_holds_the_stored_records_untouched(via_proxy, tmp_path):
    page = capture(WATAN_URL).final
    assert page.requisites.exists()
    out = export(tmp_path / "one.wacz", "--snapshot", page.guid)
    wacz_validate(out)
    with zipfile.ZipFile(out) as zf:
        warc = zf.read("archive/data.warc.gz")
        index = zf.read("indexes/index.cdx").decode()
        pages = [json.loads(line) for line in zf.read("pages/pages.jsonl").decode().splitlines()]
        dp = json.loads(zf.read("datapackage.json"))
        assert zf.getinfo("archive/data.warc.gz").compress_type == zipfile.ZIP_STORED
    assert dp["wacz_version"] == "1.1.1"
    for res in dp["resources"]:
        with zipfile.ZipFile(out) as zf:
            assert res["hash"] == "sha256:" + hashlib.sha256(zf.read(res["path"])).hexdigest()
    # every record of the page and of each requisite, byte for byte as stored
    snaps = [page, *page.requisites.all()]
    for s in snaps:
        for r in s.records:
            stored = read_range(s.warc_file.name, r["offset"], r["length"], expected_sha256=r["sha256"])
            assert stored in warc
    # the CDXJ is SURT-sorted and each line's offset/length is the response record in the package
    lines = index.splitlines()
    assert lines == sorted(lines) and len(lines) == len(snaps)
    for line in lines:
        surt, ts, js = line.split(" ", 2)
        rec = json.loads(js)
        member = warc[int(rec["offset"]):int(rec["offset"]) + int(rec["length"])]
        head = gzip.decompress(member).split(b"\r\n\r\n", 1)[0].decode()
        assert f"WARC-Target-URI: {rec['url']}" in head
        s = Snapshot.objects.get(url=rec["url"], captured_at__isnull=False, record_id__in=[
            h.split(": ", 1)[1] for h in head.split("\r\n") if h.startswith("WARC-Record-ID")])
        assert s.surt == surt and s.timestamp == ts and rec["digest"] == s.payload_digest
    # ... and agrees with what the reference indexer (cdxj-indexer, used by py-wacz) finds in the WARC
    (tmp_path / "data.warc.gz").write_bytes(warc)
    exe = Path(sys.executable).with_name("cdxj-indexer")
    ref = subprocess.run([str(exe), "-s", str(tmp_path / "data.warc.gz")], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    fields = ("offset", "length", "status", "mime", "url", "digest")

    def key(line):
        surt, ts, js = line.split(" ", 2)
        rec = json.loads(js)
        return (surt, ts, *(str(rec.get(f)) for f in fields))

    ref_keys = {key(x) for x in ref}
    assert all(key(x) in ref_keys for x in lines), (lines, ref)
    assert pages[0]["format"] == "json-pages-1.0"
    assert [(p["id"], p["url"]) for p in pages[1:]] == [(page.guid, page.url)]
    assert pages[1]["title"] == page.title and pages[1]["citation"].endswith(f"/s/{page.guid}")
    # warcio reads the package's WARC as a whole
    n = sum(1 for _ in ArchiveIterator(io.BytesIO(warc)))
    assert n == sum(len(s.records) for s in snaps)


FRESH_DUMP = r"""
import hashlib, json
from django.test import Client
from archive.models import Snapshot
c = Client()
out = []
for s in Snapshot.objects.order_by("captured_at", "pk"):
    body = c.get(f"/web/{s.timestamp}id_/{s.url}").content
    out.append({"url": s.url, "captured_at": s.captured_at.isoformat(), "status": s.status, "type": s.record_type,
                "record_id": s.record_id, "record_sha256": s.record_sha256, "payload_digest": s.payload_digest,
                "payload_sha256": s.payload_sha256, "original": s.payload_snapshot.record_id if s.payload_snapshot_id else None,
                "id_": hashlib.sha256(body).hexdigest()})
print(json.dumps(out))
"""


def _fresh_naql_import(tmp_path, package) -> list[dict]:
    """Import ``package`` into a new Naql (own data dir, database, storage) and dump its snapshots."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "NAQL_DATA_DIR": str(tmp_path / "fresh"), "DJANGO_ALLOWED_HOSTS": "*"}
    env.pop("DATABASE_URL", None)
    env.pop("CELERY_BROKER_URL", None)
    env.pop("NAQL_REQUIRE_SERVICES", None)

    def run(*args):
        r = subprocess.run([sys.executable, "manage.py", *args], env=env, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
        return r.stdout

    run("migrate", "-v0")
    run("import_warc", str(package))
    return json.loads(run("shell", "-v0", "-c", FRESH_DUMP).strip().splitlines()[-1])


def test_round_trip_into_a_fresh_naql_gives_the_same_snapshots_digests_and_id_bytes(via_proxy, tmp_path, client):
    first = capture(WATAN_URL).final
    again = capture(WATAN_URL, requisites=False).final  # same payload: a revisit of the first
    assert again.record_type == "revisit" and again.payload_snapshot == first
    out = export(tmp_path / "rt.wacz", "--url", WATAN_URL)
    wacz_validate(out)
    got = _fresh_naql_import(tmp_path, out)
    ours = [first, *first.requisites.all(), again]
    want = []
    for s in sorted(ours, key=lambda s: (s.captured_at, s.pk)):
        body = client.get(f"/web/{s.timestamp}id_/{s.url}").content
        assert body  # the replay answers with the original bytes
        want.append({"url": s.url, "captured_at": s.captured_at.isoformat(), "status": s.status,
                     "type": s.record_type, "record_id": s.record_id, "record_sha256": s.record_sha256,
                     "payload_digest": s.payload_digest, "payload_sha256": s.payload_sha256,
                     "original": s.payload_snapshot.record_id if s.payload_snapshot_id else None,
                     "id_": hashlib.sha256(body).hexdigest()})
    key = lambda d: (d["captured_at"], d["record_id"])  # noqa: E731
    got, want = sorted(got, key=key), sorted(want, key=key)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert {k: v for k, v in g.items() if g[k] != w[k]} == {k: v for k, v in w.items() if g[k] != w[k]}, w


def test_pywb_replays_the_package_with_the_same_id_bytes(via_proxy, tmp_path, client):
    """Interop: pywb's wb-manager unpacks the WACZ and uses *its* CDXJ index (offsets into the
    package's WARC) to serve the same original bytes as Naql."""
    from tests.replay_support import PywbServer, pywb_bin

    if pywb_bin() is None:
        pytest.skip("pywb not installed (it needs its own virtualenv: see tests/replay_support.pywb_bin)")
    page = capture(WATAN_URL).final
    out = export(tmp_path / "pywb.wacz", "--snapshot", page.guid)
    work = tmp_path / "pywb"
    work.mkdir()
    with PywbServer([out], work, add_args=["--unpack-wacz"]) as pywb:
        for s in [page, *page.requisites.all()]:
            ours = client.get(f"/web/{s.timestamp}id_/{s.url}")
            status, _headers, body = pywb.get(f"/{s.timestamp}id_/{s.url}")
            assert (status, body) == (ours.status_code, ours.content), s.url
