"""Several Naql hosts on one machine: Linux network namespaces joined by veth pairs to a bridge.

Layout (all on a test-only subnet that the harness creates and removes)::

    root namespace: bridge nqbr0 = 10.231.7.1/24
        PostgreSQL (a private cluster made with initdb), Redis, an S3 server (moto),
        the slow fixture web (tests/cluster/origin.py) -- each bound to 10.231.7.1 only
    netns nq-web   10.231.7.2   the web app (gunicorn if installed, else runserver) and Celery beat
    netns nq-w1..  10.231.7.11+ Celery worker hosts

Workers reach the database, the broker, the object store and the web only over their veth link
(those services listen on the bridge address alone, nothing on the namespaces' loopback). Every
service is a process of this harness, so a fault test can kill or restart it without touching
the machine's own PostgreSQL and Redis.

Cleanup: :class:`Cluster` is a context manager; on exit (also when a test fails) it SIGKILLs every
process it started and every process left in its namespaces, deletes the namespaces, the veth
pairs and the bridge, and removes its temp dir. :func:`sweep_leftovers` removes anything with the
harness's names that a killed run left behind; it runs before each cluster starts.

Needs root (``ip netns``), iproute2 and PostgreSQL's server binaries; :func:`unavailable` says
why not when they are missing, and the tests skip with that reason.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PREFIX = "nq-"
BRIDGE = "nqbr0"
SUBNET = "10.231.7"
GATEWAY = f"{SUBNET}.1"
S3_ADDR = f"{SUBNET}.3"  # the object store has an address of its own, so a host can lose just it
PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"))), None) if Path(
    "/usr/lib/postgresql").exists() else None


def unavailable() -> str | None:
    """Why the harness cannot run here (None when it can)."""
    if os.geteuid() != 0:
        return "cluster tests need root (ip netns)"
    if not shutil.which("ip"):
        return "cluster tests need iproute2 (ip)"
    if PG_BIN is None or not (PG_BIN / "initdb").exists():
        return "cluster tests need PostgreSQL's server binaries (initdb)"
    if not shutil.which("redis-server"):
        return "cluster tests need redis-server"
    return None


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


def sweep_leftovers() -> None:
    """Remove namespaces, links and processes a killed earlier run left behind."""
    for line in _ip("netns", "list", check=False).stdout.splitlines():
        name = line.split()[0] if line.strip() else ""
        if name.startswith(PREFIX):
            _kill_netns_pids(name)
            _ip("netns", "del", name, check=False)
    for link in ("nqbr0", *(f"nqv{i}" for i in range(16))):
        _ip("link", "del", link, check=False)
    # services a killed run started in the root namespace: their command lines name the test
    # subnet or the harness's temp dir
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if f"{SUBNET}." in cmdline or "naql-cluster-" in cmdline:
            try:
                os.kill(int(proc.name), signal.SIGKILL)
            except ProcessLookupError:
                pass
    for old in Path(tempfile.gettempdir()).glob("naql-cluster-*"):
        shutil.rmtree(old, ignore_errors=True)


def _kill_netns_pids(ns: str) -> None:
    pids = _ip("netns", "pids", ns, check=False).stdout.split()
    for pid in pids:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((GATEWAY, 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float, what: str, interval: float = 0.3):
    """Poll ``predicate`` until it returns a truthy value; AssertionError naming ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except Exception as exc:  # noqa: BLE001 - a service coming up may refuse for a while
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


@dataclass
class Host:
    name: str
    address: str
    veth: str
    procs: list[subprocess.Popen] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    @property
    def netns(self) -> str:
        return PREFIX + self.name


class Cluster:
    """PostgreSQL + Redis + S3 + slow web on the bridge, a web host and worker hosts in namespaces."""

    def __init__(self, *, latency: float = 0.2, stale_after: int = 8, sweep_interval: int = 3,
                 retry_backoff: int = 2):
        self.latency = latency
        self.stale_after = stale_after
        self.sweep_interval = sweep_interval
        self.retry_backoff = retry_backoff
        sweep_leftovers()  # before this cluster makes its own temp dir
        self.tmp = Path(tempfile.mkdtemp(prefix="naql-cluster-"))
        os.chmod(self.tmp, 0o755)  # PostgreSQL runs as its own user and must reach its data dir
        self.hosts: dict[str, Host] = {}
        self.services: dict[str, subprocess.Popen] = {}
        self.ports: dict[str, int] = {}
        self.token = ""
        self._veths = 0

    # -- lifecycle ------------------------------------------------------------------------------
    def __enter__(self) -> Cluster:
        try:
            _ip("link", "add", BRIDGE, "type", "bridge")
            _ip("addr", "add", f"{GATEWAY}/24", "dev", BRIDGE)
            _ip("addr", "add", f"{S3_ADDR}/24", "dev", BRIDGE)
            _ip("link", "set", BRIDGE, "up")
            self.start_postgres(init=True)
            self.start_redis()
            self.start_s3()
            self.start_origin()
            self._migrate_and_token()
            self.web = self.add_host("web", f"{SUBNET}.2")
            self.start_web()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        for host in list(self.hosts.values()):
            self.kill_host(host)
            _ip("netns", "del", host.netns, check=False)
            _ip("link", "del", host.veth, check=False)
        for name in list(self.services):
            self.stop_service(name)
        _ip("link", "del", BRIDGE, check=False)
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- hosts ----------------------------------------------------------------------------------
    def add_host(self, name: str, address: str | None = None) -> Host:
        """A network namespace with one veth link to the bridge and a default route through it."""
        address = address or f"{SUBNET}.{10 + len([h for h in self.hosts if h != 'web']) + 1}"
        veth = f"nqv{self._veths}"
        self._veths += 1
        host = Host(name, address, veth)
        _ip("netns", "add", host.netns)
        _ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", host.netns)
        _ip("link", "set", veth, "master", BRIDGE)
        _ip("link", "set", veth, "up")
        for cmd in (["link", "set", "lo", "up"], ["addr", "add", f"{address}/24", "dev", "eth0"],
                    ["link", "set", "eth0", "up"], ["route", "add", "default", "via", GATEWAY]):
            _ip("netns", "exec", host.netns, "ip", *cmd)
        self.hosts[name] = host
        return host

    def env(self, host: Host | None = None, **extra: str) -> dict[str, str]:
        """The service-mode environment every Naql process of the cluster gets."""
        data = self.tmp / "data" / (host.name if host else "root")
        data.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("NAQL_", "DATABASE_", "CELERY_"))}
        env.update({
            "PYTHONPATH": str(ROOT), "DJANGO_SETTINGS_MODULE": "naql.settings",
            "DATABASE_URL": f"postgres://postgres@{GATEWAY}:{self.ports['pg']}/naql",
            "DATABASE_CONN_MAX_AGE": "0",
            "CELERY_BROKER_URL": f"redis://{GATEWAY}:{self.ports['redis']}/0",
            "NAQL_STORAGE": "s3", "NAQL_S3_BUCKET": "naql", "NAQL_S3_ENDPOINT_URL": f"http://{S3_ADDR}:{self.ports['s3']}",
            "NAQL_S3_ACCESS_KEY": "test", "NAQL_S3_SECRET_KEY": "test", "NAQL_S3_PREFIX": "warcs",
            "AWS_DEFAULT_REGION": "us-east-1",
            "NAQL_CAPTURE_PROXY": f"http://{GATEWAY}:{self.ports['origin']}", "NAQL_CAPTURE_PROXY_LOCAL_DNS": "false",
            "NAQL_EMBEDDINGS": "off", "NAQL_DATA_DIR": str(data),
            "NAQL_JOB_STALE_AFTER": str(self.stale_after), "NAQL_SWEEP_INTERVAL": str(self.sweep_interval),
            "NAQL_JOB_RETRY_BACKOFF": str(self.retry_backoff),
            "DJANGO_ALLOWED_HOSTS": "*", "DJANGO_SECRET_KEY": "cluster-test-only",
            # one service token drives the load test: lift the per-user limits as for an internal client
            "NAQL_API_RATE_USER": "1000000/min", "NAQL_API_RATE_CAPTURE": "1000000/hour",
        })
        env.update(extra)
        return env

    def run_in(self, host: Host | None, args: list[str], *, log: str | None = None, env_extra=None,
               prefix: list[str] | None = None) -> subprocess.Popen:
        """Start a process in ``host``'s namespace (the root namespace for None), in its own session."""
        cmd = (["ip", "netns", "exec", host.netns] if host else []) + (prefix or []) + args
        out = open(self.tmp / f"{log or 'proc'}.log", "ab")  # noqa: SIM115 - handed to the child
        proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env(host, **(env_extra or {})), stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
        if host:
            host.procs.append(proc)
            host.logs.append(self.tmp / f"{log or 'proc'}.log")
        return proc

    def manage(self, *args: str, host: Host | None = None, timeout: float = 120, env_extra=None,
               check: bool = True, prefix: list[str] | None = None) -> subprocess.CompletedProcess:
        cmd = (["ip", "netns", "exec", host.netns] if host else []) + (prefix or []) + [
            sys.executable, "manage.py", *args]
        res = subprocess.run(cmd, cwd=ROOT, env=self.env(host, **(env_extra or {})), capture_output=True,
                             text=True, timeout=timeout)
        if check and res.returncode != 0:
            raise AssertionError(f"manage.py {' '.join(args)} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")
        return res

    def start_workers(self, host: Host, *, concurrency: int = 4, env_extra=None, prefix: list[str] | None = None,
                      queues: str | None = None) -> subprocess.Popen:
        """A prefork worker on ``host``; ``queues`` ("celery", "derived", ...) as ``-Q``, else every queue."""
        tag = f"{host.name}-{queues.replace(',', '+')}" if queues else host.name
        return self.run_in(host, [sys.executable, "-m", "celery", "-A", "naql", "worker", "--pool=prefork",
                                  f"--concurrency={concurrency}", "--loglevel=INFO", "--without-gossip",
                                  "--without-mingle", "-n", f"{tag}@%h", *(["-Q", queues] if queues else [])],
                           log=f"worker-{tag}", env_extra=env_extra, prefix=prefix)

    def start_beat(self, host: Host) -> subprocess.Popen:
        return self.run_in(host, [sys.executable, "-m", "celery", "-A", "naql", "beat", "--loglevel=INFO",
                                  "-s", str(self.tmp / f"beat-{host.name}")], log=f"beat-{host.name}")

    def kill_host(self, host: Host) -> None:
        """SIGKILL every process of the host: what a machine dying looks like to the rest."""
        for proc in host.procs:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        _kill_netns_pids(host.netns)
        for proc in host.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        host.procs.clear()

    def cut_s3(self, host: Host, cut: bool = True) -> None:
        """Make the object store unreachable from ``host`` (a 'prohibit' route: connections fail at
        once with EACCES, as when a store's endpoint is down) or reachable again."""
        _ip("netns", "exec", host.netns, "ip", "route", "add" if cut else "del", "prohibit", f"{S3_ADDR}/32")

    # -- services on the bridge -----------------------------------------------------------------
    def _service(self, name: str, cmd: list[str], *, user: str | None = None) -> subprocess.Popen:
        if user:
            cmd = ["runuser", "-u", user, "--", *cmd]
        out = open(self.tmp / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child
        proc = subprocess.Popen(cmd, cwd=ROOT if not user else self.tmp, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.services[name] = proc
        return proc

    def stop_service(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.services.pop(name, None)
        if proc is None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def start_postgres(self, *, init: bool = False) -> None:
        data = self.tmp / "pg"
        if init:
            data.mkdir()
            shutil.chown(data, "postgres", "postgres")
            subprocess.run(["runuser", "-u", "postgres", "--", str(PG_BIN / "initdb"), "-D", str(data), "-A",
                            "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"], check=True,
                           capture_output=True, cwd=self.tmp)
            with open(data / "pg_hba.conf", "a") as hba:  # the test subnet only
                hba.write(f"host all all {SUBNET}.0/24 trust\n")
            self.ports["pg"] = _free_port()
        self._service("pg", [str(PG_BIN / "postgres"), "-D", str(data), "-c", f"listen_addresses={GATEWAY}",
                             "-c", f"port={self.ports['pg']}", "-c", f"unix_socket_directories={data}",
                             "-c", "max_connections=200", "-c", "fsync=off"], user="postgres")
        wait_for(lambda: subprocess.run([str(PG_BIN / "pg_isready"), "-h", GATEWAY, "-p", str(self.ports["pg"])],
                                        capture_output=True).returncode == 0, 60, "PostgreSQL")
        if init:
            self.sql("CREATE DATABASE naql", db="postgres")

    def restart_postgres(self, *, down_for: float = 0.0) -> None:
        """A fast shutdown (SIGINT: sessions are cut, as in a restart) and a start on the same data."""
        self.stop_service("pg", signal.SIGINT)
        time.sleep(down_for)
        self.start_postgres()

    def start_redis(self) -> None:
        self.ports.setdefault("redis", _free_port())
        self._service("redis", ["redis-server", "--bind", GATEWAY, "--port", str(self.ports["redis"]), "--save", "",
                                "--appendonly", "no", "--protected-mode", "no"])
        wait_for(lambda: subprocess.run(["redis-cli", "-h", GATEWAY, "-p", str(self.ports["redis"]), "ping"],
                                        capture_output=True, text=True).stdout.strip() == "PONG", 30, "Redis")

    def restart_redis(self) -> None:
        """Redis keeps nothing on disk here: a restart loses every queued message."""
        self.stop_service("redis")
        self.start_redis()

    def start_s3(self) -> None:
        self.ports.setdefault("s3", _free_port())
        moto = Path(sys.executable).with_name("moto_server")
        self._service("s3", [str(moto), "-H", S3_ADDR, "-p", str(self.ports["s3"])])
        url = f"http://{S3_ADDR}:{self.ports['s3']}"

        def bucket() -> bool:
            import boto3

            boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="test",
                         aws_secret_access_key="test").create_bucket(Bucket="naql")
            return True

        wait_for(bucket, 60, "the S3 server")

    def start_origin(self) -> None:
        port_file = self.tmp / "origin.port"
        self._service("origin", [sys.executable, "-m", "tests.cluster.origin", "--bind", GATEWAY, "--latency",
                                 str(self.latency), "--port-file", str(port_file)])
        self.ports["origin"] = int(wait_for(lambda: port_file.exists() and port_file.read_text(), 30, "the origin"))

    def origin_counts(self) -> dict[str, int]:
        with urllib.request.urlopen(f"http://{GATEWAY}:{self.ports['origin']}/__stats", timeout=10) as r:  # noqa: S310
            return json.load(r)

    def _migrate_and_token(self) -> None:
        self.manage("migrate", "-v0", timeout=300)
        res = self.manage("shell", "-v0", "-c", (
            "from django.contrib.auth.models import User; from apitokens.models import ApiToken;"
            "u = User.objects.create_superuser('ops', 'ops@example.org', 'x');"
            "print(ApiToken.create_for(u, 'cluster')[1])"))
        self.token = res.stdout.strip().splitlines()[-1]

    def start_web(self) -> None:
        try:
            import gunicorn  # noqa: F401

            cmd = [sys.executable, "-m", "gunicorn", "naql.wsgi", "-b", "0.0.0.0:8000", "-w", "2", "--threads", "4"]
        except ImportError:
            cmd = [sys.executable, "manage.py", "runserver", "--noreload", "0.0.0.0:8000"]
        self.run_in(self.web, cmd, log="web")
        self.base_url = f"http://{self.web.address}:8000"
        wait_for(lambda: urllib.request.urlopen(self.base_url + "/api/", timeout=5).status == 200, 90, "the web app")  # noqa: S310

    # -- talking to it --------------------------------------------------------------------------
    def api(self, method: str, path: str, body: dict | None = None, headers: dict | None = None) -> tuple[int, dict]:
        req = urllib.request.Request(self.base_url + path, method=method,  # noqa: S310 - our own test host
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": f"Token {self.token}",
                                              "Content-Type": "application/json", **(headers or {})})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:  # noqa: S310
                return r.status, json.load(r)
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def submit(self, urls: list[str]) -> list[str]:
        """Submit URLs through the API in batches of 100; returns the job IDs."""
        ids = []
        for i in range(0, len(urls), 100):
            status, body = self.api("POST", "/api/capture-jobs/", {"urls": urls[i:i + 100], "requisites": False})
            assert status == 201, (status, body)
            ids += [j["id"] for j in body["jobs"]]
        return ids

    def sql(self, query: str, *params, db: str = "naql") -> list[tuple]:
        import psycopg

        with psycopg.connect(host=GATEWAY, port=self.ports["pg"], user="postgres", dbname=db,
                             autocommit=True, connect_timeout=5) as conn:
            cur = conn.execute(query, params or None)
            return cur.fetchall() if cur.description else []

    def job_states(self) -> dict[str, int]:
        return dict(self.sql("SELECT state, count(*) FROM archive_capturejob GROUP BY state"))

    def log_text(self, name: str) -> str:
        path = self.tmp / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""
