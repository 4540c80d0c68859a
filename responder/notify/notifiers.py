"""`[[notifiers]]` tables → notifiers, their secrets read once (a bad one is a ConfigError at start)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pydantic import SecretStr

from responder.errors import ConfigError
from responder.http import build_client
from responder.notify.delivery import Notifier, checked_url
from responder.notify.email import EmailNotifier
from responder.notify.settings import NotifierConfig
from responder.notify.slack import SlackNotifier
from responder.notify.webhook import WebhookNotifier
from responder.secret import Secret, read_secret

MIN_SIGNING_SECRET = 16


def build_notifier(config: NotifierConfig) -> Notifier:
    where = f"notifiers.{config.name}"
    if config.kind == "email":
        password = read_secret(f"{where}.password", config.password, config.password_file, config.password_env)
        return EmailNotifier(config, password)
    url, host = checked_url(f"{where}.url", _required(f"{where}.url", config.url, config.url_file, config.url_env))
    client = build_client("", config.timeout_seconds)
    if config.kind == "slack":
        return SlackNotifier(config.name, url, host, client)
    secret = _required(f"{where}.secret", config.secret, config.secret_file, config.secret_env)
    if len(secret) < MIN_SIGNING_SECRET:
        client.close()
        raise ConfigError(f"{where}.secret: use at least {MIN_SIGNING_SECRET} characters")
    return WebhookNotifier(config.name, url, host, secret, client)


def build_notifiers(configs: Sequence[NotifierConfig]) -> dict[str, Notifier]:
    built: dict[str, Notifier] = {}
    try:
        for config in configs:
            built[config.name] = build_notifier(config)
    except ConfigError:
        for notifier in built.values():
            notifier.close()
        raise
    return built


def _required(where: str, value: SecretStr | None, file: Path | None, env: str | None) -> Secret:
    secret = read_secret(where, value, file, env)
    if secret is None:
        raise ConfigError(f"{where}: give one of {where}, {where}_file, {where}_env")
    return secret
