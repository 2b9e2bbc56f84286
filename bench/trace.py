#!/usr/bin/env python3
"""Trace wall time: from the Watan URL alone to the finished trace (chain captured, relations
detected, claims aligned) on the fixture corpus, and where the time goes.

Usage: python bench/trace.py [--mode embedded|services|both] [--no-cli]

Everything is on 127.0.0.1: the corpus is served at its real URLs by ``tests.corpus_server`` in
forward-proxy mode; Naql fetches through it with proxy-only DNS (``NAQL_CAPTURE_PROXY_LOCAL_DNS=
false``; in this process ``socket.getaddrinfo`` is also replaced by ``FakeDNS``).

* **embedded** (the default install: SQLite in a fresh temp ``NAQL_DATA_DIR``, no worker):
  1. *cli*: ``manage.py trace URL --follow --json`` in a fresh data dir, as a user runs it: the
     wall time includes Python start-up and loading the sentence-embedding model.
  2. *trace*: in this process, on another fresh database, ``run_trace`` from the Watan URL alone
     (nothing captured before), after a warm-up that loads the model (its time is reported apart).
  3. *baseline*, same process, same database, right after: what a researcher did before traces —
     capture the five chain URLs they already knew (``capture`` + the follow-up task inline), then
     ``run_suggestions`` on the two documents with translation/quote edges. The ratio trace/
     baseline is what finding the chain by itself costs over being told it.
* **services** (PostgreSQL database ``naql_trace_bench`` dropped and made afresh, Redis db 9
  flushed, two Celery worker processes with concurrency 1): ``start_trace`` queues the task and
  this process polls the database until the trace is done. Run 1 is a cold worker (model load),
  run 2 re-runs it (``reuse_age`` 0: everything recaptured, so every earlier claim is re-anchored on
  the new versions; either worker may take it, the other one still cold), run 3 starts two traces of the same
  URL at once (the two workers each take one; captures are shared, so no URL is captured twice).

For every trace the table gives wall seconds and the trace's own phase timings (``capture``
includes each capture's follow-up: document, claims, relations of the new document and of the
documents it affects; ``candidates`` is upstream-candidate detection; ``detect`` the final
relation pass; ``align`` claim alignment, model load included when cold).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.corpus_server import CorpusServer, FakeDNS  # noqa: E402

PG_URL = "postgres://postgres@127.0.0.1:5432/naql_trace_bench"
REDIS_URL = "redis://127.0.0.1:6379/9"


def _urls():
    from tests.helpers import ELESPANOL_SHORT_URL, FAR_URL, NGO_URL, TWEET_URL, WATAN_URL

    return WATAN_URL, [WATAN_URL, ELESPANOL_SHORT_URL, TWEET_URL, FAR_URL, NGO_URL]


def _env(data_dir: str, proxy_url: str, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "NAQL_STORAGE")}
    env.update({"NAQL_DATA_DIR": data_dir, "NAQL_CAPTURE_PROXY": proxy_url, "NAQL_CAPTURE_PROXY_LOCAL_DNS": "false",
                "DJANGO_SETTINGS_MODULE": "naql.settings", "NAQL_LOG_LEVEL": "WARNING",
                # the corpus proxy serves http only; a browser capture of twitter.com goes to https
                "NAQL_CAPTURE_BROWSER_DOMAINS": ""})
    env.update(extra)
    return env


def _row(label: str, wall: float, timings: dict | None, note: str = "") -> str:
    t = timings or {}
    cols = "".join(f"{t.get(k, float('nan')):>10.2f}" for k in ("capture", "candidates", "detect", "align"))
    return f"{label:<34}{wall:>9.2f}{cols}  {note}"


HEADER = f"{'run':<34}{'wall s':>9}{'capture':>10}{'cands':>10}{'detect':>10}{'align':>10}"


# ---------------------------------------------------------------------------------------------
# inner (Django configured by the environment the outer process set)


def inner_embedded() -> dict:
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from archive.capture.capture import capture
    from provenance.embeddings import get_embedder
    from provenance.models import Document
    from provenance.suggest import run_suggestions
    from provenance.tasks import process_snapshot
    from provenance.trace import run_trace, start_trace

    start, chain = _urls()
    t = time.perf_counter()
    emb = get_embedder()
    if emb is not None:
        emb.embed(["warm-up sentence"])
    model_s = time.perf_counter() - t

    t = time.perf_counter()
    tr = run_trace(start_trace(start, enqueue=False).pk)
    trace_s = time.perf_counter() - t
    assert tr.state == "succeeded", tr.error

    t = time.perf_counter()
    for url in chain:
        snap = capture(url).final
        process_snapshot(snap.pk)
    for doc in Document.objects.filter(relations_up__type__in=["translation_of", "quotes", "republishes"]).distinct():
        run_suggestions(doc)
    base_s = time.perf_counter() - t
    return {"model_seconds": model_s, "trace_seconds": trace_s, "trace_timings": tr.timings,
            "baseline_seconds": base_s, "documents": tr.documents.count(), "relations": tr.relations.count(),
            "embedder": type(emb).__name__ if emb is not None else None}


def inner_services() -> dict:
    import django

    django.setup()
    from provenance.models import Trace
    from provenance.trace import enqueue_trace, start_trace

    start, _chain = _urls()

    def wait(traces, timeout=600):
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < timeout:
            states = [Trace.objects.get(pk=x.pk).state for x in traces]
            if all(s in ("succeeded", "failed") for s in states):
                return time.perf_counter() - t0
            time.sleep(0.05)
        raise TimeoutError("traces did not finish")

    out = {}
    t = start_trace(start)  # autocommit: queued at once
    out["cold"] = {"wall": wait([t])}
    t.refresh_from_db()
    out["cold"].update(timings=t.timings, state=t.state, documents=t.documents.count())
    t.reset()
    t.options = {**t.options, "reuse_age": 0}
    t.save(update_fields=["options"])
    enqueue_trace(t)
    out["warm_rerun"] = {"wall": wait([t])}
    t.refresh_from_db()
    out["warm_rerun"].update(timings=t.timings, state=t.state, documents=t.documents.count())
    from archive.models import CaptureJob

    jobs_before = CaptureJob.objects.count()
    a, b = (start_trace(start, reuse_age=0) for _ in range(2))
    out["two_at_once"] = {"wall": wait([a, b])}
    a.refresh_from_db()
    b.refresh_from_db()
    out["two_at_once"].update(timings=[a.timings, b.timings], states=[a.state, b.state],
                              jobs=CaptureJob.objects.count() - jobs_before,
                              outcomes=sorted(n["outcome"] for n in a.nodes + b.nodes))
    return out


# ---------------------------------------------------------------------------------------------
# outer


def run_embedded(proxy: CorpusServer, cli: bool) -> list[str]:
    rows = []
    if cli:
        d = tempfile.mkdtemp(prefix="naql-bench-trace-cli-")
        try:
            env = _env(d, proxy.proxy_url)
            subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
            start, _ = _urls()
            t = time.perf_counter()
            res = subprocess.run([sys.executable, "manage.py", "trace", start, "--follow", "--json", "--quiet"],
                                 cwd=ROOT, env=env, check=True, capture_output=True, text=True)
            wall = time.perf_counter() - t
            tr = json.loads(res.stdout)["trace"]
            rows.append(_row("embedded: manage.py trace --follow", wall, tr["timings"],
                             f"{len(tr['documents'])} docs, {len(tr['relations'])} relations (cold: start-up + model)"))
        finally:
            shutil.rmtree(d, ignore_errors=True)
    d = tempfile.mkdtemp(prefix="naql-bench-trace-")
    try:
        env = _env(d, proxy.proxy_url, NAQL_BENCH_INNER="embedded")
        res = subprocess.run([sys.executable, __file__], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
        r = json.loads(res.stdout.strip().splitlines()[-1])
        rows.append(_row("embedded: run_trace (model warm)", r["trace_seconds"], r["trace_timings"],
                         f"{r['documents']} docs, {r['relations']} relations; model load {r['model_seconds']:.2f}s "
                         f"({r['embedder']})"))
        rows.append(_row("embedded: baseline (URLs known)", r["baseline_seconds"], None,
                         "capture 5 URLs + follow-up + run_suggestions"))
        rows.append(f"ratio trace / baseline: {r['trace_seconds'] / r['baseline_seconds']:.2f}")
    finally:
        shutil.rmtree(d, ignore_errors=True)
    return rows


def _services_available() -> str | None:
    for host, port in (("127.0.0.1", 5432), ("127.0.0.1", 6379)):
        try:
            socket.create_connection((host, port), timeout=1).close()
        except OSError:
            return f"nothing listening on {host}:{port}"
    return None


def run_services(proxy: CorpusServer) -> list[str]:
    why = _services_available()
    if why:
        return [f"services: skipped ({why})"]
    import psycopg
    import redis

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS naql_trace_bench WITH (FORCE)")
        conn.execute("CREATE DATABASE naql_trace_bench")
    redis.Redis.from_url(REDIS_URL).flushdb()
    d = tempfile.mkdtemp(prefix="naql-bench-trace-svc-")
    workers = []
    try:
        env = _env(d, proxy.proxy_url, DATABASE_URL=PG_URL, CELERY_BROKER_URL=REDIS_URL)
        subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
        celery = str(Path(sys.executable).with_name("celery"))
        for i in (1, 2):
            workers.append(subprocess.Popen([celery, "-A", "naql", "worker", "-c", "1", "-l", "WARNING",
                                             "-n", f"bench{i}@%h", "--without-mingle", "--without-gossip"],
                                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(4)  # workers connect to Redis
        res = subprocess.run([sys.executable, __file__], cwd=ROOT, env={**env, "NAQL_BENCH_INNER": "services"},
                             check=True, capture_output=True, text=True)
        r = json.loads(res.stdout.strip().splitlines()[-1])
        rows = [_row("services: trace, cold worker", r["cold"]["wall"], r["cold"]["timings"],
                     f"{r['cold']['documents']} docs, state {r['cold']['state']} (model load in align)"),
                _row("services: re-run (either worker)", r["warm_rerun"]["wall"], r["warm_rerun"]["timings"],
                     "reuse_age 0: all recaptured, so claims re-anchored on new versions")]
        two = r["two_at_once"]
        rows.append(_row("services: two traces at once", two["wall"], two["timings"][0],
                         f"states {two['states']}, {two['jobs']} capture jobs for both, "
                         f"outcomes {dict((o, two['outcomes'].count(o)) for o in set(two['outcomes']))}"))
        return rows
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            try:
                w.wait(20)
            except subprocess.TimeoutExpired:
                w.kill()
        shutil.rmtree(d, ignore_errors=True)


def main(argv=None) -> int:
    inner = os.environ.get("NAQL_BENCH_INNER")
    if inner:
        FakeDNS_ = FakeDNS()
        socket.getaddrinfo = FakeDNS_.getaddrinfo
        result = inner_embedded() if inner == "embedded" else inner_services()
        print(json.dumps(result))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mode", choices=["embedded", "services", "both"], default="both")
    ap.add_argument("--no-cli", action="store_true", help="skip the cold manage.py run")
    args = ap.parse_args(argv)
    rows = []
    with CorpusServer("proxy") as proxy:
        if args.mode in ("embedded", "both"):
            rows += run_embedded(proxy, cli=not args.no_cli)
        if args.mode in ("services", "both"):
            rows += run_services(proxy)
    print(f"corpus: tests/fixtures/corpus, from {_urls()[0][:60]}…")
    print(HEADER)
    for r in rows:
        print(r)
    return 0


if __name__ == "__main__":
    sys.exit(main())
