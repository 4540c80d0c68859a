"""API keys: each caller presents a key (`Authorization: Bearer …` or `X-API-Key`); the service knows only its
SHA-256 (`[[api_keys]]`), compared in constant time. Every route but health needs a key with the right role."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from responder.settings import ApiKeyConfig, Role


@dataclass(frozen=True, slots=True)
class Caller:
    name: str
    roles: tuple[Role, ...]

    @property
    def actor(self) -> str:
        return f"api:{self.name}"


class ApiKeys:
    def __init__(self, keys: Sequence[ApiKeyConfig]) -> None:
        self._keys = tuple((bytes.fromhex(k.key_sha256), k) for k in keys)

    def __len__(self) -> int:
        return len(self._keys)

    def identify(self, presented: str) -> ApiKeyConfig | None:
        digest = hashlib.sha256(presented.encode()).digest()
        found = None
        for known, config in self._keys:  # no early exit: every key is compared
            if hmac.compare_digest(known, digest):
                found = config
        return found


def presented_key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    key = request.headers.get("x-api-key", "").strip()
    return key or None


# Declared so that the published OpenAPI says how to authenticate (and /docs can); the key itself is read by
# presented_key, which takes either.
_BEARER = HTTPBearer(auto_error=False, description="an API key from [[api_keys]], as a bearer token")
_HEADER = APIKeyHeader(name="X-API-Key", auto_error=False, description="an API key from [[api_keys]]")


def require(*roles: Role) -> Callable[..., Caller]:
    """A dependency admitting a key that holds any of `roles`: 401 without a valid key, 403 without the role.
    A refusal says nothing more, and is counted."""

    def dependency(
        request: Request,
        _bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
        _header: Annotated[str | None, Depends(_HEADER)],
    ) -> Caller:
        from responder.api.app import state_of  # the app's state is per app, not per module

        state = state_of(request)
        key = presented_key(request)
        config = state.keys.identify(key) if key is not None else None
        if config is None:
            state.metrics.auth_failures.labels("missing" if key is None else "invalid").inc()
            raise HTTPException(401, "a valid API key is required", headers={"WWW-Authenticate": "Bearer"})
        if not set(roles) & set(config.roles):
            state.metrics.auth_failures.labels("forbidden").inc()
            raise HTTPException(403, f"this key lacks the role: {' or '.join(roles)}")
        return Caller(config.name, config.roles)

    return dependency
