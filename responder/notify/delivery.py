"""What every notifier is: a name and one `send`, which delivers a notice or raises DeliveryFailed."""

from __future__ import annotations

from typing import Protocol
from urllib.parse import urlsplit

import httpx

from responder.errors import ConfigError, ResponderError
from responder.notify.notice import Notice
from responder.notify.settings import LOOPBACK_HOSTS
from responder.secret import Secret


class DeliveryFailed(ResponderError):
    """One delivery did not go through. The message is operator-readable and never holds a secret: a status,
    a host, an exception's type, never a URL (Slack's and many webhooks' URLs are credentials)."""


class Notifier(Protocol):
    name: str

    def send(self, notice: Notice, delivery_id: str) -> None:
        """Deliver, or raise DeliveryFailed. `delivery_id` is the same for every retry of one notice."""

    def close(self) -> None: ...


def checked_url(where: str, url: Secret) -> tuple[Secret, str]:
    """The URL and its host (the only part ever shown). HTTPS, except to this machine (tests, a local relay)."""
    parts = urlsplit(url.reveal())
    host = (parts.hostname or "").lower()
    if not host or parts.scheme not in ("https", "http"):
        raise ConfigError(f"{where}: not an http(s) URL")
    if parts.scheme == "http" and host not in LOOPBACK_HOSTS:
        raise ConfigError(f"{where}: use https (plain http only to localhost)")
    return url, host


def post_json(client: httpx.Client, url: Secret, host: str, body: bytes, headers: dict[str, str]) -> None:
    """POST and expect 2xx. A redirect is a failure (the client follows none: it could carry the body away)."""
    try:
        response = client.post(url.reveal(), content=body, headers={"Content-Type": "application/json", **headers})
    except httpx.TimeoutException:
        raise DeliveryFailed(f"{host}: timed out") from None
    except httpx.HTTPError as exc:
        raise DeliveryFailed(f"{host}: {type(exc).__name__}") from None
    if not 200 <= response.status_code < 300:
        raise DeliveryFailed(f"{host} answered HTTP {response.status_code}")
