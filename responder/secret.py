"""Secret values: never a plain str, never printed, revealed only where a request or redaction needs them."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from pydantic import SecretStr

from responder.errors import ConfigError


class Secret:
    """A credential value. `repr`/`str` never show it; `reveal()` is explicit and greppable."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __len__(self) -> int:
        return len(self._value)

    def __repr__(self) -> str:
        return f"Secret(<{len(self._value)} chars>)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and hmac.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self) -> str | tuple[object, ...]:
        raise TypeError("Secret values are not picklable")


def key_id(key: bytes) -> str:
    """A public name for a key: reveals nothing of it and differs for every other key."""
    return hmac.new(key, b"responder key id", hashlib.sha256).hexdigest()[:16]


class Fingerprinter:
    """Keyed fingerprints: lowercase hex HMAC-SHA256(key, value as it would be sent)."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("fingerprint key must be at least 16 bytes")
        self._key = key

    def __repr__(self) -> str:
        return "Fingerprinter(<key>)"

    @property
    def key_id(self) -> str:
        return key_id(self._key)

    def __call__(self, value: Secret) -> str:
        return hmac.new(self._key, value.reveal().encode("utf-8", "surrogateescape"), hashlib.sha256).hexdigest()


def read_secret(where: str, value: SecretStr | None, file: Path | None, env: str | None) -> Secret | None:
    """A credential of responder itself, from exactly one of: the setting, a file, or an environment variable.
    `where` names the setting in errors (e.g. "providers.corp.token"); the value never appears in one."""
    given = [name for name, present in (("value", value), ("file", file), ("env", env)) if present]
    if len(given) > 1:
        raise ConfigError(f"{where}: give one of {where}, {where}_file, {where}_env, not several")
    if value is not None:
        text = value.get_secret_value()
    elif file is not None:
        try:
            text = file.read_text()
        except FileNotFoundError:
            raise ConfigError(f"{where}_file: {file} does not exist") from None
        except OSError as exc:
            raise ConfigError(f"{where}_file: cannot read {file} ({exc.strerror})") from None
    elif env is not None:
        if env not in os.environ:
            raise ConfigError(f"{where}_env: the environment variable {env} is not set")
        text = os.environ[env]
    else:
        return None
    text = text.strip()
    if not text:
        raise ConfigError(f"{where}: the credential is empty")
    return Secret(text)


def load_or_create_key(path: Path) -> bytes:
    """Read a key file, or create it once with 0600 permissions. The key is written to a private temporary
    file and hard-linked into place, so racing processes agree and none ever reads a half-written key."""
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = secrets.token_bytes(32)
    scratch = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(key.hex())
            handle.flush()
            os.fsync(handle.fileno())
        os.link(scratch, path)
    except FileExistsError:
        return bytes.fromhex(path.read_text().strip())
    finally:
        scratch.unlink(missing_ok=True)
    return key
