"""Memory of an import flat in the file's size (issue 19), and the chunked import's rows the same
as the whole-file one's."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import pytest

from archive.models import PendingRevisit, Snapshot, WarcFile
from archive.store.ingest import import_file
from tests.warc_builders import b32, record, response

ROOT = Path(__file__).resolve().parent.parent


def _many_records_warc(path: Path, pages: int, *, site: str, html_every: int = 0) -> Path:
    """``pages`` small CSS responses (not analysed, so the import's own memory is what is measured),
    a request for each and every fifth a revisit of an earlier page (its original thousands of
    records back, in another chunk), one gzip member per record. ``html_every``: every n-th page
    is an HTML page instead (analysed when imported)."""
    with open(path, "wb") as fh:
        ids = []
        for n in range(pages):
            body = f"/* {site} {n} */ p.n{n} {{ color: #{n % 4096:03x} }}".encode()
            url = f"https://{site}.example.org/style/{n}.css"
            ctype = "text/css"
            if html_every and n % html_every == 0:
                body = (f"<html><head><title>Informe {n}</title></head><body><article><p>El informe {n} de "
                        f"{site}, publicado en mayo.</p></article></body></html>").encode()
                url, ctype = f"https://{site}.example.org/informe/{n}", "text/html; charset=utf-8"
            date = f"2024-05-{1 + n % 28:02d}T07:{n // 60 % 60:02d}:{n % 60:02d}Z"
            rid, rec = response(url, body, date=date, http_headers=[("Content-Type", ctype)])
            ids.append((rid, url, date, b32("sha1", body)))
            fh.write(gzip.compress(rec, 1))
            fh.write(gzip.compress(record("request", url, f"GET /style/{n}.css HTTP/1.1\r\nHost: {site}\r\n\r\n"
                                          .encode(), content_type="application/http; msgtype=request")[1], 1))
            if n % 5 == 4:
                orig_id, orig_url, orig_date, digest = ids[n // 2]
                head = b"HTTP/1.1 304 Not Modified\r\n\r\n"
                fh.write(gzip.compress(record("revisit", orig_url, head, date=f"2024-06-01T00:00:{n % 60:02d}Z",
                                              extra=[("WARC-Profile", "http://netpreserve.org/warc/1.1/revisit/"
                                                                      "server-not-modified"),
                                                     ("WARC-Refers-To", orig_id),
                                                     ("WARC-Refers-To-Target-URI", orig_url),
                                                     ("WARC-Refers-To-Date", orig_date)],
                                              payload_digest=digest)[1], 1))
    return path


def _peak_rss_of_import_warc(path: Path) -> tuple[float, str]:
    """(peak RSS in MiB, stdout) of ``manage.py import_warc FILE`` run as a user runs it, sharing this
    test's database and data dir. VmHWM, not getrusage: ru_maxrss survives exec on Linux, so a child
    of the large pytest process would report the parent's size."""
    from tests.helpers import subprocess_env

    script = ("import runpy, sys\nsys.argv = ['manage.py', 'import_warc', sys.argv[1]]\ntry:\n"
              "    runpy.run_path('manage.py', run_name='__main__')\nfinally:\n"
              "    hwm = [x for x in open('/proc/self/status') if x.startswith('VmHWM:')][0].split()[1]\n"
              "    print('VMHWM_KB', hwm, file=sys.stderr)\n")
    out = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=300,
                         env=subprocess_env(), cwd=str(ROOT))
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
    return int(out.stderr.split("VMHWM_KB")[1].split()[0]) / 1024, out.stdout


@pytest.mark.django_db(transaction=True)
def test_import_warc_memory_is_flat_in_the_number_of_records(tmp_path):
    """Four times the records, about the same peak memory: the command lists every snapshot, but
    neither the records' descriptions nor the snapshots are held for the whole file. Before: +54 MiB
    from 4,400 to 17,600 records (~4 KB per record). Now ~5 MiB while the bounded buffers (a
    thousand descriptions or rows each) fill up, then flat (16,000 pages peak as 8,000)."""
    small = _many_records_warc(tmp_path / "small.warc.gz", 2000, site="small")
    big = _many_records_warc(tmp_path / "big.warc.gz", 8000, site="big")
    rss_small, out_small = _peak_rss_of_import_warc(small)
    rss_big, out_big = _peak_rss_of_import_warc(big)
    print(f"peak RSS of import_warc: {rss_small:.1f} MiB for 4,400 records, {rss_big:.1f} MiB for 17,600")
    assert f"imported {small}: 2400 snapshot(s)" in out_small and f"imported {big}: 9600 snapshot(s)" in out_big
    listed = [line.split()[0] for line in out_big.splitlines() if line.startswith("    ") and "  https://" in line]
    assert len(listed) == 9600 and set(listed) == set(
        Snapshot.objects.filter(url__contains="//big.").values_list("guid", flat=True))
    revisit = Snapshot.objects.filter(url__contains="//big.", record_type="revisit").order_by("pk").last()
    assert revisit.payload_snapshot.url == revisit.url and revisit.status == 200  # resolved across chunks
    assert rss_big - rss_small < 10, f"peak RSS grew from {rss_small:.1f} to {rss_big:.1f} MiB"


def _rows() -> dict[str, list[dict]]:
    """Every Snapshot and PendingRevisit row but ids, GUIDs and times of writing; references by record ID."""
    rid = dict(Snapshot.objects.values_list("pk", "record_id"))

    def dump(model, skip):
        cols = [f.attname for f in model._meta.concrete_fields if f.attname not in skip]
        rows = []
        for row in model.objects.order_by("pk").values(*cols):
            row["payload_snapshot_id"] = rid.get(row.get("payload_snapshot_id"))
            rows.append(row)
        return rows

    return {"snapshots": dump(Snapshot, {"id", "guid", "warc_file_id", "offset", "records"}),
            "pending": dump(PendingRevisit, {"id", "warc_file_id", "offset", "created_at"})}


def _clear() -> None:
    Snapshot.objects.update(payload_snapshot=None)
    Snapshot.objects.all().delete()
    PendingRevisit.objects.all().delete()
    WarcFile.objects.all().delete()


@pytest.mark.django_db(transaction=True)
def test_import_in_small_chunks_writes_the_same_rows(tmp_path, monkeypatch):
    """Chunks of 7 rows and 4 revisits, look-ups of 5 IDs and spills past 3 records (so revisits find their
    originals in other chunks, and pending revisits of an earlier file are resolved in batches)
    give exactly the rows of an import done in one chunk with every snapshot kept, analysis included."""
    from archive.store import ingest, spill

    pages = _many_records_warc(tmp_path / "pages.warc.gz", 60, site="chunks", html_every=7)
    # revisits of those pages, imported first: pending until the pages arrive
    with gzip.open(pages) as fh:
        data = fh.read()
    revisits = [b"WARC/1.1" + r for r in data.split(b"WARC/1.1")[1:] if b"WARC-Type: revisit" in r]
    orphan_path = tmp_path / "revisits.warc.gz"
    orphan_path.write_bytes(b"".join(gzip.compress(r) for r in revisits))

    def run(**kw):
        first, second = import_file(orphan_path, analyse=False, **kw), import_file(pages, analyse=True, **kw)
        return _rows(), [list(r.listing) for r in (first, second)], first, second

    whole, whole_listing, first, second = run()
    assert sum(bool(r["title"]) for r in whole["snapshots"] if r["record_type"] != "revisit") == 9  # analysed
    assert len(first.pending) == 12 and len(second.resolved) == 12 and len(second.snapshots) == 60
    assert [(s.guid, s.status, s.captured_at, s.url) for s in second.snapshots] == whole_listing[1]
    _clear()
    monkeypatch.setattr(ingest, "ROWS_PER_BATCH", 7)
    monkeypatch.setattr(ingest, "IDS_PER_QUERY", 5)
    monkeypatch.setattr(ingest, "REVISITS_PER_BATCH", 4)
    monkeypatch.setattr(spill, "BUFFER", 3)
    chunked, chunked_listing, first, second = run(keep_snapshots=False)
    assert second.snapshots == [] and second.count == 60 and len(second.resolved) == 12
    assert chunked == whole
    assert [[x[1:] for x in lst] for lst in chunked_listing] == [[x[1:] for x in lst] for lst in whole_listing]


def test_spill_keeps_order_past_its_buffer_and_can_be_read_twice(tmp_path):
    from archive.store import spill

    s = spill.Spill(range(10), buffer=4, tmp_dir=tmp_path, codec=(lambda x: (x,), lambda t: t[0]))
    assert len(s) == 10 and list(s) == list(range(10)) and list(s) == list(range(10))
    assert [list(b) for b in spill.batched(s, 4)] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert list(tmp_path.iterdir()) == []  # anonymous: nothing left on disk under a name
    s.close()
    assert list(s) == [] and not s
