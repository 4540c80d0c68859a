"""Canary tokens planted everywhere a capture can hold them must appear nowhere responder writes:
stdout in every format, logs at debug level, sanitized copies, the data directory, error messages."""

from __future__ import annotations

import base64
import gzip
import json
import pickle
import secrets
import zipfile
from pathlib import Path
from urllib.parse import quote

import pytest

from responder.secret import Secret
from tests import harbuild
from tests.test_cli import run


def _canary(label: str) -> str:
    return f"Cn{label}{secrets.token_hex(12)}Zq9"


CANARIES = {name: _canary(name) for name in ("bearer", "cookie", "json", "b64", "form", "ws", "text", "cut")}


def _encodings(value: str) -> list[bytes]:
    raw = value.encode()
    return [
        raw,
        quote(value, safe="").encode(),
        base64.b64encode(raw),
        base64.urlsafe_b64encode(raw),
        raw.hex().encode(),
        json.dumps(value).encode()[1:-1],
    ]


def _artifacts(tmp_path: Path) -> list[Path]:
    c = CANARIES
    document = harbuild.har(
        harbuild.entry(
            request_headers=[("Authorization", f"Bearer {c['bearer']}")], request_cookies=[("PHPSESSID", c["cookie"])]
        ),
        harbuild.entry(body=json.dumps({"access_token": c["json"]})),
        harbuild.entry(body=json.dumps({"refresh_token": c["b64"]}), base64_body=True),
        harbuild.entry(
            method="POST", post={"mimeType": "application/x-www-form-urlencoded", "text": f"password={c['form']}"}
        ),
        harbuild.entry(
            websocket=[{"type": "send", "time": 1, "opcode": 1, "data": json.dumps({"session_token": c["ws"]})}]
        ),
    )
    har = harbuild.write(tmp_path / "leaky.har", document)
    text = tmp_path / "leaky.log"
    text.write_text(f"> Authorization: Bearer {c['text']}\n")
    cut = tmp_path / "cut.har"
    full = json.dumps(harbuild.har(harbuild.entry(request_headers=[("X-Api-Key", c["cut"])])))
    cut.write_text(full[: full.index(c["cut"]) + len(c["cut"]) + 3] + "{{{ broken")
    archive = tmp_path / "leaky.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.write(har, "inner/leaky.har")
    gz = tmp_path / "leaky.har.gz"
    gz.write_bytes(gzip.compress(har.read_bytes()))
    return [har, text, cut, archive, gz]


def _all_written_bytes(paths: list[Path]) -> bytes:
    blobs = []
    for root in paths:
        for path in [root] if root.is_file() else root.rglob("*"):
            if not path.is_file():
                continue
            data = path.read_bytes()
            blobs.append(data)
            if path.suffix == ".gz":
                blobs.append(gzip.decompress(data))
            if path.suffix == ".zip":
                with zipfile.ZipFile(path) as zipped:
                    blobs.extend(zipped.read(name) for name in zipped.namelist())
    return b"\n".join(blobs)


@pytest.mark.parametrize("output_format", ["table", "json", "sarif"])
def test_canaries_appear_nowhere(tmp_path: Path, output_format: str) -> None:
    inputs = _artifacts(tmp_path)
    out_dir, data_dir = tmp_path / "sanitized", tmp_path / "data"
    result = run(
        "scan",
        "--format",
        output_format,
        "--out-dir",
        str(out_dir),
        *map(str, inputs),
        data_dir=data_dir,
        env={"RESPONDER_LOG_LEVEL": "debug", "RESPONDER_LOG_JSON": "true"},
    )
    assert result.returncode == 1, result.stderr
    assert '"finding"' in result.stderr  # debug logging really ran
    written = "\n".join([result.stdout, result.stderr]).encode() + _all_written_bytes([out_dir, data_dir])
    for name, canary in CANARIES.items():
        for encoded in _encodings(canary):
            assert encoded not in written, f"canary {name} leaked as {encoded[:12]!r}…"
    assert len(list(out_dir.iterdir())) == len(inputs)


def test_every_canary_was_found(tmp_path: Path) -> None:
    """The leak test means something only if each canary was detected (and so had a chance to leak)."""
    inputs = _artifacts(tmp_path)
    result = run("scan", "--format", "json", *map(str, inputs), data_dir=tmp_path / "data")
    counts = [len(a["findings"]) for a in json.loads(result.stdout)["artifacts"]]
    assert counts == [6, 1, 1, 6, 6]


def test_secret_never_shows_its_value() -> None:
    secret = Secret(CANARIES["bearer"])
    for rendering in (repr(secret), str(secret), f"{secret}", repr([secret]), repr({"k": secret})):
        assert CANARIES["bearer"] not in rendering
    with pytest.raises(TypeError):
        pickle.dumps(secret)


def test_no_string_of_an_artifact_outlives_its_scan(tmp_path: Path, make_scanner) -> None:  # type: ignore[no-untyped-def]
    """Caches of decoded tokens and judged names are emptied when a scan ends: a token can travel as a name
    (`?<jwt>` is exported as a query pair with an empty value), and a service scans one upload after another."""
    from responder.api.typed import credentials_in
    from responder.detect import gate, jwt, names
    from responder.readers import har, httpparts

    def part(data: dict[str, str]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    token = f"{part({'alg': 'RS256'})}.{part({'sub': _canary('jwt')})}.{secrets.token_urlsafe(32)}"
    entry = harbuild.entry(request_headers=[("Authorization", f"Bearer {token}")])
    entry["request"]["queryString"] = [{"name": token, "value": ""}]
    path = harbuild.write(tmp_path / "jwt.har", harbuild.har(entry))
    report = make_scanner().scan(path)
    assert [finding.value.reveal() for finding in report.findings] == [token]
    caches = (jwt.decode, gate.cookie_name, gate.header_name, gate.param_name, names.normalise, httpparts._header_role)
    assert [cache.cache_info().currsize for cache in caches] == [0] * len(caches)
    assert [len(memory) for memory in (har._HEADERS, har._COOKIES, har._PARAMS, har._VENDOR_KEYS)] == [0, 0, 0, 0]
    assert credentials_in(f"please revoke {token}") != ()
    assert jwt.decode.cache_info().currsize == 0
