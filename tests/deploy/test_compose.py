"""compose.yaml names only real commands, flags and settings, wires each secret from a file or the
environment, and keeps every replica and worker on the same ledger and keys."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml
from pydantic import BaseModel
from sqlalchemy.engine import make_url

from responder.cli import app
from responder.settings import Settings, load_settings
from tests.deploy import sources

# Values standing in for the operator's .env when the file is interpolated.
OPERATOR_ENV = {"RESPONDER_DB_PASSWORD": "a-database-password", "RESPONDER_FINGERPRINT_KEY": "f" * 64}
SECRET_NAME = re.compile(r"(PASSWORD|SECRET|TOKEN|_KEY|_URL)$")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document = yaml.safe_load(sources.COMPOSE.read_text())
    assert isinstance(document, dict)
    return document


def responder_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in compose["services"].items() if s.get("image", "").startswith("responder:")}


def test_the_shape_is_one_ledger_one_serve_and_optional_scale_out(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"db", "responder", "responder-2", "worker"}
    assert services["db"]["image"].startswith("postgres:")
    ours = responder_services(compose)
    assert set(ours) == {"responder", "responder-2", "worker"}
    assert "profiles" not in services["db"]
    assert "profiles" not in services["responder"]
    assert services["responder-2"]["profiles"] == ["scale"]
    assert services["worker"]["profiles"] == ["scale"]
    assert [s["command"][0] for s in ours.values()] == ["serve", "serve", "work"]
    for service in ours.values():
        assert service["build"] == "."
        assert service["depends_on"] == {"db": {"condition": "service_healthy"}}


def test_every_command_and_flag_exists(compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RESPONDER_CONFIG", raising=False)
    group = typer.main.get_command(app)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("RESPONDER_")}
    for name, service in responder_services(compose).items():
        subcommand, *arguments = service["command"]
        shown = subprocess.run(
            [sys.executable, "-m", "responder", subcommand, "--help"],
            capture_output=True,
            text=True,
            env=environment,
            timeout=60,
            check=False,
        )
        assert shown.returncode == 0, f"{name}: `responder {subcommand} --help` failed: {shown.stderr}"
        for flag in (a for a in arguments if a.startswith("--")):
            assert flag in shown.stdout, f"{name}: `responder {subcommand}` has no {flag}"
        # The values parse too (types and ranges), exactly as the CLI would parse them.
        command = group.commands[subcommand]  # type: ignore[attr-defined]
        command.make_context(subcommand, list(arguments))


def test_the_serve_command_is_the_images(compose: dict[str, Any]) -> None:
    image_cmd = sources.exec_form(sources.stages()[-1].one("CMD").arguments)
    for name in ("responder", "responder-2"):
        assert compose["services"][name]["command"] == image_cmd


def _setting_exists(variable: str) -> bool:
    """RESPONDER_A__B names Settings.a.b (pydantic-settings, nested delimiter __)."""
    model: type[BaseModel] = Settings
    *parents, leaf = variable.removeprefix("RESPONDER_").lower().split("__")
    for part in parents:
        field = model.model_fields.get(part)
        if field is None or not (isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)):
            return False
        model = field.annotation
    return leaf in model.model_fields


def test_every_responder_variable_is_a_real_setting(compose: dict[str, Any]) -> None:
    image_env = sources.environment(sources.stages()[-1])
    names = {n for s in responder_services(compose).values() for n in s["environment"]} | set(image_env)
    group = typer.main.get_command(app)
    for name in sorted(n for n in names if n.startswith("RESPONDER_")):
        if name == "RESPONDER_CONFIG":  # not a setting: the --config option of every command reads it
            for subcommand in ("serve", "work", "respond", "panic", "scan"):
                options = group.commands[subcommand].params  # type: ignore[attr-defined]
                assert any(getattr(p, "envvar", None) == name for p in options), subcommand
            continue
        assert _setting_exists(name), f"{name} is not a responder setting"
    assert not _setting_exists("RESPONDER_LEDGER__NO_SUCH_KEY")  # the check itself can say no


def test_the_settings_load_and_land_where_compose_mounts_them(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    image_env = sources.environment(sources.stages()[-1])
    db_env = {k: sources.interpolate(v, OPERATOR_ENV) for k, v in compose["services"]["db"]["environment"].items()}
    for name, service in responder_services(compose).items():
        for variable in [v for v in os.environ if v.startswith("RESPONDER_")]:
            monkeypatch.delenv(variable)
        merged = {**image_env, **service["environment"]}
        for variable, value in merged.items():
            if variable.startswith("RESPONDER_") and variable != "RESPONDER_CONFIG":
                monkeypatch.setenv(variable, sources.interpolate(str(value), OPERATOR_ENV))
        settings = load_settings(None)

        volume_targets = {v.split(":", 1)[1] for v in service["volumes"]}
        assert str(settings.data_dir) in volume_targets, f"{name}: the data dir is not on a volume"
        secret_targets = {s["target"] for s in service["secrets"]}
        assert str(settings.ledger.seal_key_file) in secret_targets, f"{name}: seal key file is not mounted"
        assert settings.fingerprint_key is not None
        assert settings.fingerprint_key.get_secret_value() == OPERATOR_ENV["RESPONDER_FINGERPRINT_KEY"]
        assert [c["target"] for c in service["configs"]] == [image_env["RESPONDER_CONFIG"]]
        assert settings.log_json is True

        assert settings.ledger.url is not None
        url = make_url(settings.ledger.url.get_secret_value())
        assert (url.get_backend_name(), url.host, url.port) == ("postgresql", "db", 5432)
        assert url.username == db_env["POSTGRES_USER"]
        assert url.database == db_env["POSTGRES_DB"]
        assert url.password == db_env["POSTGRES_PASSWORD"] == OPERATOR_ENV["RESPONDER_DB_PASSWORD"]


def test_no_secret_is_written_in_the_file(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for variable, value in service.get("environment", {}).items():
            value = str(value)
            if variable.endswith("_FILE") or not SECRET_NAME.search(variable):
                continue
            if variable.endswith("_URL"):
                password = make_url(sources.interpolate(value, {v: f"<{v}>" for v in OPERATOR_ENV})).password
                assert password is not None, f"{name}: {variable} has no password"
                assert re.fullmatch(r"<[A-Z_]+>", password), f"{name}: {variable} has a written password"
            else:
                assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]+\}", value), f"{name}: {variable} must be ${{VAR:?…}}"
            # Required, never defaulted: compose refuses to start without the operator's value.
            assert sources.required_variables(value) <= set(OPERATOR_ENV)
            assert sources.required_variables(value)
    for name, secret in compose["secrets"].items():
        assert set(secret) == {"file"}, f"secret {name} must come from a file"
    with pytest.raises(KeyError, match="RESPONDER_DB_PASSWORD"):
        sources.interpolate(compose["services"]["db"]["environment"]["POSTGRES_PASSWORD"], {})


def test_every_mounted_secret_and_config_is_declared(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for secret in service.get("secrets", []):
            assert secret["source"] in compose["secrets"], f"{name}: undeclared secret {secret['source']}"
        for config in service.get("configs", []):
            assert config["source"] in compose["configs"], f"{name}: undeclared config {config['source']}"
        for volume in service.get("volumes", []):
            assert volume.split(":", 1)[0] in compose["volumes"], f"{name}: undeclared volume {volume}"


def test_healthchecks(compose: dict[str, Any]) -> None:
    options, command = sources.healthcheck(sources.stages()[-1])
    services = compose["services"]
    for name in ("responder", "responder-2"):
        check = services[name]["healthcheck"]
        assert check["test"] == ["CMD", *command], f"{name}: probe differs from the image's HEALTHCHECK"
        assert {k.replace("_", "-"): check[k] for k in ("interval", "timeout", "start_period")} == {
            k: options[k] for k in ("interval", "timeout", "start-period")
        }
        assert str(check["retries"]) == options["retries"]
    assert services["worker"]["healthcheck"] == {"disable": True}  # no HTTP in a worker
    assert services["db"]["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]


def test_published_ports_stay_on_the_host_loopback(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name}: {port} is published on every interface"
    assert "ports" not in compose["services"]["db"]
