"""Schema-driven fuzzing (schemathesis) of every API operation through the WSGI app: no 5xx, and every
response (status, headers, body) matches the OpenAPI description. Bounded: 15 examples per operation."""

from __future__ import annotations

import pytest
import schemathesis
from django.conf import settings
from django.core import signals
from django.db import close_old_connections
from django.test import override_settings
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.api_support import *  # noqa: F403 (fixtures)
from tests.api_support import fake_snapshot, make_user

pytestmark = pytest.mark.django_db

HIGH_RATES = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"anon": "100000/min", "user": "100000/min",
                                                                     "capture": "100000/min"}}


def _load_schema():
    """The schema, loaded through the WSGI app (generating it needs no database)."""
    from naql.wsgi import application

    return schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)


@pytest.fixture
def keep_db_open(db):
    """Requests made straight to the WSGI app send ``request_started``/``request_finished``, which
    close the test's database connection: keep it open, as Django's test client does."""
    for signal in (signals.request_started, signals.request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (signals.request_started, signals.request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def fuzz_token(keep_db_open):
    """Some rows for the fuzzer to find, and a superuser token so writes get past authentication."""
    from provenance.models import Claim, Document, Publisher

    snap = fake_snapshot("https://www.example.org/a", "2021-11-25T10:00:00", text="Alpha said the sky is green.")
    pub = Publisher.objects.create(name="Example", domains=["example.org"])
    doc = Document.objects.create(url=snap.url, publisher=pub, language="en")
    Claim.objects.create(document=doc, snapshot=snap, exact="Alpha said the sky is green.", start=0, end=28)
    return make_user("fuzzer", superuser=True)[1]


schema = _load_schema()


@schema.parametrize()
@hypothesis_settings(max_examples=15, deadline=None, derandomize=True, database=None,
                     suppress_health_check=list(HealthCheck))
def test_api_fuzz_no_server_errors_and_responses_match_the_schema(case, fuzz_token):
    with override_settings(REST_FRAMEWORK=HIGH_RATES):
        # positive_data_acceptance is left out: a schema-valid request may still name rows that do not
        # exist (claim 0) or break cross-field rules (url and urls); those are 400s by design.
        case.call_and_validate(headers={"Authorization": f"Token {fuzz_token}"},
                               excluded_checks=[positive_data_acceptance])
