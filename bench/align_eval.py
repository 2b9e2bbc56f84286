#!/usr/bin/env python3
"""Measure claim-link suggestions (provenance.align) against a corpus's gold claims.

Usage: python bench/align_eval.py CORPUS_DIR [--no-embeddings] [--threshold X] [--json] [-v]

Works on any corpus laid out like tests/fixtures/corpus: ``gold/claims.json`` (``document``,
``file``, ``language``, ``claims[].exact``, ``claims[].upstream[] {url, exact, relation}``),
``urls.tsv`` (URL, file, status, Content-Type, headers) and the page files.

Procedure:
1. The downstream page (claims.json ``file``) and every upstream URL named in the gold (its
   200 response in urls.tsv) are decoded (charset from Content-Type, else the meta tag, else
   UTF-8), reduced to visible text (archive.extract.text) and cut into claim candidates with
   ``provenance.text.segment.page_segments`` — generic body detection, no site-specific selectors.
2. ``provenance.align.suggest`` runs once with all downstream segments against the segments of
   all upstream documents (``Sentence.doc`` = URL, so order is judged per document).
3. Matching to gold: a downstream segment belongs to the gold claim whose span covers at least
   half of the segment; an upstream segment belongs to a gold upstream ``exact`` of the same URL
   when their overlap covers at least half of either. A suggestion is keyed by (claim or
   segment, URL, upstream exact or segment); duplicate keys (two fragments of one claim linking
   the same passage) count once. Precision = correct keys / keys; recall = gold (claim, URL,
   exact) pairs found / gold pairs. Per language pair, suggestions count under their
   (downstream language, upstream language).
4. Time: segmentation + suggest() wall time (model load excluded, reported apart), as seconds
   per 100 gold claims.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from archive.extract.text import visible_text  # noqa: E402
from provenance.align import DEFAULT_THRESHOLD, Sentence, suggest  # noqa: E402
from provenance.embeddings import get_embedder  # noqa: E402
from provenance.text.segment import page_segments  # noqa: E402


def charset_of(raw: bytes, ctype: str) -> str:
    m = re.search(r"charset=([\w-]+)", ctype or "", re.I)
    if m:
        return m.group(1)
    m = re.search(rb"<meta[^>]+charset=[\"']?([\w-]+)", raw[:2048], re.I)
    return m.group(1).decode() if m else "utf-8"


def read_urls(corpus: Path) -> dict[str, tuple[str, str]]:
    """URL -> (file, Content-Type) of its first 200 response."""
    out: dict[str, tuple[str, str]] = {}
    for line in (corpus / "urls.tsv").read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        parts = line.split("\t")
        url, file, status, ctype = parts[0], parts[1], parts[2], parts[3] if len(parts) > 3 else ""
        if status == "200" and file != "-" and url not in out:
            out[url] = (file, ctype)
    return out


def load_page(corpus: Path, file: str, ctype: str):
    raw = (corpus / file).read_bytes()
    return visible_text(raw.decode(charset_of(raw, ctype), errors="replace"))


def _spans(text: str, needle: str) -> list[tuple[int, int]]:
    out, k = [], text.find(needle)
    while k >= 0:
        out.append((k, k + len(needle)))
        k = text.find(needle, k + 1)
    return out


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> int:
    return max(0, min(a[1], b[1]) - max(a[0], b[0]))


def evaluate(corpus: Path, *, embeddings: bool = True, threshold: float | None = None,
             claims: str = "claims.json") -> dict:
    corpus = Path(corpus)
    gold = json.loads((corpus / "gold" / claims).read_text(encoding="utf-8"))
    langs: dict[str, str] = {}
    chain_path = corpus / "gold" / "chain.json"
    if chain_path.exists():
        for node in json.loads(chain_path.read_text(encoding="utf-8")).get("nodes", []):
            if node.get("url") and node.get("language"):
                langs[node["url"]] = node["language"]
    urls = read_urls(corpus)

    t_load = time.perf_counter()
    embedder = get_embedder() if embeddings else None
    load_seconds = time.perf_counter() - t_load

    down_vt = load_page(corpus, gold["file"], urls.get(gold.get("document", ""), ("", ""))[1])
    down_lang = (gold.get("language") or down_vt.lang or "").split("-")[0]
    up_urls = sorted({u["url"] for c in gold["claims"] for u in c["upstream"]}
                     | {u["url"] for u in gold.get("untranslated_upstream", [])})
    pages = {url: load_page(corpus, *urls[url]) for url in up_urls if url in urls}

    t0 = time.perf_counter()
    dsegs = page_segments(down_vt, down_lang)
    down = [Sentence(s.text, down_lang, id=k, start=s.start, end=s.end, doc="downstream", para=s.paragraph)
            for k, s in enumerate(dsegs)]
    up: list[Sentence] = []
    up_lang: dict[str, str] = {}
    for url, vt in pages.items():
        lang = (langs.get(url) or vt.lang or "").split("-")[0]
        up_lang[url] = lang
        for s in page_segments(vt, lang):
            up.append(Sentence(s.text, lang, id=len(up), start=s.start, end=s.end, doc=url, para=s.paragraph))
    suggestions = suggest(down, up, embedder=embedder, threshold=threshold)
    run_seconds = time.perf_counter() - t0

    # gold spans
    claim_span = {}
    for c in gold["claims"]:
        sp = _spans(down_vt.text, c["exact"])
        if sp:
            claim_span[c["id"]] = sp[0]
    gold_pairs: dict[tuple, str] = {}
    for c in gold["claims"]:
        for u in c["upstream"]:
            gold_pairs[(c["id"], u["url"], u["exact"])] = u["relation"]
    up_exacts: dict[str, list[tuple[str, tuple[int, int]]]] = defaultdict(list)
    for (_cid, url, exact) in gold_pairs:
        if url in pages:
            for sp in _spans(pages[url].text, exact):
                if (exact, sp) not in up_exacts[url]:
                    up_exacts[url].append((exact, sp))

    def claim_of(seg: Sentence):
        span = (seg.start, seg.end)
        for cid, cs in claim_span.items():
            if _overlap(span, cs) * 2 >= span[1] - span[0]:
                return cid
        return None

    def exact_of(seg: Sentence):
        span = (seg.start, seg.end)
        for exact, sp in up_exacts.get(seg.doc, []):
            ov = _overlap(span, sp)
            if ov * 2 >= span[1] - span[0] or ov * 2 >= sp[1] - sp[0]:
                return exact
        return None

    keys: dict[tuple, dict] = {}
    for s in suggestions:
        d, u = down[s.down_index], up[s.up_index]
        cid = claim_of(d)
        exact = exact_of(u)
        key = (cid or f"seg{s.down_index}", u.doc, exact or f"seg{s.up_index}")
        prev = keys.get(key)
        if prev is None or s.confidence > prev["confidence"]:
            keys[key] = {"confidence": s.confidence, "relation": s.relation,
                         "correct": key in gold_pairs, "down": d.text, "up": u.text,
                         "pair": f"{down_lang}-{up_lang[u.doc]}", "signals": s.signals}
    found = {k for k, v in keys.items() if v["correct"]}

    def prf(tp: int, n_pred: int, n_gold: int) -> dict:
        p = tp / n_pred if n_pred else 1.0
        r = tp / n_gold if n_gold else 1.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4),
                "predicted": n_pred, "gold": n_gold, "correct": tp}

    pairs = sorted({f"{down_lang}-{up_lang.get(url, '?')}" for (_c, url, _e) in gold_pairs}
                   | {v["pair"] for v in keys.values()})
    per_pair = {}
    for pair in pairs:
        g = [k for k in gold_pairs if f"{down_lang}-{up_lang.get(k[1], '?')}" == pair]
        pred = [k for k, v in keys.items() if v["pair"] == pair]
        per_pair[pair] = prf(len([k for k in pred if k in found]), len(pred), len(g))
    relation_ok = sum(1 for k in found if keys[k]["relation"] == gold_pairs[k])
    n_claims = len(gold["claims"])
    return {
        "corpus": str(corpus),
        "embedder": f"{embedder.name} ({embedder.version})" if embedder else None,
        "threshold": DEFAULT_THRESHOLD if threshold is None else threshold,
        "overall": prf(len(found), len(keys), len(gold_pairs)),
        "per_pair": per_pair,
        "relation_accuracy": round(relation_ok / len(found), 4) if found else None,
        "claims": n_claims,
        "downstream_segments": len(down),
        "upstream_segments": len(up),
        "seconds_per_100_claims": round(run_seconds / max(1, n_claims) * 100, 3),
        "model_load_seconds": round(load_seconds, 3),
        "false_positives": [{"key": list(k), **{x: v[x] for x in ("confidence", "relation", "down", "up", "signals")}}
                            for k, v in keys.items() if not v["correct"]],
        "missed": [list(k) for k in gold_pairs if k not in found],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--no-embeddings", action="store_true", help="align without sentence embeddings")
    ap.add_argument("--threshold", type=float, default=None, help=f"confidence threshold (default {DEFAULT_THRESHOLD})")
    ap.add_argument("--json", action="store_true", help="machine-readable output")
    ap.add_argument("--claims", default="claims.json", help="gold claims file under gold/ (e.g. claims.fr.json)")
    ap.add_argument("-v", "--verbose", action="store_true", help="list false positives and misses")
    args = ap.parse_args(argv)
    res = evaluate(args.corpus, embeddings=not args.no_embeddings, threshold=args.threshold, claims=args.claims)
    if args.json:
        print(json.dumps(res, ensure_ascii=False, indent=2))
        return 0
    o = res["overall"]
    print(f"corpus: {res['corpus']}")
    print(f"embedder: {res['embedder'] or 'none'}  threshold: {res['threshold']}")
    print(f"{'pair':<8} {'P':>6} {'R':>6} {'F1':>6} {'pred':>5} {'gold':>5} {'ok':>4}")
    print(f"{'overall':<8} {o['precision']:>6.3f} {o['recall']:>6.3f} {o['f1']:>6.3f} {o['predicted']:>5} {o['gold']:>5} {o['correct']:>4}")
    for pair, m in res["per_pair"].items():
        print(f"{pair:<8} {m['precision']:>6.3f} {m['recall']:>6.3f} {m['f1']:>6.3f} {m['predicted']:>5} {m['gold']:>5} {m['correct']:>4}")
    print(f"relation accuracy (correct links): {res['relation_accuracy']}")
    print(f"seconds per 100 claims: {res['seconds_per_100_claims']:.3f} (model load {res['model_load_seconds']:.2f}s)")
    if args.verbose:
        for fp in res["false_positives"]:
            print(f"FP {fp['confidence']:.2f} {fp['relation']}: {fp['down'][:70]} -> {fp['up'][:70]} {fp['signals']}")
        for k in res["missed"]:
            print(f"MISS {k[0]} -> {k[1][:40]} {k[2][:60]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
