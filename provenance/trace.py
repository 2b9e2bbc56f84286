"""Trace: one URL in, its whole chain captured, detected and aligned, with no human step.

A :class:`~provenance.models.Trace` run (:func:`run_trace`):

1. **Start.** The starting URL is guarded and captured, or a capture of it younger than
   ``reuse_age`` seconds is reused. Its document, claims and relations are derived at once
   (the follow-up task's :func:`provenance.tasks.process_snapshot`, run by the trace itself).
2. **Walk upstream, hop by hop.** For each document reached, :func:`upstream_candidates` lists
   the URLs it links or embeds *with attribution evidence* (an embedded post, a source line, a
   link in a sentence with a reporting cue or a quotation). Menus, "read also" lists, share
   buttons, ads and comment widgets carry no such evidence and are never followed. Every
   candidate not archived (or archived longer ago than ``reuse_age``) is captured through the same
   job machinery and SSRF guard as any capture (:func:`archive.jobs.submit` / :func:`run_job`);
   a candidate that fails (refused by the guard, a redirect loop, a 404, a dead host) is recorded
   with its reason and the walk goes on.
3. **Bounds.** ``depth`` hops (default 4), ``max_documents`` URLs captured or reused (default 25,
   the start included), and a ``time_budget`` in seconds (default 300, checked before each
   capture; one capture is itself bounded by ``NAQL_CAPTURE_TOTAL_TIMEOUT``). Candidates left
   when a bound is reached are recorded as not followed, with the bound.
4. **Relations** are detected again on every document reached once all are archived (the
   detector is idempotent), and the trace keeps those between its documents.
5. **Claim alignment** (:func:`provenance.suggest.run_suggestions`) runs on every document with
   a translation, quotation or republication edge, upstream documents first, so each claim of
   the first article gets its suggested chain to the origin.
6. **Unresolved names** (:func:`unresolved_names`): sources named with an attribution cue but
   neither linked nor archived ("El País, named in paragraph 3: not archived").

Concurrency: two traces needing the same URL share one capture. The first to create the
:class:`~provenance.models.TraceCapture` row for the URL's SURT (a unique key, so this is atomic
on every database) captures it; the others wait for it and reuse its snapshot. Any trace reuses
snapshots younger than ``reuse_age``, so traces sharing upstream documents share snapshots.
"""

from __future__ import annotations

import json
import logging
import re
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import timedelta
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from archive.errors import ArchiveError
from archive.jobs import run_job, submit, validate_url
from archive.models import CaptureJob, Snapshot
from archive.uri import iri_to_uri, surt_key
from provenance.documents import document_for_snapshot, final_snapshot, same_site
from provenance.models import Document, Relation, Trace, TraceCapture

log = logging.getLogger(__name__)

RULES = Path(__file__).with_name("rules") / "trace.json"
#: Relation types along which claims are aligned (the upstream's words are in the document).
ALIGN_TYPES = frozenset({Relation.Type.TRANSLATION_OF, Relation.Type.QUOTES, Relation.Type.REPUBLISHES})
#: A leading trace that stopped heart-beating this long ago no longer holds its shared capture.
LEASE_STALE = timedelta(minutes=10)
WAIT_POLL = 0.1  # seconds between looks at a capture another trace is making
MAX_STEPS = 300  # progress steps kept on the trace row


@lru_cache(maxsize=1)
def rules() -> dict:
    return json.loads(RULES.read_text(encoding="utf-8"))


def default_options(**given) -> dict:
    """Bounds of a trace: the settings' defaults overridden by ``given`` (None means default)."""
    opts = {"depth": settings.NAQL_TRACE_DEPTH, "max_documents": settings.NAQL_TRACE_MAX_DOCUMENTS,
            "time_budget": settings.NAQL_TRACE_TIME_BUDGET, "reuse_age": settings.NAQL_TRACE_REUSE_AGE,
            "requisites": True}
    opts.update({k: v for k, v in given.items() if v is not None and k in opts})
    for key in ("depth", "max_documents", "reuse_age"):
        opts[key] = int(opts[key])
    if opts["depth"] < 0 or opts["max_documents"] < 1 or float(opts["time_budget"]) <= 0 or opts["reuse_age"] < 0:
        raise ValueError("depth ≥ 0, max_documents ≥ 1, time_budget > 0 and reuse_age ≥ 0 are required")
    return opts


def start_trace(url: str, *, user=None, enqueue: bool = True, **options) -> Trace:
    """Guard ``url`` (raises the archive's ``InvalidURL``/``ForbiddenAddress``… at once) and create
    a pending trace; with ``enqueue`` its task is queued once the transaction commits."""
    clean = validate_url(url)
    trace = Trace.objects.create(url=clean, created_by=user if getattr(user, "pk", None) else None,
                                 options=default_options(**options),
                                 progress={"phase": "pending", "steps": []})
    if enqueue:
        transaction.on_commit(lambda: enqueue_trace(trace))
    return trace


#: The Celery task that runs a trace, addressed by name (provenance.trace_tasks wraps this module,
#: so this module never imports it).
RUN_TASK = "provenance.trace_tasks.run_trace_task"


def enqueue_trace(trace: Trace) -> None:
    """Queue the ``run_trace`` task (run at once in eager mode)."""
    from celery import current_app

    current_app.signature(RUN_TASK, args=(trace.pk,)).apply_async()


# ---------------------------------------------------------------------------------------------
# candidates: the one place that says which upstream URLs of a document have attribution evidence


@dataclass
class Candidate:
    """An upstream URL of a document with attribution evidence. ``document`` is the archived
    document it resolves to (None: not archived yet); offsets point into the snapshot text."""

    url: str
    kind: str  # "embed" or "link"
    rule: str  # the cue that fired (attribution rule id)
    text: str = ""
    start: int | None = None
    end: int | None = None
    document: Document | None = None

    def as_dict(self) -> dict:
        d = asdict(self)
        d["document"] = self.document.pk if self.document is not None else None
        return d


def upstream_candidates(document: Document, snapshot: Snapshot | None = None) -> list[Candidate]:
    """Which upstream URLs of ``document`` have attribution evidence, in text order, each once.

    Built on the attribution detector (:func:`provenance.detect.attribution.detect`): its direct
    evidence (an embedded post, a source line's link, a link in a sentence with a reporting cue or
    a quotation, all from the links and embeds the extractor found in the article body) gives the
    archived targets, and its ``unresolved`` list the linked URLs not archived yet. Links without
    such evidence (navigation, "read also", share buttons, ads, comment widgets) are not
    candidates. This function is the seam to the detector: nothing else in the trace reads its
    internals."""
    from provenance.detect.attribution import detect

    snap = snapshot or document.latest_snapshot()
    if snap is None:
        return []
    det = detect(document, snap)
    links = (snap.extracted or {}).get("links", [])
    embeds = {e.get("url"): e for e in (snap.extracted or {}).get("embeds", [])}
    out: dict[str, Candidate] = {}

    share = [re.compile(p, re.I) for p in rules()["share_urls"]]

    def add(url: str, rule: str, text: str = "", start=None, end=None, target=None) -> None:
        url = iri_to_uri(url)
        key = surt_key(url)
        if key in out or same_site(url, document.url) or any(p.search(url) for p in share):
            return
        kind = "embed" if url in embeds or rule.startswith("embed") else "link"
        if start is None:
            ln = next((x for x in links if iri_to_uri(x.get("url", "")) == url), None)
            if ln is not None:
                start, end, text = ln["start"], ln["end"], text or ln.get("text", "")
        out[key] = Candidate(url, kind, rule, text[:500], start, end, target)

    for ev in det.evidence:
        # a link the detector keeps without a cue (type None, rule "link:plain" in detector 2.0:
        # content may still decide a relation once both are archived) is not followed
        if ev.direct and ev.url and getattr(ev, "type", None) is not None and not _plain(ev.rule):
            add(ev.url, ev.rule, ev.text, ev.start, ev.end, ev.target)
    for item in det.unresolved:
        if not _plain(item.get("where", "")):
            add(item["url"], item.get("where", ""), embeds.get(item["url"], {}).get("text", ""))
    return sorted(out.values(), key=lambda c: (c.start is None, c.start or 0))


def named_publishers(window: str, publishers):
    """The detector's publisher-name matcher (names and aliases in any script), wherever the
    detector keeps it (``detect.cues`` from detector 2.0, ``detect.attribution`` before)."""
    try:
        from provenance.detect.cues import named_publishers as match
    except ImportError:
        from provenance.detect.attribution import named_publishers as match
    return match(window, publishers)


def _same_name(name: str, publisher) -> bool:
    """Does ``name`` share a distinctive word (4+ letters) with one of ``publisher``'s names,
    across scripts by consonant skeleton, an Arabic article ال set aside ("Atlas" ~ "الأطلس")?"""
    from provenance.align import arabic_skeleton, arabic_variants, latin_skeleton
    from provenance.text.textnorm import normalize

    def skeletons(text: str) -> set[str]:
        out = set()
        for w in re.findall(r"[^\W\d_]{4,}", normalize(text).text):
            if re.search(r"[\u0600-\u06ff]", w):
                for v in {w, w[2:] if w.startswith("ال") else w}:
                    out |= {arabic_skeleton(x) for x in arabic_variants(v)}
            else:
                out.add(latin_skeleton(w))
        return {k for k in out if len(k) >= 3}

    mine = skeletons(name)
    return bool(mine) and any(mine & skeletons(n) for n in publisher.names())


def _evidence_spans(document: Document, snap: Snapshot) -> list[tuple[int, int]]:
    """Spans of ``snap``'s text that are evidence of a live relation of ``document``: the main
    evidence span and each piece in the ``evidence`` JSON (a list of pieces, or detector 2.0's
    ``{"cues": [...]}``)."""
    spans = []
    for rel in Relation.objects.live().filter(source=document, evidence_snapshot=snap):
        if rel.evidence_start is not None and rel.evidence_end is not None:
            spans.append((rel.evidence_start, rel.evidence_end))
        pieces = rel.evidence.get("cues", []) if isinstance(rel.evidence, dict) else rel.evidence or []
        spans += [(p["start"], p["end"]) for p in pieces
                  if isinstance(p, dict) and p.get("start") is not None and p.get("end") is not None]
    return spans


def _detector_cue_finder():
    """The detector's own cue finder ``(normalised text, lang) -> [(start, end, id)]`` when it has
    one (detector 2.0: ``detect.cues.find_cues``, reporting and document cues), else None (the
    lexicon's inline rules and reporting verbs are read directly)."""
    try:
        from provenance.detect.cues import find_cues
    except ImportError:
        return None
    return find_cues


def _plain(rule: str) -> bool:
    return rule.endswith(":plain") or rule == "plain"


# ---------------------------------------------------------------------------------------------
# unresolved names


def _name_after(text: str, lang: str) -> str:
    """The source name at the start of ``text`` (original text following a cue), or ''."""
    r = rules()
    text = text.lstrip(" \t:,")
    quoted = re.match(r"^[\"«“„']\s*([^\"»”']{2,80}?)\s*[\"»”']", text)
    if quoted:
        return quoted.group(1).strip()
    words = re.findall(r"[^\s,.;:!?()«»\"“”]+", text.split("\n")[0])[: r["max_name_words"] + 2]
    if not words:
        return ""
    if re.search(r"[\u0600-\u06ff]", words[0]):
        stop = set(r["ar_stop_words"])
        name = []
        from provenance.text.textnorm import normalize

        for w in words[: r["max_name_words"]]:
            if normalize(w).text in stop:
                break
            name.append(w)
        if len(name) > 1 and normalize(name[-1]).text.endswith("يه"):  # a nisba adjective: الإسبانية
            name.pop()
        return " ".join(name)
    name, connectors = [], set(r["name_connectors"])
    for w in words:
        if w[:1].isupper() or (name and w.lower() in connectors):
            name.append(w)
        else:
            break
    while name and name[-1].lower() in connectors:
        name.pop()
    return " ".join(name[: r["max_name_words"]])


def unresolved_names(document: Document, snapshot: Snapshot | None = None) -> list[dict]:
    """Sources ``document`` names with an attribution cue in its article body but neither links
    nor has archived: ``{"name", "document", "url", "paragraph" (1-based, in the article body),
    "text", "start", "end", "reason"}`` (paragraphs counted in the article body, headings
    excluded). A name counts when it follows a media noun ("el diario
    …", "صحيفة …") or is a capitalised title starting with an article ("El País"); it is
    resolved when a known publisher with an archived document bears it (in any script, as the
    detector matches names) or when the sentence links a source."""
    from provenance.documents import rules as attribution_rules
    from provenance.documents import text_language
    from provenance.models import Publisher
    from provenance.text.claims import article_paragraphs
    from provenance.text.segment import segment
    from provenance.text.textnorm import base_lang, normalize

    snap = snapshot or document.latest_snapshot()
    if snap is None:
        return []
    lang = base_lang(text_language(snap, document))
    r, ar = rules(), attribution_rules()
    nouns = sorted((normalize(n).text for n in r["media_nouns"].get(lang, [])), key=len, reverse=True)
    cues = [x["pattern"] for x in ar.get("inline", []) if x.get("lang") in ("any", lang)]
    verbs = sorted({normalize(v).text for v in [*ar.get("reporting_verbs", {}).get(lang, []),
                                                *r["cue_verbs"].get(lang, [])]}, key=len, reverse=True)
    if verbs:
        clitic = "(?:و|ف)?" if lang == "ar" else ""
        cues.append(rf"(?<!\w){clitic}(" + "|".join(re.escape(v) for v in verbs) + r")(?!\w)")
    detector_cues = _detector_cue_finder()
    articles = "|".join(re.escape(a) for a in r["name_articles"])
    noun_alt = "|".join(re.escape(n) for n in nouns)
    # "el diario X", "le quotidien X", "صحيفة X" after the cue; or a cue that ends with the noun itself
    noun_re = re.compile(rf"\s*(?:(?:{articles})\s*)?(?:{noun_alt})(?!\w)\s*") if nouns else None
    noun_end_re = re.compile(rf"(?<!\w)(?:{noun_alt})\s*$") if nouns else None
    known = [p for p in Publisher.objects.filter(documents__isnull=False).distinct() if p.pk != document.publisher_id]
    links = (snap.extracted or {}).get("links", [])
    explained = _evidence_spans(document, snap)
    related = [r.target.publisher for r in Relation.objects.live().filter(source=document)
               .select_related("target__publisher") if r.target.publisher_id]
    body = [p for p in article_paragraphs(snap) if not re.fullmatch(r"h[1-6]", p.tag or "")]
    out: list[dict] = []
    seen: set[str] = set()
    for k, para in enumerate(body, start=1):
        for seg in segment(snap.text, [para], lang, keep_all=True):
            if any(seg.start <= ln["start"] < seg.end and not same_site(ln["url"], document.url) for ln in links):
                continue  # a linked source is a candidate, not a name
            if any(a < seg.end and seg.start < b for a, b in explained):
                continue  # the sentence is evidence of a relation the detector found: resolved
            norm = normalize(seg.text)
            positions = {m.end() for c in cues for m in re.finditer(c, norm.text)}
            if detector_cues is not None:
                positions |= {end for _s, end, _id in detector_cues(norm.text, lang)}
            positions = sorted(positions)
            for pos in positions:
                window = norm.text[pos:pos + 160]
                name = ""
                lead = len(window) - len(window.lstrip(" ل"))  # Arabic "وفقا لـ": the clitic lam
                m = noun_re.match(window[lead:]) if noun_re else None
                if m or (noun_end_re is not None and noun_end_re.search(norm.text[:pos])):
                    at = pos + lead + (m.end() if m else 0)
                    s, _e = norm.original_span(at, at)
                    name = _name_after(seg.text[s:], lang)
                elif lang not in ("ar",):
                    am = re.match(rf"\s*({articles})\s*", window)
                    if am:
                        s, _e = norm.original_span(pos + am.start(1), pos + am.start(1))
                        candidate = _name_after(seg.text[s:], lang)
                        if len(candidate.split()) >= 2 and candidate[:1].isupper():
                            name = candidate
                if not name or len(name) < 3:
                    continue
                key = normalize(name).text
                if key in seen or named_publishers(key, known):
                    continue
                if document.publisher_id and named_publishers(key, [document.publisher]):
                    continue
                if any(_same_name(name, pub) for pub in related):
                    continue  # the detector related the document to this publisher's document
                seen.add(key)
                out.append({"name": name, "document": document.pk, "document_url": document.url,
                            "paragraph": k, "text": seg.text[:300], "start": seg.start, "end": seg.end,
                            "reason": "not archived",
                            "message": f"{name}, named in paragraph {k}: not archived"})
    return out


# ---------------------------------------------------------------------------------------------
# capturing (shared between concurrent traces)


@dataclass
class Obtained:
    url: str
    outcome: str  # captured, reused, shared, failed
    snapshot: Snapshot | None = None
    document: Document | None = None
    job: CaptureJob | None = None
    error: dict | None = None
    seconds: float = 0.0


def _fresh_snapshot(url: str, max_age: int) -> Snapshot | None:
    """The latest live page snapshot of ``url`` captured less than ``max_age`` seconds ago."""
    since = timezone.now() - timedelta(seconds=max_age)
    snap = (Snapshot.objects.live().pages().for_url(url).filter(captured_at__gte=since)
            .order_by("-captured_at", "-pk").first())
    return snap


def _http_error(final: Snapshot) -> dict | None:
    if final.status != 200:
        return {"code": "http_status", "message": f"the server answered HTTP {final.status}",
                "details": {"status": final.status, "snapshot": final.guid}}
    if not final.text:
        return {"code": "not_a_document", "message": f"no text to read ({final.mime or 'unknown type'})",
                "details": {"snapshot": final.guid}}
    return None


#: Key of the PostgreSQL advisory lock that serialises traces' derived-data writes (any value
#: unique to this use; "naql-trace" in ASCII).
DERIVE_LOCK_KEY = 0x6E61716C2D7472


@contextmanager
def derive_lock():
    """Serialise the derived-data work of concurrent traces (document, claims, relation detection,
    claim alignment): each step reads what exists and then writes, and two traces doing it on the
    same documents at once would both insert the same relation or claim link. On PostgreSQL a
    transaction-scoped advisory lock; SQLite already runs write transactions one at a time
    (IMMEDIATE), so nothing is added there. Captures (the network time) still run in parallel."""
    if connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", [DERIVE_LOCK_KEY])
        yield


def _derive(final: Snapshot) -> Document | None:
    """Document, claims and relations of a freshly captured page (the follow-up task's work)."""
    from provenance.tasks import process_snapshot

    with derive_lock():
        process_snapshot(final.pk)
        return document_for_snapshot(final, create=False)


def _capture_now(trace: Trace, url: str) -> tuple[CaptureJob, dict | None, Snapshot | None]:
    from provenance.signals import followup_by_caller

    opts = trace.options or {}
    job = submit(url, user=trace.created_by, requisites=bool(opts.get("requisites", True)), enqueue=False)
    # one attempt: the trace records a failure and goes on; a re-run of the trace tries again
    CaptureJob.objects.filter(pk=job.pk).update(max_attempts=1)
    with followup_by_caller():
        job = run_job(job.pk)
    if job.state != CaptureJob.State.SUCCEEDED:
        return job, job.error or {"code": "capture_failed", "message": "the capture failed"}, None
    final = job.snapshot.final or job.snapshot
    return job, _http_error(final), final


def obtain(trace: Trace, url: str, *, deadline: float) -> Obtained:
    """The snapshot and document of ``url`` for ``trace``: reused when fresh, else captured once
    for all traces needing it now (see the module docstring). Never raises for a URL that cannot be
    captured: the reason is in ``error``."""
    t0 = time.monotonic()
    try:
        clean = validate_url(url)
    except ArchiveError as exc:
        return Obtained(url, "failed", error=exc.as_dict())
    except ValueError as exc:
        return Obtained(url, "failed", error={"code": "invalid_url", "message": f"not a valid URL: {exc}"})
    reuse_age = int((trace.options or {}).get("reuse_age", settings.NAQL_TRACE_REUSE_AGE))
    fresh = _fresh_snapshot(clean, reuse_age)
    if fresh is not None:
        final = final_snapshot(fresh)
        err = _http_error(final)
        if err is None:
            doc = document_for_snapshot(final, create=False) or _derive(final)
            return Obtained(clean, "reused", final, doc, fresh.job, seconds=time.monotonic() - t0)
    key = surt_key(clean)
    lease, lead = _take_lease(trace, clean, key, reuse_age)
    if lead:
        try:
            job, err, final = _capture_now(trace, clean)
            doc = _derive(final) if err is None else None
            if err is None and doc is None:
                err = {"code": "not_a_document", "message": "no document could be made of the page"}
        except Exception as exc:  # noqa: BLE001 - a bug on one URL must not leave waiters hanging
            log.exception("trace %s: capture of %s crashed", trace.guid, clean)
            TraceCapture.objects.filter(pk=lease.pk).update(
                done_at=timezone.now(), error={"code": "internal_error", "message": type(exc).__name__})
            raise
        TraceCapture.objects.filter(pk=lease.pk).update(job=job, done_at=timezone.now(), error=err)
        return Obtained(clean, "failed" if err else "captured", final, doc, job, err, time.monotonic() - t0)
    # another trace is capturing it: wait for it, within our own budget
    while True:
        lease.refresh_from_db()
        if lease.done_at is not None:
            break
        if time.monotonic() > deadline:
            return Obtained(clean, "failed", error={"code": "bound_time_budget",
                                                    "message": "time budget spent waiting for another trace's capture"},
                            seconds=time.monotonic() - t0)
        time.sleep(WAIT_POLL)
    if lease.error or lease.job is None or lease.job.snapshot_id is None:
        return Obtained(clean, "failed", job=lease.job, error=lease.error or {"code": "capture_failed",
                                                                             "message": "the shared capture failed"},
                        seconds=time.monotonic() - t0)
    final = lease.job.snapshot.final or lease.job.snapshot
    return Obtained(clean, "shared", final, document_for_snapshot(final, create=False), lease.job,
                    seconds=time.monotonic() - t0)


def _take_lease(trace: Trace, url: str, key: str, reuse_age: int) -> tuple[TraceCapture, bool]:
    """(the shared-capture row of ``key``, whether this trace leads the capture)."""
    now = timezone.now()
    try:
        with transaction.atomic():
            return TraceCapture.objects.create(surt=key, url=url, trace=trace, claimed_at=now), True
    except IntegrityError:
        lease = TraceCapture.objects.get(surt=key)
    running = lease.done_at is None
    stale = (lease.claimed_at < now - LEASE_STALE) if running else (
        lease.error is not None and lease.done_at < (trace.started_at or now)  # failed before we began: retry
        or lease.done_at < now - timedelta(seconds=reuse_age))  # captured too long ago
    if not stale:
        return lease, False
    won = TraceCapture.objects.filter(pk=lease.pk, claimed_at=lease.claimed_at).update(
        trace=trace, url=url, job=None, claimed_at=now, done_at=None, error=None)
    lease.refresh_from_db()
    return lease, bool(won)


# ---------------------------------------------------------------------------------------------
# the engine


class _Run:
    def __init__(self, trace: Trace, on_step=None):
        self.trace, self.on_step = trace, on_step
        opts = trace.options or default_options()
        self.depth, self.max_docs = int(opts["depth"]), int(opts["max_documents"])
        self.t0 = time.monotonic()
        self.deadline = self.t0 + float(opts["time_budget"])
        self.docs: dict[int, int] = {}  # document pk -> hop
        self.keys: set[str] = set()  # SURT keys tried by this trace
        self.nodes: list[dict] = []
        self.failures: list[dict] = []
        self.steps: list[dict] = []
        self.timings = {"capture": 0.0, "candidates": 0.0, "detect": 0.0, "align": 0.0}
        self.attempts = 0

    # progress
    def step(self, phase: str, message: str, **info) -> None:
        self.steps = [*self.steps, {"at": round(time.monotonic() - self.t0, 2), "phase": phase,
                                    "message": message, **info}][-MAX_STEPS:]
        self.trace.report(phase=phase, hop=info.get("hop"), url=info.get("url", ""), steps=self.steps,
                          documents=len(self.docs), attempts=self.attempts, failures=len(self.failures),
                          max_documents=self.max_docs, depth=self.depth)
        if self.on_step is not None:
            self.on_step(self.steps[-1])

    def fail_candidate(self, url: str, hop: int, parent: Document | None, error: dict) -> None:
        self.failures.append({"url": url, "hop": hop, "from": parent.url if parent else None,
                              "code": error.get("code", "error"), "message": error.get("message", ""),
                              "details": error.get("details") or {}})

    def bounded(self) -> str | None:
        if self.attempts >= self.max_docs:
            return "max_documents"
        if time.monotonic() > self.deadline:
            return "time_budget"
        return None

    def add_document(self, doc: Document, hop: int) -> bool:
        if doc.pk in self.docs:
            return False
        self.docs[doc.pk] = hop
        self.keys.update(doc.url_keys())
        return True

    def visit(self, url: str, hop: int, parent: Document | None) -> Document | None:
        self.attempts += 1
        self.step("capturing", f"hop {hop}: {url}", hop=hop, url=url)
        t = time.monotonic()
        got = obtain(self.trace, url, deadline=self.deadline)
        self.timings["capture"] += time.monotonic() - t
        self.keys.add(surt_key(got.url))
        node = {"url": got.url, "hop": hop, "from": parent.url if parent else None, "outcome": got.outcome,
                "snapshot": got.snapshot.guid if got.snapshot else None,
                "document": got.document.pk if got.document else None,
                "job": got.job.guid if got.job else None, "seconds": round(got.seconds, 3)}
        self.nodes.append(node)
        if got.error:
            self.fail_candidate(got.url, hop, parent, got.error)
            self.step("capturing", f"hop {hop}: failed {url}: {got.error.get('message', '')}", hop=hop, url=url)
            return None
        return got.document

    def run(self) -> None:
        trace = self.trace
        start = self.visit(trace.url, 0, None)
        if start is None:
            err = self.failures[-1] if self.failures else {"code": "capture_failed", "message": "capture failed"}
            raise TraceFailed({"code": err["code"], "message": f"the starting URL could not be traced: {err['message']}",
                               "details": err.get("details") or {}})
        trace.document = start
        Trace.objects.filter(pk=trace.pk).update(document=start)
        self.add_document(start, 0)
        frontier = [start]
        for hop in range(1, self.depth + 2):
            nxt: list[Document] = []
            for doc in frontier:
                t = time.monotonic()
                cands = upstream_candidates(doc)
                if doc.pk == start.pk:  # sources the researcher gave for names the article left unlinked
                    cands += [Candidate(u, "link", "researcher", "given by the researcher")
                              for u in (trace.options or {}).get("sources", [])]
                self.timings["candidates"] += time.monotonic() - t
                for c in cands:
                    if c.document is not None and c.document.pk in self.docs:
                        self.fail_candidate(c.url, hop, doc, {"code": "already_in_trace",
                                                              "message": "already reached by this trace (a cycle or a "
                                                                         "shared source); not followed again"})
                        continue
                    if surt_key(c.url) in self.keys:
                        continue  # tried already (failed, or another URL of a document reached)
                    if hop > self.depth:
                        self.trace.stopped_by = self.trace.stopped_by or "depth"
                        self.fail_candidate(c.url, hop, doc, {"code": "bound_depth",
                                                              "message": f"beyond the depth bound ({self.depth} hops)"})
                        self.keys.add(surt_key(c.url))
                        continue
                    bound = self.bounded()
                    if bound:
                        self.trace.stopped_by = self.trace.stopped_by or bound
                        limit = self.max_docs if bound == "max_documents" else (trace.options or {}).get("time_budget")
                        self.fail_candidate(c.url, hop, doc, {"code": f"bound_{bound}",
                                                              "message": f"not followed: the {bound.replace('_', ' ')} "
                                                                         f"bound ({limit}) was reached"})
                        self.keys.add(surt_key(c.url))
                        continue
                    up = self.visit(c.url, hop, doc)
                    if up is not None and self.add_document(up, hop):
                        nxt.append(up)
                    elif up is not None:
                        self.fail_candidate(c.url, hop, doc, {"code": "already_in_trace",
                                                              "message": "resolves to a document already reached"})
            frontier = nxt
            if not frontier:
                break
        self.finish_relations()
        self.align()
        self.step("unresolved", "looking for sources named but not archived")
        unresolved = []
        for pk in self.docs:
            unresolved += unresolved_names(Document.objects.get(pk=pk))
        trace.unresolved = unresolved

    def finish_relations(self) -> None:
        from provenance.detect.attribution import detect_relations

        t = time.monotonic()
        self.step("detecting", f"relations between {len(self.docs)} document(s)")
        for pk in sorted(self.docs, key=lambda p: -self.docs[p]):  # upstream first
            with derive_lock():
                detect_relations(Document.objects.get(pk=pk))
        rels = Relation.objects.live().filter(source_id__in=self.docs, target_id__in=self.docs)
        self.trace.documents.set(self.docs)
        self.trace.relations.set(rels)
        self.timings["detect"] += time.monotonic() - t

    def align(self) -> None:
        from provenance.suggest import run_suggestions

        t = time.monotonic()
        edges = list(Relation.objects.live().filter(source_id__in=self.docs, type__in=ALIGN_TYPES)
                     .values_list("source_id", flat=True).distinct())
        order = sorted(set(edges), key=lambda p: -self.docs.get(p, 0))  # upstream first
        made = 0
        for pk in order:
            doc = Document.objects.get(pk=pk)
            self.step("aligning", f"claims of {doc.url}", url=doc.url, hop=self.docs.get(pk))
            with derive_lock():
                made += len(run_suggestions(doc))
        self.timings["align"] += time.monotonic() - t
        self.trace.alignment = {"documents_aligned": len(order), "links_suggested": made,
                                **claims_with_origin(self.trace.document)}


class TraceFailed(Exception):
    def __init__(self, error: dict):
        super().__init__(error.get("message", ""))
        self.error = error


def claims_with_origin(document: Document | None) -> dict:
    """How many claims of ``document`` have an accepted-or-suggested chain reaching an origin."""
    from provenance.chain import claim_origins
    from provenance.models import Claim, ReviewStatus

    if document is None:
        return {"claims": 0, "claims_with_origin": 0}
    claims = list(Claim.objects.filter(document=document).present())
    statuses = (ReviewStatus.ACCEPTED, ReviewStatus.SUGGESTED)
    n = sum(1 for c in claims if claim_origins(c, statuses=statuses))
    return {"claims": len(claims), "claims_with_origin": n}


def run_trace(trace_id: int, *, on_step=None) -> Trace:
    """Run a pending trace to its end (see the module docstring). Safe to call twice: only the
    claimant runs it. ``on_step(step_dict)`` is called with each progress step. Returns the
    trace, succeeded or failed (with a structured ``error``)."""
    trace = Trace.objects.get(pk=trace_id)
    if not trace.claim():
        return trace
    run = _Run(trace, on_step)
    trace.stopped_by = ""
    state, error = Trace.State.SUCCEEDED, None
    try:
        run.run()
    except TraceFailed as exc:
        state, error = Trace.State.FAILED, exc.error
    except Exception as exc:  # noqa: BLE001 - recorded as a structured failure, never left running
        log.exception("trace %s crashed", trace.guid)
        state, error = Trace.State.FAILED, {"code": "internal_error", "message": "internal error during the trace",
                                            "details": {"type": type(exc).__name__}}
    run.timings["total"] = time.monotonic() - run.t0
    trace.state, trace.error, trace.finished_at = state, error, timezone.now()
    trace.nodes, trace.failures = run.nodes, run.failures
    trace.timings = {k: round(v, 3) for k, v in run.timings.items()}
    trace.progress = {**(trace.progress or {}), "phase": "done" if state == Trace.State.SUCCEEDED else "failed",
                      "steps": run.steps, "documents": len(run.docs), "attempts": run.attempts,
                      "failures": len(run.failures)}
    trace.save()
    return trace


# ---------------------------------------------------------------------------------------------
# what the command, the API and the page show of a trace


def trace_dict(trace: Trace) -> dict:
    """A trace as JSON: state, bounds, timings, live progress, what it reached and what not."""
    progress = dict(trace.progress or {})
    steps = progress.pop("steps", [])
    rels = trace.relations.select_related("source", "target").order_by("source_id", "type", "target_id")
    return {
        "id": trace.guid, "url": trace.url, "state": trace.state, "done": trace.done,
        "created_by": trace.created_by.get_username() if trace.created_by_id else None,
        "created_at": trace.created_at.isoformat(),
        "started_at": trace.started_at.isoformat() if trace.started_at else None,
        "finished_at": trace.finished_at.isoformat() if trace.finished_at else None,
        "duration_seconds": round(trace.duration_seconds, 3) if trace.duration_seconds is not None else None,
        "runs": trace.runs, "options": trace.options, "progress": progress, "steps": steps,
        "document": ({"id": trace.document_id, "url": trace.document.url, "title": trace.document.title}
                     if trace.document_id else None),
        "documents": [{"id": d.pk, "url": d.url, "title": d.title, "language": d.language, "kind": d.kind,
                       "origin": d.kind in _origin_kinds() or not d.upstream().exists()}
                      for d in trace.documents.order_by("pk")],
        "relations": [{"id": r.pk, "source": r.source.url, "type": r.type, "target": r.target.url,
                       "status": r.status, "confidence": r.confidence, "rule": r.rule} for r in rels],
        "nodes": trace.nodes, "failures": trace.failures, "unresolved": trace.unresolved,
        "stopped_by": trace.stopped_by, "timings": trace.timings, "alignment": trace.alignment,
        "error": trace.error,
    }


def _origin_kinds():
    from provenance.suggest import ORIGIN_KINDS

    return ORIGIN_KINDS
