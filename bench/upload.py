"""Upload benchmark: how long an upload takes to be answered (202), and how long from sending it until the IdP
receives the first revocation request, under 1, 8 and 32 concurrent uploaders.

The real service runs as `responder serve` in a child process (uvicorn on 127.0.0.1, SQLite ledger and data
directory in a temporary directory, the engine inside), with the `fake` provider plugin pointed at a FakeIdP
(responder/testing.py) that runs in this process and notes when each token's first `POST /revoke` arrives.
Each upload is its own 5 MB HAR from bench/har_gen.py (seed = upload number). har_gen's own credentials are
for IdP families the fake plugin does not act for (they are found and left to a person, as in production), so
`--tokens` opaque bearer tokens sent to a host the fake provider claims are planted in each (copies of real
entries of the file; tokens issued at the FakeIdP beforehand, only their digests kept). Uploaders are threads,
each with its own httpx.Client; a level sends a fixed number of uploads, `--uploads`, whatever its concurrency.

Per level, one JSON line on stdout (progress on stderr); times in ms, percentiles by nearest rank:
  upload_p50_ms / upload_p95_ms    request sent → 202 read (body already in memory)
  revoke_p50_ms / revoke_p95_ms    request sent → the IdP receives the first revoke of that upload's tokens
  lost                             uploads whose tokens never reached the IdP (must be 0)

    .venv/bin/python bench/upload.py                       # levels 1,8,32 × 64 uploads of 5 MB
    .venv/bin/python bench/upload.py --levels 1,8 --uploads 16 --size 1MB --plant-every 20
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import platform
import queue
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Json = dict[str, Any]
BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
HOST = "api.bench.test"  # where the revocable tokens are sent; the fake provider claims it


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# ---- the IdP ----------------------------------------------------------------------------------------------


def timed_idp() -> Any:
    """A FakeIdP noting the arrival of each token's first revoke request (by digest, as the FakeIdP files)."""
    from responder.testing import FakeIdP, token_key

    class TimedIdP(FakeIdP):
        def __init__(self) -> None:
            super().__init__()
            self.first_revoke: dict[str, float] = {}
            self.arrived = threading.Condition()

        def _respond(
            self, method: str, path: str, form: dict[str, str], query: dict[str, str] | None = None
        ) -> tuple[int, dict[str, str], dict[str, Any]]:
            if method == "POST" and path == "/revoke":
                with self.arrived:
                    self.first_revoke.setdefault(token_key(form.get("token", "")), time.perf_counter())
                    self.arrived.notify_all()
            return super()._respond(method, path, form, query)

        def first_of(self, keys: tuple[str, ...]) -> float | None:
            with self.arrived:
                times = [self.first_revoke[k] for k in keys if k in self.first_revoke]
            return min(times) if times else None

        def wait_all(self, uploads: list[Upload], timeout: float) -> None:
            deadline = time.monotonic() + timeout
            with self.arrived:
                self.arrived.wait_for(
                    lambda: all(any(k in self.first_revoke for k in u.keys) for u in uploads),
                    max(0.0, deadline - time.monotonic()),
                )

    return TimedIdP()


# ---- the service ------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_config(path: Path, data_dir: Path, port: int, idp_url: str, key: str, threads: int) -> None:
    path.write_text(
        f"""data_dir = {json.dumps(str(data_dir))}
log_level = "warning"

[engine]
threads = {threads}

[serve]
host = "127.0.0.1"
port = {port}

[[providers]]
name = "bench-idp"
plugin = "fake"
base_url = {json.dumps(idp_url)}
hosts = ["{HOST}"]

[[api_keys]]
name = "bench"
key_sha256 = "{hashlib.sha256(key.encode()).hexdigest()}"
roles = ["uploader", "auditor"]
"""
    )


class Service:
    """`responder serve` in a child process; its own output goes to a file in the work directory."""

    def __init__(self, config: Path, port: int, output: Path) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self._output = output.open("wb")
        command = [sys.executable, "-m", "responder", "serve", "--config", str(config)]
        self._process = subprocess.Popen(command, cwd=ROOT, stdout=self._output, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 60) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"responder serve exited with {self._process.returncode}: see {self._output.name}")
            try:
                if httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"responder serve not ready after {timeout:.0f}s: see {self._output.name}")

    def stop(self) -> None:
        self._process.terminate()  # SIGTERM: uvicorn stops, the engine finishes what it holds
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._output.close()


# ---- uploads ----------------------------------------------------------------------------------------------


@dataclass
class Upload:
    path: Path
    keys: tuple[str, ...]  # the FakeIdP's digests of the tokens it will be asked to revoke; never the values
    har_gen_planted: int  # har_gen's own credentials in the file (found; no configured provider can end them)
    size: int = 0
    sent: float = 0.0
    answered: float = 0.0
    status: int = 0
    actions: int = 0


def plant(path: Path, tokens: list[str]) -> None:
    """Add one request per token to a generated HAR, each a copy of a real entry of that HAR sent to HOST with
    the token as its bearer: har_gen's own credentials belong to IdP families the fake plugin cannot act for
    (they are found, and left to a person), so these are the ones the fake IdP is asked to revoke."""
    document = json.loads(path.read_bytes())
    entries = document["log"]["entries"]
    for n, token in enumerate(tokens):
        at = (n + 1) * len(entries) // (len(tokens) + 1)
        entry = copy.deepcopy(entries[at])
        request = entry["request"]
        request["url"] = f"https://{HOST}/v1/session/{n}"
        request["queryString"] = []
        kept = [h for h in request["headers"] if h["name"].lower() not in (":authority", "host", "authorization")]
        request["headers"] = [*kept, {"name": "authorization", "value": f"Bearer {token}"}]
        entries.insert(at, entry)
    path.write_text(json.dumps(document))


def generate(workdir: Path, count: int, args: Any, first_seed: int, idp: Any) -> list[Upload]:
    """One HAR per upload, with tokens of its own issued at the IdP; only their digests are kept."""
    sys.path.insert(0, str(BENCH_DIR))
    from har_gen import write_har

    from responder.testing import token_key

    uploads = []
    for n in range(count):
        seed = first_seed + n
        har = write_har(workdir / f"upload-{seed}.har", args.size, seed=seed, plant_every=args.plant_every)
        tokens = [secrets.token_urlsafe(30) for _ in range(args.tokens)]
        plant(har.path, tokens)
        for token in tokens:
            idp.issue(token, subject=f"user-{seed}")
        keys = tuple(token_key(t) for t in tokens)
        uploads.append(Upload(har.path, keys, len(har.planted), har.path.stat().st_size))
    return uploads


def uploader(base: str, key: str, work: queue.Queue[Upload]) -> None:
    import httpx

    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=600) as client:
        while True:
            try:
                upload = work.get_nowait()
            except queue.Empty:
                return
            body = upload.path.read_bytes()
            upload.sent = time.perf_counter()
            answer = client.post("/v1/artifacts", params={"filename": upload.path.name}, content=body)
            upload.answered = time.perf_counter()
            upload.status = answer.status_code
            if answer.status_code == 202:
                upload.actions = int(answer.json()["actions_planned"])


def percentile(values: list[float], share: float) -> float:
    """Nearest rank: the smallest value with at least `share` of the values at or below it."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * share // 1))
    return ordered[int(rank) - 1]


def measure(concurrency: int, uploads: list[Upload], service: Service, key: str, idp: Any, args: Any) -> Json:
    work: queue.Queue[Upload] = queue.Queue()
    for upload in uploads:
        work.put(upload)
    threads = [
        threading.Thread(target=uploader, args=(service.base, key, work), name=f"uploader-{n}")
        for n in range(concurrency)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    idp.wait_all(uploads, timeout=args.revoke_timeout)
    answered = [(u.answered - u.sent) * 1000 for u in uploads if u.status == 202]
    revoked = []
    for upload in uploads:
        first = idp.first_of(upload.keys)
        if first is not None:
            revoked.append((first - upload.sent) * 1000)
    statuses: dict[str, int] = {}
    for upload in uploads:
        statuses[str(upload.status)] = statuses.get(str(upload.status), 0) + 1
    return {
        "bench": "upload",
        "concurrency": concurrency,
        "uploads": len(uploads),
        "har_bytes": round(sum(u.size for u in uploads) / len(uploads)),
        "tokens_per_har": args.tokens,
        "har_gen_planted_per_har": round(sum(u.har_gen_planted for u in uploads) / len(uploads), 1),
        "actions_per_upload": round(sum(u.actions for u in uploads) / len(uploads), 1),
        "upload_p50_ms": round(percentile(answered, 0.50), 1) if answered else None,
        "upload_p95_ms": round(percentile(answered, 0.95), 1) if answered else None,
        "revoke_p50_ms": round(percentile(revoked, 0.50), 1) if revoked else None,
        "revoke_p95_ms": round(percentile(revoked, 0.95), 1) if revoked else None,
        "revoke_max_ms": round(max(revoked), 1) if revoked else None,
        "revoke_before_202": sum(
            1 for u in uploads if (f := idp.first_of(u.keys)) is not None and u.answered and f < u.answered
        ),
        "wall_s": round(wall, 2),
        "uploads_per_s": round(len(uploads) / wall, 2),
        "mb_per_s": round(len(uploads) * args.size / 1e6 / wall, 2),
        "statuses": statuses,
        "lost": len(uploads) - len(revoked),
        "engine_threads": args.threads,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
    }


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(BENCH_DIR))
    from har_gen import parse_size

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", default="1,8,32", help="comma-separated concurrent uploaders (default 1,8,32)")
    parser.add_argument("--uploads", type=int, default=64, help="uploads per level (default 64)")
    parser.add_argument("--size", type=parse_size, default=5_000_000, help="HAR size (default 5MB)")
    parser.add_argument("--plant-every", type=int, default=50, help="har_gen: a credential every N entries")
    parser.add_argument("--tokens", type=int, default=3, help="revocable tokens planted per HAR (default 3)")
    parser.add_argument("--threads", type=int, default=4, help="engine threads in the service (default 4)")
    parser.add_argument("--revoke-timeout", type=float, default=120, help="wait for revocations, s (default 120)")
    parser.add_argument("--workdir", type=Path, default=None, help="where HARs and the service's data go")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)
    try:
        levels = [int(level) for level in args.levels.split(",")]
    except ValueError:
        parser.error("--levels takes comma-separated numbers")

    sys.path.insert(0, str(ROOT))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that the service is stopped on the way out
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="responder-bench-upload-"))
    workdir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    idp = timed_idp()
    service: Service | None = None
    try:
        with idp:
            port = free_port()
            config = workdir / "responder.toml"
            write_config(config, workdir / "data", port, idp.url, key, args.threads)
            service = Service(config, port, workdir / "service.log")
            service.wait_ready()
            log(f"service on {service.base}, fake IdP on {idp.url}, work in {workdir}")
            for number, concurrency in enumerate(levels):
                started = time.perf_counter()
                hars = generate(workdir, args.uploads, args, number * args.uploads, idp)
                log(f"level {concurrency}: {len(hars)} HARs generated in {time.perf_counter() - started:.1f}s")
                result = measure(concurrency, hars, service, key, idp, args)
                print(json.dumps(result), flush=True)
                log(f"level {concurrency}: done in {result['wall_s']}s, lost {result['lost']}")
                for har in hars:
                    har.path.unlink()
    finally:
        if service is not None:
            service.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
