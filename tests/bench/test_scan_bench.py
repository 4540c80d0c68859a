"""bench/scan.py and bench/scan_pairs.py run end to end on a small HAR and print what the README says."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _run(*args: str, cwd: Path) -> list[dict[str, object]]:
    done = subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def test_scan_bench_alternates_runs_and_finds_every_planted_value(tmp_path: Path) -> None:
    floor, scan = _run(
        str(BENCH / "scan.py"), "--sizes", "2MB", "--repeat", "2", "--workdir", str(tmp_path), cwd=tmp_path
    )
    assert (floor["mode"], scan["mode"]) == ("floor", "scan")
    for line in (floor, scan):
        assert line["runs"] == 2
        assert len(line["all_seconds"]) == 2  # type: ignore[arg-type]
        assert line["seconds"] == min(line["all_seconds"])  # type: ignore[type-var]
    assert scan["planted_found"] == scan["planted"]
    assert scan["missed"] == {}
    assert 0 < scan["ratio_to_floor"] < 5  # type: ignore[operator]


def test_scan_pairs_prints_one_line_with_the_ratio(tmp_path: Path) -> None:
    har = tmp_path / "small.har"
    _run(str(BENCH / "har_gen.py"), str(har), "--size", "1MB", cwd=tmp_path)
    (line,) = _run(str(BENCH / "scan_pairs.py"), str(har), "--pairs", "2", cwd=tmp_path)
    assert line["bench"] == "scan_pairs"
    assert line["pairs"] == 2
    assert line["ratio_min"] <= line["ratio_median"] <= line["ratio_max"]  # type: ignore[operator]
    assert isinstance(line["depth_guard_compiled"], bool)
