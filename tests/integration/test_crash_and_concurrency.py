"""Proofs that nothing is lost or done twice: `responder work` processes are SIGKILLed at random points, and
several workers drain one PostgreSQL ledger. The IdP is a FakeIdP over real HTTP that counts every call."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from responder.ledger import open_ledger
from responder.ledger.schema import actions, events
from responder.model import Trigger
from responder.settings import load_settings
from responder.testing import FakeIdP
from tests.ledger import flows
from tests.ledger.conftest import random_token

RESPONDER = [sys.executable, "-m", "responder"]


def write_config(path: Path, ledger_url: str, idp_url: str, data_dir: Path, **engine: Any) -> Path:
    tuning = "\n".join(f"{key} = {value}" for key, value in engine.items())
    path.write_text(
        f"""data_dir = "{data_dir}"
log_level = "error"

[ledger]
url = "{ledger_url}"

[engine]
{tuning}

[[providers]]
name = "lab"
plugin = "fake"
base_url = "{idp_url}"
hosts = ["{flows.HOST}"]
"""
    )
    return path


def seed(config: Path, tokens: list[str], workdir: Path) -> None:
    settings = load_settings(config)
    service = flows.responder(settings)
    report = flows.scan(settings, flows.capture(workdir / "seed.har", tokens))
    result = service.intake(report, trigger=Trigger.UPLOAD, actor="test", source="cli", reference="seed.har")
    assert len(result.action_ids) == len(tokens)
    service.close()


def finished(config: Path) -> int:
    ledger = open_ledger(load_settings(config), migrate=False)
    with ledger.engine.connect() as connection:
        done = connection.execute(select(func.count()).where(actions.c.state == "done")).scalar_one()
    ledger.close()
    return int(done)


def outcomes(config: Path) -> list[Any]:
    ledger = open_ledger(load_settings(config), migrate=False)
    with ledger.engine.connect() as connection:
        rows = connection.execute(select(actions)).all()
    ledger.close()
    return rows


def outcome_events_per_action(config: Path) -> Counter[str]:
    ledger = open_ledger(load_settings(config), migrate=False)
    with ledger.engine.connect() as connection:
        query = select(events.c.action_id).where(events.c.type == "outcome_recorded")
        counted = Counter(connection.execute(query).scalars())
    ledger.close()
    return counted


def worker(config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*RESPONDER, "work", "--until-idle", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "RESPONDER_DEBUG": "1"},
    )


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_sigkill_at_random_points_loses_nothing_and_revokes_nothing_twice(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}" if backend == "sqlite" else request.getfixturevalue("pg_url")
    threads = 4
    seed_value = random.randrange(1 << 30)
    rng = random.Random(seed_value)
    with FakeIdP() as idp:
        config = write_config(
            tmp_path / "responder.toml", url, idp.url, tmp_path / "data", threads=threads, lease_seconds=1.0
        )
        # Enough work to outlast six kills: a worker finishes ~100 actions a second here.
        tokens = [random_token() for _ in range(1500)]
        for n, token in enumerate(tokens):
            idp.issue(token, subject=f"user-{n}")
        seed(config, tokens, tmp_path)

        kills, progress = 0, []
        for _ in range(6):
            process = worker(config)
            time.sleep(rng.uniform(1.0, 2.5))  # the interpreter needs ~0.8 s to start; then it is mid-work
            if process.poll() is not None:
                break
            process.send_signal(signal.SIGKILL)
            process.wait()
            kills += 1
            progress.append(finished(config))
        final = subprocess.run(
            [*RESPONDER, "work", "--until-idle", "--config", str(config)], capture_output=True, timeout=300
        )
        assert final.returncode == 0, final.stderr.decode()[-2000:]

        rows = outcomes(config)
        note = f"seed {seed_value}, kills {kills}, done after each kill {progress}"
        assert kills >= 3, note
        assert any(0 < done < len(tokens) for done in progress), note  # kills landed mid-work
        assert len(rows) == len(tokens)
        assert {row.state for row in rows} == {"done"}, note
        assert {row.outcome for row in rows} <= {"revoked", "already_invalid"}, note
        assert all(row.verified is True for row in rows), note
        assert all(row.sealed is None for row in rows)
        assert set(outcome_events_per_action(config).values()) == {1}, note  # one outcome per action, ever
        for row in rows:
            if row.outcome == "already_invalid":  # only a call interrupted by a kill can explain this
                assert "interrupted" in row.detail, note
        # The IdP saw each token revoked exactly once; a repeated call exists only where a kill cut between
        # the call and its record, and each kill can cut at most one call per thread.
        assert all(idp.state(token).revocations == 1 for token in tokens), note
        repeats = sum(idp.state(token).revoke_calls - 1 for token in tokens)
        assert repeats <= kills * threads, note
        interrupted = sum(1 for row in rows if row.outcome == "already_invalid")
        print(f"{backend}: {note}; repeated calls {repeats}; finished as already_invalid after a kill {interrupted}")
        verify = subprocess.run([*RESPONDER, "ledger", "verify", "--config", str(config)], capture_output=True)
        assert verify.returncode == 0, verify.stderr.decode()
        assert b"ledger intact" in verify.stdout


@pytest.mark.slow
def test_four_workers_on_postgresql_execute_each_action_exactly_once(pg_url: str, tmp_path: Path) -> None:
    with FakeIdP() as idp:
        config = write_config(tmp_path / "responder.toml", pg_url, idp.url, tmp_path / "data", threads=4)
        tokens = [random_token() for _ in range(2000)]
        for token in tokens:
            idp.issue(token)
        seed(config, tokens, tmp_path)
        started = time.monotonic()
        workers = [worker(config) for _ in range(4)]
        errors = [process.communicate(timeout=600)[1] for process in workers]
        elapsed = time.monotonic() - started
        assert [process.returncode for process in workers] == [0, 0, 0, 0], [e.decode()[-1000:] for e in errors]
        rows = outcomes(config)
        assert {row.outcome for row in rows} == {"revoked"}
        assert all(row.attempts == 1 and row.verified is True for row in rows)
        assert set(outcome_events_per_action(config).values()) == {1}
        assert all(idp.state(token).revoke_calls == 1 for token in tokens)
        shares = [int(e.decode().rsplit("work: ", 1)[1].split(" ", 1)[0]) for e in errors]
        assert sum(shares) == len(tokens)
        assert sum(1 for share in shares if share > 0) >= 2  # the work really was shared
        print(f"4 workers drained {len(tokens)} actions in {elapsed:.1f} s; shares {shares}")
