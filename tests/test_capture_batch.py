"""Batch capture (issue 19): several URLs in one WARC file and one durable commit, through the
``capture`` command, with the guarantees of a single capture.

The site is written here (a French regional daily and its short links), not taken from the corpus:
two articles sharing a stylesheet and a masthead image, a short link that redirects, and a pair of
links that redirect to each other."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from warcio.archiveiterator import ArchiveIterator

from archive.models import CaptureJob, Snapshot, WarcFile
from archive.store.warcstore import warc_storage
from tests.helpers import json_lines, serve_site, subprocess_env

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent

SITE = "http://www.courrier-des-deux-rives.fr"
FERRY = f"{SITE}/2026/11/28/la-liaison-maritime-tanger-algesiras-reprend-apres-trois-jours-de-tempete/"
PORT = f"{SITE}/2026/11/29/le-port-de-tanger-med-annonce-un-trafic-record-de-conteneurs/"
SHORT = "http://c2r.fr/x7Pq"
LOOP_A, LOOP_B = f"{SITE}/amp/boucle-a", f"{SITE}/amp/boucle-b"
CSS = f"{SITE}/static/maquette.css?v=41"
MASTHEAD = f"{SITE}/static/bandeau.png"

PAGE = """<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>{title}</title>
<link rel="stylesheet" href="/static/maquette.css?v=41"></head><body>
<header><img src="/static/bandeau.png" alt="Le Courrier des deux rives"></header>
<article><h1>{title}</h1><p class="chapo">{lede}</p><p>{body}</p></article></body></html>
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory, offline_dns):
    root = tmp_path_factory.mktemp("batch_site")
    (root / "ferry.html").write_text(PAGE.format(
        title="La liaison maritime Tanger–Algésiras reprend après trois jours de tempête",
        lede="Les premiers ferries ont quitté le port vendredi à l'aube, selon l'autorité portuaire.",
        body="Quelque 4 200 passagers attendaient depuis mardi ; la compagnie promet des rotations "
             "supplémentaires jusqu'à dimanche soir."), encoding="utf-8")
    (root / "port.html").write_text(PAGE.format(
        title="Tanger Med annonce un trafic record de conteneurs",
        lede="Le port a traité 9,1 millions de conteneurs EVP en onze mois, d'après son rapport mensuel.",
        body="La direction attribue la hausse au report de lignes asiatiques depuis la mer Rouge."), encoding="utf-8")
    (root / "maquette.css").write_text("body{font-family:serif}header img{max-width:100%}\n", encoding="utf-8")
    (root / "bandeau.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    rows = [
        (FERRY, "ferry.html", 200, "text/html; charset=utf-8", "-"),
        (PORT, "port.html", 200, "text/html; charset=utf-8", "-"),
        (CSS, "maquette.css", 200, "text/css", "Cache-Control: max-age=86400"),
        (MASTHEAD, "bandeau.png", 200, "image/png", "-"),
        (SHORT, "-", 301, "text/html", f"Location: {PORT}"),
        (LOOP_A, "-", 302, "text/html", f"Location: {LOOP_B}"),
        (LOOP_B, "-", 302, "text/html", f"Location: {LOOP_A}"),
    ]
    server = serve_site(root, rows)
    yield server
    server.stop()


@pytest.fixture
def web(site):
    site.reset()
    with override_settings(NAQL_CAPTURE_PROXY=site.proxy_url, NAQL_CAPTURE_REQUISITE_REUSE_SECONDS=0):
        yield site


def _records(wf: WarcFile) -> list:
    with warc_storage().open(wf.name, "rb") as fh:
        return [(r.rec_type, r.rec_headers.get_header("WARC-Target-URI"), r.rec_headers.get_header("WARC-Record-ID"),
                 r.rec_headers.get_header("WARC-Refers-To")) for r in ArchiveIterator(fh)]


@pytest.mark.django_db(transaction=True)
def test_the_capture_command_archives_a_list_in_one_warc_file_and_one_commit(web, client):
    # from a shell, as a user runs it: the follow-up of every page inline before it returns
    env = subprocess_env(NAQL_CAPTURE_PROXY=web.proxy_url, NAQL_CAPTURE_PROXY_LOCAL_DNS="false",
                         NAQL_CAPTURE_REQUISITE_REUSE_SECONDS="0")
    done = subprocess.run([sys.executable, "manage.py", "capture", "--json", "--follow-up", "inline",
                           FERRY, PORT, SHORT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    out = [json.loads(x) for x in done.stdout.strip().splitlines()]
    assert [x["ok"] for x in out] == [True, True, True]
    assert out[2]["final_url"] == PORT and out[2]["status"] == 200
    # one file for the three pages and their requisites, one warcinfo, checksummed like any other
    assert len({x["warc_file"] for x in out}) == 1 and WarcFile.objects.count() == 1
    wf = WarcFile.objects.get()
    recs = _records(wf)
    assert [t for t, *_ in recs].count("warcinfo") == 1 and len(recs) == wf.record_count
    assert [t for t, *_ in recs].count("metadata") == 3  # one per captured URL, as for single captures
    # the stylesheet every page shares is stored once: later pages of the batch hold revisits of
    # the first response, in the same file, as if that page had been committed first
    css = list(Snapshot.objects.filter(url=CSS).order_by("pk"))
    assert [s.record_type for s in css] == ["response", "revisit", "revisit"]
    assert all(s.payload_snapshot_id == css[0].pk and s.warc_file_id == wf.pk for s in css[1:])
    refers = {rid: ref for t, uri, rid, ref in recs if uri == CSS}
    assert all(refers[s.record_id] == css[0].record_id for s in css[1:])
    # each page is citable and replayable; a revisit's body comes from its original
    for x in out:
        assert client.get(f"/s/{x['final_snapshot']}").status_code == 200
    last_css = css[-1]
    r = client.get(f"/web/{last_css.timestamp}id_/{CSS}")
    assert r.status_code == 200 and b"".join(r.streaming_content if r.streaming else [r.content]).startswith(b"body{")
    # the follow-up ran for every page before the command returned (embedded default: inline)
    from provenance.models import Document

    assert set(Document.objects.values_list("url", flat=True)) == {FERRY, PORT}
    assert all(x["follow_up"] == "done" for x in out)
    call_command("verify")  # exits non-zero (CommandError) when a file or record does not check out


def test_a_url_that_fails_in_a_batch_fails_alone(web, capsys):
    with pytest.raises(CommandError, match="1 of 3"):
        call_command("capture", FERRY, LOOP_A, PORT, "--json", "--no-requisites")
    out = json_lines(capsys)
    assert [x["ok"] for x in out] == [True, False, True]  # printed in the order given
    assert out[1]["error"]["code"] == "redirect_loop"
    assert CaptureJob.objects.get(guid=out[1]["job"]).state == CaptureJob.State.FAILED
    assert out[0]["warc_file"] == out[2]["warc_file"]
    assert not Snapshot.objects.filter(url__in=[LOOP_A, LOOP_B]).exists()


def test_a_batch_whose_warc_cannot_be_stored_archives_nothing_and_keeps_every_job(web, capsys, monkeypatch,
                                                                                 settings):
    from archive.errors import StorageUnavailable

    def down(*args, **kwargs):
        raise StorageUnavailable("the object store is unreachable")

    monkeypatch.setattr("archive.store.warcstore.WarcBuilder.publish", down)
    with pytest.raises(CommandError, match="2 of 2"):
        call_command("capture", FERRY, PORT, "--json", "--no-requisites")
    out = json_lines(capsys)
    assert [x["error"]["code"] for x in out] == ["storage_unavailable"] * 2
    # Naql's own failure, not the URLs': the jobs wait for the store, their attempt given back
    assert {(j.state, j.attempts) for j in CaptureJob.objects.all()} == {(CaptureJob.State.PENDING, 0)}
    assert not Snapshot.objects.exists() and not WarcFile.objects.exists()
    assert not list((settings.NAQL_TMP_DIR).glob("naql-*.warc.gz.part"))  # the temporary WARC is gone


def test_a_batch_larger_than_the_batch_size_is_split(web, capsys, settings):
    settings.NAQL_CAPTURE_BATCH_SIZE = 2
    call_command("capture", FERRY, PORT, SHORT, "--json", "--no-requisites")
    out = json_lines(capsys)
    assert [x["ok"] for x in out] == [True, True, True]
    assert out[0]["warc_file"] == out[1]["warc_file"] != out[2]["warc_file"]
    assert WarcFile.objects.count() == 2


def test_jobs_claimed_together_are_claimed_once(web):
    from archive.jobs import submit

    ids = [submit(u, enqueue=False).pk for u in (FERRY, PORT, SHORT)]
    CaptureJob.objects.filter(pk=ids[1]).update(state=CaptureJob.State.RUNNING)  # another worker has it
    first = CaptureJob.claim_many(list(CaptureJob.objects.filter(pk__in=ids).order_by("pk")))
    second = CaptureJob.claim_many(list(CaptureJob.objects.filter(pk__in=ids).order_by("pk")))
    assert [j.pk for j in first] == [ids[0], ids[2]] and second == []
    assert [(j.state, j.attempts) for j in first] == [(CaptureJob.State.RUNNING, 1)] * 2
    assert set(CaptureJob.objects.filter(pk__in=ids).values_list("attempts", flat=True)) == {0, 1}


def test_a_page_of_a_batch_unchanged_since_an_earlier_capture_is_a_revisit_of_it(web, capsys):
    call_command("capture", FERRY, "--json", "--no-requisites")  # one URL: a single capture
    first = Snapshot.objects.get(url=FERRY)
    call_command("capture", FERRY, PORT, "--json", "--no-requisites")  # a batch: the originals looked up at once
    again = Snapshot.objects.filter(url=FERRY).exclude(pk=first.pk).get()
    assert again.record_type == "revisit" and again.payload_snapshot_id == first.pk
    assert again.warc_file_id != first.warc_file_id
    refers = {rid: ref for _t, uri, rid, ref in _records(again.warc_file) if uri == FERRY}
    assert refers[again.record_id] == first.record_id
    assert Snapshot.objects.get(url=PORT).record_type == "response"
