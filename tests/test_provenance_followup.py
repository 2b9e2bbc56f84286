"""Point 7 of issue 11: from a shell with no worker running, `capture URL` then `trace URL` gives
the document and its chain (embedded default: the follow-up runs inline in `capture`; with a
broker it is queued, and `trace` runs what is still queued)."""

from __future__ import annotations

import json
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import override_settings

from provenance.models import DocumentIndex, Relation
from tests.helpers import (
    ELESPANOL_SHORT_URL,
    ELESPANOL_URL,
    WATAN_URL,
    start_worker,
    stop_worker,
    subprocess_env,
)

ROOT = Path(__file__).resolve().parent.parent


def _manage(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)


@pytest.mark.django_db(transaction=True)
def test_capture_then_trace_from_a_shell_with_no_worker_gives_the_chain(corpus_proxy):
    corpus_proxy.reset()
    env = subprocess_env(NAQL_CAPTURE_PROXY=corpus_proxy.proxy_url, NAQL_CAPTURE_PROXY_LOCAL_DNS="false")
    for url in (WATAN_URL, ELESPANOL_SHORT_URL):  # downstream first, upstream through its 301
        done = _manage(env, "capture", "--no-requisites", "--json", url)
        assert done.returncode == 0, done.stderr
        out = json.loads(done.stdout.strip().splitlines()[-1])
        assert out["ok"] and out["follow_up"] in ("done", "queued")
    traced = _manage(env, "trace", "--json", WATAN_URL)
    assert traced.returncode == 0, traced.stderr
    result = json.loads(traced.stdout)
    up = {r["url"]: r for r in result["relations"]["upstream"]}
    assert up[ELESPANOL_URL]["type"] == "translation_of"
    assert "align, in order, to the Spanish article" in up[ELESPANOL_URL]["evidence"]["summary"]
    text = _manage(env, "trace", WATAN_URL)
    assert text.returncode == 0 and "translation_of" in text.stdout
    assert "why: " in text.stdout and "to the Spanish article" in text.stdout


@pytest.mark.django_db(transaction=True)
def test_a_queued_follow_up_is_run_by_trace_and_capture_says_it_was_queued(corpus_proxy):
    corpus_proxy.reset()
    out = StringIO()
    with override_settings(NAQL_CAPTURE_PROXY=corpus_proxy.proxy_url):
        for url in (WATAN_URL, ELESPANOL_SHORT_URL):
            call_command("capture", "--no-requisites", "--follow-up", "queue", url, stdout=out)
        assert "follow-up queued" in out.getvalue()
        assert not DocumentIndex.objects.exists() and not Relation.objects.exists()  # nothing derived yet
        traced = StringIO()
        call_command("trace", "--json", WATAN_URL, stdout=traced)
    result = json.loads(traced.getvalue())
    assert [r["type"] for r in result["relations"]["upstream"]] == ["translation_of"]
    assert Relation.objects.get(type="translation_of").target.url == ELESPANOL_URL
    # a worker running the same follow-up later changes nothing
    from provenance.tasks import catch_up

    assert catch_up() == 0


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_capture_then_trace_with_a_celery_worker_doing_the_follow_up(corpus_proxy):
    """Queued follow-up on a real worker (filesystem broker on the embedded default, Redis in
    service mode); `trace` then finds everything done (and would run whatever is still queued)."""
    import time

    corpus_proxy.reset()
    env = subprocess_env(NAQL_CAPTURE_PROXY=corpus_proxy.proxy_url, NAQL_CAPTURE_PROXY_LOCAL_DNS="false")
    worker = start_worker(env, name="prov")
    try:
        for url in (WATAN_URL, ELESPANOL_SHORT_URL):
            done = _manage(env, "capture", "--no-requisites", "--follow-up", "queue", "--json", url)
            assert done.returncode == 0, done.stderr
            assert json.loads(done.stdout.strip().splitlines()[-1])["follow_up"] == "queued"
        deadline = time.monotonic() + 180
        def done_by_worker():  # the second follow-up re-examines Watan, which the first could not link
            return DocumentIndex.objects.count() == 2 and Relation.objects.filter(type="translation_of").exists()

        while not done_by_worker() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert done_by_worker(), "the worker ran both follow-ups"
        traced = _manage(env, "trace", "--json", WATAN_URL)
        assert traced.returncode == 0, traced.stderr
        up = json.loads(traced.stdout)["relations"]["upstream"]
        assert [(r["type"], r["url"]) for r in up] == [("translation_of", ELESPANOL_URL)]
    finally:
        out = stop_worker(worker)
    assert "after_capture" in out, out[-3000:]
