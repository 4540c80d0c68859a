"""`responder config check`: every kind of problem is named by its key with a fix and the right exit code
(0 good, 2 configuration, 1 a live check failed); no secret value is ever shown; --offline calls nothing."""

from __future__ import annotations

import hashlib
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import respx
from alembic import command
from alembic.config import Config
from httpx import Response
from typer.testing import CliRunner

from responder.cli import app
from responder.keys import fingerprinter, open_sealer
from responder.ledger import database, open_ledger
from responder.settings import load_settings
from responder.testing import FakeIdP
from tests.config.conftest import Checked

Check = Callable[..., Checked]
SEAL_KEY = "11" * 32
OTHER_SEAL_KEY = "22" * 32
FINGERPRINT_KEY = "config-check-fingerprint-key-0001"
API_KEY = f"""
[[api_keys]]
name = "soc"
key_sha256 = "{hashlib.sha256(b"an api key").hexdigest()}"
roles = ["responder", "auditor"]
"""


@pytest.fixture
def idp() -> Iterator[FakeIdP]:
    with FakeIdP() as fake:
        yield fake


@pytest.fixture
def keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """responder's own keys given explicitly, as a production host would."""
    seal = tmp_path / "seal.key"
    seal.write_text(SEAL_KEY)
    monkeypatch.setenv("RESPONDER_FINGERPRINT_KEY", FINGERPRINT_KEY)
    return seal


def fake_provider(url: str, name: str = "demo") -> str:
    return f'[[providers]]\nname = "{name}"\nplugin = "fake"\nbase_url = "{url}"\n'


def good_config(seal: Path, idp: FakeIdP) -> str:
    return f'[ledger]\nseal_key_file = "{seal}"\n{API_KEY}\n{fake_provider(idp.url)}'


def migrated_ledger(config: Path) -> None:
    """A ledger a host has already run against: schema at head, both key ids pinned."""
    settings = load_settings(config)
    ledger = open_ledger(settings)
    try:
        ledger.pin_key("seal", open_sealer(settings).key_id, "")
        ledger.pin_key("fingerprint", fingerprinter(settings).key_id, "")
    finally:
        ledger.close()


# ---- a good configuration --------------------------------------------------------------------------------


def test_a_good_configuration_passes(check: Check, keys: Path, idp: FakeIdP, tmp_path: Path) -> None:
    config = good_config(keys, idp)
    (tmp_path / "responder.toml").write_text(config)
    migrated_ledger(tmp_path / "responder.toml")

    checked = check(config, "--format", "json")

    assert checked.code == 0, checked.output
    body = checked.json()
    assert body["exit_code"] == 0
    assert body["problems"] == 0
    assert body["failed"] == 0
    assert {r["status"] for r in body["results"]} == {"ok"}, checked.output
    validated, tried = checked.results("providers.demo")
    assert validated["message"] == "valid (fake plugin)"
    assert "reached the fake IdP" in tried["message"]
    assert "schema up to date" in checked.result("ledger")["message"]
    assert idp.requests >= 1
    assert idp.mutating_requests == 0


def test_the_table_names_each_key_and_says_the_exit(check: Check, keys: Path, idp: FakeIdP) -> None:
    checked = check(good_config(keys, idp))
    assert checked.code == 0
    assert "ok       providers.demo" in checked.output
    assert checked.output.rstrip().endswith("all good (exit 0)")


def test_help_states_the_exit_codes() -> None:
    text = " ".join(CliRunner().invoke(app, ["config", "check", "--help"]).output.split())
    assert "Exit status: 0 all good, 2 configuration problems, 1 a check failed" in text
    assert "--offline" in text
    assert "--format" in text


# ---- configuration problems: exit 2 ----------------------------------------------------------------------


def test_unknown_keys_are_named_with_a_suggestion(check: Check, keys: Path, idp: FakeIdP) -> None:
    config = good_config(keys, idp).replace("[ledger]", "[serve]\nprot = 8080\n\n[ledger]")
    config += '\n[[providers]]\nname = "corp"\nplugin = "okta"\nbase_url = "https://acme.okta.com"\n'
    config += 'token_fille = "/run/secrets/okta"\n'

    checked = check(config, "--format", "json")

    assert checked.code == 2
    root = checked.result("serve.prot", "problem")
    assert root["message"] == "unknown key"
    assert "did you mean `port`?" in root["fix"]
    plugin_key = checked.result("providers.corp.token_fille", "problem")
    assert "did you mean `token_file`?" in plugin_key["fix"]


def test_an_unknown_key_in_a_plugin_table_is_reported_even_when_the_rest_fails(check: Check) -> None:
    config = 'log_level = "loud"\n[[providers]]\nname = "corp"\nplugin = "okta"\nbase_url = "https://acme.okta.com"\n'
    config += 'token_env = "X"\nforget_device = true\n'

    checked = check(config, "--format", "json")

    assert checked.code == 2
    assert "debug" in checked.result("log_level", "problem")["message"]
    assert "did you mean `forget_devices`?" in checked.result("providers.corp.forget_device", "problem")["fix"]


def test_bad_types_name_the_type_wanted(check: Check, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESPONDER_ENGINE__THREADS", "lots")
    checked = check('[serve]\nport = "eighty"\n', "--format", "json")

    assert checked.code == 2
    port = checked.result("serve.port", "problem")
    assert "integer" in port["fix"]
    assert "65535" in port["fix"]
    threads = checked.result("engine.threads", "problem")
    assert "RESPONDER_ENGINE__THREADS" in threads["message"]  # the operator learns where the value came from


def test_a_missing_secret_file_is_named_by_its_key(check: Check, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-token"
    config = (
        f'[[providers]]\nname = "corp"\nplugin = "okta"\nbase_url = "https://acme.okta.com"\ntoken_file = "{missing}"\n'
    )

    checked = check(config)

    assert checked.code == 2
    assert f"PROBLEM  providers.corp.token_file  {missing} does not exist" in checked.output
    assert "fix: create the file with the secret in it" in checked.output


def test_an_unset_secret_variable_and_two_sources_of_one_secret(check: Check, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("a-token-in-a-file-000000000000000000000000")
    config = (
        '[[providers]]\nname = "a"\nplugin = "okta"\nbase_url = "https://a.okta.com"\ntoken_env = "NOT_SET_HERE"\n'
        f'[[providers]]\nname = "b"\nplugin = "okta"\nbase_url = "https://b.okta.com"\ntoken_file = "{token}"\n'
        'token_env = "NOT_SET_HERE"\n'
    )
    checked = check(config, "--format", "json")

    assert checked.code == 2
    unset = checked.result("providers.a.token_env", "problem")
    assert "NOT_SET_HERE" in unset["message"]
    assert "set NOT_SET_HERE" in unset["fix"]
    both = checked.result("providers.b.token", "problem")
    assert "keep exactly one of token, token_file, token_env" in both["fix"]


def test_an_unknown_plugin_is_named_with_the_installed_ones(check: Check) -> None:
    checked = check('[[providers]]\nname = "corp"\nplugin = "otka"\nbase_url = "https://acme.okta.com"\n', "-f", "json")

    assert checked.code == 2
    result = checked.result("providers.corp.plugin", "problem")
    assert "'otka'" in result["message"]
    assert "did you mean 'okta'?" in result["fix"]
    assert "keycloak" in result["fix"]


def test_a_plugin_rule_across_keys_is_reported_on_the_table(check: Check) -> None:
    config = (
        '[[providers]]\nname = "corp"\nplugin = "okta"\nbase_url = "https://acme.okta.com/api/v1"\ntoken_env = "T"\n'
    )
    checked = check(config, "-f", "json")
    assert checked.code == 2
    assert "without /api/v1" in checked.result("providers.corp.base_url", "problem")["message"]


def test_bad_input_is_never_a_traceback(check: Check, tmp_path: Path) -> None:
    broken = check("[serve\nport = 1\n")
    assert broken.code == 2
    assert "PROBLEM  config" in broken.output
    assert "line 1" in broken.output
    assert "Traceback" not in broken.output
    # Through the real entry point too: a file that does not exist.
    process = subprocess.run(
        [sys.executable, "-m", "responder", "config", "check", "--config", str(tmp_path / "absent.toml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin", "RESPONDER_DATA_DIR": str(tmp_path / "data")},
    )
    assert process.returncode == 2
    assert "config file not found" in process.stdout
    assert "fix: give an existing file" in process.stdout
    assert "Traceback" not in process.stdout + process.stderr


def test_a_public_service_without_api_keys_is_a_problem(check: Check) -> None:
    checked = check('[serve]\nhost = "0.0.0.0"\n', "-f", "json")
    assert checked.code == 2
    assert "refuses to start" in checked.result("api_keys", "problem")["message"]


def test_a_data_dir_that_cannot_hold_keys(check: Check, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("RESPONDER_DATA_DIR", str(blocker / "data"))
    checked = check(None, "-f", "json")
    assert checked.code == 2
    assert "is not a directory" in checked.result("data_dir", "problem")["message"]
    assert not (blocker.parent / "data").exists()


def test_a_host_with_another_seal_key_than_the_ledger(
    check: Check, keys: Path, idp: FakeIdP, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = good_config(keys, idp)
    (tmp_path / "responder.toml").write_text(config)
    migrated_ledger(tmp_path / "responder.toml")
    keys.write_text(OTHER_SEAL_KEY)  # this host was given a different key

    checked = check(config, "-f", "json")

    assert checked.code == 2
    result = checked.result("ledger.seal_key", "problem")
    assert "another seal key" in result["message"]
    assert "RESPONDER_LEDGER__SEAL_KEY" in result["fix"]


def test_check_creates_nothing(check: Check, clean_env: Path) -> None:
    checked = check(None, "-f", "json")
    assert checked.code == 0, checked.output
    assert "generated into" in checked.result("ledger.seal_key", "note")["message"]
    assert not clean_env.exists()  # no key generated, no ledger created


# ---- live checks: exit 1 ---------------------------------------------------------------------------------


def test_a_provider_that_refuses_the_credentials_fails_the_check(check: Check, keys: Path, idp: FakeIdP) -> None:
    idp.fail_next(1, 401)
    checked = check(good_config(keys, idp), "-f", "json")

    assert checked.code == 1, checked.output
    failed = checked.result("providers.demo", "failed")
    assert "HTTP 401" in failed["message"]
    assert "responder providers check demo" in failed["fix"]


def test_okta_refusing_its_token_fails_the_check(check: Check, tmp_path: Path) -> None:
    token = "00" + "T" * 40
    (tmp_path / "okta-token").write_text(token)
    config = f"""
[[providers]]
name = "corp"
plugin = "okta"
base_url = "https://acme.okta.com"
token_file = "{tmp_path / "okta-token"}"
"""
    with respx.mock(assert_all_called=True, assert_all_mocked=True) as router:
        me = router.get("https://acme.okta.com/api/v1/users/me").mock(return_value=Response(401, json={}))
        checked = check(config, "-f", "json")

    assert checked.code == 1
    assert me.calls.last.request.headers["Authorization"] == f"SSWS {token}"
    assert "refused (HTTP 401)" in checked.result("providers.corp", "failed")["message"]
    assert token not in checked.output


def test_a_ledger_schema_from_a_newer_responder_fails(check: Check, clean_env: Path) -> None:
    clean_env.mkdir()
    with sqlite3.connect(clean_env / "ledger.sqlite3") as db:
        db.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
        db.execute("INSERT INTO alembic_version VALUES ('9999_future')")
    checked = check(None, "-f", "json")
    assert checked.code == 1
    assert "unknown to this responder" in checked.result("ledger", "failed")["message"]


def test_a_ledger_behind_this_version_is_a_note_with_the_command(check: Check, clean_env: Path) -> None:
    clean_env.mkdir()
    engine = database.create_ledger_engine(database.ledger_url(None, clean_env))
    with engine.begin() as connection:
        config = Config()
        config.set_main_option("script_location", "responder.ledger:migrations")
        config.attributes["connection"] = connection
        command.upgrade(config, "0002")
    engine.dispose()

    checked = check(None, "-f", "json")

    assert checked.code == 0, checked.output
    note = checked.result("ledger", "note")
    assert "migration(s) pending (0002 → " in note["message"]
    assert note["fix"] == "or apply them now: responder ledger migrate"


# ---- sources ---------------------------------------------------------------------------------------------


def test_a_source_table_goes_through_its_plugin(check: Check, source_plugin: str, idp: FakeIdP, tmp_path: Path) -> None:
    token = tmp_path / "tickets-token"
    token.write_text("tickets-token-value-0000000000")
    table = f'[[sources]]\nname = "support"\nplugin = "{source_plugin}"\nbase_url = "{idp.url}"\n'
    good = check(f'{table}token_file = "{token}"\n', "-f", "json")
    assert good.code == 0, good.output
    assert good.result("sources.support", "ok")["message"] == "token accepted"

    typo = check(f'{table}tokn_file = "{token}"\n', "-f", "json")
    assert typo.code == 2
    assert "did you mean `token_file`?" in typo.result("sources.support.tokn_file", "problem")["fix"]

    idp.fail_next(1, 403)
    refused = check(f'{table}token_file = "{token}"\n', "-f", "json")
    assert refused.code == 1
    assert "HTTP 403" in refused.result("sources.support", "failed")["message"]


def test_a_source_webhook_secret_file_must_exist(check: Check, tmp_path: Path) -> None:
    config = f'[[sources]]\nname = "support"\nplugin = "github"\nwebhook_secret_file = "{tmp_path / "nope"}"\n'
    checked = check(config, "-f", "json")
    assert checked.code == 2
    assert "does not exist" in checked.result("sources.support.webhook_secret_file", "problem")["message"]
    # GitHub has no source plugin: its webhooks are taken all the same, so that is a note, not a problem.
    assert "webhooks are taken" in checked.result("sources.support.plugin", "note")["message"]


def test_a_source_secret_the_webhook_route_would_refuse(check: Check, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHORT_SECRET", "too-short")
    config = '[[sources]]\nname = "support"\nplugin = "github"\nwebhook_secret_env = "SHORT_SECRET"\n'
    checked = check(config, "-f", "json")
    assert checked.code == 2
    assert "shorter than 16 characters" in checked.result("sources.support.webhook_secret", "problem")["message"]


def test_notifiers_are_built_as_serve_builds_them(
    check: Check, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_KEY", "signing-key-of-thirty-two-chars!")
    signing = "short-but-secret"[:10]
    config = f"""
[[notifiers]]
name = "hook"
kind = "webhook"
url = "http://hooks.example.com/in"
secret_env = "HOOK_KEY"

[[notifiers]]
name = "chat"
kind = "slack"
url_env = "NO_SUCH_VARIABLE_FOR_SLACK"

[[notifiers]]
name = "mail"
kind = "email"
smtp_host = "smtp.example.com"
mail_from = "responder@example.com"
mail_to = ["security@example.com"]
username = "responder"
password_file = "{tmp_path / "no-such-password"}"

[[notifiers]]
name = "weak"
kind = "webhook"
url = "https://hooks.example.com/in"
secret = "{signing}"

[[notifiers]]
name = "good"
kind = "webhook"
url = "https://hooks.example.com/in"
secret_env = "HOOK_KEY"
"""
    checked = check(config, "-f", "json", "--offline")
    assert checked.code == 2
    assert "use https" in checked.result("notifiers.hook.url", "problem")["message"]
    assert "NO_SUCH_VARIABLE_FOR_SLACK" in checked.result("notifiers.chat.url_env", "problem")["message"]
    assert "does not exist" in checked.result("notifiers.mail.password_file", "problem")["message"]
    assert "openssl rand" in checked.result("notifiers.weak.secret", "problem")["fix"]
    assert checked.result("notifiers.good", "ok")
    assert signing not in checked.output
    assert "signing-key-of-thirty-two" not in checked.output


def test_serve_refuses_a_bad_notifier_in_one_line(tmp_path: Path) -> None:
    config = tmp_path / "responder.toml"
    config.write_text('[[notifiers]]\nname = "hook"\nkind = "slack"\nurl = "http://hooks.example.com/in"\n')
    started = subprocess.run(
        [sys.executable, "-m", "responder", "serve", "--config", str(config), "--port", "1"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "RESPONDER_DATA_DIR": str(tmp_path / "data")},
        timeout=60,
    )
    assert started.returncode == 2, started.stderr
    assert "notifiers.hook.url: use https" in started.stderr
    assert "Traceback" not in started.stderr


def test_an_unknown_source_plugin(check: Check) -> None:
    checked = check('[[sources]]\nname = "support"\nplugin = "zendsk"\n', "-f", "json")
    assert checked.code == 2
    assert "did you mean 'zendesk'?" in checked.result("sources.support.plugin", "problem")["fix"]


def test_a_built_in_source_plugin_validates_its_table(check: Check) -> None:
    config = '[[sources]]\nname = "desk"\nplugin = "jira"\nbase_url = "https://acme.atlassian.net/rest/api/3"\n'
    config += 'email = "bot@acme.example"\napi_token_env = "JIRA_TOKEN"\npage_sise = 50\n'
    checked = check(config, "-f", "json")
    assert checked.code == 2
    assert "did you mean `page_size`?" in checked.result("sources.desk.page_sise", "problem")["fix"]


# ---- secrets never shown ---------------------------------------------------------------------------------


PLANTED = {
    "inline": "planted-inline-okta-token-aaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "file": "planted-file-client-secret-bbbbbbbbbbbbbbbb",
    "env": "planted-env-admin-secret-cccccccccccccccccc",
    "unknown": "planted-in-an-unknown-key-dddddddddddd",
    "ledger": "plantedLedgerPasswordEeee",
    "fingerprint": "planted-short",
    "webhook": "planted-webhook-secret-ffffffffffffff",
}


def planted_config(tmp_path: Path) -> str:
    secret_file = tmp_path / "client-secret"
    secret_file.write_text(PLANTED["file"])
    return f"""
fingerprint_key = "{PLANTED["fingerprint"]}"
[ledger]
url = "postgresql://responder:{PLANTED["ledger"]}@127.0.0.1:1/responder"
[[providers]]
name = "corp"
plugin = "okta"
base_url = "https://acme.okta.com"
token = "{PLANTED["inline"]}"
client_id = "0oa1exampleAAAAAAAAA"
client_secret_file = "{secret_file}"
client_secrett = "{PLANTED["unknown"]}"
[[providers]]
name = "sso"
plugin = "keycloak"
base_url = "https://sso.example.com"
realm = "corp"
admin_client_id = "responder"
admin_client_secret_env = "PLANTED_ADMIN_SECRET"
admin_client_secret_file = "{secret_file}"
[[sources]]
name = "support"
plugin = "zendesk"
webhook_secret = "{PLANTED["webhook"]}"
"""


@pytest.mark.parametrize("form", ["table", "json"])
@pytest.mark.parametrize("mode", ["--offline", "--online"])
def test_no_planted_secret_is_ever_printed(
    check: Check, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, form: str, mode: str
) -> None:
    monkeypatch.setenv("PLANTED_ADMIN_SECRET", PLANTED["env"])
    args = ["--format", form] + (["--offline"] if mode == "--offline" else [])
    checked = check(planted_config(tmp_path), *args)

    assert checked.code == 2
    for where, value in PLANTED.items():
        assert value not in checked.output, f"the {where} secret was printed"
    # The problems are still named: unknown key, both secret sources, the short fingerprint key.
    for key in ("providers.corp.client_secrett", "providers.sso.admin_client_secret", "fingerprint_key"):
        assert key in checked.output


def test_secrets_in_settings_are_hidden_even_in_a_failing_ledger_message(check: Check, tmp_path: Path) -> None:
    url = f"postgresql://responder:{PLANTED['ledger']}@127.0.0.1:1/responder"
    checked = check(f'[ledger]\nurl = "{url}"\n', "-f", "json")
    assert checked.code == 1
    message = checked.result("ledger", "failed")["message"]
    assert "127.0.0.1" in message
    assert "***" in message
    assert PLANTED["ledger"] not in checked.output


def test_a_plugin_quoting_its_own_credential_is_redacted(
    check: Check, source_plugin: str, idp: FakeIdP, tmp_path: Path
) -> None:
    token = "careless-plugin-token-0000000000"
    (tmp_path / "token").write_text(token)
    config = f'[[sources]]\nname = "desk"\nplugin = "careless"\nbase_url = "{idp.url}"\n'
    config += f'token_file = "{tmp_path / "token"}"\n'
    checked = check(config, "-f", "json")
    assert checked.code == 1
    assert checked.result("sources.desk", "failed")["message"] == "the token [secret] was refused"
    assert token not in checked.output


# ---- offline ---------------------------------------------------------------------------------------------


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every outgoing connection attempted (and refused) during the test."""
    attempts: list[object] = []
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: object) -> None:
        attempts.append(address)
        if self.family == socket.AF_UNIX:
            real_connect(self, address)
            return
        raise OSError("network disabled in this test")

    def resolve(host: object, *args: object, **kwargs: object) -> list[object]:
        attempts.append(host)  # a DNS query is a network call too
        raise socket.gaierror(socket.EAI_NONAME, "name resolution disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", lambda self, address: connect(self, address) or 0)
    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    return attempts


def offline_config(tmp_path: Path, idp_url: str) -> str:
    token = tmp_path / "token"
    token.write_text("00" + "Q" * 40)
    return f"""
[ledger]
url = "postgresql://responder@127.0.0.1:1/responder"
{fake_provider(idp_url)}
[[providers]]
name = "corp"
plugin = "okta"
base_url = "https://acme.okta.com"
token_file = "{token}"
[[providers]]
name = "partner"
plugin = "oidc"
issuer = "https://idp.example.org"
client_id = "responder"
client_secret_file = "{token}"
[[providers]]
name = "sso"
plugin = "keycloak"
base_url = "https://sso.example.com"
realm = "corp"
admin_client_id = "responder"
admin_client_secret_file = "{token}"
"""


def test_offline_makes_no_network_call(check: Check, tmp_path: Path, idp: FakeIdP, connections: list[object]) -> None:
    checked = check(offline_config(tmp_path, idp.url), "--offline", "-f", "json")

    assert checked.code == 0, checked.output
    assert connections == []
    assert idp.requests == 0
    for key in ("providers.demo", "providers.corp", "providers.partner", "providers.sso", "ledger"):
        assert checked.result(key, "skipped")
        assert key == "ledger" or checked.result(key, "ok")["message"].startswith("valid (")


def test_online_the_same_configuration_does_call_out(
    check: Check, tmp_path: Path, idp: FakeIdP, connections: list[object]
) -> None:
    """The control for the test above: without --offline the same configuration reaches for the network."""
    checked = check(offline_config(tmp_path, idp.url), "-f", "json")

    assert checked.code == 1
    assert connections, "no connection was attempted: the offline test would prove nothing"
    assert checked.result("providers.corp", "failed")
    assert checked.result("ledger", "failed")
