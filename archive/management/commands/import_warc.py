"""python manage.py import_warc FILE..."""

from django.core.management.base import BaseCommand, CommandError

from archive.errors import WarcImportError
from archive.store.ingest import import_file


class Command(BaseCommand):
    help = "Import WARC/ARC (gzipped or not) or WACZ files as snapshots, verifying every digest first."

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", metavar="FILE")

    def handle(self, *args, **opts):
        failed = 0
        for path in opts["files"]:
            try:
                result = import_file(path)
            except WarcImportError as exc:
                failed += 1
                self.stderr.write(f"REJECTED {path}: {exc.message}")
                for problem in exc.details.get("problems", []):
                    self.stderr.write(f"    {problem}")
                continue
            self.stdout.write(f"imported {path}: {len(result.snapshots)} snapshot(s) into {result.warc_file.name}")
            for s in result.snapshots:
                self.stdout.write(f"    {s.guid}  {s.status}  {s.captured_at:%Y-%m-%dT%H:%M:%SZ}  {s.url}")
            for note in result.skipped:
                self.stdout.write(f"    skipped: {note}")
        if failed:
            raise CommandError(f"{failed} file(s) rejected; nothing of them was imported")
