"""Review of batch capture (issue 19, capture row): hostile and archival cases.

The fixture site is written here: a small municipal bulletin with two notices sharing a stylesheet,
short links, a link whose Location header is malformed, and a redirect into the loopback range."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from archive.models import CaptureJob, Snapshot
from tests.helpers import json_lines, serve_site

pytestmark = pytest.mark.django_db
FOLLOWED = "provenance.tasks.process_snapshot"

SITE = "http://bulletin.ville-de-saint-aubin.test"
NOTICE = f"{SITE}/avis/fermeture-piscine-municipale"
ROADS = f"{SITE}/avis/travaux-rue-des-tilleuls"
STYLE = f"{SITE}/theme/commun.css"
LOGO = f"{SITE}/theme/blason.png"
SHORT1, SHORT2 = "http://sa.test/p1", "http://sa.test/p2"
BROKEN = f"{SITE}/go/ancien-lien"
INSIDE = f"{SITE}/go/intranet"

PAGE = """<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>{title}</title>
<link rel="stylesheet" href="/theme/commun.css"></head><body>
<img src="/theme/blason.png" alt="blason"><article><h1>{title}</h1><p>{text}</p></article></body></html>
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory, offline_dns):
    root = tmp_path_factory.mktemp("review_site")
    (root / "notice.html").write_text(PAGE.format(
        title="Fermeture de la piscine pour vidange", text="Le bassin rouvrira le lundi suivant "
        "après contrôle de la qualité de l'eau par le service d'hygiène."), encoding="utf-8")
    (root / "roads.html").write_text(PAGE.format(
        title="Travaux rue des Tilleuls", text="La circulation sera alternée pendant trois semaines ; "
        "le stationnement est interdit côté pair."), encoding="utf-8")
    (root / "commun.css").write_text("body{margin:0 auto;max-width:40em}\n", encoding="utf-8")
    (root / "blason.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(200)) * 3)
    rows = [
        (NOTICE, "notice.html", 200, "text/html; charset=utf-8", "-"),
        (ROADS, "roads.html", 200, "text/html; charset=utf-8", "-"),
        (STYLE, "commun.css", 200, "text/css", "-"),
        (LOGO, "blason.png", 200, "image/png", "-"),
        (SHORT1, "-", 301, "text/html", f"Location: {NOTICE}"),
        (SHORT2, "-", 302, "text/html", f"Location: {NOTICE}"),
        (BROKEN, "-", 302, "text/html", "Location: http://[::1"),
        (INSIDE, "-", 302, "text/html", "Location: http://127.0.0.1:9/admin"),
    ]
    server = serve_site(root, rows)
    yield server
    server.stop()


@pytest.fixture
def web(site):
    site.reset()
    with override_settings(NAQL_CAPTURE_PROXY=site.proxy_url, NAQL_CAPTURE_REQUISITE_REUSE_SECONDS=0):
        yield site


def test_a_malformed_redirect_is_the_page_s_own_error(web, capsys):
    # "Location: http://[::1" cannot be parsed: an error of that URL (invalid_url), not a crash
    with pytest.raises(CommandError, match="1 of 3"):
        call_command("capture", NOTICE, BROKEN, ROADS, "--json", "--no-requisites")
    out = json_lines(capsys)
    assert [x["ok"] for x in out] == [True, False, True]
    assert out[1]["error"]["code"] == "invalid_url"
    assert out[1]["error"]["details"]["chain"] == [BROKEN]


def test_an_unexpected_error_on_one_page_fails_that_page_only(web, capsys, monkeypatch):
    # a bug met while fetching one page (any exception that is not an ArchiveError) fails its job
    # alone, as it would in a single capture; the batch's other pages are archived
    import archive.capture.batch as batch

    real = batch.fetch_page

    def buggy(url, **kw):
        if url == ROADS:
            raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "a parser bug")
        return real(url, **kw)

    monkeypatch.setattr(batch, "fetch_page", buggy)
    with pytest.raises(CommandError, match="1 of 3"):
        call_command("capture", NOTICE, ROADS, SHORT1, "--json", "--no-requisites")
    out = json_lines(capsys)
    assert [x["ok"] for x in out] == [True, False, True]
    assert out[1]["error"]["code"] == "internal_error" and out[1]["error"]["permanent"] is True
    assert CaptureJob.objects.get(guid=out[1]["job"]).state == CaptureJob.State.FAILED


@pytest.mark.django_db(transaction=True)
def test_a_failing_inline_follow_up_of_one_page_leaves_the_others_theirs(web, capsys, monkeypatch):
    import provenance.tasks
    from provenance.models import Document

    real = provenance.tasks.process_snapshot

    def flaky(pk):
        if Snapshot.objects.get(pk=pk).url == NOTICE:
            raise RuntimeError("a bug in one page's follow-up")
        return real(pk)

    monkeypatch.setattr(FOLLOWED, flaky)
    call_command("capture", NOTICE, ROADS, "--json", "--follow-up", "inline")
    out = json_lines(capsys)
    # both pages are archived, their jobs succeeded; the second page still got its follow-up
    assert [x["ok"] for x in out] == [True, True]
    assert set(Document.objects.values_list("url", flat=True)) == {ROADS}


@pytest.mark.django_db(transaction=True)
def test_jobs_of_a_committed_batch_are_not_failed_by_an_error_after_the_commit(web, capsys, monkeypatch):
    # the rows are committed, then something breaks before the jobs are marked (a lost database
    # connection while the progress is written): the pages are archived, the jobs must say so
    def broken(*args, **kwargs):
        raise RuntimeError("connection lost after the commit")

    monkeypatch.setattr(CaptureJob, "write_progress", broken)
    call_command("capture", NOTICE, ROADS, "--json", "--no-requisites")
    out = json_lines(capsys)
    assert [x["ok"] for x in out] == [True, True]
    pages = dict(Snapshot.objects.filter(is_requisite=False).values_list("job__guid", "pk"))
    assert {(j.guid, j.state, j.snapshot_id) for j in CaptureJob.objects.all()} == {
        (x["job"], CaptureJob.State.SUCCEEDED, pages[x["job"]]) for x in out}


@pytest.mark.django_db(transaction=True)
def test_a_batch_interrupted_after_its_commit_is_not_swept_into_failure(web, monkeypatch):
    # Ctrl-C (or a kill) after the batch committed, before its jobs were marked: the sweeper
    # later finds them running and silent; their pages are archived, so they succeeded
    from datetime import timedelta

    from django.utils import timezone

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(CaptureJob, "succeed_many", interrupted)
    with pytest.raises(KeyboardInterrupt):
        call_command("capture", NOTICE, ROADS, "--json", "--no-requisites")
    monkeypatch.undo()
    assert set(CaptureJob.objects.values_list("state", flat=True)) == {CaptureJob.State.RUNNING}
    CaptureJob.objects.update(heartbeat_at=timezone.now() - timedelta(days=1))
    assert CaptureJob.sweep_stale() == 2
    pages = dict(Snapshot.objects.filter(is_requisite=False).values_list("job_id", "pk"))
    assert {(j.state, j.snapshot_id) for j in CaptureJob.objects.all()} == {
        (CaptureJob.State.SUCCEEDED, pages[j.pk]) for j in CaptureJob.objects.all()}


GALLERY = "http://salles.musee-des-tanneurs.test"
ROOMS, PICTURES, PICTURE_BYTES = 6, 3, 900 * 1024  # each picture just under the 1 MiB kept in memory


@pytest.fixture(scope="module")
def gallery(tmp_path_factory, offline_dns):
    import random

    root = tmp_path_factory.mktemp("review_gallery")
    rows, rng = [], random.Random(7)
    for room in range(ROOMS):
        imgs = "".join(f'<img src="/oeuvres/{room}-{i}.jpg" alt="">' for i in range(PICTURES))
        (root / f"salle{room}.html").write_text(
            f"<!doctype html><title>Salle {room}</title><h1>Salle {room} : les ateliers de tannage</h1>"
            f"<p>Outils et peaux exposés dans la salle {room}.</p>{imgs}", encoding="utf-8")
        rows.append((f"{GALLERY}/salle/{room}", f"salle{room}.html", 200, "text/html; charset=utf-8", "-"))
        for i in range(PICTURES):
            (root / f"{room}-{i}.jpg").write_bytes(rng.randbytes(PICTURE_BYTES))
            rows.append((f"{GALLERY}/oeuvres/{room}-{i}.jpg", f"{room}-{i}.jpg", 200, "image/jpeg", "-"))
    server = serve_site(root, rows)
    yield server
    server.stop()


def test_a_batch_holds_one_page_in_memory_at_a_time_not_all_of_them(gallery):
    # A single capture holds one page's bodies (each up to 1 MiB in memory, spooled past that); a
    # batch held every page's until the WARC was written: NAQL_CAPTURE_BATCH_SIZE times as much
    # memory and temporary disk (with the defaults, up to 25 x (1 + 30) MiB of requisites in RAM).
    import tracemalloc

    from archive.capture.batch import BatchItem, capture_batch

    gallery.reset()
    urls = [f"{GALLERY}/salle/{room}" for room in range(ROOMS)]
    with override_settings(NAQL_CAPTURE_PROXY=gallery.proxy_url, NAQL_CAPTURE_REQUISITE_REUSE_SECONDS=0,
                           NAQL_ANALYSE_INLINE=False):  # the capture's own memory, not the text extraction's
        tracemalloc.start()
        try:
            items = capture_batch([BatchItem(u) for u in urls])
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert all(item.result is not None for item in items)
    assert Snapshot.objects.filter(is_requisite=True).count() == ROOMS * PICTURES
    page_bytes = PICTURES * PICTURE_BYTES
    assert peak < 3 * page_bytes, f"peak {peak / 2**20:.1f} MiB for pages of {page_bytes / 2**20:.1f} MiB"


@pytest.mark.django_db(transaction=True)
def test_a_single_capture_whose_inline_follow_up_fails_is_still_archived(web, capsys, monkeypatch):
    # one URL: run_job's path, not the batch's; the follow-up runs inline after the commit
    def broken(pk):
        raise RuntimeError("a bug in the follow-up")

    monkeypatch.setattr(FOLLOWED, broken)
    call_command("capture", ROADS, "--json", "--follow-up", "inline", "--mode", "auto")
    (out,) = json_lines(capsys)
    assert out["ok"] is True
    job = CaptureJob.objects.get(guid=out["job"])
    assert job.state == CaptureJob.State.SUCCEEDED and job.snapshot.url == ROADS
