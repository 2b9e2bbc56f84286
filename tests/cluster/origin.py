"""A slow fixture web for the cluster tests: a forward HTTP proxy that answers every absolute-form
``GET http://<host>/<path>`` with a small, unique HTML article after a fixed latency.

The latency (default 200 ms) makes a capture network-bound, as on the real web, so throughput is
a question of how many captures run at once, not of this machine's two cores. Run as a process:

    python -m tests.cluster.origin --bind 10.231.0.1 --port 0 --latency 0.2 --port-file F

It writes the port it listens on to ``--port-file`` and counts requests per URL (``GET /__stats``
on the proxy itself answers JSON ``{url: count}``).
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

COUNTS: dict[str, int] = {}
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    latency = 0.2

    def log_message(self, *args) -> None:  # quiet
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path == "/__stats":
            with LOCK:
                body = json.dumps(COUNTS).encode()
            return self._send(200, "application/json", body)
        if not self.path.startswith("http://"):
            return self._send(400, "text/plain", b"absolute-form requests only")
        with LOCK:
            COUNTS[self.path] = COUNTS.get(self.path, 0) + 1
        time.sleep(self.latency)
        slug = self.path.rstrip("/").rsplit("/", 1)[-1]
        body = (
            "<!doctype html><html lang=en><head><meta charset=utf-8>"
            f"<title>Dispatch {slug}</title></head><body><article><h1>Dispatch {slug}</h1>"
            f"<p>The harbour authority reported on dispatch {slug} that the morning ferry left on time.</p>"
            "<p>Officials said the weather had improved overnight and that no delays were expected.</p>"
            "</article></body></html>"
        ).encode()
        self._send(200, "text/html; charset=utf-8", body)

    def _send(self, status: int, ctype: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--port-file", required=True)
    args = ap.parse_args()
    Handler.latency = args.latency
    server = ThreadingHTTPServer((args.bind, args.port), Handler)
    server.daemon_threads = True
    Path(args.port_file).write_text(str(server.server_address[1]))
    server.serve_forever()


if __name__ == "__main__":
    main()
