"""Signing WACZ packages: the instance key and the RFC 3161 timestamp (WACZ Signing and Verification 0.1.0).

Follows https://specs.webrecorder.net/wacz-auth/0.1.0/ as ``authsign`` and ``wacz-signing`` do,
without their certificate-authority step (Naql has no domain certificate of its own to lean on):

- the signature is the spec's *anonymous* form: ``signature`` = ECDSA P-256 / SHA-256 over the
  ASCII ``hash`` string (the sha256 of datapackage.json), raw r||s (IEEE P1363, as WebCrypto and
  ArchiveWeb.page write it), base64; ``publicKey`` = the DER SubjectPublicKeyInfo, base64. The key
  belongs to the instance: generated on first use at ``NAQL_SIGNING_KEY`` (under the data dir,
  mode 0600) or provided there, and published at ``/.well-known/naql-signing-key.pem`` so a
  reader can check that the key in a package is this instance's.
- the timestamp is the spec's domain-identity form of it: ``timeSignature`` = the RFC 3161
  TimeStampResp (base64 DER) from ``NAQL_TSA_URL`` over the ASCII ``signature`` string (sha256),
  ``timestampCert`` = the TSA's certificate chain, PEM, leaf first (the certificates in the reply,
  then those of ``NAQL_TSA_CERTS``, the chain the TSA publishes). Without a TSA configured the
  package is still signed and its ``signedData`` says ``"timestamp": "none"``.

Why by hand rather than through ``authsign``: authsign's signer is an ACME/Let's Encrypt web
service (FastAPI, uvicorn, a public domain) and its verifier needs a domain certificate; the
primitives here are ``cryptography`` and ``rfc3161-client``, and tests check the output against
the spec's verification steps and ``openssl ts -verify``.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from django.conf import settings

from archive.errors import PackageError

SPEC_VERSION = "0.1.0"
UNTIMESTAMPED = "none"


def _key_path() -> Path:
    return Path(settings.NAQL_SIGNING_KEY)


def instance_key() -> ec.EllipticCurvePrivateKey:
    """The instance's private key, generated (atomically, mode 0600) when absent."""
    path = _key_path()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)  # never replaces a key another process generated first
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise PackageError(f"{path}: the signing key must be an ECDSA P-256 private key")
    return key


def public_key_der(key=None) -> bytes:
    key = key or instance_key()
    return key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def public_key_pem() -> bytes:
    return instance_key().public_key().public_bytes(serialization.Encoding.PEM,
                                                    serialization.PublicFormat.SubjectPublicKeyInfo)


def fingerprint(spki_der: bytes) -> str:
    """``sha256:<hex>`` of a DER SubjectPublicKeyInfo: how keys are named to people."""
    return "sha256:" + hashlib.sha256(spki_der).hexdigest()


def signer_identity() -> str:
    """What the cache key knows of the signer: key fingerprint and TSA."""
    return f"{fingerprint(public_key_der())} tsa={settings.NAQL_TSA_URL or UNTIMESTAMPED}"


def sign_text(text: str, key=None) -> str:
    """ECDSA P-256/SHA-256 signature of ASCII ``text``, raw r||s, base64."""
    key = key or instance_key()
    der = key.sign(text.encode("ascii"), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return base64.b64encode(r.to_bytes(32, "big") + s.to_bytes(32, "big")).decode("ascii")


def sign_digest(hash_: str, created: str, *, key=None) -> dict:
    """The ``signedData`` of datapackage-digest.json for ``hash_`` (``sha256:<hex>``)."""
    from archive import software_versions

    key = key or instance_key()
    signature = sign_text(hash_, key)
    data = {"hash": hash_, "created": created, "software": f"Naql {software_versions()['naql']}",
            "version": SPEC_VERSION, "signature": signature,
            "publicKey": base64.b64encode(public_key_der(key)).decode("ascii")}
    if settings.NAQL_TSA_URL:
        tsr, chain = timestamp(signature.encode("ascii"))
        data["timeSignature"] = base64.b64encode(tsr).decode("ascii")
        data["timestampCert"] = chain
    else:
        data["timestamp"] = UNTIMESTAMPED
    return data


def _ask_tsa(url: str, message: bytes, *, cert_req: bool):
    import requests
    from rfc3161_client import HashAlgorithm, TimestampRequestBuilder, decode_timestamp_response

    req = (TimestampRequestBuilder().data(message).hash_algorithm(HashAlgorithm.SHA256)
           .cert_request(cert_request=cert_req).nonce(nonce=True).build())
    try:
        resp = requests.post(url, data=req.as_bytes(), timeout=settings.NAQL_TSA_TIMEOUT,
                             headers={"Content-Type": "application/timestamp-query"})
        resp.raise_for_status()
    except requests.RequestException as exc:
        raise PackageError(f"time-stamping authority {url} failed: {exc}") from exc
    return req, resp.content, decode_timestamp_response(resp.content)  # ValueError: unparseable


def timestamp(message: bytes, url: str | None = None) -> tuple[bytes, str]:
    """RFC 3161 timestamp of sha256(``message``) from the TSA at ``url`` (``NAQL_TSA_URL``).
    Returns (TimeStampResp DER, PEM chain of the TSA, leaf first). PackageError when the TSA
    cannot be reached or does not grant a timestamp over this message.

    The TSA is asked to embed its certificate (certReq). Some (OpenSSL's among them) embed several
    certificates in a SET that is not in DER order, which the strict parser refuses; then, when the
    TSA's chain is known (``NAQL_TSA_CERTS``), the request is repeated without certReq and the chain
    comes from that file alone."""
    from rfc3161_client import PKIStatus

    url = url or settings.NAQL_TSA_URL
    try:
        req, content, tsr = _ask_tsa(url, message, cert_req=True)
    except ValueError as exc:
        if not settings.NAQL_TSA_CERTS:
            raise PackageError(f"time-stamping authority {url}: unreadable reply ({exc}); "
                               "set NAQL_TSA_CERTS to its certificate chain to ask without certReq") from exc
        try:
            req, content, tsr = _ask_tsa(url, message, cert_req=False)
        except ValueError as exc2:
            raise PackageError(f"time-stamping authority {url}: unreadable reply ({exc2})") from exc2
    if PKIStatus(tsr.status) != PKIStatus.GRANTED:
        raise PackageError(f"time-stamping authority {url} refused: status {tsr.status} {tsr.status_string}")
    if tsr.tst_info.message_imprint.message != hashlib.sha256(message).digest():
        raise PackageError(f"time-stamping authority {url} stamped another message")
    if tsr.tst_info.nonce != req.nonce:
        raise PackageError(f"time-stamping authority {url} answered with another nonce")
    certs = [x509.load_der_x509_certificate(c) for c in tsr.signed_data.certificates]
    if settings.NAQL_TSA_CERTS:  # the TSA's published chain (leaf, intermediates, root)
        certs += [c for c in x509.load_pem_x509_certificates(Path(settings.NAQL_TSA_CERTS).read_bytes())
                  if c not in certs]
    chain = order_chain(certs, tsr.signed_data.signer_infos)
    if not chain:
        raise PackageError(f"time-stamping authority {url}: no certificate for its signature "
                           "(none embedded, none in NAQL_TSA_CERTS)")
    return content, "".join(c.public_bytes(serialization.Encoding.PEM).decode("ascii") for c in chain)


def order_chain(certs: list[x509.Certificate], signer_infos=()) -> list[x509.Certificate]:
    """Leaf (the signer's certificate) first, then each issuer."""
    leaf = None
    for si in signer_infos:
        leaf = next((c for c in certs if c.issuer == si.issuer and c.serial_number == si.serial_number), None)
    if leaf is None:
        issuers = {c.issuer for c in certs}
        leaf = next((c for c in certs if c.subject not in issuers or c.subject == c.issuer), None)
    chain, cur = [], leaf
    while cur is not None and cur not in chain:
        chain.append(cur)
        if cur.issuer == cur.subject:
            break
        cur = next((c for c in certs if c.subject == cur.issuer), None)
    return chain
