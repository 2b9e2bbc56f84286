"""python manage.py import_warc FILE..."""

from django.core.management.base import BaseCommand, CommandError

from archive.errors import WarcImportError
from archive.store.ingest import import_file


class Command(BaseCommand):
    help = ("Import WARC/ARC (gzipped or not) or WACZ files as snapshots, checking every record first. "
            "Files are imported one by one, in any order: a revisit whose original arrives in a later file "
            "is kept pending and resolved then.")

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", metavar="FILE")
        parser.add_argument("--defer-analysis", action="store_true",
                            help="Index the records only; extraction (derived data) is left for later.")

    def handle(self, *args, **opts):
        failed = 0
        for path in opts["files"]:
            try:
                # the snapshots are listed from the import's spilled listing, not held as model
                # instances: memory stays flat in the file's size (issue 19)
                result = import_file(path, analyse=not opts["defer_analysis"], keep_snapshots=False)
            except WarcImportError as exc:
                failed += 1
                self.stderr.write(f"REJECTED {path}: {exc.message}")
                for problem in exc.details.get("problems", []):
                    self.stderr.write(f"    {problem}")
                continue
            where = result.warc_file.name if result.warc_file else "nothing new written"
            self.stdout.write(f"imported {path}: {result.count} snapshot(s) into {where}")
            for s in result.listing:
                self.stdout.write(f"    {s.guid}  {s.status}  {s.captured_at:%Y-%m-%dT%H:%M:%SZ}  {s.url}")
            result.listing.close()
            for s in result.resolved:
                self.stdout.write(f"    {s.guid}  {s.status}  {s.captured_at:%Y-%m-%dT%H:%M:%SZ}  {s.url}")
            for s in result.resolved:
                self.stdout.write(f"    resolved pending revisit {s.record_id} as {s.guid}")
            for note in result.notes:
                self.stdout.write(f"    note: {note}")
            for note in result.skipped:
                self.stdout.write(f"    skipped: {note}")
        if failed:
            raise CommandError(f"{failed} file(s) rejected; nothing of them was imported")
