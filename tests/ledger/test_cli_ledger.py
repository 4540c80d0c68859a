"""`respond`, `work`, `panic` and `ledger …` as an operator runs them, and the configuration mistakes that
must end in one clear line and exit code 2."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from responder.ledger.database import head_revision
from responder.testing import FakeIdP
from tests.ledger import flows
from tests.ledger.conftest import random_token
from tests.notify.receivers import free_port
from tests.test_cli import run


@pytest.fixture
def idp() -> FakeIdP:
    with FakeIdP() as running:
        yield running  # type: ignore[misc]


def config_file(tmp_path: Path, ledger_url: str, idp_url: str, extra: str = "") -> Path:
    path = tmp_path / "responder.toml"
    path.write_text(
        f"""[ledger]
url = "{ledger_url}"
[engine]
threads = 2
poll_seconds = 0.2
{extra}
[[providers]]
name = "lab"
plugin = "fake"
base_url = "{idp_url}"
hosts = ["{flows.HOST}"]
"""
    )
    return path


def test_respond_then_every_ledger_view(ledger_url: str, tmp_path: Path, idp: FakeIdP) -> None:
    tokens = [random_token() for _ in range(3)]
    for n, token in enumerate(tokens):
        idp.issue(token, subject=f"user-{n}")
    capture = flows.capture(tmp_path / "ticket-4711.har", tokens)
    config = config_file(tmp_path, ledger_url, idp.url)
    data = tmp_path / "data"

    rehearsal = run("respond", str(capture), "--dry-run", "-c", str(config), data_dir=data)
    assert rehearsal.returncode == 1, rehearsal.stderr
    assert "dry_run" in rehearsal.stdout
    assert idp.mutating_requests == 0  # only read-only introspection, to name the users

    acted = run("respond", str(capture), "-c", str(config), "--format", "json", "--actor", "ana", data_dir=data)
    assert acted.returncode == 1, acted.stderr
    document = json.loads(acted.stdout)
    assert document["schema"] == "responder.respond/1"
    assert {(a["outcome"], a["verified"], a["actor"]) for a in document["actions"]} == {("revoked", True, "ana")}
    assert all(idp.state(t).revocations == 1 for t in tokens)

    again = run("respond", str(capture), "-c", str(config), "--format", "json", data_dir=data)
    assert again.returncode == 1
    assert {a["action_id"] for a in json.loads(again.stdout)["actions"]} == {
        a["action_id"] for a in document["actions"]
    }  # the same credentials: the same actions, seen again, not run again
    assert all(idp.state(t).revoke_calls == 1 for t in tokens)

    listed = run("ledger", "list", "--outcome", "revoked", "--format", "csv", "-c", str(config), data_dir=data)
    assert listed.returncode == 0
    table = list(csv.DictReader(io.StringIO(listed.stdout)))
    assert len(table) == 3
    assert {row["subject_id"] for row in table} == {"user-0", "user-1", "user-2"}
    one_user = run("ledger", "list", "--user", "user-1", "--format", "json", "-c", str(config), data_dir=data)
    assert sorted((row["subject_id"], row["outcome"]) for row in json.loads(one_user.stdout)) == [
        ("user-1", "dry_run"),  # the rehearsal named the user too
        ("user-1", "revoked"),
    ]
    nothing = run(
        "ledger", "list", "--since", "2h", "--trigger", "panic", "-f", "json", "-c", str(config), data_dir=data
    )
    assert json.loads(nothing.stdout) == []

    shown = run("ledger", "show", table[0]["action_id"], "--format", "json", "-c", str(config), data_dir=data)
    history = json.loads(shown.stdout)
    assert [e["type"] for e in history["events"]] == [
        "action_planned",
        "attempt_made",
        "outcome_recorded",
        "verification_recorded",
    ]
    assert len(history["sightings"]) == 2  # the second respond saw it again
    readable = run("ledger", "show", table[0]["action_id"], "-c", str(config), data_dir=data)
    assert "verification_recorded" in readable.stdout

    report = run("ledger", "report", "--since", "1d", "--format", "json", "-c", str(config), data_dir=data)
    summary = json.loads(report.stdout)
    assert {u["subject_id"]: u["revoked"] for u in summary["users"]} == {"user-0": 1, "user-1": 1, "user-2": 1}
    assert all(u["artifacts"] == [str(capture)] for u in summary["users"])
    screen = run("ledger", "report", "-c", str(config), data_dir=data)
    assert "affected users" in screen.stdout
    assert "user-1" in screen.stdout

    exported = run("ledger", "export", "-c", str(config), data_dir=data)
    lines = [json.loads(line) for line in exported.stdout.splitlines()]
    assert [e["seq"] for e in lines] == list(range(1, len(lines) + 1))
    verified = run("ledger", "verify", "-c", str(config), data_dir=data)
    assert verified.returncode == 0
    assert f"{len(lines)} event(s)" in verified.stdout

    migrated = run("ledger", "migrate", "-c", str(config), data_dir=data)
    assert migrated.returncode == 0
    assert f"already at revision {head_revision()}" in migrated.stdout

    unknown = run("ledger", "show", "no-such-id", "-c", str(config), data_dir=data)
    assert unknown.returncode == 2
    assert "no action or intake" in unknown.stderr


def test_panic_ends_a_users_sessions_every_time_it_is_pressed(ledger_url: str, tmp_path: Path, idp: FakeIdP) -> None:
    idp.add_user("u-42", "ada@example.com")
    config = config_file(tmp_path, ledger_url, idp.url)
    data = tmp_path / "data"
    for _ in range(2):
        pressed = run(
            "panic", "-p", "lab", "-u", "u-42", "-r", "HAR in ticket 4711", "--yes", "-c", str(config), data_dir=data
        )
        assert pressed.returncode == 0, pressed.stderr
        assert "end_all_sessions" in pressed.stdout
    assert idp.logouts == {"u-42": 2}
    report = json.loads(run("ledger", "report", "-f", "json", "-c", str(config), data_dir=data).stdout)
    assert len(report["panics"]) == 2
    assert report["users"][0]["revoked"] == 2
    unknown = run("panic", "-p", "nope", "-u", "x", "-r", "r", "--yes", "-c", str(config), data_dir=data)
    assert unknown.returncode == 2
    assert "no provider instance named 'nope'" in unknown.stderr


def test_panic_finds_users_by_login_group_or_all_and_never_guesses(
    ledger_url: str, tmp_path: Path, idp: FakeIdP
) -> None:
    idp.add_user("u-1", "ada@example.com", groups=("sre",))
    idp.add_user("u-2", "bob@example.com", groups=("sre", "oncall"))
    idp.add_user("u-3", "cy@example.com", groups=("oncall",))
    idp.add_user("u-4", "gone@example.com", groups=("sre",), active=False)
    config = config_file(tmp_path, ledger_url, idp.url)
    data = tmp_path / "data"

    def panic(*scope: str) -> subprocess.CompletedProcess[str]:
        return run("panic", "-p", "lab", *scope, "-r", "drill", "-c", str(config), data_dir=data)

    by_login = panic("-u", "ada@example.com", "--yes")
    assert by_login.returncode == 0, by_login.stderr
    assert idp.logouts == {"u-1": 1}
    assert "ada@example.com" in by_login.stdout  # the ledger names the user by login

    nobody = panic("-u", "eve@example.com", "--yes")
    assert nobody.returncode == 2
    assert "no user 'eve@example.com'" in nobody.stderr
    assert "Traceback" not in nobody.stderr

    groups = panic("-g", "sre", "-g", "oncall", "--yes")
    assert groups.returncode == 0, groups.stderr
    # members of both groups are acted on once; the deactivated member is skipped
    assert idp.logouts == {"u-1": 2, "u-2": 1, "u-3": 1}

    no_group = panic("-g", "nope", "--yes")
    assert no_group.returncode == 2
    assert "no group named 'nope'" in no_group.stderr

    refused = panic("--all")  # not at a terminal, no --yes: refused before anything is recorded
    assert refused.returncode == 2
    assert "--yes" in refused.stderr
    assert idp.logouts == {"u-1": 2, "u-2": 1, "u-3": 1}

    everyone = panic("--all", "--yes")
    assert everyone.returncode == 0, everyone.stderr
    assert idp.logouts == {"u-1": 3, "u-2": 2, "u-3": 2}

    two_scopes = panic("-u", "u-1", "--all", "--yes")
    assert two_scopes.returncode == 2
    assert "exactly one of" in two_scopes.stderr


def test_a_panic_of_many_users_is_summarised_and_listed_by_panic_id(
    ledger_url: str, tmp_path: Path, idp: FakeIdP
) -> None:
    for n in range(120):
        idp.add_user(f"u-{n:03}", f"user{n}@example.com")
    idp.fail_next(1, status=403, method="DELETE")  # one user's logout is refused: it must be named, the rest summarised
    config = config_file(tmp_path, ledger_url, idp.url)
    data = tmp_path / "data"
    done = run("panic", "-p", "lab", "--all", "--yes", "-r", "drill", "-c", str(config), data_dir=data)
    assert done.returncode == 4, done.stderr
    assert "120 user(s), 120 action(s) recorded" in done.stderr
    assert "119 revoked" in done.stdout
    assert "1 failed_permanent" in done.stdout
    assert "1 need attention" in done.stdout
    panic_id = done.stdout.split("panic ", 1)[1].split(":", 1)[0]
    listed = run("ledger", "list", "--panic", panic_id, "-f", "json", "-c", str(config), data_dir=data)
    assert len(json.loads(listed.stdout)) == 120
    assert len(idp.logouts) == 119


def test_work_drains_the_queue_and_stops_cleanly_on_sigterm(ledger_url: str, tmp_path: Path, idp: FakeIdP) -> None:
    config = config_file(tmp_path, ledger_url, idp.url)
    data = tmp_path / "data"
    tokens = [random_token() for _ in range(5)]
    for token in tokens:
        idp.issue(token)
    # Plan only (dry run would not call); then let a long-running worker do the calls.
    from responder.model import Trigger
    from responder.settings import load_settings

    settings = load_settings(config, data_dir=data)
    service = flows.responder(settings)
    service.intake(
        flows.scan(settings, flows.capture(tmp_path / "a.har", tokens)),
        trigger=Trigger.UPLOAD,
        actor="t",
        source="cli",
        reference="a.har",
    )
    service.close()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("RESPONDER_")}
    environment["RESPONDER_DATA_DIR"] = str(data)
    port = free_port()
    worker = subprocess.Popen(
        [sys.executable, "-m", "responder", "work", "-c", str(config), "--metrics-port", str(port)],
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    )
    deadline = time.monotonic() + 60
    finished = 'responder_actions_finished_total{outcome="revoked",provider="lab"} 5.0'
    scraped = ""
    while finished not in scraped and time.monotonic() < deadline:  # the worker's own metrics, as it works
        time.sleep(0.1)
        try:
            scraped = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
        except httpx.TransportError:
            continue
    assert finished in scraped
    assert "responder_queue_depth 0.0" in scraped
    assert sum(idp.state(t).revocations for t in tokens) == len(tokens)
    taken = subprocess.run(
        [sys.executable, "-m", "responder", "work", "-c", str(config), "--metrics-port", str(port)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
    )
    assert taken.returncode == 2, taken.stderr
    assert f"--metrics-port: cannot listen on 127.0.0.1:{port}" in taken.stderr
    assert "Traceback" not in taken.stderr
    worker.send_signal(signal.SIGTERM)
    _, stderr = worker.communicate(timeout=30)
    assert worker.returncode == 0, stderr
    assert "work: 5 action(s) finished" in stderr


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ({"RESPONDER_LEDGER_URL": "postgresql://nobody@127.0.0.1:1/none"}, "cannot open the ledger at"),
        ({"RESPONDER_LEDGER_URL": "not a url at all"}, "ledger.url is not a database URL"),
        ({"RESPONDER_LEDGER_URL": "mysql://x@localhost/db"}, "unsupported database 'mysql'"),
        ({"RESPONDER_LEDGER__SEAL_KEY_FILE": "/nonexistent/seal.key"}, "does not exist"),
        ({"RESPONDER_LEDGER__SEAL_KEY": "abc"}, "ledger.seal_key: expected"),
        ({"RESPONDER_DATA_DIR": "/proc/responder-cannot-write-here"}, "RESPONDER_DATA_DIR"),
    ],
)
def test_bad_configuration_is_one_clear_line_and_exit_2(
    setting: dict[str, str], expected: str, tmp_path: Path, idp: FakeIdP
) -> None:
    capture = flows.capture(tmp_path / "a.har", [random_token()])
    config = tmp_path / "responder.toml"
    config.write_text(
        f'[[providers]]\nname = "lab"\nplugin = "fake"\nbase_url = "{idp.url}"\nhosts = ["{flows.HOST}"]\n'
    )
    commands = [("respond", str(capture)), ("ledger", "list"), ("work", "--until-idle")]
    if "SEAL" in str(setting):
        commands.remove(("ledger", "list"))  # reading the ledger needs no seal key
    for command in commands:
        result = run(*command, "-c", str(config), data_dir=tmp_path / "data", env=setting)
        assert result.returncode == 2, (command, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("responder: error:")
        assert expected in lines[0]
        assert "Traceback" not in result.stderr
        if "postgresql" in str(setting):
            break  # one slow connection refusal is proof enough


def test_a_provider_plugin_that_is_not_installed_is_named(tmp_path: Path) -> None:
    config = tmp_path / "responder.toml"
    config.write_text('[[providers]]\nname = "corp"\nplugin = "zitadel"\nbase_url = "https://corp.zitadel.example"\n')
    result = run("work", "--until-idle", "-c", str(config), data_dir=tmp_path / "data")
    assert result.returncode == 2
    assert "providers.corp: plugin 'zitadel' is not installed (installed: auth0, authentik, " in result.stderr


def test_help_explains_the_new_commands(tmp_path: Path) -> None:
    for command in (("respond",), ("work",), ("panic",), ("ledger",), ("ledger", "report"), ("ledger", "verify")):
        result = run(*command, "--help", data_dir=tmp_path)
        assert result.returncode == 0, command
        assert "Usage" in result.stdout


def test_a_panic_killed_midway_is_finished_by_resume(ledger_url: str, tmp_path: Path) -> None:
    with FakeIdP(requests_per_second=25) as idp:
        users = [f"u-{n:03}" for n in range(100)]
        for user in users:
            idp.add_user(user)
        config = config_file(tmp_path, ledger_url, idp.url, "lease_seconds = 3")
        data = tmp_path / "data"
        environment = {k: v for k, v in os.environ.items() if not k.startswith("RESPONDER_")}
        environment["RESPONDER_DATA_DIR"] = str(data)
        command = [sys.executable, "-m", "responder", "panic", "-p", "lab", "--all", "--yes", "-r", "drill"]
        first = subprocess.Popen([*command, "-c", str(config)], stderr=subprocess.PIPE, text=True, env=environment)
        assert first.stderr is not None
        recorded = first.stderr.readline()
        panic_id = recorded.split()[1].rstrip(":")
        deadline = time.monotonic() + 30
        while len(idp.logouts) < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)  # a crash: no cleanup, leases left behind
        first.wait()
        assert 0 < len(idp.logouts) < len(users)

        resumed = run("panic", "-p", "lab", "--resume", panic_id, "-c", str(config), data_dir=data)
        assert resumed.returncode == 0, resumed.stderr
        assert "already finished" in resumed.stderr
        assert set(idp.logouts) == set(users)  # nobody lost
        # a call in flight at the kill may be made again (ending sessions twice is harmless); nothing more
        assert sum(idp.logouts.values()) <= len(users) + 2
        listed = run("ledger", "list", "--panic", panic_id, "-f", "json", "-c", str(config), data_dir=data)
        assert {row["outcome"] for row in json.loads(listed.stdout)} == {"revoked"}
