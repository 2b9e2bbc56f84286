"""python manage.py capture URL... [--json] [--no-requisites] [--browser | --mode raw|browser|auto]
[--follow-up inline|queue]"""

import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Count

from archive.errors import ArchiveError
from archive.jobs import run_jobs, submit
from archive.models import CaptureJob, Snapshot
from archive.signals import followup_inline


class Command(BaseCommand):
    help = "Capture URLs now (in this process) and print each snapshot's ID, final URL, status, time, WARC and SHA-256."

    def add_arguments(self, parser):
        parser.add_argument("urls", nargs="+", metavar="URL")
        parser.add_argument("--json", action="store_true", help="one JSON object per line")
        parser.add_argument("--no-requisites", action="store_true", help="do not capture stylesheets, images, scripts")
        modes = parser.add_mutually_exclusive_group()
        modes.add_argument("--browser", action="store_const", const="browser", dest="mode",
                           help="capture with Chromium behind the recording proxy (screenshot, rendered DOM)")
        modes.add_argument("--mode", choices=["raw", "browser", "auto"], dest="mode",
                           help="raw, browser, or auto (raw first, browser when the page has no article text); "
                                "default: per-domain setting, else NAQL_CAPTURE_DEFAULT_MODE")
        parser.add_argument(
            "--follow-up", choices=["inline", "queue"], default=None,
            help="derived work after each capture (document, claims, relations): 'inline' does it here before "
                 "returning (default on the embedded default, where no worker may run); 'queue' leaves it to a "
                 "worker (default with a CELERY_BROKER_URL); `trace URL` runs any follow-up still queued")

    def handle(self, *urls, **opts):
        if opts.get("mode") == "browser":
            from archive.capture.browser import browser_missing_reason

            if reason := browser_missing_reason():
                raise CommandError(f"--browser: this machine cannot run browser captures: {reason}")
        follow_up = opts["follow_up"] or ("inline" if getattr(settings, "NAQL_EMBEDDED_QUEUE", False) else "queue")
        urls, size = opts["urls"], max(1, settings.NAQL_CAPTURE_BATCH_SIZE)
        failures = 0
        # Raw-mode URLs are captured NAQL_CAPTURE_BATCH_SIZE at a time, each batch in one WARC file
        # and one durable commit (archive.capture.batch); results are printed batch by batch.
        for start in range(0, len(urls), size):
            failures += self._run_batch(urls[start:start + size], opts, follow_up)
        if failures:
            raise CommandError(f"{failures} of {len(urls)} capture(s) failed")

    def _run_batch(self, urls: list[str], opts: dict, follow_up: str) -> int:
        submitted: list[tuple[str, CaptureJob | None, dict | None]] = []
        with transaction.atomic():  # the batch's jobs in one commit
            for url in urls:
                try:
                    job = submit(url, requisites=not opts["no_requisites"], enqueue=False, mode=opts.get("mode"),
                                 max_attempts=1)
                except ArchiveError as exc:
                    submitted.append((url, None, exc.as_dict()))
                    continue
                submitted.append((url, job, None))
        ids = [job.pk for _, job, _ in submitted if job is not None]
        if follow_up == "inline":
            with followup_inline():
                done = {job.pk: job for job in run_jobs(ids)}
        else:
            done = {job.pk: job for job in run_jobs(ids)}
        finals = [(j.snapshot.final_id or j.snapshot_id) for j in done.values() if j.snapshot_id]
        requisites = dict(Snapshot.objects.filter(page_id__in=finals).values("page_id").annotate(n=Count("pk"))
                          .values_list("page_id", "n"))  # one query for the batch
        failures = 0
        for url, job, error in submitted:
            if job is None:
                failures += 1
                self._emit(opts, {"url": url, "ok": False, "error": error})
                continue
            job = done[job.pk]
            if job.state != CaptureJob.State.SUCCEEDED:
                failures += 1
                self._emit(opts, {"url": url, "ok": False, "job": job.guid, "error": job.error})
                continue
            snap = job.snapshot
            final = snap.final or snap
            self._emit(opts, {
                "url": url, "ok": True, "job": job.guid, "snapshot": snap.guid, "final_snapshot": final.guid,
                "final_url": final.url, "status": final.status, "captured_at": snap.captured_at.isoformat(),
                "warc_file": snap.warc_file.name, "warc_sha256": snap.warc_file.sha256,
                "record_sha256": final.record_sha256, "payload_sha256": final.payload_sha256,
                "requisites": requisites.get(final.pk, 0) + len(final.requisites_reused or []),
                "mode": final.capture_mode,
                "screenshot": bool(final.resource_record("screenshot")),
                "follow_up": "done" if follow_up == "inline" else "queued",
            })
        return failures

    def _emit(self, opts, obj):
        if opts["json"]:
            self.stdout.write(json.dumps(obj, ensure_ascii=False))
        elif obj["ok"]:
            self.stdout.write(
                f"{obj['snapshot']}  {obj['status']}  {obj['captured_at']}  {obj['final_url']}\n"
                f"    WARC {obj['warc_file']} (sha256 {obj['warc_sha256']})\n"
                f"    record sha256 {obj['record_sha256']}\n"
                + ("    provenance follow-up done (document, claims, relations)" if obj["follow_up"] == "done" else
                   "    provenance follow-up queued for a worker (`manage.py trace URL` runs it now if none has)")
            )
        else:
            err = obj["error"] or {}
            self.stderr.write(f"FAILED {obj['url']}: [{err.get('code')}] {err.get('message')}")
