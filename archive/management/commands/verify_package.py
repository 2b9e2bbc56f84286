"""python manage.py verify_package FILE.wacz [--key PEM] [--tsa-root PEM]"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from archive.store.verify import verify_package


class Command(BaseCommand):
    help = ("Verify a WACZ package offline (nothing of Naql's database is used): the zip container, every "
            "file's SHA-256, the datapackage digest, the signature, the RFC 3161 timestamp and the WARC "
            "record digests. Prints what was proven, or exactly which part failed (non-zero exit).")
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("file", metavar="FILE.wacz")
        parser.add_argument("--key", action="append", default=[], metavar="PEM",
                            help="public key the package must be signed with (e.g. the instance's "
                                 "/.well-known/naql-signing-key.pem); repeatable")
        parser.add_argument("--tsa-root", action="append", default=[], metavar="PEM",
                            help="certificate the TSA's chain must end in; repeatable")

    def handle(self, *args, **opts):
        path = Path(opts["file"])
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        keys = [Path(k).read_bytes() for k in opts["key"]] or None
        roots = [Path(r).read_bytes() for r in opts["tsa_root"]] or None
        report = verify_package(path, trusted_keys=keys, tsa_roots=roots)
        for line in report.proven:
            self.stdout.write(f"OK    {line}")
        for note in report.notes:
            self.stdout.write(f"NOTE  {note}")
        for part, message in report.failures:
            self.stdout.write(f"FAIL  {part}: {message}")
        if not report.ok:
            raise CommandError(f"{path.name}: verification FAILED ({len(report.failures)} problem(s): "
                               + ", ".join(sorted(report.failed_parts())) + ")")
        self.stdout.write(f"{path.name}: verified")
