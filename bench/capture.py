#!/usr/bin/env python3
"""Capture throughput: Naql's full ``archive.capture.capture.capture()`` against a bare warcio baseline.

Usage: python bench/capture.py [--pages N] [--runs R] [--requisites] [--browser-pages M] [--memory]

Everything happens on 127.0.0.1 and in a temp directory; the script needs no running service:

* A fresh ``NAQL_DATA_DIR`` (SQLite DB migrated from scratch, WARC storage, filesystem broker),
  set in the environment before ``django.setup()``; ``DATABASE_URL``, ``CELERY_BROKER_URL``,
  ``NAQL_STORAGE`` are pinned so a developer's shell or ``.env`` cannot point the run elsewhere.
* Pages: ``tests.corpus_server.CorpusServer`` in forward-proxy mode, unmodified, but given a copy
  of tests/fixtures/corpus whose ``urls.tsv`` gains one row per bench page
  (``http://www.watanserb.com/bench/<run>/<i>/``), each a copy of the Watan article
  (article.v1.html, 17 KB, same headers) with a one-line comment making its payload unique.
  Why: the corpus server matches URLs exactly (a varied query string is a 404) and the lab host
  has no generic page endpoint; recapturing the real URL would make every page after the first a
  revisit record, which is not what a crawl of N pages costs. Every run uses its own URLs, so no
  page is a revisit; with ``--requisites`` the shared style.css and logo.png are fetched for
  every page and, from the second page on, stored as revisits (as a real site's shared assets
  would be); the table reports the revisit count.
* Naql runs with ``NAQL_CAPTURE_PROXY`` = that server and proxy-only DNS
  (``NAQL_CAPTURE_PROXY_LOCAL_DNS=false``). As a belt to those braces, ``socket.getaddrinfo`` is
  replaced by ``tests.corpus_server.FakeDNS`` for the whole process: no name is ever looked up.
* Baseline, same pages, same server: a ``requests.Session`` through the proxy inside
  ``warcio.capture_http``, appending request/response pairs to one gzipped WARC per run (no fsync,
  no DB, no parsing). With ``--requisites`` it GETs the same requisite URLs Naql fetched for the
  warm-up page (known up front: the baseline does not parse pages to find them).
* Both sides are warmed up (imports, parser, DB connection), then each run captures N new pages;
  the table gives pages/s per run, the median, and the ratio Naql/baseline.
* Browser column (``--browser-pages M``, default 5; 0 skips it; needs Chromium): M pages captured
  with ``capture_with_mode(mode="raw")`` and M pages with ``mode="browser"`` (Chromium behind the
  recording proxy: load, settle, scroll, screenshot, DOM), requisites on for both, the same
  article bytes under per-mode URLs (so neither side is a revisit of the other). Reported: pages/s
  and peak memory of the worker: the proportional set size (PSS: shared pages split among the
  processes sharing them, so Chromium's shared libraries count once) of this process plus every
  process it started (Chromium's browser, renderer, GPU and utility processes), summed and
  sampled every 20 ms from /proc during the run: the worker's whole footprint at its peak.
* ``--memory``: the tracemalloc peak of one ``capture()`` of a 10 MiB and a 40 MiB body
  (incompressible, served as media files), divided by the body size. The bodies come from the
  same forward proxy started in a child process: run in this process, the server's own copies of
  the body (file read whole, then joined to its head) were counted as the capture's (about 2× the
  body of the 3× reported before issue 19's streaming work).
* A last, separate pass (not counted in throughput) wraps capture's internals with timers
  (exclusive time, nesting subtracted; archive/ is not modified) to show where Naql's time goes:
  HTTP fetch, requisite discovery, WARC writing, WARC publishing (fsync, hash, link), extraction,
  DB (revisit lookup, inserts, commit) and the provenance follow-up enqueue (filesystem broker).
"""

from __future__ import annotations

# warcio.capture_http patches http.client.HTTPConnection at import: it must come before anything
# imports urllib3/requests (trafilatura does, via archive.extract.article).
import warcio.capture_http

# isort: split
import argparse
import functools
import logging
import os
import shutil
import socket
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.corpus_server import CORPUS_DIR, CorpusServer, FakeDNS  # noqa: E402

HOST = "www.watanserb.com"
ARTICLE = "watan/article.v1.html"
ARTICLE_HEADERS = 'Last-Modified: Sat, 27 Nov 2021 07:15:00 GMT; ETag: "6f1a2-5d1c0e3b"; Cache-Control: max-age=300'


def make_corpus(dest: Path, tags: dict[str, int]) -> dict[str, list[str]]:
    """Copy the fixture corpus to ``dest`` and add ``tags[tag]`` distinct article pages per tag."""
    shutil.copytree(CORPUS_DIR, dest)
    article = (CORPUS_DIR / ARTICLE).read_bytes()
    (dest / "bench").mkdir()
    n_files = max(tags.values())
    for i in range(n_files):
        (dest / "bench" / f"page-{i}.html").write_bytes(article + f"<!-- naql bench page {i} -->\n".encode())
    urls: dict[str, list[str]] = {}
    with open(dest / "urls.tsv", "a", encoding="utf-8") as fh:
        for tag, n in tags.items():
            urls[tag] = []
            for i in range(n):
                url = f"http://{HOST}/bench/{tag}/{i}/"
                fh.write(f"{url}\tbench/page-{i}.html\t200\ttext/html; charset=UTF-8\t{ARTICLE_HEADERS}\n")
                urls[tag].append(url)
    return urls


BIG_SIZES = (10 * 2**20, 40 * 2**20)


def add_big_bodies(corpus: Path, sizes) -> dict[int, str]:
    """Media files of the given sizes (incompressible bytes) served at their own URLs."""
    urls = {}
    with open(corpus / "urls.tsv", "a", encoding="utf-8") as fh:
        for size in sizes:
            name = f"bench/big-{size}.bin"
            (corpus / name).write_bytes(os.urandom(size))
            url = f"http://{HOST}/bench/big/{size}.bin"
            fh.write(f"{url}\t{name}\t200\tapplication/octet-stream\t-\n")
            urls[size] = url
    return urls


_SERVE = """
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from tests.corpus_server import CorpusServer
server = CorpusServer("proxy", Path(sys.argv[2])).start()
print(server.proxy_url, flush=True)
sys.stdin.read()  # until the bench closes our stdin
"""


def start_server_process(corpus: Path):
    """The same forward proxy in a child process: the server reads a file whole and writes it with
    its head, and in this process tracemalloc would count those copies as the capture's."""
    import subprocess

    proc = subprocess.Popen([sys.executable, "-c", _SERVE, str(ROOT), str(corpus)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    return proc, proc.stdout.readline().strip()


def capture_peak(capture, url: str, proxy_url: str) -> int:
    import tracemalloc

    from django.conf import settings

    saved, settings.NAQL_CAPTURE_PROXY = settings.NAQL_CAPTURE_PROXY, proxy_url
    tracemalloc.start()
    try:
        capture(url, requisites=False)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        settings.NAQL_CAPTURE_PROXY = saved


class Profiler:
    """Exclusive wall time per category for wrapped callables (a callee's time is its own)."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._stack: list[float] = []
        self._undo: list[tuple[object, str, object, bool]] = []

    def patch(self, owner: object, name: str, category: str) -> None:
        had_own = name in vars(owner)  # a module's or class's own attribute, or an instance's bound method
        original = getattr(owner, name)

        @functools.wraps(original)
        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            self._stack.append(0.0)
            try:
                return original(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - t0
                inner = self._stack.pop()
                self.totals[category] += elapsed - inner
                self.calls[category] += 1
                if self._stack:
                    self._stack[-1] += elapsed

        setattr(owner, name, timed)
        self._undo.append((owner, name, original, had_own))

    def restore(self) -> None:
        for owner, name, original, had_own in reversed(self._undo):
            if had_own:
                setattr(owner, name, original)
            else:
                delattr(owner, name)
        self._undo.clear()


def naql_run(capture, urls: list[str], requisites: bool) -> dict:
    t0 = time.perf_counter()
    snaps = revisits = 0
    for url in urls:
        res = capture(url, requisites=requisites)
        if res.final.status != 200:
            raise SystemExit(f"unexpected status {res.final.status} for {url}")
        snaps += len(res.snapshots)
        revisits += sum(1 for s in res.snapshots if s.record_type == "revisit")
    elapsed = time.perf_counter() - t0
    return {"seconds": elapsed, "pps": len(urls) / elapsed, "snapshots": snaps, "revisits": revisits}


def naql_batch_run(urls: list[str], requisites: bool, size: int) -> dict:
    """The same pages through :func:`archive.capture.batch.capture_batch`, ``size`` URLs per batch
    (one WARC file and one durable commit per batch, as ``manage.py capture URL...`` and the
    API's ``urls`` batches run them): every page is committed when its batch call returns."""
    from archive.capture.batch import BatchItem, capture_batch

    t0 = time.perf_counter()
    snaps = revisits = 0
    for i in range(0, len(urls), size):
        for item in capture_batch([BatchItem(u, requisites=requisites) for u in urls[i:i + size]]):
            if item.error is not None or item.result.final.status != 200:
                raise SystemExit(f"batch: {item.url} not archived: {item.error or item.result.final.status}")
            snaps += len(item.result.snapshots)
            revisits += sum(1 for s in item.result.snapshots if s.record_type == "revisit")
    elapsed = time.perf_counter() - t0
    return {"seconds": elapsed, "pps": len(urls) / elapsed, "snapshots": snaps, "revisits": revisits}


def command_run(urls: list[str], requisites: bool) -> dict:
    """The same pages through ``manage.py capture URL...`` (in this process): a job per URL
    (submitted, claimed, heart-beaten, succeeded), batches of NAQL_CAPTURE_BATCH_SIZE, the JSON
    line printed per URL; the follow-up queued (``--follow-up queue``), as a worker would run it."""
    import io

    from django.core.management import call_command

    out = io.StringIO()
    t0 = time.perf_counter()
    call_command("capture", *urls, "--json", "--follow-up", "queue",
                 *([] if requisites else ["--no-requisites"]), stdout=out)
    elapsed = time.perf_counter() - t0
    if out.getvalue().count('"ok": true') != len(urls):
        raise SystemExit("command: not every URL was archived")
    return {"seconds": elapsed, "pps": len(urls) / elapsed}


def baseline_run(proxy_url: str, urls: list[str], requisite_urls: list[str], warc_path: Path) -> dict:
    import requests

    session = requests.Session()
    session.trust_env = False  # no environment proxies / netrc: only the loopback proxy
    session.proxies = {"http": proxy_url, "https": proxy_url}
    fetched = 0
    t0 = time.perf_counter()
    with warcio.capture_http.capture_http(str(warc_path), gzip=True):
        for url in urls:
            for u in (url, *requisite_urls):
                r = session.get(u, timeout=30)
                if r.status_code != 200:
                    raise SystemExit(f"baseline: unexpected status {r.status_code} for {u}")
                _ = r.content
                fetched += 1
    elapsed = time.perf_counter() - t0
    session.close()
    return {"seconds": elapsed, "pps": len(urls) / elapsed, "exchanges": fetched, "warc_bytes": warc_path.stat().st_size}


def count_warc_records(path: Path) -> int:
    from warcio.archiveiterator import ArchiveIterator

    with open(path, "rb") as fh:
        return sum(1 for _ in ArchiveIterator(fh))


def _pss(pid: int) -> int | None:
    """Proportional set size in bytes (shared pages divided among their sharers), or None."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as fh:
            for line in fh:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _tree_rss_bytes(root: int) -> int:
    """Memory of process ``root`` and all its descendants, from /proc (Linux): the sum of their
    PSS (so pages Chromium's processes share are counted once), RSS where PSS is unreadable."""
    children: dict[int, list[int]] = defaultdict(list)
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry)
        children[int(fields[1])].append(pid)  # field 4: ppid (after "pid (comm)")
        rss[pid] = int(fields[21]) * page  # field 24: rss in pages
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        pss = _pss(pid)
        total += pss if pss is not None else rss.get(pid, 0)
        todo.extend(children.get(pid, ()))
    return total


class PeakMemory:
    """Peak of :func:`_tree_rss_bytes` for this process, sampled in a thread while in the block."""

    def __init__(self, interval: float = 0.02):
        import threading

        self.interval, self.peak, self._stop = interval, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _tree_rss_bytes(os.getpid()))
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _tree_rss_bytes(os.getpid()))


def browser_column(urls: dict[str, list[str]]) -> list[tuple[str, float, float, int]]:
    """(mode, pages/s, peak MiB, refused requests) for raw and browser mode on the same pages."""
    from archive.capture.browser_capture import capture_with_mode

    rows = []
    for mode in ("raw", "browser"):
        refused = 0
        with PeakMemory() as mem:
            t0 = time.perf_counter()
            for url in urls[f"mode-{mode}"]:
                res = capture_with_mode(url, mode=mode, requisites=True)
                if res.final.status != 200:
                    raise SystemExit(f"{mode}: unexpected status {res.final.status} for {url}")
                refused += len(res.requisite_errors)
            elapsed = time.perf_counter() - t0
        rows.append((mode, len(urls[f"mode-{mode}"]) / elapsed, mem.peak / 2**20, refused))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pages", type=int, default=100, help="pages per run (default 100)")
    ap.add_argument("--runs", type=int, default=3, help="timed runs per side (default 3; median reported)")
    ap.add_argument("--warmup", type=int, default=5, help="untimed warm-up pages per side (default 5)")
    ap.add_argument("--requisites", action="store_true", help="also capture page requisites (CSS, image)")
    ap.add_argument("--keep", action="store_true", help="keep the temp directory and print its path")
    ap.add_argument("--browser-pages", type=int, default=5,
                    help="pages per mode for the raw-vs-browser column (default 5; 0: skip; needs Chromium)")
    ap.add_argument("--memory", action="store_true",
                    help="also measure the peak memory of capturing 10 MB and 40 MB bodies")
    ap.add_argument("--batch", type=int, default=None,
                    help="URLs per batch for the capture_batch row (default NAQL_CAPTURE_BATCH_SIZE; 0: skip the row)")
    args = ap.parse_args(argv)
    if args.pages < 1 or args.runs < 1 or args.warmup < 1:
        ap.error("--pages, --runs and --warmup must be at least 1")

    # No DNS lookups from this process, whatever any library tries.
    socket.getaddrinfo = FakeDNS().getaddrinfo

    tmp = Path(tempfile.mkdtemp(prefix="naql-bench-"))
    tags = {"warm": args.warmup, **{f"r{k}": args.pages for k in range(args.runs)},
            **{f"b{k}": args.pages for k in range(args.runs)}, **{f"c{k}": args.pages for k in range(args.runs)},
            "profile": args.pages}
    if args.browser_pages > 0:
        tags.update({"mode-raw": args.browser_pages, "mode-browser": args.browser_pages})
    urls = make_corpus(tmp / "corpus", tags)
    big_urls = add_big_bodies(tmp / "corpus", BIG_SIZES) if args.memory else {}
    server = CorpusServer("proxy", tmp / "corpus").start()
    try:
        data_dir = tmp / "data"
        os.environ.update({
            "DJANGO_SETTINGS_MODULE": "naql.settings",
            "NAQL_DATA_DIR": str(data_dir),
            "NAQL_TMP_DIR": str(data_dir / "tmp"),
            "DATABASE_URL": f"sqlite:///{data_dir / 'naql.sqlite3'}",
            "CELERY_BROKER_URL": "",  # embedded filesystem broker under NAQL_DATA_DIR
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "NAQL_STORAGE": "file",
            "NAQL_CAPTURE_PROXY": server.proxy_url,
            "NAQL_CAPTURE_PROXY_LOCAL_DNS": "false",
            "NAQL_CAPTURE_ALLOWED_NETWORKS": "",
            "NAQL_LOG_LEVEL": "WARNING",
        })
        import django

        django.setup()
        # kombu notes that the filesystem transport has no host ("Reverting to default 'localhost'");
        # nothing connects anywhere, the broker is a folder under NAQL_DATA_DIR.
        logging.getLogger("kombu.connection").setLevel(logging.ERROR)
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)

        import archive.capture.capture as cap
        from archive.signals import snapshot_captured
        from archive.store.warcstore import WarcBuilder

        # warm-up (imports, lxml/trafilatura, DB connection, first WARC shard directories)
        warm = [cap.capture(u, requisites=args.requisites) for u in urls["warm"]]
        requisite_urls = [s.url for s in warm[0].snapshots[1:]] if args.requisites else []
        baseline_run(server.proxy_url, urls["warm"], requisite_urls, tmp / "base-warm.warc.gz")

        from django.conf import settings

        batch_size = settings.NAQL_CAPTURE_BATCH_SIZE if args.batch is None else args.batch
        naql, batched, commanded, base = [], [], [], []
        for k in range(args.runs):  # interleaved, so drift on the machine hits both sides alike
            naql.append(naql_run(cap.capture, urls[f"r{k}"], args.requisites))
            if batch_size > 0:
                batched.append(naql_batch_run(urls[f"b{k}"], args.requisites, batch_size))
                commanded.append(command_run(urls[f"c{k}"], args.requisites))
            base.append(baseline_run(server.proxy_url, urls[f"r{k}"], requisite_urls, tmp / f"base-r{k}.warc.gz"))

        # profiled pass: where the time goes inside capture()
        prof = Profiler()
        prof.patch(cap, "_fetch", "fetch (HTTP exchange)")
        prof.patch(cap, "fetch_requisites", "requisite discovery (parse HTML/CSS)")
        prof.patch(cap, "_write_exchange", "WARC write (records, digests)")
        prof.patch(WarcBuilder, "write_record", "WARC write (records, digests)")
        prof.patch(WarcBuilder, "write_warcinfo", "WARC write (records, digests)")
        prof.patch(WarcBuilder, "publish", "WARC publish (fsync, sha256, link)")
        if hasattr(cap, "apply_extraction"):  # before issue 19: extraction inside capture()
            prof.patch(cap, "apply_extraction", "extraction (charset, text, metadata)")
        else:  # commit first, derive later: capture() only queues the analysis
            import archive.analysis

            prof.patch(archive.analysis, "schedule", "analysis enqueue (extraction deferred)")
        prof.patch(cap.RevisitIndex, "look_up", "DB (revisit lookup, rows, commit)")
        prof.patch(cap, "_index", "DB (revisit lookup, rows, commit)")
        prof.patch(snapshot_captured, "send", "provenance follow-up enqueue")
        prof.patch(cap, "capture", "other (guard, metadata JSON, glue)")
        # fsyncs (WARC file, its directory, new shard directories) and DB queries, counted inside
        # the categories above: the fsyncs are the durability floor the baseline does not pay
        fsyncs = {"calls": 0, "seconds": 0.0}
        real_fsync = os.fsync

        def counted_fsync(fd):
            t0 = time.perf_counter()
            try:
                return real_fsync(fd)
            finally:
                fsyncs["calls"] += 1
                fsyncs["seconds"] += time.perf_counter() - t0

        from django.db import connections
        from django.test.utils import CaptureQueriesContext

        commits = {"calls": 0, "seconds": 0.0}  # SQLite's own fsync of the WAL happens in COMMIT
        connection = connections["default"]
        real_commit = type(connection)._commit

        def timed_commit(self):
            t0 = time.perf_counter()
            try:
                return real_commit(self)
            finally:
                commits["calls"] += 1
                commits["seconds"] += time.perf_counter() - t0

        os.fsync = counted_fsync
        type(connection)._commit = timed_commit
        try:
            with CaptureQueriesContext(connection) as queries:
                prof_run = naql_run(cap.capture, urls["profile"], args.requisites)
        finally:
            os.fsync = real_fsync
            type(connection)._commit = real_commit
            prof.restore()

        # report
        n_naql = [r["pps"] for r in naql]
        n_base = [r["pps"] for r in base]
        med_naql, med_base = statistics.median(n_naql), statistics.median(n_base)
        w = 30
        print(f"\nNaql capture benchmark: {args.pages} pages/run x {args.runs} runs, "
              f"requisites={'on' if args.requisites else 'off'}, warm-up {args.warmup} pages each side")
        print(f"page: Watan article copy, {len((CORPUS_DIR / ARTICLE).read_bytes()) / 1024:.1f} KiB, "
              f"via loopback forward proxy {server.proxy_url}; Python {sys.version.split()[0]}\n")
        head = "".join(f"{'run ' + str(k + 1):>10}" for k in range(args.runs))
        print(f"{'pages/s':<{w}}{head}{'median':>10}")
        print(f"{'Naql capture()':<{w}}" + "".join(f"{x:>10.1f}" for x in n_naql) + f"{med_naql:>10.1f}")
        print(f"{'baseline requests+warcio':<{w}}" + "".join(f"{x:>10.1f}" for x in n_base) + f"{med_base:>10.1f}")
        print(f"{'ratio Naql/baseline':<{w}}" + "".join(f"{a / b:>10.2f}" for a, b in zip(n_naql, n_base, strict=True))
              + f"{med_naql / med_base:>10.2f}")
        if batched:
            n_batch = [r["pps"] for r in batched]
            med_batch = statistics.median(n_batch)
            label = f"Naql capture_batch({batch_size})"
            print(f"{label:<{w}}" + "".join(f"{x:>10.1f}" for x in n_batch) + f"{med_batch:>10.1f}")
            print(f"{'ratio batch/baseline':<{w}}"
                  + "".join(f"{a / b:>10.2f}" for a, b in zip(n_batch, n_base, strict=True))
                  + f"{med_batch / med_base:>10.2f}")
            n_cmd = [r["pps"] for r in commanded]
            med_cmd = statistics.median(n_cmd)
            print(f"{'manage.py capture URL...':<{w}}" + "".join(f"{x:>10.1f}" for x in n_cmd) + f"{med_cmd:>10.1f}")
            print(f"{'ratio command/baseline':<{w}}"
                  + "".join(f"{a / b:>10.2f}" for a, b in zip(n_cmd, n_base, strict=True))
                  + f"{med_cmd / med_base:>10.2f}")
        print(f"{'ms/page Naql':<{w}}" + "".join(f"{1000 / x:>10.1f}" for x in n_naql) + f"{1000 / med_naql:>10.1f}")
        print(f"{'ms/page baseline':<{w}}" + "".join(f"{1000 / x:>10.1f}" for x in n_base) + f"{1000 / med_base:>10.1f}")

        print("(ratio row, median column: median Naql / median baseline)")

        r0, b0 = naql[0], base[0]
        base_records = count_warc_records(tmp / "base-r0.warc.gz")
        print(f"\nper run: Naql {r0['snapshots']} snapshots ({r0['revisits']} revisit records), "
              f"{args.pages} WARC files + DB rows; baseline {b0['exchanges']} exchanges, "
              f"1 WARC ({base_records} records, {b0['warc_bytes'] / 1024:.0f} KiB)")

        total = prof_run["seconds"]
        print(f"\nwhere Naql's time goes (separate profiled pass, {args.pages} pages, "
              f"{prof_run['pps']:.1f} pages/s with timers):")
        print(f"{'phase':<40}{'ms/page':>10}{'share':>9}")
        accounted = 0.0
        for cat, secs in sorted(prof.totals.items(), key=lambda kv: -kv[1]):
            accounted += secs
            print(f"{cat:<40}{1000 * secs / args.pages:>10.2f}{100 * secs / total:>8.1f}%")
        rest = total - accounted
        print(f"{'(loop, outside capture())':<40}{1000 * rest / args.pages:>10.2f}{100 * rest / total:>8.1f}%")
        print(f"{'total':<40}{1000 * total / args.pages:>10.2f}{100.0:>8.1f}%")
        fs_ms = 1000 * fsyncs["seconds"] / args.pages
        print(f"of which fsync: {fsyncs['calls'] / args.pages:.2f} calls/page, {fs_ms:.2f} ms/page "
              f"({100 * fsyncs['seconds'] / total:.1f}%); DB queries: "
              f"{len(queries.captured_queries) / args.pages:.1f}/page (BEGIN and COMMIT included)")
        commit_ms = 1000 * commits["seconds"] / args.pages
        print(f"DB commits: {commits['calls'] / args.pages:.2f}/page, {commit_ms:.2f} ms/page (the capture's "
              f"commit fsyncs SQLite's WAL)")
        base_ms = 1000 / med_base
        print(f"durability floor: the baseline's {base_ms:.2f} ms/page plus these fsyncs and commits alone "
              f"would give a ratio of {base_ms / (base_ms + fs_ms + commit_ms):.2f}")

        if args.browser_pages > 0:
            from archive.capture.browser import browser_missing_reason

            reason = browser_missing_reason()
            if reason:
                print(f"\nbrowser column skipped: {reason}")
            else:
                rows = browser_column(urls)
                print(f"\nraw vs browser mode, same article, {args.browser_pages} pages each, requisites on "
                      f"(one worker: this process and every process it starts):")
                print(f"{'mode':<12}{'pages/s':>10}{'ms/page':>10}{'peak MiB':>10}{'refused':>9}")
                for mode, pps, mib, refused in rows:
                    print(f"{mode:<12}{pps:>10.2f}{1000 / pps:>10.0f}{mib:>10.0f}{refused:>9}")
                raw_pps, browser_pps = rows[0][1], rows[1][1]
                print(f"{'ratio browser/raw':<12}{browser_pps / raw_pps:>10.3f}{raw_pps / browser_pps:>10.1f}x"
                      f"{rows[1][2] / rows[0][2]:>9.1f}x")
        if big_urls:
            print("\npeak Python memory of one capture (tracemalloc; the server in a child process, so not "
                  "counted) ÷ body size (issue 19 goal: flat)")
            proc, big_proxy = start_server_process(tmp / "corpus")
            try:
                for size, url in big_urls.items():
                    peak = capture_peak(cap.capture, url, big_proxy)
                    print(f"  {size / 2**20:>4.0f} MiB body: peak {peak / 2**20:7.1f} MiB, ×{peak / size:.2f} the body")
            finally:
                proc.stdin.close()
                proc.wait(timeout=30)
        if args.keep:
            print(f"\nkept: {tmp}")
    finally:
        server.stop()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
