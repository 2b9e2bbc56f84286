"""SSRF guard: decide, before any connection, whether Naql may fetch a URL.

Two steps, both raising :mod:`archive.errors` exceptions:

1. :func:`check_url` parses and normalises the URL *itself* (it does not trust ``urlsplit`` for
   the authority) and refuses what must never be fetched: non-http(s) schemes
   (``UnsupportedScheme``); malformed URLs, URLs with userinfo (``user@host``), whitespace,
   control characters or backslashes (``InvalidURL``); and hosts that are, in any spelling, a
   forbidden address or a local-only name (``ForbiddenAddress``). Legacy IPv4 spellings are read
   the way ``inet_aton``/browsers read them (``2130706433``, ``0177.0.0.1``, ``0x7f.1``,
   ``127.1``), IPv6 literals are checked together with the IPv4 address they embed
   (``::ffff:127.0.0.1``, ``::127.0.0.1``, NAT64 ``64:ff9b::7f00:1``), hosts are percent-decoded
   and UTS #46-mapped first (``%31%32%37.0.0.1``, full-width dots), and a trailing dot is dropped.
2. :func:`resolve` looks the name up (``getaddrinfo``) and refuses the target if **any**
   returned address is forbidden. The caller then connects to one of the returned addresses
   and never resolves again (no DNS-rebinding window).

Forbidden addresses are listed explicitly (see ``_FORBIDDEN_V4`` / ``_FORBIDDEN_V6``), with
``ipaddress``'s ``is_global`` only as a backstop: loopback, private, link-local, multicast,
reserved, unspecified, CGNAT, benchmarking, documentation, IETF protocol assignments, 6to4,
Teredo, ULA and cloud metadata endpoints. IPv6 outside 2000::/3 is refused unless it embeds an
allowed IPv4 address (mapped or NAT64).

``allowed_networks`` is an explicit allowlist of CIDRs exempted from the address check; it exists
for tests against loopback servers. There is no global switch to turn the guard off.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote

import idna

from archive.errors import DNSFailure, ForbiddenAddress, InvalidURL, UnsupportedScheme
from archive.uri import quote_iri_part

__all__ = ["Target", "check_url", "check_ip", "resolve", "forbidden_reason", "DEFAULT_PORTS"]

DEFAULT_PORTS = {"http": 80, "https": 443}

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Target:
    """A URL that passed :func:`check_url`: everything a client needs to build the request."""

    url: str  # normalised ASCII URL (no fragment, no userinfo, default port dropped)
    scheme: str  # "http" or "https"
    host: str  # ASCII, lower case, no trailing dot; an IP literal in canonical form, v6 unbracketed
    port: int
    request_target: str  # path + query, at least "/"
    is_ip_literal: bool

    @property
    def host_header(self) -> str:
        """Value of the ``Host`` header (``host[:port]``, IPv6 bracketed, default port omitted)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"


def _nets(*cidrs: str) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(c) for c in cidrs)


_FORBIDDEN_V4: tuple[tuple[Network, str], ...] = tuple(
    (net, why)
    for cidrs, why in (
        (("0.0.0.0/8",), "unspecified / 'this network'"),
        (("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"), "private"),
        (("100.64.0.0/10",), "carrier-grade NAT (shared address space)"),
        (("127.0.0.0/8",), "loopback"),
        (("169.254.0.0/16",), "link-local (cloud metadata lives here)"),
        (("192.0.0.0/24",), "IETF protocol assignments"),
        (("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"), "documentation"),
        (("192.88.99.0/24",), "6to4 relay anycast (deprecated)"),
        (("198.18.0.0/15",), "benchmarking"),
        (("224.0.0.0/4",), "multicast"),
        (("240.0.0.0/4", "255.255.255.255/32"), "reserved / broadcast"),
        (("168.63.129.16/32", "100.100.100.200/32", "169.254.169.254/32"), "cloud metadata"),
    )
    for net in _nets(*cidrs)
)

_V6_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")
_V6_MAPPED = ipaddress.ip_network("::ffff:0:0/96")
_V6_COMPAT = ipaddress.ip_network("::/96")
_V6_NAT64 = ipaddress.ip_network("64:ff9b::/96")

_FORBIDDEN_V6: tuple[tuple[Network, str], ...] = tuple(
    (net, why)
    for cidrs, why in (
        (("fd00:ec2::254/128",), "cloud metadata"),
        (("::/128",), "unspecified"),
        (("::1/128",), "loopback"),
        (("::/96",), "IPv4-compatible (deprecated)"),
        (("64:ff9b:1::/48",), "local-use NAT64"),
        (("100::/64",), "discard-only"),
        (("2001::/23",), "IETF protocol assignments (Teredo, benchmarking, ORCHID)"),
        (("2001:db8::/32", "3fff::/20"), "documentation"),
        (("2002::/16",), "6to4 (embeds an IPv4 address)"),
        (("5f00::/16",), "SRv6 SIDs"),
        (("fc00::/7",), "unique local (private)"),
        (("fe80::/10",), "link-local"),
        (("fec0::/10",), "site-local (deprecated)"),
        (("ff00::/8",), "multicast"),
    )
    for net in _nets(*cidrs)
)

# Names that resolve to the machine itself or to the local network, whatever DNS says.
_LOCAL_NAMES = frozenset(
    {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback", "localdomain",
     "broadcasthost", "metadata", "instance-data"}
)
_LOCAL_SUFFIXES = (".localhost", ".localdomain", ".local", ".internal", ".home.arpa", ".arpa", ".intranet",
                   ".lan", ".corp", ".private")


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip in _V6_MAPPED:
        return ip.ipv4_mapped
    if ip in _V6_NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def forbidden_reason(ip: IPAddress) -> str | None:
    """Why ``ip`` must not be contacted, or ``None`` if it is a public unicast address."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            ip = ipaddress.IPv6Address(ip.compressed.split("%", 1)[0])
        embedded = _embedded_v4(ip)
        if embedded is not None:
            inner = forbidden_reason(embedded)
            return f"embeds {embedded}: {inner}" if inner else None
        for net, why in _FORBIDDEN_V6:
            if ip in net:
                if net == _V6_COMPAT:
                    v4 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
                    inner = forbidden_reason(v4)
                    return f"{why}, embeds {v4}" + (f": {inner}" if inner else "")
                return why
        if ip not in _V6_GLOBAL_UNICAST:
            return "reserved (outside 2000::/3)"
    else:
        for net, why in _FORBIDDEN_V4:
            if ip in net:
                return why
    if not ip.is_global or ip.is_multicast:
        return "not globally routable"
    return None


def _as_networks(allowed: Iterable[str | Network]) -> tuple[Network, ...]:
    nets = []
    for item in allowed:
        try:
            nets.append(ipaddress.ip_network(item, strict=False))
        except ValueError as exc:
            raise ValueError(f"bad allowed_networks entry {item!r}: {exc}") from exc
    return tuple(nets)


def check_ip(ip: IPAddress | str, *, allowed_networks: Iterable[str | Network] = (), url: str = "") -> None:
    """Raise ``ForbiddenAddress`` unless ``ip`` is public or inside ``allowed_networks``."""
    if isinstance(ip, str):
        ip = ipaddress.ip_address(ip.split("%", 1)[0])
    reason = forbidden_reason(ip)
    if reason is None:
        return
    for net in _as_networks(allowed_networks):
        if ip.version == net.version and ip in net:
            return
    raise ForbiddenAddress(
        f"refusing to connect to {ip}: {reason}",
        details={"address": str(ip), "reason": reason, "url": url},
    )


# --- parsing ---------------------------------------------------------------------------------

_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
_BAD_CHARS_RE = re.compile(r"[\x00-\x20\x7f-\x9f\\\u00a0\u1680\u2000-\u200f\u2028\u2029\u202f\u205f\u3000\ufeff]")
_IPV4_PART_RE = re.compile(r"^(0[xX][0-9a-fA-F]*|[0-9]+)$")
_HOST_LABEL_RE = re.compile(r"^[a-z0-9_](?:[a-z0-9_\-]{0,61}[a-z0-9_])?$")


def _parse_ipv4_legacy(host: str) -> ipaddress.IPv4Address | None:
    """Read ``host`` as an IPv4 address the way inet_aton / WHATWG URL do, or return None.

    1-4 dot-separated parts, each decimal, octal (leading 0) or hex (0x); the last part fills the
    remaining bytes. Returns None if ``host`` does not look numeric; raises InvalidURL if it looks
    numeric but is out of range (``256.1.1.1``, ``08.1.1.1``).
    """
    parts = host.split(".")
    if parts and parts[-1] == "" and len(parts) > 1:
        parts = parts[:-1]
    if not parts or not all(_IPV4_PART_RE.match(p) for p in parts):
        if parts and _IPV4_PART_RE.match(parts[-1]) and len(parts) > 1:
            raise InvalidURL(f"host {host!r} ends in a number but is not an IPv4 address",
                             details={"host": host})
        return None
    if len(parts) > 4:
        raise InvalidURL(f"host {host!r} has too many numeric parts", details={"host": host})
    values = []
    for p in parts:
        try:
            if p[:2].lower() == "0x":
                values.append(int(p[2:] or "0", 16))
            elif len(p) > 1 and p.startswith("0"):
                values.append(int(p, 8))
            else:
                values.append(int(p, 10))
        except ValueError:
            raise InvalidURL(f"host {host!r} is a malformed IPv4 address", details={"host": host}) from None
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (5 - len(values)):
        raise InvalidURL(f"host {host!r} is an out-of-range IPv4 address", details={"host": host})
    number = last
    for i, v in enumerate(head):
        number += v << (8 * (3 - i))
    return ipaddress.IPv4Address(number)


def _inet_aton(host: str) -> ipaddress.IPv4Address | None:
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except (OSError, ValueError):
        return None


def _parse_host(raw_host: str, url: str) -> tuple[str, IPAddress | None]:
    """Return (normalised ASCII host, IP if literal). Raises InvalidURL / ForbiddenAddress."""
    def invalid(msg: str) -> InvalidURL:
        return InvalidURL(msg, details={"url": url, "host": raw_host})

    if raw_host.startswith("["):
        if not raw_host.endswith("]"):
            raise invalid("unterminated IPv6 literal")
        inner = unquote(raw_host[1:-1], errors="strict")
        addr, pct, zone = inner.partition("%")
        try:
            ip6 = ipaddress.IPv6Address(addr)
        except ValueError:
            raise invalid(f"{raw_host!r} is not a valid IPv6 address") from None
        if pct and not zone:
            raise invalid("empty IPv6 zone id")
        return ip6.compressed, ip6

    try:
        host = unquote(raw_host, errors="strict")
    except UnicodeDecodeError:
        raise invalid("host is percent-encoded but not UTF-8") from None
    if not host:
        raise invalid("URL has an empty host")
    if _BAD_CHARS_RE.search(host) or any(c in host for c in "/?#@[]%:<>^|\"'`{}"):
        raise invalid(f"host {host!r} contains characters not allowed in a host name")
    if not host.isascii():
        try:
            host = idna.uts46_remap(host, std3_rules=False, transitional=False)
        except idna.IDNAError as exc:
            raise invalid(f"host {host!r} is not a valid internationalised name: {exc}") from None
    host = host.lower()
    if host.endswith("."):
        host = host[:-1]
    if not host or host.startswith(".") or ".." in host:
        raise invalid(f"host {raw_host!r} has an empty label")

    ip4 = _parse_ipv4_legacy(host)
    legacy = _inet_aton(host)
    if ip4 is None and legacy is not None:  # belt and braces: what the C resolver would read
        ip4 = legacy
    if ip4 is not None:
        return str(ip4), ip4

    labels = []
    for label in host.split("."):
        if not label.isascii():
            try:
                label = idna.alabel(label).decode("ascii")
            except idna.IDNAError as exc:
                raise invalid(f"host label {label!r} is not a valid IDN: {exc}") from None
        if not _HOST_LABEL_RE.match(label):
            raise invalid(f"host label {label!r} is not a valid DNS label")
        labels.append(label)
    host = ".".join(labels)
    if len(host) > 253:
        raise invalid("host name longer than 253 characters")
    return host, None


def _check_name(host: str, url: str) -> None:
    if host in _LOCAL_NAMES or host.endswith(_LOCAL_SUFFIXES):
        raise ForbiddenAddress(f"refusing local-only host name {host!r}",
                               details={"host": host, "reason": "local name", "url": url})
    if "." not in host:
        raise ForbiddenAddress(
            f"refusing single-label host name {host!r} (resolved through local search domains)",
            details={"host": host, "reason": "single-label name", "url": url},
        )


def check_url(url: str, *, allowed_networks: Iterable[str | Network] = ()) -> Target:
    """Parse, normalise and vet ``url`` without touching the network; return a :class:`Target`.

    Raises ``InvalidURL``, ``UnsupportedScheme`` or ``ForbiddenAddress``. Host *names* are
    only checked against local-only names here; call :func:`resolve` for their addresses.
    """
    if not isinstance(url, str):
        raise InvalidURL("URL must be a string", details={"url": repr(url)})
    if not url:
        raise InvalidURL("empty URL", details={"url": url})
    m = _SCHEME_RE.match(url)
    if not m:
        raise InvalidURL("URL has no scheme (expected http:// or https://)", details={"url": url})
    scheme = m.group(1).lower()
    if scheme not in DEFAULT_PORTS:
        raise UnsupportedScheme(f"scheme {scheme!r} is not supported (only http and https)",
                                details={"url": url, "scheme": scheme})
    bad = _BAD_CHARS_RE.search(url)
    if bad:
        raise InvalidURL(f"URL contains whitespace, a control character or a backslash ({bad.group()!r})",
                         details={"url": url, "position": bad.start()})
    rest = url[m.end():]
    if not rest.startswith("//"):
        raise InvalidURL("URL must start with http:// or https://", details={"url": url})
    rest = rest[2:]
    end = len(rest)
    for ch in "/?#":
        pos = rest.find(ch)
        if pos != -1:
            end = min(end, pos)
    authority, tail = rest[:end], rest[end:]
    if "@" in authority:
        raise InvalidURL("URLs with credentials (user@host) are not accepted", details={"url": url})
    if authority.startswith("["):
        close = authority.find("]")
        if close == -1:
            raise InvalidURL("unterminated IPv6 literal", details={"url": url})
        raw_host, port_part = authority[: close + 1], authority[close + 1 :]
        if port_part and not port_part.startswith(":"):
            raise InvalidURL("garbage after IPv6 literal", details={"url": url})
        port_str = port_part[1:] if port_part else ""
        has_port = bool(port_part)
    else:
        raw_host, has_port_sep, port_str = authority.partition(":")
        has_port = bool(has_port_sep)
    if not raw_host:
        raise InvalidURL("URL has an empty host", details={"url": url})
    port = DEFAULT_PORTS[scheme]
    if has_port and port_str:
        if not port_str.isascii() or not port_str.isdigit() or not 0 < int(port_str) <= 65535:
            raise InvalidURL(f"bad port {port_str!r}", details={"url": url})
        port = int(port_str)

    host, ip = _parse_host(raw_host, url)
    if ip is not None:
        check_ip(ip, allowed_networks=allowed_networks, url=url)
        if "%" in raw_host:
            if raw_host.startswith("["):
                raise InvalidURL("IPv6 zone ids are not accepted", details={"url": url})
    else:
        _check_name(host, url)

    tail = tail.split("#", 1)[0]
    path, qmark, query = tail.partition("?")
    request_target = quote_iri_part(path or "/") + (qmark + quote_iri_part(query) if qmark else "")
    host_in_url = f"[{host}]" if ":" in host else host
    netloc = host_in_url if port == DEFAULT_PORTS[scheme] else f"{host_in_url}:{port}"
    return Target(
        url=f"{scheme}://{netloc}{request_target}",
        scheme=scheme,
        host=host,
        port=port,
        request_target=request_target,
        is_ip_literal=ip is not None,
    )


def resolve(target: Target, *, allowed_networks: Iterable[str | Network] = ()) -> list[str]:
    """Addresses to connect to for ``target``, every one of them checked.

    An IP-literal target returns itself. Otherwise ``getaddrinfo`` is asked once; if **any**
    answer is forbidden the whole target is refused (``ForbiddenAddress``), so a name that mixes
    public and private answers cannot be used to reach the private one. Lookup failures raise
    ``DNSFailure``. Callers must connect only to the returned addresses.
    """
    if target.is_ip_literal:
        check_ip(target.host, allowed_networks=allowed_networks, url=target.url)
        return [target.host]
    try:
        infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM,
                                   proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise DNSFailure(f"could not resolve host {target.host!r}: {exc.strerror or exc}",
                         details={"host": target.host, "errno": exc.errno, "url": target.url}) from exc
    except (UnicodeError, OSError) as exc:
        raise DNSFailure(f"could not resolve host {target.host!r}: {exc}",
                         details={"host": target.host, "url": target.url}) from exc
    addresses: list[str] = []
    for family, _type, _proto, _canon, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        addr = str(sockaddr[0]).split("%", 1)[0]
        if addr not in addresses:
            addresses.append(addr)
    if not addresses:
        raise DNSFailure(f"host {target.host!r} has no IPv4/IPv6 address",
                         details={"host": target.host, "url": target.url})
    for addr in addresses:
        try:
            check_ip(addr, allowed_networks=allowed_networks, url=target.url)
        except ForbiddenAddress as exc:
            exc.details.update({"host": target.host, "resolved": addresses})
            exc.message = f"host {target.host!r} resolves to a forbidden address: {exc.message}"
            exc.args = (exc.message,)
            raise
    return addresses
