"""``manage.py trace URL [--json]``: the document at URL, its relations and each claim's chain."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from provenance.chain import render_text, trace


class Command(BaseCommand):
    help = "Show the document at URL, its relations upstream and downstream, and each claim with its chain."

    def add_arguments(self, parser):
        parser.add_argument("url")
        parser.add_argument("--json", action="store_true", help="machine-readable output")

    def handle(self, *args, **opts):
        from provenance.tasks import catch_up

        ran = catch_up()  # captures whose follow-up still waits for a worker: do it now
        if ran and not opts["json"]:
            self.stderr.write(f"ran the queued provenance follow-up of {ran} capture(s)")
        result = trace(opts["url"])
        if result is None:
            raise CommandError(f"no document for {opts['url']} (capture it first)")
        if opts["json"]:
            self.stdout.write(json.dumps(result, ensure_ascii=False, indent=1))
        else:
            self.stdout.write(render_text(result))
