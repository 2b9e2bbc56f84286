"""A local RFC 3161 time-stamping authority for tests: `openssl ts -reply` behind a tiny HTTP server.

``TestTSA(dir).start()`` makes a CA and a TSA certificate (extendedKeyUsage timeStamping,
critical) with ``cryptography``, writes an ``openssl ts`` configuration (by default the reply
carries the TSA certificate only and the CA comes from ``NAQL_TSA_CERTS``, a TSA's published chain;
``embed_chain=True`` also embeds the CA, in the non-DER SET order openssl writes), and answers
``POST application/timestamp-query`` on 127.0.0.1 with what ``openssl ts -reply`` signs. Offline,
like a real TSA seen from Naql (Naql only speaks HTTP to it).
"""

from __future__ import annotations

import datetime as dt
import subprocess
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CONFIG = """
[ tsa ]
default_tsa = tsa_config1

[ tsa_config1 ]
dir = {dir}
serial = $dir/tsaserial
crypto_device = builtin
signer_cert = $dir/tsa.crt
{certs}signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.3.6.1.4.1.99999.1
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = no
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Naql test TSA")])


def _tsa_cert(label, key, ca, ca_key, now) -> x509.Certificate:
    return (x509.CertificateBuilder().subject_name(_name(f"{label} TSA")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
            .sign(ca_key, hashes.SHA256()))


def make_pki(d: Path, label: str = "Test", *, embed_chain: bool = False) -> None:
    now = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name(f"{label} Root CA")).issuer_name(_name(f"{label} Root CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now).not_valid_after(now + dt.timedelta(days=3650))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                       crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    for _ in range(100):  # embed_chain: make openssl's SET (signer first, then CA) out of DER order, always
        cert = _tsa_cert(label, key, ca, ca_key, now)
        if not embed_chain or cert.public_bytes(serialization.Encoding.DER) > ca.public_bytes(
                serialization.Encoding.DER):
            break
    pem = serialization.Encoding.PEM
    (d / "ca.crt").write_bytes(ca.public_bytes(pem))
    (d / "tsa.crt").write_bytes(cert.public_bytes(pem))
    (d / "tsa.key").write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()))
    (d / "tsaserial").write_text("01\n")
    (d / "chain.pem").write_bytes(cert.public_bytes(pem) + ca.public_bytes(pem))
    (d / "tsa.cnf").write_text(CONFIG.format(dir=d, certs="certs = $dir/ca.crt\n" if embed_chain else ""))


class TestTSA:
    __test__ = False  # not a pytest class

    def __init__(self, directory: Path | None = None, label: str = "Test", *, embed_chain: bool = False):
        self.dir = Path(directory or tempfile.mkdtemp(prefix="naql-tsa-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        make_pki(self.dir, label, embed_chain=embed_chain)
        self.requests = 0
        tsa = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server API
                query = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with tempfile.TemporaryDirectory() as tmp:
                    q, r = Path(tmp) / "q.tsq", Path(tmp) / "r.tsr"
                    q.write_bytes(query)
                    done = subprocess.run(["openssl", "ts", "-reply", "-config", str(tsa.dir / "tsa.cnf"),
                                           "-queryfile", str(q), "-out", str(r)], capture_output=True, timeout=30)
                    body = r.read_bytes() if done.returncode == 0 and r.exists() else b""
                tsa.requests += 1
                self.send_response(200 if body else 500)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/tsa"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def ca_pem(self) -> Path:
        return self.dir / "ca.crt"

    @property
    def chain_pem(self) -> Path:
        """The TSA certificate and its CA, as a TSA publishes them (for NAQL_TSA_CERTS)."""
        return self.dir / "chain.pem"

    def start(self) -> TestTSA:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
