"""The OpenAPI description (complete: typed, described, errors declared), the local docs page, and
bad input on every write operation it lists (unknown fields, wrong types → 400, nothing written)."""

from __future__ import annotations

import re

import pytest
from django.contrib.staticfiles import finders
from drf_spectacular.validation import validate_schema

from archive.models import CaptureJob
from provenance.models import Claim, ClaimLink, Document, Publisher, Relation, Trace
from tests.api_support import *  # noqa: F403 (fixtures)
from tests.api_support import error_of, fake_snapshot, token_client

pytestmark = pytest.mark.django_db

WRITE_METHODS = ("post", "put", "patch", "delete")


@pytest.fixture
def schema(api):
    r = api.get("/api/schema/?format=json")
    assert r.status_code == 200
    return r.json()


def test_schema_is_valid_openapi_3(schema):
    assert schema["openapi"].startswith("3.")
    validate_schema(schema)


def test_schema_covers_every_resource(schema):
    paths = set(schema["paths"])
    for p in ["/api/capture-jobs/", "/api/capture-jobs/{id}/", "/api/snapshots/", "/api/snapshots/{id}/",
              "/api/timemap/", "/api/warc-files/", "/api/publishers/", "/api/documents/{id}/chain/",
              "/api/documents/{id}/prov/", "/api/documents/{id}/history/", "/api/relations/", "/api/claims/",
              "/api/claims/{id}/chain/", "/api/claims/{id}/prov/", "/api/claim-links/",
              "/api/claim-links/{id}/accept/", "/api/claim-links/{id}/reject/", "/api/claim-links/bulk-accept/",
              "/api/claim-links/bulk-reject/", "/api/claim-links/{id}/history/", "/api/documents/{id}/suggest/"]:
        assert p in paths, p


def _props(schema_obj):
    return (schema_obj.get("properties") or {}).items()


ANY_JSON = {"FieldChange.old", "FieldChange.new"}  # a history value: any JSON value, by design


def test_every_field_is_typed_and_described(schema):
    missing = []
    for comp, body in schema["components"]["schemas"].items():
        if comp.startswith("Paginated") or "enum" in body:
            continue
        for name, prop in _props(body):
            typed = any(k in prop for k in ("type", "$ref", "allOf", "oneOf", "anyOf", "enum")) \
                or f"{comp}.{name}" in ANY_JSON
            described = "description" in prop or "$ref" in prop
            if not (typed and described):
                missing.append(f"{comp}.{name}")
    assert not missing, missing


def test_every_parameter_is_described(schema):
    missing = [f"{path} {m} {p['name']}" for path, item in schema["paths"].items() for m, op in item.items()
               for p in op.get("parameters", []) if not p.get("description")]
    assert not missing, missing


def test_every_operation_declares_the_error_body(schema):
    for path, item in schema["paths"].items():
        for method, op in item.items():
            for code in ("400", "401", "403", "404", "429"):
                ref = op["responses"][code]["content"]["application/json"]["schema"]["$ref"]
                assert ref == "#/components/schemas/Error", (path, method, code)
    err = schema["components"]["schemas"]["Error"]
    assert err["properties"]["error"]["required"] == ["code", "message", "details"]


def test_request_bodies_forbid_unknown_fields_in_the_schema(schema):
    for comp, body in schema["components"]["schemas"].items():
        if comp.endswith("Request"):
            assert body.get("additionalProperties") is False, comp


def test_token_auth_is_a_header_scheme(schema):
    scheme = schema["components"]["securitySchemes"]["tokenAuth"]
    assert scheme == {**scheme, "type": "apiKey", "in": "header", "name": "Authorization"}


def test_docs_page_uses_local_swagger_ui_no_cdn(api):
    r = api.get("/api/docs/")
    assert r.status_code == 200
    html = r.content.decode()
    assert "swagger-ui-bundle.js" in html
    assert not re.search(r"cdn|jsdelivr|unpkg|cdnjs", html, re.I)
    for src in re.findall(r'(?:src|href)="/static/([^"]+)"', html):
        assert finders.find(src), src


# --------------------------------------------------------------------------------------------
# bad input on every write operation


@pytest.fixture
def objects(alice):
    snap = fake_snapshot("https://www.example.org/a", "2021-11-25T10:00:00", text="Alpha said the sky is green.")
    snap2 = fake_snapshot("https://www.example.net/b", "2021-11-24T10:00:00", text="El cielo es verde, dijo Alfa.")
    pub = Publisher.objects.create(name="Example", domains=["example.org"])
    d1 = Document.objects.create(url=snap.url, publisher=pub, language="en")
    d2 = Document.objects.create(url=snap2.url, language="es")
    rel = Relation.objects.create(source=d1, target=d2, type="translation_of")
    c1 = Claim.objects.create(document=d1, snapshot=snap, exact="Alpha said the sky is green.", start=0, end=28)
    c2 = Claim.objects.create(document=d2, snapshot=snap2, exact="El cielo es verde, dijo Alfa.", start=0, end=29)
    link = ClaimLink.objects.create(claim=c1, upstream_claim=c2, relation="translation")
    trace = Trace.objects.create(url=snap.url, created_by=alice[0], state=Trace.State.SUCCEEDED)
    return {"id": None, "publishers": pub.pk, "documents": d1.pk, "relations": rel.pk, "claims": c1.pk,
            "claim-links": link.pk, "capture-jobs": None, "traces": trace.guid}


def _state():
    return (CaptureJob.objects.count(), *(m.history.count() for m in (Publisher, Document, Relation, Claim, ClaimLink)),
            list(Trace.objects.values_list("state", "runs", "options")))


def _write_operations(schema, objects):
    for path, item in schema["paths"].items():
        for method, op in item.items():
            if method not in WRITE_METHODS:
                continue
            resource = path.split("/")[2]
            concrete = path.replace("{id}", str(objects.get(resource) or 1))
            yield method, concrete, op


BAD_BODIES = [{"zz_unknown_field": 1}, [], "a string", 42, {"ids": "1,2"}, {"note": ["x"]}]


def test_bad_input_on_every_write_operation_is_400_and_writes_nothing(schema, objects, alice):
    c = token_client(alice[1])
    ops = list(_write_operations(schema, objects))
    assert len(ops) >= 18
    before = _state()
    for method, path, _op in ops:
        for body in BAD_BODIES:
            r = getattr(c, method)(path, body, format="json")
            assert r.status_code == 400, (method, path, body, r.status_code, r.content[:300])
            error_of(r)
    assert _state() == before


def test_every_write_operation_needs_a_user(schema, objects, api):
    before = _state()
    for method, path, _op in _write_operations(schema, objects):
        r = getattr(api, method)(path, {}, format="json")
        assert r.status_code == 401, (method, path, r.status_code)
        assert error_of(r)["code"] == "not_authenticated"
    assert _state() == before


@pytest.mark.parametrize("path, body, field", [
    ("/api/publishers/", {"name": ["x"]}, "name"),
    ("/api/publishers/", {"name": "x", "domains": "example.org"}, "domains"),
    ("/api/publishers/", {"name": "x", "kind": "alien"}, "kind"),
    ("/api/relations/", {"source": "one", "target": "DOC", "type": "cites"}, "source"),
    ("/api/relations/", {"source": 999999, "target": "DOC", "type": "cites"}, "source"),
    ("/api/claims/", {"document": "DOC", "exact": None}, "exact"),
    ("/api/claim-links/", {"claim": "CLAIM", "upstream_document": "DOC", "relation": "translation",
                           "confidence": 7}, "confidence"),
    ("/api/claim-links/", {"claim": "CLAIM", "upstream_claim": "CLAIM", "relation": "translation"},
     "upstream_claim"),
    ("/api/claim-links/", {"claim": "CLAIM", "relation": "translation"}, "upstream_document"),
    ("/api/claim-links/bulk-accept/", {"ids": [0]}, "ids"),
    ("/api/claim-links/bulk-accept/", {"ids": []}, "ids"),
])
def test_wrong_values_name_the_field(alice, objects, path, body, field):
    # real primary keys (database sequences are not reset between tests on PostgreSQL)
    ids = {"DOC": objects["documents"], "CLAIM": objects["claims"]}
    body = {k: ids.get(v, v) if isinstance(v, str) else v for k, v in body.items()}
    r = token_client(alice[1]).post(path, body, format="json")
    assert r.status_code == 400, r.content
    assert field in error_of(r)["details"], r.json()


@pytest.mark.django_db
def test_api_root_describes_the_api_and_links_its_documentation(client):
    data = client.get("/api/", HTTP_ACCEPT="application/json").json()
    assert "provenance" in data["description"] and "DefaultRouter" not in data["description"]
    assert data["documentation"].endswith("/api/docs/") and data["schema"].endswith("/api/schema/")
    assert data["endpoints"]["documents"].endswith("/api/documents/")
    page = client.get("/api/", HTTP_ACCEPT="text/html").content.decode()
    assert "The default basic root view" not in page and "W3C PROV-JSON" in page
