"""bench/sweep.py: its quick run sweeps a FakeZendesk end to end and prints one complete JSON line; its wait
accounting names the right cause. No timing is asserted: the figures depend on the machine."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "sweep.py"
FIELDS = {
    "bench": str,
    "tickets": int,
    "captures": int,
    "closed_captures": int,
    "tokens": int,
    "tickets_seen": int,
    "credentials": int,
    "revoked": int,
    "limit_per_s": float,
    "window_s": float,
    "wall_s": float,
    "startup_s": float,
    "listing_s": float,
    "tail_s": float,
    "tickets_per_s": float,
    "ratio_to_limit": float,
    "requests": int,
    "requests_per_s": float,
    "budget_used": float,
    "requests_per_ticket": float,
    "requests_by_kind": dict,
    "rejected_429": int,
    "export_requests": int,
    "account_min_s": float,
    "export_min_s": float,
    "governed_by": str,
    "waits_s": dict,
    "exit_code": int,
    "missing": dict,
    "complete": bool,
}


def _load_bench() -> ModuleType:
    # bench/ is a script directory, not a package.
    spec = importlib.util.spec_from_file_location("bench_sweep", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_sweep"] = module  # dataclasses resolve annotations via sys.modules
    spec.loader.exec_module(module)
    return module


bench = _load_bench()


@pytest.fixture(scope="module")
def quick() -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    lines = done.stdout.splitlines()
    assert len(lines) == 1, f"stdout holds the JSON line only, got {len(lines)} lines; stderr: {done.stderr[-2000:]}"
    return done, json.loads(lines[0])


def test_the_quick_run_sweeps_everything_and_says_so(
    quick: tuple[subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    done, result = quick
    assert done.returncode == 0, done.stderr[-2000:]
    assert result["complete"] is True
    assert result["exit_code"] == 0
    assert result["missing"] == {
        "tokens_live": 0,
        "captures_unredacted": 0,
        "copies_missing": 0,
        "tokens_in_copies": 0,
        "tickets_unlisted": 0,
        "summary_failures": 0,
    }
    assert result["tickets"] == 60
    assert result["captures"] == 6
    assert 0 < result["closed_captures"] < 6  # both ways of cleaning a ticket are taken
    assert result["tokens"] == result["credentials"] == result["revoked"] == 12
    assert result["tickets_seen"] >= result["tickets"]


def test_the_json_line_has_every_field_and_its_figures_agree(
    quick: tuple[subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    _, result = quick
    for name, kind in FIELDS.items():
        value = result[name]
        allowed = (int, float) if kind is float else (kind,)
        assert isinstance(value, allowed), (name, value)
        assert kind is bool or not isinstance(value, bool), (name, value)
    kinds = result["requests_by_kind"]
    assert isinstance(kinds, dict)
    assert sum(kinds.values()) == result["requests"]
    assert kinds["comments"] >= result["tickets"]  # one listing of comments per ticket at least
    assert kinds["export"] == result["export_requests"]
    for figure in ("tickets_per_s", "ratio_to_limit", "budget_used"):
        assert result[figure] > 0
    limit = result["limit_per_s"]
    assert result["ratio_to_limit"] == pytest.approx(result["tickets_per_s"] / limit, abs=2e-3)
    assert result["budget_used"] == pytest.approx(result["requests_per_s"] / limit, abs=2e-3)
    assert result["governed_by"] in ("account", "export", "both", "neither")


def test_waits_are_put_down_to_the_account_window_the_export_limit_or_responder() -> None:
    noted = bench.Noted
    timeline = [
        noted(0.00, "export", 200, 0),
        noted(0.01, "comments", 200, 1),  # the window (2 a second) is used up
        noted(1.00, "comments", 200, 2),  # 0.99 s waiting for the window
        noted(1.01, "comments", 200, 3),  # used up again, until 2.00
        noted(3.00, "export", 200, 0),  # 0.99 s for the window, then 1.00 s held for the export limit
        noted(3.50, "attachment", 200, 0),  # a free window, nothing asked for 0.5 s: responder's own time
        noted(3.60, "ticket", 200, 0),  # under the gap that counts
    ]
    waited = bench.waits(timeline, 0.0, 2, 1.0)
    assert waited == {
        "account_limit": pytest.approx(0.99 + 0.99, abs=0.05),  # rounded to 0.1 s
        "export_limit": pytest.approx(1.0),
        "responder": pytest.approx(0.5),
    }


def test_the_floors_of_the_two_limits() -> None:
    assert bench.export_floor(10, 10) == 0.0  # ten calls go in the first minute
    assert bench.export_floor(21, 10) == 120.0
    assert bench.export_floor(0, 10) == 0.0
    assert bench.account_floor(1200, 1200, 60.0) == 0.0
    assert bench.account_floor(2756, 1200, 60.0) == 120.0
    assert bench.account_floor(45, 20, 1.0) == 2.0
    assert bench.governed_by(120.0, 60.0, 130.0) == "account"
    assert bench.governed_by(60.0, 120.0, 130.0) == "export"
    assert bench.governed_by(120.0, 120.0, 125.0) == "both"
    assert bench.governed_by(10.0, 0.0, 130.0) == "neither"
