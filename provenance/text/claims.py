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


def _norm_list(key: str, lang: str | None) -> list[str]:
    return [normalize(v).text for v in rules().get(key, {}).get(base_lang(lang), [])]


def _cues(lang: str | None) -> list[str]:
    """Reporting verbs and attribution cues ("según", "selon", "according to"), normalised."""
    return sorted(set(reporting_verbs(lang)) | set(_norm_list("attribution_cues", lang)), key=len, reverse=True)


def _find_verb(norm: str, lang: str | None) -> re.Match | None:
    verbs = _cues(lang)
    if not verbs:
        return None
    # Arabic writes "and"/"so" joined to the verb (وأعلنت, فقال): allow one such prefix.
    prefix = "[وف]?" if base_lang(lang) == "ar" else ""
    return re.search(r"(?<!\w)" + prefix + "(" + "|".join(re.escape(v) for v in verbs) + r")(?!\w)", norm)


def _quoted_share(text: str, quotes) -> float:
    words = len(_WORDS.findall(text)) or 1
    return sum(len(_WORDS.findall(q[2])) for q in quotes) / words


def classify(text: str, lang: str | None) -> str:
    """fact, quote, attributed_statement or background (cues in rules/attribution.json).

    * background: the sentence opens with a background cue ("يذكر أن", "desde que", "pour rappel"),
      whatever it quotes: a name in quotation marks in a reminder is not a quotation;
    * quote: it holds a quotation of at least ``quote_min_words`` words and either a reporting
      verb or cue, or the quotation is most of the sentence (opens it, or covers 60% of its
      words): quotation marks around a name, a slogan or a title in a plain sentence do not
      make the sentence a quote;
    * attributed statement: a reporting verb or cue ("según el ministerio") without a quotation;
    * otherwise a fact.
    """
    r = rules()
    norm = normalize(text).text
    # an Arabic opener may carry the conjunction و/ف joined to it ("ويشار إلى أن")
    clitic = "^[وف]?" if base_lang(lang) == "ar" else "^"
    cues = [normalize(p).text for p in r["background_cues"].get(base_lang(lang), [])]
    if any(re.search(clitic + p[1:] if p.startswith("^") else p, norm) for p in cues):
        return Claim.Kind.BACKGROUND
    verb = _find_verb(norm, lang)
    quotes = [q for q in quotations(text) if len(_WORDS.findall(q[2])) >= r["quote_min_words"]]
    if quotes and (verb or _quoted_share(text, quotes) >= 0.6 or text.lstrip()[:1] in "“«\"„"):
        return Claim.Kind.QUOTE
    if verb:
        return Claim.Kind.ATTRIBUTED
    return Claim.Kind.FACT


_BREAK = re.compile(r"[،,.:;()«»“”\"!?؟…]|\s[-–—]\s")
_TOKEN = re.compile(r"[^\s،,.:;()«»“”\"!?؟…]+")
_LATIN_UPPER = re.compile(r"^[A-ZÁÉÍÓÚÑÀÂÇÈÊÎÔÛÜÏËŒ]")


def _name_after(outside: str, pos: int, lang: str | None) -> str:
    """The run of words from ``pos`` that can be a person's or organisation's name ("" if none)."""
    lg = base_lang(lang)
    stop = set(_norm_list("speaker_stop", lang))
    heads = set(_norm_list("organisation_heads", lang))
    articles = set(_norm_list("speaker_articles", lang))
    rest = outside[pos:]
    nrest = normalize(rest)
    for phrase in sorted(_norm_list("speaker_skip", lang), key=len, reverse=True):
        m = re.match(re.escape(phrase) + r"(?=\s)", nrest.text)
        if m:
            rest = rest[nrest.original_span(m.start(), m.end())[1]:]
            break
    name: list[str] = []
    last = 0
    limit = 3
    for m in _TOKEN.finditer(rest):
        if name and _BREAK.search(rest[last:m.start()]):
            break
        if not name and _BREAK.search(rest[:m.start()]):
            break
        tok = m.group()
        low = normalize(tok).text
        if lg == "ar":
            if low in stop or low in set(reporting_verbs(lang)):
                break
            if not name and low in heads:
                limit = 7  # an organisation: "الهيئة المغربية لنصرة قضايا الأمة"
        else:
            if not name and low in articles:
                name.append(tok)
                last = m.end()
                continue
            if low in stop or not _LATIN_UPPER.match(tok):
                break
        name.append(tok)
        last = m.end()
        if len(name) >= limit + (1 if name and normalize(name[0]).text in articles else 0):
            break
    if name and normalize(name[-1]).text in articles:
        name.pop()
    return " ".join(name)


def is_name(candidate: str, lang: str | None) -> bool:
    """Whether ``candidate`` can be shown as a speaker: a person's or an organisation's name, not a
    fragment of a sentence. Latin script: capitalised words (after an optional article). Arabic:
    one to seven words, none of them a function word, title or pronoun (rules ``speaker_stop``)."""
    words = _TOKEN.findall(candidate or "")
    if not words or len(words) > 8 or _BREAK.search(candidate):
        return False
    stop = set(_norm_list("speaker_stop", lang))
    articles = set(_norm_list("speaker_articles", lang))
    if base_lang(lang) == "ar":
        return not any(normalize(w).text in stop for w in words) and len(words) <= 7
    rest = words[1:] if normalize(words[0]).text in articles else words
    return bool(rest) and all(_LATIN_UPPER.match(w) or normalize(w).text in ("de", "del", "la", "al", "bin", "ben", "van",
                                                                               "von", "du", "des", "y")
                              for w in rest) and bool(_LATIN_UPPER.match(rest[0]))


def speaker(text: str, lang: str | None) -> str:
    """The person or organisation a reporting verb or cue introduces ("" when none is named).

    Words inside quotations are never a speaker. After the verb: the name that follows it
    ("قال عزيز هناوي، الكاتب…" → "عزيز هناوي"); failing that in Latin script, the capitalised
    run opening the sentence ("Lucía Ferrer, portavoz…, afirmó" → "Lucía Ferrer"). The result is
    checked with :func:`is_name`; anything else ("عليها أمام مقر") gives ""."""
    quotes = quotations(text)
    outside = text
    for s, e, _q in reversed(quotes):
        outside = outside[:s] + "“" + " " * (e - s - 2) + "”" + outside[e:] if e - s >= 2 else outside
    norm = normalize(outside)
    lg = base_lang(lang)
    cues = _cues(lang)
    prefix = "[وف]?" if lg == "ar" else ""
    pattern = re.compile(r"(?<!\w)" + prefix + "(" + "|".join(re.escape(v) for v in cues) + r")(?!\w)") if cues else None
    if pattern is not None:
        for m in pattern.finditer(norm.text):
            name = _name_after(outside, norm.original_span(m.start(), m.end())[1], lang)
            if name and is_name(name, lang):
                return name
            if lg != "ar":  # "Lucía Ferrer, portavoz de la cooperativa, afirmó": the run opening the sentence
                lead = re.match(r"\s*((?:[A-ZÁÉÍÓÚÑÀÂÇÈÊÎÔÛ][\w'’-]+\s?){1,4})", outside)
                if lead and is_name(lead.group(1).strip(), lang):
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
