"""Traces through the REST API (``/api/traces/``) and the researcher's pages (``/traces``): start,
poll progress, see the chain with its origins, add a source for a name left unresolved."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.test import override_settings

from provenance.models import Trace
from tests.api_support import *  # noqa: F403 (fixtures)
from tests.api_support import make_user
from tests.helpers import FAR_URL, NGO_URL, TWEET_URL, WATAN_URL

pytestmark = pytest.mark.django_db


@pytest.fixture
def proxied(clean_proxy):
    with override_settings(NAQL_CAPTURE_PROXY=clean_proxy.proxy_url, CELERY_TASK_ALWAYS_EAGER=True,
                           NAQL_CAPTURE_BROWSER_DOMAINS=[]):
        yield clean_proxy


def _auth(api, name="reporter"):
    user, key = make_user(name)
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return user


def test_post_api_traces_returns_a_trace_job_then_get_shows_it_done(api, proxied, django_capture_on_commit_callbacks):
    user = _auth(api)
    with django_capture_on_commit_callbacks(execute=True):  # the queued task runs (eager) at commit
        resp = api.post("/api/traces/", {"url": WATAN_URL, "depth": 3}, format="json")
    assert resp.status_code == 202, resp.content
    body = resp.json()
    assert body["state"] == "pending" and body["url"] == WATAN_URL and body["options"]["depth"] == 3
    assert resp["Location"] == f"/api/traces/{body['id']}/"
    got = api.get(f"/api/traces/{body['id']}/").json()
    assert got["state"] == "succeeded" and got["done"]
    assert len(got["documents"]) == 5 and len(got["relations"]) == 7
    assert [d["url"] for d in got["documents"] if d["origin"] and d["url"] == TWEET_URL] == [TWEET_URL]
    assert got["progress"]["phase"] == "done" and any(s["phase"] == "aligning" for s in got["steps"])
    assert Trace.objects.get(guid=body["id"]).created_by == user
    assert [t["id"] for t in api.get("/api/traces/").json()["results"]] == [body["id"]]


def test_api_refuses_a_guarded_url_and_strangers(api, proxied):
    assert api.post("/api/traces/", {"url": WATAN_URL}, format="json").status_code in (401, 403)
    _auth(api)
    resp = api.post("/api/traces/", {"url": "http://169.254.169.254/latest/meta-data/"}, format="json")
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "forbidden_address"
    resp = api.post("/api/traces/", {"url": WATAN_URL, "surprise": 1}, format="json")
    assert resp.status_code == 400
    assert Trace.objects.count() == 0
    mine = Trace.objects.create(url=WATAN_URL, created_by=User.objects.create_user("someone-else"))
    assert api.get(f"/api/traces/{mine.guid}/").status_code == 404


def test_rerun_answers_409_while_running_and_202_when_done(api, proxied):
    user = _auth(api)
    t = Trace.objects.create(url=WATAN_URL, created_by=user, state=Trace.State.RUNNING,
                             options={"depth": 4, "max_documents": 25, "time_budget": 300, "reuse_age": 0})
    assert api.post(f"/api/traces/{t.guid}/rerun/").status_code == 409
    Trace.objects.filter(pk=t.pk).update(state=Trace.State.FAILED)
    resp = api.post(f"/api/traces/{t.guid}/rerun/")
    assert resp.status_code == 202 and resp.json()["state"] == "pending"


@pytest.fixture
def researcher(client):
    user = User.objects.create_user("researcher", "r@example.org", "pw-not-used-123")
    client.force_login(user)
    return user


def test_trace_this_article_from_the_home_page_ends_on_the_chain_with_origins(client, researcher, proxied,
                                                                             django_capture_on_commit_callbacks):
    home = client.get("/").content.decode()
    assert 'id="nq-trace-form"' in home and "Trace this article" in home
    with django_capture_on_commit_callbacks(execute=True):
        resp = client.post("/traces", {"url": WATAN_URL})
    assert resp.status_code == 302
    page_url = resp["Location"]
    t = Trace.objects.get()
    assert page_url == f"/traces/{t.guid}" and t.created_by == researcher
    html = client.get(page_url).content.decode()
    assert 'id="nq-chain-view"' in html
    origins = set(re.findall(r'class="nq-node origin" data-url="([^"]+)"', html))
    assert origins == {TWEET_URL, FAR_URL, NGO_URL}  # reached through El Español and named by Watan
    assert "twitter.com/gantzbe" in html and "None: every source the article names" in html
    js = client.get(f"/traces/{t.guid}.json").json()
    assert js["state"] == "succeeded"
    # the snapshot page offers the same action
    snap = t.document.latest_snapshot()
    assert "Trace this article" in client.get(f"/s/{snap.guid}").content.decode()


def test_capture_this_url_for_an_unresolved_name_adds_it_as_a_source_and_runs_again(client, researcher, proxied,
                                                                                   django_capture_on_commit_callbacks):
    t = Trace.objects.create(url=WATAN_URL, created_by=researcher, state=Trace.State.SUCCEEDED,
                             options={"depth": 4, "max_documents": 25, "time_budget": 300, "reuse_age": 86400},
                             unresolved=[{"name": "X", "paragraph": 2, "reason": "not archived", "text": "…"}])
    bad = client.post(f"/traces/{t.guid}/source", {"url": "http://10.1.2.3/x"})
    assert bad.status_code == 400
    with django_capture_on_commit_callbacks(execute=True):
        resp = client.post(f"/traces/{t.guid}/source", {"url": TWEET_URL})
    assert resp.status_code == 302
    t.refresh_from_db()
    assert t.options["sources"] == [TWEET_URL] and t.runs == 1 and t.state == "succeeded"
    assert any(n["url"] == TWEET_URL and n["hop"] == 1 for n in t.nodes)


def test_trace_pages_are_private_to_their_owner(client, researcher):
    other = Trace.objects.create(url=WATAN_URL, created_by=User.objects.create_user("other"))
    assert client.get(f"/traces/{other.guid}").status_code == 404
    assert client.get(f"/traces/{other.guid}.json").status_code == 404
    client.logout()
    assert client.get(f"/traces/{other.guid}.json").status_code == 403
    assert client.post("/traces", {"url": WATAN_URL}).status_code == 302  # to the login page
    assert Trace.objects.count() == 1


def test_run_again_from_the_page_and_a_lost_worker_is_swept(client, researcher, proxied,
                                                            django_capture_on_commit_callbacks):
    from datetime import timedelta

    from django.utils import timezone

    done = Trace.objects.create(url=WATAN_URL, created_by=researcher, state=Trace.State.FAILED,
                                options={"depth": 0, "max_documents": 1, "time_budget": 60, "reuse_age": 0})
    assert f'action="/traces/{done.guid}/rerun"' in client.get(f"/traces/{done.guid}").content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"/traces/{done.guid}/rerun").status_code == 302
    done.refresh_from_db()
    assert done.state == "succeeded" and done.runs == 1 and len(done.nodes) == 1  # depth 0: the article only
    lost = Trace.objects.create(url=WATAN_URL, created_by=researcher, state=Trace.State.RUNNING,
                                heartbeat_at=timezone.now() - timedelta(hours=1))
    alive = Trace.objects.create(url=WATAN_URL, created_by=researcher, state=Trace.State.RUNNING,
                                 heartbeat_at=timezone.now())
    assert Trace.sweep_stale() == 1
    lost.refresh_from_db()
    alive.refresh_from_db()
    assert lost.state == "failed" and lost.error["code"] == "worker_lost" and alive.state == "running"
