"""Documents and publishers from archive snapshots; canonical URL resolution.

A Document is identified by its canonical URL: the page's ``rel=canonical`` / ``og:url`` when it
stays on the same registered domain as the page (a page cannot claim another site's identity),
else the URL of the final response of the capture. The URLs that led to it (redirect hops, the
page URL when it differs from the canonical one) become alias URLs, so a link written with any of
them resolves to the document.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from django.db import IntegrityError, transaction

from archive.models import Snapshot
from archive.uri import iri_to_uri, surt_key
from provenance.models import Document, DocumentURL, Publisher, PublisherDomain, normalize_domain
from provenance.text.textnorm import base_lang, normalize

RULES = Path(__file__).with_name("rules") / "attribution.json"


@lru_cache(maxsize=1)
def rules() -> dict:
    return json.loads(RULES.read_text(encoding="utf-8"))


def host_of(url: str) -> str:
    host = (urlsplit(url).hostname or "").lower().strip(".")
    return host[4:] if host.startswith("www.") else host


@lru_cache(maxsize=1)
def _public_suffixes():
    from publicsuffixlist import PublicSuffixList  # the list ships with the package: no network

    return PublicSuffixList()


def registered_domain(url_or_host: str) -> str:
    """The registrable domain (public suffix + one label) of a URL or host, by the Public Suffix
    List: ``www.elespanol.com`` → ``elespanol.com``, ``news.bbc.co.uk`` → ``bbc.co.uk``,
    ``x.blogspot.com`` → ``x.blogspot.com`` (a private suffix: each blog is its own site).
    An IP address, or a host that is itself a public suffix, is returned as it is."""
    host = host_of(url_or_host) if "/" in url_or_host else url_or_host.lower().strip(".")
    if not host or host.replace(".", "").isdigit() or ":" in host:
        return host
    return _public_suffixes().privatesuffix(host) or host


def same_site(a: str, b: str) -> bool:
    return bool(host_of(a)) and registered_domain(a) == registered_domain(b)


def platform_account(url: str) -> tuple[str, str, str] | None:
    """(host, account, document kind) when ``url`` is a post on a known social platform."""
    parts = urlsplit(url)
    host = host_of(url)
    for rule in rules()["platforms"]:
        if host in rule["hosts"]:
            m = re.match(rule["pattern"], parts.path or "/")
            if m:
                return host, m.group("account"), rule["kind"]
    return None


def text_language(snap: Snapshot, doc: Document) -> str:
    """Base language of ``snap``'s text (the snapshot's own, else the document's)."""
    return base_lang(snap.language or doc.language)


def final_snapshot(snap: Snapshot) -> Snapshot:
    return snap.final if snap.final_id else snap


def canonical_url(snap: Snapshot) -> str:
    snap = final_snapshot(snap)
    canon = (snap.canonical_url or "").strip()
    if canon and same_site(canon, snap.url):
        return iri_to_uri(canon)
    return iri_to_uri(snap.url)


def resolve_url(url: str) -> Document | None:
    """The document a link points to: by canonical or alias URL, else through an archived redirect."""
    url = iri_to_uri(url)
    doc = Document.objects.for_url(url).first()
    if doc:
        return doc
    snap = Snapshot.objects.live().pages().for_url(url).order_by("-captured_at").first()
    if snap is not None and snap.final_id:
        final = snap.final
        return Document.objects.for_url(final.url).first() or Document.objects.for_url(canonical_url(final)).first()
    return None


def document_for_url(url: str) -> Document | None:
    """Like :func:`resolve_url`, but builds the document from archived snapshots of ``url`` when the
    post-capture task has not run yet (queued, or a capture inside a test transaction)."""
    doc = resolve_url(url)
    if doc is not None:
        return doc
    snap = Snapshot.objects.live().pages().for_url(iri_to_uri(url)).order_by("-captured_at").first()
    return document_for_snapshot(snap) if snap is not None else None


# ---------------------------------------------------------------------------------------------
# publishers


def _account_name(snap: Snapshot, host: str, account: str) -> str:
    for link in (snap.extracted or {}).get("links", []):
        path = urlsplit(link.get("url", "")).path.strip("/")
        if host_of(link.get("url", "")) == host and path.lower() == account.lower() and link.get("text"):
            return link["text"].strip()
    return snap.byline or f"@{account}"


def publisher_for(snap: Snapshot) -> Publisher:
    """Find or create the publisher of a page snapshot (a social account for posts).

    Found through the :class:`~provenance.models.PublisherDomain` index (one lookup, flat in the
    number of publishers). Two workers tracing pages of a new site at once create one publisher:
    the domain is unique, the loser's insert is rolled back and it takes the winner's.
    """
    snap = final_snapshot(snap)
    acc = platform_account(snap.url)
    if acc:
        host, account, _kind = acc
        key = normalize_domain(f"{host}/{account}")
        return _find_or_create(
            key, lambda: Publisher.objects.filter(kind=Publisher.Kind.SOCIAL, domain_rows__domain=key).first(),
            name=_account_name(snap, host, account), kind=Publisher.Kind.SOCIAL, language=snap.language,
            domains=[key], aliases=[f"@{account}", account], homepage=f"https://{host}/{account}")
    domain = normalize_domain(registered_domain(snap.url))
    name = (snap.extracted or {}).get("site_name") or domain
    return _find_or_create(
        domain, lambda: Publisher.objects.for_domain(domain).exclude(kind=Publisher.Kind.SOCIAL).first(),
        name=name, kind=Publisher.Kind.NEWS, language=snap.language, domains=[domain],
        aliases=name_parts(name), homepage=f"{urlsplit(snap.url).scheme}://{urlsplit(snap.url).netloc}/")


class _DomainTaken(Exception):
    """Another transaction recorded the domain first (rolls back our new publisher)."""


def _find_or_create(key: str, find, **fields) -> Publisher:
    for _attempt in range(3):
        found = find()
        if found is not None:
            return found
        try:
            with transaction.atomic():
                pub = Publisher.objects.create(**fields)
                if not PublisherDomain.objects.filter(domain=key, publisher=pub).exists():
                    raise _DomainTaken(key)
                return pub
        except _DomainTaken:
            continue
    holder = PublisherDomain.objects.filter(domain=key).select_related("publisher").first()
    if holder is None:
        raise RuntimeError(f"could not record a publisher for {key!r}")
    return holder.publisher


def name_parts(site_name: str) -> list[str]:
    """The names inside a bilingual or composite site name ("Ministère de l'Eau | وزارة الماء",
    "Watan – وطن"): each part is an alias of the publisher (names in several scripts)."""
    parts = [p.strip() for p in re.split(r"\s+[|–—-]\s+|\s*[|]\s*", site_name or "") if p.strip()]
    return [p for p in parts if len(p) >= 2 and p != site_name] if len(parts) > 1 else []


def _document_kind(snap: Snapshot) -> str:
    if platform_account(snap.url):
        return Document.Kind.POST
    title = normalize(snap.title or "").text
    for kind, words in rules()["document_kinds"].items():
        if any(re.search(rf"(^|\W){re.escape(normalize(w).text)}(\W|$)", title) for w in words):
            return kind
    return Document.Kind.ARTICLE


# ---------------------------------------------------------------------------------------------
# documents


def _add_alias(doc: Document, url: str, reason: str) -> None:
    url = iri_to_uri(url)
    key = surt_key(url)
    if key == doc.surt or DocumentURL.objects.filter(surt=key).exists():
        return
    DocumentURL.objects.create(document=doc, url=url, reason=reason)


def document_for_snapshot(snap: Snapshot, *, create: bool = True) -> Document | None:
    """The Document a page snapshot is a version of; created (with its publisher) if new.

    Metadata (title, byline, language, dates) follows the newest snapshot; manual edits made in
    the admin are overwritten only when the snapshot is newer than the document's last update.
    The row is shared by everyone who may see any version, so it follows the newest version of
    the widest audience: a version private to a group never writes its title or byline over
    those of a public one (or of another group's), issue 17; :mod:`provenance.visibility`
    redacts what older rows may still carry.
    """
    snap = final_snapshot(snap)
    if snap.status != 200 or not snap.text:
        return None
    canon = canonical_url(snap)
    hops = [s.url for s in Snapshot.objects.filter(final=snap)]
    for attempt in range(3):
        doc = None
        for u in [canon, snap.url, *hops]:
            doc = Document.objects.for_url(u).first()
            if doc:
                break
        if doc is None and not create:
            return None
        try:
            return _write_document(doc, canon, snap, hops)
        except IntegrityError:
            # Another worker (or a second trace of the same URL) created this document, or one of
            # its URL aliases, between our lookup and our insert: look it up again and update it.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _write_document(doc: Document | None, canon: str, snap: Snapshot, hops: list[str]) -> Document:
    with transaction.atomic():
        if doc is None:
            doc = Document(url=canon)
        newest = doc.pk is None or not doc.snapshots().filter(captured_at__gt=snap.captured_at).exists()
        if doc.pk is not None and snap.private_to_group_id is not None:
            # a private version names the document only while no other audience sees a version
            newest = newest and not doc.snapshots().exclude(private_to_group=snap.private_to_group_id).exists()
        elif doc.pk is not None and not newest:
            # a public version is "newest" when only private versions are newer
            newest = not doc.snapshots().filter(captured_at__gt=snap.captured_at,
                                                private_to_group__isnull=True).exists()
        before = (doc.title, doc.byline, doc.language, doc.published_at, doc.publisher_id)
        if newest:
            doc.title = snap.title or doc.title
            doc.byline = snap.byline or doc.byline
            doc.language = snap.language or doc.language
            doc.published_at = snap.published_at or doc.published_at
            if doc.pk is None:
                doc.kind = _document_kind(snap)
        if doc.publisher_id is None:
            doc.publisher = publisher_for(snap)
        changed = before != (doc.title, doc.byline, doc.language, doc.published_at, doc.publisher_id)
        if doc.pk is None or changed:  # an unchanged recapture writes no row (nor a history row)
            doc.save()
        for u, reason in [(snap.url, "page"), *[(h, "redirect") for h in hops]]:
            _add_alias(doc, u, reason)
    return doc


def ensure_all_documents() -> list[Document]:
    """Documents for every live page snapshot (for back-filling after an upgrade)."""
    out = []
    for snap in Snapshot.objects.live().pages().filter(status=200).exclude(text="").order_by("captured_at"):
        doc = document_for_snapshot(snap)
        if doc and doc not in out:
            out.append(doc)
    return out
