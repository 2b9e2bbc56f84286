"""A domain names one publisher: the PublisherDomain index (lookup flat in the number of
publishers, no duplicate publisher when two workers meet a new site at once), and the editors'
side of the rule in the API and the admin."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from provenance.documents import document_for_snapshot, publisher_for
from provenance.models import Publisher, PublisherDomain
from tests.api_support import api, make_user, token_client  # noqa: F401 - fixtures
from tests.security_support import page

PARAS = ["Die Stadtwerke von Kranichfeld erhöhen den Wasserpreis zum Jahresbeginn um sieben Prozent.",
         "Der Gemeinderat hatte die Erhöhung im Oktober mit knapper Mehrheit gebilligt."]


@pytest.mark.django_db
def test_the_publisher_of_a_host_is_found_by_one_query_whatever_the_number_of_publishers():
    for i in range(300):
        Publisher.objects.create(name=f"Blatt {i}", domains=[f"blatt{i}.example", f"www.blatt{i}.example"])
    target = Publisher.objects.create(name="Kranichfelder Bote", domains=["kranichfelder-bote.example"])
    with CaptureQueriesContext(connection) as queries:
        found = list(Publisher.objects.for_domain("lokales.kranichfelder-bote.example"))
    assert found == [target]
    assert len(queries) == 1
    # editing the list keeps the index in step: the old domain no longer finds it
    target.domains = ["bote-kranichfeld.example"]
    target.save()
    assert not Publisher.objects.for_domain("kranichfelder-bote.example").exists()
    assert list(Publisher.objects.for_domain("bote-kranichfeld.example")) == [target]


@pytest.mark.django_db(transaction=True)
def test_two_workers_meeting_a_new_site_at_once_make_one_publisher():
    """Pages of one site never seen before, traced at the same moment by two workers (two
    connections): one publisher, and both documents point at it."""
    snaps = [page(f"https://www.kranichfelder-bote.example/lokales/wasserpreis-{i}", f"2026-02-0{i + 1}T08:00:00",
                  PARAS, lang="de", title=f"Wasserpreis steigt ({i})") for i in range(2)]
    barrier = threading.Barrier(2)
    results, errors = {}, []

    def go(i):
        try:
            barrier.wait()
            results[i] = publisher_for(snaps[i]).pk
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=go, args=(i,)) for i in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert not errors, errors
    assert results[0] == results[1]
    assert Publisher.objects.count() == 1
    assert list(PublisherDomain.objects.filter(domain="kranichfelder-bote.example").values_list(
        "publisher_id", flat=True)) == [results[0]]
    docs = [document_for_snapshot(s) for s in snaps]
    assert {d.publisher_id for d in docs} == {results[0]}


@pytest.mark.django_db
def test_the_api_refuses_a_domain_another_publisher_holds():
    _user, key = make_user("editor-pub", superuser=True)
    client = token_client(key)
    first = client.post("/api/publishers/", {"name": "Gazeta Wschodnia", "domains": ["gazeta-wschod.example"]},
                        format="json")
    assert first.status_code == 201, first.content
    second = client.post("/api/publishers/", {"name": "Gazeta (kopia)", "domains": ["Gazeta-Wschod.example."]},
                         format="json")
    assert second.status_code == 400
    assert "gazeta-wschod.example" in second.content.decode()
    assert "Gazeta Wschodnia" in second.content.decode()
    # editing the holder itself with its own domain is fine
    edit = client.patch(f"/api/publishers/{first.json()['id']}/",
                        {"domains": ["gazeta-wschod.example", "m.gazeta-wschod.example"]}, format="json")
    assert edit.status_code == 200, edit.content
    assert Publisher.objects.for_domain("m.gazeta-wschod.example").get().name == "Gazeta Wschodnia"


@pytest.mark.django_db
def test_the_admin_says_which_publisher_holds_a_domain(client):
    user, _key = make_user("admin-pub", superuser=True)
    client.force_login(user)
    Publisher.objects.create(name="Courrier du Lac", domains=["courrier-lac.example"])
    resp = client.post("/admin/provenance/publisher/add/", {
        "name": "Courrier (doublon)", "kind": "news", "language": "fr", "domains": '["courrier-lac.example"]',
        "aliases": "[]", "homepage": ""})
    assert resp.status_code == 200  # the form again, with the error
    body = resp.content.decode()
    assert "courrier-lac.example is already a domain of the publisher Courrier du Lac" in body
    assert Publisher.objects.filter(name__startswith="Courrier").count() == 1
