"""``manage.py trace URL [--json]``: the document at URL, its relations and each claim's chain.

``--follow`` first traces the URL (:mod:`provenance.trace`): captures it (or reuses a fresh
capture), follows its upstream candidates within the bounds, detects relations and aligns claims,
all in this process (no worker needed), printing progress on stderr; then prints the result."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from archive.errors import ArchiveError
from provenance.chain import render_text, trace


class Command(BaseCommand):
    help = ("Show the document at URL, its relations upstream and downstream, and each claim with its chain; "
            "--follow captures its upstream chain first.")

    def add_arguments(self, parser):
        parser.add_argument("url")
        parser.add_argument("--json", action="store_true", help="machine-readable output")
        parser.add_argument("--follow", action="store_true",
                            help="trace first: capture the URL and its upstream sources, detect and align")
        parser.add_argument("--depth", type=int, default=None, help="hops upstream (default NAQL_TRACE_DEPTH, 4)")
        parser.add_argument("--max-documents", type=int, default=None,
                            help="URLs captured or reused at most (default NAQL_TRACE_MAX_DOCUMENTS, 25)")
        parser.add_argument("--time-budget", type=float, default=None,
                            help="seconds (default NAQL_TRACE_TIME_BUDGET, 300)")
        parser.add_argument("--reuse-age", type=int, default=None,
                            help="reuse captures younger than this many seconds (default NAQL_TRACE_REUSE_AGE)")
        parser.add_argument("--no-requisites", action="store_true", help="do not capture page requisites")
        parser.add_argument("--quiet", action="store_true", help="no progress on stderr")

    def handle(self, *args, **opts):
        from provenance.tasks import catch_up

        ran = catch_up()  # captures whose follow-up still waits for a worker: do it now
        if ran and not opts["json"]:
            self.stderr.write(f"ran the queued provenance follow-up of {ran} capture(s)")
        url = opts["url"]
        traced = None
        if opts["follow"]:
            traced = self._follow(url, opts)
            url = traced.document.url if traced.document else url
        result = trace(url)
        if result is None:
            raise CommandError(f"no document for {opts['url']} (capture it first, or use --follow)")
        if traced is not None:
            from provenance.trace import trace_dict

            result = {"trace": trace_dict(traced), **result}
        if opts["json"]:
            self.stdout.write(json.dumps(result, ensure_ascii=False, indent=1))
        else:
            if traced is not None:
                self.stdout.write(_trace_summary(result["trace"]))
            self.stdout.write(render_text(result))

    def _follow(self, url, opts):
        from provenance.models import Trace
        from provenance.trace import run_trace, start_trace

        try:
            t = start_trace(url, enqueue=False, depth=opts["depth"], max_documents=opts["max_documents"],
                            time_budget=opts["time_budget"], reuse_age=opts["reuse_age"],
                            requisites=False if opts["no_requisites"] else None)
        except (ArchiveError, ValueError) as exc:
            raise CommandError(f"cannot trace {url}: {getattr(exc, 'message', exc)}") from exc
        err = self.stderr

        def show(step):
            err.write(f"[{step['at']:7.2f}s] {step['phase']}: {step['message']}")

        t = run_trace(t.pk, on_step=None if opts["quiet"] else show)
        if t.state != Trace.State.SUCCEEDED:
            err = t.error or {}
            raise CommandError(f"trace {t.guid} failed: [{err.get('code')}] {err.get('message')}")
        return t


def _trace_summary(t: dict) -> str:
    lines = [f"Trace {t['id']} {t['state']} in {t['duration_seconds']}s: {len(t['documents'])} document(s), "
             f"{len(t['relations'])} relation(s), {len(t['failures'])} not followed or failed"
             + (f", stopped by {t['stopped_by']}" if t["stopped_by"] else "")]
    for f in t["failures"]:
        lines.append(f"  ✗ {f['code']}: {f['url']} — {f['message']}")
    for u in t["unresolved"]:
        lines.append(f"  ? {u['message']}")
    return "\n".join(lines) + "\n"
