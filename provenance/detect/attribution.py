"""Attribution detection: find how a document names its sources, and propose Relations.

Rules are data (``rules/attribution.json``); this module applies them to the latest snapshot of
a document. Evidence kinds, each recorded with the rule that fired and the text/offsets:

1. **embeds** — an embedded post (tweet, Instagram, TikTok) → ``quotes`` the post.
2. **source lines** — a body paragraph matching a ``source_lines`` rule ("(المصدر: … – ترجمة
   وتحرير …)", "Fuente: …", "Translated from …"): the links inside it → the rule's relation; a
   ``translation_markers`` phrase anywhere in the body ("بحسب ما ترجمته") turns a plain source
   line into ``translation_of``. Unlinked, the named source is looked up among known publishers.
3. **links in sentences** — an outbound link (another site) in a body sentence: ``quotes`` when the
   sentence holds a quotation, the ``inline`` rule's relation when one precedes the link
   ("según", "selon", "according to", "نقلا عن", "via"), ``cites`` when the sentence holds a
   reporting verb or document noun; other links are not evidence.
4. **named sources** — a sentence with a reporting verb or inline rule that names a known
   publisher (by name or alias, or across scripts by consonant skeleton for distinctive names)
   without linking it → ``attributes_to`` a document of that publisher published earlier.
5. **verbatim quotations** — a quotation (≥ ``verbatim_quote_min_words`` words) found verbatim,
   after normalisation, in another captured document of the same language published earlier →
   ``quotes``.
6. **byline credits** — the byline names an agency whose earlier report the text repeats →
   ``republishes`` (most sentences) or ``derived_from``.
7. **through a translation** — when the document translates (or republishes) U and U quotes or
   cites X, the document's own relation to X is mediated: unless it links or embeds X itself, it
   is ``attributes_to`` X. A sentence aligned (provenance.align) with U's sentence that links X
   and still naming a source (reporting verb) is evidence even when the name is translated.

Per target one relation is proposed, its type chosen by ``precedence``; links and embeds in the
document itself (direct evidence) outrank named and verbatim evidence.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from functools import cached_property

from django.db import transaction

from archive.models import Snapshot
from archive.uri import iri_to_uri, surt_key
from provenance.documents import resolve_url, rules, same_site, text_language
from provenance.models import Document, Publisher, Relation, ReviewStatus
from provenance.text.claims import _find_verb, article_paragraphs, quotations
from provenance.text.segment import segment
from provenance.text.textnorm import normalize

log = logging.getLogger(__name__)

DETECTOR = "naql-attribution"
DETECTOR_VERSION = "1.0"
POST_EMBEDS = frozenset({"tweet", "instagram", "tiktok"})
_WORD = re.compile(r"[^\W_]+")


@dataclass
class Evidence:
    target: Document
    type: str
    rule: str
    text: str
    start: int | None = None
    end: int | None = None
    url: str = ""
    direct: bool = False
    confidence: float = 0.8

    def as_dict(self) -> dict:
        return {"rule": self.rule, "type": self.type, "text": self.text, "start": self.start, "end": self.end,
                "url": self.url, "direct": self.direct}


@dataclass
class Detection:
    document: Document
    snapshot: Snapshot | None
    evidence: list[Evidence] = field(default_factory=list)
    unresolved: list[dict] = field(default_factory=list)

    def best(self) -> dict[int, tuple[str, list[Evidence]]]:
        """Per target document id: (relation type, its evidence), by the rules' precedence."""
        order = {t: i for i, t in enumerate(rules()["precedence"])}
        inherited = {e.target.pk for e in self.evidence if e.rule == "through-translation"}
        out: dict[int, tuple[str, list[Evidence]]] = {}
        for tid in {e.target.pk for e in self.evidence}:
            evs = [e for e in self.evidence if e.target.pk == tid]
            direct = [e for e in evs if e.direct]
            if direct:
                typ = min((e.type for e in direct), key=order.get)
            elif tid in inherited:
                typ = Relation.Type.ATTRIBUTES_TO
            else:
                typ = min((e.type for e in evs), key=order.get)
            evs.sort(key=lambda e: (e.type != typ, not e.direct, -e.confidence))
            out[tid] = (typ, evs)
        return out


def _applies(rule: dict, lang: str) -> bool:
    return rule.get("lang") in ("any", lang)


def _norm(s: str) -> str:
    return normalize(s).text


# ---------------------------------------------------------------------------------------------
# names


def _skeleton(token: str) -> tuple[str, ...]:
    from provenance.align import arabic_skeleton, arabic_variants, latin_skeleton

    if _is_arabic(token):
        return tuple(arabic_skeleton(v) for v in arabic_variants(token))
    return (latin_skeleton(token),)


def _is_arabic(token: str) -> bool:
    return bool(re.search(r"[\u0600-\u06ff]", token))


def _publisher_keys(pub: Publisher) -> tuple[list[str], dict[bool, set[str]]]:
    """Normalised full names, and the skeletons of its distinctive words by script (Arabic or not)."""
    names = [_norm(n).lstrip("@") for n in pub.names()]
    min_sk = rules()["min_skeleton"]
    skels: dict[bool, set[str]] = {True: set(), False: set()}
    for n in names:
        for tok in _WORD.findall(n):
            if len(tok) >= 4 and not tok.isdigit():
                skels[_is_arabic(tok)].update(s for s in _skeleton(tok) if len(s) >= min_sk)
    return [n for n in names if len(n) >= 3], skels


def named_publishers(window: str, publishers: list[Publisher]) -> list[Publisher]:
    """Publishers named in ``window`` (normalised text): by full name or alias in any script, or
    across scripts by the consonant skeleton of a distinctive word (غانتس ~ Gantz). Within one
    script only whole names count: a shared common word (a demonym) is not a name."""
    found = []
    tok_skels: dict[bool, set[str]] = {True: set(), False: set()}
    for t in _WORD.findall(window):
        tok_skels[_is_arabic(t)].update(_skeleton(t))
    for pub in publishers:
        names, skels = _publisher_keys(pub)
        if any(re.search(rf"(?<!\w){re.escape(n)}(?!\w)", window) for n in names) \
                or (skels[True] & tok_skels[False]) or (skels[False] & tok_skels[True]):
            found.append(pub)
    return found


def _blank_quotes(text: str) -> str:
    for s, e, _q in reversed(quotations(text)):
        text = text[:s] + " " * (e - s) + text[e:]
    return text


def _window(norm: str, pos: int, n_words: int) -> str:
    words = list(re.finditer(r"\S+", norm))
    idx = next((i for i, w in enumerate(words) if w.end() > pos), len(words))
    lo, hi = max(0, idx - n_words), min(len(words), idx + n_words + 1)
    return " ".join(w.group() for w in words[lo:hi])


def _quoted_in(norm_quote: str, norm_text: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(norm_quote)}(?!\w)", norm_text) is not None


def _earlier(target: Document, doc: Document) -> bool:
    if target.published_at and doc.published_at:
        return target.published_at <= doc.published_at
    return True


def _pick_document(pub: Publisher, doc: Document) -> Document | None:
    cands = [d for d in pub.documents.exclude(pk=doc.pk) if _earlier(d, doc)]
    if not cands:
        return None
    dated = [d for d in cands if d.published_at]
    return max(dated, key=lambda d: d.published_at) if dated else cands[0]


# ---------------------------------------------------------------------------------------------
# detection


class _Detector:
    def __init__(self, doc: Document, snap: Snapshot, *, follow: bool = True):
        self.doc, self.snap, self.follow = doc, snap, follow
        self.text = snap.text
        self.lang = text_language(snap, doc)
        self.r = rules()
        self.links = [ln for ln in (snap.extracted or {}).get("links", [])]
        self.embeds = (snap.extracted or {}).get("embeds", [])
        self.result = Detection(doc, snap)
        self.used_links: set[int] = set()

    @cached_property
    def body(self):
        return article_paragraphs(self.snap)

    @cached_property
    def sentences(self) -> list[tuple[int, int]]:
        return [(s.start, s.end) for s in segment(self.text, self.body, self.lang, keep_all=True)
                if s.kind in ("sentence", "boilerplate")]

    def add(self, target: Document | None, typ: str, rule: str, text: str, start=None, end=None, url="",
            direct=False, confidence=0.8) -> None:
        if target is None or target.pk == self.doc.pk:
            return
        if Relation.objects.live().filter(source=target, target=self.doc).exists():
            return  # the target is downstream of this document: never a cycle of sources
        self.result.evidence.append(Evidence(target, typ, rule, text, start, end, url, direct, confidence))

    def resolve(self, url: str, where: str) -> Document | None:
        doc = resolve_url(url)
        if doc is None:
            self.result.unresolved.append({"url": url, "where": where})
        return doc

    def _links_in(self, start: int, end: int) -> list[tuple[int, dict]]:
        return [(i, ln) for i, ln in enumerate(self.links) if start <= ln["start"] and ln["end"] <= end
                and ln["end"] > ln["start"]]

    def run(self) -> Detection:
        self.embeds_()
        self.source_lines()
        self.linked_sentences()
        self.named_sources()
        self.verbatim_quotes()
        self.byline_credits()
        if self.follow:
            self.through_translation()
        return self.result

    # 1
    def embeds_(self) -> None:
        embed_urls = set()
        for e in self.embeds:
            if e.get("kind") in POST_EMBEDS:
                embed_urls.add(e["url"])
                self.add(self.resolve(e["url"], "embed"), Relation.Type.QUOTES, f"embed-{e['kind']}",
                         e.get("text", "")[:500], url=e["url"], direct=True, confidence=0.95)
        for i, ln in enumerate(self.links):
            if ln["url"] in embed_urls:
                self.used_links.add(i)

    # 2
    def source_lines(self) -> None:
        paras = list(self.body)
        if paras:  # credit lines may sit right after the body
            all_p = (self.snap.extracted or {}).get("paragraphs", [])
            last = max(i for i, p in enumerate(all_p) if p[0] == paras[-1].start) if all_p else 0
            paras += [type(paras[0])(s, e, t) for s, e, t, *_ in all_p[last + 1:last + 4]]
        marker = any(re.search(m["pattern"], _norm(self.text[p.start:p.end]))
                     for p in self.body for m in self.r["translation_markers"] if _applies(m, self.lang))
        for p in paras:
            norm = _norm(self.text[p.start:p.end])
            for rule in self.r["source_lines"]:
                if not _applies(rule, self.lang):
                    continue
                m = re.search(rule["pattern"], norm)
                if not m:
                    continue
                typ = rule["relation"]
                if marker and typ == Relation.Type.DERIVED_FROM:
                    typ = Relation.Type.TRANSLATION_OF
                line = self.text[p.start:p.end]
                links = [(i, ln) for i, ln in self._links_in(p.start, p.end) if not same_site(ln["url"], self.doc.url)]
                for i, ln in links:
                    self.used_links.add(i)
                    self.add(self.resolve(ln["url"], rule["id"]), typ, rule["id"], line, p.start, p.end,
                             ln["url"], direct=True, confidence=0.95)
                if not links and m.groupdict().get("source"):
                    utyp = rule["unlinked"] if not marker or rule["unlinked"] != "attributes_to" else typ
                    for pub in named_publishers(m.group("source"), self._publishers()):
                        self.add(_pick_document(pub, self.doc), utyp, rule["id"] + ":named", line, p.start, p.end,
                                 confidence=0.6)
                break

    # 3
    def _sentence_of(self, pos: int) -> tuple[int, int] | None:
        return next(((s, e) for s, e in self.sentences if s <= pos < e), None)

    def linked_sentences(self) -> None:
        body = [(p.start, p.end) for p in self.body]
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
            norm_before = _norm(self.text[s:ln["start"]])
            inline = next((r for r in self.r["inline"] if _applies(r, self.lang)
                           and re.search(r["pattern"] + r"\W*(\S+\W*){0,3}$", norm_before)), None)
            if quotations(sentence):
                typ, rule = Relation.Type.QUOTES, "linked-quotation"
            elif inline:
                typ, rule = inline["relation"], inline["id"]
            elif _find_verb(_norm(sentence), self.lang):
                typ, rule = Relation.Type.CITES, "reporting-link"
            else:
                continue
            self.add(self.resolve(ln["url"], rule), typ, rule, sentence, s, e, ln["url"], direct=True, confidence=0.85)

    # 4
    def _publishers(self) -> list[Publisher]:
        if not hasattr(self, "_pubs"):
            qs = Publisher.objects.exclude(pk=self.doc.publisher_id) if self.doc.publisher_id else Publisher.objects
            self._pubs = list(qs.filter(documents__isnull=False).distinct())
        return self._pubs

    def named_sources(self) -> None:
        n_words = self.r["named_window_words"]
        verbs = sorted({_norm(v) for v in self.r["reporting_verbs"].get(self.lang, [])}, key=len, reverse=True)
        verb_re = re.compile(r"(?<!\w)(" + "|".join(re.escape(v) for v in verbs) + r")(?!\w)") if verbs else None
        for s, e in self.sentences:
            sentence = self.text[s:e]
            norm = _norm(_blank_quotes(sentence))
            cues = [m.start() for m in verb_re.finditer(norm)] if verb_re else []
            for rule in self.r["inline"]:
                if _applies(rule, self.lang):
                    cues += [m.start() for m in re.finditer(rule["pattern"], norm)]
            if not cues:
                continue
            linked = {id(ln) for _i, ln in self._links_in(s, e)}
            for pos in cues:
                window = _window(norm, pos, n_words)
                for pub in named_publishers(window, self._publishers()):
                    target = _pick_document(pub, self.doc)
                    if target is None or linked and any(resolve_url(ln["url"]) == target for _i, ln in self._links_in(s, e)):
                        continue
                    self.add(target, Relation.Type.ATTRIBUTES_TO, "named-source", sentence, s, e, confidence=0.6)

    # 5
    @cached_property
    def quotes(self) -> list[tuple[int, int, str, str]]:
        """(start, end, text, normalised text) of the body's quotations long enough to match verbatim."""
        min_words = self.r["verbatim_quote_min_words"]
        quotes = []
        for s, e in self.sentences:
            for qs, qe, q in quotations(self.text[s:e]):
                nq = _norm(q).strip(" .,،")
                if len(_WORD.findall(nq)) >= min_words:
                    quotes.append((s + qs, s + qe, q, nq))
        return quotes

    def verbatim_quotes(self) -> None:
        quotes = self.quotes
        if not quotes:
            return
        others = Document.objects.exclude(pk=self.doc.pk).filter(language=self.doc.language)
        if self.doc.publisher_id:
            others = others.exclude(publisher=self.doc.publisher)
        for other in others:
            if not _earlier(other, self.doc):
                continue
            snap = other.latest_snapshot()
            if snap is None:
                continue
            hay = _norm(snap.text)
            for qs, qe, q, nq in quotes:
                if _quoted_in(nq, hay):
                    self.add(other, Relation.Type.QUOTES, "verbatim-quote", q, qs, qe, confidence=0.7)

    # 6
    def byline_credits(self) -> None:
        byline = _norm(self.snap.byline or self.doc.byline or "")
        if not byline:
            return
        names = set()
        for rule in self.r["byline_credits"]:
            if _applies(rule, self.lang):
                names.update(m.group("source").strip() for m in re.finditer(rule["pattern"], byline))
        if not names:
            return
        mine = {_norm(self.text[s:e]) for s, e in self.sentences if len(_WORD.findall(self.text[s:e])) >= 6}
        if not mine:
            return
        for pub in named_publishers(" ".join(names), self._publishers()):
            for other in pub.documents.exclude(pk=self.doc.pk):
                snap = other.latest_snapshot()
                if snap is None or not _earlier(other, self.doc):
                    continue
                hay = _norm(snap.text)
                shared = sum(1 for m in mine if m in hay)
                if not shared:
                    continue
                share = shared / len(mine)
                typ = Relation.Type.REPUBLISHES if share >= self.r["byline_republish_share"] else Relation.Type.DERIVED_FROM
                self.add(other, typ, "byline-credit", self.snap.byline, confidence=0.5 + share / 2)

    # 7
    def through_translation(self) -> None:
        ups = {e.target.pk: e.target for e in self.result.evidence
               if e.type in (Relation.Type.TRANSLATION_OF, Relation.Type.REPUBLISHES)}
        for up in ups.values():
            up_snap = up.latest_snapshot()
            if up_snap is None:
                continue
            up_det = _Detector(up, up_snap, follow=False).run()
            targets = [(e.target, e) for e in up_det.evidence if e.direct
                       and e.type in (Relation.Type.QUOTES, Relation.Type.CITES, Relation.Type.DERIVED_FROM)]
            if not targets:
                continue
            pairs, downs, ups_ = self._alignment(up_snap, up)
            for target, ev in targets:
                if target.pk == self.doc.pk:
                    continue
                up_spans = self._evidence_spans(up_snap, ev)
                hit = {j for j, (us, ue) in enumerate(ups_) if any(us < b and a < ue for a, b in up_spans)}
                for i in _counterparts(pairs, hit, max_gap=MAX_GAP):
                    ds, de = downs[i]
                    sentence = self.text[ds:de]
                    if _find_verb(_norm(_blank_quotes(sentence)), self.lang):
                        self.add(target, Relation.Type.ATTRIBUTES_TO, "through-translation", sentence, ds, de,
                                 url=ev.url, confidence=0.6)
                # the mark that this target came through the translation (decides the type)
                if any(e.target.pk == target.pk for e in self.result.evidence):
                    self.add(target, Relation.Type.ATTRIBUTES_TO, "through-translation",
                             f"{up.url} {ev.type} {target.url}", url=ev.url, confidence=0.5)

    def _evidence_spans(self, up_snap: Snapshot, ev: Evidence) -> list[tuple[int, int]]:
        if ev.start is not None:
            return [(ev.start, ev.end)]
        # an embedded post: the paragraph just before it introduces it
        etext = _norm(ev.text)
        all_p = (up_snap.extracted or {}).get("paragraphs", [])
        for k, (s, e, *_r) in enumerate(all_p):
            ptext = _norm(up_snap.text[s:e])
            if k and len(ptext) >= 20 and ptext in etext:
                return [(all_p[k - 1][0], all_p[k - 1][1])]
        return []

    def _alignment(self, up_snap: Snapshot, up: Document):
        """Aligned (down index, up index) pairs of this document's sentences and ``up_snap``'s."""
        from provenance.align import Sentence, suggest

        up_lang = text_language(up_snap, up)
        up_segs = segment(up_snap.text, article_paragraphs(up_snap), up_lang)
        downs = [Sentence(self.text[s:e], self.lang, start=s, end=e, doc="d") for s, e in self.sentences]
        ups = [Sentence(g.text, up_lang, start=g.start, end=g.end, doc="u") for g in up_segs]
        try:
            pairs = [(x.down_index, x.up_index) for x in suggest(downs, ups)]
        except Exception:  # noqa: BLE001 - alignment is optional evidence, never fatal to detection
            log.exception("alignment failed for %s", self.doc.url)
            pairs = []
        return pairs, [(d.start, d.end) for d in downs], [(u.start, u.end) for u in ups]


MAX_GAP = 3


def _counterparts(pairs: list[tuple[int, int]], ups: set[int], *, max_gap: int) -> list[int]:
    """Downstream sentences aligned with any of ``ups``; when none is, the ones lying between the
    aligned neighbours of ``ups`` (translations keep order), if that gap is small."""
    if not ups:
        return []
    direct = sorted({d for d, u in pairs if u in ups})
    if direct:
        return direct
    lo, hi = min(ups), max(ups)
    before = [d for d, u in pairs if u < lo]
    after = [d for d, u in pairs if u > hi]
    if not before or not after:
        return []
    d_prev, d_next = max(before), min(after)
    if d_next - d_prev - 1 < 1 or d_next - d_prev - 1 > max_gap:
        return []
    return list(range(d_prev + 1, d_next))


def _link_keys(document: Document) -> set[str]:
    """SURT keys a link to ``document`` can carry: its URLs, and archived URLs redirecting to them."""
    keys = set(document.url_keys())
    return keys | set(Snapshot.objects.filter(final__surt__in=keys).values_list("surt", flat=True))


def _could_use(det: _Detector, document: Document, keys: set[str], hay: str) -> bool:
    """Could ``det``'s detection find evidence pointing at ``document`` (``keys``: its link keys,
    ``hay``: its normalised latest text)? A superset of each detection step's own test: a link or
    embed to one of its URLs (steps 1–3), its publisher named anywhere in the text or the byline
    (steps 2, 4, 6), one of the body's quotations in its text (step 5)."""
    other = det.doc
    urls = [ln.get("url", "") for ln in det.links] + [e.get("url", "") for e in det.embeds]
    if any(u and surt_key(iri_to_uri(u)) in keys for u in urls):
        return True
    pub = document.publisher
    if pub is not None and pub.pk != other.publisher_id:
        named = _norm(det.text) + " " + _norm(det.snap.byline or other.byline or "")
        if named_publishers(named, [pub]):
            return True
    if (hay and other.language == document.language
            and (not document.publisher_id or document.publisher_id != other.publisher_id)
            and _earlier(document, other)):
        return any(_quoted_in(nq, hay) for *_span, nq in det.quotes)
    return False


def affected_by(document: Document) -> list[Document]:
    """Other documents whose detected relations may change now that ``document`` was captured
    (a new document, or a new version): those whose latest snapshot links to or embeds one of its
    URLs, names its publisher, or quotes its text (see ``_could_use``); those that already have a
    relation to it (their evidence may be gone); and, one step further, those translating or
    republishing any of these (step 7 reads the upstream's own evidence). Most recently updated
    first."""
    keys = _link_keys(document)
    snap = document.latest_snapshot()
    hay = _norm(snap.text) if snap is not None else ""
    direct: list[Document] = []
    for other in Document.objects.exclude(pk=document.pk).order_by("-updated_at", "pk"):
        other_snap = other.latest_snapshot()
        if other_snap is not None and _could_use(_Detector(other, other_snap), document, keys, hay):
            direct.append(other)
    reached = {d.pk for d in direct} | {document.pk}
    ids = set(Relation.objects.filter(target_id__in=reached).values_list("source_id", flat=True))
    ids |= {d.pk for d in direct}
    ids.discard(document.pk)
    return list(Document.objects.filter(pk__in=ids).order_by("-updated_at", "pk"))


def detect(document: Document, snapshot: Snapshot | None = None) -> Detection:
    """Evidence of the document's sources on ``snapshot`` (default: its latest); writes nothing."""
    snapshot = snapshot or document.latest_snapshot()
    if snapshot is None:
        return Detection(document, None)
    return _Detector(document, snapshot).run()


def detect_relations(document: Document, *, user=None) -> list[Relation]:
    """Run detection and store the result as suggested Relations (recorded by the detector).

    Idempotent: a relation already accepted, rejected or entered by hand is left as it is; a
    suggestion of this detector that the evidence no longer supports is withdrawn (deleted; the
    history keeps it); one whose type or evidence changed is updated; an unchanged one is saved
    again (a history row) only when a ``user`` ran the detection.
    """
    det = detect(document)
    best = det.best()
    out = []
    with transaction.atomic():
        existing = {(r.target_id, r.type): r for r in Relation.objects.filter(source=document)}
        kept: set[int] = set()
        for tid, (typ, evs) in best.items():
            if any(k[0] == tid and (not r.detector or r.status != ReviewStatus.SUGGESTED)
                   for k, r in existing.items()):
                kept.update(r.pk for k, r in existing.items() if k[0] == tid)
                continue
            ev = evs[0]
            rel = existing.get((tid, typ)) or next((r for k, r in existing.items() if k[0] == tid), None) \
                or Relation(source=document, target=ev.target)
            values = {
                "type": typ, "evidence_snapshot_id": det.snapshot.pk if det.snapshot else None,
                "evidence_text": ev.text[:2000], "evidence_url": ev.url,
                "evidence_start": ev.start, "evidence_end": ev.end, "evidence": [e.as_dict() for e in evs],
                "detector": DETECTOR, "detector_version": DETECTOR_VERSION, "rule": ev.rule,
                "confidence": max(e.confidence for e in evs if e.type == typ or not e.direct),
            }
            # An automatic re-run saves only a real change (history stays meaningful after every
            # capture); a person's run also records that they confirmed the unchanged suggestion.
            if rel.pk is None or user is not None or any(getattr(rel, k) != v for k, v in values.items()):
                for k, v in values.items():
                    setattr(rel, k, v)
                if user is not None:
                    rel._history_user = user
                rel.save()
            kept.add(rel.pk)
            out.append(rel)
        for r in existing.values():
            if r.pk not in kept and r.detector == DETECTOR and r.status == ReviewStatus.SUGGESTED:
                if user is not None:
                    r._history_user = user
                r.delete()
    return out
