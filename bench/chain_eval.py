#!/usr/bin/env python3
"""Document-level chain evaluation: capture each corpus as a user would, detect, compare with gold.

Usage: python bench/chain_eval.py CORPUS_DIR... [--order gold|reverse] [--json] [-v]

A corpus is laid out like tests/fixtures/corpus: ``urls.tsv`` (URL, file, status, Content-Type,
headers), the pages, and ``gold/chain.json`` (``nodes[] {id, url}``, ``edges[] {from, to, type,
evidence}``, edges downstream → upstream).

Procedure, per corpus, on a fresh SQLite database in a temporary ``NAQL_DATA_DIR``:
1. ``tests.corpus_server.CorpusServer`` (forward proxy) serves the corpus at its real URLs; the
   SSRF guard stays on, no name is ever looked up (``FakeDNS``).
2. ``manage.py capture URL --no-requisites --mode raw`` (``call_command``; the fixture pages are static
   HTML, and social hosts would otherwise default to a browser capture) for every node URL of the gold, in
   the gold's node order (downstream first: the hardest order, the upstream arrives later and the
   follow-up must re-examine the documents it affects), or reversed with ``--order reverse``. The
   provenance follow-up runs inline (``NAQL_PROVENANCE_INLINE``), as the ``capture`` command does
   in a shell on the embedded default.
3. The live relations are compared with the gold edges:
   - *required*: gold edges that are not ``attributes_to`` (link-evidenced): found = same
     (from, to, type);
   - *named-only*: gold ``attributes_to`` edges: found = same (from, to, type);
   - *wrong type*: a relation between a gold pair (same direction) with another type;
   - *spurious*: a relation between documents with no gold edge in that direction (for corpus2,
     any edge between the two sibling translations lands here).
4. Time: wall time of all captures with their inline follow-up (model load excluded: the
   embedder is loaded once before the first corpus).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.corpus_server import CorpusServer, FakeDNS  # noqa: E402


def setup_django(data_dir: Path) -> None:
    os.environ.update({
        "DJANGO_SETTINGS_MODULE": "naql.settings",
        "NAQL_DATA_DIR": str(data_dir),
        "NAQL_TMP_DIR": str(data_dir / "tmp"),
        "DATABASE_URL": f"sqlite:///{data_dir / 'naql.sqlite3'}",
        "CELERY_BROKER_URL": "",
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "NAQL_STORAGE": "file",
        "NAQL_CAPTURE_PROXY_LOCAL_DNS": "false",
        "NAQL_CAPTURE_ALLOWED_NETWORKS": "",
        "NAQL_LOG_LEVEL": "WARNING",
    })
    import django

    django.setup()
    logging.getLogger("kombu.connection").setLevel(logging.ERROR)
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def evaluate(corpus: Path, order: str, verbose: bool) -> dict:
    from django.core.management import call_command
    from django.test import override_settings

    from archive.uri import iri_to_uri
    from provenance.models import Document, Relation

    call_command("flush", verbosity=0, interactive=False)
    chain = json.loads((corpus / "gold" / "chain.json").read_text(encoding="utf-8"))
    url_of = {n["id"]: iri_to_uri(n["url"]) for n in chain["nodes"]}
    id_of = {u: k for k, u in url_of.items()}
    urls = [url_of[n["id"]] for n in chain["nodes"]]
    if order == "reverse":
        urls.reverse()
    server = CorpusServer("proxy", corpus).start()
    failures = []
    t0 = time.perf_counter()
    try:
        with override_settings(NAQL_CAPTURE_PROXY=server.proxy_url, NAQL_PROVENANCE_INLINE=True):
            for url in urls:
                try:
                    call_command("capture", url, "--no-requisites", "--mode", "raw", "--json",
                                 stdout=open(os.devnull, "w"))
                except Exception as exc:  # noqa: BLE001 - report and go on with the corpus
                    failures.append(f"{url}: {exc}")
    finally:
        server.stop()
    seconds = time.perf_counter() - t0

    def node(doc: Document) -> str:
        for u in [doc.url, *doc.urls.values_list("url", flat=True)]:
            if iri_to_uri(u) in id_of:
                return id_of[iri_to_uri(u)]
        return doc.url

    got = {(node(r.source), node(r.target)): r for r in Relation.objects.live().select_related("source", "target")}
    gold = {(e["from"], e["to"]): e["type"] for e in chain["edges"]}
    req = {k: t for k, t in gold.items() if t != "attributes_to"}
    named = {k: t for k, t in gold.items() if t == "attributes_to"}
    found_req = [k for k, t in req.items() if k in got and got[k].type == t]
    found_named = [k for k, t in named.items() if k in got and got[k].type == t]
    wrong = [k for k, t in gold.items() if k in got and got[k].type != t]
    spurious = [k for k in got if k not in gold]
    lines = []
    for k, r in sorted(got.items()):
        mark = "ok" if gold.get(k) == r.type else (f"WRONG-TYPE (gold {gold.get(k)})" if k in gold else "SPURIOUS")
        lines.append(f"  {k[0]} -{r.type}-> {k[1]}  [{mark}] conf={r.confidence:.2f} "
                     f"{(r.evidence or {}).get('summary', '') if isinstance(r.evidence, dict) else ''}")
    for k, t in gold.items():
        if k not in got:
            lines.append(f"  {k[0]} -{t}-> {k[1]}  [MISSING]")
    return {"corpus": str(corpus), "required": len(req), "required_found": len(found_req),
            "named": len(named), "named_found": len(found_named), "wrong_type": len(wrong),
            "spurious": len(spurious), "seconds": round(seconds, 1), "failures": failures,
            "detail": lines if verbose else []}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("corpora", nargs="+", type=Path)
    ap.add_argument("--order", choices=["gold", "reverse"], default="gold")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    socket.getaddrinfo = FakeDNS().getaddrinfo
    tmp = Path(tempfile.mkdtemp(prefix="naql-chain-eval-"))
    try:
        setup_django(tmp / "data")
        from provenance.embeddings import get_embedder

        get_embedder()  # load once, outside the timings
        rows = [evaluate(c.resolve(), args.order, args.verbose) for c in args.corpora]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        print(json.dumps(rows, indent=1, ensure_ascii=False))
        return 0
    print(f"{'corpus':<34} {'required':>9} {'named-only':>11} {'wrong-type':>10} {'spurious':>8} {'time s':>7}")
    tot = {"required": 0, "required_found": 0, "named": 0, "named_found": 0, "wrong_type": 0, "spurious": 0,
           "seconds": 0.0}
    for r in rows:
        name = Path(r["corpus"]).name if Path(r["corpus"]).name not in ("corpus",) else "fixtures/corpus"
        if Path(r["corpus"]).parent.name == "chains":
            name = "chains/" + Path(r["corpus"]).name
        print(f"{name:<34} {r['required_found']:>4} / {r['required']:<3} {r['named_found']:>5} / {r['named']:<3}"
              f" {r['wrong_type']:>10} {r['spurious']:>8} {r['seconds']:>7.1f}")
        for k in tot:
            tot[k] += r[k]
        for f in r["failures"]:
            print("   capture failed:", f)
        for line in r["detail"]:
            print(line)
    print(f"{'overall':<34} {tot['required_found']:>4} / {tot['required']:<3} {tot['named_found']:>5} / "
          f"{tot['named']:<3} {tot['wrong_type']:>10} {tot['spurious']:>8} {tot['seconds']:>7.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
