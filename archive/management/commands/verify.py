"""python manage.py verify — fixity audit of every WARC file and record."""

from django.core.management.base import BaseCommand, CommandError

from archive.store.fixity import audit_all, orphan_files


class Command(BaseCommand):
    help = ("Re-read every WARC file: its SHA-256 against the recorded one (each damaged record named); "
            "--deep also checks every record's SHA-256 and WARC block/payload digests.")

    def add_arguments(self, parser):
        parser.add_argument("--quiet", action="store_true")
        parser.add_argument("--deep", action="store_true",
                            help="Also re-read every record and check its WARC block and payload digests.")

    def handle(self, *args, **opts):
        reports = audit_all(deep=opts["deep"])
        bad = [r for r in reports if not r.ok]
        for r in bad:
            self.stderr.write(f"FAIL {r.name}")
            for p in r.problems:
                self.stderr.write(f"    {p}")
        if not opts["quiet"] and len(bad) < len(reports):  # one write: a line each costs more than a small file's hash
            self.stdout.write("\n".join(f"ok   {r.name} ({r.records_checked} records)" for r in reports if r.ok))
        self.stdout.write(f"{len(reports) - len(bad)} of {len(reports)} WARC file(s) verified")
        for name in orphan_files():
            self.stdout.write(f"note {name}: published but not indexed (a capture was interrupted); "
                              "import_warc can index it")
        if bad:
            raise CommandError(f"{len(bad)} WARC file(s) failed fixity")
