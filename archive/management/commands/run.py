"""python manage.py run — start Naql: web server, plus a Celery worker (with beat) in embedded mode."""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = ("Run Naql. On the embedded default this also starts a Celery worker and beat on the filesystem "
            "broker, so captures run in the background with nothing else installed.")

    def add_arguments(self, parser):
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")
        parser.add_argument("--with-worker", action="store_true",
                            help="start a worker even in service mode (normally run separately)")
        parser.add_argument("--no-worker", action="store_true")

    def handle(self, *args, **opts):
        worker = None
        if not opts["no_worker"] and (settings.NAQL_EMBEDDED_QUEUE or opts["with_worker"]):
            worker = self.start_worker()

        def stop(signum, frame):
            raise SystemExit(0)

        signal.signal(signal.SIGTERM, stop)
        try:
            call_command("runserver", opts["addrport"], use_reloader=False)
        finally:
            if worker and worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
                worker.wait(timeout=20)

    def start_worker(self) -> subprocess.Popen:
        schedule = settings.DATA_DIR / "celerybeat-schedule"
        cmd = [sys.executable, "-m", "celery", "-A", "naql", "worker", "-B", "--schedule", str(schedule),
               "--pool=threads", "--concurrency=2", "--loglevel=INFO"]
        self.stdout.write(f"starting Celery worker: {' '.join(cmd[2:])}")
        proc = subprocess.Popen(cmd, env=os.environ.copy())  # noqa: S603 - fixed argv, no shell
        atexit.register(lambda: proc.poll() is None and proc.terminate())
        return proc
