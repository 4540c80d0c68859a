"""Slack incoming webhook: POST {"text", "blocks"} to the configured URL, which is itself the credential."""

from __future__ import annotations

import json

import httpx

from responder.notify import render
from responder.notify.delivery import post_json
from responder.notify.notice import Notice
from responder.secret import Secret


class SlackNotifier:
    def __init__(self, name: str, url: Secret, host: str, client: httpx.Client) -> None:
        self.name = name
        self._url = url
        self._host = host
        self._client = client

    def __repr__(self) -> str:
        return f"SlackNotifier({self.name!r}, host={self._host!r})"

    def send(self, notice: Notice, delivery_id: str) -> None:
        body = json.dumps(render.slack_payload(notice), ensure_ascii=False).encode()
        post_json(self._client, self._url, self._host, body, {})

    def close(self) -> None:
        self._client.close()
