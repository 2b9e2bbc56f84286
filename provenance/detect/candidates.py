"""Candidate upstream documents for a document D, and the stored index that finds, after a
capture, the documents it affects, with indexed queries (proportional to the capture, not to the
archive).

Candidates of D (:func:`gather`), each with the reasons it was found:

- ``link``: documents D links or embeds (redirects resolved: ``documents.resolve_url``);
- ``named``: documents of publishers D names near a cue, in a credit line, byline, dateline or
  headline (names and aliases in any script; transliterations by consonant skeleton). Of a
  publisher with several earlier documents, the ones closest to D (document vectors) are tried;
- ``similar``: earlier documents (published up to SIMILAR_DAYS before D) whose document vector
  (mean multilingual sentence embedding) has cosine ≥ SIMILAR_COSINE with D's, at most
  SIMILAR_TOP of them.

Index (:func:`index_document`, models ``DocumentIndex`` and ``IndexKey``): per document, the SURT
keys of its outbound links and embeds, the name keys of the words where it names sources, the
fingerprints of its quotations, its document vector and the snapshot examined.
:func:`affected_by` queries these for a new document U: who links U (any of its URLs or a URL
redirecting to it), who names U's publisher, who quotes U's words, who is close to U and
published after it, who already has a relation to U, and who translates/republishes any of those.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import transaction

from archive.models import Snapshot
from archive.uri import iri_to_uri, surt_key
from provenance.detect.cues import CueResult, publisher_index_keys, speech_quotations, text_name_keys
from provenance.detect.evidence import document_vector, embedder, sentences_of
from provenance.models import Document, DocumentIndex, IndexKey, Publisher, Relation, ReviewStatus
from provenance.text.textnorm import normalize

SIMILAR_DAYS = 30
SIMILAR_COSINE = 0.55
SIMILAR_TOP = 4
NAMED_TRY = 3
QUOTE_WORDS = 4
_WORD = re.compile(r"[^\W_]+")


@dataclass
class Candidate:
    document: Document
    reasons: set[str] = field(default_factory=set)
    similarity: float | None = None


def earlier(target: Document, doc: Document) -> bool:
    """May ``target`` be upstream of ``doc`` by date (unknown dates do not exclude)?"""
    if target.published_at and doc.published_at:
        return target.published_at <= doc.published_at
    return True


UNINDEXED_MAX = 50


def _vectors(docs) -> dict[int, list[float]]:
    """Stored vectors of ``docs`` (ids); documents never indexed (the follow-up has not run for
    them yet) get one computed now, at most UNINDEXED_MAX of them."""
    docs = list(docs)
    out = dict(DocumentIndex.objects.filter(document__in=docs, vector__isnull=False)
               .values_list("document_id", "vector"))
    missing = set(docs) - set(DocumentIndex.objects.filter(document__in=docs).values_list("document_id", flat=True))
    for d in Document.objects.filter(pk__in=list(missing)[:UNINDEXED_MAX]):
        snap = d.latest_snapshot()
        vec = document_vector(snap, d) if snap is not None else None
        if vec is not None:
            out[d.pk] = vec
    return out


def _cosines(vec, ids_vecs: dict[int, list[float]]) -> dict[int, float]:
    if vec is None or not ids_vecs:
        return {}
    import numpy as np

    ids = list(ids_vecs)
    m = np.asarray([ids_vecs[i] for i in ids], dtype=np.float32)
    sims = m @ np.asarray(vec, dtype=np.float32)
    return {i: float(s) for i, s in zip(ids, sims, strict=True)}


def _vector_of(doc: Document, snap: Snapshot | None) -> list[float] | None:
    idx = DocumentIndex.objects.filter(document=doc, snapshot=snap).values_list("vector", flat=True).first()
    if idx is not None:
        return idx
    return document_vector(snap, doc) if snap is not None else None


def _window(doc: Document, *, before: bool):
    qs = Document.objects.exclude(pk=doc.pk)
    if doc.published_at:
        if before:
            qs = qs.filter(published_at__lte=doc.published_at,
                           published_at__gte=doc.published_at - timedelta(days=SIMILAR_DAYS))
        else:
            qs = qs.filter(published_at__gte=doc.published_at,
                           published_at__lte=doc.published_at + timedelta(days=SIMILAR_DAYS))
    if doc.publisher_id:
        qs = qs.exclude(publisher_id=doc.publisher_id)
    return qs


def gather(doc: Document, snap: Snapshot, cues: CueResult, quotes=()) -> dict[int, Candidate]:
    """Candidates of ``doc`` (see module docstring), by document id."""
    out: dict[int, Candidate] = {}

    def add(d: Document, reason: str, sim: float | None = None) -> None:
        if d.pk == doc.pk:
            return
        c = out.setdefault(d.pk, Candidate(d))
        c.reasons.add(reason)
        if sim is not None:
            c.similarity = sim

    for e in cues.evidence:
        add(e.target, "link" if e.direct else "named")
    vec = _vector_of(doc, snap)
    qkeys = quote_keys([q for _s, _e, q in quotes])
    if qkeys:  # who wrote D's quoted words first
        for d in Document.objects.filter(pk__in=_ids_with(IndexKey.Kind.TEXT, qkeys)).exclude(pk=doc.pk):
            if earlier(d, doc) and (not doc.publisher_id or d.publisher_id != doc.publisher_id):
                add(d, "quoted")
    for pub in {p.pk: p for p, *_ in cues.named}.values():
        docs = [d for d in pub.documents.exclude(pk=doc.pk) if earlier(d, doc)]
        if len(docs) > NAMED_TRY:
            sims = _cosines(vec, _vectors([d.pk for d in docs]))
            docs.sort(key=lambda d: (-sims.get(d.pk, -1.0), -(d.published_at.timestamp() if d.published_at else 0)))
            docs = docs[:NAMED_TRY]
        for d in docs:
            add(d, "named")
    if vec is not None:
        pool = _window(doc, before=True)
        sims = _cosines(vec, _vectors(pool.values_list("pk", flat=True)))
        top = sorted(((s, i) for i, s in sims.items() if s >= SIMILAR_COSINE), reverse=True)[:SIMILAR_TOP]
        for s, i in top:
            d = Document.objects.get(pk=i)
            if earlier(d, doc):
                add(d, "similar", s)
    elif embedder() is None:  # no embeddings: the most recent earlier documents of other publishers
        for d in _window(doc, before=True).order_by("-published_at")[:SIMILAR_TOP]:
            add(d, "similar")
    return out


# ---------------------------------------------------------------------------------------------
# index


def _hash(words: list[str]) -> str:
    return hashlib.blake2b(" ".join(words).encode(), digest_size=10).hexdigest()


def quote_keys(quotes: list[str]) -> set[str]:
    out = set()
    for q in quotes:
        words = _WORD.findall(normalize(q).text)
        if len(words) >= QUOTE_WORDS:
            out.add(_hash(words[:QUOTE_WORDS]))
    return out


def shingle_keys(text: str) -> set[str]:
    words = _WORD.findall(normalize(text).text)
    return {_hash(words[i:i + QUOTE_WORDS]) for i in range(max(0, len(words) - QUOTE_WORDS + 1))}


def link_keys_of(snap: Snapshot) -> set[str]:
    ex = snap.extracted or {}
    urls = [ln.get("url", "") for ln in ex.get("links", [])] + [e.get("url", "") for e in ex.get("embeds", [])]
    keys = set()
    for u in urls:
        if u:
            try:
                keys.add(surt_key(iri_to_uri(u))[:255])
            except ValueError:  # a malformed link is not a key
                pass
    return keys


def index_document(doc: Document, snap: Snapshot, cues: CueResult, quotes: list[tuple[int, int, str]]) -> None:
    """Store ``doc``'s lookup keys and vector for ``snap`` (replacing the previous ones)."""
    keys = {(IndexKey.Kind.LINK, k) for k in link_keys_of(snap)}
    keys |= {(IndexKey.Kind.NAME, k[:255]) for k in text_name_keys(cues.name_windows)}
    keys |= {(IndexKey.Kind.QUOTE, k) for k in quote_keys([q for _s, _e, q in quotes])}
    keys |= {(IndexKey.Kind.TEXT, k) for k in shingle_keys(sentences_of(snap, doc).norm_text)}
    vec = _vector_of(doc, snap)
    emb = embedder()
    with transaction.atomic():
        IndexKey.objects.filter(document=doc).delete()
        IndexKey.objects.bulk_create([IndexKey(document=doc, kind=k, key=v) for k, v in keys], batch_size=500,
                                     ignore_conflicts=True)  # a concurrent follow-up of the same page
        DocumentIndex.objects.update_or_create(document=doc, defaults={
            "snapshot": snap, "vector": vec, "vector_model": f"{emb.name} {emb.version}" if emb and vec else ""})


def is_indexed(doc: Document, snap: Snapshot | None) -> bool:
    """Has the follow-up examined ``doc`` on ``snap``?"""
    return snap is not None and DocumentIndex.objects.filter(document=doc, snapshot=snap).exists()


def link_keys(document: Document) -> set[str]:
    """SURT keys a link to ``document`` can carry: its URLs, and archived URLs redirecting to them."""
    keys = set(document.url_keys())
    # live and withdrawn ends of redirect chains asked for apart: each half is a look-up on its own
    # partial SURT index (there is no index over every state; archive.models.Snapshot.Meta)
    hops = Snapshot.objects.filter(final__surt__in=keys).order_by()  # a set: no sort
    return keys | {s for gone in (False, True)
                   for s in hops.filter(final__withdrawn_at__isnull=not gone).values_list("surt", flat=True)}


def _ids_with(kind: str, keys: set[str]) -> set[int]:
    keys = list(keys)
    out: set[int] = set()
    for k in range(0, len(keys), 500):
        out |= set(IndexKey.objects.filter(kind=kind, key__in=keys[k:k + 500]).values_list("document_id", flat=True))
    return out


def _names(doc: Document, pub: Publisher) -> bool:
    """Confirm an index hit: does ``doc``'s latest snapshot name ``pub`` where sources are named?"""
    from provenance.detect.cues import CueFinder

    snap = doc.latest_snapshot()
    if snap is None:
        return False
    return any(p.pk == pub.pk for p, *_rest in CueFinder(doc, snap, publishers=[pub], semantic=False).run().named)


def affected_by(document: Document) -> list[Document]:
    """Other documents whose relations may change now that ``document`` was captured (a new
    document or a new version): found through the index (see module docstring), plus those with a
    relation to it and, one step further, those translating or republishing any of these (the
    through-translation evidence reads the upstream's relations). Most recently updated first."""
    ids = _ids_with(IndexKey.Kind.LINK, link_keys(document))
    pub: Publisher | None = document.publisher
    if pub is not None:
        found = _ids_with(IndexKey.Kind.NAME, publisher_index_keys(pub))
        ids |= {d.pk for d in Document.objects.filter(pk__in=found).exclude(publisher=pub)
                if earlier(document, d) and _names(d, pub)}
    snap = document.latest_snapshot()
    if snap is not None:
        quoting = _ids_with(IndexKey.Kind.QUOTE, shingle_keys(snap.text))
        ids |= {d.pk for d in Document.objects.filter(pk__in=quoting) if earlier(document, d)}
        vec = _vector_of(document, snap)
        if vec is not None:
            sims = _cosines(vec, _vectors(_window(document, before=False).values_list("pk", flat=True)))
            ids |= {i for i, s in sims.items() if s >= SIMILAR_COSINE}
    ids.discard(document.pk)
    reached = ids | {document.pk}
    ids |= set(Relation.objects.filter(target_id__in=reached).values_list("source_id", flat=True))
    ids |= set(Relation.objects.filter(target_id__in=ids, type__in=[Relation.Type.TRANSLATION_OF,
                                                                     Relation.Type.REPUBLISHES])
               .exclude(status=ReviewStatus.REJECTED).values_list("source_id", flat=True))
    ids.discard(document.pk)
    return list(Document.objects.filter(pk__in=ids).order_by("-updated_at", "pk"))


__all__ = ["Candidate", "gather", "index_document", "is_indexed", "affected_by", "link_keys", "earlier",
           "speech_quotations"]
