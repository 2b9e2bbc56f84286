"""Loopback test servers that serve the fixture web (tests/fixtures/corpus) at its real URLs.

:class:`CorpusServer` in ``mode="proxy"`` is a forward HTTP proxy on 127.0.0.1: requests arrive
in absolute form (``GET http://www.watanserb.com/... HTTP/1.1``) and are answered from
``urls.tsv`` (status, Content-Type, extra headers, exact file bytes). URLs are matched after
normalising percent-encoding, so a raw-IRI request line matches its encoded row. ``CONNECT`` is
supported for the TLS test hosts (tunnelled to a local TLS origin). Unknown hosts get
``502`` + ``Proxy-Status: naql-test-proxy; error=dns_error``; a known host with an unknown path
gets ``404``.

The test host ``lab.naql.test`` (and, in ``mode="origin"``, any Host) serves behaviours that
the fetch client must cope with: see :data:`LAB_PATHS`.

:class:`FakeDNS` replaces ``socket.getaddrinfo`` while tests run: IP literals and ``localhost``
resolve without the network, names given answers resolve to them, everything else fails with
``EAI_NONAME`` exactly as on a machine with no network. No test ever sends a DNS query.

Nothing here talks to anything but 127.0.0.1.
"""

from __future__ import annotations

import gzip
import ipaddress
import os
import random
import re
import select
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import zlib
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote_from_bytes, unquote_to_bytes, urlsplit, urlunsplit

CORPUS_DIR = Path(__file__).parent / "fixtures" / "corpus"
#: Pages for browser captures (script-built post, lazy image, guard probes, endless loading,
#: popup/download): served by the proxy beside the corpus, with ``CorpusServer.substitutions``
#: applied to their bodies (e.g. the canary server's port).
BROWSER_DIR = Path(__file__).parent / "fixtures" / "browser"
LAB_HOST = "lab.naql.test"
TLS_HOST = "secure.naql.test"  # CONNECT → local TLS origin with a self-signed cert for this name
NOT_TLS_HOST = "nottls.naql.test"  # CONNECT → a plain-HTTP origin (TLS handshake fails)

LAB_PATHS = {
    "/raw-header": "200 with a header holding a raw 0xE9 byte (X-Caf\\xe9: caf\\xe9), body 'ok'",
    "/chunked": "200, Transfer-Encoding: chunked (with a chunk extension and a trailer), payload CHUNKED_PAYLOAD",
    "/gzip": "200, Content-Encoding: gzip, decoded body GZIP_TEXT",
    "/deflate": "200, Content-Encoding: deflate (zlib stream), decoded body GZIP_TEXT",
    "/gzip-bomb": "200, Content-Encoding: gzip, 16 MiB of zeros compressed to a few KiB",
    "/slow-drip?n=N&interval=S": "Content-Length N, then one byte every S s (default 40 × 0.5 s; stops by itself)",
    "/big?mb=N&length=0|1": "N MiB streamed in 64 KiB blocks, Content-Length sent if length=1 (default 1)",
    "/noise?kb=N": "N KiB of incompressible bytes (seeded PRNG, the same for the same N), Content-Length sent",
    "/loop-a, /loop-b": "302 to each other (relative Location)",
    "/hop/N": "302 to /hop/N-1 ... /hop/0 answers 200",
    "/redirect-internal": "302 to http://169.254.169.254/latest/meta-data/ (cloud metadata)",
    "/redirect-to?url=U": "302 to U, whatever it is",
    "/500": "500 with an HTML body",
    "/status/N": "status N with a short body",
    "/not-http": "garbage bytes, then close",
    "/refused": "502 Proxy-Status error=connection_refused",
    "/proxy-error/CODE": "502 Proxy-Status error=CODE with details",
    "/huge-header": "a header block over 64 KiB",
    "/truncated": "Content-Length 100, 10 bytes, close",
    "/odd-dates": "an HTML article whose stated dates carry impossible UTC offsets (+22:30, year 1 at +05:00)",
    "/no-length": "body delimited by connection close",
    "/interim": "a 100 Continue, then the real 200",
    "/silent": "reads the request and sends nothing for 5 s",
    "/echo": "200, body = the raw request bytes received",
}

CHUNKED_PAYLOAD = b"Hello, chunked world!\n"
GZIP_TEXT = "مرحبا gzip — Naql\n".encode() * 50


def normalise_url(url: str, *, from_wire: bool = False) -> str:
    """Canonical form for matching: lower-case scheme/host, no default port, no fragment,
    percent-encoding normalised (decode everything, re-encode with upper-case hex).

    ``from_wire``: the string came from http.server (latin-1-decoded request line), so non-ASCII
    characters stand for raw bytes; otherwise they are Unicode (encoded as UTF-8).
    """
    parts = urlsplit(url)
    scheme = (parts.scheme or "http").lower()
    host = (parts.hostname or "").lower().rstrip(".")
    default = {"http": 80, "https": 443}.get(scheme)
    port = parts.port
    netloc = host if port in (None, default) else f"{host}:{port}"

    def norm(s: str, safe: str) -> str:
        try:
            raw = s.encode("latin-1") if from_wire else s.encode("utf-8")
        except UnicodeEncodeError:
            raw = s.encode("utf-8")
        return quote_from_bytes(unquote_to_bytes(raw), safe=safe)

    path = norm(parts.path or "/", "/:@!$&'()*+,;=-._~")
    query = norm(parts.query, "/:@!$&'()*+,;=-._~?")
    return urlunsplit((scheme, netloc, path, query, ""))


@dataclass(frozen=True)
class Row:
    url: str
    file: str | None
    status: int
    content_type: str
    headers: tuple[tuple[str, str], ...]

    base: Path | None = None  # directory of the file, when not the server's corpus_dir

    def body(self, corpus_dir: Path) -> bytes:
        return b"" if self.file is None else ((self.base or corpus_dir) / self.file).read_bytes()


def load_rows(corpus_dir: Path = CORPUS_DIR) -> dict[str, list[Row]]:
    """``urls.tsv`` as {normalised URL: [rows in file order]}."""
    rows: dict[str, list[Row]] = {}
    for line in (corpus_dir / "urls.tsv").read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        url, file, status, ctype, extra = line.split("\t")
        headers = ()
        if extra.strip() != "-":
            headers = tuple(tuple(h.split(": ", 1)) for h in extra.split("; "))
        row = Row(url, None if file == "-" else file, int(status), ctype, headers,
                  None if corpus_dir == CORPUS_DIR else corpus_dir)
        rows.setdefault(normalise_url(url), []).append(row)
    return rows


@dataclass
class LoggedRequest:
    method: str
    url: str  # absolute URL as requested (origin mode: rebuilt from Host); CONNECT: "host:port"
    headers: list[tuple[str, str]]
    raw: bytes  # request line + header block, exactly as received
    client: str = ""

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


class FakeDNS:
    """A ``getaddrinfo`` stand-in: no packet ever leaves the machine."""

    def __init__(self) -> None:
        self._real = socket.getaddrinfo
        self._lock = threading.Lock()
        self.answers: dict[str, list[str]] = {}
        self.defaults: dict[str, list[str]] = {
            "localhost": ["127.0.0.1"],
            # "127.0.0.1.nip.io"-style wildcard DNS, as it would answer if it were reachable.
            "127.0.0.1.nip.io": ["127.0.0.1"],
            "169.254.169.254.nip.io": ["169.254.169.254"],
        }
        self.queries: list[str] = []

    def set(self, host: str, addresses: list[str]) -> None:
        with self._lock:
            self.answers[host.lower().rstrip(".")] = list(addresses)

    def clear(self) -> None:
        with self._lock:
            self.answers.clear()
            self.queries.clear()

    def getaddrinfo(self, host, port, family=0, type=0, proto=0, flags=0):  # noqa: A002 - stdlib signature
        name = host.decode() if isinstance(host, bytes) else host
        if name is None:
            return self._real(host, port, family, type, proto, flags)
        try:
            ipaddress.ip_address(name.split("%", 1)[0])
            is_literal = True
        except ValueError:
            is_literal = False
        if is_literal:
            return self._real(name, port, family, type, proto, flags | socket.AI_NUMERICHOST)
        key = name.lower().rstrip(".")
        with self._lock:
            self.queries.append(key)
            addrs = self.answers.get(key) or self.defaults.get(key)
        if not addrs:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        out = []
        for addr in addrs:
            if ":" in addr:
                if family not in (0, socket.AF_INET6):
                    continue
                out.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (addr, int(port or 0), 0, 0)))
            else:
                if family not in (0, socket.AF_INET):
                    continue
                out.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (addr, int(port or 0))))
        if not out:
            raise socket.gaierror(socket.EAI_ADDRFAMILY, "Address family for hostname not supported")
        return out


class _TeeReader:
    """Wraps the handler's rfile and records what http.server reads (request line, headers)."""

    def __init__(self, f):
        self._f = f
        self.recorded = bytearray()

    def readline(self, *args):
        line = self._f.readline(*args)
        self.recorded += line
        return line

    def read(self, *args):
        data = self._f.read(*args)
        self.recorded += data
        return data

    def __getattr__(self, name):
        return getattr(self._f, name)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = 30

    def log_message(self, format, *args):  # noqa: A002 - silence stderr logging
        pass

    def setup(self) -> None:
        super().setup()
        self.rfile = _TeeReader(self.rfile)

    # every method goes through one dispatcher
    def do_GET(self):
        self._dispatch()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_OPTIONS = do_GET

    def do_CONNECT(self):
        self._log(self.path)
        host, _, port = self.path.rpartition(":")
        host = host.lower()
        if host == TLS_HOST and self.server.owner.tls_origin is not None:
            self._tunnel(self.server.owner.tls_origin.address)
        elif host == NOT_TLS_HOST:
            self._tunnel(self.server.owner.plain_address())
        elif host == "refused.naql.test":
            self._proxy_error("connection_refused", f"connect to {host}:{port} refused")
        else:
            self._proxy_error("dns_error", f"cannot resolve {host}")

    # ---- helpers -----------------------------------------------------------------------
    def _log(self, url: str) -> None:
        entry = LoggedRequest(self.command, url, list(self.headers.items()), bytes(self.rfile.recorded),
                              f"{self.client_address[0]}:{self.client_address[1]}")
        self.server.owner._record(entry)

    def _write(self, data: bytes) -> bool:
        try:
            self.wfile.write(data)
            self.wfile.flush()
            return True
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            return False

    def _respond(self, status: int, reason: str, headers: list[tuple[str, str]], body: bytes = b"",
                 *, content_length: bool = True) -> None:
        self.close_connection = True
        head = [f"HTTP/1.1 {status} {reason}"]
        head += [f"{k}: {v}" for k, v in headers]
        if content_length:
            head.append(f"Content-Length: {len(body)}")
        head.append("Connection: close")
        data = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
        if self.command != "HEAD":
            data += body
        self._write(data)

    def _proxy_error(self, code: str, details: str) -> None:
        body = f"<h1>502 Bad Gateway</h1><p>{code}: {details}</p>".encode()
        self._respond(502, "Bad Gateway", [
            ("Content-Type", "text/html"),
            ("Proxy-Status", f'naql-test-proxy; error={code}; details="{details}"'),
        ], body)

    def _tunnel(self, address: tuple[str, int]) -> None:
        self.close_connection = True
        try:
            upstream = socket.create_connection(address, timeout=5)
        except OSError:
            self._proxy_error("connection_refused", f"tunnel to {address} failed")
            return
        if not self._write(b"HTTP/1.1 200 Connection established\r\n\r\n"):
            upstream.close()
            return
        client = self.connection
        socks = [client, upstream]
        deadline = time.monotonic() + 15
        try:
            while time.monotonic() < deadline:
                readable, _, _ = select.select(socks, [], [], 0.5)
                for s in readable:
                    data = s.recv(65536)
                    if not data:
                        return
                    (upstream if s is client else client).sendall(data)
        except OSError:
            return
        finally:
            upstream.close()

    def _dispatch(self) -> None:
        owner = self.server.owner
        if owner.mode == "proxy":
            if not re.match(r"^https?://", self.path, re.I):
                self._log(self.path)
                self._respond(400, "Bad Request", [("Content-Type", "text/plain")],
                              b"this is a forward proxy: absolute-form request targets only\n")
                return
            url = self.path
        else:
            host = self.headers.get("Host", f"127.0.0.1:{owner.port}")
            scheme = "https" if owner.tls else "http"
            url = f"{scheme}://{host}{self.path}"
        self._log(url)
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if owner.mode == "origin" or host == LAB_HOST:
            self._lab(parts)
            return
        key = normalise_url(url, from_wire=True)
        rows = owner.rows.get(key)
        if rows:
            row = rows[min(owner.version_of(key), len(rows) - 1)]
            headers = [("Content-Type", row.content_type), *row.headers]
            body = row.body(owner.corpus_dir)
            if row.base is not None:
                for old, new in owner.substitutions.items():
                    body = body.replace(old, new)
            self._respond(row.status, _REASONS.get(row.status, "Status"), headers, body)
            return
        if host in owner.hosts:
            self._respond(404, "Not Found", [("Content-Type", "text/html; charset=utf-8")],
                          b"<html><body><h1>404 Not Found</h1></body></html>\n")
            return
        self._proxy_error("dns_error", f"cannot resolve {host}")

    # ---- lab behaviours ------------------------------------------------------------------
    def _lab(self, parts) -> None:
        path = parts.path
        q = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        text = [("Content-Type", "text/plain; charset=utf-8")]
        if path == "/raw-header":
            self.close_connection = True
            self._write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Caf\xe9: caf\xe9 cr\xe8me\r\n"
                        b"Content-Length: 2\r\nConnection: close\r\n\r\nok")
        elif path == "/chunked":
            self.close_connection = True
            self._write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n"
                        b"Connection: close\r\n\r\n"
                        b"7;ext=1\r\nHello, \r\n"
                        b"f\r\nchunked world!\n\r\n"
                        b"0\r\nX-Trailer: done\r\n\r\n")
        elif path == "/gzip":
            body = gzip.compress(GZIP_TEXT, mtime=0)
            self._respond(200, "OK", [*text, ("Content-Encoding", "gzip"), ("Vary", "Accept-Encoding")], body)
        elif path == "/deflate":
            self._respond(200, "OK", [*text, ("Content-Encoding", "deflate")], zlib.compress(GZIP_TEXT))
        elif path == "/gzip-corrupt-html":
            body = gzip.compress("<html><body><p>مرحبا</p></body></html>".encode())[:-12] + b"garbage!garb"
            self._respond(200, "OK", [("Content-Type", "text/html; charset=utf-8"), ("Content-Encoding", "gzip")],
                          body)
        elif path == "/gzip-bomb":
            self._respond(200, "OK", [("Content-Type", "application/octet-stream"), ("Content-Encoding", "gzip")],
                          _gzip_bomb())
        elif path == "/slow-drip":
            n = min(int(q.get("n", 40)), 40)
            interval = min(float(q.get("interval", 0.5)), 0.5)
            self.close_connection = True
            if not self._write(f"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {n}\r\n"
                               f"Connection: close\r\n\r\n".encode()):
                return
            for _ in range(n):  # at most 40 × 0.5 s = 20 s, then it stops by itself
                time.sleep(interval)
                if not self._write(b"."):
                    return
        elif path == "/big":
            mb = min(int(q.get("mb", 1)), 1024)
            total = mb * 1024 * 1024
            self.close_connection = True
            head = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
            if q.get("length", "1") == "1":
                head += f"Content-Length: {total}\r\n"
            if not self._write((head + "Connection: close\r\n\r\n").encode()):
                return
            block = b"x" * 65536
            for _ in range(total // len(block)):
                if not self._write(block):
                    return
        elif path == "/noise":
            kb = min(int(q.get("kb", 64)), 64 * 1024)
            body = random.Random(kb).randbytes(kb * 1024)
            self.close_connection = True
            self._write((f"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                         f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body)
        elif path in ("/loop-a", "/loop-b"):
            other = "/loop-b" if path == "/loop-a" else "/loop-a"
            self._respond(302, "Found", [*text, ("Location", other)], b"")
        elif path.startswith("/hop/") and path[5:].isdigit():
            n = int(path[5:])
            if n == 0:
                self._respond(200, "OK", [*text], b"arrived\n")
            else:
                self._respond(302, "Found", [*text, ("Location", f"/hop/{n - 1}")], b"")
        elif path == "/redirect-internal":
            self._respond(302, "Found", [*text, ("Location", "http://169.254.169.254/latest/meta-data/")], b"")
        elif path == "/redirect-to":
            self._respond(302, "Found", [*text, ("Location", q.get("url", "/"))], b"")
        elif path == "/500":
            self._respond(500, "Internal Server Error", [("Content-Type", "text/html")],
                          b"<h1>500</h1><p>the origin failed</p>\n")
        elif path.startswith("/status/") and path[8:].isdigit():
            status = int(path[8:])
            self._respond(status, _REASONS.get(status, "Status"), [*text], f"status {status}\n".encode())
        elif path == "/not-http":
            self.close_connection = True
            self._write(b"\x00\x13\x37SSH-2.0-garbage \xff\xfe\r\n\r\nnot http at all\r\n")
        elif path == "/refused":
            self._proxy_error("connection_refused", "connect to 203.0.113.7:80 refused")
        elif path.startswith("/proxy-error/"):
            code = path.rsplit("/", 1)[-1]
            self._proxy_error(code, f"simulated {code}")
        elif path == "/huge-header":
            self._respond(200, "OK", [*text, ("X-Huge", "a" * (70 * 1024))], b"ok")
        elif path == "/truncated":
            self.close_connection = True
            self._write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n"
                        b"Connection: close\r\n\r\n0123456789")
        elif path == "/odd-dates":
            self._respond(200, "OK", [("Content-Type", "text/html; charset=utf-8")], ODD_DATES_PAGE)
        elif path == "/no-length":
            self._respond(200, "OK", [*text], b"delimited by close\n", content_length=False)
        elif path == "/interim":
            self.close_connection = True
            self._write(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
                        b"Connection: close\r\n\r\nfinal")
        elif path == "/silent":
            self.close_connection = True
            time.sleep(5)
        elif path == "/echo":
            self._respond(200, "OK", [("Content-Type", "application/octet-stream")], bytes(self.rfile.recorded))
        elif path == "/":
            self._respond(200, "OK", [("Content-Type", "text/html; charset=utf-8")],
                          b"<!doctype html><title>lab</title><p>lab</p>\n")
        else:
            self._respond(404, "Not Found", [*text], b"no such lab path\n")


#: A CMS with a broken time-zone setting: JSON-LD datePublished at +22:30, a modified time in
#: year 1 east of Greenwich (its UTC form is year 0, which Python cannot represent).
ODD_DATES_PAGE = """<!doctype html><html lang="fr"><head><meta charset="utf-8">
<title>Le conseil municipal adopte le budget des bibliothèques</title>
<script type="application/ld+json">{"@type": "NewsArticle", "headline": "Budget des bibliothèques",
 "datePublished": "2024-03-14T08:05:00+22:30"}</script>
<meta property="article:modified_time" content="0001-01-01T02:00:00+05:00">
</head><body><article><h1>Le conseil municipal adopte le budget des bibliothèques</h1>
<p>Réuni jeudi soir, le conseil municipal a voté à une large majorité le budget annuel des
bibliothèques de quartier, en hausse de quatre pour cent par rapport à l'an dernier.</p>
<p>L'adjointe chargée de la culture a indiqué que les horaires d'ouverture seraient élargis le
samedi dès le mois d'avril, une demande ancienne des associations de parents d'élèves.</p>
</article></body></html>
""".encode()


_REASONS = {200: "OK", 201: "Created", 204: "No Content", 301: "Moved Permanently", 302: "Found",
            304: "Not Modified", 307: "Temporary Redirect", 308: "Permanent Redirect", 400: "Bad Request",
            403: "Forbidden", 404: "Not Found", 410: "Gone", 500: "Internal Server Error",
            502: "Bad Gateway", 503: "Service Unavailable"}

_BOMB: bytes | None = None
_BOMB_LOCK = threading.Lock()


def _gzip_bomb() -> bytes:
    global _BOMB
    with _BOMB_LOCK:
        if _BOMB is None:
            _BOMB = gzip.compress(b"\0" * (16 * 1024 * 1024), compresslevel=9, mtime=0)
        return _BOMB


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: CorpusServer
    ssl_context: ssl.SSLContext | None = None

    def get_request(self):
        sock, addr = super().get_request()
        if self.ssl_context is not None:
            sock = self.ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def finish_request(self, request, client_address):
        if isinstance(request, ssl.SSLSocket):
            try:
                request.settimeout(5)
                request.do_handshake()
            except (ssl.SSLError, OSError):
                return
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address):  # quiet: clients hang up on purpose
        pass


class CorpusServer:
    """The fixture web on 127.0.0.1. ``mode="proxy"`` (forward proxy) or ``"origin"`` (plain origin)."""

    def __init__(self, mode: str = "proxy", corpus_dir: Path = CORPUS_DIR, *, tls_context: ssl.SSLContext | None = None):
        assert mode in ("proxy", "origin")
        self.mode = mode
        self.corpus_dir = corpus_dir
        self.rows = load_rows(corpus_dir)
        if corpus_dir == CORPUS_DIR and (BROWSER_DIR / "urls.tsv").exists():
            for key, extra in load_rows(BROWSER_DIR).items():
                self.rows.setdefault(key, extra)
        self.substitutions: dict[bytes, bytes] = {}
        self.hosts = {urlsplit(u).hostname for u in self.rows} | {LAB_HOST}
        self.tls = tls_context is not None
        self._lock = threading.Lock()
        self._versions: dict[str, int] = {}
        self.requests: list[LoggedRequest] = []
        self.tls_origin: CorpusServer | None = None  # set by the fixture (CONNECT target)
        self._plain_origin: CorpusServer | None = None
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self._httpd.ssl_context = tls_context
        self._thread: threading.Thread | None = None

    # lifecycle
    def start(self) -> CorpusServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"corpus-{self.mode}-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._plain_origin is not None:
            self._plain_origin.stop()

    def __enter__(self) -> CorpusServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # addresses
    @property
    def address(self) -> tuple[str, int]:
        return self._httpd.server_address[:2]

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def plain_address(self) -> tuple[str, int]:
        with self._lock:
            if self._plain_origin is None:
                self._plain_origin = CorpusServer("origin", self.corpus_dir).start()
        return self._plain_origin.address

    # state
    def _record(self, entry: LoggedRequest) -> None:
        with self._lock:
            self.requests.append(entry)

    def requests_for(self, url_prefix: str) -> list[LoggedRequest]:
        with self._lock:
            return [r for r in self.requests if r.url.startswith(url_prefix)]

    def set_version(self, url: str, index: int) -> None:
        """Serve row ``index`` (0-based, urls.tsv order) for ``url`` from now on."""
        key = normalise_url(url)
        if key not in self.rows:
            raise KeyError(f"{url} is not in urls.tsv")
        if not 0 <= index < len(self.rows[key]):
            raise IndexError(f"{url} has {len(self.rows[key])} version(s)")
        with self._lock:
            self._versions[key] = index

    def version_of(self, key: str) -> int:
        with self._lock:
            return self._versions.get(key, 0)

    def reset(self) -> None:
        """Forget logged requests and chosen versions."""
        with self._lock:
            self.requests.clear()
            self._versions.clear()
        if self.tls_origin is not None:
            self.tls_origin.reset()


def make_self_signed(hostname: str = TLS_HOST) -> tuple[str, str, str] | None:
    """(tmpdir, cert.pem, key.pem) for ``hostname`` made with the openssl CLI; None if unavailable."""
    openssl = shutil.which("openssl")
    if not openssl:
        return None
    tmp = tempfile.mkdtemp(prefix="naql-tls-")
    cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
    try:
        subprocess.run(
            [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
             "-days", "2", "-subj", f"/CN={hostname}", "-addext", f"subjectAltName=DNS:{hostname}"],
            check=True, capture_output=True, timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        shutil.rmtree(tmp, ignore_errors=True)
        return None
    return tmp, cert, key
