"""A capture's peak memory does not grow with the size of the body it archives (issue 19): the
body goes from the socket into a spooled, hashed buffer and from there into the WARC record a
piece at a time, never whole. Measured as a user runs it: ``manage.py capture`` in a child
process, its peak RSS read from ``wait4``'s resource usage, for two body sizes (the lab server
streams them in 64 KiB blocks, so the server holds no whole body either)."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from archive.models import Snapshot
from tests.helpers import assert_warcio_check, subprocess_env, warc_path

ROOT = Path(__file__).resolve().parent.parent
MIB = 1 << 20

pytestmark = pytest.mark.django_db(transaction=True)


# A small go-between runs the command and reports its child's peak RSS. Measured from pytest
# itself, ``ru_maxrss`` would include pytest's own high-water mark: the child is forked from this
# big process and Linux folds the forking process's peak into the child's at ``exec``.
_RUN_AND_MEASURE = """
import os, subprocess, sys
proc = subprocess.Popen(sys.argv[1:])
_pid, status, usage = os.wait4(proc.pid, 0)
proc.returncode = os.waitstatus_to_exitcode(status)
sys.stderr.write(f"\\nmaxrss_kib={usage.ru_maxrss}\\n")
sys.exit(proc.returncode)
"""


def _capture_peak_rss(url: str, proxy_url: str) -> int:
    """Run ``manage.py capture --json URL`` in a child; its peak RSS in bytes."""
    env = subprocess_env(NAQL_CAPTURE_PROXY=proxy_url, NAQL_CAPTURE_PROXY_LOCAL_DNS="false",
                         NAQL_CAPTURE_ALLOWED_NETWORKS="", NAQL_LOG_LEVEL="WARNING")
    proc = subprocess.run([sys.executable, "-c", _RUN_AND_MEASURE, sys.executable, "manage.py", "capture",
                           "--json", "--no-requisites", url], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, f"capture failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    line = json.loads(proc.stdout.strip().splitlines()[-1])
    assert line["ok"], line
    return int(re.search(r"maxrss_kib=(\d+)", proc.stderr).group(1)) * 1024  # Linux: KiB


def _sha256_of_x(n: int) -> str:
    h = hashlib.sha256()
    for _ in range(n // MIB):
        h.update(b"x" * MIB)
    return h.hexdigest()


def test_peak_memory_of_a_capture_does_not_grow_with_the_body(corpus_proxy):
    peaks = {}
    for mb in (8, 32):
        url = f"http://lab.naql.test/big?mb={mb}"
        peaks[mb] = _capture_peak_rss(url, corpus_proxy.proxy_url)
        snap = Snapshot.objects.get(url=url)
        # the whole body was archived, and its digests are those of the bytes sent
        assert snap.payload_length == mb * MIB
        assert snap.payload_sha256 == _sha256_of_x(mb * MIB)
        assert_warcio_check(warc_path(snap.warc_file.name))
    grown = peaks[32] - peaks[8]
    # 24 MiB more body; holding the body whole even once would add about that much
    assert grown < 6 * MIB, f"peak RSS {peaks[8] / MIB:.1f} MiB for 8 MiB, {peaks[32] / MIB:.1f} MiB for 32 MiB"
