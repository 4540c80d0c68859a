"""Scan throughput benchmark: how fast `responder` scans a HAR, next to the JSON-parsing floor.

For each size, a synthetic HAR with planted fake credentials is generated (bench/har_gen.py); then
each measurement runs in its own child process, so the peak RSS reported is that measurement's alone.
Floor and scan run alternately `--repeat` times (default 3) and the fastest run of each is reported,
with every run's seconds in `all_seconds`: on a shared machine one slow spell would otherwise decide.

  floor     ijson.items(f, "log.entries.item") consuming every entry, with the reader's read size:
            parsing only, no detection
  scan      Scanner.scan(path), the real in-process scan (reader, detectors, attribution)
  sanitize  (with --sanitize) scan, then Sanitizer.write; seconds covers the sanitize step only

Every result is one JSON line on stdout; progress goes to stderr. MB means 10^6 bytes.
Planted values reach the child over stdin and are only ever compared, never printed: the
child reports counts and the indices of the planted secrets it did not find.

    .venv/bin/python bench/scan.py --sizes 10MB,100MB
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Json = dict[str, Any]

BENCH_DIR = Path(__file__).resolve().parent
MODES = ("floor", "scan", "sanitize")
FINGERPRINT_KEY = b"0" * 32  # fixed: fingerprints are only compared within one run


@dataclass(frozen=True)
class Planted:
    """A planted secret without its value: what may be printed."""

    kind: str
    location: str
    name: str

    def label(self) -> str:
        return f"{self.kind}@{self.location}:{self.name}"


@dataclass(frozen=True)
class Sample:
    """One generated HAR, as the parent process knows it."""

    path: Path
    size_bytes: int
    entries: int
    planted: tuple[Planted, ...]
    values: tuple[str, ...]  # same order as `planted`; handed to children over stdin only


# --- helpers shared by parent and child ------------------------------------------------------


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scale = 1 if sys.platform == "darwin" else 1024
    return round(maxrss * scale / 1e6, 1)


def ijson_backend() -> str:
    import ijson

    return str(ijson.backend)


# --- child side: one measurement per process --------------------------------------------------


def parse_only(path: Path) -> int:
    """The floor's work: every entry parsed, with the parser as the HAR reader sets it up, and nothing else."""
    import ijson

    from responder.readers.jsonstream import READ_SIZE

    entries = 0
    with path.open("rb") as handle:
        for _entry in ijson.items(handle, "log.entries.item", use_float=True, buf_size=READ_SIZE):
            entries += 1
    return entries


def measure_floor(path: Path) -> Json:
    started = time.perf_counter()
    entries = parse_only(path)
    return {"seconds": time.perf_counter() - started, "parsed_entries": entries}


def _scanner() -> Any:
    from responder.plugins import load_readers
    from responder.scan import Scanner
    from responder.secret import Fingerprinter
    from responder.settings import ScanSettings

    return Scanner(load_readers(), Fingerprinter(FINGERPRINT_KEY), ScanSettings(), ())


def match_planted(values: Sequence[str], revealed: Sequence[str]) -> Json:
    """Compare planted values with found ones; return counts and indices only, never values."""
    found = set(revealed)
    missed = [i for i, value in enumerate(values) if value not in found]
    # A near miss: the finding holds the planted value with extra text, or only part of it.
    near = [i for i in missed if any(values[i] in r or (len(r) >= 16 and r in values[i]) for r in revealed)]
    planted = set(values)
    return {
        "findings": len(revealed),
        "planted_found": len(values) - len(missed),
        "findings_unplanted": sum(1 for r in revealed if r not in planted),
        "missed": missed,
        "near_missed": near,
    }


def measure_scan(path: Path, values: Sequence[str]) -> Json:
    scanner = _scanner()
    started = time.perf_counter()
    report = scanner.scan(path)
    seconds = time.perf_counter() - started
    if report.error:
        raise SystemExit(f"scan failed: {report.error}")
    revealed = [finding.value.reveal() for finding in report.findings]
    return {"seconds": seconds, "reader": report.reader, **match_planted(values, revealed)}


def measure_sanitize(path: Path) -> Json:
    from responder.plugins import load_readers
    from responder.sanitize.writer import Sanitizer
    from responder.settings import ScanSettings

    scanner = _scanner()
    started = time.perf_counter()
    report = scanner.scan(path)
    scan_seconds = time.perf_counter() - started
    target = path.with_name(path.stem + ".sanitized.har")
    started = time.perf_counter()
    warnings = Sanitizer(load_readers(), ScanSettings()).write(path, report.findings, target)
    seconds = time.perf_counter() - started
    target.unlink(missing_ok=True)
    return {
        "seconds": seconds,
        "scan_seconds": scan_seconds,
        "findings": len(report.findings),
        "warnings": len(warnings),
    }


def run_child(mode: str, path: Path) -> int:
    if mode == "floor":
        result = measure_floor(path)
    elif mode == "scan":
        result = measure_scan(path, json.load(sys.stdin))
    else:
        result = measure_sanitize(path)
    result["peak_rss_mb"] = peak_rss_mb()
    result["ijson_backend"] = ijson_backend()
    print(json.dumps(result), flush=True)
    return 0


# --- parent side ----------------------------------------------------------------------------------


def generate(workdir: Path, size: int, seed: int) -> Sample:
    sys.path.insert(0, str(BENCH_DIR))
    from har_gen import write_har

    path = workdir / f"bench-{size}-seed{seed}.har"
    log(f"generating {path} ({size / 1e6:,.0f} MB target)")
    started = time.perf_counter()
    har = write_har(path, size, seed=seed)
    log(
        f"  {har.bytes_written:,} bytes, {har.entries:,} entries, {len(har.planted)} planted "
        f"in {time.perf_counter() - started:.1f}s"
    )
    planted = tuple(Planted(p.kind, p.location, p.name) for p in har.planted)
    return Sample(path, har.bytes_written, har.entries, planted, tuple(p.value for p in har.planted))


def spawn(mode: str, sample: Sample) -> Json:
    """Run one measurement in a fresh interpreter and return what it printed."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", mode, str(sample.path)]
    stdin = json.dumps(list(sample.values)) if mode == "scan" else ""
    log(f"  {mode}: running")
    done = subprocess.run(command, input=stdin, capture_output=True, text=True, check=False)
    sys.stderr.write(done.stderr)
    if done.returncode != 0:
        raise SystemExit(f"{mode} child failed with exit code {done.returncode}")
    result: Json = json.loads(done.stdout.strip().splitlines()[-1])
    log(f"  {mode}: {result['seconds']:.2f}s, peak RSS {result['peak_rss_mb']} MB")
    return result


def mb_per_s(size_bytes: int, seconds: float) -> float:
    return round(size_bytes / 1e6 / seconds, 2)


def result_line(mode: str, sample: Sample, child: Json) -> Json:
    return {
        "bench": "scan",
        "mode": mode,
        "size_bytes": sample.size_bytes,
        "entries": sample.entries,
        "seconds": round(child["seconds"], 3),
        "mb_per_s": mb_per_s(sample.size_bytes, child["seconds"]),
        "peak_rss_mb": child["peak_rss_mb"],
        "planted": len(sample.planted),
        "runs": len(child.get("all_seconds", [0])),
        "all_seconds": child.get("all_seconds", [round(child["seconds"], 3)]),
        "python": platform.python_version(),
        "ijson_backend": child["ijson_backend"],
    }


def scan_line(sample: Sample, child: Json, floor: Json) -> Json:
    line = result_line("scan", sample, child)
    line.update(
        findings=child["findings"],
        planted_found=child["planted_found"],
        findings_unplanted=child["findings_unplanted"],
        ratio_to_floor=round(line["mb_per_s"] / mb_per_s(sample.size_bytes, floor["seconds"]), 3),
        missed=dict(Counter(sample.planted[i].label() for i in child["missed"])),
    )
    for index in child["near_missed"]:
        log(f"  near miss (a finding contains, or is part of, the value): {sample.planted[index].label()}")
    return line


def sanitize_line(sample: Sample, child: Json) -> Json:
    line = result_line("sanitize", sample, child)
    line.update(scan_seconds=round(child["scan_seconds"], 3), findings=child["findings"])
    return line


def emit(line: Json) -> None:
    print(json.dumps(line), flush=True)


def fastest(runs: Sequence[Json]) -> Json:
    """The run with the fewest seconds, with every run's seconds beside it. On a shared machine a run is only
    ever slowed by others, so the fastest of a few alternating runs is the fairest estimate of each."""
    best = dict(min(runs, key=lambda run: run["seconds"]))
    best["all_seconds"] = [round(run["seconds"], 3) for run in runs]
    return best


def bench_size(workdir: Path, size: int, seed: int, *, sanitize: bool, keep: bool, repeat: int) -> None:
    sample = generate(workdir, size, seed)
    try:
        floors, scans = [], []
        for _ in range(repeat):  # alternating, so a slow spell of the machine hits both modes alike
            floors.append(spawn("floor", sample))
            scans.append(spawn("scan", sample))
        floor = fastest(floors)
        emit(result_line("floor", sample, floor))
        emit(scan_line(sample, fastest(scans), floor))
        if sanitize:
            emit(sanitize_line(sample, spawn("sanitize", sample)))
    finally:
        if not keep:
            sample.path.unlink(missing_ok=True)


@contextmanager
def working_dir(requested: Path | None, keep: bool) -> Iterator[Path]:
    """The given directory, or a fresh temporary one (removed afterwards unless `keep`)."""
    if requested is not None:
        requested.mkdir(parents=True, exist_ok=True)
        yield requested
        return
    created = Path(tempfile.mkdtemp(prefix="responder-bench-"))
    try:
        yield created
    finally:
        if keep:
            log(f"kept files in {created}")
        else:
            shutil.rmtree(created, ignore_errors=True)


def parse_sizes(text: str) -> list[int]:
    sys.path.insert(0, str(BENCH_DIR))
    from har_gen import parse_size

    return [parse_size(part) for part in text.split(",") if part.strip()]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Benchmark responder's HAR scan throughput and peak memory against the ijson "
        "parsing floor. Prints one JSON line per measurement on stdout; progress on stderr.",
        epilog="Example: .venv/bin/python bench/scan.py --sizes 10MB,100MB --sanitize",
    )
    parser.add_argument(
        "--sizes",
        type=parse_sizes,
        default="10MB,100MB,1GB",
        help="comma-separated HAR sizes to generate, decimal units (default: %(default)s)",
    )
    parser.add_argument("--workdir", type=Path, help="where to write the HARs (default: a new temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the generated HARs")
    parser.add_argument(
        "--sanitize",
        action="store_true",
        help="also time writing a sanitized copy (scan time reported separately)",
    )
    parser.add_argument("--seed", type=int, default=0, help="generator seed (default: %(default)s)")
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="alternating floor and scan runs per size, each in a fresh process; the fastest of each is "
        "reported (default: %(default)s)",
    )
    parser.add_argument("--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.child:
        mode, path = args.child
        if mode not in MODES:
            raise SystemExit(f"unknown mode {mode!r}")
        return run_child(mode, Path(path))
    log(f"python {platform.python_version()}, ijson backend {ijson_backend()}, pid {os.getpid()}")
    with working_dir(args.workdir, args.keep) as workdir:
        for size in args.sizes:
            bench_size(workdir, size, args.seed, sanitize=args.sanitize, keep=args.keep, repeat=max(1, args.repeat))
    return 0


if __name__ == "__main__":
    sys.exit(main())
