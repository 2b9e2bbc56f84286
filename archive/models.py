"""Archive models: WARC files, snapshots, capture jobs, watches.

Rows describe bytes that live in immutable WARC files; the bytes are the evidence and the rows
are an index over them. Snapshots are never edited after they are written: the only change
a snapshot ever sees is being withdrawn, which is a recorded act (who, when, why).
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models, transaction
from django.db.models.query_utils import DeferredAttribute
from django.utils import timezone

from archive.ids import canonical_guid, new_guid
from archive.uri import surt_key


class WarcFile(models.Model):
    class Origin(models.TextChoices):
        CAPTURED = "captured", "captured by Naql"
        IMPORTED = "imported", "imported from elsewhere"

    name = models.CharField(max_length=255, unique=True, help_text="Storage path of the published, immutable file.")
    size = models.BigIntegerField(help_text="Size in bytes.")
    sha256 = models.CharField(max_length=64, db_index=True, help_text="SHA-256 (hex) of the whole file.")
    record_count = models.PositiveIntegerField(default=0)
    origin = models.CharField(max_length=16, choices=Origin.choices, default=Origin.CAPTURED)
    source_name = models.CharField(max_length=500, blank=True, help_text="Original file name, for imports.")
    created_at = models.DateTimeField(default=timezone.now)
    last_verified_at = models.DateTimeField(null=True, blank=True)
    last_verified_ok = models.BooleanField(null=True, help_text="Outcome of the last fixity audit.")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class _SharedDerivedAttribute(DeferredAttribute):
    """Reads a derived field of a snapshot; on a revisit whose derived text is its original's
    (``text_from_payload``), an empty stored value reads as the original's (one query, cached)."""

    def __get__(self, instance, cls=None):
        value = super().__get__(instance, cls)
        if instance is None or value or not instance.text_from_payload or not instance.payload_snapshot_id:
            return value
        return getattr(instance.payload_snapshot, self.field.attname)

    def __set__(self, instance, value):  # a data descriptor, so that reads come through __get__
        instance.__dict__[self.field.attname] = value


class _SharedDerivedMixin:
    """A derived field a revisit may share with its original instead of storing a copy: the row
    keeps what was stored (empty when shared); reads go through :class:`_SharedDerivedAttribute`."""

    descriptor_class = _SharedDerivedAttribute

    def pre_save(self, model_instance, add):
        if self.attname in model_instance.__dict__:  # what the row holds, never the original's copy
            return model_instance.__dict__[self.attname]
        return super().pre_save(model_instance, add)


class SharedTextField(_SharedDerivedMixin, models.TextField):
    def deconstruct(self):  # the column is a plain text column: migrations see a TextField
        name, _path, args, kwargs = super().deconstruct()
        return name, "django.db.models.TextField", args, kwargs


class SharedJSONField(_SharedDerivedMixin, models.JSONField):
    def deconstruct(self):
        name, _path, args, kwargs = super().deconstruct()
        return name, "django.db.models.JSONField", args, kwargs


class SnapshotQuerySet(models.QuerySet):
    def live(self):
        return self.filter(withdrawn_at__isnull=True)

    def for_url(self, url: str):
        return self.filter(surt=surt_key(url))

    def pages(self):
        """Snapshots a person asked for (not page requisites, not intermediate redirect hops)."""
        return self.filter(is_requisite=False)

    def visible_to(self, user):
        """Live snapshots ``user`` may see: the rule is in :mod:`archive.visibility`."""
        from archive.visibility import restrict

        return restrict(self, user)

    def by_guid(self, value: str):
        guid = canonical_guid(value)
        return self.filter(guid=guid) if guid else self.none()


class CaptureMode(models.TextChoices):
    """How a capture was (or is to be) made."""

    RAW = "raw", "raw (Naql's fetch client)"
    BROWSER = "browser", "browser (Chromium behind the recording proxy)"
    AUTO = "auto", "auto (raw, then browser when the page has no article text)"


class Snapshot(models.Model):
    """One archived HTTP response (or a revisit of an identical one) at one moment."""

    class RecordType(models.TextChoices):
        RESPONSE = "response"
        REVISIT = "revisit"
        RESOURCE = "resource"  # WARC resource record with an http(s) target: the block is the content

    guid = models.CharField(max_length=9, unique=True, default=new_guid, editable=False,
                            help_text="Short citable ID, e.g. K7QM-4XR2.")
    url = models.TextField(help_text="URL that was fetched (ASCII, as sent).")
    surt = models.CharField(max_length=2000, help_text="SURT key of the URL, for index look-ups.")
    captured_at = models.DateTimeField(help_text="WARC-Date of the response record (UTC).")
    status = models.PositiveSmallIntegerField(help_text="HTTP status code.")
    mime = models.CharField(max_length=200, blank=True, help_text="MIME type from Content-Type, lower-case.")
    content_type = models.CharField(max_length=500, blank=True, help_text="Raw Content-Type header.")
    payload_sha256 = models.CharField(max_length=64, help_text="SHA-256 (hex) of the HTTP entity body.")
    payload_length = models.BigIntegerField(default=0)
    payload_digest = models.CharField(max_length=80, blank=True,
                                      help_text="WARC-Payload-Digest (sha256, base32) as written in the record.")
    record_type = models.CharField(max_length=16, choices=RecordType.choices, default=RecordType.RESPONSE)
    record_id = models.CharField(max_length=100, help_text="WARC-Record-ID of the response/revisit record.")
    record_sha256 = models.CharField(max_length=64, help_text="SHA-256 of the stored record bytes (gzip member).")
    warc_file = models.ForeignKey(WarcFile, on_delete=models.PROTECT, related_name="snapshots")
    offset = models.BigIntegerField(help_text="Byte offset of the record in the WARC file.")
    length = models.BigIntegerField(help_text="Length of the stored record in bytes.")
    records = models.JSONField(default=list, help_text="All WARC records of this exchange: type, id, offset, length, sha256.")
    payload_snapshot = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                         help_text="For a revisit: the snapshot whose record holds the payload.")
    redirect_to = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                    help_text="For a redirect: the snapshot of the next hop.")
    final = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                              help_text="For a redirect chain: the snapshot at its end.")
    page = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="requisites",
                             help_text="For a page requisite: the page it was captured for.")
    is_requisite = models.BooleanField(default=False)
    requisites_reused = models.JSONField(
        default=list, blank=True,
        help_text="For a page: IDs (pk) of the snapshots of requisites this capture fetched and found identical "
                  "(same URL, status and payload digest) to their latest recent capture, so not recorded "
                  "again; the capture's metadata record names their WARC records.")
    capture_mode = models.CharField(max_length=16, default=CaptureMode.RAW,
                                    choices=[c for c in CaptureMode.choices if c[0] != CaptureMode.AUTO],
                                    help_text="What made this snapshot: raw (Naql's fetch client) or browser (Chromium "
                                              "behind the recording proxy).")
    job = models.ForeignKey("CaptureJob", null=True, blank=True, on_delete=models.SET_NULL, related_name="snapshots")
    # extracted text and metadata (filled from the bytes; re-derivable, so not evidence)
    charset = models.CharField(max_length=50, blank=True)
    title = models.TextField(blank=True)
    byline = models.CharField(max_length=500, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    modified_at = models.DateTimeField(null=True, blank=True)
    language = models.CharField(max_length=20, blank=True)
    canonical_url = SharedTextField(blank=True)
    main_text = SharedTextField(blank=True, help_text="Article text, boilerplate removed (for reading and search).")
    text = SharedTextField(blank=True, help_text="Normalised visible text: the text selectors point into.")
    text_fingerprint = models.CharField(max_length=80, blank=True,
                                        help_text="Digest of the article text with boring variation removed.")
    extracted = SharedJSONField(default=dict, blank=True, help_text="Links, embeds, article paragraphs, etc.")
    text_from_payload = models.BooleanField(
        default=False,
        help_text="A revisit whose payload, URL and content type are its original's: its derived text "
                  "(main_text, text, extracted, canonical_url) is the original's and is not stored again; reading "
                  "those fields returns the original's.")
    analysis_pending = models.BooleanField(
        default=False,
        help_text="True from the commit of a capture until its analysis (text and metadata extraction, "
                  "archive.analysis.analyse) has run: the snapshot is citable and replayable meanwhile.",
    )
    # access and withdrawal
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # PROTECT: deleting a group must never make its snapshots public as a side effect; the
    # admin's deletion page lists them as what blocks the deletion (issue 17, kind 3).
    private_to_group = models.ForeignKey("auth.Group", null=True, blank=True, on_delete=models.PROTECT,
                                         related_name="private_snapshots",
                                         help_text="Only this group's members (and superusers) may see it; "
                                                   "empty: public.")
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawn_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    withdrawn_reason = models.TextField(blank=True)

    objects = SnapshotQuerySet.as_manager()

    class Meta:
        ordering = ["-captured_at"]
        indexes = [
            # Withdrawn captures of one SURT in time order: the 410 answer for a withdrawn memento
            # (``memento.withdrawn_at``) and the withdrawn half of a look-up over every state
            # (``provenance.detect.candidates.link_keys``). Every other look-up by SURT reads live
            # captures through ``snapshot_live_surt_time`` below, so a full (surt, captured_at)
            # index would hold a second ~430-byte entry per capture of a long URL that no query
            # needs (issue 19, storage of recaptures); withdrawals are rare, so this one is small.
            models.Index(fields=["surt", "captured_at"], name="snapshot_withdrawn_surt_time",
                         condition=models.Q(withdrawn_at__isnull=False)),
            # What a new capture's revisit (or an imported revisit) looks up: a stored payload of
            # the URL. Revisits are never such a payload, so they are left out of the index: an
            # unchanged recapture adds no entry (issue 19, storage of recaptures).
            models.Index(fields=["surt", "payload_digest"], name="snapshot_surt_payload",
                         condition=~models.Q(record_type="revisit")),
            models.Index(fields=["record_id"], name="snapshot_record_id"),
            # Memento look-ups (TimeGate, first/last/prev/next, TimeMap pages) read live captures
            # of one SURT in time order. A partial index whose predicate is the query's own
            # ``withdrawn_at IS NULL`` makes PostgreSQL pick an ordered index scan + LIMIT even
            # before ANALYZE has run: without statistics it guesses IS NULL keeps 0.5% of rows,
            # so on (surt, captured_at) it preferred a bitmap AND of two indexes and a sort over
            # every capture of the URL (linear: 118 ms at 100,000 captures vs 1 ms at 10). The
            # trailing id serves ``ORDER BY captured_at, id`` (TimeMap paging) without a sort.
            models.Index(fields=["surt", "captured_at", "id"], condition=models.Q(withdrawn_at__isnull=True),
                         name="snapshot_live_surt_time"),
        ]

    def __str__(self) -> str:
        return f"{self.guid} {self.url} @ {self.captured_at:%Y-%m-%dT%H:%M:%SZ}"

    def save(self, *args, **kwargs):
        if not self.surt:
            self.surt = surt_key(self.url)
        super().save(*args, **kwargs)

    @property
    def timestamp(self) -> str:
        return self.captured_at.strftime("%Y%m%d%H%M%S")

    @property
    def is_withdrawn(self) -> bool:
        return self.withdrawn_at is not None

    def resource_record(self, role: str) -> dict | None:
        """The ``resource`` record of a browser capture attached to this page (``role`` is
        ``"screenshot"`` or ``"dom"``): ``{type, record_id, offset, length, sha256, role,
        content_type}``, or None."""
        return next((r for r in self.records or [] if r.get("role") == role), None)

    def payload_source(self) -> Snapshot:
        """The snapshot whose record carries the body (self, or the original of a revisit)."""
        return self.payload_snapshot or self

    def withdraw(self, *, user, reason: str) -> None:
        """Hide a snapshot from replay and listings. Its bytes stay in the WARC (evidence)."""
        if not reason.strip():
            raise ValueError("withdrawing a snapshot needs a reason")
        if self.withdrawn_at:
            return
        self.withdrawn_at = timezone.now()
        self.withdrawn_by = user if getattr(user, "pk", None) else None
        self.withdrawn_reason = reason.strip()
        Snapshot.objects.filter(pk=self.pk).update(
            withdrawn_at=self.withdrawn_at, withdrawn_by=self.withdrawn_by, withdrawn_reason=self.withdrawn_reason
        )
        WithdrawalLog.objects.create(snapshot=self, user=self.withdrawn_by, reason=self.withdrawn_reason,
                                     at=self.withdrawn_at,
                                     username=self.withdrawn_by.get_username() if self.withdrawn_by else "")


class PendingRevisit(models.Model):
    """A revisit record already stored in a WARC whose original response Naql does not hold yet.

    Kept so that it is resolved (becomes a Snapshot) as soon as an import brings the original:
    revisits resolve whatever the order their files arrive in. WARC 1.1 §6.7."""

    warc_file = models.ForeignKey(WarcFile, on_delete=models.PROTECT, related_name="pending_revisits")
    offset = models.BigIntegerField()
    length = models.BigIntegerField()
    record_sha256 = models.CharField(max_length=64)
    record_id = models.CharField(max_length=100, unique=True)
    url = models.TextField(help_text="WARC-Target-URI of the revisit.")
    captured_at = models.DateTimeField()
    status = models.PositiveSmallIntegerField(default=0, help_text="Status of the revisit's HTTP head (0: none).")
    content_type = models.CharField(max_length=500, blank=True)
    profile = models.CharField(max_length=200, blank=True, help_text="WARC-Profile.")
    payload_digest = models.CharField(max_length=80, blank=True, help_text="Declared payload digest, algo:BASE32.")
    refers_to = models.CharField(max_length=100, blank=True, db_index=True, help_text="WARC-Refers-To record ID.")
    refers_to_surt = models.CharField(max_length=2000, db_index=True,
                                      help_text="SURT of WARC-Refers-To-Target-URI (or of the revisit's own URI).")
    refers_to_url = models.TextField(blank=True)
    refers_to_date = models.DateTimeField(null=True, blank=True, help_text="WARC-Refers-To-Date.")
    is_requisite = models.BooleanField(default=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"pending revisit {self.record_id} of {self.refers_to_url or self.url}"


class WithdrawalLog(models.Model):
    """Append-only record of every withdrawal (deletion) of a snapshot."""

    snapshot = models.ForeignKey(Snapshot, on_delete=models.PROTECT, related_name="withdrawals")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    username = models.CharField(max_length=150, blank=True,
                                help_text="Who withdrew it, as their username then (kept whatever happens to the account).")
    reason = models.TextField()
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.snapshot_id} withdrawn {self.at:%Y-%m-%d}"


class CaptureJobQuerySet(models.QuerySet):
    def stale(self, now=None):
        now = now or timezone.now()
        return self.filter(state=CaptureJob.State.RUNNING, heartbeat_at__lt=now - settings.NAQL_JOB_STALE_AFTER)

    def due(self, now=None):
        now = now or timezone.now()
        return self.filter(state=CaptureJob.State.PENDING, not_before__lte=now)


class CaptureJob(models.Model):
    """A request to capture one URL. The job owns its state transitions."""

    class State(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    guid = models.CharField(max_length=9, unique=True, default=new_guid, editable=False)
    url = models.TextField(help_text="URL as submitted.")
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING, db_index=True)
    requisites = models.BooleanField(default=True, help_text="Also capture stylesheets, images, scripts, fonts.")
    mode = models.CharField(max_length=16, choices=CaptureMode.choices, default=CaptureMode.RAW,
                            help_text="raw, browser, or auto (raw first, browser when the page has no article text).")
    attempts = models.PositiveSmallIntegerField(default=0)
    max_attempts = models.PositiveSmallIntegerField(default=3)
    not_before = models.DateTimeField(default=timezone.now, help_text="Earliest time of the next attempt.")
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    progress = models.JSONField(default=list, blank=True, help_text="Steps done so far, with timings.")
    error = models.JSONField(null=True, blank=True, help_text="Structured error: code, message, details, permanent.")
    snapshot = models.ForeignKey(Snapshot, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                                 help_text="Snapshot of the requested URL (points on to the final one).")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="capture_jobs")
    idempotency_key = models.CharField(max_length=200, blank=True)
    watch = models.ForeignKey("Watch", null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs")

    objects = CaptureJobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["created_by", "idempotency_key"],
                                    condition=~models.Q(idempotency_key=""), name="job_idempotency"),
        ]

    def __str__(self) -> str:
        return f"{self.guid} {self.state} {self.url}"

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None

    def claim(self) -> bool:
        """Atomically move pending → running. Only one worker wins."""
        now = timezone.now()
        with transaction.atomic():
            won = CaptureJob.objects.filter(pk=self.pk, state=self.State.PENDING).update(
                state=self.State.RUNNING, started_at=now, heartbeat_at=now, attempts=models.F("attempts") + 1,
                error=None, finished_at=None,
            )
        if won:
            self.refresh_from_db()
        return bool(won)

    @classmethod
    def claim_many(cls, jobs: list[CaptureJob]) -> list[CaptureJob]:
        """:meth:`claim` for several jobs loaded just before, in two queries: the jobs this
        caller won (their fields updated in memory). The claim's timestamp tells this caller's
        rows from those another worker claimed at the same time."""
        if not jobs:
            return []
        now = timezone.now()
        ids = [j.pk for j in jobs]
        with transaction.atomic():
            cls.objects.filter(pk__in=ids, state=cls.State.PENDING).update(
                state=cls.State.RUNNING, started_at=now, heartbeat_at=now, attempts=models.F("attempts") + 1,
                error=None, finished_at=None,
            )
            won = set(cls.objects.filter(pk__in=ids, state=cls.State.RUNNING, started_at=now)
                      .values_list("pk", flat=True))
        out = [j for j in jobs if j.pk in won]
        for j in out:
            j.state, j.started_at, j.heartbeat_at = cls.State.RUNNING, now, now
            j.attempts, j.error, j.finished_at = j.attempts + 1, None, None
        return out

    @classmethod
    def indexed_pages(cls, jobs) -> dict:
        """``{job id: page snapshot}`` of those of ``jobs`` whose capture is indexed (its first page
        snapshot, lowest pk: the requested URL; snapshots are linked to their job in the same
        transaction as their WARC), in one query. A job whose worker stopped after that commit
        (a database restart, a killed worker or batch) has its result there."""
        found = {}
        for snap in Snapshot.objects.filter(job__in=jobs, is_requisite=False).order_by("-pk"):
            found[snap.job_id] = snap  # the first (lowest pk) of each job wins
        return found

    @classmethod
    def write_progress(cls, jobs: list[CaptureJob]) -> None:
        """Write the in-memory ``progress`` (see :meth:`note`) of several jobs, as a heart-beat."""
        now = timezone.now()
        for j in jobs:
            j.heartbeat_at = now
        cls._update_each(jobs, ["progress", "heartbeat_at"])

    @classmethod
    def succeed_many(cls, done: list[tuple[CaptureJob, Snapshot]]) -> None:
        """:meth:`succeed` for several jobs."""
        now = timezone.now()
        for job, snap in done:
            job.state, job.snapshot, job.error, job.finished_at = cls.State.SUCCEEDED, snap, None, now
        cls._update_each([j for j, _ in done], ["state", "snapshot", "error", "finished_at"])

    @classmethod
    def _update_each(cls, jobs: list[CaptureJob], names: list[str]) -> None:
        """``UPDATE … WHERE id = %s`` of each job's ``names`` fields, one prepared statement run
        for every job (``executemany``): Django's ``bulk_update`` builds a CASE expression per
        row and field, which cost more than the statements it saves (issue 19, batch capture)."""
        from django.db import connections, router

        if not jobs:
            return
        conn = connections[router.db_for_write(cls)]
        fields = [cls._meta.get_field(n) for n in names]
        qn = conn.ops.quote_name
        # identifiers from the model's own metadata, quoted; every value is a parameter
        sets = ", ".join(f"{qn(f.column)} = %s" for f in fields)
        sql = f"UPDATE {qn(cls._meta.db_table)} SET {sets} WHERE {qn(cls._meta.pk.column)} = %s"  # noqa: S608
        rows = [[f.get_db_prep_save(getattr(j, f.attname), conn) for f in fields] + [j.pk] for j in jobs]
        with transaction.atomic(using=conn.alias), conn.cursor() as cur:
            cur.executemany(sql, rows)

    def note(self, step: str, **info) -> None:
        """Add a step to ``progress`` in memory only; the next :meth:`heartbeat` writes it (a batch
        capture writes its jobs' steps once, when the batch is archived)."""
        self.progress = [*self.progress, {"step": step, "at": timezone.now().isoformat(), **info}]

    def heartbeat(self, step: str | None = None, **info) -> None:
        now = timezone.now()
        if step:
            self.note(step, **info)
        self.heartbeat_at = now
        CaptureJob.objects.filter(pk=self.pk).update(heartbeat_at=now, progress=self.progress)

    def succeed(self, snapshot: Snapshot) -> None:
        self._finish(self.State.SUCCEEDED, snapshot=snapshot, error=None)

    def fail(self, error: dict, *, permanent: bool, counts: bool = True) -> None:
        """Fail this attempt: retry later with back-off when transient and attempts remain.

        ``counts=False``: the failure was Naql's own (its WARC store unreachable or full), not the
        URL's: the attempt is given back, so an outage of the store delays captures instead of
        failing them for good; the back-off then stays at its base interval."""
        if not permanent and (not counts or self.attempts < self.max_attempts):
            delay = timedelta(seconds=settings.NAQL_JOB_RETRY_BACKOFF * 2 ** max(0, self.attempts - 1))
            update = {"state": self.State.PENDING, "error": error, "not_before": timezone.now() + delay,
                      "heartbeat_at": None}
            if not counts:
                update["attempts"] = models.F("attempts") - 1
            CaptureJob.objects.filter(pk=self.pk).update(**update)
            self.refresh_from_db()
            return
        self._finish(self.State.FAILED, snapshot=None, error=error)

    def _finish(self, state, *, snapshot, error) -> None:
        self.state, self.snapshot, self.error, self.finished_at = state, snapshot, error, timezone.now()
        CaptureJob.objects.filter(pk=self.pk).update(
            state=state, snapshot=snapshot, error=error, finished_at=self.finished_at
        )

    @classmethod
    def sweep_stale(cls) -> int:
        """Running jobs whose worker stopped heart-beating go back to pending (or fail for good);
        one whose capture was indexed before its worker stopped (killed after the commit, e.g. a
        batch interrupted during its inline follow-up) succeeds with it, as in ``archive.jobs._claim``."""
        stale = list(cls.objects.stale())
        indexed = cls.indexed_pages(stale)
        for job in stale:
            if job.pk in indexed:
                job.succeed(indexed[job.pk])
                continue
            job.fail({"code": "worker_lost", "message": "the worker stopped responding during the capture",
                      "details": {}, "permanent": False}, permanent=False)
        return len(stale)


class Watch(models.Model):
    """A URL that Naql recaptures on a back-off schedule, recording each change."""

    url = models.TextField()
    surt = models.CharField(max_length=2000, db_index=True)
    active = models.BooleanField(default=True)
    schedule = models.JSONField(
        default=list, blank=True,
        help_text="Back-off as [[age_hours, interval_hours], ...]; empty: the default schedule.",
    )
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    next_capture_at = models.DateTimeField(default=timezone.now, db_index=True)
    last_captured_at = models.DateTimeField(null=True, blank=True)
    last_changed_at = models.DateTimeField(null=True, blank=True)
    change_count = models.PositiveIntegerField(default=0)

    DEFAULT_SCHEDULE = [[0, 1], [6, 3], [48, 24], [24 * 14, 24 * 7]]

    class Meta:
        ordering = ["next_capture_at"]

    def __str__(self) -> str:
        return self.url

    def save(self, *args, **kwargs):
        self.surt = surt_key(self.url)
        super().save(*args, **kwargs)

    def interval(self, now=None) -> timedelta:
        """Frequent while the article is young, then daily, then weekly."""
        now = now or timezone.now()
        age_hours = (now - self.created_at).total_seconds() / 3600
        hours = None
        for start, every in sorted(self.schedule or self.DEFAULT_SCHEDULE):
            if age_hours >= start:
                hours = every
        return timedelta(hours=hours or 1)

    def record_capture(self, snap: Snapshot) -> bool:
        """Note a capture made for this watch; returns True when the article text changed."""
        prev = (Snapshot.objects.live().pages().filter(surt=snap.surt, captured_at__lte=snap.captured_at,
                                                       pk__lt=snap.pk)
                .order_by("-captured_at", "-pk").first())
        changed = bool(prev and prev.text_fingerprint and snap.text_fingerprint
                       and prev.text_fingerprint != snap.text_fingerprint)
        update = {"last_captured_at": snap.captured_at}
        if changed:  # counted in the database: two captures finishing together both count
            update.update(last_changed_at=snap.captured_at, change_count=models.F("change_count") + 1)
        Watch.objects.filter(pk=self.pk).update(**update)
        self.refresh_from_db(fields=["last_captured_at", "last_changed_at", "change_count"])
        return changed
