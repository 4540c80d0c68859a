"""`responder respond` against a real OpenID Provider (npm oidc-provider): real logins (httpx through the OP's
login pages, and headless Chromium recording a HAR), revocation through the generic OIDC plugin, proof by
introspection that the tokens are dead, the user named in the ledger, idempotency, and the failure modes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests import harbuild
from tests.conftest import ROOT, require_peer
from tests.integration.oidc_peer import RunningOP, Tokens, introspect, login, oidc_provider, session_alive
from tests.test_cli import run

__all__ = ["oidc_provider"]  # the fixture, imported so pytest finds it here

CHROMIUM = Path("/usr/bin/chromium")
SECRET_ENV = {"RESPONDER_TEST_OIDC_SECRET": "responder-secret"}


def config(tmp_path: Path, op: RunningOP, *, issuer: str | None = None) -> Path:
    path = tmp_path / "responder.toml"
    path.write_text(
        f"""[engine]
quick_retries = 2
retry_wait_max_seconds = 1

[[providers]]
name = "demo"
plugin = "oidc"
issuer = "{issuer or op.issuer}"
hosts = ["127.0.0.1:{op.op_port}"]
client_id = "responder"
client_secret_env = "RESPONDER_TEST_OIDC_SECRET"
"""
    )
    return path


def capture_of(tmp_path: Path, op: RunningOP, tokens: Tokens, name: str = "login.har") -> Path:
    """What a browser records for a login: the token response, then an API call with the access token."""
    token_response = json.dumps(
        {"access_token": tokens.access_token, "refresh_token": tokens.refresh_token, "id_token": tokens.id_token}
    )
    return harbuild.write(
        tmp_path / name,
        harbuild.har(
            harbuild.entry(f"{op.issuer}/token", method="POST", body=token_response),
            harbuild.entry(f"{op.issuer}/me", request_headers=[("Authorization", f"Bearer {tokens.access_token}")]),
        ),
    )


def actions(tmp_path: Path, settings_file: Path) -> list[dict[str, object]]:
    listed = run("ledger", "list", "-f", "json", "-c", str(settings_file), data_dir=tmp_path / "data")
    assert listed.returncode == 0, listed.stderr
    rows: list[dict[str, object]] = json.loads(listed.stdout)
    return rows


def test_respond_revokes_a_real_login_names_the_user_and_is_idempotent(
    oidc_provider: RunningOP, tmp_path: Path
) -> None:
    tokens = login(oidc_provider, "carol@example.com")
    assert introspect(oidc_provider, tokens.refresh_token)["active"] is True
    settings_file = config(tmp_path, oidc_provider)
    capture = capture_of(tmp_path, oidc_provider, tokens)

    rehearsal = run(
        "respond", str(capture), "--dry-run", "-c", str(settings_file), data_dir=tmp_path / "data", env=SECRET_ENV
    )
    assert rehearsal.returncode == 1, rehearsal.stdout + rehearsal.stderr
    assert introspect(oidc_provider, tokens.access_token)["active"] is True  # a rehearsal changes nothing
    assert "carol@example.com" in rehearsal.stdout  # named by a read-only introspection

    acted = run(
        "respond", str(capture), "-c", str(settings_file), "-f", "json",
        data_dir=tmp_path / "data", env={**SECRET_ENV, "RESPONDER_LOG_LEVEL": "debug"},
    )  # fmt: skip
    for secret in ("responder-secret", tokens.access_token, tokens.refresh_token, tokens.id_token):
        assert secret not in acted.stdout + acted.stderr  # neither the user's tokens nor responder's own secret
    ledger_bytes = b"".join(p.read_bytes() for p in (tmp_path / "data").glob("ledger.sqlite3*"))
    assert not any(s.encode() in ledger_bytes for s in ("responder-secret", tokens.refresh_token))
    assert acted.returncode == 1, acted.stdout + acted.stderr
    outcome = json.loads(acted.stdout)
    revoked = [a for a in outcome["actions"] if not a["dry_run"]]
    # Revoking the refresh token ends its whole grant at this OP, so the access token may already be dead
    # by the time its own action runs (the actions run in parallel, in no fixed order).
    assert {a["kind"] for a in revoked} == {"access_token", "refresh_token"}
    assert {a["outcome"] for a in revoked} <= {"revoked", "already_invalid"}
    assert "revoked" in {a["outcome"] for a in revoked}
    assert all(a["verified"] is True for a in revoked)
    assert {a["subject_id"] for a in revoked if a["outcome"] == "revoked"} == {"carol@example.com"}
    assert introspect(oidc_provider, tokens.access_token)["active"] is False
    assert introspect(oidc_provider, tokens.refresh_token)["active"] is False

    again = run(
        "respond", str(capture), "-c", str(settings_file), "-f", "json", data_dir=tmp_path / "data", env=SECRET_ENV
    )
    assert again.returncode == 1
    assert {a["action_id"] for a in json.loads(again.stdout)["actions"]} == {a["action_id"] for a in revoked}
    report = json.loads(
        run("ledger", "report", "-f", "json", "-c", str(settings_file), data_dir=tmp_path / "data").stdout
    )
    # The token that was already dead when its turn came names no user (introspection says only "inactive").
    assert sum(u["revoked"] + u["already_invalid"] for u in report["users"]) == 2
    assert "carol@example.com" in {u["subject_id"] for u in report["users"] if u["revoked"]}


def test_a_token_already_dead_is_recorded_as_already_invalid(oidc_provider: RunningOP, tmp_path: Path) -> None:
    tokens = login(oidc_provider, "dave@example.com")
    settings_file = config(tmp_path, oidc_provider)
    capture = capture_of(tmp_path, oidc_provider, tokens)
    first_data, second_data = tmp_path / "first", tmp_path / "second"
    assert run("respond", str(capture), "-c", str(settings_file), data_dir=first_data, env=SECRET_ENV).returncode == 1
    # A second responder (its own ledger) meets tokens that are already dead.
    result = run("respond", str(capture), "-c", str(settings_file), "-f", "json", data_dir=second_data, env=SECRET_ENV)
    assert result.returncode == 1
    rows = json.loads(result.stdout)["actions"]
    assert {(a["outcome"], a["detail"]) for a in rows} == {("already_invalid", "introspection: inactive")}


def test_wrong_client_secret_is_a_clear_permanent_failure(oidc_provider: RunningOP, tmp_path: Path) -> None:
    tokens = login(oidc_provider, "erin@example.com")
    settings_file = config(tmp_path, oidc_provider)
    capture = capture_of(tmp_path, oidc_provider, tokens)
    result = run(
        "respond", str(capture), "-c", str(settings_file), "-f", "json",
        data_dir=tmp_path / "data", env={"RESPONDER_TEST_OIDC_SECRET": "wrong-secret"},
    )  # fmt: skip
    assert result.returncode == 4
    rows = json.loads(result.stdout)["actions"]
    assert {a["outcome"] for a in rows} == {"failed_permanent"}
    assert all("client 'responder' was refused" in str(a["detail"]) for a in rows)
    assert introspect(oidc_provider, tokens.refresh_token)["active"] is True  # nothing was done
    check = run(
        "providers",
        "check",
        "-c",
        str(settings_file),
        data_dir=tmp_path / "data",
        env={"RESPONDER_TEST_OIDC_SECRET": "wrong-secret"},
    )
    assert check.returncode == 6
    assert "wrong client_id or secret" in check.stdout
    good = run("providers", "check", "-c", str(settings_file), data_dir=tmp_path / "data", env=SECRET_ENV)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "authenticated" in good.stdout


def test_idp_down_and_unknown_hosts_are_pending_or_unhandled_never_a_crash(
    oidc_provider: RunningOP, tmp_path: Path
) -> None:
    tokens = login(oidc_provider, "frank@example.com")
    dead = RunningOP("http://127.0.0.1:9", oidc_provider.op_port, oidc_provider.rp_port)  # nothing listens on 9
    settings_file = config(tmp_path, oidc_provider, issuer=dead.issuer)
    capture = capture_of(tmp_path, oidc_provider, tokens)
    # An Okta session at an Okta tenant nobody configured: revocable in principle, by no one here.
    stranger = harbuild.write(
        tmp_path / "stranger.har",
        harbuild.har(harbuild.entry("https://acme.okta.com/app", request_cookies=[("sid", "102" + "Qx7vT2mLp9s" * 2)])),
    )
    result = run(
        "respond",
        str(capture),
        str(stranger),
        "-c",
        str(settings_file),
        "-f",
        "json",
        data_dir=tmp_path / "data",
        env=SECRET_ENV,
    )
    assert result.returncode == 4, result.stderr
    document = json.loads(result.stdout)
    assert {a["state"] for a in document["actions"]} == {"planned"}  # rescheduled, sealed, waiting
    assert all("discovery: cannot reach" in str(a["detail"]) for a in document["actions"])
    assert [i["unhandled"] for i in document["intakes"]] == [0, 1]
    assert "Traceback" not in result.stderr
    check = run("providers", "check", "-c", str(settings_file), data_dir=tmp_path / "data", env=SECRET_ENV)
    assert check.returncode == 6
    assert "discovery failed" in check.stdout


@pytest.mark.slow
def test_a_chromium_login_recorded_as_har_is_revoked_end_to_end(oidc_provider: RunningOP, tmp_path: Path) -> None:
    require_peer(CHROMIUM.exists(), "Debian chromium is not installed (apt-get install chromium)")
    capture = tmp_path / "chromium-login.har"
    recorded = subprocess.run(
        [
            sys.executable, str(ROOT / "examples" / "record_login.py"), "--reuse-op",
            "--op-port", str(oidc_provider.op_port), "--rp-port", str(oidc_provider.rp_port), "--out", str(capture),
        ],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert recorded.returncode == 0, recorded.stdout[-2000:] + recorded.stderr[-2000:]
    entries = json.loads(capture.read_text())["log"]["entries"]
    token_bodies = [
        json.loads(e["response"]["content"]["text"])
        for e in entries
        if e["request"]["url"].endswith("/token") and e["response"]["content"].get("text")
    ]
    refresh_tokens = {body["refresh_token"] for body in token_bodies if "refresh_token" in body}
    opaque_access = {b["access_token"] for b in token_bodies if b.get("access_token", "").count(".") != 2}
    live = [t for t in refresh_tokens | opaque_access if introspect(oidc_provider, t)["active"]]
    assert refresh_tokens
    assert live, "the recording should leave live tokens behind"

    settings_file = config(tmp_path, oidc_provider)
    result = run(
        "respond", str(capture), "-c", str(settings_file), "-f", "json", data_dir=tmp_path / "data", env=SECRET_ENV
    )
    assert result.returncode == 4, result.stderr  # the JWT access token cannot be revoked: attention
    rows = json.loads(result.stdout)["actions"]
    assert all(not introspect(oidc_provider, token)["active"] for token in live)
    users = {a["subject_id"] for a in rows if a["outcome"] == "revoked"}
    assert users == {"alice@example.com"}
    others = {(a["kind"], a["outcome"]) for a in rows if a["outcome"] not in ("revoked", "already_invalid")}
    # oidc-provider mints resource-bound access tokens as JWTs it can neither introspect nor revoke.
    assert others == {("access_token", "unsupported")}
    assert any("valid until it expires" in str(a["detail"]) for a in rows)


def test_a_leaked_op_session_cookie_is_ended_by_rp_initiated_logout(oidc_provider: RunningOP, tmp_path: Path) -> None:
    tokens = login(oidc_provider, "dave@example.com")
    assert set(tokens.op_cookies) >= {"_session", "_session.sig"}  # oidc-provider signs its session cookie
    assert session_alive(oidc_provider, tokens.op_cookies)
    cookie_header = "; ".join(f"{name}={value}" for name, value in tokens.op_cookies.items())
    capture = harbuild.write(
        tmp_path / "session.har",
        harbuild.har(
            # only the id_token of the login is in the capture: it names the user; the cookie is the credential
            harbuild.entry(
                f"{oidc_provider.issuer}/token", method="POST", body=json.dumps({"id_token": tokens.id_token})
            ),
            harbuild.entry(f"{oidc_provider.issuer}/session/end", request_headers=[("Cookie", cookie_header)]),
        ),
    )
    plain = config(tmp_path, oidc_provider)
    opted_in = tmp_path / "opted-in.toml"
    opted_in.write_text(plain.read_text() + "end_session_with_cookie = true\n")

    without = run("respond", str(capture), "-c", str(plain), "-f", "json", data_dir=tmp_path / "d1", env=SECRET_ENV)
    assert without.returncode == 4, without.stderr  # not opted in: a session cookie nobody ended needs a person
    assert json.loads(without.stdout)["intakes"][0]["unhandled"] == 1
    assert session_alive(oidc_provider, tokens.op_cookies)

    acted = run("respond", str(capture), "-c", str(opted_in), "-f", "json", data_dir=tmp_path / "d2", env=SECRET_ENV)
    assert acted.returncode == 1, acted.stdout + acted.stderr
    for secret in tokens.op_cookies.values():
        assert secret not in acted.stdout + acted.stderr
    (action,) = json.loads(acted.stdout)["actions"]
    assert (action["verb"], action["outcome"], action["subject_id"]) == ("end_session", "revoked", "dave@example.com")
    assert "RP-initiated logout" in str(action["detail"])
    assert not session_alive(oidc_provider, tokens.op_cookies)
    # An offline_access grant outlives the session at this OP: its refresh token is not in this capture, so it
    # stays live; a refresh token in a capture is revoked by an action of its own (see the tests above).
    assert introspect(oidc_provider, tokens.refresh_token)["active"] is True
    ledger_bytes = b"".join(p.read_bytes() for p in (tmp_path / "d2").glob("ledger.sqlite3*"))
    assert not any(value.encode() in ledger_bytes for value in tokens.op_cookies.values())
