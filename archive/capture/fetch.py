"""One guarded HTTP/1.1 exchange, recorded byte for byte.

:func:`fetch` sends exactly one request and returns an :class:`Exchange`; it never follows
redirects (the caller archives every hop). It is a small raw-socket client rather than
``http.client`` so that what is archived is what crossed the wire: ``request_bytes`` is the
serialised request as sent, ``response_head`` the status line and header block (any bytes,
e.g. a raw ``0xE9``) and ``body`` the body (still chunked if it was) exactly as read. Parsing
happens on those bytes; nothing is re-serialised. Interim ``1xx`` responses are skipped and not
part of the response.

The body is never held whole: it is streamed from the socket into a
:class:`~archive.capture.spool.Body` (memory up to 1 MiB, then an anonymous temporary file),
which hashes it as it goes (payload digest of the body as sent, SHA-256 of head + body for the
WARC block digest, and of the dechunked payload when chunked). The WARC writer copies it from
there a piece at a time, so a capture's memory is flat in the body's size.

Safety:

* The URL goes through :func:`archive.capture.guard.check_url` and the name through
  :func:`archive.capture.guard.resolve`; the socket connects to one of the checked addresses, never to a
  name, so there is no second lookup and no DNS-rebinding window.
* Limits (:class:`FetchLimits`): connect, idle-read and *total* deadlines (a server dripping a
  byte a second is cut off), a body cap enforced while streaming (and up front from
  ``Content-Length``), a header-block cap. A violation raises and returns nothing partial.
* Errors map onto :mod:`archive.errors`; HTTP 4xx/5xx are *not* errors, they are exchanges.

Proxy mode (``proxy="http://host:port"``, the ``NAQL_CAPTURE_PROXY`` setting): ``http`` URLs
are sent to the proxy in absolute form, ``https`` URLs through ``CONNECT`` and then TLS to the
origin (certificate verified against the origin's name). The proxy address is trusted
configuration and is not checked. The guard still runs on every target: IP literals and names
that resolve *locally* to forbidden addresses are refused before any connection. **Trade-off:** a
name that does not resolve locally (``gaierror``) is handed to the proxy, which resolves it
itself; the proxy must therefore enforce its own egress policy for names only it can see.
Errors the proxy reports with an RFC 9209 ``Proxy-Status: …; error=…`` header are raised as
the matching exception (``DNSFailure``, ``ConnectionFailed``, ``FetchTimeout``,
``TLSFailure`` …) instead of archiving the proxy's error page.
"""

from __future__ import annotations

import re
import socket
import ssl
import time
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit

from archive.capture.guard import Target, check_url, resolve
from archive.capture.proxy_status import PROXY_STATUS_ERRORS, raise_for_proxy_status
from archive.capture.spool import Body
from archive.errors import (
    BodyTooLarge,
    CaptureError,
    ConnectionFailed,
    DNSFailure,
    FetchTimeout,
    ProtocolError,
    ProxyFailure,
    TLSFailure,
)

# brotlicffi (a declared dependency), not Google's ``brotli`` module: warcio picks up any module named
# ``brotli`` and expects brotlipy's API from it (warcio issue #73), so with Google's ``brotli`` installed
# ``warcio check`` and ``content_stream()`` crash on every br-encoded record. Same API otherwise.
try:
    import brotlicffi as brotli  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the environment
    try:
        import brotli  # type: ignore[import-not-found]
    except ImportError:
        brotli = None

__all__ = ["fetch", "decode_content", "Exchange", "FetchLimits", "DEFAULT_UA", "NAQL_VERSION", "PROXY_STATUS_ERRORS"]

try:
    from importlib.metadata import PackageNotFoundError, version

    NAQL_VERSION = version("naql")
except (ImportError, PackageNotFoundError):  # pragma: no cover - not installed as a package
    NAQL_VERSION = "0.1.0"

DEFAULT_UA = f"Naql/{NAQL_VERSION} (+archive)"
DEFAULT_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
_RECV_SIZE = 65536


@dataclass(frozen=True)
class FetchLimits:
    """Bounds of one exchange. Sizes in bytes, times in seconds."""

    connect_timeout: float = 10.0
    read_timeout: float = 30.0  # longest silence between two reads
    total_timeout: float = 120.0  # whole exchange, from connect to last byte
    max_body: int = 50 * 1024 * 1024  # raw body bytes on the wire (and decoded size cap)
    max_header_bytes: int = 64 * 1024


@dataclass
class Exchange:
    """One request and its response, as sent and received."""

    url: str
    method: str
    request_bytes: bytes
    response_head: bytes  # status line and header block up to the blank line, as read
    status: int
    reason: str
    http_version: str  # "HTTP/1.1"
    headers: list[tuple[str, str]]  # in order, decoded latin-1
    body: Body  # entity body as read, chunk framing included; ``body.block_hash``: head + body
    payload_body: Body  # entity body after transfer decoding (dechunked): ``body`` itself unless chunked
    remote_addr: str  # "ip:port" actually connected to ("[v6]:port" for IPv6)
    started_at: datetime
    finished_at: datetime
    timings: dict[str, float] = field(default_factory=dict)  # connect_ms, ttfb_ms, total_ms
    via_proxy: bool = False
    limits: FetchLimits = field(default_factory=FetchLimits, repr=False)

    @property
    def response_bytes(self) -> bytes:
        """Head and body as one ``bytes``: reads the whole body into memory (small bodies, tests)."""
        return self.response_head + self.body.read()

    @property
    def response_length(self) -> int:
        return len(self.response_head) + self.body.length

    @property
    def payload(self) -> bytes:
        """The dechunked body, content-coded as sent, read whole into memory (see ``payload_body``)."""
        return self.payload_body.read()

    @payload.setter
    def payload(self, data: bytes) -> None:
        self.payload_body = Body.from_bytes(data)

    def close(self) -> None:
        """Release the spooled body (a temporary file past 1 MiB; it goes with the object anyway)."""
        self.body.close()
        self.payload_body.close()

    def header(self, name: str, default: str | None = None) -> str | None:
        """First header named ``name`` (case-insensitive), or ``default``."""
        lname = name.lower()
        for k, v in self.headers:
            if k.lower() == lname:
                return v
        return default

    def header_all(self, name: str) -> list[str]:
        lname = name.lower()
        return [v for k, v in self.headers if k.lower() == lname]

    @property
    def is_redirect(self) -> bool:
        return self.status in (301, 302, 303, 307, 308) and self.header("Location") is not None

    def decoded_body(self, max_size: int | None = None) -> bytes:
        """``payload`` with its Content-Encoding undone (gzip, deflate, br if available).

        Output is capped at ``max_size`` (default ``limits.max_body``): a decompression bomb
        raises ``BodyTooLarge``. Corrupt data or an unsupported coding raises ``ProtocolError``.
        """
        cap = self.limits.max_body if max_size is None else max_size
        return decode_content(self.payload, self.header_all("Content-Encoding"), max_size=cap, url=self.url)


def decode_content(data: bytes, content_encodings: Iterable[str], *, max_size: int, url: str = "") -> bytes:
    """``data`` with the codings of its ``Content-Encoding`` header values undone (last applied,
    first undone), output capped at ``max_size``. Used for fresh exchanges and stored records alike.

    Raises ``BodyTooLarge`` past the cap and ``ProtocolError`` for corrupt data or an unknown coding."""
    codings = [c.strip().lower() for v in content_encodings for c in v.split(",")]
    for coding in reversed([c for c in codings if c and c != "identity"]):
        data = _decode(coding, data, max_size, url)
    if len(data) > max_size:
        raise BodyTooLarge(f"decoded body exceeds {max_size} bytes", details={"url": url, "limit": max_size})
    return data


def _decode(coding: str, data: bytes, cap: int, url: str) -> bytes:
    def too_large() -> BodyTooLarge:
        return BodyTooLarge(f"{coding}-decoded body exceeds {cap} bytes (decompression bomb?)",
                            details={"url": url, "limit": cap, "content_encoding": coding})

    if coding in ("gzip", "x-gzip", "deflate"):
        attempts = [47] if coding != "deflate" else [15, -15]  # 47: gzip or zlib header; -15: raw
        last_exc: Exception | None = None
        for wbits in attempts:
            d = zlib.decompressobj(wbits)
            out = bytearray()
            try:
                chunk = d.decompress(data, cap + 1)
                out += chunk
                while d.unconsumed_tail and len(out) <= cap:
                    out += d.decompress(d.unconsumed_tail, cap + 1 - len(out))
                if len(out) <= cap:
                    out += d.flush(cap + 1 - len(out))
            except zlib.error as exc:
                last_exc = exc
                continue
            if len(out) > cap:
                raise too_large()
            if not d.eof:
                last_exc = zlib.error("compressed stream is truncated")
                continue
            return bytes(out)
        raise ProtocolError(f"corrupt {coding} body: {last_exc}", details={"url": url})
    if coding == "br":
        if brotli is None:
            raise ProtocolError("brotli-encoded body but the brotli module is not installed",
                                details={"url": url, "content_encoding": coding})
        try:
            dec = brotli.Decompressor()
            out = bytearray()
            step = 65536
            for i in range(0, len(data), step):
                # output_buffer_limit (brotlicffi/brotli >= 1.2): one small input cannot inflate unbounded in one call
                out += dec.process(data[i : i + step], output_buffer_limit=cap + 1 - len(out))
                while len(out) <= cap and not dec.is_finished() and dec.can_accept_more_data() is False:
                    out += dec.process(b"", output_buffer_limit=cap + 1 - len(out))
                if len(out) > cap:
                    raise too_large()
            if not dec.is_finished():
                raise ProtocolError("corrupt br body: compressed stream is truncated", details={"url": url})
            return bytes(out)
        except brotli.error as exc:
            raise ProtocolError(f"corrupt br body: {exc}", details={"url": url}) from exc
    raise ProtocolError(f"unsupported Content-Encoding {coding!r}", details={"url": url, "content_encoding": coding})


# --- wire ------------------------------------------------------------------------------------

_TOKEN_RE = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_STATUS_RE = re.compile(rb"^HTTP/(\d)\.(\d) (\d{3})(?: ([^\r\n]*))?$")


class _Deadline:
    def __init__(self, limits: FetchLimits, start: float):
        self.limits = limits
        self.end = start + limits.total_timeout

    def remaining(self, url: str) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise FetchTimeout(f"exchange exceeded the total timeout of {self.limits.total_timeout}s",
                               details={"url": url, "limit": "total_timeout", "seconds": self.limits.total_timeout})
        return left


class _Reader:
    """Buffered reads from a socket under idle and total deadlines; every byte is teed."""

    def __init__(self, sock: socket.socket, deadline: _Deadline, limits: FetchLimits, url: str):
        self.sock = sock
        self.deadline = deadline
        self.limits = limits
        self.url = url
        self.raw = bytearray()  # bytes read and not yet streamed out (the whole head, then a window of the body)
        self.pos = 0  # parse position within raw
        self.received = 0  # bytes read in all
        self.eof = False
        self.first_byte_at: float | None = None

    def _fill(self) -> bool:
        if self.eof:
            return False
        left = self.deadline.remaining(self.url)
        timeout = min(self.limits.read_timeout, left)
        self.sock.settimeout(timeout)
        try:
            chunk = self.sock.recv(_RECV_SIZE)
        except TimeoutError:
            if timeout < self.limits.read_timeout:
                self.deadline.remaining(self.url)  # raises the total-timeout error
                raise FetchTimeout(f"exchange exceeded the total timeout of {self.limits.total_timeout}s",
                                   details={"url": self.url, "limit": "total_timeout"}) from None
            raise FetchTimeout(f"no data for {self.limits.read_timeout}s (read timeout)",
                               details={"url": self.url, "limit": "read_timeout",
                                        "seconds": self.limits.read_timeout}) from None
        except ssl.SSLError as exc:
            raise TLSFailure(f"TLS error while reading: {exc}", details={"url": self.url}) from exc
        except (ConnectionResetError, BrokenPipeError) as exc:
            if self.received:
                raise ProtocolError(f"connection reset mid-response: {exc}", details={"url": self.url}) from exc
            raise ConnectionFailed(f"connection reset before any response: {exc}", details={"url": self.url}) from exc
        except OSError as exc:
            raise ConnectionFailed(f"read failed: {exc}", details={"url": self.url}) from exc
        if not chunk:
            self.eof = True
            return False
        if self.first_byte_at is None:
            self.first_byte_at = time.monotonic()
        self.raw += chunk
        self.received += len(chunk)
        return True

    def read_until(self, marker: bytes, limit: int, what: str) -> bytes | None:
        """Bytes up to and including ``marker``; None on EOF before it. ProtocolError past ``limit``."""
        start = self.pos
        search_from = start
        while True:
            idx = self.raw.find(marker, search_from)
            if idx != -1 and idx + len(marker) - start <= limit:
                self.pos = idx + len(marker)
                return bytes(self.raw[start : self.pos])
            if len(self.raw) - start > limit:
                raise ProtocolError(f"{what} longer than {limit} bytes", details={"url": self.url, "limit": limit})
            search_from = max(start, len(self.raw) - len(marker) + 1)
            if not self._fill():
                return None

    def compact(self) -> None:
        """Forget the bytes already parsed: the body is streamed out, not kept."""
        if self.pos:
            del self.raw[: self.pos]
            self.pos = 0

    def _piece(self, k: int) -> bytes | bytearray:
        """The next ``k`` buffered bytes (consumed)."""
        if self.pos == 0 and k == len(self.raw):
            piece, self.raw = self.raw, bytearray()
        else:
            piece = self.raw[self.pos : self.pos + k]
            self.pos += k
        return piece

    def stream_exact(self, n: int, *sinks) -> int:
        """Hand the next ``n`` bytes to each of ``sinks`` as they arrive; returns how many were
        handed on (fewer than ``n`` when the connection closed first)."""
        done = 0
        while done < n:
            if self.pos >= len(self.raw):
                self.raw.clear()
                self.pos = 0
                if not self._fill():
                    break
            piece = self._piece(min(n - done, len(self.raw) - self.pos))
            for write in sinks:
                write(piece)
            done += len(piece)
        return done

    def stream_to_eof(self, write, cap: int, on_over) -> None:
        """Hand everything up to EOF to ``write``; ``on_over()`` once more than ``cap`` bytes came."""
        done = 0
        while True:
            if self.pos < len(self.raw):
                if done + len(self.raw) - self.pos > cap:
                    on_over()
                piece = self._piece(len(self.raw) - self.pos)
                write(piece)
                done += len(piece)
            self.raw.clear()
            self.pos = 0
            if not self._fill():
                return


def _parse_head(block: bytes, url: str) -> tuple[str, int, str, list[tuple[str, str]]]:
    lines = block.split(b"\n")
    status_line = lines[0].rstrip(b"\r")
    m = _STATUS_RE.match(status_line)
    if not m:
        raise ProtocolError("response is not HTTP/1.x", details={"url": url, "start": status_line[:80].decode("latin-1")})
    version = f"HTTP/{m.group(1).decode()}.{m.group(2).decode()}"
    status = int(m.group(3))
    reason = (m.group(4) or b"").decode("latin-1")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        line = line.rstrip(b"\r")
        if not line:
            continue
        if line[:1] in (b" ", b"\t") and headers:  # obsolete line folding
            name, value = headers[-1]
            headers[-1] = (name, value + " " + line.strip().decode("latin-1"))
            continue
        name, colon, value = line.partition(b":")
        if not colon or not name or name != name.strip():
            continue  # malformed field line: ignored (the bytes are kept in response_bytes)
        headers.append((name.decode("latin-1"), value.strip(b" \t").decode("latin-1")))
    return version, status, reason, headers


def _read_response(reader: _Reader, method: str, limits: FetchLimits, url: str, spool_dir: str | None = None):
    """Read one final response; return (head, version, status, reason, headers, body, payload): the
    body streamed into a spooled :class:`Body` as read, ``payload`` the dechunked one (or ``body``)."""
    def too_large(n: int | None = None) -> None:
        raise BodyTooLarge(
            f"response body exceeds {limits.max_body} bytes" + (f" (Content-Length {n})" if n is not None else ""),
            details={"url": url, "limit": limits.max_body, "content_length": n},
        )

    while True:
        start = reader.pos
        # Fail fast on non-HTTP: look at the first bytes before waiting for a header terminator.
        while len(reader.raw) - start < 5 and reader._fill():
            pass
        first = bytes(reader.raw[start : start + 5])
        if not first:
            raise ProtocolError("connection closed without a response", details={"url": url})
        if first != b"HTTP/":
            raise ProtocolError("response is not HTTP/1.x",
                                details={"url": url, "start": bytes(reader.raw[start : start + 40]).decode("latin-1")})
        head = reader.read_until(b"\r\n\r\n", limits.max_header_bytes, "response header block")
        if head is None:
            reader.pos = start
            head = reader.read_until(b"\n\n", limits.max_header_bytes, "response header block")
        if head is None:
            raise ProtocolError("connection closed inside the response headers", details={"url": url})
        version, status, reason, headers = _parse_head(head, url)
        if 100 <= status < 200 and status != 101:
            continue  # interim response: skip
        break

    hmap: dict[str, list[str]] = {}
    for k, v in headers:
        hmap.setdefault(k.lower(), []).append(v)
    reader.compact()  # the head is kept in ``head``; from here on the buffer is a window
    body = Body(block_prefix=head, spool_dir=spool_dir)
    try:
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            return head, version, status, reason, headers, body, body
        payload = _read_body(reader, body, hmap, limits, url, spool_dir, too_large)
    except BaseException:
        body.close()
        raise
    return head, version, status, reason, headers, body, payload


def _read_body(reader: _Reader, body: Body, hmap: dict[str, list[str]], limits: FetchLimits, url: str,
               spool_dir: str | None, too_large) -> Body:
    """Stream the body into ``body`` as it arrives (chunk framing included) and return the
    dechunked payload: ``body`` itself unless the response is chunked. Limits hold while streaming."""
    te = ",".join(hmap.get("transfer-encoding", [])).lower()
    if te:
        codings = [c.strip() for c in te.split(",") if c.strip()]
        if codings[-1:] != ["chunked"]:
            # Not chunked last: the body runs to EOF (RFC 9112 6.3), still transfer-coded.
            reader.stream_to_eof(body.write, limits.max_body, too_large)
            return body
        payload = Body(spool_dir=spool_dir)
        try:
            while True:
                reader.compact()
                line = reader.read_until(b"\n", 4096, "chunk size line")
                if line is None:
                    raise ProtocolError("connection closed inside a chunked body", details={"url": url})
                body.write(line)
                size_txt = line.split(b";", 1)[0].strip()
                try:
                    size = int(size_txt, 16)
                except ValueError:
                    raise ProtocolError(f"bad chunk size {size_txt[:20]!r}", details={"url": url}) from None
                if size < 0:
                    raise ProtocolError("negative chunk size", details={"url": url})
                if size == 0:
                    # trailer section, ends with an empty line
                    while True:
                        tline = reader.read_until(b"\n", limits.max_header_bytes, "trailer line")
                        if tline is None:
                            break
                        body.write(tline)
                        if tline.strip() == b"":
                            break
                    return payload
                if body.length + size > limits.max_body:
                    too_large()
                if reader.stream_exact(size, body.write, payload.write) < size:
                    raise ProtocolError("connection closed inside a chunk", details={"url": url})
                crlf = reader.read_until(b"\n", 2, "chunk terminator")
                if crlf is None or crlf.strip() != b"":
                    raise ProtocolError("chunk not followed by CRLF", details={"url": url})
                body.write(crlf)
        except BaseException:
            payload.close()
            raise

    lengths = {v.strip() for v in ",".join(hmap.get("content-length", [])).split(",") if v.strip()}
    if lengths:
        if len(lengths) > 1 or not next(iter(lengths)).isdigit():
            raise ProtocolError(f"invalid Content-Length {sorted(lengths)}", details={"url": url})
        n = int(next(iter(lengths)))
        if n > limits.max_body:
            too_large(n)
        got = reader.stream_exact(n, body.write)
        if got < n:
            raise ProtocolError(f"connection closed after {got} of {n} body bytes",
                                details={"url": url, "content_length": n, "received": got})
        return body

    reader.stream_to_eof(body.write, limits.max_body, too_large)
    return body


def _build_request(method: str, request_target: str, host_header: str, headers, user_agent: str,
                   body: bytes | None = None) -> bytes:
    if not _TOKEN_RE.match(method):
        raise ValueError(f"invalid HTTP method {method!r}")
    fields: list[tuple[str, str]] = [
        ("Host", host_header),
        ("User-Agent", user_agent),
        ("Accept", DEFAULT_ACCEPT),
        ("Accept-Encoding", "gzip, deflate"),
        ("Connection", "close"),
    ]
    extra: Iterable[tuple[str, str]]
    if headers is None:
        extra = ()
    elif isinstance(headers, Mapping):
        extra = headers.items()
    else:
        extra = headers
    for name, value in extra:
        if not _TOKEN_RE.match(name) or re.search(r"[\r\n\x00]", str(value)):
            raise ValueError(f"invalid request header {name!r} (bad name, or CR/LF/NUL in the value)")
        lname = name.lower()
        if lname in ("host", "connection", "content-length", "transfer-encoding"):
            continue  # the client owns framing and the Host
        fields = [(k, v) for k, v in fields if k.lower() != lname]
        if value is not None:
            fields.append((name, str(value)))
    if body is not None and (body or method not in ("GET", "HEAD")):
        fields.append(("Content-Length", str(len(body))))
    lines = [f"{method} {request_target} HTTP/1.1"] + [f"{k}: {v}" for k, v in fields]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "strict") + (body or b"")


def _connect(addr: str, port: int, deadline: _Deadline, limits: FetchLimits, url: str,
             proxy: bool = False) -> socket.socket:
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.settimeout(min(limits.connect_timeout, deadline.remaining(url)))
        sock.connect((addr, port))
    except TimeoutError:
        sock.close()
        exc_cls = ProxyFailure if proxy else FetchTimeout
        raise exc_cls(f"connect to {addr}:{port} timed out after {limits.connect_timeout}s",
                      details={"url": url, "address": f"{addr}:{port}", "limit": "connect_timeout"}) from None
    except OSError as exc:
        sock.close()
        exc_cls = ProxyFailure if proxy else ConnectionFailed
        what = "proxy " if proxy else ""
        raise exc_cls(f"could not connect to {what}{addr}:{port}: {exc.strerror or exc}",
                      details={"url": url, "address": f"{addr}:{port}", "errno": exc.errno}) from exc
    except BaseException:
        sock.close()
        raise
    return sock


def _tls_wrap(sock: socket.socket, host: str, ctx: ssl.SSLContext, deadline: _Deadline, limits: FetchLimits,
              url: str) -> ssl.SSLSocket:
    try:
        sock.settimeout(min(limits.connect_timeout, deadline.remaining(url)))
        return ctx.wrap_socket(sock, server_hostname=host)
    except ssl.SSLCertVerificationError as exc:
        sock.close()
        raise TLSFailure(f"TLS certificate verification failed for {host}: {exc.verify_message or exc}",
                         details={"url": url, "host": host, "verify_code": exc.verify_code}) from exc
    except ssl.SSLError as exc:
        sock.close()
        raise TLSFailure(f"TLS handshake with {host} failed: {exc.reason or exc}",
                         details={"url": url, "host": host}) from exc
    except TimeoutError:
        sock.close()
        raise FetchTimeout(f"TLS handshake with {host} timed out", details={"url": url, "limit": "connect_timeout"}) from None
    except OSError as exc:
        sock.close()
        raise TLSFailure(f"TLS handshake with {host} failed: {exc}", details={"url": url, "host": host}) from exc


def _parse_proxy(proxy: str) -> tuple[str, int]:
    parts = urlsplit(proxy)
    if parts.scheme != "http" or not parts.hostname:
        raise ProxyFailure(f"unsupported proxy URL {proxy!r} (expected http://host:port)", details={"proxy": proxy})
    return parts.hostname, parts.port or 80


def _proxy_addresses(host: str, port: int, proxy: str) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise ProxyFailure(f"cannot resolve proxy host {host!r}: {exc}", details={"proxy": proxy}) from exc
    out: list[str] = []
    for family, *_rest, sockaddr in infos:
        if family in (socket.AF_INET, socket.AF_INET6) and sockaddr[0] not in out:
            out.append(str(sockaddr[0]))
    return out


def _fmt_addr(addr: str, port: int) -> str:
    return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"


def _send(sock: socket.socket, data: bytes, deadline: _Deadline, limits: FetchLimits, url: str) -> None:
    try:
        sock.settimeout(min(limits.read_timeout, deadline.remaining(url)))
        sock.sendall(data)
    except TimeoutError:
        raise FetchTimeout("timed out sending the request", details={"url": url}) from None
    except ssl.SSLError as exc:
        raise TLSFailure(f"TLS error while sending: {exc}", details={"url": url}) from exc
    except OSError as exc:
        raise ConnectionFailed(f"sending the request failed: {exc}", details={"url": url}) from exc


def _ms(a: float, b: float) -> float:
    return round((b - a) * 1000.0, 3)


def fetch(
    url: str,
    *,
    method: str = "GET",
    headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    limits: FetchLimits | None = None,
    proxy: str | None = None,
    allowed_networks: Iterable[str] = (),
    user_agent: str = DEFAULT_UA,
    ssl_context: ssl.SSLContext | None = None,
    proxy_local_dns: bool = True,
    body: bytes | None = None,
    spool_dir: str | None = None,
) -> Exchange:
    """Perform one guarded HTTP exchange for ``url`` and return it (redirects are not followed).

    ``headers`` add to / replace the default request headers (``Host``, ``Connection`` and
    framing headers are the client's). ``ssl_context`` defaults to
    ``ssl.create_default_context()`` (certificates verified); pass one only to trust a test CA.
    ``body`` is sent as the request content with a ``Content-Length`` (e.g. a browser's POST
    through :mod:`archive.capture.recorder`); it is part of ``request_bytes``.
    The response body is streamed into a :class:`~archive.capture.spool.Body` (in memory up to
    1 MiB, then an anonymous temporary file in ``spool_dir``), hashed while it is read.
    Raises an :class:`archive.errors.CaptureError` subclass; never returns a partial exchange.
    A malformed ``method`` or request header (CR/LF injection) is a programming error:
    ``ValueError``, raised before any connection.
    """
    limits = limits or FetchLimits()
    allowed_networks = tuple(allowed_networks)
    method = method.upper()
    target: Target = check_url(url, allowed_networks=allowed_networks)
    # absolute form to an http proxy, origin form otherwise (also inside a CONNECT tunnel)
    request_target = target.url if proxy and target.scheme == "http" else target.request_target
    request_bytes = _build_request(method, request_target, target.host_header, headers, user_agent, body)
    started_at = datetime.now(UTC)
    t0 = time.monotonic()
    deadline = _Deadline(limits, t0)

    if proxy:
        proxy_host, proxy_port = _parse_proxy(proxy)
        if not target.is_ip_literal and proxy_local_dns:
            try:
                resolve(target, allowed_networks=allowed_networks)
            except DNSFailure:
                pass  # left to the proxy to resolve (see module docstring)
        connect_addrs = _proxy_addresses(proxy_host, proxy_port, proxy)
        connect_port = proxy_port
    else:
        connect_addrs = resolve(target, allowed_networks=allowed_networks)
        connect_port = target.port

    sock: socket.socket | None = None
    last_exc: CaptureError | None = None
    for addr in connect_addrs:
        try:
            sock = _connect(addr, connect_port, deadline, limits, target.url, proxy=bool(proxy))
            remote = _fmt_addr(addr, connect_port)
            break
        except (ConnectionFailed, ProxyFailure, FetchTimeout) as exc:
            last_exc = exc
            if isinstance(exc, FetchTimeout):
                break
    if sock is None:
        assert last_exc is not None
        raise last_exc

    try:
        t_tcp = time.monotonic()
        if proxy and target.scheme == "https":
            authority = _authority(target)
            connect_req = (f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n"
                           f"User-Agent: {user_agent}\r\n\r\n")
            _send(sock, connect_req.encode("latin-1"), deadline, limits, target.url)
            creader = _Reader(sock, deadline, limits, target.url)
            head = creader.read_until(b"\r\n\r\n", limits.max_header_bytes, "CONNECT response")
            if head is None:
                raise ProxyFailure("proxy closed the connection during CONNECT", details={"url": target.url, "proxy": proxy})
            try:
                _v, cstatus, creason, cheaders = _parse_head(head, target.url)
            except ProtocolError as exc:
                raise ProxyFailure("proxy answered CONNECT with something that is not HTTP",
                                   details={"url": target.url, "proxy": proxy}) from exc
            if not 200 <= cstatus < 300:
                raise_for_proxy_status(cheaders, cstatus, target.url, proxy)
                raise ProxyFailure(f"proxy refused CONNECT: {cstatus} {creason}",
                                   details={"url": target.url, "proxy": proxy, "status": cstatus})
            if creader.pos != len(creader.raw):
                raise ProxyFailure("proxy sent data before the TLS handshake", details={"url": target.url})
        if target.scheme == "https":
            sock = _tls_wrap(sock, target.host, ssl_context or ssl.create_default_context(), deadline, limits,
                             target.url)
        t_connected = time.monotonic()

        t_sent = time.monotonic()
        _send(sock, request_bytes, deadline, limits, target.url)
        reader = _Reader(sock, deadline, limits, target.url)
        head, version, status, reason, resp_headers, resp_body, payload = _read_response(
            reader, method, limits, target.url, spool_dir)
        t_done = time.monotonic()
    finally:
        try:
            sock.close()
        except OSError:
            pass

    if proxy:
        try:
            raise_for_proxy_status(resp_headers, status, target.url, proxy)
        except CaptureError:
            resp_body.close()
            payload.close()
            raise

    return Exchange(
        url=target.url,
        method=method,
        request_bytes=request_bytes,
        response_head=head,
        status=status,
        reason=reason,
        http_version=version,
        headers=resp_headers,
        body=resp_body,
        payload_body=payload,
        remote_addr=remote,
        started_at=started_at,
        finished_at=datetime.now(UTC),
        timings={
            "connect_ms": _ms(t0, t_connected),
            "tcp_ms": _ms(t0, t_tcp),
            "ttfb_ms": _ms(t_sent, reader.first_byte_at or t_done),
            "total_ms": _ms(t0, t_done),
        },
        via_proxy=bool(proxy),
        limits=limits,
    )


def _authority(target: Target) -> str:
    host = f"[{target.host}]" if ":" in target.host else target.host
    return f"{host}:{target.port}"
