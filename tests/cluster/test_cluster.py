"""Naql on several hosts (network namespaces), with faults: killed worker hosts, Redis and PostgreSQL
restarts, duplicate deliveries and two beat instances. See tests/cluster/harness.py for the layout.

Run with ``pytest -m cluster tests/cluster`` (as root; .ci/run does). Every test asserts the two
properties evidence needs: each URL has exactly one snapshot, and ``verify`` passes on the store.
"""

from __future__ import annotations

import subprocess
import sys
import time

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
