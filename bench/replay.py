"""Replay benchmark: Naql's ``id_`` replay, rewritten replay and TimeGate against pywb serving
the same WARC, both on loopback in the same run.

    .venv/bin/python bench/replay.py [--requests 400] [--concurrency 4]

Set-up (all in a temporary NAQL_DATA_DIR, migrated on the spot): the Watan page, its stylesheet
and logo are written into a WARC as another tool would, imported with ``archive.store.ingest``, and
the WARC *Naql wrote* is handed to pywb (``wayback``, from ``$NAQL_PYWB_BIN`` or
``.venv-pywb/bin``; see tests/replay_support.py for why pywb has its own virtualenv). Naql runs
under ``--server gunicorn`` (default) or ``granian`` when installed (``pip install '.[server]'``;
``--workers 1 --threads 4`` by default, as pywb's gevent server is one process), else in a
threaded stdlib WSGI server. Every request opens a new connection on both sides; naql and pywb
alternate ``--rounds`` times per case and the medians are compared. Prints req/s, p50 and p99 per
case and Naql/pywb ratios (req/s ratio > 1 and latency ratio < 1 mean Naql is faster).
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import sys
import tempfile
import threading
import time
import types
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup_django(data: Path | None = None) -> Path:
    """Django on a fresh temporary NAQL_DATA_DIR (migrated), or on ``data`` as it is."""
    fresh = data is None
    data = data or Path(tempfile.mkdtemp(prefix="naql-bench-replay-"))
    os.environ["NAQL_DATA_DIR"] = str(data)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "naql.settings")
    import django
    from django.conf import settings

    django.setup()
    if fresh:
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)
    urls = types.ModuleType("bench_replay_urls")
    from django.urls import include, path

    urls.urlpatterns = [path("", include("archive.replay.urls")), path("", include("naql.urls"))]
    sys.modules["bench_replay_urls"] = urls
    settings.ROOT_URLCONF = "bench_replay_urls"
    settings.ALLOWED_HOSTS = ["*"]
    return data


def build_archive(data: Path):
    """Import the Watan page and its requisites; return (page snapshot, path of Naql's WARC)."""
    from archive.store.ingest import import_file
    from tests.helpers import corpus_bytes, corpus_url
    from tests.replay_support import write_warc

    when = datetime(2021, 11, 27, 12, 0, 0, tzinfo=UTC)
    items = [("watan/article.v1.html", "text/html; charset=UTF-8"), ("watan/style.css", "text/css"),
             ("watan/logo.png", "image/png")]
    exchanges = []
    for file, ctype in items:
        body = corpus_bytes(file)
        head = f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        exchanges.append((corpus_url(file), when, head + body))
    src = data / "source.warc.gz"
    write_warc(src, exchanges)
    result = import_file(src)
    from django.core.files.storage import storages

    page = next(s for s in result.snapshots if s.mime == "text/html")
    return page, storages["warcs"].path(result.warc_file.name)


_app = None


def naql_wsgi(environ, start_response):
    """WSGI entry for gunicorn (``bench.replay:naql_wsgi``): the app with the replay URLs."""
    global _app
    if _app is None:
        setup_django(Path(os.environ["NAQL_DATA_DIR"]))
        from django.core.wsgi import get_wsgi_application

        _app = get_wsgi_application()
    return _app(environ, start_response)


class AppServer:
    """Naql under a production WSGI server on loopback: gunicorn (gthread) or granian (Rust HTTP
    front, WSGI app in blocking threads); ``workers`` processes with ``threads`` threads each."""

    def __init__(self, data: Path, kind: str, workers: int, threads: int):
        self.data, self.kind, self.workers, self.threads = data, kind, workers, threads
        self.proc = None

    def command(self, port: int) -> list[str]:
        exe = str(Path(sys.executable).with_name(self.kind))
        if self.kind == "gunicorn":
            return [exe, "-w", str(self.workers), "-k", "gthread", "--threads", str(self.threads), "-b",
                    f"127.0.0.1:{port}", "--log-level", "warning", "bench.replay:naql_wsgi"]
        return [exe, "--interface", "wsgi", "--host", "127.0.0.1", "--port", str(port), "--workers",
                str(self.workers), "--blocking-threads", str(self.threads), "--log-level", "warning",
                "bench.replay:naql_wsgi"]

    def __enter__(self):
        import socket
        import subprocess

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env = {**os.environ, "NAQL_DATA_DIR": str(self.data), "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(self.command(port), cwd=ROOT, env=env)
        self.base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"{self.kind} did not start")

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def serve_naql():
    from socketserver import ThreadingMixIn
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    from django.core.wsgi import get_wsgi_application

    class Server(ThreadingMixIn, WSGIServer):
        daemon_threads = True
        request_queue_size = 128

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args):
            pass

    httpd = make_server("127.0.0.1", 0, get_wsgi_application(), server_class=Server, handler_class=Quiet)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_port}"


def _one(base: str, path: str, headers: dict) -> tuple[float, int, int]:
    from urllib.parse import urlsplit

    parts = urlsplit(base)
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request("GET", parts.path + path, headers=headers)
        resp = conn.getresponse()
        body = resp.read()
    finally:
        conn.close()
    return time.perf_counter() - t0, resp.status, len(body)


def load(base: str, path: str, *, n: int, concurrency: int, headers: dict | None = None) -> dict:
    headers = {"Accept-Encoding": "gzip", **(headers or {})}
    for _ in range(10):  # warm-up
        _one(base, path, headers)
    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(lambda _: _one(base, path, headers), range(n)))
    wall = time.perf_counter() - t0
    lat = sorted(r[0] for r in results)
    return {"rps": n / wall, "p50": statistics.median(lat) * 1000, "p99": lat[int(len(lat) * 0.99) - 1] * 1000,
            "status": sorted({r[1] for r in results}), "bytes": results[0][2]}


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def load_wrk(base: str, path: str, *, seconds: float, concurrency: int, headers: dict | None = None) -> dict:
    """The same measurement with ``wrk`` (C, one thread, keep-alive connections) as the client: the
    Python client above competes for the same two cores as the servers it measures, which blurs
    the ratios on a small machine; wrk costs the servers far less CPU."""
    import re
    import shutil
    import subprocess

    headers = {"Accept-Encoding": "gzip", **(headers or {})}
    cmd = [shutil.which("wrk") or "wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "--latency", "--timeout", "30s"]
    for k, v in headers.items():
        cmd += ["-H", f"{k}: {v}"]
    # warm-up, until the server answers: each of granian's workers loads Django on its first
    # request, which on a loaded machine can outlast a short run (it then reports 0 requests)
    for _ in range(30):
        warm = subprocess.run([*cmd[:3], "-d2s", *cmd[4:], base + path], capture_output=True, text=True, check=True)
        if re.search(r"^\s+[1-9]\d* requests in", warm.stdout, re.M):
            break
    out = subprocess.run([*cmd, base + path], capture_output=True, text=True, check=True).stdout
    lat = {m[1]: float(m[2]) * _UNITS[m[3]] for m in re.finditer(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)$", out, re.M)}
    if "50" not in lat or "99" not in lat:
        raise SystemExit(f"wrk measured no latency for {base + path}:\n{out}")
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)$", out, re.M)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1]), "p50": lat["50"], "p99": lat["99"],
            "status": [f"non-2xx/3xx: {bad[1]}" if bad else "2xx/3xx", *([errors[1]] if errors else [])],
            "bytes": None}


def in_process(data: Path, n: int) -> int:
    """ms per request of each case through the test client (anonymous, as the bench's clients)."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    page, _warc = build_archive(data)
    ts, url = page.timestamp, page.url
    client = Client()
    cases = [("id_ replay (Watan page)", f"/web/{ts}id_/{url}", {}),
             ("rewritten replay (Watan page)", f"/web/{ts}/{url}", {}),
             ("TimeGate (Accept-Datetime)", f"/web/{url}", {"HTTP_ACCEPT_DATETIME": "Sun, 28 Nov 2021 09:00:00 GMT"})]
    print(f"in-process, Django test client, {n} requests per batch, best of 5 batches")
    for label, path, headers in cases:
        client.get(path, HTTP_ACCEPT_ENCODING="gzip", **headers)  # warm-up (first connection, caches)
        with CaptureQueriesContext(connection) as queries:
            status = client.get(path, HTTP_ACCEPT_ENCODING="gzip", **headers).status_code
        n_queries = len(queries)  # now: every request starts by clearing the query log
        batches = []
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(n):
                client.get(path, HTTP_ACCEPT_ENCODING="gzip", **headers)
            batches.append((time.perf_counter() - t0) / n * 1000)
        print(f"  {label:32} {min(batches):6.2f} ms/request  (status {status}, {n_queries} SQL queries)")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=3, help="naql and pywb alternate this many times per case")
    ap.add_argument("--server", choices=["gunicorn", "granian", "wsgiref"], default="gunicorn")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--client", choices=["python", "wrk"], default="python",
                    help="load generator: Python threads, a new connection per request (default), or wrk "
                         "(Debian package; keep-alive, much less CPU taken from the servers)")
    ap.add_argument("--seconds", type=float, default=5.0, help="with --client wrk: seconds per case and round")
    ap.add_argument("--in-process", type=int, default=0, metavar="N",
                    help="instead: N requests per case through Django's test client in this process (no HTTP, "
                         "no pywb), best of 5 batches: Naql's own cost per request, less noisy on a shared machine")
    args = ap.parse_args()

    data = setup_django()
    if args.in_process:
        return in_process(data, args.in_process)
    from tests.replay_support import PywbServer, pywb_bin

    if pywb_bin() is None:
        print("pywb not found (set NAQL_PYWB_BIN or create .venv-pywb); cannot compare")
        return 2
    page, warc = build_archive(data)
    from contextlib import ExitStack

    stack = ExitStack()
    if args.server != "wsgiref" and Path(sys.executable).with_name(args.server).exists():
        naql = stack.enter_context(AppServer(data, args.server, args.workers, args.threads)).base
        server = f"{args.server} ({args.workers} process(es) × {args.threads} threads)"
    else:
        httpd, naql = serve_naql()
        stack.callback(httpd.shutdown)
        server = "stdlib wsgiref, threaded (install gunicorn or granian for a production server)"
    ts, url = page.timestamp, page.url
    accept = {"Accept-Datetime": "Sun, 28 Nov 2021 09:00:00 GMT"}
    cases = [
        ("id_ replay (Watan page)", f"/web/{ts}id_/{url}", f"/{ts}id_/{url}", {}),
        ("id_ replay (logo.png)", f"/web/{ts}id_/http://www.watanserb.com/wp-content/themes/watan/images/logo.png",
         f"/{ts}id_/http://www.watanserb.com/wp-content/themes/watan/images/logo.png", {}),
        ("rewritten replay (Watan page; pywb mp_)", f"/web/{ts}/{url}", f"/{ts}mp_/{url}", {}),
        ("TimeGate (Accept-Datetime)", f"/web/{url}", f"/{url}", accept),
    ]
    work = Path(tempfile.mkdtemp(prefix="naql-bench-pywb-"))
    print(f"naql: {server}; pywb: wayback (gevent), 1 process")
    if args.client == "wrk":
        print(f"client: wrk, 1 thread, {args.concurrency} keep-alive connections, {args.seconds:g} s per case and "
              f"round; {args.rounds} alternating rounds, medians")

        def measure(base, path, headers):
            return load_wrk(base, path, seconds=args.seconds, concurrency=args.concurrency, headers=headers)
    else:
        print(f"requests per case and round: {args.requests}, concurrency: {args.concurrency}, "
              f"new connection per request; {args.rounds} alternating rounds, medians")

        def measure(base, path, headers):
            return load(base, path, n=args.requests, concurrency=args.concurrency, headers=headers)
    print(f"{'case':44} {'server':6} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}  status")
    summary = []
    with stack, PywbServer([warc], work) as pywb:  # the servers stop whatever happens
        for label, ours, theirs, headers in cases:
            runs = {"naql": [], "pywb": []}
            for _ in range(args.rounds):  # alternate, so a burst of load on the machine hits both
                runs["naql"].append(measure(naql, ours, headers))
                runs["pywb"].append(measure(pywb.base, theirs, headers))
            med = {name: {k: statistics.median(r[k] for r in rs) for k in ("rps", "p50", "p99")}
                   for name, rs in runs.items()}
            for name in ("naql", "pywb"):
                r = med[name]
                print(f"{label:44} {name:6} {r['rps']:8.0f} {r['p50']:8.2f} {r['p99']:8.2f}  "
                      f"{runs[name][0]['status']}")
            a, b = med["naql"], med["pywb"]
            print(f"{'':44} {'ratio':6} {a['rps'] / b['rps']:8.2f} {a['p50'] / b['p50']:8.2f} "
                  f"{a['p99'] / b['p99']:8.2f}  (naql / pywb)")
            summary.append((label, a["rps"] / b["rps"]))
    print("\nsummary: req/s ratio naql / pywb (issue 19 goals: id_ >= 2.0, rewritten >= 1.5, TimeGate >= 2.0)")
    for label, ratio in summary:
        print(f"  {label}: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
