"""`[[notifiers]]` validation: each kind's keys, exactly one form of each secret, TLS unless the relay is this
machine, unique names, and every key documented in the example configuration."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from responder.errors import ConfigError
from responder.notify.settings import NotifierConfig
from responder.settings import load_settings
from tests.conftest import ROOT

EXAMPLE = ROOT / "config" / "responder.example.toml"


def load(tmp_path: Path, *notifiers: dict[str, Any]) -> Any:
    return load_settings(None, data_dir=tmp_path, notifiers=list(notifiers))


SLACK = {"name": "s", "kind": "slack", "url": "https://hooks.slack.com/services/T/B/secretpart"}
MAIL = {
    "name": "m",
    "kind": "email",
    "smtp_host": "smtp.example.com",
    "mail_from": "r@example.com",
    "mail_to": ["a@b.c"],
}


def test_a_valid_table_of_each_kind_loads_with_defaults(tmp_path: Path) -> None:
    hook = {"name": "h", "kind": "webhook", "url_env": "HOOK_URL", "secret_file": str(tmp_path / "key")}
    settings = load(tmp_path, SLACK, hook, MAIL)
    slack, webhook, mail = settings.notifiers
    assert slack.on == ("intake", "panic")
    assert (slack.max_attempts, slack.max_listed, slack.timeout_seconds) == (8, 20, 10)
    assert webhook.url_env == "HOOK_URL"
    assert (mail.security, mail.port) == ("starttls", 587)
    assert NotifierConfig.model_validate({**MAIL, "security": "tls"}).port == 465
    assert "secretpart" not in repr(settings)  # the Slack URL is held as a secret


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({**SLACK, "smtp_host": "x"}, "smtp_host do not apply to kind 'slack'"),
        ({"name": "s", "kind": "slack"}, "give exactly one of url, url_file, url_env"),
        ({**SLACK, "url_env": "X"}, "give exactly one of url, url_file, url_env"),
        ({"name": "h", "kind": "webhook", "url": "https://x.test/"}, "give exactly one of secret"),
        ({**MAIL, "url": "https://x.test/"}, "url do not apply to kind 'email'"),
        ({**MAIL, "mail_to": []}, "email needs smtp_host, mail_from and mail_to"),
        ({**MAIL, "security": "plain"}, "for a relay on localhost only"),
        ({**MAIL, "smtp_host": "localhost", "security": "plain", "username": "u", "password": "p"}, "needs security"),
        ({**MAIL, "password": "p"}, "a password needs a username"),
        ({**MAIL, "username": "u"}, "give exactly one of password, password_file, password_env"),
        ({**MAIL, "mail_to": ["not an address"]}, "mail_to"),
        ({**SLACK, "on": []}, "on"),
        ({**SLACK, "on": ["sweep"]}, "on"),
        ({**SLACK, "kind": "pager"}, "kind"),
        ({**SLACK, "colour": "red"}, "colour"),
    ],
)
def test_mistakes_are_named(tmp_path: Path, table: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)) as error:
        load(tmp_path, table)
    assert "notifiers.0" in str(error.value)
    assert "secretpart" not in str(error.value)


def test_names_are_unique(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="repeated: s"):
        load(tmp_path, SLACK, {**SLACK, "url": "https://hooks.slack.com/services/other"})


def test_plain_smtp_to_this_machine_is_allowed(tmp_path: Path) -> None:
    (mail,) = load(tmp_path, {**MAIL, "smtp_host": "127.0.0.1", "security": "plain"}).notifiers
    assert mail.port == 25


def test_every_notifier_key_is_in_the_example() -> None:
    text = EXAMPLE.read_text()
    documented = {name for name in NotifierConfig.model_fields if re.search(rf"^#?\s*{name}\s*=", text, re.MULTILINE)}
    assert set(NotifierConfig.model_fields) - documented == set()
    assert re.search(r"^#\s*notifiers\s*=", text, re.MULTILINE)
    assert "# [[notifiers]]" in text
