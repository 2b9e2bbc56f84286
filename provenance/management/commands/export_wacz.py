"""python manage.py export_wacz OUT.wacz [--snapshot ID...] [--url URL...] [--document ID [--chain]]"""

from __future__ import annotations

import shutil

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from archive.errors import ArchiveError
from archive.models import Snapshot
from archive.store.wacz import build_package
from provenance.models import Document


class Command(BaseCommand):
    help = ("Export snapshots, a document or a document's whole provenance chain as a signed WACZ 1.1.1 "
            "package (original WARC records, CDXJ index, pages, PROV-JSON and Web Annotation claims).")

    def add_arguments(self, parser):
        parser.add_argument("out", metavar="OUT.wacz")
        parser.add_argument("--snapshot", action="append", default=[], metavar="ID", help="citable snapshot ID")
        parser.add_argument("--url", action="append", default=[], metavar="URL",
                            help="every live capture of this URL")
        parser.add_argument("--document", metavar="ID", help="a document (numeric ID or URL)")
        parser.add_argument("--chain", action="store_true",
                            help="with --document: every document upstream of it up to the origins")
        parser.add_argument("--as-user", metavar="USERNAME",
                            help="package what this user may see (default: what anyone may see)")
        parser.add_argument("--unsigned", action="store_true", help="leave out the signature")
        parser.add_argument("--no-cache", action="store_true", help="build anew even if an equal package exists")

    def handle(self, *args, **opts):
        user = None
        if opts["as_user"]:
            user = get_user_model().objects.filter(username=opts["as_user"]).first()
            if user is None:
                raise CommandError(f"no user {opts['as_user']!r}")
        if opts["chain"] and not opts["document"]:
            raise CommandError("--chain needs --document")
        if bool(opts["document"]) == bool(opts["snapshot"] or opts["url"]):
            raise CommandError("give --document ID, or --snapshot/--url (one or more)")
        try:
            if opts["document"]:
                from provenance.package import chain_package

                doc = self._document(opts["document"])
                package = chain_package(doc, user, chain=opts["chain"], sign=not opts["unsigned"],
                                        use_cache=not opts["no_cache"])
            else:
                snaps = []
                for guid in opts["snapshot"]:
                    s = Snapshot.objects.by_guid(guid).first()
                    if s is None:
                        raise CommandError(f"no snapshot {guid}")
                    snaps.append(s)
                for url in opts["url"]:
                    found = list(Snapshot.objects.live().for_url(url).order_by("captured_at"))
                    if not found:
                        raise CommandError(f"no capture of {url}")
                    snaps.extend(found)
                package = build_package(snaps, user=user, sign=not opts["unsigned"],
                                        use_cache=not opts["no_cache"])
        except ArchiveError as exc:
            raise CommandError(exc.message) from exc
        shutil.copyfile(package.path, opts["out"])
        how = "from cache" if package.cached else f"{package.records} records"
        self.stdout.write(f"wrote {opts['out']}: {len(package.snapshots)} page(s), {how}, "
                          f"{package.size} bytes, package {package.key[:16]}")
        for guid in package.snapshots:
            self.stdout.write(f"    {guid}")

    @staticmethod
    def _document(value: str) -> Document:
        doc = Document.objects.filter(pk=int(value)).first() if value.isdigit() else \
            Document.objects.for_url(value).first()
        if doc is None:
            raise CommandError(f"no document {value}")
        return doc
