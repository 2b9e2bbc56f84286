"""Cue evidence: what a document *says* about its sources (links, embeds, credit lines, bylines,
datelines, reporting phrases naming an outlet). Cues are evidence, never the decision: the type of
a relation is decided by :mod:`provenance.detect.decide` from these cues together with what the
texts show (:mod:`provenance.detect.evidence`).

Lexicon: ``rules/cues.json`` (reporting phrases, document nouns, credit lines, translation
markers, datelines, outlet nouns; Arabic with clitics and gender/number forms, Spanish, French,
English) and ``rules/attribution.json`` (platform URLs, byline credits, older source-line rules).

Kinds of cue, each an :class:`Evidence` (``direct`` when the document links or embeds the target):

- ``embed-*``: an embedded post → ``quotes`` it.
- ``credit:<id>``: a credit/source line ("المصدر: …", "Fuente: …", "(نقلا عن … – ترجمة: …)",
  "Enlace al artículo original en …"); its links, else the publishers it names, get the
  relation the line claims (a translation marker anywhere turns ``derived_from`` into
  ``translation_of``).
- ``link:<cue>``: an outbound link in a body sentence holding a reporting cue (``selon``,
  ``informó la agencia``, ``cité par``, ``وفقا لما أوردته``) or next to an outlet noun → ``cites``;
  ``quotes`` when the sentence holds a quotation of speech. Other outbound links in body sentences
  are ``link:plain`` (relation ``None``): a candidate whose relation only the content can show.
- ``named:<cue>``: a known publisher named (any script; transliterations by consonant skeleton)
  within ``named_window_words`` of a reporting cue, without a link → ``attributes_to``.
- ``byline``, ``dateline``, ``headline``: an agency or outlet credited in the byline ("avec
  Nordpress", "(Ibera Press)"), the opening dateline ("CITY (Agency) –") or a headline
  "Outlet: …" → ``derived_from`` (content decides how much was taken).

Quotation marks around a short outlet name (``ونقلت "الضفة" عن`` , « Le Ruisseau ») do not make a
quotation: :func:`speech_quotations` drops them, so they are neither taken for quoted speech nor
blanked before the search for named sources.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path

from archive.models import Snapshot
from provenance.documents import resolve_url, rules, same_site, text_language
from provenance.models import Document, Publisher, Relation
from provenance.text.claims import article_paragraphs
from provenance.text.segment import quotations, segment
from provenance.text.textnorm import normalize

POST_EMBEDS = frozenset({"tweet", "instagram", "tiktok"})
SEMANTIC_WORDS = 4
SEMANTIC_COSINE = 0.6
SEMANTIC_MARGIN = 0.15
_WORD = re.compile(r"[^\W_]+")
CUES = Path(__file__).parent.parent / "rules" / "cues.json"
NAME_QUOTE_MAX_WORDS = 5


@lru_cache(maxsize=1)
def cue_rules() -> dict:
    return json.loads(CUES.read_text(encoding="utf-8"))


@lru_cache(maxsize=8)
def _compiled(lang: str, kind: str) -> list[tuple[dict, re.Pattern]]:
    return [(c, re.compile(c["pattern"])) for c in cue_rules()["cues"]
            if c["kind"] == kind and c["lang"] in (lang, "any")]


@lru_cache(maxsize=50000)
def _norm(s: str) -> str:
    """Normalised text (cached: the same paragraphs and names are normalised again at every
    re-detection, and textnorm keeps an offset map per character)."""
    return normalize(s).text


def find_cues(norm: str, lang: str, kinds=("report", "document")) -> list[tuple[int, int, str]]:
    """(start, end, cue id) of each reporting/document cue in normalised text."""
    out = []
    for kind in kinds:
        for c, rx in _compiled(lang, kind):
            out += [(m.start(), m.end(), c["id"]) for m in rx.finditer(norm)]
    return sorted(out)


def translation_marker(norm: str, lang: str) -> str | None:
    for c, rx in _compiled(lang, "translation"):
        if rx.search(norm):
            return c["id"]
    return None


def outlet_nouns(lang: str) -> list[str]:
    return cue_rules()["outlet_nouns"].get(lang, [])


# ---------------------------------------------------------------------------------------------
# quotations of speech vs names in quotation marks


def is_name_quote(text: str, start: int, end: int, lang: str, links: list[tuple[int, int]] = ()) -> bool:
    """Is the quotation ``text[start:end]`` an outlet's (or a programme's) name, not quoted words?

    Short (at most NAME_QUOTE_MAX_WORDS words) and one of: right after an outlet noun ("صحيفة
    «…»", "le quotidien « … »", "the daily '…'"), right after a reporting cue ("ونقلت "…" عن"),
    overlapping a link's anchor, or followed by a demonym-like adjective and no verb inside.
    """
    inner = text[start:end]
    if len(_WORD.findall(inner)) > NAME_QUOTE_MAX_WORDS or not _WORD.search(inner):
        return False
    if any(s < end + 1 and start - 1 < e for s, e in links):
        return True
    before = _norm(text[max(0, start - 60):start]).rstrip(' "')
    prev = _WORD.findall(before)[-3:]
    nouns = set(outlet_nouns(lang))
    for w in prev:
        for v in (w, w[1:] if w[:1] in "وفبل" else w, w[2:] if w.startswith("ال") else w, w[3:] if w[1:3] == "ال" else w):
            if v in nouns:
                return True
    if prev and find_cues(" ".join(prev[-1:]), lang, kinds=("report",)):
        # ونقلت "…" عن / ذكرت "…" أن / "…" الفرنسية: a name is followed by a preposition, a
        # complementizer or a demonym; quoted speech after a verb (وقال "لن نتراجع") is not
        after = _WORD.findall(_norm(text[end:end + 40]))[:1]
        if after and (after[0] in _AFTER_NAME or re.fullmatch(r"ال\w+(يه|ي)", after[0])):
            return True
    return False


_AFTER_NAME = frozenset("عن ان بان انه انها الي على علي في من que qu selon that on in reported".split())


def speech_quotations(text: str, lang: str, links: list[tuple[int, int]] = ()) -> list[tuple[int, int, str]]:
    """The quotations of ``text`` that quote words (not outlet names in quotation marks)."""
    return [(s, e, q) for s, e, q in quotations(text) if not is_name_quote(text, s, e, lang, links)]


def _prefixes(phrase: str) -> str:
    """Drop the one-letter Arabic clitic of the first word (لوزاره → وزاره) before embedding."""
    words = phrase.split()
    if words and _is_arabic(words[0]) and words[0][:1] in "لبوف" and len(words[0]) > 4:
        words[0] = words[0][1:]
    return " ".join(words)


def _blank(text: str, spans) -> str:
    for s, e, *_ in sorted(spans, reverse=True):
        text = text[:s] + " " * (e - s) + text[e:]
    return text


# ---------------------------------------------------------------------------------------------
# names


def _is_arabic(token: str) -> bool:
    return bool(re.search(r"[\u0600-\u06ff]", token))


def skeletons(token: str) -> tuple[str, ...]:
    from provenance.align import arabic_skeleton, arabic_variants, latin_skeleton

    if _is_arabic(token):
        return tuple(arabic_skeleton(v) for v in arabic_variants(token))
    return (latin_skeleton(token),)


_GENERIC = frozenset({"news", "press", "agency", "media", "daily", "times", "post", "journal", "radio", "info",
                      "diario", "agencia", "noticias", "presse", "agence", "quotidien", "اخبار", "الاخبار",
                      "وكاله", "صحيفه", "جريده", "موقع", "قناه", "the", "les", "los", "las", "der", "die"})


@lru_cache(maxsize=4096)
def _name_keys(names: tuple[str, ...]) -> tuple[tuple[str, ...], frozenset, frozenset]:
    """Normalised full names; skeletons of distinctive words (Arabic-script, other)."""
    min_sk = rules()["min_skeleton"]
    norm = [_norm(n).lstrip("@") for n in names]
    ar, other = set(), set()
    for n in norm:
        for tok in _WORD.findall(n):
            if len(tok) >= 4 and not tok.isdigit() and tok not in _GENERIC:
                (ar if _is_arabic(tok) else other).update(s for s in skeletons(tok) if len(s) >= min_sk)
    return tuple(n for n in norm if len(n) >= 3), frozenset(ar), frozenset(other)


def publisher_name_keys(pub: Publisher) -> tuple[tuple[str, ...], frozenset, frozenset]:
    return _name_keys(tuple(pub.names()))


JOINED_MIN = 4


def _joined(tokens: list[str]) -> str:
    """Consonant skeleton of a run of words read as one name ("el faro del norte" → LFRDLNRT,
    "إل فارو ديل نورتي" → LFRDLNRT): multi-word names whose words are each too short to match
    alone still match across scripts as a whole."""
    from provenance.align import _collapse, arabic_skeleton, latin_skeleton

    return _collapse([arabic_skeleton(t) if _is_arabic(t) else latin_skeleton(t) for t in tokens])


def _spellings(tok: str) -> list[str]:
    """A Latin word as Arabic writers may hear it: Spanish v as b, Spanish ll as y (Valle ~ بايي)."""
    out = [tok]
    if "v" in tok:
        out.append(tok.replace("v", "b"))
    if "ll" in tok:
        out += [t.replace("ll", "y") for t in list(out)]
    return out


@lru_cache(maxsize=4096)
def _joined_name_keys(names: tuple[str, ...]) -> dict[bool, set[tuple[int, str]]]:
    """Per script (Arabic or not): (word count, joined skeleton) of each multi-word name, with
    the spelling variants of :func:`_spellings` (at most 16 per name)."""
    from itertools import islice, product

    out: dict[bool, set[tuple[int, str]]] = {True: set(), False: set()}
    for n in names:
        toks = _WORD.findall(_norm(n).lstrip("@"))
        if len(toks) >= 2:
            options = [[t] if _is_arabic(t) else _spellings(t) for t in toks]
            for combo in islice(product(*options), 16):
                sk = _joined(list(combo))
                if len(sk) >= JOINED_MIN:
                    out[_is_arabic(n)].add((len(toks), sk))
    return out


def _window_runs(tokens: list[str], k: int) -> set[str]:
    from provenance.align import arabic_variants

    out = set()
    for i in range(len(tokens) - k + 1):
        run = tokens[i:i + k]
        for first in (arabic_variants(run[0]) if _is_arabic(run[0]) else [run[0]]):
            out.add(_joined([first, *run[1:]]))
    return out


def named_publishers(window: str, publishers: list[Publisher]) -> list[Publisher]:
    """Publishers named in ``window`` (normalised text): by full name or alias in any script, or
    across scripts by the consonant skeleton of a distinctive word (الباييس ~ El País). Within one
    script only whole names count: a shared common word (a demonym) is not a name."""
    found = []
    tok_ar, tok_other = set(), set()
    for t in _WORD.findall(window):
        (tok_ar if _is_arabic(t) else tok_other).update(skeletons(t))
    tokens = _WORD.findall(window)
    runs: dict[tuple[bool, int], set[str]] = {}
    for pub in publishers:
        names, sk_ar, sk_other = publisher_name_keys(pub)
        if any(re.search(_name_pattern(n), window) for n in names) \
                or (sk_ar & tok_other) or (sk_other & tok_ar):
            found.append(pub)
            continue
        for arabic_name, keys in _joined_name_keys(tuple(pub.names())).items():
            script_tokens = [t for t in tokens if _is_arabic(t) != arabic_name]  # the other script
            hit = False
            for k, sk in keys:
                for kk in {k - 1, k, k + 1} - {0}:  # Le Monde ~ لوموند (one word)
                    key = (arabic_name, kk)
                    if key not in runs:
                        runs[key] = _window_runs(script_tokens, kk)
                    if sk in runs[key]:
                        hit = True
            if hit:
                found.append(pub)
                break
    return found


@lru_cache(maxsize=4096)
def _name_pattern(name: str) -> str:
    """A whole name in normalised text; Arabic names also after the clitics و ف ب ل ك
    (لوزاره الماء, وللجزيره)."""
    if not _is_arabic(name):
        return rf"(?<!\w){re.escape(name)}(?!\w)"
    alts = [re.escape(name)]
    if name.startswith("ال"):
        alts.append("ل" + re.escape(name[1:]))  # ل + ال → لل
    return rf"(?<!\w)[وفبلك]{{0,2}}(?:{'|'.join(alts)})(?!\w)"


def text_name_keys(texts: list[str]) -> set[str]:
    """Index keys of the words that may name a source in ``texts`` (normalised): ``t:<word>`` and
    ``s:<skeleton>``; :func:`publisher_index_keys` gives the keys to look a publisher up with."""
    keys = set()
    for text in texts:
        for tok in _WORD.findall(text):
            if len(tok) >= 3 and not tok.isdigit():
                keys.add("t:" + tok)
            if len(tok) >= 4:
                keys.update("s:" + s for s in skeletons(tok) if len(s) >= rules()["min_skeleton"])
        toks = _WORD.findall(text)
        for k in (2, 3, 4, 5):
            keys.update("j:" + sk for sk in _window_runs(toks, k) if len(sk) >= JOINED_MIN)
    return keys


def publisher_index_keys(pub: Publisher) -> set[str]:
    names, sk_ar, sk_other = publisher_name_keys(pub)
    keys = {"s:" + s for s in sk_ar | sk_other}
    for n in names:
        toks = [t for t in _WORD.findall(n) if len(t) >= 3 and t not in _GENERIC]
        if toks:
            keys.add("t:" + toks[0])
    for script_keys in _joined_name_keys(tuple(pub.names())).values():
        keys.update("j:" + sk for _k, sk in script_keys)
    return keys


# ---------------------------------------------------------------------------------------------
# evidence


@dataclass
class Evidence:
    target: Document
    type: str | None  # the relation the cue claims (None: a plain link, content decides)
    rule: str
    text: str
    start: int | None = None
    end: int | None = None
    url: str = ""
    direct: bool = False
    confidence: float = 0.8

    def as_dict(self) -> dict:
        return {"rule": self.rule, "type": self.type, "text": self.text[:500], "start": self.start, "end": self.end,
                "url": self.url, "direct": self.direct}


@dataclass
class CueResult:
    evidence: list[Evidence] = field(default_factory=list)
    unresolved: list[dict] = field(default_factory=list)
    name_windows: list[str] = field(default_factory=list)  # normalised texts where sources may be named
    named: list[tuple[Publisher, str, str, int | None, int | None]] = field(default_factory=list)
    translation_marker: str | None = None


def _applies(rule: dict, lang: str) -> bool:
    return rule.get("lang") in ("any", lang)


class CueFinder:
    """Cue evidence of one snapshot of a document (see module docstring)."""

    def __init__(self, doc: Document, snap: Snapshot, publishers: list[Publisher] | None = None, *,
                 semantic: bool = True):
        self.doc, self.snap = doc, snap
        self.text = snap.text
        self.lang = text_language(snap, doc)
        self.links = list((snap.extracted or {}).get("links", []))
        self.embeds = (snap.extracted or {}).get("embeds", [])
        self.out = CueResult()
        self.used_links: set[int] = set()
        self._pubs = publishers
        self._phrases: list[tuple[str, str, str, int, int]] = []
        self.semantic = semantic
        r = rules()
        self.window = max(r.get("named_window_words", 6), 15)

    # --- helpers
    @cached_property
    def body(self):
        return article_paragraphs(self.snap)

    @cached_property
    def sentences(self) -> list[tuple[int, int]]:
        return [(s.start, s.end) for s in segment(self.text, self.body, self.lang, keep_all=True)
                if s.kind in ("sentence", "boilerplate")]

    @cached_property
    def link_spans(self) -> list[tuple[int, int]]:
        return [(ln["start"], ln["end"]) for ln in self.links if ln.get("end", 0) > ln.get("start", 0)]

    @cached_property
    def speech_quotes(self) -> list[tuple[int, int, str]]:
        """Quotations of speech in the body, at their offsets in the snapshot text."""
        out = []
        for s, e in self.sentences:
            spans = [(a - s, b - s) for a, b in self.link_spans if s <= a < e]
            out += [(s + qs, s + qe, q) for qs, qe, q in speech_quotations(self.text[s:e], self.lang, spans)]
        return out

    def publishers(self) -> list[Publisher]:
        if self._pubs is None:
            qs = Publisher.objects.filter(documents__isnull=False).distinct()
            if self.doc.publisher_id:
                qs = qs.exclude(pk=self.doc.publisher_id)
            self._pubs = list(qs)
        return self._pubs

    def add(self, target: Document | None, typ: str | None, rule: str, text: str, start=None, end=None, url="",
            direct=False, confidence=0.8) -> None:
        if target is None or target.pk == self.doc.pk:
            return
        self.out.evidence.append(Evidence(target, typ, rule, text, start, end, url, direct, confidence))

    def resolve(self, url: str, where: str) -> Document | None:
        doc = resolve_url(url)
        if doc is None:
            self.out.unresolved.append({"url": url, "where": where})
        return doc

    def links_in(self, start: int, end: int) -> list[tuple[int, dict]]:
        return [(i, ln) for i, ln in enumerate(self.links) if start <= ln["start"] and ln["end"] <= end
                and ln["end"] > ln["start"] and not same_site(ln["url"], self.doc.url)]

    def name(self, window: str, typ: str, rule: str, text: str, start=None, end=None) -> None:
        """Record the publishers named in ``window`` (normalised) as named sources."""
        self.out.name_windows.append(window)
        for pub in named_publishers(window, self.publishers()):
            self.out.named.append((pub, typ, rule, text, start, end))

    # --- steps
    def run(self) -> CueResult:
        body_norm = " ".join(_norm(self.text[p.start:p.end]) for p in self.body)
        self.out.translation_marker = translation_marker(body_norm, self.lang)
        self.embeds_()
        self.credit_lines()
        self.dateline_byline_headline()
        self.linked_sentences()
        self.named_sources()
        return self.out

    def embeds_(self) -> None:
        embed_urls = set()
        for e in self.embeds:
            if e.get("kind") in POST_EMBEDS:
                embed_urls.add(e["url"])
                self.add(self.resolve(e["url"], "embed"), Relation.Type.QUOTES, f"embed-{e['kind']}",
                         e.get("text", "")[:500], url=e["url"], direct=True, confidence=0.95)
        # other embedded posts (a platform the extractor does not know): a blockquote among the body
        # paragraphs that links another site, its text the post's
        body = self.body
        all_p = (self.snap.extracted or {}).get("paragraphs", [])
        if body and all_p:
            lo, hi = body[0].start, body[-1].end
            for s, e, tag, *_r in all_p:
                if tag != "blockquote" or not (lo <= s <= hi):
                    continue
                for _i, ln in self.links_in(s, e):
                    if ln["url"] in embed_urls:
                        continue
                    embed_urls.add(ln["url"])
                    self.add(self.resolve(ln["url"], "embed"), Relation.Type.QUOTES, "embed-blockquote",
                             self.text[s:e][:500], url=ln["url"], direct=True, confidence=0.9)
        for i, ln in enumerate(self.links):
            if ln["url"] in embed_urls:
                self.used_links.add(i)

    def _credit_paragraphs(self):
        paras = list(self.body)
        all_p = (self.snap.extracted or {}).get("paragraphs", [])
        if paras and all_p:  # credit lines may sit right after the body (or right before it)
            starts = [i for i, p in enumerate(all_p) if p[0] == paras[-1].start]
            last = starts[-1] if starts else len(all_p) - 1
            paras += [type(paras[0])(s, e, t) for s, e, t, *_ in all_p[last + 1:last + 4]]
        return paras

    def credit_lines(self) -> None:
        r = rules()
        old = [(rule, re.compile(rule["pattern"])) for rule in r["source_lines"] if _applies(rule, self.lang)]
        new = _compiled(self.lang, "credit")
        for p in self._credit_paragraphs():
            line = self.text[p.start:p.end]
            norm = _norm(line)
            if len(norm) > 400:
                continue
            hit = None
            for c, rx in new:
                m = rx.search(norm)
                if m:
                    hit = (c["id"], c["relation"], m)
                    break
            if hit is None:
                for rule, rx in old:
                    m = rx.search(norm)
                    if m:
                        hit = (rule["id"], rule["relation"], m)
                        break
            if hit is None:
                continue
            rid, typ, m = hit
            if self.out.translation_marker and typ == Relation.Type.DERIVED_FROM:
                typ = Relation.Type.TRANSLATION_OF
            links = self.links_in(p.start, p.end)
            for i, ln in links:
                self.used_links.add(i)
                self.add(self.resolve(ln["url"], rid), typ, "credit:" + rid, line, p.start, p.end, ln["url"],
                         direct=True, confidence=0.9)
            if not links:
                src = m.groupdict().get("source") or norm
                self.name(src, typ, "credit:" + rid, line, p.start, p.end)

    def dateline_byline_headline(self) -> None:
        rx = [(d, re.compile(d["pattern"])) for d in cue_rules()["datelines"] if _applies(d, self.lang)]
        first = [p for p in self.body[:3] if not str(p.tag).startswith("h")][:1]
        for p in first:  # the opening paragraph (headings skipped)
            nt = normalize(self.text[p.start:min(p.end, p.start + 200)])
            for d, pat in rx:
                m = pat.search(nt.text)
                if m:
                    line = self.text[p.start:p.end][:200]
                    end = p.start + nt.original_span(0, m.end())[1]
                    links = self.links_in(p.start, end)
                    for i, ln in links:  # the agency's name linked in the dateline
                        self.used_links.add(i)
                        self.add(self.resolve(ln["url"], d["id"]), Relation.Type.DERIVED_FROM, d["id"], line,
                                 p.start, p.end, ln["url"], direct=True, confidence=0.8)
                    if not links:
                        self.name(m.group("source"), Relation.Type.DERIVED_FROM, d["id"], line, p.start, p.end)
                    break
        byline = _norm(self.snap.byline or self.doc.byline or "")
        if byline:
            self.name(byline, Relation.Type.DERIVED_FROM, "byline", self.snap.byline or self.doc.byline)
        title = _norm(self.snap.title or "")
        m = re.search(cue_rules()["headline_source"]["pattern"], title)
        if m:
            self.name(m.group("source"), Relation.Type.ATTRIBUTES_TO, "headline", self.snap.title)

    def _sentence_of(self, pos: int) -> tuple[int, int] | None:
        return next(((s, e) for s, e in self.sentences if s <= pos < e), None)

    def linked_sentences(self) -> None:
        body = [(p.start, p.end) for p in self.body]
        nouns = outlet_nouns(self.lang)
        noun_rx = re.compile(r"(?<!\w)[وفبل]?(ال)?(" + "|".join(map(re.escape, nouns)) + r")(?!\w)") if nouns else None
        for i, ln in enumerate(self.links):
            if i in self.used_links or ln["end"] <= ln["start"] or same_site(ln["url"], self.doc.url):
                continue
            if not any(s <= ln["start"] < e for s, e in body):
                continue
            span = self._sentence_of(ln["start"])
            if span is None:
                continue
            s, e = span
            sentence = self.text[s:e]
            norm = _norm(_blank(sentence, [(a - s, b - s) for a, b, _q in self.speech_quotes if s <= a < e]))
            near = _norm(self.text[max(s, ln["start"] - 120):min(e, ln["end"] + 80)])
            cues = find_cues(norm, self.lang)
            quoted = any(s <= a < e for a, _b, _q in self.speech_quotes)
            if quoted and cues:
                typ, rule = Relation.Type.QUOTES, "link:quotation"
            elif cues:
                typ, rule = Relation.Type.CITES, "link:" + cues[0][2]
            elif noun_rx is not None and noun_rx.search(near):
                typ, rule = Relation.Type.CITES, "link:outlet"
            else:
                typ, rule = None, "link:plain"
            self.used_links.add(i)
            self.add(self.resolve(ln["url"], rule), typ, rule, sentence, s, e, ln["url"], direct=True,
                     confidence=0.85 if typ else 0.4)

    def named_sources(self) -> None:
        n = self.window
        for s, e in self.sentences:
            sentence = self.text[s:e]
            blanked = _blank(sentence, [(a - s, b - s) for a, b, _q in self.speech_quotes if s <= a < e])
            nt = normalize(blanked)
            norm = nt.text
            cues = find_cues(norm, self.lang)
            if not cues:
                continue
            words = list(re.finditer(r"\S+", norm))
            for cs, ce, cid in cues:
                idx = next((k for k, w in enumerate(words) if w.end() > cs), len(words))
                window = " ".join(w.group() for w in words[max(0, idx - 6):idx + n + 1])
                self.name(window, Relation.Type.ATTRIBUTES_TO, "named:" + cid, sentence, s, e)
                after = [w for w in words if w.start() >= ce][:SEMANTIC_WORDS]
                if len(after) >= 2:  # embedded as written (normalisation, ة→ه, hurts embeddings)
                    a, b = nt.original_span(after[0].start(), after[-1].end())
                    self._phrases.append((blanked[a:b], cid, sentence, s, e))
        self.semantic_names()

    def semantic_names(self) -> None:
        """Sources named by a translation of their name, not a transliteration ("وزارة الماء" for
        "Ministère de l'Eau"): the words after each cue are compared with publishers' names by
        multilingual embedding (cosine ≥ SEMANTIC_COSINE, within SEMANTIC_MARGIN of the best).
        Names look alike (every ministry is a ministry), so such a match is only a candidate: the
        decision requires the two texts to be related (``decide``)."""
        from provenance.detect.evidence import embedder

        emb = embedder() if self.semantic else None
        if emb is None or not self._phrases:
            return
        pubs = [p for p in self.publishers() if p.pk not in {q.pk for q, *_r in self.out.named}]
        names = [(p, n) for p in pubs for n in p.names() if len(n) >= 3]
        if not names:
            return
        import numpy as np

        phrase_vecs = emb.embed([_prefixes(ph) for ph, *_r in self._phrases])
        name_vecs = emb.embed([n for _p, n in names])
        sims = np.asarray(phrase_vecs) @ np.asarray(name_vecs).T
        for k, (_phrase, cid, sentence, s, e) in enumerate(self._phrases):
            best = float(sims[k].max())
            if best < SEMANTIC_COSINE:
                continue
            chosen = {names[j][0].pk: names[j][0] for j in range(len(names)) if sims[k, j] >= best - SEMANTIC_MARGIN}
            for pub in chosen.values():
                self.out.named.append((pub, Relation.Type.ATTRIBUTES_TO, "named-semantic:" + cid, sentence, s, e))
