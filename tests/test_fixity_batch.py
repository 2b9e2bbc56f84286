"""`verify` over many small per-capture files: one read per file, a damaged record still named
among its neighbours, and a number of queries that does not grow with the number of files."""

from __future__ import annotations

import builtins
import hashlib
import os
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from archive.models import Snapshot, WarcFile
from archive.store.ingest import import_file
from tests.warc_builders import response, write_warc

pytestmark = pytest.mark.django_db


@pytest.fixture
def own_warc_store(tmp_path, settings):
    """A store of this test's own (the suite's store is checked whole at the end, and a damaged
    file must not reach it; ``verify`` also lists every published file it finds)."""
    settings.STORAGES = {**settings.STORAGES, "warcs": {**settings.STORAGES["warcs"], "OPTIONS": {
        **settings.STORAGES["warcs"].get("OPTIONS", {}), "location": str(tmp_path / "own-warcs")}}}
    return tmp_path / "own-warcs"


def _captures(tmp_path: Path, n: int, *, pages: int = 2) -> list[WarcFile]:
    """``n`` small WARC files, each of ``pages`` responses, imported one by one (as captures write them)."""
    files = []
    for i in range(n):
        recs = [response(f"https://example.org/{i}/{p}", f"<p>captura {i} página {p} {'x' * 300}</p>".encode())[1]
                for p in range(pages)]
        files.append(import_file(write_warc(tmp_path / f"c{i}.warc.gz", recs), analyse=False).warc_file)
    return files


def _flip(path: Path, offset: int) -> None:
    os.chmod(path, 0o644)
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("deep", [False, True])
def test_a_damaged_record_is_named_among_many_small_files(tmp_path, own_warc_store, capsys, deep):
    files = _captures(tmp_path, 12)
    victim = files[6]
    first, second = Snapshot.objects.filter(warc_file=victim).order_by("offset")
    _flip(own_warc_store / victim.name, second.offset + second.length // 2)
    with pytest.raises(CommandError, match="1 WARC file"):
        call_command("verify", *(["--deep"] if deep else []))
    captured = capsys.readouterr()
    assert f"FAIL {victim.name}" in captured.err and captured.err.count("FAIL ") == 1
    # the damaged record, at its offset in the bytes that were hashed, and not its intact neighbour
    assert f"record at {second.offset} does not match its recorded SHA-256 ({second.record_id})" in captured.err
    assert f"record at {first.offset} " not in captured.err
    assert "11 of 12 WARC file(s) verified" in captured.out
    outcome = dict(WarcFile.objects.values_list("name", "last_verified_ok"))
    assert outcome == {f.name: f != victim for f in files}


def test_an_index_entry_beyond_the_end_of_an_intact_file_is_named(tmp_path, own_warc_store, capsys):
    files = _captures(tmp_path, 3)
    snap = Snapshot.objects.filter(warc_file=files[1]).order_by("offset").last()
    records = [{**r, "length": r["length"] + 1} if r["offset"] == snap.offset else r for r in snap.records]
    Snapshot.objects.filter(pk=snap.pk).update(records=records)  # the index, not the file, is wrong
    with pytest.raises(CommandError, match="1 WARC file"):
        call_command("verify")
    err = capsys.readouterr().err
    assert f"record at {snap.offset} ({snap.record_id}) lies beyond the file's end" in err
    assert "file SHA-256" not in err and err.count("FAIL ") == 1


def test_deep_verify_reads_each_file_once(tmp_path, own_warc_store, monkeypatch):
    _captures(tmp_path, 5, pages=3)
    opened: list[str] = []
    real_open = builtins.open

    def counting_open(file, *args, **kwargs):
        if str(file).startswith(str(own_warc_store)):
            opened.append(str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", counting_open)
    call_command("verify", "--deep")
    assert len(opened) == 5 and len(set(opened)) == 5


def _bare_files(store: Path, n: int) -> None:
    """``n`` more published files with their WarcFile rows (no snapshots: only the whole file is checked)."""
    rows = []
    for i in range(n):
        name = f"2024/05/06/aa/bare-{i}.warc.gz"
        data = f"bytes of file {i}".encode()
        (store / name).parent.mkdir(parents=True, exist_ok=True)
        (store / name).write_bytes(data)
        rows.append(WarcFile(name=name, size=len(data), sha256=hashlib.sha256(data).hexdigest(), record_count=0))
    WarcFile.objects.bulk_create(rows)


def test_the_number_of_queries_does_not_grow_with_the_number_of_files(tmp_path, own_warc_store, capsys):
    files = _captures(tmp_path, 3)
    _flip(own_warc_store / files[1].name, 40)  # one failure: both outcomes are recorded

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx, pytest.raises(CommandError):
            call_command("verify", "--quiet")
        return len(ctx.captured_queries)

    few = queries()
    _bare_files(own_warc_store, 400)
    many = queries()
    assert "402 of 403 WARC file(s) verified" in capsys.readouterr().out
    assert many == few
    assert WarcFile.objects.filter(last_verified_ok=True).count() == 402


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's HOT updates")
def test_recording_the_outcome_updates_rows_in_place_on_postgresql(own_warc_store):
    """Full pages would move every row's new version to another page, with an entry in every index."""
    _bare_files(own_warc_store, 400)  # ~15 pages of rows written as an import or captures write them
    table = WarcFile._meta.db_table

    def hot_updates() -> int:
        with connection.cursor() as cur:
            cur.execute("SELECT pg_stat_get_xact_tuples_hot_updated(%s::regclass)", [table])
            return cur.fetchone()[0]

    before = hot_updates()
    call_command("verify", "--quiet")
    assert hot_updates() - before == 400
