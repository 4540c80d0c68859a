"""The generic OIDC plugin against respx: the request shapes of RFC 8414, 7662 and 7009, and each failure."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx
from pydantic import SecretStr

from providers.oidc import OidcProvider
from responder.errors import ConfigError
from responder.http import DryRunViolation, build_client, dry_run
from responder.model import ActionRequest, Finding, Kind, Location, OutcomeStatus, ProviderRef, Verb
from responder.model import Field as Where
from responder.secret import Secret

ISSUER = "https://idp.example.org"
METADATA = {
    "issuer": ISSUER,
    "revocation_endpoint": f"{ISSUER}/oauth2/revoke",
    "introspection_endpoint": f"{ISSUER}/oauth2/introspect",
    "token_endpoint": f"{ISSUER}/oauth2/token",
}
TOKEN = Secret("opaque-access-token-0123456789abcdef")


def provider(**table: Any) -> OidcProvider:
    settings = {"name": "partner", "plugin": "oidc", "issuer": ISSUER, "client_id": "responder"}
    settings.update(table)
    settings.setdefault("client_secret", SecretStr("s3cr3t"))
    return OidcProvider.from_config(settings, build_client(ISSUER))


def request(kind: Kind = Kind.ACCESS_TOKEN, credential: Secret = TOKEN) -> ActionRequest:
    return ActionRequest("a-1", "partner", Verb.REVOKE_TOKEN, "f" * 64, kind, None, credential)


@pytest.fixture
def idp() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        router.get(f"{ISSUER}/.well-known/openid-configuration").respond(200, json=METADATA)
        yield router


def test_revokes_after_introspection_with_client_secret_basic(idp: respx.MockRouter) -> None:
    introspect = idp.post(METADATA["introspection_endpoint"]).respond(
        200, json={"active": True, "sub": "u-1", "username": "ana"}
    )
    revoke = idp.post(METADATA["revocation_endpoint"]).respond(200)
    outcome = provider().execute(request())
    assert outcome.status is OutcomeStatus.REVOKED
    assert outcome.subject is not None
    assert (outcome.subject.user_id, outcome.subject.login) == ("u-1", "ana")
    sent = revoke.calls.last.request
    assert sent.headers["authorization"] == "Basic " + base64.b64encode(b"responder:s3cr3t").decode()
    assert sent.content == b"token=opaque-access-token-0123456789abcdef&token_type_hint=access_token"
    assert sent.headers["content-type"] == "application/x-www-form-urlencoded"
    assert introspect.calls.last.request.extensions.get("responder.read_only")


def test_an_inactive_token_is_already_invalid_without_revoking(idp: respx.MockRouter) -> None:
    idp.post(METADATA["introspection_endpoint"]).respond(200, json={"active": False})
    revoke = idp.post(METADATA["revocation_endpoint"]).respond(200)
    outcome = provider().execute(request(Kind.REFRESH_TOKEN))
    assert (outcome.status, outcome.detail) == (OutcomeStatus.ALREADY_INVALID, "introspection: inactive")
    assert not revoke.called


@pytest.mark.parametrize(
    ("status", "body", "headers", "expected", "detail"),
    [
        (503, {}, {"Retry-After": "12"}, OutcomeStatus.FAILED_TRANSIENT, "revocation: HTTP 503"),
        (401, {"error": "invalid_client"}, {}, OutcomeStatus.FAILED_PERMANENT, "client 'responder' was refused"),
        (400, {"error": "unsupported_token_type"}, {}, OutcomeStatus.UNSUPPORTED, "cannot revoke this token type"),
    ],
)
def test_revocation_failures_have_one_meaning_each(
    idp: respx.MockRouter,
    status: int,
    body: dict[str, str],
    headers: dict[str, str],
    expected: OutcomeStatus,
    detail: str,
) -> None:
    idp.post(METADATA["introspection_endpoint"]).respond(200, json={"active": True, "sub": "u"})
    idp.post(METADATA["revocation_endpoint"]).respond(status, json=body, headers=headers)
    outcome = provider().execute(request())
    assert outcome.status is expected
    assert detail in outcome.detail
    if status == 503:
        assert outcome.retry_after == 12


def test_a_public_client_sends_its_client_id_in_the_form(idp: respx.MockRouter) -> None:
    idp.get(f"{ISSUER}/.well-known/openid-configuration").respond(
        200, json={**METADATA, "introspection_endpoint": None}
    )
    revoke = idp.post(METADATA["revocation_endpoint"]).respond(200)
    public = OidcProvider.from_config(
        {"name": "partner", "plugin": "oidc", "issuer": ISSUER, "public_client_ids": ["spa"]}, build_client(ISSUER)
    )
    assert public.execute(request(Kind.REFRESH_TOKEN)).status is OutcomeStatus.REVOKED
    sent = revoke.calls.last.request
    assert "authorization" not in sent.headers
    assert sent.content.endswith(b"&client_id=spa")


def test_metadata_for_another_issuer_is_refused(idp: respx.MockRouter) -> None:
    idp.get(f"{ISSUER}/.well-known/openid-configuration").respond(200, json={**METADATA, "issuer": "https://evil"})
    outcome = provider().execute(request())
    assert outcome.status is OutcomeStatus.FAILED_TRANSIENT
    assert "names issuer 'https://evil'" in outcome.detail
    check = provider().check()
    assert not check.ok
    assert "exact issuer URL" in check.detail


def test_check_names_a_wrong_secret(idp: respx.MockRouter) -> None:
    idp.post(METADATA["introspection_endpoint"]).respond(401, json={"error": "invalid_client"})
    result = provider().check()
    assert not result.ok
    assert result.detail == "client 'responder' was refused: wrong client_id or secret"


def test_resolve_in_a_dry_run_only_introspects(idp: respx.MockRouter) -> None:
    idp.post(METADATA["introspection_endpoint"]).respond(200, json={"active": True, "sub": "u-2", "email": "b@x"})
    revoke = idp.post(METADATA["revocation_endpoint"]).respond(200)
    plugin = provider()
    with dry_run():
        subject = plugin.resolve(request())
        with pytest.raises(DryRunViolation):
            plugin.execute(request())
    assert subject is not None
    assert (subject.user_id, subject.login) == ("u-2", "b@x")
    assert not revoke.called


def test_plan_revokes_bearer_kinds_only() -> None:
    plugin = provider()

    def finding(kind: Kind, claims: dict[str, str] | None = None) -> Finding:
        return Finding(
            "f" * 64, kind, "test", "t", True, ProviderRef(None, "partner"), claims or {}, None,
            (Location(Where.HEADER, "authorization"),), TOKEN,
        )  # fmt: skip

    assert [t.verb for t in plugin.plan(finding(Kind.REFRESH_TOKEN))] == [Verb.REVOKE_TOKEN]
    (target,) = plugin.plan(finding(Kind.ACCESS_TOKEN, {"sub": "u-3"}))
    assert target.subject is not None
    assert target.subject.user_id == "u-3"
    assert plugin.plan(finding(Kind.ID_TOKEN)) == ()
    assert plugin.plan(finding(Kind.SESSION_COOKIE)) == ()


def test_settings_errors_name_the_key() -> None:
    with pytest.raises(ConfigError, match=r"providers\.partner\.issuer: Field required"):
        OidcProvider.from_config({"name": "partner", "plugin": "oidc", "client_id": "x"}, build_client(ISSUER))
    with pytest.raises(ConfigError, match=r"providers\.partner\.clientid: Extra inputs are not permitted"):
        OidcProvider.from_config(
            {"name": "partner", "plugin": "oidc", "issuer": ISSUER, "clientid": "x"}, build_client(ISSUER)
        )
    with pytest.raises(ConfigError, match="client_secret_env: the environment variable NOPE_NOT_SET is not set"):
        OidcProvider.from_config(
            {
                "name": "partner",
                "plugin": "oidc",
                "issuer": ISSUER,
                "client_id": "x",
                "client_secret_env": "NOPE_NOT_SET",
            },
            build_client(ISSUER),
        )


def test_unreachable_issuer_is_transient() -> None:
    with respx.mock:
        respx.get(f"{ISSUER}/.well-known/openid-configuration").mock(side_effect=httpx.ConnectError("refused"))
        outcome = provider().execute(request())
    assert outcome.status is OutcomeStatus.FAILED_TRANSIENT
    assert outcome.detail.startswith("discovery: cannot reach")
