"""Recaptures that change nothing write no claim, document or history rows; two captures in
the same second do not duplicate claims (issue 19: storage of unchanged recaptures)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import override_settings

from provenance.models import Claim, Document
from tests.helpers import WATAN_URL
from tests.replay_support import V1_AT, capture_at

pytestmark = pytest.mark.django_db


def _capture(proxy, callbacks, when, version=0):
    with override_settings(CELERY_TASK_ALWAYS_EAGER=True), callbacks(execute=True):
        return capture_at(proxy, WATAN_URL, when, version=version, requisites=False).final


def _rows():
    return {"claims": Claim.objects.count(), "claim history": Claim.history.count(),
            "documents": Document.objects.count(), "document history": Document.history.count()}


def test_unchanged_recaptures_write_no_claim_or_history_rows(clean_proxy, django_capture_on_commit_callbacks):
    first = _capture(clean_proxy, django_capture_on_commit_callbacks, V1_AT)
    after_one = _rows()
    assert after_one["claims"] > 10  # the follow-up did segment the page
    for hours in (1, 2, 3):
        again = _capture(clean_proxy, django_capture_on_commit_callbacks, V1_AT + timedelta(hours=hours))
        assert again.record_type == "revisit" and again.text == first.text
    assert _rows() == after_one


def test_two_captures_in_the_same_second_do_not_duplicate_claims(clean_proxy, django_capture_on_commit_callbacks):
    _capture(clean_proxy, django_capture_on_commit_callbacks, V1_AT + timedelta(milliseconds=400))
    after_one = _rows()
    _capture(clean_proxy, django_capture_on_commit_callbacks, V1_AT + timedelta(milliseconds=600))
    assert _rows()["claims"] == after_one["claims"]


def test_an_edit_captured_in_the_same_second_moves_the_claims_instead_of_copying_them(
        clean_proxy, django_capture_on_commit_callbacks):
    # mid-second, so that capture's clock correction (database vs local clock) keeps both in one second
    v1 = _capture(clean_proxy, django_capture_on_commit_callbacks, V1_AT + timedelta(milliseconds=400))
    on_v1 = set(Claim.objects.filter(snapshot=v1).values_list("exact", flat=True))
    v2 = _capture(clean_proxy, django_capture_on_commit_callbacks, V1_AT + timedelta(milliseconds=600), version=1)
    assert v2.captured_at.replace(microsecond=0) == v1.captured_at.replace(microsecond=0)
    assert v2.text != v1.text
    moved = Claim.objects.filter(snapshot=v1, anchor_snapshot=v2)
    assert moved.count() >= len(on_v1) - 2  # re-anchored onto the newer capture
    new_on_v2 = set(Claim.objects.filter(snapshot=v2).values_list("exact", flat=True))
    assert new_on_v2 and not (new_on_v2 & on_v1)  # only text that v1 did not have
