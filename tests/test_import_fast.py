"""The fast first pass of an import (FastWARC, ``archive/store/warcfast.py``) against the warcio pass
(``warcread.scan``): on every file it accepts, the same record descriptions and the file's SHA-256; on
every file it cannot vouch for, the warcio pass's own verdict (same error, same message)."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io

import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from archive.errors import WarcImportError
from archive.store import warcfast
from archive.store.warcread import scan

pytest.importorskip("fastwarc")


def _record(rid: str, body: bytes, *, rtype: str = "resource", version: str = "WARC/1.1", cl: int | None = None,
            extra: str = "", trailer: bytes = b"\r\n\r\n", uri: str = "https://example.org/x") -> bytes:
    head = (f"{version}\r\nWARC-Type: {rtype}\r\nWARC-Record-ID: <urn:uuid:{rid}>\r\n"
            f"WARC-Date: 2024-05-01T10:00:00Z\r\nWARC-Target-URI: {uri}\r\n{extra}"
            f"Content-Type: text/plain\r\nContent-Length: {len(body) if cl is None else cl}\r\n\r\n")
    return head.encode("utf-8") + body + trailer


def _ids(n: int) -> list[str]:
    return [f"00000000-0000-4000-8000-{i:012d}" for i in range(n)]


def _warcio_file(gz: bool) -> bytes:
    """Every kind of record warcio's writer makes: warcinfo, response (plain and chunked), request,
    revisit, metadata, resource."""
    buf = io.BytesIO()
    w = WARCWriter(buf, gzip=gz, warc_version="1.1")
    w.write_record(w.create_warcinfo_record("x.warc", {"software": "test"}))
    body = b"<html><body>hola</body></html>"
    http = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
    resp = w.create_warc_record("https://example.org/a", "response", payload=io.BytesIO(body), http_headers=http)
    w.write_record(resp)
    chunked = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    http2 = StatusAndHeaders("200 OK", [("Content-Type", "text/plain"), ("Transfer-Encoding", "chunked")],
                             protocol="HTTP/1.1")
    w.write_record(w.create_warc_record("https://example.org/c", "response", payload=io.BytesIO(chunked),
                                        http_headers=http2))
    req = StatusAndHeaders("GET /a HTTP/1.1", [("Host", "example.org")], is_http_request=True)
    w.write_record(w.create_warc_record("https://example.org/a", "request", http_headers=req))
    w.write_record(w.create_revisit_record("https://example.org/a", resp.rec_headers.get_header("WARC-Payload-Digest"),
                                           "https://example.org/a", resp.rec_headers.get_header("WARC-Date"),
                                           http_headers=http))
    w.write_record(w.create_warc_record("https://example.org/a", "metadata", payload=io.BytesIO(b"via: test\r\n"),
                                        warc_content_type="application/warc-fields"))
    w.write_record(w.create_warc_record("https://example.org/r.txt", "resource", payload=io.BytesIO(b"plain"),
                                        warc_content_type="text/plain"))
    return buf.getvalue()


def _both(tmp_path, data: bytes):
    path = tmp_path / "in.warc"
    path.write_bytes(data)
    try:
        expected = scan(lambda: open(path, "rb"), path.name)  # noqa: SIM115
    except WarcImportError as exc:
        expected = exc
    try:
        got = warcfast._scan_fast(path, path.name)
    except warcfast._Fallback:
        got = None
    return path, expected, got


def _same(expected, got) -> None:
    result, sha = got
    assert [dataclasses.asdict(m) for m in result.records] == [dataclasses.asdict(m) for m in expected.records]
    assert (result.verbatim, result.decompress_whole) == (expected.verbatim, expected.decompress_whole)


@pytest.mark.parametrize("gz", [True, False])
def test_fast_pass_gives_the_warcio_descriptions(tmp_path, gz):
    data = _warcio_file(gz)
    path, expected, got = _both(tmp_path, data)
    assert got is not None, "a well-formed file is read by the fast pass"
    _same(expected, got)
    assert got[1] == hashlib.sha256(data).hexdigest()
    assert warcfast.scan_file(path, path.name)[1] == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("version", ["WARC/1.0", "WARC/1.1"])
def test_odd_headers_read_as_warcio_reads_them(tmp_path, gz, version):
    """Header lines FastWARC would parse differently from warcio (trailing blanks, no space after
    the colon, a continuation line, a non-ASCII target) come out exactly as warcio reads them."""
    ids = _ids(5)
    recs = [
        _record(ids[0], b"one", version=version, extra="X-Trailing: value   \r\n"),
        _record(ids[1], b"two", version=version, extra="X-Tight:value\r\n"),
        _record(ids[2], b"three", version=version, extra="X-Folded: first\r\n  second\r\n"),
        _record(ids[3], b"four", version=version, uri="https://example.org/ñandú"),
        _record(ids[4], b"five", version=version, extra="X-Dup: a\r\nX-Dup: b\r\n"),
    ]
    data = b"".join(gzip.compress(r) for r in recs) if gz else b"".join(recs)
    _, expected, got = _both(tmp_path, data)
    assert not isinstance(expected, WarcImportError)
    assert got is not None
    _same(expected, got)


def _bad_files():
    ids = _ids(3)
    a, b, c = (_record(i, f"body {n}".encode()) for n, i in enumerate(ids))
    g = gzip.compress
    return {
        "plain, no blank lines after a record": _record(ids[0], b"body 0", trailer=b"") + b + c,
        "gzip, no blank lines after a record": g(_record(ids[0], b"body 0", trailer=b"")) + g(b) + g(c),
        "plain, Content-Length too short": _record(ids[0], b"body 0", cl=3) + b + c,
        "gzip, Content-Length too long": g(_record(ids[0], b"body 0", cl=30)) + g(b) + g(c),
        "plain, truncated": (a + b + c)[:-9],
        "gzip, truncated in the last member": (g(a) + g(b) + g(c))[:-15],
        "gzip, gzip trailer cut off": (g(a) + g(b) + g(c))[:-8],
        "gzip, two records in one member": g(a + b) + g(c),
        "gzip, one member for the whole file": g(a + b + c),
        "gzip, garbage between members": g(a) + b"garbage" + g(b),
        "plain, garbage at the end": a + b + c + b"trailing junk",
        "bad block digest": _record(ids[0], b"body 0", extra="WARC-Block-Digest: sha1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\r\n"),
        "bad date": _record(ids[0], b"body 0").replace(b"2024-05-01T10:00:00Z", b"yesterday"),
    }


@pytest.mark.parametrize("name", list(_bad_files()))
def test_what_the_fast_pass_cannot_vouch_for_gets_the_warcio_verdict(tmp_path, name):
    path, expected, got = _both(tmp_path, _bad_files()[name])
    if isinstance(expected, WarcImportError):
        assert got is None, "the fast pass must not accept what the warcio pass rejects"
        with pytest.raises(WarcImportError) as exc:
            warcfast.scan_file(path, path.name)
        assert exc.value.message == expected.message
        assert exc.value.details == expected.details
    else:  # the warcio pass accepts it (e.g. a single-member gzip): the same descriptions either way
        result, sha = warcfast.scan_file(path, path.name)
        assert [dataclasses.asdict(m) for m in result.records] == [dataclasses.asdict(m) for m in expected.records]
        assert (result.verbatim, result.decompress_whole) == (expected.verbatim, expected.decompress_whole)
        assert sha == hashlib.sha256(path.read_bytes()).hexdigest()
