"""The recording proxy of a browser capture: every request the browser makes, guarded and kept.

The capture browser (:mod:`archive.capture.browser`) is started with ``--proxy-server`` pointing
here and with no loopback bypass, and it cannot resolve names itself, so this proxy is its only
way out. For each request it receives the proxy does **not** relay bytes: it performs the request
itself with the guarded client (:func:`archive.capture.fetch.fetch`), which checks the URL and
every address it resolves to with the SSRF guard and connects to the checked address; the
:class:`~archive.capture.fetch.Exchange` (request and response bytes exactly as on the wire) is
kept for the WARC, and the response bytes are handed to the browser unchanged. Redirects are
followed by the browser, so every hop comes back here and is guarded and kept the same way.

* ``http`` requests arrive in absolute form (``GET http://host/path HTTP/1.1``).
* ``CONNECT host:port`` (``https``, and ``ws``/``wss`` through a proxy): the authority is checked
  by the guard first (a forbidden literal or local name is refused before anything else); then
  the tunnel is terminated here. TLS inside the tunnel is answered with a certificate for the host
  signed by a :class:`CaptureCA` made for this proxy alone; the browser trusts it because it is
  started with ``--ignore-certificate-errors-spki-list`` naming the CA's and the leaf key's SPKI
  hashes (only that browser profile; nothing is installed anywhere). The request inside the tunnel
  is then fetched like any other, with TLS to the origin verified normally by the fetch client.
* WebSocket upgrades are checked by the guard (the refusal names the reason) and then refused in
  any case: the guarded client speaks HTTP/1.1 request/response only, and a socket relayed
  unguarded would be a hole. Each is listed in :attr:`RecordingProxy.refused`.
* Requests Chromium makes for itself (``Sec-Fetch-Site: none`` outside a navigation: account
  and update checks) are refused and listed as ``browser_internal``; they are not the page's.
* One request per client connection (``Connection: close`` after every response): framing is
  then always right whatever the origin sent, at the price of a new connection per request.

Limits (:class:`Budget`): a wall-clock deadline, a request count and a byte total (request +
response bytes kept); past any of them a request is refused (``503`` to the browser, recorded as
``budget_*``) and nothing more is fetched. At most ``max_concurrent`` fetches run at once.
Refusals and fetch errors answer ``502``/``403`` with an RFC 9209 ``Proxy-Status`` header.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import logging
import shutil
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from archive.capture.fetch import Exchange
from archive.capture.guard import check_url
from archive.errors import CaptureError, ForbiddenAddress

__all__ = ["CaptureCA", "RecordingProxy", "Budget", "Fetcher"]

log = logging.getLogger(__name__)

#: ``fetcher(url, method=, headers=, body=, max_body=) -> Exchange``; raises CaptureError.
Fetcher = Callable[..., Exchange]

_HOP_BY_HOP = {"connection", "proxy-connection", "keep-alive", "proxy-authorization", "proxy-authenticate",
               "te", "trailer", "transfer-encoding", "upgrade", "host", "content-length", "accept-encoding"}
_MAX_HEAD = 64 * 1024
_PROXY_STATUS = {"forbidden_address": "destination_ip_prohibited", "dns_failure": "dns_error",
                 "connection_failed": "connection_refused", "timeout": "connection_timeout",
                 "tls_failure": "tls_certificate_error", "body_too_large": "http_response_body_size"}


class CaptureCA:
    """A certificate authority that lives as long as one recording proxy.

    EC P-256 keys made with ``cryptography``; one leaf key for all hosts (as mitmproxy does), one
    certificate per host made on first use. Nothing is written outside a private temporary
    directory (``cleanup()`` removes it); the private keys never leave this process."""

    def __init__(self, root: Path | None = None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="naql-ca-", dir=root))
        now = datetime.now(UTC)
        self._key = ec.generate_private_key(ec.SECP256R1())
        self._leaf_key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Naql capture CA (one capture only)")])
        self.cert = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(self._key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .sign(self._key, hashes.SHA256())
        )
        self._leaf_key_path = self.dir / "leaf-key.pem"
        self._leaf_key_path.write_bytes(self._leaf_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _spki_hash(public_key) -> str:
        der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        return base64.b64encode(hashlib.sha256(der).digest()).decode("ascii")

    def spki_hashes(self) -> list[str]:
        """Base64 SHA-256 of the CA's and the leaf key's SubjectPublicKeyInfo (Chromium's
        ``--ignore-certificate-errors-spki-list`` format)."""
        return [self._spki_hash(self._key.public_key()), self._spki_hash(self._leaf_key.public_key())]

    def ca_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def server_context(self, host: str) -> ssl.SSLContext:
        """A server-side SSLContext presenting a certificate for ``host`` (name or IP literal)."""
        with self._lock:
            ctx = self._contexts.get(host)
            if ctx is not None:
                return ctx
            now = datetime.now(UTC)
            try:
                san: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
            except ValueError:
                san = x509.DNSName(host)
            cert = (
                x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host[:64])]))
                .issuer_name(self.cert.subject).public_key(self._leaf_key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=2))
                .add_extension(x509.SubjectAlternativeName([san]), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                .sign(self._key, hashes.SHA256())
            )
            path = self.dir / f"leaf-{hashlib.sha256(host.encode()).hexdigest()[:16]}.pem"
            path.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + self.ca_pem())
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.set_alpn_protocols(["http/1.1"])
            ctx.load_cert_chain(str(path), str(self._leaf_key_path))
            self._contexts[host] = ctx
            return ctx

    def cleanup(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


@dataclass
class Budget:
    """What one browser capture may spend. ``deadline`` is a ``time.monotonic()`` value."""

    deadline: float
    max_requests: int
    max_bytes: int


class _Closed(Exception):
    """The client went away or sent something that is not HTTP/1.x."""


class RecordingProxy:
    """A loopback HTTP proxy that fetches every request through ``fetcher`` and keeps the exchanges.

    ``exchanges`` lists ``(sequence, Exchange)`` in the order requests arrived (sequence numbers
    are assigned on arrival); ``refused`` lists dicts ``{url, method, code, message, at}`` for
    every request that was refused by the guard or the budget or failed to fetch."""

    def __init__(self, fetcher: Fetcher, budget: Budget, *, io_timeout: float = 30.0, max_concurrent: int = 8,
                 tmp_dir: Path | None = None):
        self.fetcher = fetcher
        self.budget = budget
        self.io_timeout = io_timeout
        self.ca = CaptureCA(tmp_dir)
        self.exchanges: list[tuple[int, Exchange]] = []
        self.refused: list[dict] = []
        self.requests_seen = 0
        self.bytes_kept = 0
        self._seq = 0
        self._in_flight = 0
        self._last_activity = time.monotonic()
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_concurrent)
        self._clients: set[socket.socket] = set()
        self._stopped = threading.Event()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._thread: threading.Thread | None = None

    # ---- lifecycle -----------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._listener.getsockname()[1]

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> RecordingProxy:
        self._thread = threading.Thread(target=self._accept_loop, name=f"recorder-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, drop every open client connection, remove the CA's files."""
        self._stopped.set()
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() (close() alone does not)
        except OSError:
            pass
        try:
            self._listener.close()
        except OSError:
            pass
        with self._lock:
            clients = list(self._clients)
        for c in clients:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                c.close()
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.ca.cleanup()

    def wait_idle(self, quiet: float, timeout: float) -> bool:
        """Block until no request has been in flight for ``quiet`` seconds (True), or ``timeout``
        seconds have passed (False): the "network has settled" test of a browser capture."""
        end = time.monotonic() + max(0.0, timeout)
        while True:
            now = time.monotonic()
            with self._lock:
                idle = self._in_flight == 0 and now - self._last_activity >= quiet
            if idle:
                return True
            if now >= end:
                return False
            time.sleep(0.05)

    def sorted_exchanges(self) -> list[Exchange]:
        with self._lock:
            return [ex for _seq, ex in sorted(self.exchanges, key=lambda t: t[0])]

    # ---- accepting -----------------------------------------------------------------------
    def _accept_loop(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _addr = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self._clients.add(conn)
            threading.Thread(target=self._serve, args=(conn,), name="recorder-conn", daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(self.io_timeout)
            head, rest = self._read_head(conn)
            method, target, headers = self._parse_head(head)
            if method == "CONNECT":
                self._tunnel(conn, target)
            else:
                if not target.lower().startswith(("http://", "https://")):
                    self._answer(conn, 400, "Bad Request", b"absolute-form request targets only\n")
                    return
                self._handle(conn, method, target, headers, rest)
        except (_Closed, OSError, ssl.SSLError):
            pass
        finally:
            with self._lock:
                self._clients.discard(conn)
            try:
                conn.close()
            except OSError:
                pass

    # ---- HTTP plumbing (hand-written: the exchange itself is done by fetch(); this only has to
    # read a request head and body from one trusted local client) ----------------------------
    @staticmethod
    def _read_head(conn) -> tuple[bytes, bytes]:
        buf = b""
        while b"\r\n\r\n" not in buf:
            if len(buf) > _MAX_HEAD:
                raise _Closed("request head too long")
            chunk = conn.recv(65536)
            if not chunk:
                raise _Closed("client closed")
            buf += chunk
        head, _, rest = buf.partition(b"\r\n\r\n")
        return head, rest

    @staticmethod
    def _parse_head(head: bytes) -> tuple[str, str, list[tuple[str, str]]]:
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise _Closed("not an HTTP/1.x request")
        headers = []
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if colon and name.strip():
                headers.append((name.strip(), value.strip()))
        return parts[0].upper(), parts[1], headers

    @staticmethod
    def _read_body(conn, headers, rest: bytes, cap: int) -> bytes | None:
        hmap = {k.lower(): v for k, v in headers}
        if "chunked" in hmap.get("transfer-encoding", "").lower():
            data, out = rest, b""
            while True:
                while b"\r\n" not in data:
                    more = conn.recv(65536)
                    if not more:
                        raise _Closed("closed in a chunked request body")
                    data += more
                line, _, data = data.partition(b"\r\n")
                size = int(line.split(b";")[0].strip() or b"0", 16)
                while len(data) < size + 2:
                    more = conn.recv(65536)
                    if not more:
                        raise _Closed("closed in a chunk")
                    data += more
                if size == 0:
                    return out
                out += data[:size]
                data = data[size + 2:]
                if len(out) > cap:
                    raise _Closed("request body too large")
        length = hmap.get("content-length")
        if length is None:
            return None
        n = int(length)
        if n > cap:
            raise _Closed("request body too large")
        data = rest
        while len(data) < n:
            more = conn.recv(min(65536, n - len(data)))
            if not more:
                raise _Closed("closed in the request body")
            data += more
        return data[:n]

    @staticmethod
    def _answer(conn, status: int, reason: str, body: bytes, extra: list[tuple[str, str]] = ()) -> None:
        head = [f"HTTP/1.1 {status} {reason}", "Content-Type: text/plain; charset=utf-8",
                f"Content-Length: {len(body)}", "Connection: close", *(f"{k}: {v}" for k, v in extra)]
        conn.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)

    def _refuse(self, url: str, method: str, code: str, message: str) -> None:
        with self._lock:
            self.refused.append({"url": url, "method": method, "code": code, "message": message,
                                 "at": datetime.now(UTC).isoformat()})
        log.info("browser capture refused %s %s: %s (%s)", method, url, code, message)

    # ---- CONNECT -------------------------------------------------------------------------
    def _tunnel(self, conn: socket.socket, authority: str) -> None:
        host, _, port = authority.rpartition(":")
        if not host or not port.isdigit():
            self._answer(conn, 400, "Bad Request", b"CONNECT needs host:port\n")
            return
        bare = host.strip("[]")
        try:  # the guard on the authority before anything else: a forbidden literal or local name ends here
            check_url(f"https://{host}:{port}/", allowed_networks=self._allowed())
        except CaptureError as exc:
            self._refuse(f"https://{host}:{port}/", "CONNECT", exc.code, exc.message)
            self._answer(conn, 403, "Forbidden", f"{exc.message}\n".encode(),
                         [("Proxy-Status", f"naql; error={_PROXY_STATUS.get(exc.code, 'http_request_denied')}")])
            return
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        first = conn.recv(1, socket.MSG_PEEK)
        if not first:
            return
        scheme = "https" if first == b"\x16" else "http"  # 0x16: a TLS handshake record
        inner: socket.socket = conn
        if scheme == "https":
            inner = self.ca.server_context(bare).wrap_socket(conn, server_side=True)
        default = 443 if scheme == "https" else 80
        origin = f"{scheme}://{host}" + ("" if int(port) == default else f":{port}")
        head, rest = self._read_head(inner)
        method, target, headers = self._parse_head(head)
        if not target.startswith("/"):
            self._answer(inner, 400, "Bad Request", b"origin-form request targets only inside a tunnel\n")
            return
        self._handle(inner, method, origin + target, headers, rest)
        if isinstance(inner, ssl.SSLSocket):
            try:
                inner.unwrap()
            except (OSError, ssl.SSLError):
                pass

    def _allowed(self) -> tuple[str, ...]:
        allowed = getattr(self.fetcher, "allowed_networks", ())
        return tuple(allowed)

    # ---- one request ---------------------------------------------------------------------
    def _handle(self, conn, method: str, url: str, headers: list[tuple[str, str]], rest: bytes) -> None:
        hmap = {k.lower(): v for k, v in headers}
        if hmap.get("upgrade", "").lower() == "websocket":
            ws = url.replace("http", "ws", 1)
            try:
                check_url(url, allowed_networks=self._allowed())
            except CaptureError as exc:
                self._refuse(ws, "GET", exc.code, exc.message)
            else:
                self._refuse(ws, "GET", "websocket_not_recorded",
                             "WebSocket connections are not relayed: the guarded client records HTTP exchanges only")
            self._answer(conn, 403, "Forbidden", b"WebSocket refused by the capture proxy\n",
                         [("Proxy-Status", "naql; error=http_request_denied")])
            return
        if hmap.get("sec-fetch-site", "").lower() == "none" and hmap.get("sec-fetch-mode", "").lower() != "navigate":
            # Fetch Metadata: site "none" outside a navigation is a request the browser makes for
            # itself (account checks, updates), not one a page made: not the page's evidence.
            self._refuse(url, method, "browser_internal", "a request of the browser itself, not of the page")
            self._answer(conn, 403, "Forbidden", b"not a page request\n",
                         [("Proxy-Status", "naql; error=http_request_denied")])
            return
        with self._lock:
            self.requests_seen += 1
            over = None
            if time.monotonic() >= self.budget.deadline:
                over = ("budget_time", "the capture's time budget is spent")
            elif self.requests_seen > self.budget.max_requests:
                over = ("budget_requests", f"more than {self.budget.max_requests} requests")
            elif self.bytes_kept >= self.budget.max_bytes:
                over = ("budget_bytes", f"more than {self.budget.max_bytes} bytes kept")
            remaining = self.budget.max_bytes - self.bytes_kept
            seq = self._seq
            self._seq += 1
            self._in_flight += 1
        try:
            if over:
                self._refuse(url, method, *over)
                self._answer(conn, 503, "Service Unavailable", f"{over[1]}\n".encode(),
                             [("Proxy-Status", "naql; error=proxy_internal_response")])
                return
            body = self._read_body(conn, headers, rest, max(remaining, 0))
            fwd = [(k, v) for k, v in headers if k.lower() not in _HOP_BY_HOP]
            with self._slots:
                try:
                    ex = self.fetcher(url, method=method, headers=fwd, body=body, max_body=max(remaining, 1))
                except CaptureError as exc:
                    self._refuse(url, method, exc.code, exc.message)
                    status = 403 if isinstance(exc, ForbiddenAddress) else 502
                    self._answer(conn, status, "Refused" if status == 403 else "Bad Gateway",
                                 f"{exc.code}: {exc.message}\n".encode(),
                                 [("Proxy-Status", f"naql; error={_PROXY_STATUS.get(exc.code, 'proxy_internal_error')}")])
                    return
            with self._lock:
                self.exchanges.append((seq, ex))
                self.bytes_kept += len(ex.request_bytes) + ex.response_length
            conn.sendall(ex.response_head)
            for piece in ex.body.chunks():  # the body from its spool, a piece at a time
                conn.sendall(piece)
        finally:
            with self._lock:
                self._in_flight -= 1
                self._last_activity = time.monotonic()
