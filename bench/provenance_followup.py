#!/usr/bin/env python3
"""Per-page provenance follow-up time as the archive grows: is it proportional to the capture?

Usage: python bench/provenance_followup.py [--sizes 1,100,1000] [--probes 3]

On a fresh SQLite database in a temporary ``NAQL_DATA_DIR`` (no service needed):

1. Background archive: synthetic English news pages (random sentences from a fixed vocabulary,
   seeded), each its own publisher and site, publication dates spread over 365 days, built as a
   capture builds them (``apply_extraction`` on HTML, ``document_for_snapshot``) and indexed as
   the follow-up indexes them (``candidates.index_document``: link/name/quote/text keys and the
   document vector) but without running detection on each (that is what is being measured, and
   it does not depend on the background's own relations).
2. At each size N, ``--probes`` new pages are added and their whole follow-up is timed
   (``provenance.tasks.process_snapshot``: document, claims, relations of the new page, and
   re-detection of the documents ``affected_by`` finds). Each probe links one background
   document and names another's publisher near a reporting verb, so candidates, alignment and
   the index queries all run.
3. Prints the median seconds per page at each N and the ratio to the smallest N (same process, same
   warm caches). Proportional to the capture means a ratio near 1, not N.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.chain_eval import setup_django  # noqa: E402

WORDS = ("council budget river harbour school hospital union strike minister court ruling farmers water "
         "energy prices train station bridge museum festival police election mayor company factory workers "
         "wages housing rent tenants drought storm flood airport flights tourism fishing boats market bank "
         "inflation exports coffee wheat road repairs teachers students exam results vaccine clinic doctors "
         "nurses library park forest fire rescue volunteers church village island ferry port cargo shipping "
         "mine copper steel plant solar wind grid outage coast beach hotel visitors record season report "
         "survey data study research university grant prize film theatre music concert league match coach").split()
_N = [0]


def _sentence(rng: random.Random) -> str:
    words = rng.sample(WORDS, rng.randint(9, 15))
    return words[0].capitalize() + " " + " ".join(words[1:]) + "."


def make_page(rng, *, published: datetime, site: str, body_extra: str = ""):
    from archive.models import Snapshot, WarcFile
    from archive.store.snapshots import apply_extraction
    from provenance.documents import document_for_snapshot

    _N[0] += 1
    n = _N[0]
    url = f"http://www.{site}.example/news/{n}"
    paras = "".join(f"<p>{_sentence(rng)} {_sentence(rng)}</p>" for _ in range(4))
    html = (f'<html lang="en"><head><meta property="og:site_name" content="{site.title()} News">'
            f'<meta property="article:published_time" content="{published.isoformat()}"><title>Story {n}</title>'
            f"</head><body><article><h1>Story {n}</h1>{body_extra}{paras}</article></body></html>")
    wf, _ = WarcFile.objects.get_or_create(name="bench.warc.gz", defaults={"size": 0, "sha256": "0" * 64})
    snap = Snapshot(url=url, captured_at=datetime.now(UTC), status=200, mime="text/html", payload_sha256="0" * 64,
                    record_id=f"<urn:uuid:bench-{n}>", record_sha256="0" * 64, warc_file=wf, offset=0, length=0)
    apply_extraction(snap, html.encode(), "text/html; charset=utf-8")
    snap.save()
    return snap, document_for_snapshot(snap), url


def add_background(rng, count: int, start: datetime, urls: list[str]) -> None:
    try:
        from provenance.detect.candidates import index_document
        from provenance.detect.cues import CueFinder
    except ImportError:  # an older tree without the detection index (to measure it the same way)
        index_document = None

    for _ in range(count):
        site = "".join(rng.choice("bcdfghklmnprstvz") + rng.choice("aeiou") for _ in range(4))
        snap, doc, url = make_page(rng, published=start + timedelta(days=rng.uniform(0, 365)), site=site)
        if index_document is not None:
            finder = CueFinder(doc, snap, publishers=[])
            index_document(doc, snap, finder.run(), finder.speech_quotes)
        urls.append(url)


def probe(rng, urls: list[str], start: datetime) -> float:
    from provenance.models import Document
    from provenance.tasks import process_snapshot

    linked = rng.choice(urls)
    named = Document.objects.get(url=rng.choice(urls)).publisher.name
    extra = (f'<p>The figures were first reported by <a href="{linked}">a local paper</a>, and '
             f"{named} said the council would meet again.</p>")
    snap, _doc, _url = make_page(rng, published=start + timedelta(days=366), site="probe", body_extra=extra)
    t0 = time.perf_counter()
    process_snapshot(snap.pk)
    return time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1,100,1000")
    ap.add_argument("--probes", type=int, default=3)
    args = ap.parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    setup_django(Path(tempfile.mkdtemp(prefix="naql-followup-")) / "data")
    from provenance.embeddings import get_embedder

    get_embedder()
    rng = random.Random(11)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    urls: list[str] = []
    rows = []
    from provenance.models import Document

    for n in sizes:
        t0 = time.perf_counter()
        add_background(rng, n - Document.objects.exclude(url__contains="probe").count(), start, urls)
        built = time.perf_counter() - t0
        times = [probe(rng, urls, start) for _ in range(args.probes)]
        rows.append((n, statistics.median(times), built))
    base = rows[0][1]
    print(f"{'documents':>10} {'follow-up s/page (median)':>26} {'ratio':>7} {'background build s':>19}")
    for n, med, built in rows:
        print(f"{n:>10} {med:>26.3f} {med / base:>7.2f} {built:>19.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
