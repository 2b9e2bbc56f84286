"""Import and verify benchmark: ``import_warc`` against ``warcio index`` on the same file, and
``verify`` against ``sha256sum`` on the same stored files, as ratios from one run.

    .venv/bin/python bench/import_verify.py [--mb 200] [--runs 3] [--small 200] [--analysis]

Set-up, in a temporary NAQL_DATA_DIR (migrated SQLite, file storage, filesystem broker): a WARC of
``--mb`` megabytes is written with warcio's own writer (one gzip member per record, as pywb,
warcprox and Browsertrix write them): HTML responses of 8-120 KB of varied words (compressing about
3:1 like real pages), a request record for each, and every tenth page a revisit.

Each run, in child processes so memory is measured per process:
* ``warcio index FILE > /dev/null`` (the anchor: parsing every record, reading every byte);
* ``manage.py import_warc --defer-analysis FILE`` (``call_command``, its listing of every snapshot
  written to ``/dev/null``) in a fresh database: bytes checked, copied, fsynced, published and
  indexed; extraction is derived data and deferred (``--analysis`` also times it inline);
  the child's peak RSS is printed, and once more for an import of a quarter of the file, to show
  memory flat in file size;
* ``manage.py verify`` (``call_command("verify")`` timed inside the child, Django start-up excluded;
  its per-file lines go to /dev/null) against ``sha256sum`` over the same stored files; then the same
  over ``--small`` per-capture-sized files (one ``sha256sum`` invocation given all of them), with
  ``--pg URL`` also with the index in a fresh PostgreSQL database on that server (created and dropped).
  With ``--before CHECKOUT`` every verify is also timed with that checkout, alternated with this one's
  (small files: its own data directory and database, the same files imported into each).

Prints MB/s per side and the ratios (higher is better for Naql; 1.0 means as fast as the anchor).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
WORDS = ("archive evidence capture replay record digest payload memento revisit lluvia costa puerto informe "
         "anual comunicado gobierno fuente cita texto enlace página noticia rapport source citation nouvelle "
         "journal article version date title author").split()


def make_warc(path: Path, megabytes: float, seed: int = 7) -> int:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    rnd = random.Random(seed)
    target = int(megabytes * 1_000_000)
    n = 0
    with open(path, "wb") as fh:
        w = WARCWriter(fh, gzip=True)
        while fh.tell() < target:
            size = rnd.randint(8_000, 120_000)
            words = []
            total = 0
            while total < size:
                word = rnd.choice(WORDS) + (str(rnd.randint(0, 99999)) if rnd.random() < 0.3 else "")
                words.append(word)
                total += len(word) + 1
            body = (f"<!doctype html><html><head><title>Página {n}</title></head><body><p>"
                    + " ".join(words) + "</p></body></html>").encode()
            url = f"https://site{n % 50}.example.org/articulo/{n}"
            http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8"),
                                               ("Content-Length", str(len(body)))], protocol="HTTP/1.1")
            rec = w.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=http)
            w.write_record(rec)
            req = StatusAndHeaders(f"GET /articulo/{n} HTTP/1.1", [("Host", f"site{n % 50}.example.org")],
                                   is_http_request=True)
            w.write_record(w.create_warc_record(url, "request", http_headers=req))
            if n % 10 == 0:
                digest = rec.rec_headers.get_header("WARC-Payload-Digest")
                rv = w.create_revisit_record(url, digest, url, rec.rec_headers.get_header("WARC-Date"),
                                             http_headers=http)
                w.write_record(rv)
            n += 1
    return n


CHILD = r"""
import json, os, sys, time
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "naql.settings")
sys.path.insert(0, os.environ["NAQL_ROOT"])
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0, interactive=False)
mode, args = sys.argv[1], sys.argv[2:]
out = {}
if mode == "import":  # the command as a user runs it, its listing of every snapshot written to /dev/null
    from archive.models import Snapshot
    defer = [] if os.environ.get("BENCH_ANALYSE") == "1" else ["--defer-analysis"]
    t, c = time.perf_counter(), time.process_time()
    with open(os.devnull, "w") as devnull:
        call_command("import_warc", *defer, *args, stdout=devnull)
    out["seconds"], out["cpu"] = time.perf_counter() - t, time.process_time() - c
    out["snapshots"] = Snapshot.objects.count()
elif mode == "verify":
    from django.core.management.base import CommandError
    from archive.models import WarcFile
    with open(os.devnull, "w") as null:
        t, c = time.perf_counter(), time.process_time()
        try:
            call_command("verify", stdout=null, stderr=null)
            out["ok"] = True
        except CommandError:
            out["ok"] = False
        out["seconds"], out["cpu_seconds"] = time.perf_counter() - t, time.process_time() - c
    out["files"] = [w.name for w in WarcFile.objects.all()]
# VmHWM, not ru_maxrss: the latter survives exec on Linux and would include the parent's size
out["maxrss_mib"] = int([l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0].split()[1]) / 1024
print("RESULT " + json.dumps(out))
"""


def _responses(path: Path):
    from warcio.archiveiterator import ArchiveIterator

    with open(path, "rb") as fh:
        yield from (r for r in ArchiveIterator(fh) if r.rec_type == "response")


def child(data: Path, mode: str, *args: str, analyse: bool = False, root: Path = ROOT, db: str | None = None) -> dict:
    env = dict(os.environ, NAQL_DATA_DIR=str(data), NAQL_ROOT=str(root), BENCH_ANALYSE="1" if analyse else "0")
    env.pop("DATABASE_URL", None)
    env.pop("CELERY_BROKER_URL", None)
    env.pop("NAQL_REQUIRE_SERVICES", None)
    if db:
        env["DATABASE_URL"] = db
    p = subprocess.run([PY, "-c", CHILD, mode, *args], capture_output=True, text=True, env=env, cwd=str(root))
    line = next((x for x in p.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"{mode} failed:\n{p.stdout[-2000:]}\n{p.stderr[-4000:]}")
    return json.loads(line[7:])


class FreshDatabases:
    """Empty PostgreSQL databases on the server of ``url`` (``postgres://user@host:port/any``),
    dropped on exit."""

    def __init__(self, url: str):
        import psycopg

        self.url, self.names = url, []
        self.conn = psycopg.connect(url, autocommit=True)

    def new(self, label: str) -> str:
        name = f"naql_bench_{os.getpid()}_{label}"
        self.conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        self.conn.execute(f'CREATE DATABASE "{name}"')
        self.names.append(name)
        return self.url.rsplit("/", 1)[0] + "/" + name

    def close(self) -> None:
        for name in self.names:
            self.conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.conn.close()


def small_files(work: Path, n: int) -> list[str]:
    """``n`` per-capture-sized WARC files (one ~20 KB HTML response each, ~4 KB gzipped)."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    small_dir = work / "small"
    small_dir.mkdir()
    paths = []
    for i in range(n):
        p = small_dir / f"c{i}.warc.gz"
        with open(p, "wb") as fh:
            w = WARCWriter(fh, gzip=True)
            body = f"<html><body><p>captura {i} {' '.join(random.choices(WORDS, k=3000))}</p></body></html>".encode()
            http = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
            w.write_record(w.create_warc_record(f"https://example.org/c/{i}", "response",
                                                payload=io.BytesIO(body), http_headers=http))
        paths.append(str(p))
    return paths


def timed(cmd: list[str], cpu: list | None = None, **kw) -> float:
    """Wall seconds of ``cmd``; its CPU seconds (user + system) appended to ``cpu`` when given."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, **kw)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if cpu is not None:
        cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mb", type=float, default=200)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--small", type=int, default=200, help="per-capture-sized files for the small-file verify row")
    ap.add_argument("--analysis", action="store_true", help="also time import with extraction inline")
    ap.add_argument("--cache", type=Path, help="keep the generated input WARCs here and reuse them (same --mb, "
                    "same seed: same bytes); generating 250 MB of pages takes minutes")
    ap.add_argument("--before", type=Path, help="another checkout of Naql (e.g. a `git worktree` of main): its "
                    "import_file and verify are timed too, alternated with this one's, in the same run (before/after)")
    ap.add_argument("--pg", metavar="URL", help="also time verify of the small files with the index in PostgreSQL "
                    "(fresh databases on the server of URL, e.g. postgres://postgres@127.0.0.1:5432/postgres)")
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="naql-bench-import-"))
    warcio_bin = str(Path(PY).with_name("warcio"))
    try:
        gen = a.cache or work
        gen.mkdir(parents=True, exist_ok=True)
        big, quarter = gen / f"many-records-{a.mb:g}mb-7.warc.gz", gen / f"quarter-{a.mb:g}mb-8.warc.gz"
        for path, mb, seed in ((big, a.mb, 7), (quarter, a.mb / 4, 8)):
            if not path.exists():
                make_warc(path.with_suffix(".part"), mb, seed=seed)
                path.with_suffix(".part").rename(path)
        n = sum(1 for _ in _responses(big))
        size_mb = big.stat().st_size / 1e6
        print(f"input: {big.name}, {size_mb:.1f} MB, {n} pages (+ requests, revisits); quarter file "
              f"{quarter.stat().st_size / 1e6:.1f} MB")
        rows = {"index": [], "import": [], "analysis": [], "rss": [], "rss_q": [], "verify": [], "sha": [],
                "before": [], "rss_before": [], "rss_q_before": [], "verify_before": [],
                "cpu_index": [], "cpu_import": [], "cpu_before": []}
        for run in range(a.runs):
            rows["index"].append(timed([warcio_bin, "index", str(big)], rows["cpu_index"]))
            data = work / f"data-{run}"
            r = child(data, "import", str(big))
            rows["import"].append(r["seconds"])
            rows["cpu_import"].append(r["cpu"])
            rows["rss"].append(r["maxrss_mib"])
            rows["rss_q"].append(child(work / f"data-q-{run}", "import", str(quarter))["maxrss_mib"])
            if a.before:
                rb = child(work / f"data-b-{run}", "import", str(big), root=a.before)
                rows["before"].append(rb["seconds"])
                rows["cpu_before"].append(rb["cpu"])
                rows["rss_before"].append(rb["maxrss_mib"])
                rows["rss_q_before"].append(child(work / f"data-bq-{run}", "import", str(quarter),
                                                  root=a.before)["maxrss_mib"])
                shutil.rmtree(work / f"data-b-{run}", ignore_errors=True)
            shutil.rmtree(work / f"data-q-{run}", ignore_errors=True)
            shutil.rmtree(work / f"data-bq-{run}", ignore_errors=True)
            if a.analysis:
                rows["analysis"].append(child(work / f"data-a-{run}", "import", str(big), analyse=True)["seconds"])
            v = child(data, "verify")
            assert v["ok"], "verify failed on an untouched store"
            files = [str(data / "warcs" / f) for f in v["files"]]
            rows["verify"].append(v["seconds"])
            if a.before:  # same store and index (no migration of the index between them touches WarcFile's rows)
                rows["verify_before"].append(child(data, "verify", root=a.before)["seconds"])
            rows["sha"].append(timed(["sha256sum", *files]))
            shutil.rmtree(data, ignore_errors=True)
        # small per-capture files: many imports of one small page each, then verify them all
        small, small_cpu = {}, {}  # (database kind, side) -> wall / CPU ms per file, one per run
        if a.small:
            paths = small_files(work, a.small)
            dbs = FreshDatabases(a.pg) if a.pg else None
            try:
                sides = {"after": ROOT, **({"before": a.before} if a.before else {})}
                stores = []  # (kind, side, data dir, database URL)
                for kind in ("sqlite", *(["postgresql"] if dbs else [])):
                    for side, root in sides.items():
                        d, url = work / f"data-small-{kind}-{side}", dbs.new(side) if kind == "postgresql" else None
                        child(d, "import", *paths, root=root, db=url)
                        stores.append((kind, side, d, url))
                for run in range(a.runs):
                    for kind, side, d, url in stores if run % 2 == 0 else stores[::-1]:
                        v = child(d, "verify", root=sides[side], db=url)
                        assert v["ok"], "verify failed on an untouched store"
                        small.setdefault((kind, side), []).append(v["seconds"] / len(v["files"]) * 1000)
                        small_cpu.setdefault((kind, side), []).append(v["cpu_seconds"] / len(v["files"]) * 1000)
                        if (kind, side) == stores[0][:2]:
                            files = [str(d / "warcs" / f) for f in v["files"]]
                    cpu = small_cpu.setdefault(("sha256sum", ""), [])
                    small.setdefault(("sha256sum", ""), []).append(timed(["sha256sum", *files], cpu) / len(files) * 1000)
                    cpu[-1] = cpu[-1] / len(files) * 1000
            finally:
                if dbs:
                    dbs.close()
        med = {k: statistics.median(v) for k, v in rows.items() if v}
        stored_mb = size_mb  # verbatim copy: the stored file is the input's size plus a warcinfo record
        print(f"warcio index      {size_mb / med['index']:8.1f} MB/s")
        print(f"import_warc       {size_mb / med['import']:8.1f} MB/s   ratio {med['index'] / med['import']:.2f}   "
              f"peak RSS {med['rss']:.0f} MiB ({med['rss_q']:.0f} MiB for the quarter-size file)")
        if "before" in med:
            print(f"import (--before) {size_mb / med['before']:8.1f} MB/s   ratio {med['index'] / med['before']:.2f}   "
                  f"peak RSS {med['rss_before']:.0f} MiB ({med['rss_q_before']:.0f} MiB for the quarter-size file)"
                  f"   [{a.before}]")
        if "analysis" in med:
            print(f"import + analysis {size_mb / med['analysis']:8.1f} MB/s   ratio {med['index'] / med['analysis']:.2f}")
        print(f"CPU seconds: warcio index {med['cpu_index']:.2f}, import_warc {med['cpu_import']:.2f} (ratio "
              f"{med['cpu_index'] / med['cpu_import']:.2f})" + (f", --before {med['cpu_before']:.2f} (ratio "
                                                                 f"{med['cpu_index'] / med['cpu_before']:.2f})"
                                                                 if "cpu_before" in med else "")
              + "  [less sensitive to other load than wall time]")
        print(f"sha256sum         {stored_mb / med['sha']:8.1f} MB/s")
        for key, label in (("verify", "verify           "), ("verify_before", "verify (--before)")):
            if key in med:
                paired = [s / v for s, v in zip(rows["sha"], rows[key], strict=True)]
                print(f"{label} {stored_mb / med[key]:8.1f} MB/s   ratio {statistics.median(paired):.2f} (median of the "
                      f"runs' ratios {[round(x, 2) for x in paired]}; seconds per run {[round(x, 3) for x in rows[key]]}, "
                      f"sha256sum {[round(x, 3) for x in rows['sha']]})")
        if small:
            shas = small.pop(("sha256sum", ""))
            print(f"sha256sum, {a.small} small files in one invocation: {statistics.median(shas):.4f} ms/file   "
                  f"(per run {[round(x, 4) for x in shas]})")
            for (kind, side), per_run in small.items():
                paired = [s / v for s, v in zip(shas, per_run, strict=True)]  # the same run's sha256sum
                print(f"verify small file, {kind:10s} {side:6s} {statistics.median(per_run):.4f} ms/file   ratio "
                      f"{statistics.median(paired):.2f} (median of the runs' ratios {[round(x, 2) for x in paired]})  "
                      f"per run {[round(x, 4) for x in per_run]}")
            # CPU time: steadier than wall time on a shared machine; the PostgreSQL server's share is not counted
            shas = small_cpu.pop(("sha256sum", ""))
            print(f"CPU ms per small file: sha256sum {statistics.median(shas):.4f} (per run {[round(x, 4) for x in shas]})")
            for (kind, side), per_run in small_cpu.items():
                paired = [s / v for s, v in zip(shas, per_run, strict=True)]
                print(f"  verify, {kind:10s} {side:6s} {statistics.median(per_run):.4f}   ratio {statistics.median(paired):.2f} "
                      f"{[round(x, 2) for x in paired]}" + ("  (client process only)" if kind == "postgresql" else ""))
        print(f"(median of {a.runs} run(s); per run, import seconds: {[round(x, 2) for x in rows['import']]}, "
              f"warcio index: {[round(x, 2) for x in rows['index']]}"
              + (f", --before: {[round(x, 2) for x in rows['before']]}" if rows["before"] else "") + ")")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
