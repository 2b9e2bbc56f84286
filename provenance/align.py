"""Suggest claim links from downstream sentences to upstream sentences, across languages.

``suggest(downstream, upstream, embedder=None, threshold=None)`` scores every
(downstream, upstream) pair with independent signals, combines them in a logistic model whose
weights are set by hand (each weight says how much one unit of that evidence should move the
odds), adds an order signal from a monotonic alignment, and returns the pairs above the
threshold. It is not one-to-one: a downstream sentence may link several upstream sentences
(merge), an upstream sentence may serve several downstream ones (split), and most sentences may
have no counterpart ("no upstream" is a valid answer).

Signals (each in [0, 1], or absent when the pair carries no evidence either way):

``names``   named entities shared, as a Dice coefficient. Latin-script names are capitalised
            words (function words excluded); they meet Arabic-script words through a consonant
            skeleton (``غانتس`` ~ ``Gantz``: G N T S; rules/translit.json). A skeleton of three
            classes or more matches alone; a two-class part (``Aziz``, ``Hanaoui``) only next to
            another matched part of the same name, after which that pair is known for the whole
            call. Exonyms and demonyms come from rules/gazetteer.json (``المغرب`` ~ Marruecos).
``numbers`` numbers (any script's digits), years, month and weekday names (rules/dates.json) as
            a Dice coefficient; ``numbers_missing`` = 1 when only one side has any.
``words``   shared content words of two same-script sentences (light stemming), Dice.
``quote``   share of a quotation's words found in the other sentence (same script), or the
            cosine of the quotation and the other sentence (cross-script, embeddings only).
``embedding`` cosine of multilingual sentence embeddings, when an embedder is given.
``order``   1 when the pair lies on the best monotonic path through the two documents (dynamic
            programming over positions, allowing drops, merges and splits), 0.5 when it sits
            between two neighbours on that path, else 0.

Relation: same language and near-verbatim (``words`` ≥ 0.6) or a downstream quotation found in
the upstream (``quote`` ≥ 0.6) → ``quote``; cross-language where a downstream quotation renders
an upstream sentence that quotes nobody itself (cross-script quote cosine ≥ 0.6) → ``quote``;
other cross-language pairs with confidence ≥ ``TRANSLATION_CONFIDENCE`` → ``translation``;
everything else → ``paraphrase``.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from provenance.text.segment import quotations
from provenance.text.textnorm import base_lang, normalize

__all__ = ["METHOD", "METHOD_VERSION", "Sentence", "Suggestion", "suggest", "DEFAULT_THRESHOLD"]

METHOD = "naql-align"
METHOD_VERSION = "1.0"
DEFAULT_THRESHOLD = 0.5
TRANSLATION_CONFIDENCE = 0.75
RULES_DIR = Path(__file__).with_name("rules")
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
_ORIG_WORD = re.compile(r"[^\W\d_]+(?:['’\-][^\W\d_]+)*", re.UNICODE)
_ARABIC_CHAR = re.compile(r"[\u0600-\u06ff\u0750-\u077f\ufb50-\ufdff\ufe70-\ufeff]")
_LATIN_CHAR = re.compile(r"[A-Za-z\u00c0-\u024f]")

# Logistic weights: log-odds added per unit of each signal. The bias says "most pairs are not
# links"; the weights are round numbers chosen so that one strong kind of evidence alone is not
# enough, two agreeing kinds are. With embeddings, the cosine carries most of the weight.
WEIGHTS_EMBEDDING = {
    "bias": -10.0, "embedding": 14.0, "names": 2.5, "numbers": 1.5, "numbers_missing": -1.0,
    "words": 4.0, "quote": 2.0, "quote_match": 5.0, "order": 1.5,
}
WEIGHTS_PLAIN = {
    "bias": -4.0, "names": 6.0, "numbers": 2.0, "numbers_missing": -1.0,
    "words": 8.0, "quote": 3.0, "order": 2.0,
}
# A pair must come within RIVAL_GAP log-odds of the best pair of its downstream sentence in the
# same upstream document, and of the best pair of its upstream sentence. Without embeddings the
# evidence (names, numbers) is shared by many sentences of one story, so only near-mutual-best
# pairs are kept.
RIVAL_GAP = {"embedding": 2.5, "plain": 0.5}
MERGE_DISCOUNT = 0.05
PATH_FLOOR = 0.1  # pairs below this probability never lie on the monotonic path
QUOTE_COSINE_FLOOR = 0.4


@dataclass(frozen=True)
class Sentence:
    """A sentence to align. ``doc`` groups sentences of one document (order is per document);
    ``para`` groups sentences of one paragraph. Both are optional."""

    text: str
    lang: str | None = None
    id: Any = None
    start: int | None = None
    end: int | None = None
    doc: Any = None
    para: Any = None


@dataclass(frozen=True)
class Suggestion:
    down_index: int
    up_index: int
    relation: str
    confidence: float
    signals: dict[str, float] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# rules


def _norm(s: str) -> str:
    return normalize(s).text


@lru_cache(maxsize=1)
def _rules() -> dict:
    def load(name):
        return json.loads((RULES_DIR / name).read_text(encoding="utf-8"))

    tr = load("translit.json")
    stop = {lang: frozenset(_norm(w) for w in words) for lang, words in load("stopwords.json").items()
            if not lang.startswith("_")}
    all_stop = frozenset().union(*stop.values())
    phrases: dict[tuple[str, ...], str] = {}
    for key, forms in load("gazetteer.json")["entries"].items():
        for words in forms.values():
            for w in words:
                phrases[tuple(_TOKEN.findall(_norm(w)))] = "G:" + key
    dates = load("dates.json")
    for kind, prefix in (("months", "M"), ("weekdays", "W")):
        for names in dates[kind].values():
            for k, variants in enumerate(names, start=1):
                for w in variants:
                    phrases[tuple(_TOKEN.findall(_norm(w)))] = f"{prefix}{k}"
    return {
        "arabic": tr["arabic"],
        "digraphs": sorted(tr["latin_digraphs"].items(), key=lambda kv: -len(kv[0])),
        "latin": tr["latin"],
        "soft_c": tr["latin_soft_c"],
        "prefixes": sorted((_norm(p) for p in tr["arabic_prefixes"]), key=len, reverse=True),
        "particles": frozenset(tr["latin_particles"]),
        "stop": stop,
        "all_stop": all_stop,
        "phrases": phrases,
        "max_phrase": max(len(p) for p in phrases),
    }


# ---------------------------------------------------------------------------------------------
# text features


def _script(text: str, lang: str | None) -> str:
    base = base_lang(lang)
    if base in ("ar", "fa", "ur", "ps", "ckb"):
        return "arabic"
    ar = len(_ARABIC_CHAR.findall(text))
    la = len(_LATIN_CHAR.findall(text))
    if ar > la:
        return "arabic"
    return "latin" if la else "other"


def _collapse(classes: list[str]) -> str:
    out: list[str] = []
    for c in classes:
        for ch in c:
            if not out or out[-1] != ch:
                out.append(ch)
    return "".join(out)


def arabic_skeleton(word: str) -> str:
    """Consonant skeleton of a normalised Arabic-script word (``غانتس`` → ``GNTS``)."""
    table = _rules()["arabic"]
    if word.endswith("ه"):
        word = word[:-1]  # ta marbuta (normalised to ha) is a vowel ending: بوريطة ~ Bourita
    return _collapse([table.get(ch, "") for ch in word])


def latin_skeleton(word: str) -> str:
    """Consonant skeleton of a normalised Latin-script word (``gantz`` → ``GNTS``)."""
    r = _rules()
    w = word.lower()
    out: list[str] = []
    i = 0
    while i < len(w):
        for dg, cls in r["digraphs"]:
            if w.startswith(dg, i):
                out.append(cls)
                i += len(dg)
                break
        else:
            ch = w[i]
            if ch == "c" and i + 1 < len(w) and w[i + 1] in "eiy":
                out.append(r["soft_c"])
            else:
                out.append(r["latin"].get(ch, ""))
            i += 1
    return _collapse(out)


def arabic_variants(token: str) -> list[str]:
    """The token and the token without a leading article/clitic (``والمغرب`` → ``مغرب`` …)."""
    out = [token]
    for p in _rules()["prefixes"]:
        if token.startswith(p) and len(token) - len(p) >= 2:
            out.append(token[len(p):])
    return out


_AR_SUFFIXES = ("ها", "ان", "ات", "ون", "ين", "يه", "ه", "ي")


def _stem(token: str, script: str) -> str:
    if script == "arabic":
        t = token
        if t.startswith("و") and len(t) > 3:
            t = t[1:]
        for p in ("ال", "بال", "كال", "فال", "لل"):
            if t.startswith(p) and len(t) - len(p) >= 2:
                t = t[len(p):]
                break
        for s in _AR_SUFFIXES:
            if t.endswith(s) and len(t) - len(s) >= 2:
                t = t[: -len(s)]
                break
        return t
    return token[:5] if len(token) > 5 else token


@dataclass
class _Feat:
    script: str
    lang: str
    norm: str
    tokens: list[str]
    stems: frozenset
    numbers: frozenset
    gaz: frozenset
    mentions: list[list[tuple[str, str]]]  # Latin names: runs of (norm token, skeleton)
    quotes: list[str]
    quote_stems: list[frozenset]


def _phrase_keys(tokens: list[str], script: str) -> set[str]:
    r = _rules()
    phrases, maxn = r["phrases"], r["max_phrase"]
    keys: set[str] = set()
    for i in range(len(tokens)):
        firsts = arabic_variants(tokens[i]) if script == "arabic" else [tokens[i]]
        for first in firsts:
            for n in range(1, maxn + 1):
                if i + n > len(tokens):
                    break
                key = phrases.get((first, *tokens[i + 1:i + n]))
                if key:
                    keys.add(key)
    return keys


def _mentions(text: str, lang: str, gaz_tokens: set[str]) -> list[list[tuple[str, str]]]:
    r = _rules()
    stop = r["stop"].get(lang, r["all_stop"])
    runs: list[list[tuple[str, str]]] = []
    current: list[tuple[str, str]] = []
    last_end = -10
    for m in _ORIG_WORD.finditer(text):
        word = m.group(0)
        gap = text[last_end:m.start()] if last_end >= 0 else ""
        contiguous = last_end >= 0 and gap.strip() == ""
        if not contiguous and current:
            runs.append(current)
            current = []
        last_end = m.end()
        if not word[0].isupper():
            if current:
                runs.append(current)
                current = []
            continue
        n = _norm(word)
        if n in stop or n in gaz_tokens or (word.isupper() and len(word) <= 5):
            if current:
                runs.append(current)
                current = []
            continue
        if n in r["particles"]:
            continue
        current.append((n, latin_skeleton(n)))
    if current:
        runs.append(current)
    return runs


def _features(s: Sentence) -> _Feat:
    lang = base_lang(s.lang)
    script = _script(s.text, s.lang)
    nt = _norm(s.text)
    tokens = _TOKEN.findall(nt)
    r = _rules()
    stop = r["stop"].get(lang, r["all_stop"])
    content = [t for t in tokens if t not in stop and not t.isdigit() and len(t) > 1]
    stems = frozenset(_stem(t, script) for t in content)
    numbers = {str(int(t)) for t in re.findall(r"\d+", nt) if len(t) <= 9}
    keys = _phrase_keys(tokens, script)
    dates = {k for k in keys if not k.startswith("G:")}
    gaz = frozenset(k for k in keys if k.startswith("G:"))
    gaz_tokens = {t for t in tokens if _phrase_keys([t], script)}
    mentions = _mentions(s.text, lang, gaz_tokens) if script == "latin" else []
    quotes = [q for _s, _e, q in quotations(s.text)]
    quote_stems = []
    for q in quotes:
        qt = [t for t in _TOKEN.findall(_norm(q)) if t not in stop and len(t) > 1]
        quote_stems.append(frozenset(_stem(t, script) for t in qt))
    return _Feat(script, lang, nt, tokens, stems, frozenset(numbers | dates), gaz, mentions,
                 quotes, quote_stems)


# ---------------------------------------------------------------------------------------------
# names across scripts


class _NameMatcher:
    """Which Latin name parts each Arabic-script sentence mentions (see module docstring)."""

    def __init__(self, feats: list[_Feat]):
        self.by_skeleton: dict[str, set[str]] = defaultdict(set)
        self.usable: set[str] = set()
        for f in feats:
            for run in f.mentions:
                for n, sk in run:
                    if len(sk) >= 3:
                        self.by_skeleton[sk].add(n)
                        self.usable.add(n)
        self.learned: dict[str, set[str]] = defaultdict(set)  # Arabic token -> Latin parts
        arabic = [f for f in feats if f.script == "arabic"]
        latin_runs = [run for f in feats for run in f.mentions if len(run) > 1]
        # Two-class parts are learned only from a whole name matched part by part, in order.
        for f in arabic:
            sks = [[arabic_skeleton(v) for v in arabic_variants(t)] for t in f.tokens]
            for run in latin_runs:
                k = len(run)
                for i in range(len(f.tokens) - k + 1):
                    if (max(len(x[1]) for x in run) >= 2
                            and all(run[p][1] and run[p][1] in sks[i + p] for p in range(k))):
                        for p in range(k):
                            self.learned[f.tokens[i + p]].add(run[p][0])
                            self.usable.add(run[p][0])
        self._cache: dict[str, frozenset] = {}

    def arabic_names(self, f: _Feat) -> frozenset:
        names: set[str] = set()
        toks = f.tokens
        for i, t in enumerate(toks):
            names |= self.learned.get(t, set())
            variants = arabic_variants(t)
            for v in variants:
                sk = arabic_skeleton(v)
                if len(sk) >= 3:
                    names |= self.by_skeleton.get(sk, set())
                if i + 1 < len(toks):  # compound names written as one Latin word (عبد اللطيف)
                    sk2 = arabic_skeleton(v + toks[i + 1])
                    if len(sk2) >= 4:
                        names |= self.by_skeleton.get(sk2, set())
        return frozenset(names)

    def latin_names(self, f: _Feat) -> frozenset:
        return frozenset(n for run in f.mentions for n, _sk in run if n in self.usable)


# ---------------------------------------------------------------------------------------------
# scoring


def _dice(a: frozenset | set, b: frozenset | set) -> float | None:
    if not a and not b:
        return None
    return 2 * len(a & b) / (len(a) + len(b))


GAZETTEER_WEIGHT = 0.5  # a country is weaker evidence than a person's name: topics repeat them


def _names_score(dn: frozenset, dg: frozenset, un: frozenset, ug: frozenset) -> float | None:
    """How well the names of the downstream sentence are explained by the upstream one.

    0.7 x share of downstream names found upstream + 0.3 x share of upstream names found
    downstream (a split sentence keeps only part of its source's names), times 1 - 0.5^m where
    m is the weight of the shared names: one shared country is weak evidence, three names strong.
    """
    dw = len(dn) + GAZETTEER_WEIGHT * len(dg)
    uw = len(un) + GAZETTEER_WEIGHT * len(ug)
    if not dw and not uw:
        return None
    m = len(dn & un) + GAZETTEER_WEIGHT * len(dg & ug)
    if not m:
        return 0.0
    cov_d = m / dw if dw else 0.0
    cov_u = m / uw if uw else 0.0
    return (0.7 * cov_d + 0.3 * cov_u) * (1.0 - 0.5 ** m)


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def _monotone_path(w: list[list[float]]) -> set[tuple[int, int]]:
    """Best monotonic assignment: each row i takes at most one column j (or none), columns
    non-decreasing down the rows (splits allowed, drops free); maximises the sum of w > 0."""
    n = len(w)
    m = len(w[0]) if n else 0
    if not n or not m:
        return set()
    # best[j]: best total of rows so far with the last used column <= j
    best = [0.0] * m
    choice: list[list[int | None]] = []  # per row, per j: column used at this row (or None)
    rows_best: list[list[float]] = []
    for i in range(n):
        cur = [0.0] * m
        pick: list[int | None] = [None] * m
        run_best, run_pick = -math.inf, None
        for j in range(m):
            # use column j at row i, coming from state <= j of the previous row
            take = best[j] + w[i][j] if w[i][j] > 0 else -math.inf
            if take > run_best:
                run_best, run_pick = take, j
            skip = best[j]  # row i unused
            if skip >= run_best:
                cur[j], pick[j] = skip, None
            else:
                cur[j], pick[j] = run_best, run_pick
        best = cur
        choice.append(pick)
        rows_best.append(cur)
    path: set[tuple[int, int]] = set()
    j = m - 1
    for i in range(n - 1, -1, -1):
        c = choice[i][j]
        if c is not None:
            path.add((i, c))
            j = c
    return path


def _order_signal(path: set[tuple[int, int]], i: int, j: int, same_para=lambda a, b: False) -> float:
    """1 on the path, or next to the path's column of this row in the same paragraph (a merge
    of two upstream sentences); 0.5 between the path's neighbouring rows; else 0."""
    if (i, j) in path:
        return 1.0
    if any(pi == i and abs(pj - j) == 1 and same_para(pj, j) for pi, pj in path):
        return 1.0
    before = [pj for pi, pj in path if pi < i]
    after = [pj for pi, pj in path if pi > i]
    lo = max(before) if before else None
    hi = min(after) if after else None
    if lo is not None and hi is not None and lo <= j <= hi and hi - lo <= 2:
        return 0.5
    return 0.0


def _pair_signals(d: _Feat, u: _Feat, dn: frozenset, un: frozenset) -> dict[str, float]:
    sig: dict[str, float] = {}
    names = _names_score(dn, d.gaz, un, u.gaz)
    if names is not None:
        sig["names"] = names
    if d.numbers and u.numbers:
        sig["numbers"] = _dice(d.numbers, u.numbers) or 0.0
    elif d.numbers or u.numbers:
        sig["numbers_missing"] = 1.0
    if d.script == u.script and d.script != "other":
        words = _dice(d.stems, u.stems)
        if words is not None:
            sig["words"] = words
        q = [len(qs & u.stems) / len(qs) for qs in d.quote_stems if len(qs) >= 2]
        q += [len(qs & d.stems) / len(qs) for qs in u.quote_stems if len(qs) >= 2]
        if q:
            sig["quote"] = max(q)
    return sig


def _relation(d: _Feat, u: _Feat, sig: dict[str, float], conf: float) -> str:
    same_lang = d.lang and d.lang == u.lang
    if same_lang and (sig.get("words", 0) >= 0.6 or sig.get("quote", 0) >= 0.6):
        return "quote"
    if d.script == u.script and sig.get("quote", 0) >= 0.6:
        return "quote"
    if not same_lang and sig.get("quote_cross", 0) >= 0.6 and not u.quotes:
        return "quote"
    if not same_lang and conf >= TRANSLATION_CONFIDENCE:
        return "translation"
    return "paraphrase"


def _neighbours(sents: list[Sentence]) -> list[tuple[int, int]]:
    """Consecutive sentence pairs of one paragraph (same doc and para, both given)."""
    return [(k, k + 1) for k in range(len(sents) - 1)
            if sents[k].doc == sents[k + 1].doc and sents[k].para == sents[k + 1].para]


def _joined_names(i, j, dfe, ufe, dnames, unames, dpairs, upairs) -> float | None:
    """Names score of (i, j) when i or j is joined with a neighbour of its paragraph (merge or
    split), provided each of the two joined sentences shares a name with the other side that
    the other does not: both must contribute. Discounted by MERGE_DISCOUNT."""
    def keys(names, gaz):
        return set(names) | set(gaz)

    best = None
    d, u = dfe[i], ufe[j]
    dk = keys(dnames[i], d.gaz)
    for a, b in upairs.get(j, ()):
        sa, sb = dk & keys(unames[a], ufe[a].gaz), dk & keys(unames[b], ufe[b].gaz)
        if sa - sb and sb - sa:
            score = _names_score(dnames[i], d.gaz, unames[a] | unames[b], ufe[a].gaz | ufe[b].gaz)
            best = score - MERGE_DISCOUNT if best is None else max(best, score - MERGE_DISCOUNT)
    uk = keys(unames[j], u.gaz)
    for a, b in dpairs.get(i, ()):
        sa, sb = uk & keys(dnames[a], dfe[a].gaz), uk & keys(dnames[b], dfe[b].gaz)
        if sa - sb and sb - sa:
            score = _names_score(dnames[a] | dnames[b], dfe[a].gaz | dfe[b].gaz, unames[j], u.gaz)
            best = score - MERGE_DISCOUNT if best is None else max(best, score - MERGE_DISCOUNT)
    return best


def _embedding_scores(embedder, downstream, upstream, dfe, ufe):
    """Cosine matrix, where a fragment also counts as the whole sentence it was cut from.

    A stray full stop can cut one sentence in two on either side (merge/split), and a fragment
    alone embeds poorly; so for two consecutive sentences of one paragraph the joined text is
    embedded too, and each fragment gets the joined cosine (less MERGE_DISCOUNT) when better.
    """
    import numpy as np

    dpairs, upairs = _neighbours(downstream), _neighbours(upstream)
    texts = ([s.text for s in downstream] + [s.text for s in upstream]
             + [downstream[a].text + " " + downstream[b].text for a, b in dpairs]
             + [upstream[a].text + " " + upstream[b].text for a, b in upairs])
    vecs = embedder.embed(texts)
    nd, nu = len(downstream), len(upstream)
    dv, uv = vecs[:nd], vecs[nd:nd + nu]
    dj = vecs[nd + nu:nd + nu + len(dpairs)]
    uj = vecs[nd + nu + len(dpairs):]
    emb = dv @ uv.T
    best = emb.copy()
    if len(dpairs):
        joined = dj @ uv.T - MERGE_DISCOUNT
        for k, (a, b) in enumerate(dpairs):
            best[a] = np.maximum(best[a], joined[k])
            best[b] = np.maximum(best[b], joined[k])
    if len(upairs):
        joined = dv @ uj.T - MERGE_DISCOUNT
        for k, (a, b) in enumerate(upairs):
            best[:, a] = np.maximum(best[:, a], joined[:, k])
            best[:, b] = np.maximum(best[:, b], joined[:, k])
    qemb: dict[tuple[int, int], float] = {}
    quoted = [(i, q) for i, f in enumerate(dfe) for q in f.quotes if len(q.split()) >= 2]
    if quoted:
        qs = embedder.embed([q for _i, q in quoted]) @ uv.T
        for k, (i, _q) in enumerate(quoted):
            for j in range(nu):
                if dfe[i].script != ufe[j].script:
                    qemb[(i, j)] = max(qemb.get((i, j), -1.0), float(qs[k, j]))
    return best, qemb


GAP_COSINE = 0.45


def _fill_gaps(results, downstream, upstream, dfe, ufe, base_sig, final_z, threshold) -> list[Suggestion]:
    """Ordered gap filling (as Vecalign's anchors do): a downstream sentence with no link whose two
    neighbours are linked to the two neighbours of an unlinked upstream sentence of the same document
    (a 1-1 gap between anchors), or that sits at an end of the document next to a linked neighbour
    with the upstream's corresponding end sentence, is linked to it when their embedding cosine is at
    least GAP_COSINE and their numbers do not disagree. A translator's sentence that carries no name
    or number is otherwise judged on its cosine alone, which paraphrase keeps low."""
    linked = {(r.down_index, r.up_index) for r in results}
    down_used = {i for i, _j in linked}
    up_used = {j for _i, j in linked}
    by_doc: dict[Any, list[int]] = defaultdict(list)
    for j, s in enumerate(upstream):
        by_doc[s.doc].append(j)
    out = []
    n = len(downstream)
    for cols in by_doc.values():
        pos = {j: c for c, j in enumerate(cols)}
        for i in range(n):
            if i in down_used:
                continue
            for j in cols:
                if j in up_used:
                    continue
                c = pos[j]
                prev_ok = (i - 1, cols[c - 1]) in linked if i > 0 and c > 0 else None
                next_ok = (i + 1, cols[c + 1]) in linked if i + 1 < n and c + 1 < len(cols) else None
                edge = (i == 0 and c == 0) or (i == n - 1 or c == len(cols) - 1)
                if not ((prev_ok and next_ok) or (edge and (prev_ok or next_ok) and None in (prev_ok, next_ok))):
                    continue
                sig = dict(base_sig[(i, j)])
                if sig.get("embedding", 0.0) < GAP_COSINE or (sig.get("numbers", 1.0) == 0.0):
                    continue
                sig["order"] = 1.0
                sig["gap"] = 1.0
                conf = max(threshold, _sigmoid(final_z[(i, j)]))
                rel = _relation(dfe[i], ufe[j], sig, conf)
                out.append(Suggestion(i, j, rel, round(conf, 4), {k: round(v, 4) for k, v in sig.items()}))
                down_used.add(i)
                up_used.add(j)
                break
    return out


def suggest(downstream: list[Sentence], upstream: list[Sentence], *, embedder=None,
            threshold: float | None = None) -> list[Suggestion]:
    """Suggested links from ``downstream`` sentences to ``upstream`` ones, best first per
    downstream sentence; see the module docstring for signals, relation and confidence."""
    threshold = DEFAULT_THRESHOLD if threshold is None else threshold
    if not downstream or not upstream:
        return []
    dfe = [_features(s) for s in downstream]
    ufe = [_features(s) for s in upstream]
    matcher = _NameMatcher(dfe + ufe)

    def names_of(f: _Feat) -> frozenset:
        return matcher.arabic_names(f) if f.script == "arabic" else matcher.latin_names(f)

    dnames = [names_of(f) for f in dfe]
    unames = [names_of(f) for f in ufe]
    dpairs: dict[int, list[tuple[int, int]]] = defaultdict(list)
    upairs: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for pairs, index in ((_neighbours(downstream), dpairs), (_neighbours(upstream), upairs)):
        for a, b in pairs:
            index[a].append((a, b))
            index[b].append((a, b))

    emb = None
    qemb: dict[tuple[int, int], float] = {}
    if embedder is not None:
        emb, qemb = _embedding_scores(embedder, downstream, upstream, dfe, ufe)
    weights = WEIGHTS_EMBEDDING if emb is not None else WEIGHTS_PLAIN

    base_sig: dict[tuple[int, int], dict[str, float]] = {}
    base_z: dict[tuple[int, int], float] = {}
    for i, d in enumerate(dfe):
        for j, u in enumerate(ufe):
            sig = _pair_signals(d, u, dnames[i], unames[j])
            joined = _joined_names(i, j, dfe, ufe, dnames, unames, dpairs, upairs)
            if joined is not None and joined > sig.get("names", 0.0):
                sig["names"] = joined
            if emb is not None:
                sig["embedding"] = float(emb[i, j])
                if (i, j) in qemb:
                    sig["quote_cross"] = round(qemb[(i, j)], 4)
                    sig["quote_match"] = min(1.0, max(0.0, (qemb[(i, j)] - QUOTE_COSINE_FLOOR) / (1 - QUOTE_COSINE_FLOOR)))
            z = weights["bias"] + sum(weights.get(k, 0.0) * v for k, v in sig.items())
            base_sig[(i, j)] = sig
            base_z[(i, j)] = z

    # Order: monotonic path per upstream document (all downstream sentences in their order).
    groups: dict[Any, list[int]] = defaultdict(list)
    for j, s in enumerate(upstream):
        groups[s.doc].append(j)
    order: dict[tuple[int, int], float] = {}
    for cols in groups.values():
        w = [[_sigmoid(base_z[(i, j)]) - PATH_FLOOR for j in cols] for i in range(len(dfe))]
        path = _monotone_path(w)

        def same_para(a: int, b: int, cols=cols) -> bool:
            return upstream[cols[a]].para == upstream[cols[b]].para

        for i in range(len(dfe)):
            for c, j in enumerate(cols):
                order[(i, j)] = _order_signal(path, i, c, same_para)

    final_z: dict[tuple[int, int], float] = {}
    for (i, j), z in base_z.items():
        final_z[(i, j)] = z + weights["order"] * order[(i, j)]
    # Competition: a link must be close to the best of its row (this downstream sentence, this
    # upstream document) and of its column (this upstream sentence, all downstream ones), in
    # log-odds. Mutual best pairs always pass; near-best ones cover merges and splits.
    row_best: dict[tuple[int, Any], float] = {}
    col_best: dict[int, float] = {}
    for (i, j), z in final_z.items():
        key = (i, upstream[j].doc)
        row_best[key] = max(row_best.get(key, -math.inf), z)
        col_best[j] = max(col_best.get(j, -math.inf), z)

    gap = RIVAL_GAP["embedding" if emb is not None else "plain"]
    results: list[Suggestion] = []
    for (i, j), z in final_z.items():
        conf = _sigmoid(z)
        if conf < threshold:
            continue
        if row_best[(i, upstream[j].doc)] - z > gap or col_best[j] - z > gap:
            continue
        sig = dict(base_sig[(i, j)])
        sig["order"] = order[(i, j)]
        rel = _relation(dfe[i], ufe[j], sig, conf)
        results.append(Suggestion(i, j, rel, round(conf, 4), {k: round(v, 4) for k, v in sig.items()}))
    if emb is not None:
        results += _fill_gaps(results, downstream, upstream, dfe, ufe, base_sig, final_z, threshold)
    results.sort(key=lambda s: (s.down_index, -s.confidence))
    return results
