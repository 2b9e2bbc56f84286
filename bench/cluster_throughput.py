"""Capture throughput with 1, 2 and 3 worker hosts (network namespaces; tests/cluster/harness.py).

    sudo .venv/bin/python bench/cluster_throughput.py [--urls 2000] [--hosts 1 2 3]
                                                      [--capture-concurrency 4] [--derived-concurrency 1]
                                                      [--derived-nice 10] [--latency 0.2] [--drain-timeout 900]

Each worker host runs two Celery workers, as docs/operations.md recommends: one consuming only the
capture queue (``-Q celery``, ``--capture-concurrency`` processes) and one only the derived queue
(``-Q derived``: text analysis and provenance follow-up, ``--derived-concurrency`` processes, run
under ``nice`` so that on these shared cores captures come first and derived work catches up). The
URLs are submitted through the API (batches of 100) to the web host, against a fixture web that
answers every page after ``--latency`` seconds (network-bound work, as on the real web). For each
number of worker hosts in turn (a fresh URL set each time, same cluster) it times from the first
submit to the last job finished (succeeded or failed). Between configurations only the capture
workers stop: a host's derived worker keeps working through the backlog, and after the last
configuration the bench waits (``--drain-timeout``) for the derived queue to drain.

It samples the load average while measuring and the CPU seconds each kind of process used (read from
/proc: PostgreSQL, Redis, the S3 server, gunicorn, capture workers, derived workers, the origin, and
the whole machine, other sessions included), so the figure says where the time went. At the end it
checks that every URL has exactly one snapshot (none missing, none doubled) and that ``verify``
passes on the whole store.

All hosts share this machine's cores, so the ratio is bounded by CPU as well as by the hosts: the
figure shows how far the queue, the database and the store let work spread, not what three real
machines would add.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.cluster import harness  # noqa: E402
from tests.cluster.harness import Cluster, wait_for  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
#: (kind, needle in the command line); which process belongs to the cluster is told apart below
KINDS = (("postgres", "postgres"), ("redis", "redis-server"), ("s3", "moto_server"), ("gunicorn", "gunicorn"),
         ("capture-workers", "-Q celery"), ("derived-workers", "-Q derived"), ("origin", "tests.cluster.origin"),
         ("beat", "celery -A naql beat"))


def _procs() -> dict[int, tuple[int, str, float, str]]:
    """pid -> (parent pid, command line, CPU seconds, network namespace)."""
    out = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        try:
            ns = os.readlink(proc / "ns" / "net")
        except OSError:  # another user's process where ptrace is restricted: the root namespace's
            ns = ""
        out[int(proc.name)] = (int(fields[1]), cmd, (int(fields[11]) + int(fields[12])) / TICK, ns)
    return out


def cpu_by_kind() -> dict[str, float]:
    """CPU seconds (user + system) of the cluster's live processes of each kind, and of the whole
    machine (other sessions on it included). A process is the cluster's when it runs in one of the
    harness's namespaces, names the test subnet or temp dir, or (PostgreSQL's backends) is the child
    of one that does: the machine's own PostgreSQL and other sessions' servers are not counted."""
    procs = _procs()
    root_ns = os.readlink("/proc/self/ns/net")
    for pid, (ppid, cmd, cpu, ns) in list(procs.items()):
        procs[pid] = (ppid, cmd, cpu, ns or root_ns)
    out = dict.fromkeys([k for k, _ in KINDS], 0.0)

    def ours(pid: int) -> bool:
        ppid, cmd, _, ns = procs[pid]
        if ns != root_ns or f"{harness.SUBNET}." in cmd or "naql-cluster-" in cmd:
            return True
        return ppid in procs and "naql-cluster-" in procs[ppid][1]

    for pid, (_, cmd, cpu, _) in procs.items():
        if not ours(pid):
            continue
        for kind, needle in KINDS:
            if needle in cmd:
                out[kind] += cpu
                break
    cpu = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    out["machine-busy"] = (sum(map(int, cpu)) - int(cpu[3]) - int(cpu[4])) / TICK
    return out


class LoadSampler(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.samples: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(2.0):
            self.samples.append(float(Path("/proc/loadavg").read_text().split()[0]))


def _kill(proc) -> None:
    import signal

    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--urls", type=int, default=2000)
    ap.add_argument("--hosts", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--capture-concurrency", type=int, default=4, help="capture worker processes per host")
    ap.add_argument("--derived-concurrency", type=int, default=1, help="derived-work worker processes per host")
    ap.add_argument("--derived-nice", type=int, default=10,
                    help="niceness of the derived workers (0: same priority as captures)")
    ap.add_argument("--latency", type=float, default=0.2, help="seconds the fixture web takes per page")
    ap.add_argument("--drain-timeout", type=float, default=900,
                    help="seconds to wait, after the last configuration, for the derived queue to drain")
    args = ap.parse_args()
    why = harness.unavailable()
    if why:
        print(f"cannot run: {why}")
        return 2
    rows = []
    nice = ["nice", "-n", str(args.derived_nice)] if args.derived_nice else None
    with Cluster(latency=args.latency, stale_after=120, sweep_interval=30) as c:
        c.start_beat(c.web)
        print(f"cluster up: {c.tmp}", flush=True)

        def derived_left(like="http://tp%"):
            return c.sql(
                "SELECT count(*) FILTER (WHERE s.analysis_pending),"
                " count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM provenance_documentindex i"
                "                                    WHERE i.snapshot_id = s.id))"
                " FROM archive_snapshot s WHERE s.url LIKE %s AND s.is_requisite = false", like)[0]

        for n in args.hosts:
            tag = f"tp{n}"
            hosts = []
            for i in range(1, n + 1):
                h = c.hosts.get(f"w{i}")
                if h is None:  # a new host: its derived worker stays for the later configurations
                    h = c.add_host(f"w{i}")
                    c.start_workers(h, concurrency=args.derived_concurrency, queues="derived", prefix=nice)
                hosts.append(h)
            capture_workers = [c.start_workers(h, concurrency=args.capture_concurrency, queues="celery")
                               for h in hosts]
            time.sleep(8)  # workers connected before the clock starts
            urls = [f"http://{tag}.example.org/dispatch/{i:05d}" for i in range(args.urls)]
            like = f"http://{tag}.example.org/%"
            backlog = derived_left()
            sampler = LoadSampler()
            sampler.start()
            cpu0 = cpu_by_kind()
            t0 = time.monotonic()
            c.submit(urls)
            submitted = time.monotonic() - t0

            def captured(like=like):
                rows_ = dict(c.sql("SELECT state, count(*) FROM archive_capturejob WHERE url LIKE %s GROUP BY state",
                                   like))
                return rows_ if rows_.get("succeeded", 0) + rows_.get("failed", 0) == args.urls else None

            states = wait_for(captured, 3600, f"{args.urls} captures on {n} host(s)", interval=0.5)
            t_capture = time.monotonic() - t0
            sampler.stop.set()
            cpu1 = cpu_by_kind()
            once = c.sql("SELECT count(*) FROM (SELECT url FROM archive_snapshot WHERE url LIKE %s"
                         " GROUP BY url HAVING count(*) = 1) x", like)[0][0]
            doubled = c.sql("SELECT count(*) FROM (SELECT url FROM archive_snapshot WHERE url LIKE %s"
                            " GROUP BY url HAVING count(*) > 1) x", like)[0][0]
            cpu = {k: cpu1[k] - cpu0[k] for k in cpu0}
            loads = sampler.samples or [0.0]
            row = dict(n=n, rate=args.urls / t_capture, t_capture=t_capture, submitted=submitted, states=states,
                       once=once, doubled=doubled, load_max=max(loads), load_mean=sum(loads) / len(loads), cpu=cpu,
                       backlog_before=backlog, backlog_after=derived_left())
            rows.append(row)
            print(f"{n} host(s): {row['rate']:6.2f} URLs/s captured ({t_capture:.1f} s; submit took {submitted:.1f} s)"
                  f" states={states}; URLs with exactly one snapshot {once}/{args.urls}, with more than one "
                  f"{doubled}; load average mean {row['load_mean']:.1f} max {row['load_max']:.1f}; derived work "
                  f"left (analysis, follow-up) before {backlog} after {row['backlog_after']}", flush=True)
            print("   CPU seconds while capturing: " + ", ".join(f"{k} {v:.0f}" for k, v in cpu.items()) +
                  f"; wall {t_capture:.0f} s x 2 cores = {2 * t_capture:.0f} core-s", flush=True)
            for w in capture_workers:
                _kill(w)
        # the derived queue, at full priority now that no capture runs
        t0 = time.monotonic()
        start = derived_left()
        try:
            wait_for(lambda: derived_left() == (0, 0), args.drain_timeout, "the derived queue to drain", interval=2)
            drained = time.monotonic() - t0
        except AssertionError:
            drained = None
        end = derived_left()
        print(f"derived work after the last configuration: {start} left, "
              + (f"drained in {drained:.0f} s" if drained else f"{end} still left after {args.drain_timeout:.0f} s"),
              flush=True)
        t0 = time.monotonic()
        verify = c.manage("verify", check=False, timeout=3600)
        print(f"verify took {time.monotonic() - t0:.0f} s", flush=True)
    base = rows[0]["rate"]
    print(f"\n{args.urls} URLs, per host {args.capture_concurrency} capture worker processes (-Q celery) and "
          f"{args.derived_concurrency} derived (-Q derived, nice {args.derived_nice}), origin latency "
          f"{args.latency * 1000:.0f} ms")
    print("hosts  URLs/s  ratio-to-1-host  failed  exactly-one-snapshot  doubled  load-mean  load-max")
    for r in rows:
        print(f"{r['n']:5d}  {r['rate']:6.2f}  {r['rate'] / base:15.2f}  {r['states'].get('failed', 0):6d}"
              f"  {r['once']:20d}  {r['doubled']:7d}  {r['load_mean']:9.1f}  {r['load_max']:8.1f}")
    last = verify.stdout.strip().splitlines()[-1] if verify.stdout.strip() else verify.stderr.strip()[-300:]
    print(f"verify: exit {verify.returncode}; {last}")
    ok = verify.returncode == 0 and all(r["once"] == args.urls and r["doubled"] == 0 for r in rows)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
