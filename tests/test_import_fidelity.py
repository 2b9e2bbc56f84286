"""Imports of what other web-archiving tools write (issue 13) and imports that must be refused
(issue 17 kinds 4, 9, 10): inputs built byte by byte in tests/warc_builders.py."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime

import pytest
from django.core.management import CommandError, call_command

from archive.errors import WarcImportError
from archive.models import PendingRevisit, Snapshot, WarcFile
from archive.store.ingest import import_file
from archive.store.snapshots import stored_response
from tests.replay_support import URLCONF
from tests.warc_builders import b32, http_response, record, response, write_wacz, write_warc

pytestmark = [pytest.mark.django_db, pytest.mark.urls(URLCONF)]

PAGE = "<!doctype html><html><head><title>Lluvias en la costa</title></head><body><p>{}</p></body></html>"


def _page(text: str) -> bytes:
    return PAGE.format(text).encode()


def _revisit(uri: str, digest: str, *, refers_to: tuple[str, str, str] | None = None, profile: str = "identical-payload-digest",
             status: str = "200 OK", date: str = "2024-06-01T00:00:00Z") -> tuple[str, bytes]:
    head = f"HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nDate: Sat, 01 Jun 2024 00:00:00 GMT\r\n\r\n"
    extra = [("WARC-Profile", f"http://netpreserve.org/warc/1.1/revisit/{profile}")]
    if digest:
        extra.append(("WARC-Payload-Digest", digest))
    if refers_to:
        rid, ruri, rdate = refers_to
        extra += [("WARC-Refers-To", rid), ("WARC-Refers-To-Target-URI", ruri), ("WARC-Refers-To-Date", rdate)]
    return record("revisit", uri, head.encode(), date=date, extra=extra)


# --------------------------------------------------------------------------------------------
# kind 1: revisits resolve whatever the order, by WARC-Refers-To-*, and server-not-modified
# --------------------------------------------------------------------------------------------
def test_revisit_written_before_its_original_in_the_same_file_resolves(tmp_path, client):
    body = _page("La tormenta llegó al puerto de madrugada.")
    orig_id, orig = response("https://news.example.org/tormenta", body)
    _, rev = _revisit("https://news.example.org/tormenta", b32("sha1", body))
    path = write_warc(tmp_path / "reordered.warc.gz", [rev, orig])
    result = import_file(path)
    revisit = Snapshot.objects.get(record_type="revisit")
    assert revisit.payload_snapshot.record_id == orig_id and result.pending == []
    resp = client.get(f"/web/{revisit.timestamp}id_/{revisit.url}")
    assert resp.status_code == 200 and resp.content == body


def test_uri_agnostic_revisit_resolves_by_refers_to_target_uri_and_date(tmp_path, client):
    body = _page("Un logotipo compartido por dos direcciones.")
    orig_id, orig = response("https://cdn.example.org/a/logo.html", body, date="2024-01-02T03:04:05Z")
    # a different URL, a payload digest in another algorithm: only WARC-Refers-To-* can find it
    _, rev = _revisit("https://www.example.org/logo.html", "sha256:" + "A" * 52 + "====",
                      refers_to=(orig_id, "https://cdn.example.org/a/logo.html", "2024-01-02T03:04:05Z"))
    import_file(write_warc(tmp_path / "agnostic.warc.gz", [orig, rev]))
    snap = Snapshot.objects.get(url="https://www.example.org/logo.html")
    assert snap.record_type == "revisit" and snap.payload_snapshot.record_id == orig_id
    assert client.get(f"/web/{snap.timestamp}id_/{snap.url}").content == body


def test_revisit_found_only_by_refers_to_date(tmp_path):
    body = _page("Segunda versión idéntica.")
    _, orig = response("https://example.org/same", body, date="2024-01-02T03:04:05Z")
    rev_id, rev = _revisit("https://example.org/same", "",
                           refers_to=("<urn:uuid:00000000-0000-0000-0000-000000000000>", "https://example.org/same",
                                      "2024-01-02T03:04:05Z"))
    import_file(write_warc(tmp_path / "bydate.warc.gz", [rev, orig]))
    assert Snapshot.objects.get(record_id=rev_id).payload_snapshot.captured_at == datetime(2024, 1, 2, 3, 4, 5,
                                                                                           tzinfo=UTC)


def test_server_not_modified_revisit_replays_the_original_status_and_body(tmp_path, client):
    body = _page("Contenido sin cambios desde la última visita.")
    orig_id, orig = response("https://example.org/estable", body, date="2024-02-01T00:00:00Z")
    rev_id, rev = _revisit("https://example.org/estable", "", profile="server-not-modified", status="304 Not Modified",
                           refers_to=(orig_id, "https://example.org/estable", "2024-02-01T00:00:00Z"))
    result = import_file(write_warc(tmp_path / "notmod.warc.gz", [orig, rev]))
    snap = Snapshot.objects.get(record_id=rev_id)
    assert snap.status == 200 and snap.payload_snapshot.record_id == orig_id
    assert not any("estable" in s for s in result.skipped)
    resp = client.get(f"/web/{snap.timestamp}id_/{snap.url}")
    assert resp.status_code == 200 and resp.content == body
    assert stored_response(snap).status == 200


def test_revisit_imported_before_its_original_file_is_resolved_when_it_arrives(tmp_path, capsys):
    body = _page("El informe anual, publicado dos veces.")
    orig_id, orig = response("https://example.org/informe", body, date="2024-03-01T00:00:00Z")
    rev_id, rev = _revisit("https://example.org/informe", b32("sha1", body), date="2024-04-01T00:00:00Z")
    first = write_warc(tmp_path / "later-crawl.warc.gz", [rev])
    second = write_warc(tmp_path / "earlier-crawl.warc.gz", [orig])
    call_command("import_warc", str(first))
    assert PendingRevisit.objects.filter(record_id=rev_id).exists()
    assert not Snapshot.objects.filter(record_id=rev_id).exists()
    call_command("import_warc", str(second))
    out = capsys.readouterr().out
    snap = Snapshot.objects.get(record_id=rev_id)
    assert snap.payload_snapshot.record_id == orig_id and f"resolved pending revisit {rev_id}" in out
    assert not PendingRevisit.objects.exists()
    assert stored_response(snap).body == body
    call_command("verify")  # the pending record's bytes were indexed for fixity all along


# --------------------------------------------------------------------------------------------
# kind 2: payload digests over the transfer-decoded entity (WARC 1.1) or the chunked bytes
# --------------------------------------------------------------------------------------------
@pytest.fixture
def own_warc_store(tmp_path, settings):
    """A WARC store outside the suite's: ``warcio check`` (run over the suite's store at the end)
    hashes a chunked payload as stored, so it calls a WARC 1.1 digest over the decoded entity failed,
    which is the very fault these tests show Naql does not make."""
    settings.STORAGES = {**settings.STORAGES, "warcs": {**settings.STORAGES["warcs"], "OPTIONS": {
        **settings.STORAGES["warcs"].get("OPTIONS", {}), "location": str(tmp_path / "own-warcs")}}}
    yield


@pytest.mark.parametrize("basis,reported", [("decoded", "transfer-decoded entity"),
                                            ("wire", "chunked bytes as transmitted")])
def test_chunked_payload_digest_is_accepted_on_either_basis_and_reported(tmp_path, basis, reported, capsys,
                                                                          own_warc_store):
    body = _page("Fragmentado en dos trozos por el servidor.")
    _, rec = response("https://example.org/chunked", body, chunked=True, digest_basis=basis)
    path = write_warc(tmp_path / f"chunked-{basis}.warc.gz", [rec])
    call_command("import_warc", str(path))
    assert reported in capsys.readouterr().out
    snap = Snapshot.objects.get()
    assert stored_response(snap).body == body and snap.payload_length == len(body)
    call_command("verify", "--deep")  # the copied record is not called tampered either


def test_payload_digest_matching_neither_basis_is_rejected(tmp_path):
    block, _ = http_response(_page("Texto."), chunked=True)
    _, rec = record("response", "https://example.org/bad", block, payload_digest=b32("sha1", b"something else"))
    with pytest.raises(WarcImportError, match="payload digest failed"):
        import_file(write_warc(tmp_path / "bad.warc.gz", [rec]))
    assert WarcFile.objects.count() == 0


# --------------------------------------------------------------------------------------------
# kind 3: resource records are content; segmented records are refused, never served truncated
# --------------------------------------------------------------------------------------------
def test_resource_record_with_an_http_target_is_archived_content(tmp_path, client):
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(64))
    _, res = record("resource", "https://img.example.org/mapa.png", png, content_type="image/png")
    _, other = record("resource", "urn:pageinfo:https://img.example.org/", b"{}", content_type="application/json")
    result = import_file(write_warc(tmp_path / "browser.warc.gz", [res, other]))
    snap = Snapshot.objects.get()
    assert snap.record_type == "resource" and snap.status == 200 and snap.mime == "image/png"
    assert any("urn:pageinfo" in s and "not http(s)" in s for s in result.skipped)
    resp = client.get(f"/web/{snap.timestamp}id_/{snap.url}")
    assert resp.status_code == 200 and resp.content == png and resp["Content-Type"] == "image/png"


def test_segmented_response_is_refused_as_incomplete(tmp_path):
    block, _ = http_response(_page("Primera mitad " * 20))
    first_id, first = record("response", "https://example.org/grande", block[:120],
                             extra=[("WARC-Segment-Number", "1")], payload_digest=b32("sha1", block[block.find(b"\r\n\r\n") + 4:]))
    _, cont = record("continuation", "https://example.org/grande", block[120:], content_type="application/http",
                     extra=[("WARC-Segment-Number", "2"), ("WARC-Segment-Origin-ID", first_id),
                            ("WARC-Segment-Total-Length", str(len(block)))])
    result = import_file(write_warc(tmp_path / "segments.warc.gz", [first, cont]))
    assert Snapshot.objects.count() == 0
    assert any(first_id in s and "refused as incomplete" in s for s in result.skipped)


# --------------------------------------------------------------------------------------------
# kind 4: WARC-Date precision; unreadable records named by file, offset and record ID
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("date,expected", [
    ("2024-05-06T07:08:09.123456789Z", datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)),
    ("2024-05-06T07:08Z", datetime(2024, 5, 6, 7, 8, 0, tzinfo=UTC)),
    ("2024-05-06", datetime(2024, 5, 6, tzinfo=UTC)),
    ("2024-05-06T09:08:09+02:00", datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)),
])
def test_warc_date_of_any_w3cdtf_precision_is_read(tmp_path, date, expected):
    _, rec = response("https://example.org/fecha", _page("Fecha."), date=date)
    import_file(write_warc(tmp_path / "dates.warc", [rec], gz=False))
    assert Snapshot.objects.get().captured_at == expected


def test_unreadable_record_is_named_by_file_offset_and_previous_record(tmp_path):
    good_id, good = response("https://example.org/uno", _page("Uno."))
    path = write_warc(tmp_path / "broken.warc", [good, b"GARBAGE LINE, NOT A WARC HEADER\r\n\r\n"], gz=False)
    with pytest.raises(WarcImportError) as info:
        import_file(path)
    msg = info.value.message
    assert "broken.warc" in msg and f"offset {len(good)}" in msg and good_id in msg
    assert WarcFile.objects.count() == 0


def test_bad_date_names_the_record(tmp_path):
    rid, rec = response("https://example.org/x", _page("x"), date="6 May 2024")
    with pytest.raises(WarcImportError) as info:
        import_file(write_warc(tmp_path / "baddate.warc.gz", [rec]))
    assert rid in info.value.message and "offset 0" in info.value.message and "baddate.warc.gz" in info.value.message


# --------------------------------------------------------------------------------------------
# kind 6: WACZ packages
# --------------------------------------------------------------------------------------------
def test_wacz_with_a_file_not_matching_datapackage_is_rejected(tmp_path):
    _, rec = response("https://example.org/paquete", _page("Paquete."))
    path = write_wacz(tmp_path / "altered.wacz", {"data.warc.gz": gzip.compress(rec)}, tamper="archive/data.warc.gz")
    with pytest.raises(WarcImportError) as info:
        import_file(path)
    assert "archive/data.warc.gz" in str(info.value.details) and "datapackage.json" in info.value.message
    assert Snapshot.objects.count() == 0


def test_wacz_pages_titles_are_used_and_a_second_import_makes_no_second_snapshot(tmp_path):
    body = _page("Página con título en el paquete.")
    _, page = response("https://example.org/portada", body)
    _, css = response("https://example.org/estilo.html", _page("también html, pero no una página"))
    path = write_wacz(tmp_path / "crawl.wacz", {"data.warc.gz": gzip.compress(page) + gzip.compress(css)},
                      pages=[{"url": "https://example.org/portada", "ts": "2024-05-06T07:08:09Z",
                              "title": "Portada (título visto por el navegador)"}])
    first = import_file(path)
    assert len(first.snapshots) == 2
    portada = Snapshot.objects.get(url="https://example.org/portada")
    assert portada.title == "Portada (título visto por el navegador)" and not portada.is_requisite
    assert Snapshot.objects.get(url="https://example.org/estilo.html").is_requisite
    again = import_file(path)
    assert again.snapshots == [] and Snapshot.objects.count() == 2 and WarcFile.objects.count() == 1


def test_wacz_cdxj_index_is_checked_against_the_records(tmp_path):
    _, page = response("https://example.org/indice", _page("Índice."))
    member = gzip.compress(page)
    good = f'org,example)/indice 20240506070809 {{"url": "https://example.org/indice", "filename": "data.warc.gz", "offset": 0, "length": {len(member)}}}\n'
    bad = good + 'org,example)/otra 20240506070809 {"url": "https://example.org/otra", "filename": "data.warc.gz", "offset": 77}\n'
    ok = import_file(write_wacz(tmp_path / "ok.wacz", {"data.warc.gz": member}, cdxj=good))
    assert any("points at 1 record(s), all of them found" in n for n in ok.notes)
    Snapshot.objects.all().delete()
    odd = import_file(write_wacz(tmp_path / "odd.wacz", {"data.warc.gz": member}, cdxj=bad))
    assert any("1 of its offsets start no record (first: 77)" in n for n in odd.notes)


# --------------------------------------------------------------------------------------------
# issue 17 kind 9: declared lengths that do not match reject the whole file
# --------------------------------------------------------------------------------------------
def test_arc_header_claiming_more_bytes_than_the_file_holds_is_rejected(tmp_path):
    http = b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n" + _page("ARC antiguo.")
    filedesc = b"1 0 Example crawler\nURL IP-address Archive-date Content-type Archive-length\n\n"
    head = f"filedesc://viejo.arc 0.0.0.0 20050101000000 text/plain {len(filedesc)}\n".encode()
    rec = f"http://example.org/viejo 192.0.2.7 20050102030405 text/html {len(http) + 5000}\n".encode() + http + b"\n"
    path = tmp_path / "viejo.arc"
    path.write_bytes(head + filedesc + b"\n" + rec)
    with pytest.raises(CommandError):
        call_command("import_warc", str(path))
    assert Snapshot.objects.count() == 0 and WarcFile.objects.count() == 0


@pytest.mark.parametrize("delta", [-7, 7])
def test_warc_record_whose_content_length_is_wrong_is_rejected(tmp_path, delta):
    block, _ = http_response(_page("Longitud declarada falsa."))
    rid, rec = record("response", "https://example.org/len", block, length=len(block) + delta, block_digest=False)
    _, after = response("https://example.org/after", _page("Después."))
    with pytest.raises(WarcImportError) as info:
        import_file(write_warc(tmp_path / "len.warc", [rec, after], gz=False))
    assert "len.warc" in info.value.message and "offset 0" in str(info.value.message) + str(info.value.details)
    assert Snapshot.objects.count() == 0


# --------------------------------------------------------------------------------------------
# issue 17 kind 10: only http(s) targets are archived content
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("uri", ["javascript:alert(document.domain)", "data:text/html,<b>x</b>",
                                 "file:///etc/hostname"])
def test_records_with_dangerous_schemes_are_not_archived_content(tmp_path, uri):
    block, _ = http_response(_page("no"))
    _, rec = record("response", uri, block)
    _, ok = response("https://example.org/bien", _page("sí"))
    result = import_file(write_warc(tmp_path / "schemes.warc.gz", [rec, ok]))
    assert [s.url for s in Snapshot.objects.all()] == ["https://example.org/bien"]
    assert any("not http(s)" in s for s in result.skipped)


# --------------------------------------------------------------------------------------------
# issue 17 kind 4: imports stream and are bounded
# --------------------------------------------------------------------------------------------
def _bomb_record(path, size: int, uri: str = "https://example.org/bomba") -> None:
    """One gzip member holding a response record whose block is ``size`` bytes (mostly zeros),
    compressed in pieces so the test itself never holds it."""
    import zlib

    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n"
    warc = (f"WARC/1.1\r\nWARC-Type: response\r\nWARC-Record-ID: <urn:uuid:6b9e3c52-2f5e-4d0c-9a55-0c4c1d7f0a11>\r\n"
            f"WARC-Date: 2024-05-06T07:08:09Z\r\nWARC-Target-URI: {uri}\r\n"
            f"Content-Type: application/http; msgtype=response\r\nContent-Length: {len(head) + size}\r\n\r\n").encode()
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(1 << 20)
    with open(path, "wb") as fh:
        fh.write(comp.compress(warc + head))
        left = size
        while left:
            n = min(left, len(zeros))
            fh.write(comp.compress(zeros[:n]))
            left -= n
        fh.write(comp.compress(b"\r\n\r\n") + comp.flush())


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("as_wacz,body_limit", [(False, None), (True, None), (False, 3 << 30)])
def test_a_small_file_inflating_to_a_gibibyte_is_refused_with_bounded_memory(tmp_path, as_wacz, body_limit):
    """Refused by the body limit before anything is read; with that limit raised past the record, the
    whole GiB streams through the checks and the decompression-ratio limit refuses it."""
    import subprocess
    import sys

    from tests.helpers import subprocess_env

    path = tmp_path / "bomba.warc.gz"
    _bomb_record(path, 1 << 30)
    assert path.stat().st_size < 1.5 * (1 << 20)  # about 1 MB on disk
    if as_wacz:
        path = write_wacz(tmp_path / "bomba.wacz", {"bomba.warc.gz": path.read_bytes()})
    # peak RSS from /proc/self/status VmHWM: getrusage's ru_maxrss survives exec on Linux, so a child
    # forked from a large pytest process would report the parent's size
    script = ("import sys, django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'naql.settings'); "
              "django.setup(); from django.core.management import call_command\n"
              "try:\n    call_command('import_warc', sys.argv[1])\nexcept Exception as exc:\n    print('REFUSED', exc)\n"
              "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0].split()[1]\n"
              "print('MAXRSS_KB', hwm)")
    out = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=300,
                         env=subprocess_env(**({"NAQL_CAPTURE_MAX_BODY": body_limit} if body_limit else {})), cwd=str(__import__("pathlib").Path(__file__).parent.parent))
    assert "REFUSED" in out.stdout, out.stdout + out.stderr
    expected = "decompression-ratio limit" if body_limit else "over the import limit"
    assert expected in out.stderr and "bomba" in out.stderr, out.stderr
    peak_mib = int(out.stdout.split("MAXRSS_KB")[1].split()[0]) / 1024
    assert peak_mib < 300, f"peak memory {peak_mib:.0f} MiB"
    assert Snapshot.objects.count() == 0
    print(f"peak memory importing {path.name}: {peak_mib:.0f} MiB")


def test_a_member_inflating_past_the_ratio_limit_is_refused(tmp_path, settings):
    settings.NAQL_IMPORT_RATIO_FLOOR = 1 << 20
    path = tmp_path / "ratio.warc.gz"
    _bomb_record(path, 3 << 20)  # 3 MiB of zeros: under the body limit, ~1000:1
    with pytest.raises(WarcImportError, match="decompression-ratio limit"):
        import_file(path)
    assert WarcFile.objects.count() == 0


@pytest.mark.parametrize("url,ok", [("https://example.org/a", True), ("http://example.org", True),
                                    ("javascript:alert(1)", False), ("JavaScript://example.org/%0aalert(1)", False),
                                    ("data:text/html,x", False), ("file:///etc/passwd", False),
                                    (" javascript:alert(1)", False), ("https:", False), ("", False)])
def test_only_http_urls_count_as_web_urls(url, ok):
    from archive.uri import is_web_url

    assert is_web_url(url) is ok


def test_robust_link_never_carries_a_non_http_href():
    from archive.web.citations import CitationData, robust_link

    c = CitationData(guid="K7QM-4XR2", title="Título", author=None, site=None, original_url="javascript:alert(1)",
                     final_url="javascript:alert(1)", archive_url="https://naql.example.org/s/K7QM-4XR2",
                     memento_url="https://replay.example.org/web/20240506070809/javascript:alert(1)",
                     captured_at=datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC), language=None, published=None)
    snippet = robust_link(c)
    assert "javascript:alert(1)\"" not in snippet.replace("/web/20240506070809/javascript:alert(1)\"", "")
    assert 'href="https://replay.example.org/web/' in snippet and "data-originalurl" not in snippet


# --------------------------------------------------------------------------------------------
# kind 5: content codings
# --------------------------------------------------------------------------------------------
def _encoded_response(uri: str, body: bytes, coding: str) -> bytes:
    block, _ = http_response(body, headers=[("Content-Type", "text/html; charset=utf-8"),
                                            ("Content-Encoding", coding)])
    return record("response", uri, block)[1]


def test_brotli_body_is_decoded_for_extraction_and_for_clients_without_br(tmp_path, client):
    import brotlicffi as brotli

    text = "Las lluvias de otoño cerraron la carretera de la costa durante tres días."
    body = _page(text)
    encoded = brotli.compress(body)
    import_file(write_warc(tmp_path / "br.warc.gz", [_encoded_response("https://example.org/br", encoded, "br")]))
    snap = Snapshot.objects.get()
    assert text in snap.text
    url = f"/web/{snap.timestamp}id_/{snap.url}"
    as_browser = client.get(url, HTTP_ACCEPT_ENCODING="gzip, deflate, br")
    assert as_browser.content == encoded and as_browser["Content-Encoding"] == "br"
    no_br = client.get(url, HTTP_ACCEPT_ENCODING="gzip")
    assert no_br.status_code == 200 and no_br.content == body and "Content-Encoding" not in no_br
    assert no_br["X-Archive-Orig-Content-Encoding"] == "br" and "Accept-Encoding" in no_br["Vary"]


def test_undecodable_body_goes_only_to_clients_accepting_its_coding_and_extraction_says_why(tmp_path, client):
    import_file(write_warc(tmp_path / "bad-br.warc.gz",
                           [_encoded_response("https://example.org/roto", b"\x8b\x02\x80not brotli at all", "br")]))
    snap = Snapshot.objects.get()
    assert snap.text == "" and "could not be decoded" in snap.extracted["empty_reason"]
    assert "br" in snap.extracted["empty_reason"]
    url = f"/web/{snap.timestamp}id_/{snap.url}"
    assert client.get(url, HTTP_ACCEPT_ENCODING="gzip;q=1, br;q=0").status_code == 406
    assert client.get(url, HTTP_ACCEPT_ENCODING="identity").status_code == 406
    ok = client.get(url, HTTP_ACCEPT_ENCODING="br")
    assert ok.status_code == 200 and ok.content == b"\x8b\x02\x80not brotli at all" and ok["Content-Encoding"] == "br"


@pytest.mark.parametrize("header,codings,ok", [(None, ["br"], True), ("gzip, br", ["br"], True),
                                               ("gzip", ["br"], False), ("*", ["br"], True),
                                               ("*, br;q=0", ["br"], False), ("x-gzip", ["gzip"], True),
                                               ("", ["gzip"], False), ("identity", [], True)])
def test_accept_encoding_negotiation(header, codings, ok):
    from archive.replay.codings import accepts

    assert accepts(header, codings) is ok


@pytest.mark.django_db(transaction=True)
def test_the_import_commit_is_fsynced_in_embedded_mode(tmp_path, monkeypatch):
    """As for a capture (tests/test_capture.py): the transaction after which `import_warc` reports
    the records archived runs with SQLite's synchronous=FULL, so a power cut cannot roll it back."""
    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL commits durably by default (synchronous_commit=on)")

    def level() -> int:
        with connection.cursor() as cur:
            cur.execute("PRAGMA synchronous")
            return int(cur.fetchone()[0])

    seen = []
    create = WarcFile.objects.create

    def spy(**kwargs):
        seen.append(level())
        return create(**kwargs)

    monkeypatch.setattr(WarcFile.objects, "create", spy)
    _rid, rec = response("https://example.org/boletin/marzo", _page("Boletín municipal de marzo: horarios de verano."),
                         date="2024-03-02T08:00:00Z")
    before = level()
    call_command("import_warc", str(write_warc(tmp_path / "boletin.warc.gz", [rec])))
    assert seen == [2]  # FULL: the WAL is fsynced at this transaction's COMMIT
    assert level() == before == 1  # the connection's NORMAL again
    assert Snapshot.objects.filter(url="https://example.org/boletin/marzo").exists()
