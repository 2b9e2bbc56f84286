"""A world with private content and every way to ask for it (issue 17 tests).

``build_world()`` makes, with the same functions captures and editors use:

* a public document (a Spanish news story, ``example.org``) whose first version is public and
  whose **later** version is private to the group ``desk``; the private version alone carries
  the marker string (in its title, byline, an edited sentence, a new sentence, a speaker);
  claims segmented on both versions, the old claims re-anchored on the private one;
* a wholly hidden document (Arabic, ``example.com``, private to ``desk``) with the marker in
  its URL and title, related both ways to the public one, with claim links;
* a public upstream document (``example.net``) related to the public one by a relation whose
  evidence was found in the private version;
* a capture job and a withdrawal on private snapshots.

``ROLES`` are the people of the permission tables; ``role_client(role)`` logs one in.
``all_routes()`` walks the URL resolver: every named route with the parameters it takes, and
every unnamed one (which must be a known catch-all). ``concrete_urls(world)`` fills each route
with ``fill()``, so a new endpoint without a filler fails the tests that use it.
"""

from __future__ import annotations

import itertools
import re
import secrets
from dataclasses import dataclass, field

from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Group, Permission, User
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.views.generic import RedirectView

from archive.models import CaptureJob, Snapshot
from provenance.anchoring import reanchor_document
from provenance.documents import document_for_snapshot
from provenance.models import Claim, ClaimLink, Document, Relation, ReviewStatus
from provenance.text.claims import segment_snapshot
from tests.api_support import fake_snapshot

MARKER = "Zirqavel" + secrets.token_hex(4)

# --------------------------------------------------------------------------------------------
# people

ROLES = ("anonymous", "outsider", "member", "viewer_staff", "staff_one", "superuser")
#: roles allowed to read the group's private content
MAY_SEE_PRIVATE = {"member", "superuser"}


def make_people() -> dict[str, User | None]:
    desk, _ = Group.objects.get_or_create(name="desk")
    other, _ = Group.objects.get_or_create(name="other")
    people: dict[str, User | None] = {"anonymous": None}
    people["outsider"] = User.objects.create_user("outsider", "o@example.org", "pw-not-used-123")
    people["outsider"].groups.add(other)
    people["member"] = User.objects.create_user("member", "m@example.org", "pw-not-used-123")
    people["member"].groups.add(desk)
    viewer = User.objects.create_user("viewer_staff", "v@example.org", "pw-not-used-123", is_staff=True)
    viewer.user_permissions.add(*Permission.objects.filter(codename__startswith="view_"))
    people["viewer_staff"] = viewer
    one = User.objects.create_user("staff_one", "s@example.org", "pw-not-used-123", is_staff=True)
    one.user_permissions.add(Permission.objects.get(codename="view_snapshot"))
    people["staff_one"] = one
    people["superuser"] = User.objects.create_superuser("chief", "c@example.org", "pw-not-used-123")
    return people


def role_client(people, role: str) -> Client:
    c = Client()
    if people[role] is not None:
        c.force_login(people[role])
    return c


# --------------------------------------------------------------------------------------------
# content


def page(url: str, when: str, paragraphs: list[str], *, group: str | None = None, lang: str = "es",
         title: str = "", byline: str = "") -> Snapshot:
    """A page snapshot whose text and article paragraphs are ``paragraphs``."""
    text, spans, pos = "", [], 0
    for p in paragraphs:
        if text:
            text += "\n\n"
            pos += 2
        spans.append([pos, pos + len(p), "p"])
        text += p
        pos += len(p)
    return fake_snapshot(url, when, group=group, text=text, title=title, byline=byline, language=lang,
                         extracted={"paragraphs": spans})


PUBLIC_URL = "https://example.org/noticias/2024/05/puerto-nuevo-muelles"
UPSTREAM_URL = "https://example.net/agencia/nota-consorcio-puerto"
HIDDEN_URL = f"https://example.com/ar/taqarir/{MARKER}-mina"

V1 = ["El ayuntamiento de Puerto Nuevo abrió este lunes al público los muelles del antiguo astillero.",
      "La alcaldesa Carmen Ibarra aseguró que las obras costaron doce millones de euros.",
      "Los vecinos podrán recorrer el recinto los sábados y domingos por la mañana."]
V2 = [V1[0],
      f"La alcaldesa Carmen Ibarra aseguró que las obras costaron catorce millones, según el anexo {MARKER}.",
      V1[2],
      f"Fuentes del consorcio {MARKER} admiten que el contrato se adjudicó sin concurso público."]


@dataclass
class World:
    people: dict
    public: Document
    hidden: Document
    upstream: Document
    v1: Snapshot
    v2: Snapshot
    hidden_snap: Snapshot
    withdrawn: Snapshot
    job: CaptureJob
    extra: dict = field(default_factory=dict)


def build_world(*, privatise_later: bool = False) -> World:
    """The scenario of the module docstring. ``privatise_later``: the later version is captured
    public (so the document takes its title) and made private afterwards, the case where only
    the visibility layer stands between the document row and a reader."""
    people = make_people()
    member = people["member"]
    v1 = page(PUBLIC_URL, "2024-05-06T08:00:00", V1, title="Puerto Nuevo abre los muelles del astillero",
              byline="Lucía Ferrer")
    public = document_for_snapshot(v1)
    segment_snapshot(v1, public)
    v2 = page(PUBLIC_URL, "2024-05-07T09:30:00", V2, group=None if privatise_later else "desk",
              title=f"Puerto Nuevo: el anexo {MARKER} de los muelles", byline=f"Redacción {MARKER}")
    assert document_for_snapshot(v2) == public
    reanchor_document(public, v2, user=member)
    new_claims = segment_snapshot(v2, public)
    speaker_claim = Claim.objects.get(pk=new_claims[-1].pk) if new_claims else None
    if speaker_claim is not None:  # an editor names the source the sentence quotes
        speaker_claim.speaker = f"consorcio {MARKER}"
        speaker_claim._history_user = member
        speaker_claim.save()
    if privatise_later:
        Snapshot.objects.filter(pk=v2.pk).update(private_to_group=Group.objects.get(name="desk"))
        v2.refresh_from_db()

    up_snap = page(UPSTREAM_URL, "2024-05-05T12:00:00",
                   ["El consorcio del puerto anunció la apertura de los muelles para el lunes.",
                    "La obra fue financiada con fondos regionales y europeos."], title="Nota del consorcio")
    upstream = document_for_snapshot(up_snap)
    segment_snapshot(up_snap, upstream)

    hidden_snap = page(HIDDEN_URL, "2024-05-08T10:00:00",
                       [f"كشف تقرير {MARKER} أن عقد الميناء منح دون مناقصة.",
                        "وقال مسؤول في البلدية إن التحقيق ما زال جاريا."],
                       group="desk", lang="ar", title=f"تقرير {MARKER} عن الميناء")
    hidden = document_for_snapshot(hidden_snap)
    segment_snapshot(hidden_snap, hidden)

    # relations: to the hidden document both ways, and to the public upstream with evidence in v2
    Relation.objects.create(source=public, target=hidden, type=Relation.Type.CITES, evidence_snapshot=v2,
                            evidence_text=f"según el anexo {MARKER}", evidence_url=HIDDEN_URL,
                            status=ReviewStatus.ACCEPTED, recorded_by=member)
    Relation.objects.create(source=hidden, target=public, type=Relation.Type.TRANSLATION_OF,
                            status=ReviewStatus.SUGGESTED, recorded_by=member)
    Relation.objects.create(source=public, target=upstream, type=Relation.Type.DERIVED_FROM, evidence_snapshot=v2,
                            evidence_text=f"Fuentes del consorcio {MARKER}", status=ReviewStatus.SUGGESTED,
                            detector="rules", evidence=[{"rule": "named", "text": f"consorcio {MARKER}"}])
    c_public = Claim.objects.filter(snapshot=v1).order_by("start").first()
    c_upstream = Claim.objects.filter(snapshot=up_snap).first()
    c_hidden = Claim.objects.filter(snapshot=hidden_snap).first()
    ClaimLink.objects.create(claim=c_public, upstream_claim=c_hidden, relation=ClaimLink.Relation.TRANSLATION,
                             status=ReviewStatus.ACCEPTED, created_by=member, origin=True)
    ClaimLink.objects.create(claim=c_public, upstream_claim=c_upstream, relation=ClaimLink.Relation.PARAPHRASE,
                             status=ReviewStatus.SUGGESTED)
    if new_claims:
        ClaimLink.objects.create(claim=new_claims[0], upstream_document=upstream,
                                 relation=ClaimLink.Relation.PARAPHRASE, status=ReviewStatus.SUGGESTED)

    job = CaptureJob.objects.create(url=HIDDEN_URL, created_by=member, state=CaptureJob.State.SUCCEEDED,
                                    snapshot=hidden_snap)
    withdrawn = page(HIDDEN_URL, "2024-05-09T10:00:00", ["نسخة ثانية من التقرير."], group="desk", lang="ar")
    withdrawn.withdraw(user=member, reason=f"duplicate of the {MARKER} report")
    # a trace the member ran from the public article, which reached the hidden document
    from provenance.models import Trace

    trace = Trace.objects.create(url=v1.url, surt=v1.surt, created_by=member, state=Trace.State.SUCCEEDED,
                                 document=public,
                                 unresolved=[{"name": f"the {MARKER} desk", "note": "named, not archived"}])
    trace.documents.add(public, hidden)
    return World(people, public, hidden, upstream, v1, v2, hidden_snap, withdrawn, job)


# --------------------------------------------------------------------------------------------
# routes


@dataclass(frozen=True)
class Route:
    name: str
    params: tuple[str, ...]


def _callback_name(p: URLPattern) -> str:
    cb = p.callback
    return f"{getattr(cb, '__module__', '')}.{getattr(cb, '__qualname__', getattr(cb, '__name__', repr(cb)))}"


#: unnamed patterns that are catch-alls (they answer 404 or redirect to a login)
UNNAMED_OK = {"naql.api.not_found", "django.contrib.admin.sites.AdminSite.catch_all_view"}


def unnamed_patterns(resolver=None) -> list[str]:
    """Callbacks of unnamed URL patterns that are not known catch-alls (should be empty)."""
    resolver = resolver or get_resolver()
    out = []
    for p in resolver.url_patterns:
        if isinstance(p, URLResolver):
            out += unnamed_patterns(p)
        elif p.name is None and _callback_name(p) not in UNNAMED_OK \
                and getattr(p.callback, "view_class", None) is not RedirectView:  # admin's <id>/ → <id>/change/
            out.append(f"{p.pattern} -> {_callback_name(p)}")
    return out


def all_routes() -> list[Route]:
    """Every named route (namespaced ``admin:…``) with each parameter set it can be reversed with."""
    out: set[Route] = set()

    def walk(resolver, ns: str):
        for name in resolver.reverse_dict:
            if not isinstance(name, str):
                continue
            for possibilities, *_ in resolver.reverse_dict.getlist(name):
                for _fmt, params in possibilities:
                    out.add(Route(ns + name, tuple(params)))
        for nsname, (_prefix, sub) in resolver.namespace_dict.items():
            walk(sub, f"{ns}{nsname}:")

    walk(get_resolver(), "")
    return sorted(out, key=lambda r: (r.name, r.params))


API_MODELS = {"document": Document, "claim": Claim, "relation": Relation, "claim-link": ClaimLink,
              "publisher": "provenance.Publisher", "warc-file": "archive.WarcFile"}
LIMIT = 12  # objects per model and route: enough to reach each kind of object in the world


def _pks(model, limit=LIMIT) -> list:
    model = apps.get_model(model) if isinstance(model, str) else model
    return list(model._default_manager.order_by("pk").values_list("pk", flat=True)[:limit])


def _snaps():
    return list(Snapshot.objects.order_by("pk"))


def fill(route: Route, world: World) -> list[dict] | None:
    """Keyword sets to reverse ``route`` with, or None when no filler knows it."""
    name, params = route.name, set(route.params)
    if not params:
        return [{}]
    if params == {"format"}:
        return [{"format": "json"}]
    traces = list(apps.get_model("provenance.Trace").objects.values_list("guid", flat=True))
    if name in ("trace-json", "trace-page", "trace-add-source", "trace-rerun") and params == {"guid"}:
        return [{"guid": g} for g in traces]
    if name == "provenance-document" and params == {"pk"}:
        return [{"pk": pk} for pk in _pks(Document)]
    if name == "provenance-claim" and params == {"pk"}:
        return [{"pk": pk} for pk in _pks(Claim)]
    if name == "provenance-parallel" and params == {"pk", "other"}:
        return [{"pk": a, "other": b} for a, b in itertools.permutations(_pks(Document, 4), 2)]
    m = re.fullmatch(r"([a-z-]+)-(detail|history|chain|prov|accept|reject|suggest|rerun)", name)
    if m and params - {"format"} in ({"pk"}, {"id"}):
        base = m.group(1)
        key = next(iter(params - {"format"}))
        extra = {"format": "json"} if "format" in params else {}
        if base == "snapshot":
            values = [s.guid for s in _snaps()]
        elif base == "capture-job":
            values = list(CaptureJob.objects.values_list("guid", flat=True))
        elif base == "trace":
            values = traces
        elif base in API_MODELS:
            values = _pks(API_MODELS[base])
        else:
            return None
        return [{key: v, **extra} for v in values]
    m = re.fullmatch(r"admin:(\w+?)_(\w+)_(change|delete|history)", name)
    if m and params == {"object_id"}:
        model = apps.get_model(m.group(1), m.group(2))
        return [{"object_id": pk} for pk in _pks(model)]
    m = re.fullmatch(r"admin:(\w+?)_(\w+)_simple_history", name)
    if m and params in ({"object_id", "version_id"}, {"_0", "_1"}):
        model = apps.get_model(m.group(1), m.group(2))
        rows = model.history.order_by("history_id").values_list("id", "history_id")[:40]
        a, b = sorted(params) if "_0" in params else ("object_id", "version_id")
        return [{a: o, b: v} for o, v in rows]
    if name == "admin:auth_user_password_change" and params == {"id"}:
        return [{"id": pk} for pk in _pks(User)]
    if name == "admin:app_list" and params == {"app_label"}:
        return [{"app_label": a} for a in sorted({m._meta.app_label for m in admin.site._registry})]
    if name == "admin:view_on_site":
        return []  # no model has get_absolute_url: every such URL is a 404
    snaps = _snaps()
    if name in ("document-wacz", "provenance-document") and params == {"pk"}:
        return [{"pk": pk} for pk in _pks(Document)]
    if name == "provenance-claim" and params == {"pk"}:
        return [{"pk": pk} for pk in _pks(apps.get_model("provenance", "Claim"))]
    if name == "provenance-parallel" and params == {"pk", "other"}:
        return [{"pk": a, "other": b} for a, b in itertools.permutations(_pks(Document), 2)]
    if name in ("snapshot", "snapshot-warc", "snapshot-compare", "snapshot-screenshot", "snapshot-wacz") \
            and params == {"guid"}:
        return [{"guid": s.guid} for s in snaps]
    if name == "snapshot-diff" and params == {"guid", "other"}:
        return [{"guid": a.guid, "other": b.guid} for a, b in itertools.permutations(
            [world.v1, world.v2, world.hidden_snap], 2)]
    if name == "job-json" and params == {"guid"}:
        return [{"guid": g} for g in CaptureJob.objects.values_list("guid", flat=True)]
    urls = [PUBLIC_URL, HIDDEN_URL, UPSTREAM_URL]
    if name == "timegate" and params == {"url"}:
        return [{"url": u} for u in urls]
    if name == "memento" and params <= {"ts", "mod", "url"}:
        mods = ["id_"] if "mod" in params else [None]
        return [{k: v for k, v in {"ts": s.timestamp, "mod": mod, "url": s.url}.items() if k in params}
                for s in snaps for mod in mods]
    if name in ("timemap", "timemap-page") and params <= {"fmt", "url", "from_ts"}:
        return [{k: v for k, v in {"fmt": fmt, "url": u, "from_ts": "2024"}.items() if k in params}
                for fmt in ("link", "json") for u in urls]
    return None


def concrete_urls(world: World) -> tuple[list[str], list[Route]]:
    """(every URL to request, routes no filler knows)."""
    urls, unknown = [], []
    for route in all_routes():
        kwargs_list = fill(route, world)
        if kwargs_list is None:
            unknown.append(route)
            continue
        for kw in kwargs_list:
            if kw and all(k.startswith("_") for k in kw):  # positional groups
                urls.append(reverse(route.name, args=[kw[k] for k in sorted(kw)]))
            else:
                urls.append(reverse(route.name, kwargs=kw))
    # list endpoints with the filters a reader would use, and the admin's autocomplete feeds
    for u in (PUBLIC_URL, HIDDEN_URL, UPSTREAM_URL):
        urls += [f"/api/snapshots/?url={u}", f"/api/timemap/?url={u}", f"/api/documents/?url={u}"]
    for doc in (world.public, world.hidden, world.upstream):
        urls.append(f"/provenance/document/{doc.pk}.wacz?chain=1")
        urls += [f"/api/claims/?document={doc.pk}", f"/api/relations/?document={doc.pk}",
                 f"/api/claim-links/?document={doc.pk}", f"/api/snapshots/?document={doc.pk}"]
    for model, model_admin in admin.site._registry.items():
        for f in getattr(model_admin, "autocomplete_fields", ()):
            urls.append(f"/admin/autocomplete/?app_label={model._meta.app_label}"
                        f"&model_name={model._meta.model_name}&field_name={f}&term=")
            urls.append(f"/admin/autocomplete/?app_label={model._meta.app_label}"
                        f"&model_name={model._meta.model_name}&field_name={f}&term=e")
    return sorted(set(urls)), unknown


def _unpacked(data: bytes) -> bytes:
    """Zip (WACZ) and gzip (WARC) bodies opened, so the marker is searched in what they hold."""
    import gzip
    import io
    import zipfile

    if data[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(data)
        except (OSError, EOFError):
            return data
    if data[:2] == b"PK":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                return b"\n".join(_unpacked(z.read(n)) for n in z.namelist())
        except zipfile.BadZipFile:
            return data
    return data


def body_of(resp) -> str:
    if getattr(resp, "streaming", False):
        data = b"".join(resp.streaming_content)
    else:
        data = resp.content
    data = _unpacked(data)
    headers = "\n".join(f"{k}: {v}" for k, v in resp.items())
    return headers + "\n" + data.decode("utf-8", "replace")
