"""WACZ package build: time and peak memory for 1, 10 and 100 snapshots (memory should be flat).

    .venv/bin/python bench/export.py [--sizes 1,10,100] [--record-kib 1024] [--runs 3]

Runs standalone: a temporary NAQL_DATA_DIR, migrated on the spot. One WARC of max(sizes) response
records (``--record-kib`` of incompressible body each, so package size grows with the count) is
published through Naql's WarcBuilder and indexed as that many snapshots. For each size the
package of that many snapshots is built anew (``use_cache=False``; signed, untimestamped):

- time: median of ``--runs`` builds, and its ratio to the baseline measured in the same run, a
  plain ``shutil.copyfileobj`` of the same number of record bytes from the stored WARC to a file;
- memory: ``tracemalloc`` peak of Python allocations during one build (a separate pass, as
  tracing slows the build), which must stay about the same from 1 to 100 snapshots: records are
  streamed 1 MiB at a time, only index lines and page rows grow with the count.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup_django() -> None:
    os.environ["NAQL_DATA_DIR"] = tempfile.mkdtemp(prefix="naql-bench-export-")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "naql.settings")
    os.environ["NAQL_TSA_URL"] = ""
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def populate(n: int, record_bytes: int):
    import hashlib

    from archive.models import Snapshot, WarcFile
    from archive.store.warcstore import HTTP_RESPONSE_TYPE, WarcBuilder, warc_digest

    base = datetime(2021, 11, 27, tzinfo=UTC)
    builder = WarcBuilder()
    infos = []
    for i in range(n):
        body = os.urandom(record_bytes)
        block = (b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                 + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        info = builder.write_record("response", block=block, content_type=HTTP_RESPONSE_TYPE,
                                    uri=f"http://bench.example/{i}", date=base + timedelta(minutes=i),
                                    http_payload=True)
        infos.append((info, hashlib.sha256(body).hexdigest(), warc_digest(body)))
    pub = builder.publish(prefix="bench")
    wf = WarcFile.objects.create(name=pub.name, size=pub.size, sha256=pub.sha256, record_count=n)
    snaps = [Snapshot(url=f"http://bench.example/{i}", captured_at=info.date, status=200,
                      mime="application/octet-stream", payload_sha256=sha, payload_length=record_bytes,
                      payload_digest=pd, record_id=info.record_id, record_sha256=info.sha256, warc_file=wf,
                      offset=info.offset, length=info.length, records=[info.as_dict()], title=f"bench {i}")
             for i, (info, sha, pd) in enumerate(infos)]
    for s in snaps:
        s.save()
    return wf, snaps


def baseline(wf, snaps, out: Path) -> float:
    from archive.store.warcstore import warc_storage

    t0 = time.perf_counter()
    with warc_storage().open(wf.name, "rb") as src, open(out, "wb") as dst:
        src.seek(snaps[0].offset)
        left = sum(s.length for s in snaps)
        while left:
            chunk = src.read(min(1 << 20, left))
            dst.write(chunk)
            left -= len(chunk)
        dst.flush()
        os.fsync(dst.fileno())
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1,10,100")
    ap.add_argument("--record-kib", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    setup_django()
    from archive.store.wacz import build_package

    wf, snaps = populate(max(sizes), args.record_kib * 1024)
    build_package(snaps[:1], use_cache=False)  # warm-up: key generation, imports
    tmp = Path(tempfile.mkdtemp(prefix="naql-bench-copy-"))
    print(f"records of {args.record_kib} KiB; {args.runs} runs per size; signed, untimestamped")
    print(f"{'snapshots':>9} {'package MiB':>11} {'build s':>8} {'MiB/s':>7} {'copy s':>7} {'ratio':>6} "
          f"{'peak MiB':>9}")
    peaks = []
    for n in sizes:
        part = snaps[:n]
        times, copies, size = [], [], 0
        for _ in range(args.runs):
            copies.append(baseline(wf, part, tmp / "copy.bin"))
            t0 = time.perf_counter()
            pkg = build_package(part, use_cache=False)
            times.append(time.perf_counter() - t0)
            size = pkg.size
        tracemalloc.start()
        tracemalloc.reset_peak()
        build_package(part, use_cache=False)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        peaks.append(peak)
        t, c = statistics.median(times), statistics.median(copies)
        print(f"{n:>9} {size / 2**20:>11.1f} {t:>8.3f} {size / 2**20 / t:>7.1f} {c:>7.3f} {t / c:>6.2f} "
              f"{peak / 2**20:>9.2f}")
    print(f"peak memory {sizes[-1]} vs {sizes[0]} snapshots: {peaks[-1] / peaks[0]:.2f}x "
          f"for {sizes[-1] / sizes[0]:.0f}x the package size")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
