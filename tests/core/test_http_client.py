"""The plugin HTTP client keeps no cookies and never repeats a path in a refusal."""

from __future__ import annotations

import httpx
import pytest

from responder.http import DryRunViolation, build_client


def test_a_set_cookie_answer_never_rides_along_on_later_calls() -> None:
    seen: list[str | None] = []

    def idp(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("cookie"))
        return httpx.Response(200, headers={"Set-Cookie": "idx=refreshed-victim-session; Path=/; Secure"})

    client = build_client("https://idp.example", transport=httpx.MockTransport(idp))
    client.get("/api/v1/users/me", headers={"Cookie": "idx=leaked"})
    client.get("/api/v1/users/u1")
    assert seen == ["idx=leaked", None]
    assert len(client.cookies.jar) == 0


def test_a_dry_run_refusal_names_the_host_not_the_path() -> None:
    client = build_client(
        "https://idp.example", always_dry_run=True, transport=httpx.MockTransport(lambda r: httpx.Response(204))
    )
    with pytest.raises(DryRunViolation) as refused:
        client.delete("/api/v1/sessions/102leakedsessionid")
    assert "leaked" not in str(refused.value)
    assert "idp.example" in str(refused.value)
