"""Generic JSON webhook: the notice as versioned JSON, signed so the receiver knows it came from responder.

    X-Responder-Timestamp: <Unix seconds>
    X-Responder-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>
    X-Responder-Delivery:  <id, the same for every retry of one notice>

The signature covers the exact body bytes sent and the timestamp, so a receiver can refuse a replay by age."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable

import httpx

from responder.notify.delivery import post_json
from responder.notify.notice import Notice
from responder.secret import Secret

SIGNATURE_HEADER = "X-Responder-Signature"
TIMESTAMP_HEADER = "X-Responder-Timestamp"
DELIVERY_HEADER = "X-Responder-Delivery"


def sign(secret: Secret, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.reveal().encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def body_of(notice: Notice) -> bytes:
    return json.dumps(notice.as_json(), ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


class WebhookNotifier:
    def __init__(
        self,
        name: str,
        url: Secret,
        host: str,
        secret: Secret,
        client: httpx.Client,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self._url = url
        self._host = host
        self._secret = secret
        self._client = client
        self._clock = clock

    def __repr__(self) -> str:
        return f"WebhookNotifier({self.name!r}, host={self._host!r})"

    def send(self, notice: Notice, delivery_id: str) -> None:
        body = body_of(notice)
        timestamp = str(int(self._clock()))
        headers = {
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(self._secret, timestamp, body),
            DELIVERY_HEADER: delivery_id,
        }
        post_json(self._client, self._url, self._host, body, headers)

    def close(self) -> None:
        self._client.close()
