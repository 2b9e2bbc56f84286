"""SSRF guard: hostile URLs are refused before any connection, in every spelling."""

from __future__ import annotations

import socket

import pytest

from archive import errors
from archive.capture.fetch import fetch
from archive.capture.guard import Target, check_url, forbidden_reason, resolve

F, U, BAD = errors.ForbiddenAddress, errors.UnsupportedScheme, errors.InvalidURL

HOSTILE = [
    # loopback, every IPv4 spelling
    ("http://127.0.0.1/", F),
    ("http://127.0.0.1:8000/admin", F),
    ("http://127.255.255.254/", F),
    ("http://2130706433/", F),  # decimal
    ("http://017700000001/", F),  # octal, one part
    ("http://0177.0.0.1/", F),  # octal
    ("http://0x7f.0.0.1/", F),  # hex part
    ("http://0x7f000001/", F),  # hex, one part
    ("http://0x7F.1/", F),  # hex + short form
    ("http://127.1/", F),  # short form
    ("http://127.0.1/", F),
    ("http://%31%32%37.0.0.1/", F),  # percent-encoded host
    ("http://127%2E0%2E0%2E1/", F),
    ("http://127。0。0。1/", F),  # ideographic full stops (UTS #46)
    ("http://127.0.0.1./", F),  # trailing dot
    ("http://①②⑦.0.0.1/", F),  # circled digits (UTS #46 maps them to ASCII)
    ("http://0x7f.0x0.0x0.0x1/", F),
    # unspecified
    ("http://0/", F),
    ("http://0.0.0.0/", F),
    ("http://[::]/", F),
    # IPv6 literals
    ("http://[::1]/", F),
    ("http://[::1]:80/", F),
    ("http://[0:0:0:0:0:0:0:1]/", F),
    ("http://[::ffff:127.0.0.1]/", F),  # IPv4-mapped
    ("http://[::ffff:7f00:1]/", F),
    ("http://[::127.0.0.1]/", F),  # IPv4-compatible
    ("http://[2002:7f00:1::]/", F),  # 6to4
    ("http://[64:ff9b::7f00:1]/", F),  # NAT64
    ("http://[64:ff9b::a9fe:a9fe]/", F),  # NAT64 of 169.254.169.254
    ("http://[::ffff:169.254.169.254]/", F),
    ("http://[0:0:0:0:0:ffff:127.0.0.1]/", F),
    ("http://[fe80::1%25eth0]/", F),  # link-local with zone id
    ("http://[::1%25lo]/", F),
    ("http://[fc00::1]/", F),  # ULA
    ("http://[ff02::1]/", F),  # multicast
    ("http://[2001:db8::1]/", F),  # documentation
    ("http://[2001::1]/", F),  # Teredo
    # cloud metadata
    ("http://169.254.169.254/latest/meta-data/", F),
    ("http://[fd00:ec2::254]/latest/meta-data/", F),
    ("http://100.100.100.200/latest/meta-data/", F),
    ("http://168.63.129.16/machine", F),
    ("http://0xa9fea9fe/", F),  # 169.254.169.254 in hex
    # private, CGNAT, benchmarking, documentation, multicast, reserved, broadcast
    ("http://10.0.0.1/", F),
    ("http://172.16.5.4/", F),
    ("http://192.168.1.1/", F),
    ("http://100.64.0.1/", F),
    ("http://198.18.0.1/", F),
    ("http://192.0.2.10/", F),
    ("http://198.51.100.1/", F),
    ("http://203.0.113.9/", F),
    ("http://192.0.0.170/", F),
    ("http://224.0.0.1/", F),
    ("http://239.255.255.250/", F),
    ("http://240.0.0.1/", F),
    ("http://255.255.255.255/", F),
    # local names
    ("http://localhost/", F),
    ("http://LOCALHOST:8080/", F),
    ("http://localhost./", F),
    ("http://localhost%2E/", F),
    ("http://ＬＯＣＡＬＨＯＳＴ/", F),  # full-width letters
    ("http://ⓛⓞⓒⓐⓛⓗⓞⓢⓣ/", F),
    ("http://foo.localhost/", F),
    ("http://localhost.localdomain/", F),
    ("http://ip6-localhost/", F),
    ("http://metadata.google.internal/computeMetadata/v1/", F),
    ("http://printer.local/", F),
    ("http://intranet/", F),  # single label: search domains
    ("http://127.0.0.1.nip.io/", F),  # wildcard DNS resolving to loopback (fake resolver)
    ("http://169.254.169.254.nip.io/", F),
    # schemes
    ("file:///etc/passwd", U),
    ("gopher://127.0.0.1:25/", U),
    ("ftp://example.com/", U),
    ("javascript:alert(1)", U),
    ("data:text/html,hi", U),
    ("dict://127.0.0.1:11211/", U),
    ("ws://example.com/", U),
    # malformed
    ("http://user:pass@example.com/", BAD),
    ("http://example.com@127.0.0.1/", BAD),
    ("http://example.com\\@127.0.0.1/", BAD),
    ("http://exa mple.com/", BAD),
    ("http://example.com/\r\nX-Injected: 1", BAD),
    ("http://example.com\t/", BAD),
    ("http:///etc/passwd", BAD),
    ("http://:80/", BAD),
    ("http://example.com:99999/", BAD),
    ("http://example.com:0/", BAD),
    ("http://example.com:8o/", BAD),
    ("http://127.0.0.1%00.evil.com/", BAD),
    ("http://256.0.0.1/", BAD),
    ("http://08.0.0.1/", BAD),
    ("http://[::1/", BAD),
    ("http://foo..com/", BAD),
    ("//example.com/", BAD),
    ("example.com", BAD),
    ("", BAD),
]


@pytest.fixture
def connect_log(monkeypatch):
    """Record every outbound socket connect (and still perform it: only loopback exists here)."""
    calls: list = []
    real = socket.socket.connect

    def recording_connect(self, address):
        calls.append(address)
        if not str(address[0]).startswith("127."):
            raise AssertionError(f"test tried to reach a non-loopback address {address}")
        return real(self, address)

    monkeypatch.setattr(socket.socket, "connect", recording_connect)
    return calls


def test_hostile_table_has_at_least_forty_spellings():
    assert len(HOSTILE) >= 40
    assert len({u for u, _ in HOSTILE}) == len(HOSTILE)


@pytest.mark.parametrize(("url", "exc"), HOSTILE, ids=[u or "<empty>" for u, _ in HOSTILE])
def test_hostile_url_refused_without_connecting_direct(url, exc, fake_dns, connect_log):
    with pytest.raises(exc) as info:
        fetch(url)
    assert connect_log == []
    assert info.value.message and info.value.code == exc.code


@pytest.mark.parametrize(("url", "exc"), HOSTILE, ids=[u or "<empty>" for u, _ in HOSTILE])
def test_hostile_url_refused_without_any_proxy_request(url, exc, clean_proxy, fake_dns, connect_log):
    with pytest.raises(exc):
        fetch(url, proxy=clean_proxy.proxy_url)
    assert clean_proxy.requests == []
    assert connect_log == []


def test_forbidden_address_error_names_the_address_and_reason():
    with pytest.raises(F) as info:
        check_url("http://0x7f.1/")
    assert info.value.details["address"] == "127.0.0.1"
    assert info.value.details["reason"] == "loopback"
    assert info.value.permanent


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("http://8.8.8.8/", "8.8.8.8"),
        ("http://0x08080808/", "8.8.8.8"),  # legacy spelling of a public address is normalised
        ("http://134744072/", "8.8.8.8"),
        ("http://[2606:4700:4700::1111]/", "2606:4700:4700::1111"),
        ("http://[::ffff:8.8.8.8]/", "::ffff:808:808"),  # mapped public IPv4
        ("http://[64:ff9b::8.8.8.8]/", "64:ff9b::808:808"),  # NAT64 of a public address
    ],
)
def test_public_ip_literals_are_allowed_and_normalised(url, host):
    target = check_url(url)
    assert target.is_ip_literal
    assert target.host == host


def test_target_is_normalised_ascii():
    t = check_url("HTTPS://WWW.WatanSerb.COM.:443/2021/الأمن/?q=ع&x=%D8%A7#top")
    assert t == Target(
        url="https://www.watanserb.com/2021/%D8%A7%D9%84%D8%A3%D9%85%D9%86/?q=%D8%B9&x=%D8%A7",
        scheme="https",
        host="www.watanserb.com",
        port=443,
        request_target="/2021/%D8%A7%D9%84%D8%A3%D9%85%D9%86/?q=%D8%B9&x=%D8%A7",
        is_ip_literal=False,
    )
    assert t.host_header == "www.watanserb.com"


def test_target_without_path_has_slash_request_target_and_keeps_port():
    t = check_url("http://Example.org:8080")
    assert (t.host, t.port, t.request_target, t.url) == ("example.org", 8080, "/", "http://example.org:8080/")
    assert t.host_header == "example.org:8080"


def test_unicode_host_becomes_idna():
    t = check_url("http://وطن.example/")
    assert t.host == "xn--2gb4ae.example"


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("http://user@example.com/", "credentials"),
        ("http://example.com:65536/", "bad port"),
        ("http:///x", "empty host"),
        ("http://exa\x00mple.com/", "control character"),
        ("http://a b.com/", "whitespace"),
        ("example.com/path", "no scheme"),
    ],
)
def test_invalid_url_messages_say_what_is_wrong(url, fragment):
    with pytest.raises(BAD) as info:
        check_url(url)
    assert fragment in info.value.message


def test_resolve_refuses_name_when_any_answer_is_forbidden(fake_dns):
    fake_dns.set("mixed.example.com", ["93.184.216.34", "127.0.0.1"])
    with pytest.raises(F) as info:
        resolve(check_url("http://mixed.example.com/"))
    assert info.value.details["resolved"] == ["93.184.216.34", "127.0.0.1"]
    assert "mixed.example.com" in info.value.message


def test_resolve_returns_every_checked_address_in_order(fake_dns):
    fake_dns.set("public.example.com", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"])
    assert resolve(check_url("http://public.example.com/")) == ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"]


def test_resolve_refuses_ipv6_mapped_loopback_answer(fake_dns):
    fake_dns.set("sneaky.example.com", ["::ffff:127.0.0.1"])
    with pytest.raises(F):
        resolve(check_url("http://sneaky.example.com/"))


def test_resolve_maps_lookup_failure_to_dns_failure(fake_dns):
    with pytest.raises(errors.DNSFailure) as info:
        resolve(check_url("http://no-such-host.example.com/"))
    assert "no-such-host.example.com" in info.value.message
    assert info.value.permanent is False
    assert fake_dns.queries == ["no-such-host.example.com"]


def test_resolve_of_ip_literal_does_not_query_dns(fake_dns):
    assert resolve(check_url("http://8.8.8.8/")) == ["8.8.8.8"]
    assert fake_dns.queries == []


def test_allowed_networks_exempts_only_the_listed_cidr(fake_dns):
    allowed = ["127.0.0.1/32"]
    assert check_url("http://127.0.0.1:9/", allowed_networks=allowed).host == "127.0.0.1"
    with pytest.raises(F):
        check_url("http://127.0.0.2/", allowed_networks=allowed)
    with pytest.raises(F):
        check_url("http://169.254.169.254/", allowed_networks=allowed)
    fake_dns.set("dev.example.com", ["127.0.0.1"])
    assert resolve(check_url("http://dev.example.com/"), allowed_networks=allowed) == ["127.0.0.1"]


def test_allowed_networks_do_not_exempt_local_names():
    with pytest.raises(F):
        check_url("http://localhost/", allowed_networks=["127.0.0.0/8"])


@pytest.mark.parametrize(
    "ip",
    ["127.0.0.1", "10.1.2.3", "100.64.1.1", "169.254.169.254", "198.19.0.1", "224.0.0.251", "0.1.2.3",
     "::1", "fe80::1", "fd00:ec2::254", "::ffff:10.0.0.1", "2002:a00:1::", "64:ff9b:1::1", "100::1", "3fff::1"],
)
def test_forbidden_reason_covers_special_ranges(ip):
    import ipaddress

    assert forbidden_reason(ipaddress.ip_address(ip)) is not None


@pytest.mark.parametrize("ip", ["8.8.8.8", "93.184.216.34", "2606:4700:4700::1111", "2a00:1450:4001::200e"])
def test_forbidden_reason_is_none_for_public_unicast(ip):
    import ipaddress

    assert forbidden_reason(ipaddress.ip_address(ip)) is None
