#!/usr/bin/env python3
"""Storage of unchanged recaptures: bytes after N captures of an unchanging page ÷ after one.

Usage: python bench/storage.py [--captures 10] [--no-requisites]

Same set-up as bench/capture.py (fresh NAQL_DATA_DIR with SQLite, file WARC storage, the fixture
web served at its real URLs by tests.corpus_server's forward proxy, no DNS), with the analysis
and the provenance follow-up run inline after each capture, as a worker would: each capture of
the Watan article is followed by its document, claims (re-anchoring, segmentation) and relations.

Printed per capture count: WARC bytes (sum of the WARC files), database bytes (SQLite ``dbstat``
payload of every table and index, minus the freshly migrated database), rows added per table, and
the ratios after N captures ÷ after 1 for WARC and for WARC + database. Recaptures of an identical
page are WARC revisit records (the payload is stored once), so the WARC ratio measures each
recapture's own records (its file's warcinfo, the page's revisit, the metadata record; requests
identical to the original's and requisites identical to a recent capture are not written again)
and the database ratio the rows. Also printed: the records of the last recapture's WARC file with
their stored (gzip member) sizes, and the database bytes the recaptures added per table and index.
"""

from __future__ import annotations

# warcio.capture_http patches http.client at import: before anything imports requests/urllib3
import warcio.capture_http

# isort: split
import argparse
import logging
import os
import socket
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.corpus_server import CorpusServer, FakeDNS  # noqa: E402


def db_sizes() -> Counter:
    """Payload bytes per table and index (SQLite ``dbstat``), SQLite's own schema tables left out."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT name, SUM(payload) FROM dbstat GROUP BY name")
        return Counter({name: int(size or 0) for name, size in cur.fetchall() if not name.startswith("sqlite_")})


def db_bytes() -> tuple[int, Counter]:
    """Payload bytes of all tables and indexes, and the row count per table."""
    from django.db import connection

    with connection.cursor() as cur:
        rows = Counter()
        for table in connection.introspection.table_names(cur):
            cur.execute(f'SELECT COUNT(*) FROM "{table}"')  # noqa: S608 - names from the schema
            rows[table] = cur.fetchone()[0]
    return sum(db_sizes().values()), rows


def warc_members(name: str) -> list[tuple[str, int]]:
    """(WARC-Type, stored bytes) of each record (gzip member) of a published WARC file."""
    import zlib

    from archive.store.warcstore import warc_storage

    with warc_storage().open(name, "rb") as fh:
        data = fh.read()
    out, pos = [], 0
    while pos < len(data):
        d = zlib.decompressobj(31)
        head = d.decompress(data[pos:]).split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
        used = len(data) - pos - len(d.unused_data)
        kind = next((ln.split(":", 1)[1].strip() for ln in head.split("\r\n") if ln.startswith("WARC-Type:")), "?")
        out.append((kind, used))
        pos += used
    return out


def warc_bytes() -> int:
    from archive.models import WarcFile

    return sum(WarcFile.objects.values_list("size", flat=True))


def pywb_style(proxy_url: str, urls: list[str], captures: int, path: Path) -> list[int]:
    """The anchor: bytes of a pywb-style recording of the same fetches after each of ``captures``
    captures. As pywb's recorder with ``dedup_policy: revisit`` writes them: one rolling gzipped
    WARC file (one warcinfo record), a response and a request record per URL the first time,
    afterwards an identical-payload-digest revisit (with the HTTP head as sent) and a request
    record per URL. Recorded by ``warcio.capture_http`` from ``requests`` through the same proxy."""
    import requests
    from warcio.warcwriter import WARCWriter

    session = requests.Session()
    session.trust_env = False
    session.proxies = {"http": proxy_url, "https": proxy_url}
    seen: dict = {}
    sizes = []
    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=True, warc_version="1.1")
        writer.write_record(writer.create_warcinfo_record(path.name, {"software": "warcio (pywb-style anchor)"}))

        def dedup(request, response, _recorder=None):
            writer.ensure_digest(response, block=False, payload=True)
            uri = response.rec_headers.get_header("WARC-Target-URI")
            digest = response.rec_headers.get_header("WARC-Payload-Digest")
            if (uri, digest) in seen:
                response = writer.create_revisit_record(uri, digest, uri, seen[(uri, digest)],
                                                        http_headers=response.http_headers)
            else:
                seen[(uri, digest)] = response.rec_headers.get_header("WARC-Date")
            return request, response

        for _ in range(captures):
            with warcio.capture_http.capture_http(writer, dedup):
                for url in urls:
                    session.get(url, timeout=30).content  # noqa: B018 - read the body
            fh.flush()
            sizes.append(path.stat().st_size)
    return sizes


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--captures", type=int, default=10, help="captures of the unchanged page (default 10)")
    ap.add_argument("--no-requisites", action="store_true", help="capture the page without its CSS and image")
    args = ap.parse_args(argv)
    socket.getaddrinfo = FakeDNS().getaddrinfo
    tmp = Path(tempfile.mkdtemp(prefix="naql-bench-storage-"))
    server = CorpusServer("proxy").start()
    try:
        data_dir = tmp / "data"
        os.environ.update({
            "DJANGO_SETTINGS_MODULE": "naql.settings", "NAQL_DATA_DIR": str(data_dir),
            "NAQL_TMP_DIR": str(data_dir / "tmp"), "DATABASE_URL": f"sqlite:///{data_dir / 'naql.sqlite3'}",
            "CELERY_BROKER_URL": "", "CELERY_TASK_ALWAYS_EAGER": "false", "NAQL_STORAGE": "file",
            "NAQL_CAPTURE_PROXY": server.proxy_url, "NAQL_CAPTURE_PROXY_LOCAL_DNS": "false",
            "NAQL_CAPTURE_ALLOWED_NETWORKS": "", "NAQL_LOG_LEVEL": "WARNING", "NAQL_ANALYSE_INLINE": "true",
        })
        import django

        django.setup()
        logging.getLogger("kombu.connection").setLevel(logging.ERROR)
        from django.conf import settings
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)
        settings.NAQL_PROVENANCE_INLINE = True  # the follow-up right after each capture's commit
        from archive.capture.capture import capture
        from tests.helpers import WATAN_URL

        empty_db, empty_rows = db_bytes()
        table = []
        for n in range(1, args.captures + 1):
            result = capture(WATAN_URL, requisites=not args.no_requisites)
            db, rows = db_bytes()
            table.append((n, warc_bytes(), db - empty_db, rows - empty_rows,
                          sum(1 for s in result.snapshots if s.record_type == "revisit")))
            if n == 1:
                sizes_one = db_sizes()
                first_snapshots = result.snapshots
        members = warc_members(result.warc_file.name)
        by_name = db_sizes() - sizes_one
        fetched = [WATAN_URL, *(s.url for s in first_snapshots if s.is_requisite)]
        anchor = pywb_style(server.proxy_url, fetched, args.captures, tmp / "pywb-style.warc.gz")
    finally:
        server.stop()

    print(f"Watan article captured {args.captures} times unchanged "
          f"({'without' if args.no_requisites else 'with'} requisites); bytes after n captures")
    print(f"{'n':>3} {'WARC':>10} {'database':>10} {'WARC+DB':>10}  revisits in this capture")
    for n, w, d, _rows, rev in table:
        print(f"{n:>3} {w:>10,} {d:>10,} {w + d:>10,}  {rev}")
    (_, w1, d1, r1, _), (n, wn, dn, rn, _) = table[0], table[-1]
    per = Counter({k: v for k, v in (rn - r1).items() if v})
    print(f"\nrows added by the {n - 1} recaptures: " + (", ".join(f"{k} {v}" for k, v in per.most_common()) or "none"))
    print(f"bytes per recapture: WARC {(wn - w1) / max(1, n - 1):,.0f}, database {(dn - d1) / max(1, n - 1):,.0f}")
    print("  last recapture's WARC file: " + ", ".join(f"{t} {b:,}" for t, b in members))
    print("  database per recapture: " + ", ".join(f"{k} {v / max(1, n - 1):,.0f}" for k, v in by_name.most_common()))
    print(f"\nratio after {n} captures ÷ after 1 (issue 19 goal <= 1.15):")
    print(f"  WARC          {wn / w1:.2f}")
    print(f"  WARC + DB     {(wn + dn) / (w1 + d1):.2f}")
    print(f"  anchor: a pywb-style recording of the same {len(fetched)} URLs (one rolling WARC, revisit + request "
          f"records per unchanged URL): {anchor[0]:,} → {anchor[-1]:,} bytes, ratio {anchor[-1] / anchor[0]:.2f}, "
          f"{(anchor[-1] - anchor[0]) / max(1, n - 1):,.0f} bytes per recapture")
    return 0


if __name__ == "__main__":
    sys.exit(main())
