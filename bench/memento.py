"""Memento scaling benchmark: TimeGate, memento headers and TimeMap pages for a URL with 10,
1,000 and 100,000 captures. Look-ups go through the (surt, captured_at) index, so the times
should be flat; the printed ratios are against the 10-capture URL measured in the same run.

    .venv/bin/python bench/memento.py [--repeat 200] [--sizes 10,1000,100000]

Runs standalone: a temporary NAQL_DATA_DIR and a fresh test database (``test_<name>`` of
``DATABASE_URL`` when set, so PostgreSQL works: ``DATABASE_URL=postgres://... bench/memento.py``),
migrated on the spot and dropped at the end. On PostgreSQL autovacuum is switched off for the
snapshot table, so every figure is taken with no statistics at all, as right after a large import
before autovacuum has analysed the table (``--analyze`` runs ANALYZE first, for comparison).
One real response record is
written to a WARC; the synthetic Snapshot rows (one capture a minute) all point at it, bulk
inserted. Requests go through Django's test client (the full middleware and view stack, no
network), so the numbers are per-request server time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import types
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup_django() -> None:
    os.environ["NAQL_DATA_DIR"] = tempfile.mkdtemp(prefix="naql-bench-memento-")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "naql.settings")
    import django
    from django.conf import settings

    django.setup()
    from django.db import connection

    global _ORIGINAL_DB
    _ORIGINAL_DB = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("ALTER TABLE archive_snapshot SET (autovacuum_enabled = false)")
    from django.urls import include, path

    urls = types.ModuleType("bench_memento_urls")
    urls.urlpatterns = [path("", include("archive.replay.urls")), path("", include("naql.urls"))]
    sys.modules["bench_memento_urls"] = urls
    settings.ROOT_URLCONF = "bench_memento_urls"


_ORIGINAL_DB = None
BASE = datetime(2020, 1, 1, tzinfo=UTC)


def one_record():
    """A published WARC with one real response record; returns (WarcFile, RecordInfo, body)."""
    from archive.models import WarcFile
    from archive.store.warcstore import HTTP_RESPONSE_TYPE, WarcBuilder

    body = b"<!doctype html><html><head><title>bench</title></head><body><p>same bytes</p></body></html>"
    block = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
             + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    builder = WarcBuilder()
    info = builder.write_record("response", block=block, content_type=HTTP_RESPONSE_TYPE,
                                uri="http://bench.example/", date=BASE, http_payload=True)
    pub = builder.publish(prefix="bench")
    wf = WarcFile.objects.create(name=pub.name, size=pub.size, sha256=pub.sha256, record_count=1)
    return wf, info, body


_USED: set[str] = set()


def populate(n: int, wf, info, body) -> str:
    import hashlib

    from archive.ids import new_guid
    from archive.models import Snapshot
    from archive.uri import surt_key

    url = f"http://bench.example/n{n}/article"
    surt = surt_key(url)
    sha = hashlib.sha256(body).hexdigest()
    batch = []
    for i in range(n):
        guid = new_guid()
        while guid in _USED:  # 8 characters of 30: collisions are rare but real at 100k rows
            guid = new_guid()
        _USED.add(guid)
        batch.append(Snapshot(
            guid=guid, url=url, surt=surt, captured_at=BASE + timedelta(minutes=i), status=200, mime="text/html",
            content_type="text/html; charset=utf-8", payload_sha256=sha, payload_length=len(body),
            payload_digest=info.payload_digest, record_id=info.record_id, record_sha256=info.sha256,
            warc_file=wf, offset=info.offset, length=info.length, records=[info.as_dict()],
        ))
        if len(batch) == 5000:
            Snapshot.objects.bulk_create(batch)
            batch = []
    if batch:
        Snapshot.objects.bulk_create(batch)
    return url


def timed(client, path: str, repeat: int, **headers) -> tuple[float, float]:
    for _ in range(5):
        client.get(path, **headers)
    lat = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        resp = client.get(path, **headers)
        lat.append(time.perf_counter() - t0)
    assert resp.status_code in (200, 302), (path, resp.status_code)
    lat.sort()
    return statistics.median(lat) * 1000, lat[int(len(lat) * 0.99) - 1] * 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=200)
    ap.add_argument("--sizes", default="10,1000,100000")
    ap.add_argument("--analyze", action="store_true", help="run ANALYZE after inserting (fresh statistics)")
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]

    setup_django()
    from django.test import Client
    from django.utils.http import http_date

    from archive.replay import memento

    wf, info, body = one_record()
    client = Client()
    results = {}
    for n in sizes:
        t0 = time.perf_counter()
        url = populate(n, wf, info, body)
        load_s = time.perf_counter() - t0
        if args.analyze:
            from django.db import connection

            with connection.cursor() as cur:
                cur.execute("ANALYZE archive_snapshot")
        mid = BASE + timedelta(minutes=n // 2, seconds=20)
        mid_ts = (BASE + timedelta(minutes=n // 2)).strftime("%Y%m%d%H%M%S")
        cases = {
            "TimeGate (Accept-Datetime, middle)": (f"/web/{url}", {"HTTP_ACCEPT_DATETIME": http_date(mid.timestamp())}),
            "TimeGate (no Accept-Datetime: latest)": (f"/web/{url}", {}),
            "memento id_ (middle, all Link rels)": (f"/web/{mid_ts}id_/{url}", {}),
            "TimeMap link, first page (min(n, 1000) entries)": (f"/web/timemap/link/{url}", {}),
            "TimeMap link, 10-entry page in the middle": (f"/web/timemap/link/from/{mid_ts}/{url}", {}),
        }
        row = {}
        from django.test import override_settings

        for label, (path, headers) in cases.items():
            size = 10 if "10-entry" in label else 1000
            with override_settings(NAQL_TIMEMAP_PAGE_SIZE=size):
                row[label] = timed(client, path, args.repeat, **headers)
        lat = []
        for _ in range(args.repeat):
            t1 = time.perf_counter()
            memento.closest(memento.surt_key(url), mid, None, url)
            lat.append(time.perf_counter() - t1)
        row["closest() lookup alone"] = (statistics.median(lat) * 1000, float("nan"))
        results[n] = row
        print(f"{n:>7} captures inserted in {load_s:.1f} s", file=sys.stderr)

    from django.db import connection

    stats = "fresh statistics (ANALYZE run)" if args.analyze else "no statistics (never analysed)"
    if connection.vendor == "postgresql" and not args.analyze:
        with connection.cursor() as cur:
            cur.execute("SELECT reltuples FROM pg_class WHERE relname = 'archive_snapshot'")
            reltuples = cur.fetchone()[0]
        stats += f"; pg_class.reltuples = {reltuples:g}"
    base_n = sizes[0]
    print(f"database: {connection.vendor}; {stats}")
    print(f"median (p99) ms per request; ratio = median / median at {base_n} captures")
    for label in results[base_n]:
        print(label)
        for n in sizes:
            p50, p99 = results[n][label]
            ratio = p50 / results[base_n][label][0]
            p99s = "" if p99 != p99 else f" ({p99:.2f})"
            print(f"  {n:>7} captures: {p50:7.2f}{p99s:>10}  ×{ratio:.2f}")
    # the issue-19 table rows: a full TimeMap page is compared with a full page (the smallest
    # size that fills it), not with a shorter one that needs no paging queries
    big = sizes[-1]
    full = next((n for n in sizes if n >= 1000), base_n)
    full10 = next((n for n in sizes if n >= 20), base_n)  # a full 10-entry page in the middle, plus a next page
    print(f"\nsummary ({connection.vendor}, {stats.split(';')[0]})")
    for label, base in (("TimeGate (Accept-Datetime, middle)", base_n), ("TimeGate (no Accept-Datetime: latest)", base_n),
                        ("memento id_ (middle, all Link rels)", base_n),
                        ("TimeMap link, first page (min(n, 1000) entries)", full),
                        ("TimeMap link, 10-entry page in the middle", full10)):
        ratio = results[big][label][0] / results[base][label][0]
        print(f"  {label}: {big} ÷ {base} captures = {ratio:.2f}")
    connection.creation.destroy_test_db(_ORIGINAL_DB, verbosity=0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
