"""``manage.py run``: a busy port fails at once, before anything is started, and the embedded
worker never outlives the command (not even when the command is killed)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from archive.management.commands.run import parse_addrport
from tests.helpers import subprocess_env

ROOT = Path(__file__).resolve().parent.parent


def _procs_with(text: str) -> list[int]:
    """PIDs whose command line contains ``text`` (the data dir is in the worker's --schedule path)."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if text in (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                    out.append(int(d.name))
            except OSError:
                continue
    return out


def _wait_gone(text: str, timeout: float = 20.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while (left := _procs_with(text)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


@pytest.mark.parametrize("given, expected", [("8123", ("127.0.0.1", 8123)), ("0.0.0.0:9000", ("0.0.0.0", 9000)),
                                             ("[::1]:8001", ("::1", 8001)), ("localhost:8002", ("localhost", 8002))])
def test_addresses_are_read_as_runserver_reads_them(given, expected):
    assert parse_addrport(given) == expected


def test_a_busy_port_fails_before_setup_and_starts_no_worker(tmp_path):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    try:
        env = subprocess_env(NAQL_DATA_DIR=str(tmp_path))
        t0 = time.monotonic()
        proc = subprocess.run([sys.executable, "manage.py", "run", f"127.0.0.1:{port}"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)
        took = time.monotonic() - t0
    finally:
        busy.close()
    assert proc.returncode != 0
    assert f"Port {port} on 127.0.0.1 is already in use" in proc.stderr
    assert "starting Celery worker" not in proc.stdout
    assert _wait_gone(str(tmp_path), 2) == []
    print(f"busy port refused in {took:.1f}s")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")
def test_the_worker_dies_with_run_even_when_run_is_killed(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = subprocess_env(NAQL_DATA_DIR=str(tmp_path), NAQL_ADDR=f"127.0.0.1:{port}")
    # --with-worker: in service mode (a broker configured) `run` starts no worker of its own otherwise
    proc = subprocess.Popen([sys.executable, "manage.py", "run", "--with-worker"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 90
        while not [p for p in _procs_with(str(tmp_path)) if p != proc.pid] and time.monotonic() < deadline:
            time.sleep(0.2)
        workers = [p for p in _procs_with(str(tmp_path)) if p != proc.pid]
        assert workers, "run should have started its worker"
        os.kill(proc.pid, signal.SIGKILL)  # no finally, no atexit: only the kernel can stop the worker now
        proc.wait(10)
        assert _wait_gone(str(tmp_path), 30) == []
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in _procs_with(str(tmp_path)):
            os.kill(pid, signal.SIGKILL)
