"""Helpers shared by the Django-side tests (the test web server lives in tests/corpus_server.py)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

from django.core.files.storage import storages

CORPUS = Path(__file__).parent / "fixtures" / "corpus"


def corpus_rows() -> list[dict]:
    rows = []
    with open(CORPUS / "urls.tsv", encoding="utf-8") as fh:
        for url, file, status, ctype, extra in csv.reader(fh, delimiter="\t"):
            rows.append({"url": url, "file": file, "status": int(status), "ctype": ctype, "extra": extra})
    return rows


def corpus_url(file: str) -> str:
    return next(r["url"] for r in corpus_rows() if r["file"] == file)


def corpus_bytes(file: str) -> bytes:
    return (CORPUS / file).read_bytes()


def gold(name: str) -> dict:
    return json.loads((CORPUS / "gold" / name).read_text(encoding="utf-8"))


WATAN_URL = corpus_url("watan/article.v1.html")
OLD_WATAN_URL = corpus_url("watan/article.windows-1256.html")
ELESPANOL_URL = corpus_url("elespanol/article.html")
ELESPANOL_SHORT_URL = ELESPANOL_URL.rstrip("/")
TWEET_URL = corpus_url("twitter/gantz-status.html")
FAR_URL = corpus_url("far/communique.html")
NGO_URL = corpus_url("ngo/statement.html")
DELETED_URL = corpus_url("watan/404.html")


def warc_path(name: str) -> str:
    return storages["warcs"].path(name)


def warcio_check(path: str) -> subprocess.CompletedProcess:
    """Run ``warcio check -v`` on a file, as a user would."""
    exe = Path(sys.executable).with_name("warcio")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "warcio.cli"]
    return subprocess.run([*cmd, "check", "-v", path], capture_output=True, text=True, timeout=120)


def assert_warcio_check(path: str) -> None:
    result = warcio_check(path)
    assert result.returncode == 0, f"warcio check failed for {path}:\n{result.stdout}\n{result.stderr}"
    assert "digest pass" in result.stdout, result.stdout


def published_warcs() -> list[str]:
    root = Path(storages["warcs"].location)
    return sorted(str(p) for p in root.rglob("*.warc.gz")) if root.exists() else []


def subprocess_env(**extra) -> dict:
    """Environment for a child Naql process that shares this test's database and data dir."""
    from django.conf import settings
    from django.db import connection

    env = os.environ.copy()
    sd = connection.settings_dict
    if sd["ENGINE"].endswith("sqlite3"):
        env["DATABASE_URL"] = f"sqlite:///{sd['NAME']}"
    else:
        env["DATABASE_URL"] = (f"postgres://{sd['USER'] or 'postgres'}@{sd['HOST'] or '127.0.0.1'}:"
                               f"{sd['PORT'] or 5432}/{sd['NAME']}")
    env["NAQL_DATA_DIR"] = str(settings.DATA_DIR)
    env.update({k: str(v) for k, v in extra.items()})
    return env


def start_worker(env: dict, *extra: str, argv: list[str] | None = None, name: str = "test") -> subprocess.Popen:
    """A real Celery worker process (solo pool by default; ``argv`` replaces the command, e.g. the
    one ``manage.py run`` starts), its output captured for :func:`stop_worker`."""
    import time

    argv = argv or [sys.executable, "-m", "celery", "-A", "naql", "worker", "--pool=solo", "--loglevel=INFO"]
    return subprocess.Popen([*argv, "--without-gossip", "--without-mingle", "--without-heartbeat",
                             "-n", f"{name}-{time.time_ns()}@%h", *extra],
                            cwd=Path(__file__).resolve().parent.parent, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def stop_worker(worker: subprocess.Popen) -> str:
    """SIGTERM (warm shutdown), SIGKILL after 30 s; returns everything the worker printed."""
    import signal

    worker.send_signal(signal.SIGTERM)
    try:
        out, _ = worker.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        worker.kill()
        out, _ = worker.communicate()
    return out


def wait_until(predicate, timeout: float, what: str, interval: float = 0.3) -> None:
    """Poll ``predicate`` until true; AssertionError naming ``what`` after ``timeout`` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


def serve_site(root: Path, rows: list[tuple]):
    """Start a forward proxy (tests.corpus_server.CorpusServer) serving the files in ``root`` at the
    URLs of ``rows``: ``(url, file or "-", status, content type, headers "K: V; K: V" or "-")``,
    written to ``root/urls.tsv``. The caller stops it."""
    from tests.corpus_server import CorpusServer

    (root / "urls.tsv").write_text("".join("\t".join(map(str, r)) + "\n" for r in rows), encoding="utf-8")
    return CorpusServer("proxy", corpus_dir=root).start()


def json_lines(capsys) -> list[dict]:
    """The JSON objects a command printed to stdout, one per line (``--json``)."""
    return [json.loads(x) for x in capsys.readouterr().out.strip().splitlines()]
