"""Claims: segment a snapshot's article text into claim candidates; kinds; speakers; merging.

The article body is the snapshot's article paragraphs (``extracted["article_paragraphs"]``)
plus a standfirst (prose paragraphs between the headline and the body), minus embedded posts
(paragraphs whose text belongs to an embed). Sentences come from :mod:`provenance.text.segment`,
which drops headings and boilerplate (read-also lines, source lines, follow-us, comment forms).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.db import transaction

from archive.models import Snapshot
from provenance.anchoring import context, reanchor_document
from provenance.documents import document_for_snapshot, rules
from provenance.models import Claim, Document
from provenance.text.segment import TERMINALS, is_boilerplate, quotations, segment
from provenance.text.textnorm import base_lang, normalize

_WORDS = re.compile(r"\w+")


@dataclass(frozen=True)
class Para:
    start: int
    end: int
    tag: str


def _paragraphs(snap: Snapshot) -> list[Para]:
    data = snap.extracted or {}
    return [Para(s, e, t) for s, e, t, *_rest in data.get("paragraphs", [])]


def _embed_texts(snap: Snapshot) -> list[str]:
    return [normalize(e.get("text", "")).text for e in (snap.extracted or {}).get("embeds", []) if e.get("text")]


def article_paragraphs(snap: Snapshot) -> list[Para]:
    """Paragraphs of the article body (see module docstring)."""
    paras = _paragraphs(snap)
    chosen = list((snap.extracted or {}).get("article_paragraphs") or [])
    if not chosen:
        chosen = [i for i, p in enumerate(paras) if p.tag == "p"]
    chosen_set = set(chosen)
    if chosen:
        first = min(chosen)
        heads = [i for i in range(first) if paras[i].tag == "h1"]
        if heads:  # standfirst: prose between the headline and the body
            for i in range(heads[-1] + 1, first):
                p = paras[i]
                t = snap.text[p.start:p.end]
                if p.tag == "p" and len(_WORDS.findall(t)) >= 8 and t.rstrip("”»\"') ")[-1:] in TERMINALS:
                    chosen_set.add(i)
    embeds = _embed_texts(snap)
    out = []
    for i in sorted(chosen_set):
        p = paras[i]
        t = normalize(snap.text[p.start:p.end]).text
        if p.tag == "blockquote" or (len(t) >= 20 and any(t in e for e in embeds)):
            continue
        out.append(p)
    return out


# ---------------------------------------------------------------------------------------------
# kinds and speakers


def reporting_verbs(lang: str | None) -> list[str]:
    return [normalize(v).text for v in rules()["reporting_verbs"].get(base_lang(lang), [])]


def _find_verb(norm: str, lang: str | None) -> re.Match | None:
    verbs = sorted(reporting_verbs(lang), key=len, reverse=True)
    if not verbs:
        return None
    return re.search(r"(?<!\w)(" + "|".join(re.escape(v) for v in verbs) + r")(?!\w)", norm)


def classify(text: str, lang: str | None) -> str:
    """fact, quote, attributed_statement or background (cues in rules/attribution.json)."""
    r = rules()
    norm = normalize(text).text
    for q in quotations(text):
        if len(_WORDS.findall(q[2])) >= r["quote_min_words"]:
            return Claim.Kind.QUOTE
    if any(re.search(p, norm) for p in r["background_cues"].get(base_lang(lang), [])):
        return Claim.Kind.BACKGROUND
    if _find_verb(norm, lang):
        return Claim.Kind.ATTRIBUTED
    return Claim.Kind.FACT


_STOP_AR = frozenset("في على الى إلى ان أن إن عن من مع ،".split())


def speaker(text: str, lang: str | None) -> str:
    """The name a reporting verb introduces, best effort ("" when none is named)."""
    quotes = quotations(text)
    outside = text
    for s, e, _q in reversed(quotes):
        outside = outside[:s] + " " * (e - s) + outside[e:]
    lg = base_lang(lang)
    words = list(re.finditer(r"[^\s،,.:;()«»“”\"]+", outside))
    verbs = set(reporting_verbs(lang))
    for k, m in enumerate(words):
        if normalize(m.group()).text not in verbs:
            continue
        name = []
        for w in words[k + 1:k + 4]:
            tok = w.group()
            if lg == "ar":
                if tok in _STOP_AR or normalize(tok).text in verbs:
                    break
            elif not tok[:1].isupper():
                break
            name.append(tok)
        if name:
            return " ".join(name)
        if lg != "ar":  # "Zohar Palti, ..., afirmó": the capitalised run opening the sentence
            lead = re.match(r"\s*((?:[A-ZÁÉÍÓÚÑÀÂÇÈÊÎÔÛ][\w'’-]+\s?){1,4})", outside)
            if lead:
                return lead.group(1).strip()
    return ""


# ---------------------------------------------------------------------------------------------
# creating claims


def _overlaps(a: tuple[int, int], spans: list[tuple[int, int]]) -> bool:
    return any(s < a[1] and a[0] < e for s, e in spans)


def new_claim(document: Document, snap: Snapshot, start: int, end: int, *, origin: str = "segmenter",
              kind: str | None = None) -> Claim:
    text = snap.text
    prefix, suffix = context(text, start, end)
    exact = text[start:end]
    lang = snap.language or document.language
    return Claim.objects.create(
        document=document, snapshot=snap, exact=exact, prefix=prefix, suffix=suffix, start=start, end=end,
        kind=kind or classify(exact, lang), language=lang, speaker=speaker(exact, lang)[:300], origin=origin,
    )


def segment_snapshot(snap: Snapshot, document: Document | None = None) -> list[Claim]:
    """Create claim candidates for the sentences of ``snap`` not yet covered by a claim anchored
    there (its own claims, or older claims re-anchored onto it). Returns the new claims."""
    document = document or document_for_snapshot(snap)
    if document is None:
        return []
    lang = snap.language or document.language
    covered = list(Claim.objects.filter(snapshot=snap).values_list("start", "end"))
    covered += [(s, e) for s, e in Claim.objects.filter(anchor_snapshot=snap, anchor_start__isnull=False)
                .values_list("anchor_start", "anchor_end")]
    out = []
    with transaction.atomic():
        for seg in segment(snap.text, article_paragraphs(snap), lang):
            if _overlaps((seg.start, seg.end), covered) or is_boilerplate(seg.text, lang):
                continue
            out.append(new_claim(document, snap, seg.start, seg.end))
    return out


def claims_after_capture(snap: Snapshot) -> dict:
    """After a page capture: re-anchor the document's claims on it, then add claims for new text."""
    document = document_for_snapshot(snap)
    if document is None:
        return {"document": None}
    snap = snap.final if snap.final_id else snap
    latest = document.latest_snapshot()
    if latest is not None and latest.pk != snap.pk:
        return {"document": document.pk, "skipped": "not the latest snapshot"}
    if _claims_already_on_same_text(document, snap):
        # an unchanged recapture: every claim already points into this very text, so moving the
        # anchors would only write history rows that say nothing, and segmenting again would
        # duplicate the claims (it counts as covered only spans anchored on *this* snapshot)
        return {"document": document.pk, "unchanged": True, "reanchored": {}, "new_claims": 0}
    moved = reanchor_document(document, snap)
    new = segment_snapshot(snap, document)
    states: dict[str, int] = {}
    for m in moved.values():
        states[m.state] = states.get(m.state, 0) + 1
    return {"document": document.pk, "reanchored": states, "new_claims": len(new)}


def _claims_already_on_same_text(document: Document, snap: Snapshot) -> bool:
    """True when ``document`` has claims and each live one is anchored on a snapshot whose text
    is exactly ``snap.text`` (offsets and selectors stay valid as they are). Two queries."""
    current = set()
    for snapshot_id, anchor_id in (Claim.objects.filter(document=document)
                                   .exclude(anchor_state=Claim.AnchorState.REMOVED)
                                   .values_list("snapshot_id", "anchor_snapshot_id")):
        current.add(anchor_id or snapshot_id)
    if not current or snap.pk in current and len(current) == 1:
        return bool(current)
    return not Snapshot.objects.filter(pk__in=current - {snap.pk}).exclude(text=snap.text).exists()


def find_span(snap: Snapshot, exact: str) -> tuple[int, int] | None:
    """Where ``exact`` occurs in the snapshot text: inside the article body if it occurs several times."""
    text = snap.text
    hits, pos = [], text.find(exact)
    while pos >= 0:
        hits.append(pos)
        pos = text.find(exact, pos + 1)
    if not hits:
        return None
    body = [(p.start, p.end) for p in article_paragraphs(snap)]
    inside = [h for h in hits if _overlaps((h, h + len(exact)), body)]
    start = (inside or hits)[0]
    return start, start + len(exact)


def merge_claims(claims: list[Claim], *, user=None) -> Claim:
    """Merge consecutive claims of one snapshot into the first (the others are deleted; history keeps them)."""
    claims = sorted(claims, key=lambda c: c.start)
    first = claims[0]
    snap = first.snapshot
    first.end = claims[-1].end
    first.exact = snap.text[first.start:first.end]
    first.prefix, first.suffix = context(snap.text, first.start, first.end)
    first.kind = classify(first.exact, first.language)
    first.speaker = speaker(first.exact, first.language)[:300] or first.speaker
    for c in claims[1:]:
        c.links.update(claim=first)
        c.downstream_links.update(upstream_claim=first)
        if user is not None:
            c._history_user = user
        c.delete()
    if user is not None:
        first._history_user = user
    first.save()
    return first


def claim_for_text(document: Document, exact: str, snap: Snapshot | None = None, *, origin: str = "manual",
                   user=None) -> Claim | None:
    """The claim whose text is ``exact`` on ``snap`` (default: the document's latest snapshot).

    Reuses an existing claim at that span; merges consecutive segmenter claims whose concatenation
    is ``exact``; else creates a claim at the first occurrence (in the article body if possible).
    """
    snap = snap or document.latest_snapshot()
    if snap is None:
        return None
    span = find_span(snap, exact)
    if span is None:
        return None
    start, end = span
    same = Claim.objects.filter(snapshot=snap, start=start, end=end).first()
    if same:
        return same
    inside = list(Claim.objects.filter(snapshot=snap, start__gte=start, end__lte=end).order_by("start"))
    if inside and inside[0].start == start and inside[-1].end == end:
        gaps_ok = all(snap.text[a.end:b.start].strip() == "" for a, b in zip(inside, inside[1:], strict=False))
        if gaps_ok:
            return merge_claims(inside, user=user)
    with transaction.atomic():
        claim = new_claim(document, snap, start, end, origin=origin)
    return claim
