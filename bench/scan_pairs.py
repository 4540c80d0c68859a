"""Scan ÷ floor for judging a small change: floor and scan alternate in one process, ratio per pair.

bench/scan.py gives the reported figures (fresh processes, peak RSS). On a shared machine its runs vary by
tens of percent, which hides a 5 % change; a floor measured just before and just after each scan, in the same
process, varies far less. One JSON line on stdout: the median and spread of floor ÷ scan over the pairs, and
the fastest floor and scan. Progress goes to stderr.

    .venv/bin/python bench/har_gen.py /tmp/bench.har --size 100MB
    .venv/bin/python bench/scan_pairs.py /tmp/bench.har --pairs 8
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path


def _timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("har", type=Path, help="a HAR file, e.g. from bench/har_gen.py")
    parser.add_argument("--pairs", type=int, default=8, help="floor/scan/floor rounds (default: %(default)s)")
    args = parser.parse_args(argv)
    if not args.har.is_file():
        parser.error(f"{args.har}: no such file")

    sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ is a script directory
    from scan import _scanner, parse_only

    from responder.readers.jsonstream import compiled

    scanner = _scanner()

    def floor() -> None:
        parse_only(args.har)

    scanner.scan(args.har)  # the first scan builds the automata: not part of any pair
    ratios, floors, scans = [], [], []
    for number in range(1, max(1, args.pairs) + 1):
        before, scan, after = _timed(floor), _timed(lambda: scanner.scan(args.har)), _timed(floor)
        ratios.append((before + after) / 2 / scan)
        floors.append(min(before, after))
        scans.append(scan)
        print(f"[pairs] {number}: floor {min(before, after):.3f}s scan {scan:.3f}s", file=sys.stderr, flush=True)
    result = {
        "bench": "scan_pairs",
        "size_bytes": args.har.stat().st_size,
        "pairs": len(ratios),
        "ratio_median": round(statistics.median(ratios), 3),
        "ratio_min": round(min(ratios), 3),
        "ratio_max": round(max(ratios), 3),
        "floor_seconds": round(min(floors), 3),
        "scan_seconds": round(min(scans), 3),
        "depth_guard_compiled": compiled(),
    }
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
