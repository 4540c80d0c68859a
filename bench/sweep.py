"""Sweep benchmark: tickets per second that `responder sweep` gets through a Zendesk account at its rate limit.

A FakeZendesk (tests/fakes/zendesk.py, real HTTP on 127.0.0.1, in this process) is seeded with N tickets: open,
pending, solved and closed ones, each with one to four comments; a share of them (`--capture-share`, 5 %) carries
a HAR made by bench/har_gen.py (no credentials of its own) with `--tokens` bearer tokens planted in it, issued
beforehand at a FakeIdP and sent to a host the `fake` provider claims; others carry a .png or a .pdf, most no
file at all. The account enforces R requests per second as a fixed window of R × `--window` requests (Zendesk's
own windows are a minute), answering 429 + Retry-After past it, and the incremental export its own limit
(`--export-limit` a minute; Zendesk's is 10). responder is configured the way an operator would (the `zendesk`
source plugin with the export limit set to the account's, the `fake` provider, SQLite in a temp directory) and
runs as shipped: `responder sweep bench --format json` in a child process, to the end of its summary.

Per run, one JSON line on stdout (progress and the child's own log on stderr):
  tickets, captures, closed_captures, tokens   what was seeded (tokens: live ones, all planted in captures)
  tickets_seen, credentials, revoked           the sweep's own summary (a ticket the sweep's clean-up changed
                                               comes again in the export, so tickets_seen can exceed tickets)
  wall_s              the child process from start to exit (start-up included, see startup_s)
  tickets_per_s       tickets ÷ wall_s
  ratio_to_limit      tickets_per_s ÷ R: 1.0 is one API request per ticket at the limit; it equals
                      budget_used ÷ requests_per_ticket
  budget_used         requests_per_s ÷ R: the share of the account's allowance used (fixed windows let a run
                      that ends early in its last window exceed 1.0)
  requests_per_ticket, requests_by_kind, rejected_429, export_requests (answered 200)
  account_min_s       the least time the account's fixed windows allow for the requests made
  export_min_s        the least time the export limit allows for the export calls made
  governed_by         the limit whose floor is the larger ("both" when equal), or "neither" when both floors
                      are under 0.8 of the time the sweep worked
  listing_s, tail_s   first request → last listing request (export, comments); then → exit (fetch, revoke, clean)
  waits_s             seconds with no request at all (gaps ≥ 0.25 s): account_limit (its window was used up),
                      export_limit (the gap ended with an export call), responder (anything else)
  missing, complete   tokens still live at the IdP, captures not redacted in Zendesk, sanitized copies missing
                      from open tickets or holding a token, tickets whose comments were never listed, failures
                      or open items in the summary; complete is true when all are 0 and the sweep exited 0
                      (this script exits 1 otherwise)

    .venv/bin/python bench/sweep.py                              # 2,000 tickets, 20 requests/s, 60 s windows
    .venv/bin/python bench/sweep.py --limit 20,40 --repeat 2 --window 1
    .venv/bin/python bench/sweep.py --quick                      # a few seconds: the smoke test's run
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import platform
import random
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Json = dict[str, Any]
BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
HOST = "api.sweep-bench.test"  # where the planted tokens are sent; the fake provider claims this host
SOURCE = "bench"
TOKEN_ENV = "RESPONDER_BENCH_ZENDESK_TOKEN"  # noqa: S105 - the name of a variable, not a credential
STATUSES = ("open", "pending", "solved", "closed")
STATUS_WEIGHTS = (35.0, 10.0, 25.0, 30.0)  # per cent of tickets
IDLE_GAP = 0.25  # seconds without any request that count as waiting
LISTING_KINDS = frozenset({"export", "comments"})
GOVERNS = 0.8  # a limit governs when its floor is at least this share of the sweep's working time


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# ---- the account, with a timeline of what it was asked -----------------------------------------------------

_KINDS = (
    (re.compile(r"GET /api/v2/incremental/"), "export"),
    (re.compile(r"GET /api/v2/tickets/(\d+)/comments"), "comments"),
    (re.compile(r"GET /api/v2/attachments/\d+"), "attachment"),
    (re.compile(r"GET /api/v2/tickets/\d+"), "ticket"),
    (re.compile(r"PUT /api/v2/tickets/\d+/comments/\d+/attachments/\d+/redact"), "redact"),
    (re.compile(r"PUT /api/v2/comment_redactions/"), "comment_redaction"),
    (re.compile(r"POST /api/v2/uploads"), "upload"),
    (re.compile(r"PUT /api/v2/tickets/\d+"), "ticket_update"),
    (re.compile(r"GET /api/v2/users/me"), "me"),
)


@dataclass(frozen=True)
class Noted:
    at: float  # monotonic, when the answer was ready
    kind: str
    status: int
    ticket: int  # the ticket whose comments were listed; 0 for other kinds


def noted(method: str, target: str, status: int) -> Noted:
    line = f"{method} {target}"
    for pattern, kind in _KINDS:
        if found := pattern.match(line):
            ticket = int(found.group(1)) if found.groups() else 0
            return Noted(time.monotonic(), kind, status, ticket)
    return Noted(time.monotonic(), "other", status, 0)


def timed_zendesk(**options: Any) -> Any:
    """A FakeZendesk that notes the time, kind and status of every /api/v2 answer."""
    from tests.fakes.zendesk import FakeZendesk

    class TimedZendesk(FakeZendesk):
        def __init__(self) -> None:
            super().__init__(**options)
            self.timeline: list[Noted] = []
            self._noted = threading.Lock()

        def _answer_api(
            self, method: str, target: str, headers: dict[str, str], body: bytes
        ) -> tuple[int, dict[str, str], bytes]:
            answer = super()._answer_api(method, target, headers, body)
            if target.startswith("/api/v2/"):
                with self._noted:
                    self.timeline.append(noted(method, target, answer[0]))
            return answer

    return TimedZendesk()


# ---- seeding --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Capture:
    ticket_id: int
    attachment_id: int
    closed: bool
    tokens: tuple[str, ...]  # fake values issued at the FakeIdP; compared, never printed


@dataclass
class Seeded:
    tickets: int
    ticket_ids: list[int] = field(default_factory=list)
    captures: list[Capture] = field(default_factory=list)
    other_files: int = 0
    har_bytes: int = 0

    @property
    def tokens(self) -> int:
        return sum(len(c.tokens) for c in self.captures)


PNG = b"\x89PNG\r\n\x1a\n" + bytes(4_000)
PDF = b"%PDF-1.7\n" + b"0" * 20_000 + b"\n%%EOF\n"


def har_with_tokens(workdir: Path, size: int, seed: int, tokens: tuple[str, ...]) -> bytes:
    """A har_gen HAR with no credentials of its own, plus one API call per token that sends it as a bearer
    to HOST, each made from one of the file's own entries and put among them."""
    from har_gen import write_har

    path = workdir / f"seed-{seed}.har"
    write_har(path, size, seed=seed, plant_every=0)
    document = json.loads(path.read_bytes())
    path.unlink()
    entries: list[Json] = document["log"]["entries"]
    rng = random.Random(seed)
    for number, token in enumerate(tokens):
        call = copy.deepcopy(rng.choice(entries))
        request = call["request"]
        request.update(method="GET", url=f"https://{HOST}/v2/account/{number}", queryString=[])
        headers = [h for h in request["headers"] if h["name"].lower() not in (":authority", "host", "authorization")]
        request["headers"] = [*headers, {"name": "Authorization", "value": f"Bearer {token}"}]
        entries.insert(rng.randrange(len(entries) + 1), call)
    return json.dumps(document).encode()


def seed_account(zendesk: Any, idp: Any, args: argparse.Namespace, workdir: Path) -> Seeded:
    rng = random.Random(args.seed)
    count = args.tickets
    with_capture = set(rng.sample(range(count), round(count * args.capture_share)))
    seeded = Seeded(count)
    for n in range(count):
        status = rng.choices(STATUSES, STATUS_WEIGHTS)[0]
        ticket = zendesk.add_ticket(status, subject=f"Support request {n}")
        seeded.ticket_ids.append(ticket)
        comments = rng.randint(1, 4)
        carrier = rng.randrange(comments)  # the comment with the ticket's file, if it has one
        for c in range(comments):
            files: list[tuple[str, bytes, str]] = []
            tokens: tuple[str, ...] = ()
            if c == carrier and n in with_capture:
                tokens = tuple(secrets.token_urlsafe(30) for _ in range(args.tokens))
                for token in tokens:
                    idp.issue(token, subject=f"customer-{n}")
                data = har_with_tokens(workdir, args.har_size, args.seed * 1_000_003 + n, tokens)
                files.append((f"network-{n}.har", data, "application/json"))
                seeded.har_bytes += len(data)
            elif c == carrier and rng.random() < 0.25:
                files.append((f"screenshot-{n}.png", PNG, "image/png"))
            elif c == carrier and rng.random() < 0.1:
                files.append((f"invoice-{n}.pdf", PDF, "application/pdf"))
            comment = zendesk.add_comment(ticket, f"Comment {c} on ticket {n}", files, public=c % 2 == 0)
            if tokens:
                attachment_id = zendesk.comments[comment].attachment_ids[0]
                seeded.captures.append(Capture(ticket, attachment_id, status == "closed", tokens))
            elif files:
                seeded.other_files += 1
    return seeded


# ---- responder, as an operator configures and runs it -----------------------------------------------------


def write_config(path: Path, workdir: Path, zendesk: Any, idp_url: str, args: argparse.Namespace) -> None:
    api_host = zendesk.url.removeprefix("http://")
    path.write_text(
        f"""data_dir = {json.dumps(str(workdir / "data"))}
log_level = "warning"

[ledger]
url = {json.dumps(f"sqlite:///{workdir / 'ledger.sqlite3'}")}

[[providers]]
name = "bench-idp"
plugin = "fake"
base_url = {json.dumps(idp_url)}
hosts = ["{HOST}"]

[[sources]]
name = "{SOURCE}"
plugin = "zendesk"
base_url = {json.dumps(zendesk.url)}
email = {json.dumps(zendesk.email)}
api_token_env = "{TOKEN_ENV}"
attachment_hosts = ["{api_host}", "{zendesk.cdn_host}"]
export_requests_per_minute = {args.export_limit}
export_page_size = {args.page_size}
"""
    )


@dataclass(frozen=True)
class Run:
    exit_code: int
    wall_s: float
    started: float  # monotonic, when the child was started
    summary: Json


def run_sweep(config: Path, api_token: str, args: argparse.Namespace) -> Run:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESPONDER_")}
    env[TOKEN_ENV] = api_token
    command = [sys.executable, "-m", "responder", "sweep", SOURCE, "--format", "json", "--config", str(config)]
    command += ["--threads", str(args.threads)]
    started = time.monotonic()
    child = subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, timeout=args.timeout, check=False)
    wall = time.monotonic() - started
    try:
        summary = json.loads(child.stdout)
    except ValueError:
        summary = {}
    return Run(child.returncode, wall, started, summary)


# ---- checks and figures -------------------------------------------------------------------------------------


def check(zendesk: Any, idp: Any, seeded: Seeded, run: Run, timeline: list[Noted]) -> dict[str, int]:
    """What is missing: tokens still live, captures still there, copies not there or not clean, tickets whose
    comments were never listed, failures or open items in the sweep's own summary."""
    from responder.testing import token_key

    live = sum(1 for c in seeded.captures for t in c.tokens if not idp.tokens[token_key(t)].revoked)
    unredacted = sum(1 for c in seeded.captures if not zendesk.attachments[c.attachment_id].redacted)
    leaked = 0
    missing_copies = 0
    for capture in seeded.captures:
        ticket = zendesk.tickets[capture.ticket_id]
        files = [zendesk.attachments[a] for c in ticket.comment_ids for a in zendesk.comments[c].attachment_ids]
        copies = [f for f in files if ".sanitized." in f.file_name and f.data]
        missing_copies += 0 if capture.closed or copies else 1  # a closed ticket takes no new comment
        leaked += sum(1 for f in copies for t in capture.tokens if t.encode() in f.data)
    listed = {n.ticket for n in timeline if n.kind == "comments"}
    summary = run.summary
    return {
        "tokens_live": live,
        "captures_unredacted": unredacted,
        "copies_missing": missing_copies,
        "tokens_in_copies": leaked,
        "tickets_unlisted": sum(1 for t in seeded.ticket_ids if t not in listed),
        "summary_failures": int(summary.get("failures", 1)) + int(summary.get("still_open", 1)),
    }


def waits(timeline: list[Noted], start: float, per_window: int, window: float) -> dict[str, float]:
    """Seconds in which the account was asked nothing (gaps of IDLE_GAP or more), by why: its window was used
    up (account_limit, until the window's end), the call that ended the gap was an export call (export_limit),
    or neither (responder: its own work, its pacing's rounding, its waits for the engine). The fake's window is
    replayed from the timeline: it starts at the first call after the last one ended."""
    waited = {"account_limit": 0.0, "export_limit": 0.0, "responder": 0.0}
    window_start, used = -math.inf, 0
    previous = start
    for note in timeline:
        gap = note.at - previous
        if gap >= IDLE_GAP:
            window_end = window_start + window
            blocked = min(gap, window_end - previous) if used >= per_window and previous < window_end else 0.0
            waited["account_limit"] += blocked
            waited["export_limit" if note.kind == "export" else "responder"] += gap - blocked
        if note.at - window_start >= window:
            window_start, used = note.at, 0
        if used < per_window:
            used += 1
        previous = note.at
    return {why: round(seconds, 1) for why, seconds in sorted(waited.items(), key=lambda w: -w[1]) if seconds > 0}


def export_floor(pages: int, per_minute: int) -> float:
    """The least seconds the export limit allows for `pages` calls: call k cannot go before k // E minutes."""
    return 60.0 * ((pages - 1) // per_minute) if pages else 0.0


def account_floor(requests: int, per_window: int, window: float) -> float:
    """The least seconds fixed windows allow for `requests` calls: the last window is entered, not waited out."""
    return window * (math.ceil(requests / per_window) - 1) if requests else 0.0


def governed_by(account_min: float, export_min: float, working_s: float) -> str:
    """The limit whose floor is the larger, or "neither" when no floor comes near the time the sweep took."""
    if max(account_min, export_min) < GOVERNS * working_s:
        return "neither"
    if account_min == export_min:
        return "both"
    return "account" if account_min > export_min else "export"


def measure(limit: float, args: argparse.Namespace) -> Json:
    from responder.testing import FakeIdP

    workdir = Path(tempfile.mkdtemp(prefix="responder-bench-sweep-"))
    api_token = secrets.token_urlsafe(24)
    per_window = max(1, round(limit * args.window))
    zendesk = timed_zendesk(
        api_token=api_token,
        requests_per_window=per_window,
        window_seconds=args.window,
        export_requests_per_minute=args.export_limit,
    )
    try:
        with zendesk, FakeIdP() as idp:
            started = time.perf_counter()
            seeded = seed_account(zendesk, idp, args, workdir)
            log(
                f"seeded {seeded.tickets} tickets, {len(seeded.captures)} captures ({seeded.tokens} live tokens) "
                f"in {time.perf_counter() - started:.1f}s; sweeping at {per_window} requests per {args.window:g}s"
            )
            config = workdir / "responder.toml"
            write_config(config, workdir, zendesk, idp.url, args)
            run = run_sweep(config, api_token, args)
            timeline = list(zendesk.timeline)
            missing = check(zendesk, idp, seeded, run, timeline)
            rejected, requests, exports = zendesk.rejected_429, zendesk.requests, zendesk.export_requests
    finally:
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    first = timeline[0].at if timeline else run.started
    listed = max((n.at for n in timeline if n.kind in LISTING_KINDS), default=first)
    summary = run.summary
    account_min = account_floor(requests, per_window, args.window)
    export_min = export_floor(exports, args.export_limit)
    tickets_per_s = seeded.tickets / run.wall_s
    return {
        "bench": "sweep",
        "tickets": seeded.tickets,
        "captures": len(seeded.captures),
        "closed_captures": sum(1 for c in seeded.captures if c.closed),
        "other_files": seeded.other_files,
        "tokens": seeded.tokens,
        "tickets_seen": summary.get("tickets_seen"),
        "credentials": summary.get("credentials"),
        "revoked": summary.get("revoked"),
        "limit_per_s": limit,
        "window_s": args.window,
        "export_limit_per_min": args.export_limit,
        "export_page_size": args.page_size,
        "threads": args.threads,
        "har_bytes": round(seeded.har_bytes / max(1, len(seeded.captures))),
        "wall_s": round(run.wall_s, 2),
        "startup_s": round(first - run.started, 2),
        "listing_s": round(listed - first, 2),
        "tail_s": round(run.started + run.wall_s - listed, 2),
        "tickets_per_s": round(tickets_per_s, 2),
        "ratio_to_limit": round(tickets_per_s / limit, 3),
        "requests": requests,
        "requests_per_s": round(requests / run.wall_s, 2),
        "budget_used": round(requests / run.wall_s / limit, 3),
        "requests_per_ticket": round(requests / seeded.tickets, 3),
        "requests_by_kind": dict(Counter(n.kind for n in timeline).most_common()),
        "rejected_429": rejected,
        "export_requests": exports,
        "account_min_s": round(account_min, 1),
        "export_min_s": round(export_min, 1),
        "governed_by": governed_by(account_min, export_min, run.wall_s - (first - run.started)),
        "waits_s": waits(timeline, first, per_window, args.window),
        "exit_code": run.exit_code,
        "missing": missing,
        "complete": run.exit_code == 0 and not any(missing.values()),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
    }


def main(argv: list[str] | None = None) -> int:
    sys.path[:0] = [str(BENCH_DIR), str(ROOT)]  # har_gen, and tests.fakes.zendesk
    from har_gen import parse_size

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickets", type=int, default=2000, help="tickets in the account (default 2000)")
    parser.add_argument("--limit", default="20", help="comma-separated account limits, requests/s (default 20)")
    parser.add_argument("--window", type=float, default=60.0, help="the account's window, s (Zendesk: 60)")
    parser.add_argument("--export-limit", type=int, default=10, help="export calls a minute (Zendesk: 10)")
    parser.add_argument("--page-size", type=int, default=1000, help="tickets per export page (responder: 1000)")
    parser.add_argument("--capture-share", type=float, default=0.05, help="tickets with a HAR (default 0.05)")
    parser.add_argument("--tokens", type=int, default=2, help="live tokens planted per HAR (default 2)")
    parser.add_argument("--har-size", type=parse_size, default=1_000_000, help="HAR size (default 1MB)")
    parser.add_argument("--threads", type=int, default=2, help="`responder sweep --threads` (default 2)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per limit (default 1)")
    parser.add_argument("--seed", type=int, default=2, help="seed of the account's contents (default 2)")
    parser.add_argument("--timeout", type=float, default=1800, help="give up on a sweep after this many s")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (config, ledger)")
    parser.add_argument("--quick", action="store_true", help="a small fast run: 60 tickets, 6 captures, 100/s")
    args = parser.parse_args(argv)
    if args.quick:
        args.tickets, args.capture_share, args.har_size, args.limit, args.window = 60, 0.1, 100_000, "100", 1.0
    try:
        limits = [float(r) for r in args.limit.split(",")]
    except ValueError:
        parser.error("--limit takes comma-separated numbers")
    if args.tickets < 1 or not 0 <= args.capture_share <= 1 or any(r <= 0 for r in limits):
        parser.error("--tickets must be positive, --capture-share within 0..1, --limit above 0")
    complete = True
    for limit in limits:
        for number in range(args.repeat):
            result = measure(limit, args)
            print(json.dumps(result), flush=True)
            log(
                f"limit {limit:g}/s run {number + 1}: {result['tickets_per_s']} tickets/s, "
                f"ratio {result['ratio_to_limit']}, complete {result['complete']}"
            )
            complete = complete and result["complete"]
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
