"""Sealing: a pending action's raw credential is stored only encrypted (AES-256-GCM), bound to its action.

The action id is the associated data, so a sealed value copied onto another row does not open there."""

from __future__ import annotations

import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from responder.errors import ConfigError
from responder.secret import Secret, key_id

_NONCE_BYTES = 12
_VERSION = b"\x01"


def binding(action_id: str, provider: str, verb: str) -> str:
    """What a sealed credential is bound to: the blob does not open for another action, provider or verb."""
    return f"{action_id}|{provider}|{verb}"


class SealBroken(Exception):
    """A sealed value does not open with this key (wrong key, or the row was altered)."""


class Sealer:
    __slots__ = ("_aead", "key_id")

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ConfigError("the seal key must be 32 bytes (64 hex characters, e.g. `openssl rand -hex 32`)")
        self._aead = AESGCM(key)
        self.key_id = key_id(key)

    def __repr__(self) -> str:
        return "Sealer(<key>)"

    def seal(self, value: Secret, bound_to: str) -> bytes:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, value.reveal().encode("utf-8", "surrogateescape"), bound_to.encode())
        return _VERSION + nonce + sealed

    def unseal(self, blob: bytes, bound_to: str) -> Secret:
        if blob[:1] != _VERSION or len(blob) < 1 + _NONCE_BYTES + 16:
            raise SealBroken("unknown sealed format")
        nonce, sealed = blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :]
        try:
            plain = self._aead.decrypt(nonce, sealed, bound_to.encode())
        except InvalidTag:
            raise SealBroken("sealed value does not open with this key") from None
        return Secret(plain.decode("utf-8", "surrogateescape"))
