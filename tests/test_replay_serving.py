"""Replay's serving path: bodies streamed in bounded memory, the anonymous fast path, fixity
checked before the first byte (issue 19; issue 17 kind 4 needs replay memory flat in body size)."""

from __future__ import annotations

import hashlib
import tracemalloc
from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Group, User
from django.core.files.storage import storages
from django.test import override_settings

from archive.models import Snapshot
from tests.replay_support import URLCONF, import_exchanges

pytestmark = [pytest.mark.django_db, pytest.mark.urls(URLCONF)]

WHEN = datetime(2022, 3, 14, 9, 26, 53, tzinfo=UTC)


def _archive(tmp_path, url: str, body: bytes, ctype: str = "application/octet-stream") -> Snapshot:
    head = f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    (snap,) = import_exchanges(tmp_path, [(url, WHEN, head + body)])
    return snap


def _replay_peak(client, snap: Snapshot) -> tuple[int, str, int, bool]:
    """(bytes received, their SHA-256, peak Python memory while serving and reading, streamed?)"""
    tracemalloc.start()
    try:
        resp = client.get(f"/web/{snap.timestamp}id_/{snap.url}")
        digest, size = hashlib.sha256(), 0
        chunks = resp.streaming_content if resp.streaming else [resp.content]
        for chunk in chunks:
            digest.update(chunk)
            size += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert resp.status_code == 200
    return size, digest.hexdigest(), peak, resp.streaming


@override_settings(NAQL_IMPORT_MAX_RATIO=100_000)  # archived on purpose: the import's bomb limit is tested elsewhere
def test_id_replay_memory_stays_flat_as_the_body_grows_fourfold(client, tmp_path):
    # a media file of repetitive bytes: its WARC record is small on disk and large inflated,
    # the shape of the decompression-bomb import of issue 17
    pattern = b"\x00\x01naql-replay-stream\xfe\xff" * 64
    small = (pattern * (8 * 2**20 // len(pattern) + 1))[: 8 * 2**20]
    large = (pattern * (32 * 2**20 // len(pattern) + 1))[: 32 * 2**20]
    s_small = _archive(tmp_path, "http://media.example.org/clip-a.bin", small)
    s_large = _archive(tmp_path, "http://media.example.org/clip-b.bin", large)
    n_small, d_small, peak_small, streamed_small = _replay_peak(client, s_small)
    n_large, d_large, peak_large, streamed_large = _replay_peak(client, s_large)
    assert (n_small, d_small) == (len(small), hashlib.sha256(small).hexdigest())
    assert (n_large, d_large) == (len(large), hashlib.sha256(large).hexdigest())
    assert streamed_small and streamed_large
    # 24 MiB more body, (almost) no more memory: a few read buffers, never the body
    assert peak_large < peak_small + 2 * 2**20, (peak_small, peak_large)
    assert peak_large < 8 * 2**20, peak_large


def test_small_bodies_are_served_whole_and_byte_exact(client, tmp_path):
    body = "<!doctype html><title>Nota breve</title><p>Un párrafo corto, servido de una vez.</p>".encode()
    snap = _archive(tmp_path, "http://notas.example.com/breve", body, "text/html; charset=utf-8")
    resp = client.get(f"/web/{snap.timestamp}id_/{snap.url}")
    assert resp.status_code == 200 and not resp.streaming and resp.content == body


def test_a_damaged_record_is_refused_before_any_byte_of_it_is_sent(client, tmp_path):
    body = b"GIF89a" + bytes(range(256)) * 8192  # 2 MiB: more than one chunk, so it would stream
    snap = _archive(tmp_path, "http://media.example.org/animation.gif", body, "image/gif")
    path = storages["warcs"].path(snap.warc_file.name)
    with open(path, "r+b") as fh:  # flip one byte inside the record (the evidence is damaged)
        fh.seek(snap.offset + snap.length // 2)
        byte = fh.read(1)
        fh.seek(snap.offset + snap.length // 2)
        fh.write(bytes([byte[0] ^ 0xFF]))
    try:
        resp = client.get(f"/web/{snap.timestamp}id_/{snap.url}")
    finally:
        with open(path, "r+b") as fh:  # put it back: the session's WARC check reads every file
            fh.seek(snap.offset + snap.length // 2)
            fh.write(byte)
    assert resp.status_code == 502 and not resp.streaming
    assert b"GIF89a" not in resp.content


def test_anonymous_fast_path_hides_a_group_mementos_and_a_member_session_sees_them(client, tmp_path):
    body = "<!doctype html><title>Borrador</title><p>Solo para la redacción.</p>".encode()
    snap = _archive(tmp_path, "http://redaccion.example.com/borrador", body, "text/html; charset=utf-8")
    group = Group.objects.create(name="redaccion")
    Snapshot.objects.filter(pk=snap.pk).update(private_to_group=group)
    path = f"/web/{snap.timestamp}id_/{snap.url}"
    anonymous = client.get(path)
    assert anonymous.status_code == 404 and b"Solo para" not in anonymous.content
    assert "Cookie" in anonymous["Vary"]
    assert client.get(f"/web/{snap.url}").status_code == 404  # TimeGate
    assert client.get(f"/web/timemap/link/{snap.url}").status_code == 404
    member = User.objects.create_user("editora", password="x-long-enough-pass")
    member.groups.add(group)
    client.force_login(member)
    seen = client.get(path)
    assert seen.status_code == 200 and seen.content == body
    assert client.get(f"/web/{snap.url}").status_code == 302
