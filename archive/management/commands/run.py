"""python manage.py run — start Naql: web server, plus a Celery worker (with beat) in embedded mode.

The address is checked first: on a busy port the command fails at once, before it starts a worker
(Django's runserver leaves with ``os._exit`` on that error, which skips every cleanup, so a worker
started before it was left running as an orphan). On Linux the worker is also tied to this process
with ``PR_SET_PDEATHSIG``: however ``run`` ends, the worker gets SIGTERM.
"""

from __future__ import annotations

import atexit
import ctypes
import errno
import os
import signal
import socket
import subprocess
import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.core.management.commands.runserver import naiveip_re

PR_SET_PDEATHSIG = 1


def parse_addrport(addrport: str) -> tuple[str, int]:
    """``"127.0.0.1:8000"``, ``"8000"``, ``"[::1]:8000"``, ``"0.0.0.0:8000"`` → (host, port), as runserver reads them."""
    m = naiveip_re.match(addrport)
    if m is None:
        raise CommandError(f'"{addrport}" is not a valid port number or address:port pair.')
    addr, _ipv4, ipv6, _fqdn, port = m.groups()
    if not port.isdigit():
        raise CommandError(f"{port!r} is not a valid port number.")
    host = (addr or "127.0.0.1").strip("[]") if not ipv6 else ipv6.strip("[]")
    return host, int(port)


def check_free(host: str, port: int) -> None:
    """Raise CommandError if ``host:port`` cannot be bound (in use, or not an address of this machine)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the dev server does: TIME_WAIT is fine
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise CommandError(f"Port {port} on {host} is already in use: stop what runs there, or give another "
                                   f"address (manage.py run {host}:{port + 1}, or NAQL_ADDR). Nothing was started.") from exc
            raise CommandError(f"Cannot listen on {host}:{port}: {exc.strerror}. Nothing was started.") from exc


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


def worker_argv() -> list[str]:
    """The worker ``run`` starts: beat included, and no ``-Q``, so it consumes every queue of
    ``CELERY_TASK_QUEUES`` (captures, derived work, browser jobs when Chromium is there)."""
    schedule = settings.DATA_DIR / "celerybeat-schedule"
    return [sys.executable, "-m", "celery", "-A", "naql", "worker", "-B", "--schedule", str(schedule),
            "--pool=threads", "--concurrency=2", "--loglevel=INFO"]


class Command(BaseCommand):
    help = ("Run Naql. On the embedded default this also starts a Celery worker and beat on the filesystem "
            "broker, so captures run in the background with nothing else installed.")

    def add_arguments(self, parser):
        parser.add_argument("addrport", nargs="?", default=None,
                            help="address:port or port to listen on (default: NAQL_ADDR, 127.0.0.1:8000)")
        parser.add_argument("--with-worker", action="store_true",
                            help="start a worker even in service mode (normally run separately)")
        parser.add_argument("--no-worker", action="store_true")

    def handle(self, *args, **opts):
        addrport = opts["addrport"] or settings.NAQL_ADDR
        host, port = parse_addrport(addrport)
        check_free(host, port)
        worker = None
        if not opts["no_worker"] and (settings.NAQL_EMBEDDED_QUEUE or opts["with_worker"]):
            worker = self.start_worker()

        def stop(signum, frame):
            raise SystemExit(0)

        signal.signal(signal.SIGTERM, stop)
        try:
            call_command("runserver", addrport, use_reloader=False)
        finally:
            if worker and worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
                worker.wait(timeout=20)

    def start_worker(self) -> subprocess.Popen:
        cmd = worker_argv()
        self.stdout.write(f"starting Celery worker: {' '.join(cmd[2:])}")
        preexec = _die_with_parent if sys.platform.startswith("linux") else None
        proc = subprocess.Popen(cmd, env=os.environ.copy(), preexec_fn=preexec)  # noqa: S603, PLW1509 - fixed argv
        atexit.register(lambda: proc.poll() is None and proc.terminate())
        return proc
