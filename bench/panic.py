"""Panic-at-scale benchmark: how close a panic for N users comes to the limit an IdP's rate limit sets.

A local fake IdP (a child process) answers Okta's end-all-sessions call, `DELETE /api/v1/users/{id}/sessions`,
after ~50 ms, and enforces R requests per second on that endpoint the way Okta does: fixed windows, every
answer carrying X-Rate-Limit-Limit / -Remaining / -Reset, a 429 beyond the limit. responder is configured with
the real `okta` plugin pointed at it, records one panic for N users in the ledger, and runs the engine until
every action is finished. Nothing is paced by configuration: only the IdP's headers slow responder down.

Reported per (N, R), as one JSON line on stdout (progress on stderr):
  ratio        execution wall time ÷ (N / R); 1.0 is the physical limit the IdP sets
  record_s     time to look nothing up and record the panic (N actions, one transaction)
  requests, rejected_429, rejected_share
  lost         users the IdP never logged out + actions not finished in the ledger (must be 0)

    .venv/bin/python bench/panic.py --users 2000 --rates 10,100
    .venv/bin/python bench/panic.py --users 2000,18400 --rates 10,100 --ledger postgresql://...
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

Json = dict[str, Any]
TOKEN = "bench-admin-token-not-a-secret"  # noqa: S105 - the fake IdP's own credential, nothing real


# ---- the fake IdP (runs in a child process) --------------------------------------------------------------


class RateLimitedIdP:
    """Per-endpoint fixed windows of `window` seconds, aligned to the epoch like Okta's minute windows."""

    def __init__(self, rate: float, window: float, latency: float) -> None:
        self.limit = max(1, round(rate * window))
        self.window = window
        self.latency = latency
        self.lock = threading.Lock()
        self.counts: dict[tuple[str, int], int] = {}
        self.logouts: dict[str, int] = {}
        self.requests = 0
        self.rejected = 0

    def answer(self, method: str, path: str, authorization: str) -> tuple[int, dict[str, str]]:
        parts = path.split("?", 1)[0].strip("/").split("/")
        endpoint = f"{method} /api/v1/users/{{id}}/sessions"
        with self.lock:
            self.requests += 1
            if authorization != f"SSWS {TOKEN}":
                return 401, {}
            now = time.time()
            index = int(now // self.window)
            used = self.counts.get((endpoint, index), 0) + 1
            self.counts[(endpoint, index)] = used
            headers = {
                "X-Rate-Limit-Limit": str(self.limit),
                "X-Rate-Limit-Remaining": str(max(0, self.limit - used)),
                "X-Rate-Limit-Reset": str(int((index + 1) * self.window + 0.999)),
            }
            if used > self.limit:
                self.rejected += 1
                return 429, headers
            is_sessions = len(parts) == 5 and parts[:3] == ["api", "v1", "users"] and parts[4] == "sessions"
            if method == "DELETE" and is_sessions:
                self.logouts[parts[3]] = self.logouts.get(parts[3], 0) + 1
                return 204, headers
            return 404, headers

    def stats(self) -> Json:
        with self.lock:
            return {"requests": self.requests, "rejected": self.rejected, "logouts": dict(self.logouts)}


def serve(rate: float, window: float, latency: float, port_out: Any) -> None:
    idp = RateLimitedIdP(rate, window, latency)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_DELETE(self) -> None:
            status, headers = idp.answer("DELETE", self.path, self.headers.get("Authorization", ""))
            time.sleep(idp.latency)
            self._send(status, headers, b"" if status == 204 else b'{"errorCode":"E0000047"}')

        def do_GET(self) -> None:
            if self.path == "/_stats":
                self._send(200, {}, json.dumps(idp.stats()).encode())
            else:
                self._send(404, {}, b"{}")

        def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    ThreadingHTTPServer.request_queue_size = 256
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port_out.put(server.server_address[1])
    server.serve_forever()


# ---- one measurement ---------------------------------------------------------------------------------------


def measure(users: int, rate: float, args: argparse.Namespace) -> Json:
    import httpx

    from responder.model import Subject
    from responder.service import PanicScope, Responder
    from responder.settings import Settings

    ports: Any = multiprocessing.Queue()
    server = multiprocessing.Process(target=serve, args=(rate, args.window, args.latency, ports), daemon=True)
    server.start()
    base = f"http://127.0.0.1:{ports.get(timeout=10)}"
    with tempfile.TemporaryDirectory(prefix="responder-bench-") as tmp:
        os.environ["RESPONDER_BENCH_OKTA_TOKEN"] = TOKEN
        ledger: Json = {"url": args.ledger} if args.ledger else {}
        settings = Settings(
            data_dir=Path(tmp),
            ledger=ledger,
            engine={"threads": args.threads, "poll_seconds": 0.2},
            providers=[
                {"name": "okta-bench", "plugin": "okta", "base_url": base, "token_env": "RESPONDER_BENCH_OKTA_TOKEN"}
            ],
        )
        responder = Responder.from_settings(settings)
        try:
            subjects = [Subject("okta-bench", f"00u{n:017d}") for n in range(users)]
            started = time.perf_counter()
            panic_id, recorded = responder.panic(
                "okta-bench", subjects, actor="bench", reason="bench", scope=PanicScope("all")
            )
            record_s = time.perf_counter() - started
            planned = len(recorded.planned)
            print(f"users={users} rate={rate}: recorded {planned} actions in {record_s:.1f}s", file=sys.stderr)
            engine = responder.engine()
            last = [time.monotonic()]

            def progress(stats: Any) -> None:
                if time.monotonic() - last[0] >= 15:
                    last[0] = time.monotonic()
                    print(f"  {stats.executed}/{users} finished", file=sys.stderr)

            started = time.perf_counter()
            stats = engine.run(until_idle=True, panic_id=panic_id, on_progress=progress)
            wall = time.perf_counter() - started
            unfinished = responder.ledger.due_or_leased(panic_id=panic_id)
        finally:
            responder.close()
        seen = httpx.get(f"{base}/_stats").json()
    server.terminate()
    logged_out = seen["logouts"]
    lost = sum(1 for s in subjects if s.user_id not in logged_out) + unfinished
    ideal = users / rate
    return {
        "bench": "panic",
        "users": users,
        "rate_per_s": rate,
        "window_s": args.window,
        "latency_ms": round(args.latency * 1000),
        "threads": args.threads,
        "ledger": "postgresql" if args.ledger else "sqlite",
        "record_s": round(record_s, 2),
        "wall_s": round(wall, 2),
        "ideal_s": round(ideal, 2),
        "ratio": round(wall / ideal, 3),
        "requests": seen["requests"],
        "rejected_429": seen["rejected"],
        "rejected_share": round(seen["rejected"] / max(1, seen["requests"]), 4),
        "repeated_logouts": sum(n - 1 for n in logged_out.values() if n > 1),
        "lost": lost,
        "outcomes": stats.outcomes,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", default="2000", help="comma-separated user counts (default 2000)")
    parser.add_argument("--rates", default="10,100", help="comma-separated IdP limits, requests/s (default 10,100)")
    parser.add_argument("--window", type=float, default=1.0, help="the IdP's rate-limit window, s (Okta: 60)")
    parser.add_argument("--latency", type=float, default=0.05, help="the IdP's answer time, s (default 0.05)")
    parser.add_argument("--threads", type=int, default=16, help="engine threads (default 16)")
    parser.add_argument("--ledger", default=None, help="ledger URL (default: SQLite in a temp directory)")
    args = parser.parse_args(argv)
    from responder.log import configure_logging

    configure_logging(level="warning")  # stdout is for the JSON lines only
    try:
        counts = [int(u) for u in args.users.split(",")]
        rates = [float(r) for r in args.rates.split(",")]
    except ValueError:
        parser.error("--users and --rates take comma-separated numbers")
    for users in counts:
        for rate in rates:
            print(json.dumps(measure(users, rate, args)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
