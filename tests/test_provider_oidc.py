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
    settings: dict[str, Any] = {"name": "partner", "plugin": "oidc", "issuer": ISSUER, "client_id": "responder"}
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


# ---- RP-initiated logout with the leaked session (opt-in) ----------------------------------------------

SESSION = Secret("sess-0123456789abcdefghij")
SIGNATURE = Secret("sig-abcdefghij0123456789")
LOGOUT_PAGE = """<!DOCTYPE html><html><body><h1>Do you want to sign-out?</h1>
<form id="op.logoutForm" method="post" action="/session/end/confirm">
<input type="hidden" name="xsrf" value="x-1"/></form>
<button autofocus type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>
<button type="submit" form="op.logoutForm">No, stay signed in</button></body></html>"""


def session_finding(**extra: Any) -> Finding:
    return Finding(
        "e" * 64, Kind.SESSION_COOKIE, "cookie:catalog", "application session", True, ProviderRef(None, "partner"),
        {}, None, (Location(Where.COOKIE, "_session", entry=3),), SESSION, companions={"_session.sig": SIGNATURE},
        **extra,
    )  # fmt: skip


@pytest.fixture
def op(idp: respx.MockRouter) -> respx.MockRouter:
    metadata = {**METADATA, "end_session_endpoint": f"{ISSUER}/session/end"}
    idp.get(f"{ISSUER}/.well-known/openid-configuration").respond(200, json=metadata)
    return idp


def end_session_request(header: Secret) -> ActionRequest:
    return ActionRequest("a-2", "partner", Verb.END_SESSION, "e" * 64, Kind.SESSION_COOKIE, None, header)


def test_a_session_cookie_is_left_alone_unless_the_instance_opts_in() -> None:
    assert provider().plan(session_finding()) == ()


def test_the_session_is_ended_by_rp_initiated_logout_with_cookie_and_signature(op: respx.MockRouter) -> None:
    plugin = provider(end_session_with_cookie=True)
    id_token = Finding(
        "d" * 64, Kind.ID_TOKEN, "jwt", "id token", True, ProviderRef(None, "partner"), {"sub": "carol"}, None, (),
        Secret("x.y.z"),
    )  # fmt: skip
    (target,) = plugin.plan(session_finding(), [id_token])
    assert (target.verb, target.uses_credential) == (Verb.END_SESSION, True)
    assert target.subject is not None
    assert target.subject.user_id == "carol"  # named by the id_token of the same artifact
    assert target.credential is not None
    assert target.credential.reveal() == f"_session={SESSION.reveal()}; _session.sig={SIGNATURE.reveal()}"

    page = op.get(f"{ISSUER}/session/end").respond(200, text=LOGOUT_PAGE, headers={"content-type": "text/html"})
    confirm = op.post(f"{ISSUER}/session/end/confirm").respond(303, headers={"location": "/session/end/success"})
    outcome = plugin.execute(end_session_request(target.credential))
    assert outcome.status is OutcomeStatus.REVOKED
    assert "RP-initiated logout" in outcome.detail
    for call in (page.calls.last.request, confirm.calls.last.request):
        assert call.headers["cookie"] == target.credential.reveal()
    assert confirm.calls.last.request.content == b"xsrf=x-1&logout=yes"
    assert plugin.verify(end_session_request(target.credential)) is None
    assert SESSION.reveal() not in outcome.detail


def test_the_cookie_is_never_sent_to_another_origin(idp: respx.MockRouter) -> None:
    metadata = {**METADATA, "end_session_endpoint": "https://elsewhere.example.net/logout"}
    idp.get(f"{ISSUER}/.well-known/openid-configuration").respond(200, json=metadata)
    elsewhere = idp.route(host="elsewhere.example.net")
    outcome = provider(end_session_with_cookie=True).execute(end_session_request(Secret("_session=abc")))
    assert outcome.status is OutcomeStatus.UNSUPPORTED
    assert not elsewhere.called


def test_a_form_posting_to_another_origin_is_not_submitted(op: respx.MockRouter) -> None:
    evil = LOGOUT_PAGE.replace('action="/session/end/confirm"', 'action="https://elsewhere.example.net/x"')
    op.get(f"{ISSUER}/session/end").respond(200, text=evil)
    elsewhere = op.route(host="elsewhere.example.net")
    outcome = provider(end_session_with_cookie=True).execute(end_session_request(Secret("_session=abc")))
    assert outcome.status is OutcomeStatus.FAILED_PERMANENT
    assert "no logout form" in outcome.detail
    assert not elsewhere.called


@pytest.mark.parametrize(
    ("status", "expected"), [(503, OutcomeStatus.FAILED_TRANSIENT), (400, OutcomeStatus.FAILED_PERMANENT)]
)
def test_logout_failures_have_one_meaning_each(op: respx.MockRouter, status: int, expected: OutcomeStatus) -> None:
    op.get(f"{ISSUER}/session/end").respond(status)
    outcome = provider(end_session_with_cookie=True).execute(end_session_request(Secret("_session=abc")))
    assert outcome.status is expected


def test_an_op_without_end_session_endpoint_is_unsupported(idp: respx.MockRouter) -> None:
    outcome = provider(end_session_with_cookie=True).execute(end_session_request(Secret("_session=abc")))
    assert outcome.status is OutcomeStatus.UNSUPPORTED
    assert "end_session_endpoint" in outcome.detail


def test_resolve_never_sends_a_session_cookie_anywhere(op: respx.MockRouter) -> None:
    introspect = op.post(METADATA["introspection_endpoint"])
    assert provider(end_session_with_cookie=True).resolve(end_session_request(Secret("_session=abc"))) is None
    assert not introspect.called


def test_a_dry_run_ends_no_session(op: respx.MockRouter) -> None:
    page = op.get(f"{ISSUER}/session/end").respond(200, text=LOGOUT_PAGE)
    confirm = op.post(f"{ISSUER}/session/end/confirm")
    with dry_run(), pytest.raises(DryRunViolation):
        provider(end_session_with_cookie=True).execute(end_session_request(Secret("_session=abc")))
    assert not page.called  # an OP may log out on the GET already: it is refused like a POST
    assert not confirm.called
