#!/usr/bin/env python3
"""Measure claim kinds and speakers (provenance.text.claims.classify / speaker) against gold labels.

Usage: python bench/claim_kinds.py [CORPUS_DIR ...] [--json]

Sources of gold:
* every ``gold/claims.json`` of the corpora given (default: tests/fixtures/corpus): each claim's
  ``exact`` and ``kind`` in the document's ``language`` (no speakers there);
* tests/fixtures/claims/kinds.json: hand-written sentences in ar/es/fr/en with their kind and the
  speaker a reader would name (a person or an organisation, or "" when none is named), and the
  speakers of the fixture corpus's gold claims (labelled by reading them).

Prints, per kind, precision (of the sentences given that kind, how many have it in the gold),
recall and support; then speaker precision (of the speakers shown, how many are the named person
or organisation; a leading article — the, el, la, le, l' — is ignored) and recall, and every
error so a reader can see what kind of mistake remains. No timing: this is a quality measure.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "naql.settings")
os.environ.setdefault("NAQL_DATA_DIR", str(Path(os.environ.get("TMPDIR", "/tmp")) / "naql-bench-kinds"))

import django  # noqa: E402

django.setup()

from provenance.text.claims import classify, speaker  # noqa: E402
from provenance.text.textnorm import normalize  # noqa: E402

KINDS = ("fact", "quote", "attributed_statement", "background")
ARTICLES = ("the ", "el ", "la ", "le ", "l'", "les ", "los ", "las ")


def _name(s: str) -> str:
    s = normalize(s or "").text.strip().lower()
    for a in ARTICLES:
        if s.startswith(a):
            return s[len(a):]
    return s


def load(corpora: list[Path]) -> list[dict]:
    items = []
    own = json.loads((ROOT / "tests" / "fixtures" / "claims" / "kinds.json").read_text("utf-8"))
    fixture = (ROOT / "tests" / "fixtures" / "corpus").resolve()
    for corpus in corpora:
        g = json.loads((corpus / "gold" / "claims.json").read_text("utf-8"))
        speakers = own.get("corpus_speakers", {}) if corpus.resolve() == fixture else {}
        for c in g["claims"]:
            items.append({"source": corpus.name, "id": c.get("id", ""), "lang": g["language"], "text": c["exact"],
                          "kind": c["kind"], "speaker": speakers.get(c.get("id"))})
    for i, s in enumerate(own["sentences"], 1):
        items.append({"source": "kinds.json", "id": f"s{i:02d}", "lang": s["lang"], "text": s["text"],
                      "kind": s["kind"], "speaker": s["speaker"]})
    return items


def evaluate(items: list[dict]) -> dict:
    predicted, gold, correct = Counter(), Counter(), Counter()
    errors = []
    sp = {"shown": 0, "right": 0, "named": 0, "found": 0}
    for it in items:
        k = str(classify(it["text"], it["lang"]))
        predicted[k] += 1
        gold[it["kind"]] += 1
        if k == it["kind"]:
            correct[k] += 1
        else:
            errors.append(f"kind {it['source']}:{it['id']} gold={it['kind']} got={k}: {it['text'][:70]}")
        if it["speaker"] is None:
            continue
        got = speaker(it["text"], it["lang"])
        if it["speaker"]:
            sp["named"] += 1
        if got:
            sp["shown"] += 1
            if it["speaker"] and _name(got) == _name(it["speaker"]):
                sp["right"] += 1
                sp["found"] += 1
            else:
                errors.append(f"speaker {it['source']}:{it['id']} gold={it['speaker']!r} got={got!r}")
        elif it["speaker"]:
            errors.append(f"speaker {it['source']}:{it['id']} gold={it['speaker']!r} got=''")
    per_kind = {k: {"precision": correct[k] / predicted[k] if predicted[k] else None,
                    "recall": correct[k] / gold[k] if gold[k] else None,
                    "predicted": predicted[k], "support": gold[k]} for k in KINDS}
    return {"per_kind": per_kind, "accuracy": sum(correct.values()) / len(items), "n": len(items),
            "speaker": {"precision": sp["right"] / sp["shown"] if sp["shown"] else None,
                        "recall": sp["found"] / sp["named"] if sp["named"] else None, **sp},
            "errors": errors}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("corpora", nargs="*", type=Path, default=[ROOT / "tests" / "fixtures" / "corpus"])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    res = evaluate(load(args.corpora))
    if args.json:
        print(json.dumps(res, ensure_ascii=False, indent=1))
        return 0

    def pct(x):
        return "  n/a" if x is None else f"{x:5.2f}"

    print(f"{'kind':<22} precision recall predicted support")
    for k, v in res["per_kind"].items():
        print(f"{k:<22} {pct(v['precision']):>9} {pct(v['recall']):>6} {v['predicted']:>9} {v['support']:>7}")
    print(f"accuracy {res['accuracy']:.2f} over {res['n']} sentences")
    s = res["speaker"]
    print(f"speakers: precision {pct(s['precision'])} ({s['right']}/{s['shown']} shown), "
          f"recall {pct(s['recall'])} ({s['found']}/{s['named']} named)")
    for e in res["errors"]:
        print("  -", e)
    return 0


if __name__ == "__main__":
    sys.exit(main())
