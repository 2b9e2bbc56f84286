"""Shared pytest fixtures.

Test servers (see tests/corpus_server.py); nothing here leaves 127.0.0.1:

* ``offline_dns`` (session): a fake ``socket.getaddrinfo`` — IP literals and ``localhost``
  resolve locally, names registered with ``offline_dns.set(host, [ips])`` resolve to those,
  every other name fails with ``EAI_NONAME``; ``offline_dns.queries`` logs lookups.
* ``fake_dns`` (function): the same object, with answers/queries cleared after the test.
* ``corpus_proxy`` (session): forward proxy serving the fixture web at its real URLs;
  ``.proxy_url``, ``.requests`` (``LoggedRequest`` list), ``.set_version(url, i)``, ``.reset()``,
  ``.tls_origin`` (the https origin reached by ``CONNECT secure.naql.test:443``, or None).
* ``clean_proxy`` (function): ``corpus_proxy`` after ``reset()``.
* ``local_origin`` (function): a plain loopback origin serving the lab paths
  (``.url(path)``, ``.requests``); fetch it with ``allowed_networks=["127.0.0.1/32"]``.
* ``tls_client_context`` (session): an SSLContext trusting the self-signed test certificate.
* ``_analyse_inline`` (session, autouse): ``NAQL_ANALYSE_INLINE=True``, so a capture's text is
  extracted right after its commit, as a worker would soon after; tests of the deferred
  analysis set it back to False (tests/test_analysis.py).
"""

from __future__ import annotations

import shutil
import socket
import ssl
import sys
from pathlib import Path

import pytest

if str(Path(__file__).resolve().parent.parent) not in sys.path:  # so `tests.corpus_server` imports
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.corpus_server import TLS_HOST, CorpusServer, FakeDNS, make_self_signed


@pytest.fixture(scope="session", autouse=True)
def _analyse_inline():
    from django.test import override_settings

    with override_settings(NAQL_ANALYSE_INLINE=True):
        yield


@pytest.fixture(scope="session")
def offline_dns():
    dns = FakeDNS()
    mp = pytest.MonkeyPatch()
    mp.setattr(socket, "getaddrinfo", dns.getaddrinfo)
    try:
        yield dns
    finally:
        mp.undo()


@pytest.fixture
def fake_dns(offline_dns):
    offline_dns.clear()
    yield offline_dns
    offline_dns.clear()


@pytest.fixture(scope="session")
def _test_certificate():
    made = make_self_signed(TLS_HOST)
    yield made
    if made:
        shutil.rmtree(made[0], ignore_errors=True)


@pytest.fixture(scope="session")
def tls_client_context(_test_certificate):
    if not _test_certificate:
        pytest.skip("openssl CLI not available to make a test certificate")
    ctx = ssl.create_default_context(cafile=_test_certificate[1])
    return ctx


@pytest.fixture(scope="session")
def corpus_proxy(offline_dns, _test_certificate):
    proxy = CorpusServer("proxy")
    tls_origin = None
    if _test_certificate:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(_test_certificate[1], _test_certificate[2])
        tls_origin = CorpusServer("origin", tls_context=ctx).start()
        proxy.tls_origin = tls_origin
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()
        if tls_origin is not None:
            tls_origin.stop()


@pytest.fixture
def clean_proxy(corpus_proxy):
    corpus_proxy.reset()
    yield corpus_proxy
    corpus_proxy.reset()


@pytest.fixture
def two_versions(clean_proxy):
    """The Watan article captured as v1 on 27 Nov and as v2 (stealth edit) on 29 Nov 2021."""
    from tests.helpers import WATAN_URL
    from tests.replay_support import V1_AT, V2_AT, capture_at

    v1 = capture_at(clean_proxy, WATAN_URL, V1_AT, version=0, requisites=False).final
    v2 = capture_at(clean_proxy, WATAN_URL, V2_AT, version=1, requisites=False).final
    assert v1.payload_sha256 != v2.payload_sha256
    return v1, v2


@pytest.fixture(scope="session")
def _local_origin_server(offline_dns):
    server = CorpusServer("origin").start()
    yield server
    server.stop()


@pytest.fixture
def local_origin(_local_origin_server):
    _local_origin_server.reset()
    yield _local_origin_server
    _local_origin_server.reset()


def pytest_sessionfinish(session, exitstatus):
    """Every WARC file the tests published must pass ``warcio check`` (one run over all of them)."""
    import subprocess
    import sys
    from pathlib import Path

    try:
        from django.conf import settings

        root = Path(settings.DATA_DIR) / "warcs"
    except Exception:  # noqa: BLE001 - Django not configured in this run
        return
    files = sorted(str(p) for p in root.rglob("*.warc.gz")) if root.exists() else []
    if not files:
        return
    exe = Path(sys.executable).with_name("warcio")
    result = subprocess.run([str(exe), "check", *files], capture_output=True, text=True, timeout=600)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter:
        reporter.ensure_newline()
    if result.returncode != 0:
        if reporter:
            reporter.write_line(f"warcio check FAILED on WARCs written by the tests:\n{result.stdout[-4000:]}", red=True)
        session.exitstatus = 1
    elif reporter:
        reporter.write_line(f"warcio check: all {len(files)} WARC files written by the tests pass")
