"""Capture throughput with 1, 2 and 3 worker hosts (network namespaces; tests/cluster/harness.py).

    sudo .venv/bin/python bench/cluster_throughput.py [--urls 2000] [--hosts 1 2 3] [--concurrency 4]
                                                      [--latency 0.2]

Submits the URLs through the API (batches of 100) to the web host, against a fixture web that
answers every page after ``--latency`` seconds (network-bound work, as on the real web), and times
from the first submit to the last job finished, for each number of worker hosts in turn (a fresh
URL set each time, same cluster). Prints URLs/s per configuration and the ratio to one host, then
checks that every URL has exactly one snapshot and that ``verify`` passes on the whole store.

All hosts share this machine's cores, so the ratio is bounded by CPU as well as by the hosts: the
figure shows how far the queue, the database and the store let work spread, not what three real
machines would add.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.cluster import harness  # noqa: E402
from tests.cluster.harness import Cluster, wait_for  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--urls", type=int, default=2000)
    ap.add_argument("--hosts", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--concurrency", type=int, default=4, help="worker processes per host")
    ap.add_argument("--latency", type=float, default=0.2, help="seconds the fixture web takes per page")
    args = ap.parse_args()
    why = harness.unavailable()
    if why:
        print(f"cannot run: {why}")
        return 2
    rows = []
    with Cluster(latency=args.latency, stale_after=120, sweep_interval=30) as c:
        c.start_beat(c.web)
        for n in args.hosts:
            tag = f"tp{n}"
            hosts = [c.hosts.get(f"w{i}") or c.add_host(f"w{i}") for i in range(1, n + 1)]
            for h in hosts:
                c.start_workers(h, concurrency=args.concurrency)
            time.sleep(5)  # workers connected before the clock starts
            urls = [f"http://{tag}.example.org/dispatch/{i:05d}" for i in range(args.urls)]
            t0 = time.monotonic()
            c.submit(urls)
            like = f"http://{tag}.example.org/%"

            def done(like=like):
                rows_ = dict(c.sql("SELECT state, count(*) FROM archive_capturejob WHERE url LIKE %s GROUP BY state",
                                   like))
                return rows_ if rows_.get("succeeded", 0) + rows_.get("failed", 0) == args.urls else None

            states = wait_for(done, 3600, f"{args.urls} captures on {n} host(s)", interval=0.5)
            elapsed = time.monotonic() - t0
            per_url = c.sql("SELECT count(*) FROM archive_snapshot WHERE url LIKE %s GROUP BY url HAVING count(*) <> 1",
                            like)
            rows.append((n, args.urls / elapsed, elapsed, states, len(per_url)))
            print(f"{n} host(s): {args.urls / elapsed:6.1f} URLs/s ({elapsed:.1f} s) states={states} "
                  f"urls-without-exactly-one-snapshot={len(per_url)}", flush=True)
            for h in hosts:
                c.kill_host(h)
        verify = c.manage("verify", check=False, timeout=1800)
    base = rows[0][1]
    print("\nhosts  URLs/s  ratio-to-1-host  failed  bad-snapshot-counts")
    for n, rate, _, states, bad in rows:
        print(f"{n:5d}  {rate:6.1f}  {rate / base:15.2f}  {states.get('failed', 0):6d}  {bad:19d}")
    print(f"verify: exit {verify.returncode}; {verify.stdout.strip().splitlines()[-1] if verify.stdout.strip() else ''}")
    return 0 if verify.returncode == 0 and all(r[4] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
