"""python manage.py load_demo — capture the demo corpus (Watan ← El Español ← origins) offline.

The demo web is the test fixture web (tests/fixtures/corpus) served at its real URLs by the
test forward proxy, so the demo goes through exactly the code a real capture does: guarded
fetches, redirects, requisites, WARC writing, extraction, and the provenance follow-ups.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand, CommandError
from django.test import override_settings

from archive.capture.capture import capture
from archive.errors import CaptureError

DEMO_ORDER = [
    "ngo/statement.html", "twitter/gantz-status.html", "far/communique.html", "-elespanol-short",
    "watan/article.v1.html", "watan/article.windows-1256.html", "watan/404.html",
]


class Command(BaseCommand):
    help = "Capture the demo corpus offline (two versions of the Watan article included) and load gold links."

    def add_arguments(self, parser):
        parser.add_argument("--no-admin", action="store_true", help="do not create the demo admin user")
        parser.add_argument("--if-empty", action="store_true", help="do nothing if the archive has snapshots")

    def handle(self, *args, **opts):
        from archive.models import Snapshot

        if opts["if_empty"] and Snapshot.objects.exists():
            self.stdout.write("the archive already has snapshots: demo not loaded again")
            if not opts["no_admin"]:
                self._admin()
            return
        try:
            from tests.corpus_server import CorpusServer
            from tests.helpers import ELESPANOL_SHORT_URL, WATAN_URL, corpus_url
        except ImportError as exc:  # pragma: no cover - only without the repo's tests/ folder
            raise CommandError("load_demo needs the repository's tests/fixtures corpus") from exc

        server = CorpusServer("proxy").start()
        try:
            with override_settings(NAQL_CAPTURE_PROXY=server.proxy_url, NAQL_CAPTURE_PROXY_LOCAL_DNS=False):
                for item in DEMO_ORDER:
                    url = ELESPANOL_SHORT_URL if item == "-elespanol-short" else corpus_url(item)
                    self._capture(url)
                server.set_version(WATAN_URL, 1)
                self._capture(WATAN_URL)
        finally:
            server.stop()
        if "load_gold_links" in get_commands():
            from tests.helpers import CORPUS

            call_command("load_gold_links", str(CORPUS / "gold" / "claims.json"), stdout=self.stdout)
        if not opts["no_admin"]:
            self._admin()

    def _capture(self, url: str) -> None:
        try:
            result = capture(url)
        except CaptureError as exc:
            raise CommandError(f"demo capture of {url} failed: {exc.message}") from exc
        f = result.final
        self.stdout.write(f"captured {f.guid}  {f.status}  {f.record_type:8}  {f.url}")

    def _admin(self) -> None:
        User = get_user_model()
        path = settings.DATA_DIR / "admin-password.txt"
        if User.objects.filter(is_superuser=True).exists():
            if path.exists():
                self.stdout.write(f"admin login: admin / {path.read_text().strip()}   (from {path})")
            return
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser("admin", "admin@localhost", password)
        path.write_text(password + "\n")
        path.chmod(0o600)
        self.stdout.write(self.style.SUCCESS(f"admin login: admin / {password}   (also saved in {path})"))
