"""Fixity audits (`verify`) and imports of WARC/ARC files made by other tools (`import_warc`)."""

from __future__ import annotations

import gzip
import io
import os
import shutil
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from warcio.warcwriter import WARCWriter

from archive.capture.capture import capture
from archive.errors import WarcImportError
from archive.models import Snapshot, WarcFile
from archive.store.ingest import import_file
from archive.store.snapshots import stored_response
from tests.helpers import WATAN_URL, assert_warcio_check, corpus_bytes, warc_path

pytestmark = pytest.mark.django_db


@pytest.fixture
def via_proxy(corpus_proxy):
    corpus_proxy.reset()
    with override_settings(NAQL_CAPTURE_PROXY=corpus_proxy.proxy_url):
        yield corpus_proxy


def _tamper(path: Path, offset: int) -> None:
    os.chmod(path, 0o644)
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_verify_passes_on_an_untouched_store(via_proxy, capsys):
    capture(WATAN_URL)
    call_command("verify")
    assert "1 of 1 WARC file(s) verified" in capsys.readouterr().out
    assert WarcFile.objects.get().last_verified_ok is True


def test_verify_names_the_file_and_record_that_was_tampered_with(via_proxy, capsys):
    snap = capture(WATAN_URL, requisites=False).final
    path = Path(warc_path(snap.warc_file.name))
    original = path.read_bytes()
    try:
        _tamper(path, snap.offset + snap.length // 2)
        with pytest.raises(CommandError, match="1 WARC file"):
            call_command("verify")
        err = capsys.readouterr().err
        assert snap.warc_file.name in err
        assert f"record at {snap.offset}" in err and snap.record_id in err
        assert WarcFile.objects.get().last_verified_ok is False
    finally:
        path.write_bytes(original)


def test_verify_reports_a_missing_file(via_proxy, capsys):
    snap = capture(WATAN_URL, requisites=False).final
    path = Path(warc_path(snap.warc_file.name))
    moved = path.with_suffix(".moved")
    shutil.move(path, moved)
    try:
        with pytest.raises(CommandError):
            call_command("verify")
        assert "missing" in capsys.readouterr().err
    finally:
        shutil.move(moved, path)


def _warcio_file(tmp_path: Path, *, gz: bool = True) -> Path:
    """A WARC as other tools write it (warcio's own writer, like pywb and warcio capture_http)."""
    path = tmp_path / ("other.warc.gz" if gz else "other.warc")
    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=gz)
        body = corpus_bytes("far/communique.html")
        from warcio.statusandheaders import StatusAndHeaders

        http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=UTF-8"),
                                           ("Content-Length", str(len(body)))], protocol="HTTP/1.1")
        rec = writer.create_warc_record("http://far.ma/fr/communiques/x", "response", payload=io.BytesIO(body),
                                        http_headers=http)
        writer.write_record(rec)
    return path


@pytest.mark.parametrize("gz", [True, False])
def test_import_warc_made_by_another_tool(tmp_path, gz):
    path = _warcio_file(tmp_path, gz=gz)
    result = import_file(path)
    snap = result.snapshots[0]
    assert snap.url == "http://far.ma/fr/communiques/x" and snap.status == 200
    assert stored_response(snap).body == corpus_bytes("far/communique.html")
    assert "Forces Armées Royales" in snap.text
    assert_warcio_check(warc_path(result.warc_file.name))
    assert result.warc_file.origin == "imported" and result.warc_file.source_name == path.name


def test_imported_revisit_points_at_its_original_and_replays_its_payload(tmp_path):
    from warcio.statusandheaders import StatusAndHeaders

    body = corpus_bytes("far/communique.html")
    path = tmp_path / "dedup.warc.gz"
    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)

        def http():
            return StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=UTF-8"),
                                               ("Content-Length", str(len(body)))], protocol="HTTP/1.1")

        first = writer.create_warc_record("http://far.ma/x", "response", payload=io.BytesIO(body), http_headers=http())
        writer.write_record(first)
        digest = first.rec_headers.get_header("WARC-Payload-Digest")
        again = writer.create_revisit_record("http://www.far.ma/x", digest, "http://far.ma/x",
                                             first.rec_headers.get_header("WARC-Date"), http_headers=http())
        writer.write_record(again)
        orphan = writer.create_revisit_record("http://far.ma/elsewhere", digest, "http://far.ma/elsewhere",
                                              first.rec_headers.get_header("WARC-Date"), http_headers=http())
        writer.write_record(orphan)
    result = import_file(path)
    original, revisit = result.snapshots
    assert revisit.record_type == "revisit" and revisit.payload_snapshot == original
    assert stored_response(revisit).body == body
    assert len(result.skipped) == 1 and "of http://far.ma/elsewhere: original not archived yet" in result.skipped[0]
    assert result.pending == [orphan.rec_headers.get_header("WARC-Record-ID")]


def test_reimporting_a_naql_capture_makes_no_second_snapshot(via_proxy, tmp_path):
    snap = capture(WATAN_URL, requisites=False).final
    copy = tmp_path / "naql.warc.gz"
    shutil.copy(warc_path(snap.warc_file.name), copy)
    before = (WarcFile.objects.count(), Snapshot.objects.count())
    result = import_file(copy)
    assert result.snapshots == [] and result.warc_file is None
    assert any(f"already archived as {snap.guid}" in note for note in result.skipped)
    assert (WarcFile.objects.count(), Snapshot.objects.count()) == before


def test_gzip_members_of_another_tool_are_copied_byte_for_byte(tmp_path):
    from warcio.archiveiterator import ArchiveIterator

    path = _warcio_file(tmp_path, gz=True)
    data = path.read_bytes()
    with open(path, "rb") as fh:
        it = ArchiveIterator(fh)
        spans = [(it.get_record_offset(), it.get_record_length()) for _ in it]
    snap = import_file(path).snapshots[0]
    stored = Path(warc_path(snap.warc_file.name)).read_bytes()[snap.offset : snap.offset + snap.length]
    assert stored in {data[o : o + n] for o, n in spans}


def test_tampered_warc_is_rejected_and_nothing_is_imported(tmp_path, capsys):
    path = _warcio_file(tmp_path, gz=False)
    data = path.read_bytes().replace("Forces Armées".encode(), "Forces Arméez".encode())
    path.write_bytes(data)
    before = (WarcFile.objects.count(), Snapshot.objects.count())
    with pytest.raises(CommandError, match="rejected"):
        call_command("import_warc", str(path))
    assert "digest" in capsys.readouterr().err
    assert (WarcFile.objects.count(), Snapshot.objects.count()) == before


@pytest.mark.parametrize("content", [b"this is not a warc file at all\n", b"", b"\x1f\x8b\x08\x00garbage"])
def test_malformed_file_is_rejected_with_a_clear_message(tmp_path, content):
    path = tmp_path / "bad.warc.gz"
    path.write_bytes(content)
    with pytest.raises(WarcImportError) as info:
        import_file(path)
    assert "bad.warc.gz" in info.value.message
    assert WarcFile.objects.count() == 0


def test_truncated_warc_is_rejected(tmp_path):
    path = _warcio_file(tmp_path, gz=False)
    path.write_bytes(path.read_bytes()[:-400])
    with pytest.raises(WarcImportError):
        import_file(path)
    assert Snapshot.objects.count() == 0


def test_arc_file_is_imported(tmp_path):
    body = b"<html><body><p>Hello ARC</p></body></html>"
    http = b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n" + body
    header = b"filedesc://test.arc 0.0.0.0 20211124000000 text/plain 77\n"
    filedesc = b"1 0 Naql test\nURL IP-address Archive-date Content-type Archive-length\n\n"
    record = f"http://example.org/arc 192.0.2.1 20211124120000 text/html {len(http)}\n".encode() + http + b"\n"
    filedesc_line = header.replace(b"77", str(len(filedesc)).encode())
    path = tmp_path / "old.arc.gz"
    path.write_bytes(gzip.compress(filedesc_line + filedesc + b"\n") + gzip.compress(record))
    result = import_file(path)
    snap = next(s for s in result.snapshots if s.url == "http://example.org/arc")
    assert snap.status == 200 and "Hello ARC" in snap.text
