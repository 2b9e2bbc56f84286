"""Offline verification of a WACZ package: needs the file only, nothing of Naql's database.

Checks, each reported under the name of the part it concerns:

1. ``zip`` — the container: every byte belongs to a local header, an entry's data, the central
   directory or its end record, in order and without gaps; each central-directory entry agrees
   with its local header on every shared field; attributes are the ones Naql writes (see
   archive.store.wacz); every entry's CRC-32 matches. A changed byte anywhere in the container's
   structure is named here; one inside a file is named by step 2.
2. each file listed in ``datapackage.json`` — present, of the listed size and SHA-256; no file
   present that is not listed (besides the two datapackage files).
3. ``datapackage-digest.json`` — its hash is the SHA-256 of datapackage.json.
4. ``signature`` — signedData.hash is that hash, signedData.created is datapackage.created, and the
   ECDSA signature verifies with the publicKey (WACZ Signing and Verification 0.1.0, anonymous
   form). The key is named by its fingerprint; with ``trusted_keys`` it must be one of them.
5. ``timestamp`` — the RFC 3161 timeSignature is a granted token over sha256(signature), signed by
   the first certificate of timestampCert, whose chain ends in its last certificate (or, with
   ``tsa_roots``, in one of those), the certificate is for time stamping, and the time is within
   10 minutes of ``created``. Without a timeSignature the package is reported untimestamped (not
   a failure: Naql says so when no TSA is configured).
6. ``archive/<name>`` — every WARC record's block and payload digests (warcio); the capture times
   of the pages come from these records.
7. ``indexes/…`` and ``pages/pages.jsonl`` — every CDXJ line points at a response or revisit record
   of its URL and timestamp, at its exact offset and length; every page is a capture in the package.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from archive.store.wacz import CREATE_SYSTEM, EXTERNAL_ATTR

MAX_TIMESTAMP_SKEW = timedelta(minutes=10)
CHUNK = 1 << 20


@dataclass
class Report:
    proven: list[str] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def fail(self, part: str, message: str) -> None:
        self.failures.append((part, message))

    def failed_parts(self) -> set[str]:
        return {p for p, _m in self.failures}


# --------------------------------------------------------------------------------------------
# 1. the container


def _check_zip(data_len: int, fh, report: Report) -> None:
    """Walk the zip structure by hand (zipfile trusts the central directory and skips the rest)."""
    def read_at(off, n):
        fh.seek(off)
        return fh.read(n)

    tail = read_at(max(0, data_len - 22), 22)
    if len(tail) < 22 or tail[:4] != b"PK\x05\x06":
        report.fail("zip", "no end-of-central-directory record at the end of the file (truncated, or trailing bytes)")
        return
    _sig, disk, cd_disk, n_disk, n_total, cd_size, cd_off, comment_len = struct.unpack("<4s4H2LH", tail)
    end_of_cd = data_len - 22
    if comment_len or disk or cd_disk or n_disk != n_total:
        report.fail("zip", "end-of-central-directory record altered (comment, disk numbers or counts)")
    if cd_off == 0xFFFFFFFF or n_total == 0xFFFF or cd_size == 0xFFFFFFFF:  # zip64
        loc = read_at(data_len - 22 - 20, 20)
        if loc[:4] != b"PK\x06\x07":
            report.fail("zip", "zip64 locator missing")
            return
        (z64_off,) = struct.unpack("<Q", loc[8:16])
        rec = read_at(z64_off, 56)
        if rec[:4] != b"PK\x06\x06":
            report.fail("zip", "zip64 end record missing")
            return
        n_total, cd_size, cd_off = struct.unpack("<QQQ", rec[32:56])
        end_of_cd = z64_off
    if cd_off + cd_size != end_of_cd:
        report.fail("zip", f"central directory at {cd_off}+{cd_size} does not end where its end record starts "
                           f"({end_of_cd}): bytes inserted, removed or altered")
        return
    cd = read_at(cd_off, cd_size)
    pos, expected_local = 0, 0
    for i in range(n_total):
        if cd[pos:pos + 4] != b"PK\x01\x02":
            report.fail("zip", f"central directory entry {i} is damaged")
            return
        (made_ver, made_sys, need, flags, method, mtime, mdate, crc, csize, usize, nlen, xlen, clen, dstart,
         iattr, eattr, loff) = struct.unpack("<BBHHHHHLLLHHHHHLL", cd[pos + 4:pos + 46])
        name_b = cd[pos + 46:pos + 46 + nlen]
        extra = cd[pos + 46 + nlen:pos + 46 + nlen + xlen]
        pos += 46 + nlen + xlen + clen
        name = name_b.decode("utf-8", "replace")
        if 0xFFFFFFFF in (csize, usize, loff):
            csize, usize, loff = _zip64_sizes(extra, csize, usize, loff)
        part = f"zip entry {name}"
        if made_sys != CREATE_SYSTEM or eattr != EXTERNAL_ATTR or iattr or dstart or clen or made_ver not in (need, 20):
            report.fail(part, "central directory attributes are not the ones Naql writes (altered)")
        if loff != expected_local:
            report.fail(part, f"local header expected at {expected_local}, central directory says {loff}")
            return
        lh = read_at(loff, 30)
        if lh[:4] != b"PK\x03\x04":
            report.fail(part, "local header damaged")
            return
        l_need, l_flags, l_method, l_mtime, l_mdate, l_crc, l_csize, l_usize, l_nlen, l_xlen = struct.unpack(
            "<HHHHHLLLHH", lh[4:30])
        l_name = read_at(loff + 30, l_nlen)
        l_extra = read_at(loff + 30 + l_nlen, l_xlen)
        if 0xFFFFFFFF in (l_csize, l_usize):
            l_usize, l_csize = struct.unpack("<QQ", l_extra[4:20]) if l_extra[:2] == b"\x01\x00" else (-1, -1)
        if (l_need, l_flags, l_method, l_mtime, l_mdate, l_crc, l_csize, l_usize, l_name) != \
                (need, flags, method, mtime, mdate, crc, csize, usize, name_b):
            report.fail(part, "local header and central directory disagree (altered)")
        if method != zipfile.ZIP_STORED or flags & 0x08:
            report.fail(part, "not stored the way Naql stores entries (compression or data descriptor)")
        data_at = loff + 30 + l_nlen + l_xlen
        c, left = 0, csize
        fh.seek(data_at)
        while left:
            chunk = fh.read(min(CHUNK, left))
            if not chunk:
                break
            c = zlib.crc32(chunk, c)
            left -= len(chunk)
        if left or c != crc:
            report.fail(part, "CRC-32 of the stored data does not match (content altered)")
        expected_local = data_at + csize
    if expected_local != cd_off:
        report.fail("zip", f"{cd_off - expected_local} unaccounted bytes between the last entry and the "
                           "central directory")
    if pos != cd_size:
        report.fail("zip", "central directory holds more than its entries")


def _zip64_sizes(extra: bytes, csize, usize, loff):
    i = 0
    while i + 4 <= len(extra):
        tag, size = struct.unpack("<HH", extra[i:i + 4])
        if tag == 1:
            vals = list(struct.unpack(f"<{size // 8}Q", extra[i + 4:i + 4 + size - size % 8]))
            if usize == 0xFFFFFFFF:
                usize = vals.pop(0)
            if csize == 0xFFFFFFFF:
                csize = vals.pop(0)
            if loff == 0xFFFFFFFF:
                loff = vals.pop(0)
        i += 4 + size
    return csize, usize, loff


# --------------------------------------------------------------------------------------------
# 2-6


def _hash_member(zf: zipfile.ZipFile, name: str) -> tuple[str, int]:
    h, n = hashlib.sha256(), 0
    with zf.open(name) as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            h.update(chunk)
            n += len(chunk)
    return "sha256:" + h.hexdigest(), n


def _parse_time(value: str) -> datetime | None:
    for fmt in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ"):
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=UTC)
        except (TypeError, ValueError):
            continue
    return None


def verify_package(path, *, trusted_keys: list[bytes] | None = None, tsa_roots: list[bytes] | None = None) -> Report:
    """Verify the WACZ at ``path``. ``trusted_keys``: PEM public keys the signature must be made
    with; ``tsa_roots``: PEM certificates the TSA chain must end in."""
    report = Report()
    with open(path, "rb") as raw:
        raw.seek(0, 2)
        size = raw.tell()
        _check_zip(size, raw, report)
        try:
            zf = zipfile.ZipFile(raw)
        except zipfile.BadZipFile as exc:
            report.fail("zip", f"not a readable zip file: {exc}")
            return report
        with zf:
            _verify_contents(zf, report, trusted_keys, tsa_roots)
    return report


def _verify_contents(zf, report: Report, trusted_keys, tsa_roots) -> None:
    names = set(zf.namelist())
    try:
        dp_bytes = zf.read("datapackage.json")
        dp = json.loads(dp_bytes)
    except (KeyError, ValueError, zipfile.BadZipFile) as exc:
        report.fail("datapackage.json", f"missing or not JSON ({exc})")
        return
    listed = {}
    for res in dp.get("resources", []):
        p = res.get("path")
        listed[p] = res
        if p not in names:
            report.fail(p, "listed in datapackage.json but missing from the package")
            continue
        try:
            h, n = _hash_member(zf, p)
        except (zipfile.BadZipFile, OSError) as exc:
            report.fail(p, f"unreadable ({exc})")
            continue
        if h != res.get("hash"):
            report.fail(p, f"SHA-256 is {h}, datapackage.json says {res.get('hash')} (altered or swapped)")
        elif n != res.get("bytes"):
            report.fail(p, f"{n} bytes, datapackage.json says {res.get('bytes')}")
    for extra in sorted(names - set(listed) - {"datapackage.json", "datapackage-digest.json"}):
        report.fail(extra, "present in the package but not listed in datapackage.json")
    if not report.failed_parts() & set(listed):
        report.proven.append(f"all {len(listed)} files match the SHA-256 listed in datapackage.json")
    dp_hash = "sha256:" + hashlib.sha256(dp_bytes).hexdigest()
    try:
        digest = json.loads(zf.read("datapackage-digest.json"))
    except (KeyError, ValueError, zipfile.BadZipFile) as exc:
        report.fail("datapackage-digest.json", f"missing or not JSON ({exc})")
        return
    if digest.get("hash") != dp_hash:
        report.fail("datapackage.json", f"SHA-256 is {dp_hash}, datapackage-digest.json says {digest.get('hash')}")
    else:
        report.proven.append(f"datapackage.json has the digest {dp_hash}")
    signed = digest.get("signedData")
    if not signed:
        report.fail("signature", "the package is not signed (no signedData in datapackage-digest.json)")
    else:
        _verify_signature(signed, dp_hash, dp, report, trusted_keys)
        _verify_timestamp(signed, report, tsa_roots)
    warcs = {p: _verify_warc(zf, p, report) for p in sorted(x for x in listed if x.startswith("archive/"))
             if p in names}
    if report.ok:  # cross-checks mean something once every file is the one that was signed
        _verify_index_and_pages(zf, listed, warcs, report)


def _verify_signature(signed: dict, dp_hash: str, dp: dict, report: Report, trusted_keys) -> None:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    from archive.store.signing import fingerprint

    if signed.get("hash") != dp_hash:
        report.fail("signature", f"signs the hash {signed.get('hash')}, not this datapackage.json ({dp_hash})")
        return
    if signed.get("created") != dp.get("created"):
        report.fail("signature", f"signed creation time {signed.get('created')} != datapackage created "
                                 f"{dp.get('created')}")
    try:
        der = base64.b64decode(signed["publicKey"], validate=True)
        key = serialization.load_der_public_key(der)
        sig = base64.b64decode(signed["signature"], validate=True)
        if not isinstance(key, ec.EllipticCurvePublicKey) or len(sig) != 64:
            raise ValueError("not an ECDSA P-256 key and raw r||s signature")
        key.verify(encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")),
                   signed["hash"].encode("ascii"), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        report.fail("signature", "the signature does not verify with the package's public key (altered)")
        return
    except (KeyError, ValueError, TypeError) as exc:
        report.fail("signature", f"signedData is malformed ({exc})")
        return
    fp = fingerprint(der)
    if trusted_keys is not None:
        trusted = {fingerprint(serialization.load_pem_public_key(k).public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)) for k in trusted_keys}
        if fp not in trusted:
            report.fail("signature", f"signed by key {fp}, which is not a trusted key")
            return
        report.proven.append(f"signed by the trusted key {fp} ({signed.get('software', '?')}) at {signed['created']}")
    else:
        report.proven.append(f"signed by key {fp} ({signed.get('software', '?')}) at {signed['created']}; "
                             "compare the key with the instance's /.well-known/naql-signing-key.pem")


def _verify_timestamp(signed: dict, report: Report, tsa_roots) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from rfc3161_client import VerificationError, VerifierBuilder, decode_timestamp_response

    if not signed.get("timeSignature"):
        report.notes.append("untimestamped: no RFC 3161 timestamp in the package (the instance had no "
                            "NAQL_TSA_URL); the signing time is the signer's word")
        return
    try:
        tsr = decode_timestamp_response(base64.b64decode(signed["timeSignature"], validate=True))
        chain = x509.load_pem_x509_certificates(signed["timestampCert"].encode("ascii"))
        roots = [x509.load_pem_x509_certificate(r) for r in tsa_roots] if tsa_roots else [chain[-1]]
        builder = VerifierBuilder().tsa_certificate(chain[0])
        for c in chain[1:-1]:
            builder = builder.add_intermediate_certificate(c)
        for r in roots:
            builder = builder.add_root_certificate(r)
        builder.build().verify_message(tsr, signed["signature"].encode("ascii"))
    except (VerificationError, ValueError, KeyError, TypeError) as exc:
        report.fail("timestamp", f"the RFC 3161 timestamp does not verify over the signature ({exc})")
        return
    gen = tsr.tst_info.gen_time
    gen = gen if gen.tzinfo else gen.replace(tzinfo=UTC)
    created = _parse_time(signed.get("created", ""))
    if created is None or abs(gen - created) > MAX_TIMESTAMP_SKEW:
        report.fail("timestamp", f"timestamp {gen:%Y-%m-%dT%H:%M:%SZ} is not within 10 minutes of the signed "
                                 f"creation time {signed.get('created')}")
        return
    root_fp = "sha256:" + chain[-1].fingerprint(hashes.SHA256()).hex()
    trust = "a trusted root" if tsa_roots else f"its own root {root_fp} (pass --tsa-root to require a known TSA)"
    cn = [a.value for a in chain[0].subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)]
    report.proven.append(f"timestamped by TSA \"{cn[0] if cn else '?'}\" ({chain[0].subject.rfc4514_string()}) at {gen:%Y-%m-%dT%H:%M:%SZ} "
                         f"(RFC 3161, chain to {trust})")


def _verify_warc(zf, name: str, report: Report) -> dict[int, tuple[int, str, str]]:
    """Check every record's digests; returns offset -> (length, WARC-Target-URI, WARC-Date) of the
    response and revisit records (what the index and pages must point at)."""
    from warcio.archiveiterator import ArchiveIterator
    from warcio.exceptions import ArchiveLoadFailed

    problems, offsets, found = [], [], {}
    try:
        with zf.open(name) as fh:
            it = ArchiveIterator(io.BufferedReader(fh, CHUNK), check_digests=True)
            for rec in it:
                rec.content_stream().read()
                offsets.append(it.get_record_offset())
                if rec.digest_checker.passed is False:
                    problems.extend(rec.digest_checker.problems)
                if rec.rec_type in ("response", "revisit"):
                    found[offsets[-1]] = (rec.rec_headers.get_header("WARC-Target-URI"),
                                          rec.rec_headers.get_header("WARC-Date"))
    except (ArchiveLoadFailed, OSError, EOFError, ValueError, zlib.error, zipfile.BadZipFile) as exc:
        report.fail(name, f"not a readable WARC ({exc})")
        return {}
    if problems:
        report.fail(name, "; ".join(problems[:5]))
        return {}
    ends = dict(zip(offsets, [*offsets[1:], zf.getinfo(name).file_size], strict=True))
    captures = sorted((d, u) for u, d in found.values())
    report.proven.append(f"{name}: {len(captures)} captures, every WARC record digest checks")
    for when, url in captures[:50]:
        report.proven.append(f"  captured at {when}: {url}")
    return {off: (ends[off] - off, u, d) for off, (u, d) in found.items()}


def _ts14(warc_date: str | None) -> str:
    return "".join(ch for ch in (warc_date or "") if ch.isdigit())[:14]


def _verify_index_and_pages(zf, listed: dict, warcs: dict[str, dict], report: Report) -> None:
    """Every CDXJ line points at a response/revisit record of its URL and time (offset and length
    exact), and every page of pages.jsonl is a capture in the package."""
    for p in sorted(x for x in listed if x.startswith("indexes/") and x.endswith((".cdx", ".cdxj"))):
        bad, n = [], 0
        for line in zf.read(p).decode("utf-8", "replace").splitlines():
            if not line.strip():
                continue
            n += 1
            try:
                _surt, ts, js = line.split(" ", 2)
                rec = json.loads(js)
                target = warcs.get(f"archive/{rec['filename']}", {}).get(int(rec["offset"]))
            except (ValueError, KeyError, TypeError):
                bad.append(f"line {n} unreadable")
                continue
            if target is None or target[0] != int(rec["length"]) or target[1] != rec.get("url") \
                    or _ts14(target[2]) != ts:
                bad.append(f"line {n} ({rec.get('url')} {ts}) does not point at that capture")
        if bad:
            report.fail(p, "; ".join(bad[:5]))
        else:
            report.proven.append(f"{p}: all {n} entries point at their records")
    captures = {(u, d) for recs in warcs.values() for _l, u, d in recs.values()}
    if "pages/pages.jsonl" in listed:
        missing = []
        for line in zf.read("pages/pages.jsonl").decode("utf-8", "replace").splitlines()[1:]:
            try:
                page = json.loads(line)
            except ValueError:
                missing.append("unreadable line")
                continue
            if (page.get("url"), page.get("ts")) not in captures:
                missing.append(f"{page.get('id')} {page.get('url')} {page.get('ts')}")
        if missing:
            report.fail("pages/pages.jsonl", "pages not captured in the package: " + "; ".join(missing[:5]))
