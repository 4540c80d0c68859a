"""JWTs: found by shape anywhere, decoded WITHOUT verification, used only for routing (never for decisions)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import jwt as pyjwt

from responder.detect.scanner import TextIndex, matches_at
from responder.model import Kind

# Header and payload are base64url JSON objects ("eyJ" = '{"'); the signature may be empty (alg none).
JWT_PATTERN = re.compile(r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
ANCHOR = "eyJ"
_JWT_AT_ANCHOR = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
RECORDED_CLAIMS = ("iss", "sub", "sid", "aud", "azp", "exp", "typ", "oid", "tid")
# A JWT that names no principal, session, client or scope is not a credential (e.g. a PoP nonce {"ts":…}).
_IDENTITY_CLAIMS = frozenset(
    {
        "sub",
        "sid",
        "uid",
        "oid",
        "email",
        "upn",
        "preferred_username",
        "client_id",
        "clientId",
        "cid",
        "azp",
        "scope",
        "scp",
        "session_state",
        "appid",
        "username",
        "user_id",
        "userId",
        "roles",
    }
)


@dataclass(frozen=True, slots=True)
class DecodedJwt:
    header: Mapping[str, Any]
    claims: Mapping[str, Any]

    def recorded(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for name in RECORDED_CLAIMS:
            value = self.claims.get(name)
            if value is None:
                continue
            if isinstance(value, list):
                out[name] = ",".join(map(str, value))
            elif isinstance(value, dict):
                out[name] = json.dumps(value, sort_keys=True)
            else:
                out[name] = str(value)
        if "typ" not in out and isinstance(self.header.get("typ"), str):
            out["typ"] = str(self.header["typ"])
        return out

    def expires_at(self) -> datetime | None:
        exp = self.claims.get("exp")
        if isinstance(exp, int | float) and 0 < exp < 1e11:
            return datetime.fromtimestamp(exp, tz=UTC)
        return None

    def names_a_principal(self) -> bool:
        return bool(_IDENTITY_CLAIMS & self.claims.keys())

    def issuer(self) -> str:
        iss = self.claims.get("iss")
        return iss if isinstance(iss, str) else ""

    def kind(self) -> Kind:
        """Classify from the token's own claims; the place it was found may say more (see pipeline)."""
        header_typ = str(self.header.get("typ", "")).lower()
        claim_typ = str(self.claims.get("typ", "")).lower()
        token_use = str(self.claims.get("token_use", "")).lower()
        if claim_typ in ("refresh", "offline") or token_use == "refresh":
            return Kind.REFRESH_TOKEN
        if claim_typ == "id" or token_use == "id":
            return Kind.ID_TOKEN
        if header_typ == "at+jwt" or claim_typ == "bearer" or token_use == "access":
            return Kind.ACCESS_TOKEN
        if "scp" in self.claims or "scope" in self.claims:
            return Kind.ACCESS_TOKEN
        if "nonce" in self.claims or "at_hash" in self.claims:
            return Kind.ID_TOKEN
        return Kind.JWT


@lru_cache(maxsize=1024)  # the same token is decoded by several detectors and seen in many places
def decode(token: str) -> DecodedJwt | None:
    try:
        header = pyjwt.get_unverified_header(token)
        claims = pyjwt.decode(
            token,
            options={
                "verify_signature": False,
                "verify_exp": False,
                "verify_aud": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
    except (pyjwt.PyJWTError, ValueError, TypeError):
        return None
    if not isinstance(claims, dict) or not isinstance(header, dict) or "alg" not in header:
        return None
    return DecodedJwt(header=header, claims=claims)


def find_jwts(index: TextIndex) -> Iterator[str]:
    """JWTs in the indexed text (its anchors include ANCHOR)."""
    return matches_at(index.text, index.exact(ANCHOR), _JWT_AT_ANCHOR)
