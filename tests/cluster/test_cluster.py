"""Naql on several hosts (network namespaces), with faults: killed worker hosts, Redis and PostgreSQL
restarts, duplicate deliveries and two beat instances. See tests/cluster/harness.py for the layout.

Run with ``pytest -m cluster tests/cluster`` (as root; .ci/run does). Every test asserts the two
properties evidence needs: each URL has exactly one snapshot, and ``verify`` passes on the store.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cluster import harness
from tests.cluster.harness import Cluster, wait_for

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(harness.unavailable() is not None, reason=harness.unavailable() or ""),
]


@pytest.fixture(scope="module")
def cluster():
    with Cluster(latency=0.2, stale_after=8, sweep_interval=3, retry_backoff=2) as c:
        c.start_beat(c.web)
        yield c


@pytest.fixture
def hosts(cluster):
    """Worker hosts made for one test, killed (every process SIGKILLed) when it ends."""
    made = []

    def make(name: str, *, start: bool = True, **kw):
        host = cluster.hosts.get(name) or cluster.add_host(name)
        if start:
            cluster.start_workers(host, **kw)
        made.append(host)
        return host

    yield make
    for host in made:
        cluster.kill_host(host)


def _urls(tag: str, n: int) -> list[str]:
    return [f"http://{tag}.example.org/dispatch/{i:04d}" for i in range(n)]


def _states(cluster: Cluster, tag: str) -> dict[str, int]:
    return dict(cluster.sql("SELECT state, count(*) FROM archive_capturejob WHERE url LIKE %s GROUP BY state",
                            f"http://{tag}.example.org/%"))


def _snapshots_per_url(cluster: Cluster, tag: str) -> dict[str, int]:
    return dict(cluster.sql("SELECT url, count(*) FROM archive_snapshot WHERE url LIKE %s GROUP BY url",
                            f"http://{tag}.example.org/%"))


def _wait_all_done(cluster: Cluster, tag: str, n: int, timeout: float) -> dict[str, int]:
    return wait_for(lambda: (lambda s: s if sum(s.get(k, 0) for k in ("succeeded", "failed")) == n else None)(
        _states(cluster, tag)), timeout, f"{n} jobs of {tag} to finish", interval=1.0)


def _verify(cluster: Cluster) -> str:
    res = cluster.manage("verify", check=False, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


def test_two_worker_hosts_share_the_work_and_capture_each_url_once(cluster, hosts):
    w1, w2 = hosts("w1"), hosts("w2")
    urls = _urls("share", 80)
    cluster.submit(urls)
    states = _wait_all_done(cluster, "share", 80, 240)
    assert states == {"succeeded": 80}
    assert _snapshots_per_url(cluster, "share") == {u: 1 for u in urls}
    # both hosts did part of it (each worker logs the tasks it ran)
    done = {h.name: cluster.log_text(f"worker-{h.name}").count("run_capture_job") for h in (w1, w2)}
    assert all(v > 0 for v in done.values()), done
    _verify(cluster)


def test_worker_host_killed_mid_capture_its_jobs_rerun_elsewhere_once(cluster, hosts):
    w1 = hosts("w1")
    urls = _urls("killed", 40)
    cluster.submit(urls)
    # wait until w1 is in the middle of captures (jobs running), then kill the whole host
    wait_for(lambda: _states(cluster, "killed").get("running", 0) >= 3, 60, "captures to be running on w1")
    cluster.kill_host(w1)
    killed_running = _states(cluster, "killed").get("running", 0)
    assert killed_running >= 1
    hosts("w2")
    states = _wait_all_done(cluster, "killed", 40, 240)
    assert states == {"succeeded": 40}
    assert _snapshots_per_url(cluster, "killed") == {u: 1 for u in urls}
    rerun = cluster.sql("SELECT count(*) FROM archive_capturejob WHERE url LIKE %s AND attempts >= 2",
                        "http://killed.example.org/%")[0][0]
    assert rerun >= 1  # the jobs the dead host held were swept back to pending and run again
    _verify(cluster)


def test_redis_restarted_with_jobs_queued_loses_none(cluster, hosts):
    urls = _urls("redis", 30)
    cluster.submit(urls)  # no worker is running: the messages wait in Redis
    assert _states(cluster, "redis") == {"pending": 30}
    cluster.restart_redis()  # Redis keeps nothing on disk here: every queued message is gone
    hosts("w2")
    states = _wait_all_done(cluster, "redis", 30, 240)
    assert states == {"succeeded": 30}  # the database is the source of truth: the sweeper re-enqueued them
    assert _snapshots_per_url(cluster, "redis") == {u: 1 for u in urls}
    _verify(cluster)


def test_postgres_restarted_during_captures_jobs_resume_or_fail_cleanly(cluster, hosts):
    hosts("w1"), hosts("w2")
    urls = _urls("pgrestart", 40)
    cluster.submit(urls)
    wait_for(lambda: _states(cluster, "pgrestart").get("succeeded", 0) >= 5, 120, "the first captures")
    cluster.restart_postgres(down_for=2.0)
    states = _wait_all_done(cluster, "pgrestart", 40, 300)
    assert set(states) <= {"succeeded", "failed"}
    assert states.get("succeeded", 0) >= 36, states  # a few may fail for good, none stay stuck
    failed = cluster.sql("SELECT error FROM archive_capturejob WHERE url LIKE %s AND state = 'failed'",
                         "http://pgrestart.example.org/%")
    assert all(row[0] and row[0].get("code") for row in failed), failed  # a structured error, not a void
    per_url = _snapshots_per_url(cluster, "pgrestart")
    assert all(n == 1 for n in per_url.values()), per_url
    assert len(per_url) == states.get("succeeded", 0)
    _verify(cluster)


def test_capture_message_delivered_three_times_makes_one_job_and_one_snapshot(cluster, hosts):
    from celery import Celery

    [job_id] = cluster.submit(_urls("redeliver", 1))
    pk = cluster.sql("SELECT id FROM archive_capturejob WHERE guid = %s", job_id)[0][0]
    app = Celery("redeliver", broker=f"redis://{harness.GATEWAY}:{cluster.ports['redis']}/0")
    for _ in range(2):  # what a broker does after a lost ack: the same message again
        app.send_task("archive.tasks.run_capture_job", args=(pk,))
    hosts("w1"), hosts("w2")
    _wait_all_done(cluster, "redeliver", 1, 120)
    time.sleep(3)  # let the duplicate deliveries be consumed too
    received = sum(cluster.log_text(f"worker-{h}").count("run_capture_job[") for h in ("w1", "w2"))
    assert received >= 3
    assert _snapshots_per_url(cluster, "redeliver") == {_urls("redeliver", 1)[0]: 1}
    assert cluster.sql("SELECT attempts FROM archive_capturejob WHERE id = %s", pk) == [(1,)]


def test_watch_firing_on_two_beat_instances_at_once_captures_once(cluster, hosts):
    w1, w2 = hosts("w1", start=False), hosts("w2", start=False)
    url = _urls("watch", 1)[0]
    cluster.manage("shell", "-v0", "-c", (
        "from archive.models import Watch; from django.contrib.auth.models import User;"
        f"Watch.objects.create(url={url!r}, created_by=User.objects.get(username='ops'))"))
    code = "from archive.watches import run_due_watches; print('queued', run_due_watches())"
    procs = [subprocess.Popen(["ip", "netns", "exec", h.netns, sys.executable, "manage.py", "shell", "-v0", "-c", code],
                              cwd=harness.ROOT, env=cluster.env(h), stdout=subprocess.PIPE, text=True)
             for h in (w1, w2)]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    queued = sum(int(line.split()[1]) for out in outs for line in out.splitlines() if line.startswith("queued"))
    assert queued == 1, outs
    assert cluster.sql("SELECT count(*) FROM archive_capturejob WHERE url = %s", url) == [(1,)]


def test_object_store_unreachable_for_30_seconds_captures_retry_and_nothing_is_half_published(cluster, hosts):
    # back-off as deployed, shortened: attempts at 0, 15 and 45 s outlast a 30 s outage
    w1 = hosts("w1", env_extra={"NAQL_JOB_RETRY_BACKOFF": "15"})
    cluster.cut_s3(w1)
    try:
        urls = _urls("s3down", 10)
        cluster.submit(urls)
        # the first attempts fail with a retryable storage error and go back to pending
        wait_for(lambda: cluster.sql(
            "SELECT count(*) FROM archive_capturejob WHERE url LIKE %s AND error->>'code' = 'storage_unavailable'",
            "http://s3down.example.org/%")[0][0] >= 1, 120, "a capture to meet the unreachable store")
        time.sleep(30)
        assert cluster.sql("SELECT count(*) FROM archive_warcfile WHERE name LIKE %s", "%s3down%") == [(0,)]
        assert _snapshots_per_url(cluster, "s3down") == {}
        assert _states(cluster, "s3down").get("failed", 0) == 0, cluster.sql(  # transient: not given up
            "SELECT attempts, error FROM archive_capturejob WHERE url LIKE %s", "http://s3down.example.org/%")[:3]
    finally:
        cluster.cut_s3(w1, cut=False)
    states = _wait_all_done(cluster, "s3down", 10, 240)
    assert states == {"succeeded": 10}
    assert _snapshots_per_url(cluster, "s3down") == {u: 1 for u in urls}
    _verify(cluster)


@pytest.mark.skipif(not shutil.which("faketime"), reason="needs faketime (apt-get install faketime)")
def test_hosts_with_clocks_five_minutes_apart_stamp_captures_from_one_clock(cluster, hosts):
    w1, w2 = hosts("w1", start=False), hosts("w2", start=False)
    url = _urls("clock", 1)[0]
    fast = ["faketime", "-f", "+5m"]  # w2's clock runs five minutes ahead
    for host, prefix in ((w2, fast), (w1, None), (w2, fast)):
        cluster.manage("capture", "--no-requisites", url, host=host, prefix=prefix, timeout=120)
    rows = cluster.sql("SELECT captured_at, now() FROM archive_snapshot WHERE url = %s ORDER BY id", url)
    times = [r[0] for r in rows]
    assert len(times) == 3
    assert times[0] <= times[1] <= times[2], times  # in the order they were made, whatever each host's clock
    assert all(abs((r[1] - r[0]).total_seconds()) < 120 for r in rows), rows  # none is 5 minutes ahead


def test_data_disk_full_on_the_embedded_default_is_a_clear_retryable_error(tmp_path):
    """Not multi-host, but root-only (it mounts a small tmpfs as the data dir)."""
    from tests.corpus_server import CorpusServer

    data = tmp_path / "data"
    data.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(data)], check=True)
    proxy = CorpusServer("proxy").start()
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("NAQL_", "DATABASE_", "CELERY_"))}
        env.update(NAQL_DATA_DIR=str(data), NAQL_CAPTURE_PROXY=proxy.proxy_url, NAQL_CAPTURE_PROXY_LOCAL_DNS="false",
                   NAQL_EMBEDDINGS="off", PYTHONPATH=str(harness.ROOT))
        run = lambda *a: subprocess.run([sys.executable, "manage.py", *a], cwd=harness.ROOT, env=env,  # noqa: E731
                                        capture_output=True, text=True, timeout=300)
        assert run("migrate", "-v0").returncode == 0
        free = shutil.disk_usage(data).free
        with open(data / "filler", "wb") as fh:  # leave about 600 KB: the database can still note the failure
            fh.write(b"\0" * max(0, free - 600 * 1024))
        res = run("capture", "--json", "--no-requisites", "http://lab.naql.test/noise?kb=2048")
        assert res.returncode != 0
        out = json.loads(res.stdout.strip().splitlines()[-1])
        assert out["error"]["code"] == "storage_full" and out["error"]["permanent"] is False, out
        assert not list(data.rglob("*.warc.gz"))  # nothing was published
        assert not list(data.rglob("*.part"))  # the temp file went with the failure
        (data / "filler").unlink()
        assert run("verify").returncode == 0
        again = run("capture", "--json", "--no-requisites", "http://lab.naql.test/noise?kb=2048")
        assert again.returncode == 0, again.stdout + again.stderr  # with space back, the same capture works
    finally:
        proxy.stop()
        subprocess.run(["umount", "-l", str(data)], check=False)


def _drive_load(cluster: Cluster, request, headers: dict, label: str, *, clients: int = 50, seconds: float = 60):
    """``clients`` threads, each on its own keep-alive connection to the web host, sending
    ``request(rng)`` -> (method, path, body) for ``seconds``; returns (statuses, sorted latencies,
    transport errors) and prints the count, statuses, p50 and p99."""
    import http.client
    import random
    import threading

    host = cluster.web.address
    statuses: dict[int, int] = {}
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def client(seed: int) -> None:
        rng = random.Random(seed)
        conn = http.client.HTTPConnection(host, 8000, timeout=60)
        while time.monotonic() < stop_at:
            method, path, body = request(rng)
            t0 = time.monotonic()
            try:
                conn.request(method, path, body=body, headers=headers)
                resp = conn.getresponse()
                resp.read()
                code = resp.status
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                conn = http.client.HTTPConnection(host, 8000, timeout=60)
                with lock:
                    errors.append(f"{method} {path}: {exc!r}")
                continue
            with lock:
                latencies.append(time.monotonic() - t0)
                statuses[code] = statuses.get(code, 0) + 1
        conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 120)
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1] if latencies else float("nan")
    load = Path("/proc/loadavg").read_text().split()[0]
    print(f"\n{label}: {len(latencies)} responses in {seconds:.0f} s from {clients} clients, statuses {statuses}, "
          f"5xx {sum(n for c, n in statuses.items() if c >= 500)}, "
          f"p50 {latencies[len(latencies) // 2] * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, "
          f"transport errors {len(errors)}, load average {load}")
    return statuses, latencies, errors


def test_fifty_api_clients_for_sixty_seconds_get_no_server_error(cluster, hosts):
    """Reads of snapshots, TimeMaps, chains and replay; writes of claim-link reviews and capture
    requests, from 50 concurrent clients for 60 s against the web host (gunicorn when installed)."""
    from urllib.parse import quote

    hosts("w1")
    urls = _urls("load", 6)
    cluster.submit(urls)
    _wait_all_done(cluster, "load", 6, 180)
    wait_for(lambda: cluster.sql("SELECT count(*) FROM provenance_claim c JOIN provenance_document d ON "
                                 "d.id = c.document_id WHERE d.url LIKE %s", "http://load.example.org/%")[0][0] >= 4,
             180, "claims of the captured pages")
    guids = [r[0] for r in cluster.sql("SELECT guid FROM archive_snapshot WHERE url LIKE %s",
                                       "http://load.example.org/%")]
    docs = [r[0] for r in cluster.sql("SELECT id FROM provenance_document WHERE url LIKE %s",
                                      "http://load.example.org/%")]
    claims = cluster.sql("SELECT c.id, c.document_id FROM provenance_claim c JOIN provenance_document d ON "
                         "d.id = c.document_id WHERE d.url LIKE %s ORDER BY c.id", "http://load.example.org/%")
    a, b = claims[0], next(c for c in claims if c[1] != claims[0][1])
    status, link = cluster.api("POST", "/api/claim-links/", {"claim": a[0], "upstream_claim": b[0],
                                                             "relation": "paraphrase"})
    assert status == 201, link
    auth = {"Authorization": f"Token {cluster.token}", "Content-Type": "application/json"}
    reads = ([f"/api/snapshots/{g}/" for g in guids] + ["/api/snapshots/?page_size=20", "/api/documents/?page_size=20"]
             + [f"/api/documents/{d}/chain/" for d in docs]
             + [f"/web/timemap/json/{u}" for u in urls] + [f"/web/{u}" for u in urls]
             + [f"/web/20990101000000id_/{u}" for u in urls] + [f"/api/timemap/?url={quote(urls[0])}"])
    counter = iter(range(10**9))

    def request(rng):
        roll = rng.random()
        if roll < 0.05:
            return "POST", f"/api/claim-links/{link['id']}/{rng.choice(['accept', 'reject'])}/", "{}"
        if roll < 0.08:
            n = next(counter)
            return "POST", "/api/capture-jobs/", json.dumps({"urls": [f"http://loadw.example.org/req/{n}"],
                                                             "requisites": False})
        return "GET", rng.choice(reads), None

    statuses, latencies, errors = _drive_load(cluster, request, auth, "load")
    assert latencies and not errors, errors[:5]
    assert not any(code >= 500 for code in statuses), statuses
    assert set(statuses) <= {200, 201, 302}, statuses


def test_fifty_replay_clients_for_sixty_seconds_get_no_server_error(cluster, hosts):
    """The same load against ``/web/`` replay alone, as a reader's browser sends it (anonymous, with a
    browser's Accept): rewritten mementos, ``id_`` originals, TimeGate (plain and with
    Accept-Datetime), TimeMaps in both formats, and URLs never archived."""
    import urllib.request

    hosts("w1")
    urls = _urls("replay", 6)
    cluster.submit(urls)
    _wait_all_done(cluster, "replay", 6, 180)
    stamps = cluster.sql("SELECT url, to_char(captured_at AT TIME ZONE 'UTC', 'YYYYMMDDHH24MISS') FROM archive_snapshot"
                         " WHERE url LIKE %s AND is_requisite = false", "http://replay.example.org/%")
    assert len(stamps) == len(urls)
    with urllib.request.urlopen(f"{cluster.base_url}/web/{stamps[0][1]}id_/{stamps[0][0]}", timeout=30) as r:  # noqa: S310
        assert r.status == 200 and b"Dispatch" in r.read()  # the archived page itself, before the load
    paths = ([f"/web/{ts}/{u}" for u, ts in stamps] + [f"/web/{ts}id_/{u}" for u, ts in stamps]
             + [f"/web/{u}" for u in urls] + [f"/web/timemap/link/{u}" for u in urls]
             + [f"/web/timemap/json/{u}" for u in urls] + ["/web/http://never.example.org/archived"])

    def request(rng):
        return "GET", rng.choice(paths), None

    browser = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8", "Accept-Datetime": "Tue, 01 Dec 2026 00:00:00 GMT"}
    statuses, latencies, errors = _drive_load(cluster, request, browser, "replay load")
    assert latencies and not errors, errors[:5]
    assert not any(code >= 500 for code in statuses), statuses
    assert set(statuses) <= {200, 302, 404} and statuses.get(200, 0) > len(latencies) // 2, statuses
