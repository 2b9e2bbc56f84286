"""Provenance models: who said what first.

Publishers publish Documents (works identified by a canonical URL); a Document's versions are the
archive Snapshots of its URLs. Relations link a document to an upstream document (translation_of,
quotes, cites …); Claims are spans of one snapshot's text with W3C Web Annotation selectors;
ClaimLinks tie a claim to the upstream claim or document it comes from. Every model keeps its
full history (django-simple-history): nothing about provenance is silently overwritten, and each
change records who made it (the history middleware sets the user for admin/API edits).

Business rules live in plain modules (documents, claims, attribution, anchoring, chain); this
module holds the data, the named querysets and small model methods only.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Func, OuterRef, Q, Subquery
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from archive.ids import new_guid
from archive.models import Snapshot
from archive.uri import iri_to_uri, surt_key


class ReviewStatus(models.TextChoices):
    SUGGESTED = "suggested", _("suggested")
    ACCEPTED = "accepted", _("accepted")
    REJECTED = "rejected", _("rejected")


# ---------------------------------------------------------------------------------------------
# Publisher
# ---------------------------------------------------------------------------------------------


class PublisherQuerySet(models.QuerySet):
    def for_domain(self, host: str):
        """Publishers one of whose domains is ``host`` or a parent domain of it.

        One indexed lookup in :class:`PublisherDomain` (at most one candidate per label of
        ``host``), whatever the number of publishers.
        """
        host = normalize_domain(host)
        parts = host.split(".")
        candidates = {".".join(parts[i:]) for i in range(len(parts) - 1)} | {host}
        return self.filter(pk__in=PublisherDomain.objects.filter(domain__in=candidates).values("publisher_id"))

    def of_kind(self, kind: str):
        return self.filter(kind=kind)


class Publisher(models.Model):
    class Kind(models.TextChoices):
        NEWS = "news", "news site"
        AGENCY = "agency", "news agency"
        GOVERNMENT = "government", "government or military body"
        NGO = "ngo", "NGO or association"
        SOCIAL = "social", "social media account"
        PERSON = "person", "person"
        OTHER = "other", "other"

    name = models.CharField(max_length=300, help_text="Name as the publisher writes it (site name, account name).")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.NEWS,
                            help_text="What sort of publisher this is.")
    language = models.CharField(max_length=20, blank=True, help_text="Main language (ISO 639-1), if one.")
    domains = models.JSONField(default=list, blank=True,
                               help_text="Host names (or host/path prefixes for social accounts) it publishes on.")
    aliases = models.JSONField(default=list, blank=True,
                               help_text="Other names: translations, transliterations, handles (@name), acronyms. "
                                         "Used to match sources named without a link.")
    homepage = models.URLField(max_length=500, blank=True, help_text="Home page or profile URL.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    history = HistoricalRecords()

    objects = PublisherQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def names(self) -> list[str]:
        return [n for n in [self.name, *self.aliases] if n]

    def domains_taken(self) -> dict[str, str]:
        """``{domain: other publisher's name}`` for each of this publisher's domains that another
        publisher already holds (a domain names one publisher: :class:`PublisherDomain`)."""
        wanted = {normalize_domain(d) for d in self.domains or [] if normalize_domain(d)}
        rows = PublisherDomain.objects.filter(domain__in=wanted).select_related("publisher")
        if self.pk:
            rows = rows.exclude(publisher_id=self.pk)
        return {r.domain: r.publisher.name for r in rows}

    def clean(self) -> None:
        super().clean()
        taken = self.domains_taken()
        if taken:
            raise ValidationError({"domains": [
                _("%(domain)s is already a domain of the publisher %(name)s.") % {"domain": d, "name": n}
                for d, n in sorted(taken.items())]})

    def sync_domain_index(self) -> None:
        """Make :class:`PublisherDomain` hold exactly this publisher's ``domains`` (those no
        other publisher holds: :meth:`clean` reports the others to the editor)."""
        wanted = {normalize_domain(d) for d in self.domains or []} - {""}
        PublisherDomain.objects.filter(publisher=self).exclude(domain__in=wanted).delete()
        have = set(PublisherDomain.objects.filter(domain__in=wanted).values_list("domain", flat=True))
        PublisherDomain.objects.bulk_create([PublisherDomain(publisher=self, domain=d) for d in wanted - have],
                                            ignore_conflicts=True)


def normalize_domain(value: str) -> str:
    """A publisher domain as indexed: lower case, no leading/trailing dots or slashes
    (``host`` or ``host/account`` for a social account)."""
    return (value or "").strip().lower().strip("./")


class PublisherDomain(models.Model):
    """Index of :attr:`Publisher.domains`: one row per domain, unique, so finding the publisher
    of a host is one indexed lookup and two workers cannot create two publishers of one domain.
    Derived from ``Publisher.domains`` (that list, with its history, is the record): kept in step
    by a ``post_save`` receiver, filled for existing publishers by migration ``0005``."""

    publisher = models.ForeignKey(Publisher, on_delete=models.CASCADE, related_name="domain_rows")
    domain = models.CharField(max_length=300, unique=True)

    def __str__(self) -> str:
        return self.domain


@receiver(post_save, sender=Publisher, dispatch_uid="publisher-domain-index")
def _index_publisher_domains(sender, instance: Publisher, **kwargs) -> None:
    # post_save rather than save(): fixtures (loaddata) save raw and skip save().
    instance.sync_domain_index()


# ---------------------------------------------------------------------------------------------
# Document
# ---------------------------------------------------------------------------------------------


class DocumentQuerySet(models.QuerySet):
    def for_url(self, url: str):
        """The document whose canonical URL or one of whose alias URLs is ``url`` (SURT match)."""
        key = surt_key(iri_to_uri(url))
        return self.filter(Q(surt=key) | Q(urls__surt=key)).distinct()

    def in_language(self, lang: str):
        return self.filter(language=lang)

    def with_claims(self):
        return self.filter(claims__isnull=False).distinct()

    def with_counts(self):
        """Annotate ``n_snapshots`` (as :meth:`Document.snapshots` counts them) and ``n_claims``
        with subqueries, so a list of documents costs one query, not three per row."""
        snaps = (Snapshot.objects.live().pages().filter(status=200).exclude(text="")
                 .filter(Q(surt=OuterRef("surt"))
                         | Q(surt__in=DocumentURL.objects.filter(document=OuterRef(OuterRef("pk"))).values("surt"))))
        claims = Claim.objects.filter(document=OuterRef("pk"))
        return self.annotate(n_snapshots=_count(snaps), n_claims=_count(claims))


def _count(qs) -> Subquery:
    """``COUNT(*)`` of ``qs`` as a scalar subquery (0 when empty)."""
    # COUNT as a plain Func is not an aggregate to the ORM, so it adds no GROUP BY.
    return Subquery(qs.order_by().annotate(n=Func(F("pk"), function="COUNT")).values("n"),
                    output_field=models.IntegerField())


class Document(models.Model):
    class Kind(models.TextChoices):
        ARTICLE = "article", "article"
        POST = "post", "social media post"
        COMMUNIQUE = "communique", "communiqué"
        STATEMENT = "statement", "statement"
        REPORT = "report", "report"
        OTHER = "other", "other"

    url = models.TextField(help_text="Canonical URL (rel=canonical / og:url, redirects resolved), ASCII form.")
    surt = models.CharField(max_length=2000, unique=True, help_text="SURT key of the canonical URL.")
    publisher = models.ForeignKey(Publisher, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="documents", help_text="Who published it.")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.ARTICLE)
    language = models.CharField(max_length=20, blank=True, help_text="Language (ISO 639-1) of the document.")
    title = models.TextField(blank=True, help_text="Title (from the latest snapshot unless edited).")
    byline = models.CharField(max_length=500, blank=True, help_text="Author or credit line.")
    published_at = models.DateTimeField(null=True, blank=True, help_text="Publication date the page states.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    objects = DocumentQuerySet.as_manager()

    class Meta:
        ordering = ["-published_at", "url"]

    #: ``f(document) -> str``: the title as the person being served may see it; set by
    #: ``provenance.visibility`` when the app is ready (a hook, so models import no view code)
    display_title = None

    def __str__(self) -> str:
        hook = Document.display_title
        return hook(self) if hook is not None else (self.title or self.url)

    def save(self, *args, **kwargs):
        self.url = iri_to_uri(self.url)
        self.surt = surt_key(self.url)
        super().save(*args, **kwargs)

    def url_keys(self) -> list[str]:
        return [self.surt, *self.urls.values_list("surt", flat=True)]

    def snapshots(self):
        """Its versions: live page snapshots (status 200) of the canonical URL or an alias, oldest first."""
        return (Snapshot.objects.live().pages().filter(surt__in=self.url_keys(), status=200)
                .exclude(text="").order_by("captured_at", "pk"))

    def latest_snapshot(self) -> Snapshot | None:
        return self.snapshots().last()

    def upstream(self):
        return self.relations_up.exclude(status=ReviewStatus.REJECTED)

    def downstream(self):
        return self.relations_down.exclude(status=ReviewStatus.REJECTED)


class DocumentURL(models.Model):
    """Another URL of a document: a redirecting URL, a non-canonical variant, a mirror."""

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="urls")
    url = models.TextField(help_text="The URL as found (ASCII form).")
    surt = models.CharField(max_length=2000, unique=True, help_text="SURT key of the URL.")
    reason = models.CharField(max_length=40, blank=True, help_text="redirect, canonical, mirror, manual …")
    history = HistoricalRecords()

    def __str__(self) -> str:
        return self.url

    def save(self, *args, **kwargs):
        self.url = iri_to_uri(self.url)
        self.surt = surt_key(self.url)
        super().save(*args, **kwargs)


# ---------------------------------------------------------------------------------------------
# Relation
# ---------------------------------------------------------------------------------------------


class RelationQuerySet(models.QuerySet):
    def accepted(self):
        return self.filter(status=ReviewStatus.ACCEPTED)

    def suggested(self):
        return self.filter(status=ReviewStatus.SUGGESTED)

    def live(self):
        """Not rejected: what the chain shows."""
        return self.exclude(status=ReviewStatus.REJECTED)

    def detected(self):
        return self.exclude(detector="")

    def manual(self):
        return self.filter(detector="")


class Relation(models.Model):
    """``source`` (downstream) → ``target`` (upstream), typed, with the evidence that shows it."""

    class Type(models.TextChoices):
        TRANSLATION_OF = "translation_of", _("translation of")
        QUOTES = "quotes", _("quotes")
        CITES = "cites", _("cites")
        ATTRIBUTES_TO = "attributes_to", _("names as its source (no link)")
        REPUBLISHES = "republishes", _("republishes")
        DERIVED_FROM = "derived_from", _("derived from")

    source = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="relations_up",
                               help_text="The downstream document (the one that uses the other).")
    target = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="relations_down",
                               help_text="The upstream document (the one used).")
    type = models.CharField(max_length=20, choices=Type.choices)
    evidence_snapshot = models.ForeignKey(Snapshot, null=True, blank=True, on_delete=models.PROTECT,
                                          related_name="+", help_text="Snapshot of the source showing the evidence.")
    evidence_text = models.TextField(blank=True, help_text="The words of the source that show the relation.")
    evidence_url = models.TextField(blank=True, help_text="The link or embed URL as written in the source.")
    evidence_start = models.PositiveIntegerField(null=True, blank=True,
                                                 help_text="Start offset of the evidence in the snapshot text.")
    evidence_end = models.PositiveIntegerField(null=True, blank=True)
    evidence = models.JSONField(default=dict, blank=True,
                                help_text="Why: {summary (human-readable), decision, content (alignment coverage, "
                                          "order, language, verbatim share, quotations found), cues [{rule, type, "
                                          "text, start, end, url, direct}]}.")
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+", help_text="Person who recorded it (empty for a detector).")
    detector = models.CharField(max_length=100, blank=True, help_text="Detector that proposed it (empty: manual).")
    detector_version = models.CharField(max_length=40, blank=True)
    rule = models.CharField(max_length=100, blank=True, help_text="Id of the attribution rule that fired.")
    confidence = models.FloatField(default=1.0, help_text="Confidence in [0, 1].")
    status = models.CharField(max_length=12, choices=ReviewStatus.choices, default=ReviewStatus.SUGGESTED)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    history = HistoricalRecords()

    objects = RelationQuerySet.as_manager()

    class Meta:
        ordering = ["source", "type", "target"]
        constraints = [models.UniqueConstraint(fields=["source", "target", "type"], name="relation_unique")]

    def __str__(self) -> str:
        # isolates: two Arabic titles around a Latin label would otherwise read backwards
        return f"\u2068{self.source}\u2069 —{self.get_type_display()}→ \u2068{self.target}\u2069"

    def clean(self):
        if self.source_id and self.source_id == self.target_id:
            raise ValidationError("a document cannot be its own upstream")

    @property
    def recorded_by_label(self) -> str:
        """Machine label (API, PROV): the detector and its version, or the user name."""
        if self.detector:
            return f"{self.detector} {self.detector_version}".strip()
        return str(self.recorded_by or "unknown")

    @property
    def recorded_by_display(self) -> str:
        """Who recorded it, in plain words for the pages ("found automatically", "entered by …")."""
        from django.utils.translation import gettext

        if self.detector:
            return gettext("found automatically in the text")
        if self.recorded_by_id:
            return gettext("entered by %(user)s") % {"user": self.recorded_by}
        return gettext("entered by hand")


# ---------------------------------------------------------------------------------------------
# Claim
# ---------------------------------------------------------------------------------------------


class ClaimQuerySet(models.QuerySet):
    def in_document(self, document):
        return self.filter(document=document)

    def on_snapshot(self, snapshot):
        return self.filter(snapshot=snapshot)

    def present(self):
        """Claims still found on the latest snapshot checked (not removed)."""
        return self.exclude(anchor_state=Claim.AnchorState.REMOVED)

    def in_text_order(self):
        return self.order_by("snapshot__captured_at", "start", "pk")


class Claim(models.Model):
    """A span of one snapshot's text, with W3C Web Annotation selectors over ``Snapshot.text``."""

    class Kind(models.TextChoices):
        FACT = "fact", _("fact")
        QUOTE = "quote", _("direct quote")
        ATTRIBUTED = "attributed_statement", _("attributed statement")
        BACKGROUND = "background", _("background")

    class AnchorState(models.TextChoices):
        ANCHORED = "anchored", _("as first captured")
        UNCHANGED = "unchanged", _("unchanged in a later version")
        MOVED = "moved", _("moved in a later version")
        EDITED = "edited", _("reworded in a later version")
        REMOVED = "removed", _("gone from a later version")

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="claims")
    snapshot = models.ForeignKey(Snapshot, on_delete=models.PROTECT, related_name="+",
                                 help_text="The snapshot the selectors point into (the evidence).")
    exact = models.TextField(help_text="TextQuoteSelector exact: the claim's text.")
    prefix = models.CharField(max_length=64, blank=True, help_text="TextQuoteSelector prefix (32 characters).")
    suffix = models.CharField(max_length=64, blank=True, help_text="TextQuoteSelector suffix (32 characters).")
    start = models.PositiveIntegerField(help_text="TextPositionSelector start (offset in Snapshot.text).")
    end = models.PositiveIntegerField(help_text="TextPositionSelector end (exclusive).")
    kind = models.CharField(max_length=24, choices=Kind.choices, default=Kind.FACT)
    language = models.CharField(max_length=20, blank=True)
    speaker = models.CharField(max_length=300, blank=True, help_text="Who the sentence says is speaking, if named.")
    origin = models.CharField(max_length=20, default="segmenter", help_text="segmenter, manual or gold import.")
    # re-anchoring on newer snapshots of the same document
    anchor_state = models.CharField(max_length=12, choices=AnchorState.choices, default=AnchorState.ANCHORED)
    anchor_snapshot = models.ForeignKey(Snapshot, null=True, blank=True, on_delete=models.PROTECT,
                                        related_name="+", help_text="Newest snapshot the claim was re-anchored on.")
    anchor_exact = models.TextField(blank=True, help_text="Text found on the newer snapshot (differs when edited).")
    anchor_start = models.PositiveIntegerField(null=True, blank=True)
    anchor_end = models.PositiveIntegerField(null=True, blank=True)
    anchor_score = models.FloatField(null=True, blank=True, help_text="Match score in [0, 1] (1: exact).")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    history = HistoricalRecords()

    objects = ClaimQuerySet.as_manager()

    class Meta:
        ordering = ["document", "snapshot", "start", "pk"]
        indexes = [models.Index(fields=["snapshot", "start"], name="claim_snapshot_start")]

    def __str__(self) -> str:
        text = self.exact if len(self.exact) <= 80 else self.exact[:77] + "…"
        return text

    def clean(self):
        if self.snapshot_id and self.snapshot.text[self.start:self.end] != self.exact:
            raise ValidationError("exact does not match the snapshot text at start:end")

    def selectors(self) -> list[dict]:
        """W3C Web Annotation selectors of the claim on its snapshot."""
        return [
            {"type": "TextQuoteSelector", "exact": self.exact, "prefix": self.prefix, "suffix": self.suffix},
            {"type": "TextPositionSelector", "start": self.start, "end": self.end},
        ]

    @property
    def current_snapshot(self) -> Snapshot:
        return self.anchor_snapshot or self.snapshot

    @property
    def current_exact(self) -> str:
        return self.anchor_exact or self.exact


# ---------------------------------------------------------------------------------------------
# ClaimLink
# ---------------------------------------------------------------------------------------------


class ClaimLinkQuerySet(models.QuerySet):
    def accepted(self):
        return self.filter(status=ReviewStatus.ACCEPTED)

    def suggested(self):
        return self.filter(status=ReviewStatus.SUGGESTED)

    def automatic(self):
        return self.filter(method=ClaimLink.Method.AUTOMATIC)

    def origins(self):
        return self.filter(origin=True)


class ClaimLink(models.Model):
    """Claim → the upstream claim (a span of an upstream snapshot) or upstream document it comes from."""

    class Relation(models.TextChoices):
        TRANSLATION = "translation", _("translation")
        PARAPHRASE = "paraphrase", _("paraphrase")
        QUOTE = "quote", _("quote")

    class Method(models.TextChoices):
        MANUAL = "manual", "manual"
        AUTOMATIC = "automatic", "automatic"

    claim = models.ForeignKey(Claim, on_delete=models.CASCADE, related_name="links",
                              help_text="The downstream claim.")
    upstream_claim = models.ForeignKey(Claim, null=True, blank=True, on_delete=models.CASCADE,
                                       related_name="downstream_links", help_text="The upstream span, if known.")
    upstream_document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="claim_links_in",
                                          help_text="The upstream document (set from the upstream claim if given).")
    relation = models.CharField(max_length=12, choices=Relation.choices)
    origin = models.BooleanField(default=False, help_text="The upstream is the first known appearance (primary).")
    confidence = models.FloatField(default=1.0, help_text="Confidence in [0, 1].")
    method = models.CharField(max_length=10, choices=Method.choices, default=Method.MANUAL)
    method_name = models.CharField(max_length=100, blank=True, help_text="Automatic method name.")
    method_version = models.CharField(max_length=40, blank=True)
    status = models.CharField(max_length=12, choices=ReviewStatus.choices, default=ReviewStatus.SUGGESTED)
    note = models.TextField(blank=True)
    signals = models.JSONField(default=dict, blank=True, help_text="What an automatic method based its score on.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    history = HistoricalRecords()

    objects = ClaimLinkQuerySet.as_manager()

    class Meta:
        ordering = ["claim", "-origin", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["claim", "upstream_claim"], condition=Q(upstream_claim__isnull=False),
                                    name="claimlink_unique_claim"),
        ]

    def __str__(self) -> str:
        return f"{self.claim_id} —{self.relation}→ {self.upstream_claim_id or self.upstream_document_id}"

    def save(self, *args, **kwargs):
        if self.upstream_claim_id and not self.upstream_document_id:
            self.upstream_document_id = self.upstream_claim.document_id
        super().save(*args, **kwargs)

    def clean(self):
        if self.upstream_claim_id and self.upstream_claim_id == self.claim_id:
            raise ValidationError("a claim cannot link to itself")
        if self.upstream_claim_id and self.upstream_document_id \
                and self.upstream_claim.document_id != self.upstream_document_id:
            raise ValidationError("the upstream claim belongs to another document")

    @property
    def method_label(self) -> str:
        """Machine label (API, PROV): "manual" or the automatic method and its version."""
        if self.method == self.Method.MANUAL:
            return "manual"
        return f"{self.method_name} {self.method_version}".strip()

    @property
    def method_display(self) -> str:
        """How the link was made, in plain words for the pages."""
        from django.utils.translation import gettext

        if self.method == self.Method.MANUAL:
            if self.created_by_id:
                return gettext("linked by %(user)s") % {"user": self.created_by}
            return gettext("linked by hand")
        return gettext("suggested automatically")

    def set_status(self, status: str, *, user=None, note: str = "") -> None:
        """Accept or reject; history records who (pass the user when not in a request)."""
        self.status = status
        if note:
            self.note = note
        if user is not None:
            self._history_user = user
        self.save(update_fields=["status", "note"])


# ---------------------------------------------------------------------------------------------
# Detection index
# ---------------------------------------------------------------------------------------------


class DocumentIndex(models.Model):
    """What the relation detector needs to know about a document without re-reading its text:
    the snapshot it was last examined on, and a document vector (mean sentence embedding) for
    cross-language similarity. Keys to look it up by are :class:`IndexKey` rows. Derived data:
    rebuilt by the follow-up task (``provenance.detect.candidates.index_document``)."""

    document = models.OneToOneField(Document, on_delete=models.CASCADE, related_name="detection_index")
    snapshot = models.ForeignKey(Snapshot, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                                 help_text="Snapshot the detector last examined (the follow-up is done for it).")
    vector = models.JSONField(null=True, blank=True, help_text="L2-normalised mean sentence embedding, or null.")
    vector_model = models.CharField(max_length=100, blank=True, help_text="Embedder name and version of the vector.")
    indexed_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"index of {self.document_id} @ snapshot {self.snapshot_id}"


class IndexKey(models.Model):
    """One lookup key of a document's latest snapshot (``kind``): ``link`` = SURT of an outbound
    link or embed; ``name`` = a word (``t:``) or consonant skeleton (``s:``) near an attribution
    cue, in a byline, credit line or dateline; ``quote`` = hash of the first words of a quotation;
    ``text`` = hash of every run of words of the body (to find who said a quotation first).
    Lets the follow-up of a capture find the documents it affects with indexed queries."""

    class Kind(models.TextChoices):
        LINK = "link", "outbound link"
        NAME = "name", "named source word"
        QUOTE = "quote", "quotation fingerprint"
        TEXT = "text", "body word-run fingerprint"

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="index_keys")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    key = models.CharField(max_length=255)

    class Meta:
        indexes = [models.Index(fields=["kind", "key"], name="indexkey_kind_key")]
        constraints = [models.UniqueConstraint(fields=["document", "kind", "key"], name="indexkey_unique")]

    def __str__(self) -> str:
        return f"{self.kind}:{self.key}"


# ---------------------------------------------------------------------------------------------
# Trace
# ---------------------------------------------------------------------------------------------


class TraceQuerySet(models.QuerySet):
    def for_url(self, url: str):
        return self.filter(surt=surt_key(iri_to_uri(url)))

    def active(self):
        return self.filter(state__in=[Trace.State.PENDING, Trace.State.RUNNING])

    def visible_to(self, user):
        """Traces ``user`` may see: their own; every trace for superusers. Not every trace for all
        staff: a trace lists the documents it reached, which may be private to a group (the
        visibility layer's rule: staff rights do not open a group's snapshots)."""
        if user is None or not user.is_authenticated:
            return self.none()
        return self if user.is_superuser else self.filter(created_by=user)


class Trace(models.Model):
    """One URL in, its chain out: the start URL captured (or a fresh capture reused), upstream
    candidates with attribution evidence captured hop by hop within bounds, relations detected and
    claims aligned along the chain (see :mod:`provenance.trace`). The trace owns its state
    transitions (pending → running → succeeded/failed) like a capture job, and can be re-run."""

    class State(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    guid = models.CharField(max_length=9, unique=True, default=new_guid, editable=False,
                            help_text="Short ID, e.g. K7QM-4XR2.")
    url = models.TextField(help_text="The starting URL (ASCII form, as guarded).")
    surt = models.CharField(max_length=2000, db_index=True, help_text="SURT key of the starting URL.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="traces", help_text="Who asked for it (empty: command line).")
    state = models.CharField(max_length=12, choices=State.choices, default=State.PENDING, db_index=True)
    options = models.JSONField(default=dict, blank=True,
                               help_text="Bounds and settings: depth, max_documents, time_budget (s), "
                                         "reuse_age (s), requisites.")
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    runs = models.PositiveSmallIntegerField(default=0, help_text="How many times it has been run.")
    progress = models.JSONField(default=dict, blank=True,
                                help_text="Live progress: phase, hop, url, counts, and the ordered steps.")
    document = models.ForeignKey(Document, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                                 help_text="The document at the starting URL, once captured.")
    documents = models.ManyToManyField(Document, blank=True, related_name="traces",
                                       help_text="Documents of the chain the trace reached (the start included).")
    relations = models.ManyToManyField(Relation, blank=True, related_name="traces",
                                       help_text="Relations between those documents found by the trace.")
    nodes = models.JSONField(default=list, blank=True,
                             help_text="Per URL reached: url, hop, from, outcome (captured, reused, shared), "
                                       "snapshot, document, job, seconds.")
    failures = models.JSONField(default=list, blank=True,
                                help_text="Candidates not followed or not captured: url, hop, from, code, message.")
    unresolved = models.JSONField(default=list, blank=True,
                                  help_text="Sources named but neither linked nor archived: name, document, "
                                            "paragraph, text, reason.")
    stopped_by = models.CharField(max_length=20, blank=True,
                                  help_text="The bound that stopped the walk (depth, max_documents, time_budget), "
                                            "if one did.")
    timings = models.JSONField(default=dict, blank=True, help_text="Seconds spent per phase.")
    alignment = models.JSONField(default=dict, blank=True,
                                 help_text="Claim alignment summary: edges aligned, links suggested, claims of the "
                                           "starting document with a chain to an origin.")
    error = models.JSONField(null=True, blank=True, help_text="Structured error when the trace itself failed.")

    objects = TraceQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.guid} {self.state} {self.url}"

    def save(self, *args, **kwargs):
        self.url = iri_to_uri(self.url)
        self.surt = surt_key(self.url)
        super().save(*args, **kwargs)

    @property
    def done(self) -> bool:
        return self.state in (self.State.SUCCEEDED, self.State.FAILED)

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None

    def claim(self) -> bool:
        """Atomically move pending → running. Only one runner wins."""
        now = timezone.now()
        won = Trace.objects.filter(pk=self.pk, state=self.State.PENDING).update(
            state=self.State.RUNNING, started_at=now, heartbeat_at=now, finished_at=None, error=None,
            runs=F("runs") + 1)
        if won:
            self.refresh_from_db()
        return bool(won)

    def reset(self) -> None:
        """Make a finished trace pending again (a re-run picks up new upstream versions)."""
        if not self.done:
            raise ValidationError("only a finished trace can be run again")
        Trace.objects.filter(pk=self.pk).update(state=self.State.PENDING, finished_at=None)
        self.refresh_from_db()

    @classmethod
    def sweep_stale(cls) -> int:
        """Running traces whose runner stopped heart-beating (a worker killed mid-trace) fail with
        ``worker_lost``; they can be run again. Returns how many."""
        cutoff = timezone.now() - settings.NAQL_JOB_STALE_AFTER
        stale = cls.objects.filter(state=cls.State.RUNNING, heartbeat_at__lt=cutoff)
        return stale.update(state=cls.State.FAILED, finished_at=timezone.now(),
                            error={"code": "worker_lost", "message": "the worker stopped responding during the trace",
                                   "details": {}})

    def report(self, **progress) -> None:
        """Update the live progress (merged) and the heartbeat, visible to pollers at once."""
        now = timezone.now()
        self.progress = {**(self.progress or {}), **progress}
        self.heartbeat_at = now
        Trace.objects.filter(pk=self.pk).update(progress=self.progress, heartbeat_at=now)


class TraceCapture(models.Model):
    """The one capture of a URL that concurrent traces share: the first trace needing the URL
    leads (creates the row, runs the capture job, derives its document); the others wait for it.
    The unique SURT makes the lead atomic on every database."""

    surt = models.CharField(max_length=2000, unique=True, help_text="SURT key of the captured URL.")
    url = models.TextField(help_text="The URL as the trace asked for it.")
    trace = models.ForeignKey(Trace, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                              help_text="The trace that leads the capture.")
    job = models.ForeignKey("archive.CaptureJob", null=True, blank=True, on_delete=models.SET_NULL,
                            related_name="+", help_text="The capture job.")
    claimed_at = models.DateTimeField(default=timezone.now, help_text="When the leading trace took it.")
    done_at = models.DateTimeField(null=True, blank=True,
                                   help_text="When the capture and its document were done (or failed).")
    error = models.JSONField(null=True, blank=True, help_text="Why the capture failed, if it did.")

    def __str__(self) -> str:
        return self.url
