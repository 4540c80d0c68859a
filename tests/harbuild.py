"""Build small HAR documents for tests (pure data; no responder imports)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any


def entry(
    url: str = "https://app.example.com/api",
    *,
    method: str = "GET",
    request_headers: list[tuple[str, str]] | None = None,
    response_headers: list[tuple[str, str]] | None = None,
    request_cookies: list[tuple[str, str]] | None = None,
    post: dict[str, Any] | None = None,
    body: str | None = None,
    mime: str = "application/json",
    base64_body: bool = False,
    websocket: list[dict[str, Any]] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    content: dict[str, Any] = {"size": len(body or ""), "mimeType": mime}
    if body is not None:
        content["text"] = base64.b64encode(body.encode()).decode() if base64_body else body
        if base64_body:
            content["encoding"] = "base64"
    request: dict[str, Any] = {
        "method": method,
        "url": url,
        "httpVersion": "HTTP/1.1",
        "headers": [{"name": n, "value": v} for n, v in request_headers or []],
        "cookies": [{"name": n, "value": v} for n, v in request_cookies or []],
        "queryString": [],
        "headersSize": -1,
        "bodySize": -1,
    }
    if post is not None:
        request["postData"] = post
    result: dict[str, Any] = {
        "startedDateTime": "2026-11-29T10:00:00.000Z",
        "time": 12,
        "request": request,
        "response": {
            "status": 200,
            "statusText": "OK",
            "httpVersion": "HTTP/1.1",
            "headers": [{"name": n, "value": v} for n, v in response_headers or []],
            "cookies": [],
            "content": content,
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": -1,
        },
        "cache": {},
        "timings": {"send": 0, "wait": 10, "receive": 2},
    }
    if websocket is not None:
        result["_webSocketMessages"] = websocket
    result.update(extra or {})
    return result


def har(*entries: dict[str, Any]) -> dict[str, Any]:
    return {
        "log": {"version": "1.2", "creator": {"name": "tests", "version": "1"}, "pages": [], "entries": list(entries)}
    }


def write(path: Path, document: dict[str, Any], *, indent: int | None = 2) -> Path:
    path.write_text(json.dumps(document, indent=indent))
    return path
