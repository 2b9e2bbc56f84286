"""Signed, timestamped WACZ packages verify offline; any changed byte, a swapped WARC or an edited
PROV file makes `verify_package` fail and name the part."""

from __future__ import annotations

import io
import json
import os
import random
import struct
import subprocess
import sys
import zipfile
from datetime import datetime
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from archive.capture.capture import capture
from archive.store import signing
from archive.store.verify import verify_package
from archive.store.wacz import _Zip
from tests.helpers import NGO_URL, WATAN_URL
from tests.tsa_server import TestTSA
from tests.wacz_support import export, wacz_validate

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def tsa(tmp_path_factory):
    server = TestTSA(tmp_path_factory.mktemp("tsa")).start()
    yield server
    server.stop()


@pytest.fixture
def signed_env(corpus_proxy, tsa, tmp_path):
    corpus_proxy.reset()
    with override_settings(NAQL_CAPTURE_PROXY=corpus_proxy.proxy_url, NAQL_TSA_URL=tsa.url, NAQL_TSA_CERTS=str(tsa.chain_pem),
                           NAQL_SIGNING_KEY=tmp_path / "key" / "naql.pem", NAQL_PACKAGE_DIR=tmp_path / "packages"):
        yield tsa
    corpus_proxy.reset()


def _verify(path, *args) -> tuple[bool, str]:
    out = io.StringIO()
    try:
        call_command("verify_package", str(path), *args, stdout=out)
        return True, out.getvalue()
    except CommandError as exc:
        return False, out.getvalue() + str(exc)


def _rewrite(src, dst, replace: dict[str, bytes]) -> None:
    """Write ``src``'s entries again, in order and in Naql's canonical container, with some replaced."""
    with zipfile.ZipFile(src) as zf:
        entries = [(n, replace.get(n, zf.read(n))) for n in zf.namelist()]
        created = json.loads(zf.read("datapackage.json"))["created"]
    with open(dst, "wb") as fh:
        z = _Zip(fh, datetime.fromisoformat(created.replace("Z", "+00:00")))
        for name, data in entries:
            z.write_bytes(name, data)
        z.close()


def test_signed_and_timestamped_package_verifies_and_says_what_was_proven(signed_env, tmp_path):
    snap = capture(WATAN_URL).final
    out = export(tmp_path / "p.wacz", "--snapshot", snap.guid)
    wacz_validate(out)
    ok, text = _verify(out)
    assert ok, text
    fp = signing.fingerprint(signing.public_key_der())
    assert f"signed by key {fp}" in text
    assert 'timestamped by TSA "Test TSA"' in text
    assert f"captured at {snap.captured_at:%Y-%m-%dT%H:%M:%SZ}: {snap.url}" in text
    assert signed_env.requests >= 1
    # pinning the instance's published key, and the TSA's root
    pem = tmp_path / "naql.pem"
    pem.write_bytes(signing.public_key_pem())
    ok, text = _verify(out, "--key", str(pem), "--tsa-root", str(signed_env.ca_pem))
    assert ok and "signed by the trusted key" in text and "a trusted root" in text, text


def _readme_recipe() -> str:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    start = readme.index("```sh\nwacz validate -f FILE.wacz")
    return readme[start + len("```sh\n"):readme.index("```", start + 5)]


def _run_recipe(tmp_path, package, key_pem, tsa_root) -> subprocess.CompletedProcess:
    script = (_readme_recipe().replace("FILE.wacz", str(package)).replace("TSA-ROOT.pem", str(tsa_root))
              .replace("naql-signing-key.pem", str(key_pem)))
    work = tmp_path / "recipe"
    work.mkdir(exist_ok=True)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    return subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=work, capture_output=True, text=True,
                          env=env, timeout=300)


def test_readme_recipe_with_standard_tools_verifies_a_package_and_refuses_another_key(signed_env, tmp_path):
    import shutil

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    missing = [t for t in ("jq", "unzip", "openssl", "sha256sum", "od", "base64") if shutil.which(t) is None]
    if missing:
        pytest.skip(f"the README recipe needs {', '.join(missing)} (.ci/run installs jq and unzip)")
    snap = capture(WATAN_URL, requisites=False).final
    out = export(tmp_path / "p.wacz", "--snapshot", snap.guid)
    key = tmp_path / "naql-key.pem"
    key.write_bytes(signing.public_key_pem())
    done = _run_recipe(tmp_path, out, key, signed_env.ca_pem)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Validation succeeded" in done.stdout and "Verification: OK" in done.stdout
    assert "Verified OK" in done.stdout and "Time stamp:" in done.stdout
    other = tmp_path / "other.pem"
    other.write_bytes(ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    done = _run_recipe(tmp_path, out, other, signed_env.ca_pem)
    assert done.returncode != 0 and "Verification failure" in done.stdout + done.stderr


def test_without_a_tsa_the_package_is_signed_and_says_it_is_untimestamped(signed_env, tmp_path):
    snap = capture(WATAN_URL, requisites=False).final
    with override_settings(NAQL_TSA_URL=""):
        out = export(tmp_path / "p.wacz", "--snapshot", snap.guid)
    with zipfile.ZipFile(out) as zf:
        signed = json.loads(zf.read("datapackage-digest.json"))["signedData"]
    assert signed["timestamp"] == "none" and "timeSignature" not in signed
    ok, text = _verify(out)
    assert ok and "NOTE  untimestamped" in text and "signed by key" in text, text
    wacz_validate(out)


def _regions(path) -> list[tuple[int, int, str]]:
    """(start, end, what) of every structural part and every entry's data in a package."""
    data = open(path, "rb").read()
    out, pos = [], 0
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        for zi in infos:
            hdr = data[zi.header_offset:zi.header_offset + 30]
            nlen, xlen = struct.unpack("<HH", hdr[26:30])
            start = zi.header_offset + 30 + nlen + xlen
            out.append((zi.header_offset, start, f"local header {zi.filename}"))
            out.append((start, start + zi.compress_size, zi.filename))
            pos = start + zi.compress_size
    out.append((pos, len(data), "central directory and end record"))
    return out


def test_flipping_any_one_byte_fails_verification_and_names_the_part(signed_env, tmp_path):
    snap = capture(NGO_URL, requisites=False).final
    out = export(tmp_path / "p.wacz", "--snapshot", snap.guid)
    assert _verify(out)[0]
    original = out.read_bytes()
    rng = random.Random(14)
    positions = []
    for start, end, what in _regions(out):  # three positions in every region, plus random ones
        positions += [(start, what), ((start + end) // 2, what), (end - 1, what)]
    positions += [(p, None) for p in rng.sample(range(len(original)), 60)]
    bad = tmp_path / "bad.wacz"
    for pos, what in positions:
        data = bytearray(original)
        data[pos] ^= 0x01
        bad.write_bytes(bytes(data))
        report = verify_package(bad)
        assert not report.ok, f"flipping byte {pos} ({what}) went unnoticed"
        if what in ("archive/data.warc.gz", "indexes/index.cdx", "pages/pages.jsonl"):
            assert what in report.failed_parts(), (pos, what, report.failures)
        elif what == "datapackage.json":
            assert "datapackage.json" in report.failed_parts(), (pos, report.failures)
        elif what == "datapackage-digest.json":
            assert "zip entry datapackage-digest.json" in report.failed_parts(), (pos, report.failures)
        elif what is not None:  # a local header, the central directory, the end record: the container
            assert any(p.startswith("zip") for p in report.failed_parts()), (pos, what, report.failures)


def test_a_warc_swapped_in_from_another_package_is_named(signed_env, tmp_path):
    a = export(tmp_path / "a.wacz", "--snapshot", capture(WATAN_URL, requisites=False).final.guid)
    b = export(tmp_path / "b.wacz", "--snapshot", capture(NGO_URL, requisites=False).final.guid)
    with zipfile.ZipFile(b) as zf:
        other = zf.read("archive/data.warc.gz")
    swapped = tmp_path / "swapped.wacz"
    _rewrite(a, swapped, {"archive/data.warc.gz": other})
    report = verify_package(swapped)
    assert report.failed_parts() == {"archive/data.warc.gz"}, report.failures
    ok, text = _verify(swapped)
    assert not ok and "FAIL  archive/data.warc.gz: SHA-256 is" in text


def test_re_signing_an_altered_package_with_another_key_fails_against_the_instance_key(signed_env, tmp_path):
    from cryptography.hazmat.primitives.asymmetric import ec

    a = export(tmp_path / "a.wacz", "--snapshot", capture(WATAN_URL, requisites=False).final.guid)
    with zipfile.ZipFile(a) as zf:
        pages = zf.read("pages/pages.jsonl").replace(b'"status": 200', b'"status": 201')
        dp = json.loads(zf.read("datapackage.json"))
    import hashlib

    for res in dp["resources"]:
        if res["path"] == "pages/pages.jsonl":
            res["hash"], res["bytes"] = "sha256:" + hashlib.sha256(pages).hexdigest(), len(pages)
    dp_bytes = json.dumps(dp, indent=2).encode()
    h = "sha256:" + hashlib.sha256(dp_bytes).hexdigest()
    with override_settings(NAQL_TSA_URL=""):
        forged = signing.sign_digest(h, dp["created"], key=ec.generate_private_key(ec.SECP256R1()))
    digest = json.dumps({"path": "datapackage.json", "hash": h, "signedData": forged}).encode()
    bad = tmp_path / "forged.wacz"
    _rewrite(a, bad, {"pages/pages.jsonl": pages, "datapackage.json": dp_bytes, "datapackage-digest.json": digest})
    assert verify_package(bad).ok  # self-consistent: only the key gives it away...
    pem = tmp_path / "naql.pem"
    pem.write_bytes(signing.public_key_pem())
    ok, text = _verify(bad, "--key", str(pem))
    assert not ok and "FAIL  signature: signed by key" in text and "not a trusted key" in text, text


def test_a_zip64_package_verifies_too(signed_env, tmp_path, monkeypatch):
    """Packages over 2 GiB are written with zip64 headers; forced here on a small one."""
    from archive.store import wacz

    monkeypatch.setattr(wacz, "ZIP64_LIMIT", 16)
    out = export(tmp_path / "z64.wacz", "--snapshot", capture(WATAN_URL, requisites=False).final.guid, "--no-cache")
    with zipfile.ZipFile(out) as zf:
        header = open(out, "rb").read()[zf.getinfo("archive/data.warc.gz").header_offset:][:30]
    assert struct.unpack("<L", header[18:22])[0] == 0xFFFFFFFF  # sizes in the zip64 extra field
    assert verify_package(out).ok, verify_package(out).failures
    wacz_validate(out)


def test_a_tsa_embedding_its_chain_out_of_der_order_still_timestamps(signed_env, tmp_path):
    """OpenSSL's TSA embeds two certificates in a SET the strict parser refuses: Naql asks again
    without certReq and takes the chain from NAQL_TSA_CERTS."""
    odd = TestTSA(tmp_path / "odd", label="Odd", embed_chain=True).start()
    try:
        with override_settings(NAQL_TSA_URL=odd.url, NAQL_TSA_CERTS=str(odd.chain_pem)):
            out = export(tmp_path / "p.wacz", "--snapshot", capture(WATAN_URL, requisites=False).final.guid)
        assert odd.requests == 2
        ok, text = _verify(out, "--tsa-root", str(odd.ca_pem))
        assert ok and 'timestamped by TSA "Odd TSA"' in text, text
        with override_settings(NAQL_TSA_URL=odd.url, NAQL_TSA_CERTS=""):
            with pytest.raises(CommandError, match="set NAQL_TSA_CERTS"):
                export(tmp_path / "q.wacz", "--snapshot", capture(WATAN_URL, requisites=False).final.guid,
                       "--no-cache")
    finally:
        odd.stop()


def _resealed(src, dst, replace: dict[str, bytes]) -> None:
    """Replace files, recompute datapackage.json and sign again with the instance key: a package whose
    hashes and signature are all consistent, so only the content checks can object."""
    import hashlib

    with zipfile.ZipFile(src) as zf:
        dp = json.loads(zf.read("datapackage.json"))
    for res in dp["resources"]:
        if res["path"] in replace:
            data = replace[res["path"]]
            res["hash"], res["bytes"] = "sha256:" + hashlib.sha256(data).hexdigest(), len(data)
    dp_bytes = json.dumps(dp, indent=2).encode()
    h = "sha256:" + hashlib.sha256(dp_bytes).hexdigest()
    with override_settings(NAQL_TSA_URL=""):
        signed = signing.sign_digest(h, dp["created"])
    digest = json.dumps({"path": "datapackage.json", "hash": h, "signedData": signed}).encode()
    _rewrite(src, dst, {**replace, "datapackage.json": dp_bytes, "datapackage-digest.json": digest})


def test_an_index_or_page_list_that_does_not_match_the_warc_is_named_even_when_signed(signed_env, tmp_path):
    page = capture(WATAN_URL).final
    out = export(tmp_path / "p.wacz", "--snapshot", page.guid)
    report = verify_package(out)
    assert report.ok and any("indexes/index.cdx: all" in p for p in report.proven)
    with zipfile.ZipFile(out) as zf:
        index = zf.read("indexes/index.cdx").decode().splitlines(keepends=True)
        pages = zf.read("pages/pages.jsonl").decode()
    surt, ts, js = index[0].split(" ", 2)
    rec = json.loads(js)
    rec["offset"] = str(int(rec["offset"]) + 1)
    bad_index = "".join([f"{surt} {ts} {json.dumps(rec)}\n", *index[1:]]).encode()
    _resealed(out, tmp_path / "i.wacz", {"indexes/index.cdx": bad_index})
    report = verify_package(tmp_path / "i.wacz")
    assert report.failed_parts() == {"indexes/index.cdx"}, report.failures
    ts_iso = f"{page.captured_at:%Y-%m-%dT%H:%M:%SZ}"
    moved = pages.replace(f'"ts": "{ts_iso}"', '"ts": "2021-11-26T08:00:00Z"').encode()
    assert moved != pages.encode()
    _resealed(out, tmp_path / "t.wacz", {"pages/pages.jsonl": moved})
    report = verify_package(tmp_path / "t.wacz")
    assert report.failed_parts() == {"pages/pages.jsonl"}, report.failures
