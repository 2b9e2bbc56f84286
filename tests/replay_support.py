"""Support for the replay / Memento / snapshot-page tests: URLconf, capture at a chosen time."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from django.test import override_settings
from django.urls import include, path

import archive.capture.fetch
from archive.capture.capture import capture

# The replay URLs in front of the project's own, whether or not naql/urls.py includes them yet.
urlpatterns = [
    path("", include("archive.replay.urls")),
    path("", include("naql.urls")),
]
URLCONF = "tests.replay_support"

V1_AT = datetime(2021, 11, 27, 12, 0, 0, tzinfo=UTC)
V2_AT = datetime(2021, 11, 29, 9, 0, 0, tzinfo=UTC)


@contextmanager
def fetch_clock(when: datetime):
    """Make the fetcher's clock (the WARC-Date of what it records) read ``when``."""

    class _Clock(datetime):
        @classmethod
        def now(cls, tz=None):
            return when if tz is None else when.astimezone(tz)

    mp = pytest.MonkeyPatch()
    mp.setattr(archive.capture.fetch, "datetime", _Clock)
    try:
        yield
    finally:
        mp.undo()


def capture_at(proxy, url: str, when: datetime, *, version: int | None = None, requisites: bool = True):
    """Capture ``url`` through the corpus proxy as if it were ``when`` (optionally a version)."""
    if version is not None:
        proxy.set_version(url, version)
    with override_settings(NAQL_CAPTURE_PROXY=proxy.proxy_url), fetch_clock(when):
        return capture(url, requisites=requisites)


def write_warc(path, exchanges) -> None:
    """Write a WARC (gzip per record) of ``(url, when, raw_http_response_bytes)`` exchanges with
    warcio — as another tool would — for ``archive.store.ingest.import_file``."""
    import io

    from warcio.warcwriter import WARCWriter

    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        for url, when, block in exchanges:
            rec = writer.create_warc_record(
                url, "response", payload=io.BytesIO(block), length=len(block),
                warc_content_type="application/http; msgtype=response",
                warc_headers_dict={"WARC-Date": when.strftime("%Y-%m-%dT%H:%M:%SZ")},
            )
            writer.write_record(rec)


def import_exchanges(tmp_path, exchanges):
    """Import exchanges as a WARC made elsewhere; returns the new snapshots in order."""
    from archive.store.ingest import import_file

    path = tmp_path / f"in-{len(list(tmp_path.iterdir()))}.warc.gz"
    write_warc(path, exchanges)
    return import_file(path).snapshots


# --------------------------------------------------------------------------------------------
# pywb on loopback (interop test and bench/replay.py)
# --------------------------------------------------------------------------------------------
def pywb_bin():
    """Directory holding pywb's ``wayback`` and ``wb-manager``, or None.

    pywb pins ``redis<3`` (through fakeredis) and monkey-patches with gevent on import, which
    breaks Celery's ``redis>=5`` and the Django test process, so it lives in its own virtualenv:
    ``$NAQL_PYWB_BIN``, else ``<repo>/.venv-pywb/bin`` (``python -m venv .venv-pywb &&
    .venv-pywb/bin/pip install pywb``), else next to this interpreter."""
    import os
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    for d in (os.environ.get("NAQL_PYWB_BIN"), repo / ".venv-pywb" / "bin", Path(sys.executable).parent):
        if d and (Path(d) / "wayback").exists() and (Path(d) / "wb-manager").exists():
            return Path(d)
    return None


class PywbServer:
    """pywb's ``wayback`` serving the given WARC files as collection ``naql`` on 127.0.0.1."""

    def __init__(self, warcs, workdir, bin_dir=None, threads: int = 4, add_args=()):
        self.warcs = [str(w) for w in warcs]
        self.add_args = list(add_args)  # e.g. ["--unpack-wacz"]: WACZ files, indexed by their own CDXJ
        self.workdir = workdir
        self.bin = bin_dir or pywb_bin()
        self.threads = threads
        self.proc = None
        self.base = None

    def __enter__(self):
        import socket
        import subprocess
        import time

        env = {"PATH": "/usr/bin:/bin", "HOME": str(self.workdir)}
        subprocess.run([str(self.bin / "wb-manager"), "init", "naql"], cwd=self.workdir, check=True,
                       capture_output=True, env=env, timeout=60)
        subprocess.run([str(self.bin / "wb-manager"), "add", *self.add_args, "naql", *self.warcs], cwd=self.workdir, check=True,
                       capture_output=True, env=env, timeout=120)
        self._drop_non_http_index_lines()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.log = open(self.workdir / "wayback.log", "wb")  # noqa: SIM115 - closed in __exit__
        self.proc = subprocess.Popen([str(self.bin / "wayback"), "-p", str(port), "-b", "127.0.0.1",
                                      "-t", str(self.threads), "-d", str(self.workdir)],
                                     cwd=self.workdir, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        self.base = f"http://127.0.0.1:{port}/naql"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return self
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.1)
        self.__exit__(None, None, None)
        raise RuntimeError("pywb did not start; see " + str(self.workdir / "wayback.log"))

    def _drop_non_http_index_lines(self) -> None:
        """Keep only HTTP responses/revisits in pywb's index. pywb indexes Naql's per-capture
        ``metadata`` record too (same WARC-Target-URI and WARC-Date as the page) and would
        replay that JSON as the page at its exact timestamp."""
        import json

        for index in (self.workdir / "collections" / "naql" / "indexes").glob("*.cdxj"):
            keep = []
            for line in index.read_text("utf-8").splitlines():
                fields = json.loads(line.split(" ", 2)[2]) if line.count(" ") >= 2 else {}
                if "status" in fields:
                    keep.append(line)
            index.write_text("".join(x + "\n" for x in keep), "utf-8")

    def __exit__(self, *exc):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except Exception:  # noqa: BLE001
                self.proc.kill()
        self.log.close()

    def get(self, path: str):
        """(status, headers, body) of a GET to pywb, bypassing any socket monkey-patching."""
        import http.client
        from urllib.parse import urlsplit

        parts = urlsplit(self.base)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        try:
            # as a browser would: otherwise pywb undoes gzip for a client that did not ask for it
            conn.request("GET", parts.path + path, headers={"Accept-Encoding": "gzip, deflate"})
            resp = conn.getresponse()
            return resp.status, dict(resp.getheaders()), resp.read()
        finally:
            conn.close()
