"""One guarded HTTP exchange: exact bytes, limits, error mapping, proxy mode."""

from __future__ import annotations

import gzip
import socket
import time
from datetime import UTC

import pytest

from archive import errors
from archive.capture.fetch import DEFAULT_UA, PROXY_STATUS_ERRORS, FetchLimits, fetch
from tests.corpus_server import CHUNKED_PAYLOAD, CORPUS_DIR, GZIP_TEXT, load_rows

LOCAL = ["127.0.0.1/32"]
LAB = "http://lab.naql.test"
WATAN = ("http://www.watanserb.com/2021/11/27/%D8%A7%D9%84%D8%A3%D9%85%D9%86-%D8%A7%D9%84%D8%B3%D9%8A%D8%A8%D8%B1"
         "%D8%A7%D9%86%D9%8A-%D9%88%D8%A7%D9%84%D8%A7%D8%B3%D8%AA%D8%AE%D8%A8%D8%A7%D8%B1%D8%A7%D8%AA-%D9%85%D9%81"
         "%D8%A7%D8%AA%D9%8A%D8%AD-%D8%A7%D8%AA%D9%81%D8%A7%D9%82%D9%8A%D8%A9-%D8%A7%D9%84%D8%AF%D9%81%D8%A7%D8%B9"
         "-%D8%A8%D9%8A%D9%86-%D8%A5%D8%B3%D8%B1%D8%A7%D8%A6%D9%8A%D9%84-%D9%88%D8%A7%D9%84%D9%85%D8%BA%D8%B1%D8%A8/")
WATAN_IRI = "http://www.watanserb.com/2021/11/27/الأمن-السيبراني-والاستخبارات-مفاتيح-اتفاقية-الدفاع-بين-إسرائيل-والمغرب/"
ELESPANOL = "http://www.elespanol.com/mundo/africa/20211125/ciberseguridad-inteligencia-claves-acuerdo-defensa-israel-marruecos"

RAW_HEADER_RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Caf\xe9: caf\xe9 cr\xe8me\r\n"
                       b"Content-Length: 2\r\nConnection: close\r\n\r\nok")
CHUNKED_RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n"
                    b"Connection: close\r\n\r\n7;ext=1\r\nHello, \r\nf\r\nchunked world!\n\r\n0\r\nX-Trailer: done\r\n\r\n")

CORPUS_FIRST_ROWS = [rows[0] for rows in load_rows().values()]


def _fast(**kw) -> FetchLimits:
    base = {"connect_timeout": 2.0, "read_timeout": 2.0, "total_timeout": 5.0}
    base.update(kw)
    return FetchLimits(**base)


# --- exact bytes -----------------------------------------------------------------------------


def test_raw_non_ascii_header_byte_is_preserved_in_response_bytes(clean_proxy):
    ex = fetch(f"{LAB}/raw-header", proxy=clean_proxy.proxy_url)
    assert ex.response_bytes == RAW_HEADER_RESPONSE
    assert ex.header("x-café") == "café crème"  # decoded latin-1, case-insensitive lookup
    assert ex.payload == b"ok"


def test_chunked_response_stays_chunked_in_response_bytes_and_is_dechunked_in_payload(local_origin):
    ex = fetch(local_origin.url("/chunked"), allowed_networks=LOCAL)
    assert ex.response_bytes == CHUNKED_RESPONSE
    assert ex.payload == CHUNKED_PAYLOAD
    assert ex.header("Transfer-Encoding") == "chunked"


def test_request_bytes_are_exactly_what_the_server_received(local_origin):
    ex = fetch(local_origin.url("/echo?a=1"), allowed_networks=LOCAL, headers={"X-Test": "yes"})
    assert ex.payload == ex.request_bytes
    assert ex.request_bytes.startswith(b"GET /echo?a=1 HTTP/1.1\r\nHost: 127.0.0.1:")
    assert local_origin.requests[0].raw == ex.request_bytes


def test_default_request_headers_identify_the_archiver(clean_proxy):
    fetch(f"{LAB}/", proxy=clean_proxy.proxy_url)
    (req,) = clean_proxy.requests
    assert req.header("User-Agent") == DEFAULT_UA
    assert DEFAULT_UA.startswith("Naql/") and DEFAULT_UA.endswith("(+archive)")
    assert req.header("Accept-Encoding") == "gzip, deflate"
    assert req.header("Connection") == "close"
    assert "text/html" in req.header("Accept")
    assert req.header("Host") == "lab.naql.test"


def test_caller_headers_replace_defaults_but_not_host(clean_proxy):
    fetch(f"{LAB}/", proxy=clean_proxy.proxy_url,
          headers={"Accept-Encoding": "identity", "Host": "evil.example", "If-None-Match": '"x"'})
    (req,) = clean_proxy.requests
    assert req.header("Accept-Encoding") == "identity"
    assert req.header("Host") == "lab.naql.test"
    assert req.header("If-None-Match") == '"x"'


def test_header_injection_is_rejected_before_connecting(clean_proxy):
    with pytest.raises(ValueError):
        fetch(f"{LAB}/", proxy=clean_proxy.proxy_url, headers={"X-A": "1\r\nX-Injected: 2"})
    assert clean_proxy.requests == []


@pytest.mark.parametrize("row", CORPUS_FIRST_ROWS, ids=[r.url[:70] for r in CORPUS_FIRST_ROWS])
def test_each_corpus_url_fetched_via_proxy_returns_its_file_bytes(row, clean_proxy):
    ex = fetch(row.url, proxy=clean_proxy.proxy_url)
    assert ex.status == row.status
    assert ex.payload == row.body(CORPUS_DIR)
    assert ex.header("Content-Type") == row.content_type
    for name, value in row.headers:
        assert ex.header(name) == value
    assert ex.response_bytes.endswith(ex.payload)
    assert clean_proxy.requests[-1].url == row.url  # absolute form, as sent


def test_watan_url_serves_second_version_after_set_version(clean_proxy):
    clean_proxy.set_version(WATAN, 1)
    ex = fetch(WATAN, proxy=clean_proxy.proxy_url)
    assert ex.payload == (CORPUS_DIR / "watan/article.v2.html").read_bytes()
    assert ex.header("ETag") == '"6f1a2-5d2e9a71"'


def test_raw_iri_is_sent_percent_encoded_and_matches_the_encoded_row(clean_proxy):
    ex = fetch(WATAN_IRI, proxy=clean_proxy.proxy_url)
    assert ex.url == WATAN
    assert ex.request_bytes.startswith(f"GET {WATAN} HTTP/1.1\r\n".encode())
    assert ex.payload == (CORPUS_DIR / "watan/article.v1.html").read_bytes()


def test_redirect_301_is_returned_as_an_exchange_not_followed(clean_proxy):
    ex = fetch(ELESPANOL, proxy=clean_proxy.proxy_url)
    assert ex.status == 301 and ex.is_redirect
    assert ex.header("Location") == ELESPANOL + "/"
    assert ex.payload == b""
    assert [r.url for r in clean_proxy.requests] == [ELESPANOL]


def test_redirect_chain_hop_is_not_followed(clean_proxy):
    ex = fetch(f"{LAB}/hop/3", proxy=clean_proxy.proxy_url)
    assert (ex.status, ex.header("Location")) == (302, "/hop/2")
    assert len(clean_proxy.requests) == 1


def test_404_and_500_are_exchanges_not_errors(clean_proxy):
    missing = fetch("http://www.watanserb.com/no/such/page/", proxy=clean_proxy.proxy_url)
    assert missing.status == 404 and missing.reason == "Not Found"
    broken = fetch(f"{LAB}/500", proxy=clean_proxy.proxy_url)
    assert broken.status == 500
    assert b"the origin failed" in broken.payload


def test_exchange_records_addresses_times_and_proxy_use(clean_proxy, local_origin):
    via = fetch(f"{LAB}/", proxy=clean_proxy.proxy_url)
    assert via.via_proxy and via.remote_addr == f"127.0.0.1:{clean_proxy.port}"
    direct = fetch(local_origin.url("/"), allowed_networks=LOCAL)
    assert not direct.via_proxy and direct.remote_addr == f"127.0.0.1:{local_origin.port}"
    for ex in (via, direct):
        assert ex.started_at.tzinfo is UTC and ex.started_at <= ex.finished_at
        assert set(ex.timings) >= {"connect_ms", "ttfb_ms", "total_ms"}
        assert ex.timings["total_ms"] >= ex.timings["connect_ms"] >= 0
        assert (ex.http_version, ex.method) == ("HTTP/1.1", "GET")


def test_interim_100_continue_is_skipped(local_origin):
    ex = fetch(local_origin.url("/interim"), allowed_networks=LOCAL)
    assert ex.status == 200 and ex.payload == b"final"
    assert ex.response_bytes.startswith(b"HTTP/1.1 200 OK\r\n")


def test_body_delimited_by_close_is_read_to_the_end(local_origin):
    ex = fetch(local_origin.url("/no-length"), allowed_networks=LOCAL)
    assert ex.payload == b"delimited by close\n"


def test_head_request_has_no_body(local_origin):
    ex = fetch(local_origin.url("/gzip"), method="HEAD", allowed_networks=LOCAL)
    assert ex.status == 200 and ex.payload == b""
    assert ex.request_bytes.startswith(b"HEAD /gzip HTTP/1.1")


# --- content decoding --------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/gzip", "/deflate"])
def test_decoded_body_undoes_content_encoding_but_payload_keeps_it(path, local_origin):
    ex = fetch(local_origin.url(path), allowed_networks=LOCAL)
    assert ex.payload != GZIP_TEXT
    assert ex.decoded_body() == GZIP_TEXT


def test_decoded_body_refuses_a_gzip_bomb(local_origin):
    ex = fetch(local_origin.url("/gzip-bomb"), allowed_networks=LOCAL, limits=_fast(max_body=1024 * 1024))
    assert len(ex.payload) < 100_000
    with pytest.raises(errors.BodyTooLarge):
        ex.decoded_body()


def test_decoded_body_of_corrupt_gzip_is_a_protocol_error(local_origin):
    ex = fetch(local_origin.url("/gzip"), allowed_networks=LOCAL)
    ex.payload = gzip.compress(b"x" * 100)[:20]
    with pytest.raises(errors.ProtocolError):
        ex.decoded_body()


# --- limits ------------------------------------------------------------------------------------


def test_slow_drip_is_cut_off_by_the_total_timeout(clean_proxy):
    t0 = time.monotonic()
    with pytest.raises(errors.FetchTimeout) as info:
        fetch(f"{LAB}/slow-drip?n=40&interval=0.2", proxy=clean_proxy.proxy_url,
              limits=_fast(read_timeout=2.0, total_timeout=1.0))
    elapsed = time.monotonic() - t0
    assert 0.9 <= elapsed < 2.0
    assert info.value.details["limit"] == "total_timeout"


def test_silent_server_hits_the_read_timeout(local_origin):
    with pytest.raises(errors.FetchTimeout) as info:
        fetch(local_origin.url("/silent"), allowed_networks=LOCAL, limits=_fast(read_timeout=0.3))
    assert info.value.details["limit"] == "read_timeout"


def test_body_over_max_body_with_content_length_is_refused_before_reading(clean_proxy):
    t0 = time.monotonic()
    with pytest.raises(errors.BodyTooLarge) as info:
        fetch(f"{LAB}/big?mb=200&length=1", proxy=clean_proxy.proxy_url, limits=_fast(max_body=1024 * 1024))
    assert info.value.details["content_length"] == 200 * 1024 * 1024
    assert time.monotonic() - t0 < 1.0


def test_body_over_max_body_without_content_length_is_cut_while_streaming(clean_proxy):
    t0 = time.monotonic()
    with pytest.raises(errors.BodyTooLarge) as info:
        fetch(f"{LAB}/big?mb=200&length=0", proxy=clean_proxy.proxy_url, limits=_fast(max_body=1024 * 1024))
    assert info.value.details["content_length"] is None
    assert time.monotonic() - t0 < 1.0  # aborted long before 200 MB


def test_body_within_max_body_is_returned_whole(local_origin):
    ex = fetch(local_origin.url("/big?mb=2&length=0"), allowed_networks=LOCAL, limits=_fast(max_body=2 * 1024 * 1024))
    assert len(ex.payload) == 2 * 1024 * 1024


def test_header_block_over_the_limit_is_a_protocol_error(local_origin):
    with pytest.raises(errors.ProtocolError) as info:
        fetch(local_origin.url("/huge-header"), allowed_networks=LOCAL)
    assert info.value.details["limit"] == 64 * 1024


def test_truncated_body_is_a_protocol_error(local_origin):
    with pytest.raises(errors.ProtocolError) as info:
        fetch(local_origin.url("/truncated"), allowed_networks=LOCAL)
    assert info.value.details == {"url": local_origin.url("/truncated"), "content_length": 100, "received": 10}


# --- errors --------------------------------------------------------------------------------------


def test_non_http_garbage_is_a_protocol_error(local_origin, clean_proxy):
    with pytest.raises(errors.ProtocolError):
        fetch(local_origin.url("/not-http"), allowed_networks=LOCAL)
    with pytest.raises(errors.ProtocolError):
        fetch(f"{LAB}/not-http", proxy=clean_proxy.proxy_url)


def test_connection_refused_maps_to_connection_failed(fake_dns):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    with pytest.raises(errors.ConnectionFailed) as info:
        fetch(f"http://127.0.0.1:{port}/", allowed_networks=LOCAL)
    assert info.value.details["address"] == f"127.0.0.1:{port}"


def test_unreachable_proxy_is_a_proxy_failure(fake_dns):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(errors.ProxyFailure):
        fetch(f"{LAB}/", proxy=f"http://127.0.0.1:{port}")


@pytest.mark.parametrize(
    ("code", "exc"),
    [
        ("dns_error", errors.DNSFailure),
        ("connection_refused", errors.ConnectionFailed),
        ("connection_timeout", errors.FetchTimeout),
        ("tls_certificate_error", errors.TLSFailure),
        ("tls_protocol_error", errors.TLSFailure),
        ("destination_ip_prohibited", errors.ForbiddenAddress),
        ("proxy_internal_error", errors.ProxyFailure),
        ("some_future_error", errors.ProxyFailure),
    ],
)
def test_proxy_status_error_raises_the_matching_exception(code, exc, clean_proxy):
    with pytest.raises(exc) as info:
        fetch(f"{LAB}/proxy-error/{code}", proxy=clean_proxy.proxy_url)
    assert info.value.details["proxy_error"] == code
    assert info.value.details["proxy_details"] == f"simulated {code}"
    assert type(info.value) is PROXY_STATUS_ERRORS.get(code, errors.ProxyFailure)


def test_proxy_refused_path_maps_to_connection_failed_with_proxy_text(clean_proxy):
    with pytest.raises(errors.ConnectionFailed) as info:
        fetch(f"{LAB}/refused", proxy=clean_proxy.proxy_url)
    assert "203.0.113.7:80 refused" in info.value.message


def test_unknown_host_via_proxy_is_a_dns_failure_not_an_archived_page(clean_proxy):
    with pytest.raises(errors.DNSFailure) as info:
        fetch("http://www.not-in-the-corpus.example/", proxy=clean_proxy.proxy_url)
    assert "dns_error" in info.value.message
    assert info.value.details["status"] == 502


# --- proxy mode and the guard ------------------------------------------------------------------


def test_name_resolving_locally_to_loopback_is_refused_in_proxy_mode(clean_proxy, fake_dns):
    fake_dns.set("evil.naql.test", ["127.0.0.1"])
    with pytest.raises(errors.ForbiddenAddress):
        fetch("http://evil.naql.test/", proxy=clean_proxy.proxy_url)
    assert clean_proxy.requests == []


def test_name_not_resolving_locally_is_left_to_the_proxy(clean_proxy, fake_dns):
    ex = fetch(f"{LAB}/", proxy=clean_proxy.proxy_url)
    assert ex.status == 200
    assert fake_dns.queries == ["lab.naql.test"]  # the guard looked; the proxy resolved
    assert ex.request_bytes.startswith(b"GET http://lab.naql.test/ HTTP/1.1\r\n")


def test_direct_fetch_of_unresolvable_name_is_a_dns_failure(fake_dns):
    with pytest.raises(errors.DNSFailure):
        fetch(f"{LAB}/")


def test_dns_rebinding_fetch_connects_only_to_the_checked_address(fake_dns, monkeypatch):
    lookups: list[str] = []

    def rebinding_getaddrinfo(host, port, *args, **kwargs):
        lookups.append(host)
        ip = "93.184.216.34" if len(lookups) == 1 else "127.0.0.1"  # first answer public, then loopback
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port))]

    connects: list = []

    def fake_connect(self, address):
        connects.append(address)
        raise ConnectionRefusedError(111, "refused by the test (no traffic leaves the machine)")

    monkeypatch.setattr(socket, "getaddrinfo", rebinding_getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", fake_connect)
    with pytest.raises(errors.ConnectionFailed):
        fetch("http://rebind.example.com/")
    assert lookups == ["rebind.example.com"]  # exactly one lookup
    assert connects == [("93.184.216.34", 80)]  # to the address that was checked, never to 127.0.0.1


def test_dns_answer_mixing_public_and_loopback_is_refused_before_connecting(fake_dns, monkeypatch):
    fake_dns.set("mixed.example.com", ["93.184.216.34", "127.0.0.1"])
    connects: list = []
    monkeypatch.setattr(socket.socket, "connect", lambda self, addr: connects.append(addr))
    with pytest.raises(errors.ForbiddenAddress):
        fetch("http://mixed.example.com/")
    assert connects == []


# --- https -----------------------------------------------------------------------------------------


def test_https_through_connect_tunnel_verifies_the_origin_certificate(clean_proxy, tls_client_context):
    ex = fetch("https://secure.naql.test/chunked", proxy=clean_proxy.proxy_url, ssl_context=tls_client_context)
    assert ex.status == 200 and ex.payload == CHUNKED_PAYLOAD
    assert ex.request_bytes.startswith(b"GET /chunked HTTP/1.1\r\nHost: secure.naql.test\r\n")
    assert clean_proxy.requests[0].method == "CONNECT"
    assert clean_proxy.requests[0].url == "secure.naql.test:443"


def test_untrusted_certificate_is_a_tls_failure(clean_proxy, tls_client_context):
    with pytest.raises(errors.TLSFailure) as info:
        fetch("https://secure.naql.test/", proxy=clean_proxy.proxy_url)  # default CAs: self-signed refused
    assert "certificate" in info.value.message


def test_non_tls_server_behind_connect_is_a_tls_failure(clean_proxy):
    with pytest.raises(errors.TLSFailure):
        fetch("https://nottls.naql.test/", proxy=clean_proxy.proxy_url, limits=_fast())


def test_connect_to_unknown_host_maps_proxy_status_to_dns_failure(clean_proxy):
    with pytest.raises(errors.DNSFailure):
        fetch("https://unknown.naql.test/", proxy=clean_proxy.proxy_url)
    assert [r.method for r in clean_proxy.requests] == ["CONNECT"]


def test_redirect_to_internal_address_is_returned_and_its_target_refused(clean_proxy):
    hop = fetch(f"{LAB}/redirect-internal", proxy=clean_proxy.proxy_url)
    assert hop.status == 302
    with pytest.raises(errors.ForbiddenAddress):
        fetch(hop.header("Location"), proxy=clean_proxy.proxy_url)
    assert len(clean_proxy.requests) == 1
