"""The decision: relation type, confidence and a human-readable summary for one (D, U) pair, from
content evidence (:class:`~provenance.detect.evidence.ContentEvidence`) and cue evidence
(:class:`~provenance.detect.cues.Evidence` list).

Content first, cues as support. In order:

1. An embedded post → ``quotes`` (the post's words are in D by construction).
2. Broad, ordered coverage (``broad``: at least MIN_ALIGNED sentences (or all of a short D) and ``coverage_down`` ≥
   BROAD_DOWN, or ``coverage_down`` ≥ CONDENSED_DOWN with ``coverage_up`` ≥ BROAD_UP for a
   condensed version; ``in_order`` ≥ ORDERED):
   other language → ``translation_of``; same language and mostly verbatim (≥ VERBATIM) →
   ``republishes``; same language rewritten → ``derived_from``, or ``quotes`` when D's quotations
   are found in U (a report on a statement that quotes it). Whatever the cue says: a
   "المصدر:" footer on a same-language copy is a republication, a "selon l'agence" link on a
   translated wire is a translation.
3. A cue that claims a translation/republication (credit line, translation marker), with partial
   coverage (``partial``: ≥ 2 sentences and ``coverage_down`` ≥ PARTIAL_DOWN): the claimed type,
   corrected by language (same language + verbatim → ``republishes``; other language →
   ``translation_of``). With no alignment at all but a linked credit line, the line's type at
   lower confidence (alignment can fail; the line still says it).
4. D's quotations of speech found in U → ``quotes``.
5. A link with a reporting cue → ``cites`` (``quotes`` when the sentence quotes and U is a primary
   source: post, communiqué, statement); a linked credit line ``derived_from``; a plain link with
   partial coverage ``derived_from``; a plain link without content evidence → nothing.
6. Named, not linked (credit, byline, dateline, headline, reporting phrase): partial coverage →
   ``derived_from`` for credits/bylines/datelines, else ``attributes_to``; its confidence drops
   to 0.4 when the texts are unrelated (``ContentEvidence.related``: no sentence of D aligned or
   nearly aligned to one of U, no quotation found): perhaps a mention rather than an attribution.
   A name matched only by meaning (``named-semantic``: "وزارة الماء" for "Ministère de l'Eau") counts
   only when the texts are related.
7. No cue at all (a candidate found by similarity only): only rules 2 and 4, capped at confidence
   SIMILARITY_CAP, and only when no other upstream of D explains the same sentences (siblings: two
   translations of one article align with each other; :mod:`provenance.detect.attribution`
   checks that before calling).

Returns ``None`` when the evidence supports no relation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from provenance.detect.cues import Evidence
from provenance.detect.evidence import ORIGIN_KINDS, ContentEvidence
from provenance.models import Document, Relation

T = Relation.Type
MIN_ALIGNED = 3
BROAD_DOWN = 0.5
CONDENSED_DOWN = 0.3
BROAD_UP = 0.5
ORDERED = 0.7
VERBATIM = 0.75
PARTIAL_DOWN = 0.15
SIMILARITY_CAP = 0.5
LANG_NAMES = {"ar": "Arabic", "es": "Spanish", "fr": "French", "en": "English", "de": "German", "it": "Italian",
              "pt": "Portuguese", "tr": "Turkish", "fa": "Persian", "he": "Hebrew", "ru": "Russian"}


@dataclass
class Decision:
    type: str
    confidence: float
    summary: str
    reasons: list[str] = field(default_factory=list)


def broad(c: ContentEvidence | None) -> bool:
    if c is None or not (c.aligned_down >= MIN_ALIGNED or (c.aligned_down >= 2 and c.coverage_down >= 0.9)):
        return False
    cov = c.coverage_down >= BROAD_DOWN or (c.coverage_down >= CONDENSED_DOWN and c.coverage_up >= BROAD_UP)
    return cov and c.in_order >= ORDERED


def partial(c: ContentEvidence | None) -> bool:
    return c is not None and c.aligned_down >= 2 and c.coverage_down >= PARTIAL_DOWN


def _by_content(c: ContentEvidence) -> str:
    if not c.same_language:
        return T.TRANSLATION_OF
    return T.REPUBLISHES if c.verbatim >= VERBATIM else T.DERIVED_FROM


def describe_content(c: ContentEvidence | None, target: Document) -> str:
    if c is None:
        return "no text to compare"
    if not c.aligned_down:
        return f"none of {c.down_sentences} sentences align to it"
    lang = LANG_NAMES.get(c.lang_up, c.lang_up or "other-language")
    kind = {"post": "post", "communique": "communiqué", "statement": "statement", "report": "report"}.get(
        target.kind, "article")
    s = (f"{c.aligned_down} of {c.down_sentences} sentences align"
         f"{', in order,' if c.in_order >= ORDERED and c.aligned_down >= 2 else ''} to the {lang} {kind}"
         f" ({c.aligned_up} of its {c.up_sentences} used")
    if c.same_language or c.verbatim:
        s += f"; {round(100 * c.verbatim)}% near-verbatim"
    s += ")"
    if c.quotes_found:
        s += f"; {len(c.quotes_found)} of D's quotations found in it"
    return s


def _cue_text(evs: list[Evidence]) -> str:
    if not evs:
        return "no attribution in the text (found by similarity)"
    e = evs[0]
    what = {"credit": "source line", "link": "link in", "named": "named in", "embed-tweet": "embedded post",
            "byline": "byline", "dateline-agency": "dateline", "dateline-agency-ar": "dateline",
            "headline": "headline", "through-translation": "through the translation"}
    kind = e.rule.split(":", 1)[0]
    label = what.get(e.rule, what.get(kind, e.rule))
    text = " ".join(e.text.split())
    return f"{label} '{text[:140]}{'…' if len(text) > 140 else ''}'"


def decide(cues: list[Evidence], content: ContentEvidence | None, target: Document) -> Decision | None:
    """Relation type for D → ``target`` (see module docstring), or None."""
    direct = [e for e in cues if e.direct]
    claimed = {e.type for e in cues if e.type}
    cov = content.coverage_down if content else 0.0

    def out(typ: str, conf: float, why: str, evs: list[Evidence] | None = None) -> Decision:
        evs = evs if evs is not None else cues
        summary = describe_content(content, target) + "; " + _cue_text(evs)
        return Decision(typ, round(min(conf, 0.99 if cues else SIMILARITY_CAP), 3), summary, [why])

    embeds = [e for e in direct if e.rule.startswith("embed-")]
    if embeds:
        return out(T.QUOTES, 0.95, "embedded post", embeds)
    if broad(content):
        typ = _by_content(content)
        if typ == T.DERIVED_FROM and content.quotes_found:
            typ = T.QUOTES  # a same-language report on a text whose words it quotes (a wire on a communiqué)
        conf = 0.55 + 0.35 * cov + (0.1 if direct else 0.05 if cues else 0.0)
        return out(typ, conf, "broad ordered coverage")
    credits = [e for e in cues if e.rule.startswith("credit:")]
    claims_copy = ({T.TRANSLATION_OF, T.REPUBLISHES} & {e.type for e in credits}) or any(
        e.rule.startswith("credit:") and e.type == T.TRANSLATION_OF for e in cues)
    if claims_copy and content is not None and (partial(content) or (not content.aligned_down and any(
            e.direct for e in credits))):
        typ = _by_content(content) if partial(content) else next(iter(
            {e.type for e in credits} & {T.TRANSLATION_OF, T.REPUBLISHES}), T.TRANSLATION_OF)
        if typ == T.DERIVED_FROM:  # same language, rewritten, but the line says it copies
            typ = T.REPUBLISHES if T.REPUBLISHES in claimed else T.DERIVED_FROM
        conf = 0.6 + 0.3 * cov if partial(content) else 0.55
        return out(typ, conf, "credit line with coverage", credits)
    if content is not None and content.quotes_found and (cues or target.kind in ORIGIN_KINDS or content.verbatim):
        return out(T.QUOTES, 0.7 + 0.05 * min(3, len(content.quotes_found)), "quotation found in it")
    if direct:
        typed = [e for e in direct if e.type]
        if typed:
            best = typed[0]
            typ = best.type
            if typ == T.QUOTES and target.kind not in ORIGIN_KINDS:
                typ = T.CITES  # quoted words not found in an article: it reports, it does not quote it
            if typ == T.TRANSLATION_OF and content is not None and content.same_language:
                typ = T.REPUBLISHES if content.verbatim >= VERBATIM else T.DERIVED_FROM
            if typ == T.CITES and partial(content):
                typ = T.DERIVED_FROM
            return out(typ, 0.75 + (0.1 if partial(content) else 0.0), "linked with a cue", typed)
        if partial(content):
            return out(T.DERIVED_FROM, 0.5 + 0.3 * cov, "linked, partial coverage", direct)
        return None
    if cues and all(e.rule.startswith("named-semantic") for e in cues):
        if content is None or not content.related:
            return None  # a name that only resembles the publisher's, in a text unrelated to it
        return out(T.ATTRIBUTES_TO, 0.5 + (0.15 if partial(content) else 0.0), "named (name translated), related")
    if cues:
        strong = [e for e in cues if e.rule.split(":")[0] in ("credit", "byline", "headline")
                  or e.rule.startswith("dateline")]
        if strong and partial(content):
            return out(T.DERIVED_FROM, 0.5 + 0.3 * cov, "credited, partial coverage", strong)
        # named, but nothing D says is in it: perhaps a mention, not an attribution (lower confidence)
        unrelated = content is not None and content.up_sentences and not content.related
        return out(T.ATTRIBUTES_TO, 0.4 if unrelated else 0.55 + (0.15 if partial(content) else 0.0),
                   "named, not linked" + (" (texts unrelated)" if unrelated else ""))
    if content is not None and content.quotes_found and content.same_language:
        return out(T.QUOTES, 0.5, "quotation found by similarity")
    return None
