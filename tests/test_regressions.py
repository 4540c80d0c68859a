"""Cases an adversarial review found (each was a miss, a leak, a crash or a false positive)."""

from __future__ import annotations

import base64
import gzip
import json
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from responder.plugins import ReaderRegistry
from responder.sanitize.writer import Sanitizer
from responder.scan import ScanReport
from responder.settings import ScanSettings
from tests import harbuild
from tests.test_cli import run

T = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"


def _clean(registry: ReaderRegistry, scan: Callable[[Path], ScanReport], path: Path) -> tuple[ScanReport, bytes]:
    report = scan(path)
    out = path.parent / "clean" / path.name
    Sanitizer(registry, ScanSettings()).write(path, report.findings, out)
    return report, out.read_bytes()


@pytest.mark.parametrize(
    ("body", "left"),
    [
        ('{"refresh_token":"' + T + '\\u003d\\u003d"}', T),  # Gson escapes '='
        ('{"headers":{"Authorization":"Bearer AbCdEfGhIjKlMnOp\\/QrStUvWx+yz0123=="}}', "QrStUvWx"),
    ],
)
def test_escaped_forms_are_redacted(tmp_path: Path, registry, scan, body: str, left: str) -> None:  # type: ignore[no-untyped-def]
    path = harbuild.write(tmp_path / "a.har", harbuild.har(harbuild.entry(body=body)), indent=None)
    report, clean = _clean(registry, scan, path)
    assert report.findings
    assert left.encode() not in clean


def test_lower_case_percent_encoding_is_redacted(tmp_path: Path, registry, scan) -> None:  # type: ignore[no-untyped-def]
    url = "https://app.example.com/cb?access_token=AbC%2fdEf%2bGh" + T
    path = harbuild.write(tmp_path / "a.har", harbuild.har(harbuild.entry(url=url)))
    _, clean = _clean(registry, scan, path)
    assert b"dEf%2bGh" not in clean


def test_curl_user_and_url_userinfo_leave_no_password(tmp_path: Path, registry, scan) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "x.log"
    path.write_text(
        "curl -u 'admin:Sup3rS3cretPassw0rd' https://api.example.com/v1\n"
        "GET https://bob:Pa55w0rdXYZ123@db.example.com/x\n"
    )
    report, clean = _clean(registry, scan, path)
    assert {f.kind.value for f in report.findings} == {"basic_credentials"}
    assert b"Sup3rS3cretPassw0rd" not in clean
    assert b"Pa55w0rdXYZ123" not in clean


def test_binary_websocket_frames_are_decoded(tmp_path: Path, registry, scan) -> None:  # type: ignore[no-untyped-def]
    frame = base64.b64encode(json.dumps({"access_token": T}).encode()).decode()
    path = harbuild.write(
        tmp_path / "ws.har",
        harbuild.har(harbuild.entry(websocket=[{"type": "receive", "time": 1, "opcode": 2, "data": frame}])),
    )
    report, clean = _clean(registry, scan, path)
    assert [f.value.reveal() for f in report.findings] == [T]
    data = json.loads(clean)["log"]["entries"][0]["_webSocketMessages"][0]["data"]
    assert T.encode() not in base64.b64decode(data)


def test_value_straddling_a_chunk_edge_is_redacted(tmp_path: Path, registry, scan) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "edge.log"
    path.write_bytes(b"P" * (2**20 - 84) + b",access_token=" + T.encode() + b"\n" + b"more text\n" * 1000)
    report, clean = _clean(registry, scan, path)
    assert report.findings
    assert T.encode() not in clean


def test_claims_never_print_a_credential(tmp_path: Path) -> None:
    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    session_key = "k3yK3yk3yK3yk3yK3yk3yK3yk3yK3y99"
    cookie = f"{part({'alg': 'HS256'})}.{part({'iss': 'authentik', 'sub': 'u' * 64, 'sid': session_key})}.c2ln"
    okta_sid = "102AbCdEfGhIjKlMnOpQrStUv"
    claims = {"iss": "https://dev-1.okta.com", "sub": "u1", "sid": okta_sid, "nonce": "n"}
    id_token = f"{part({'alg': 'RS256'})}.{part(claims)}.c2ln"
    path = harbuild.write(
        tmp_path / "c.har",
        harbuild.har(
            harbuild.entry(url="https://auth.example.com/if/user/", request_cookies=[("authentik_session", cookie)]),
            harbuild.entry(
                url="https://dev-1.okta.com/app",
                request_cookies=[("sid", okta_sid)],
                body=json.dumps({"id_token": id_token}),
            ),
        ),
    )
    result = run("scan", "-f", "json", str(path), data_dir=tmp_path / "d")
    assert session_key not in result.stdout
    assert okta_sid not in result.stdout
    assert "sha256:" in result.stdout
    assert "fingerprint:" in result.stdout


def test_long_name_like_runs_stay_linear(tmp_path: Path, scan) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "t.txt"
    path.write_text("token" * 40000 + "\n" + "key" * 60000 + "\n")
    assert scan(path).findings == ()


@pytest.mark.parametrize(
    ("body", "mime", "kind"),
    [
        ('{"clientSecret": "cs-' + T + '"}', "application/json", "client_secret"),
        ('{"newPassword": "n3w-pa55"}', "application/json", "password"),
        ("user%5Bpassword%5D=hunter22&commit=Sign+in", "application/x-www-form-urlencoded", "password"),
        (
            '<form method="post"><input type="hidden" name="code" value="SplxlOBeZQQYbYS6WxSbIA"></form>',
            "text/html",
            "authorization_code",
        ),
        (
            '<input value="PHNhbWxwOlJlc3BvbnNlPjwvc2FtbHA6UmVzcG9uc2U+" type="hidden" name="SAMLResponse"/>',
            "text/html",
            "saml_assertion",
        ),
        ('cb({"access_token":"' + T + '"})', "application/javascript", "access_token"),
    ],
)
def test_names_in_every_style(tmp_path: Path, scan, body: str, mime: str, kind: str) -> None:  # type: ignore[no-untyped-def]
    post = {"mimeType": mime, "text": body} if "form-urlencoded" in mime else None
    entry = harbuild.entry(method="POST", post=post) if post else harbuild.entry(body=body, mime=mime)
    report = scan(harbuild.write(tmp_path / "a.har", harbuild.har(entry)))
    assert [f.kind.value for f in report.findings] == [kind]


def test_hex_session_values_are_credentials(tmp_path: Path, scan) -> None:  # type: ignore[no-untyped-def]
    code = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
    report = scan(
        harbuild.write(
            tmp_path / "a.har", harbuild.har(harbuild.entry(url=f"https://app.example.com/cb?code={code}&state=s"))
        )
    )
    assert [f.value.reveal() for f in report.findings] == [code]


def test_protocol_jwts_and_hints_are_not_credentials(tmp_path: Path, scan) -> None:  # type: ignore[no-untyped-def]
    state = "eyJhbGciOiJIUzI1NiJ9.eyJyZXR1cm5UbyI6Ii8iLCJub25jZSI6Im4iLCJpYXQiOjF9.c2lnbmF0dXJl"
    report = scan(
        harbuild.write(
            tmp_path / "a.har",
            harbuild.har(
                harbuild.entry(
                    url=f"https://app.example.com/cb?state={state}&nonce={state}",
                    request_headers=[("DPoP", state), ("X-Csrf-Token", state)],
                    request_cookies=[("loginHint", "bob%40example.com")],
                )
            ),
        )
    )
    assert report.findings == ()


def test_json_logs_that_mention_log_are_scanned_as_text(tmp_path: Path, scan) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "docker.json"
    path.write_text(json.dumps({"log": f"GET /x Authorization: Bearer {T}", "stream": "stdout"}) + "\n")
    report = scan(path)
    assert [f.value.reveal() for f in report.findings] == [T]


def test_truncated_gzip_is_still_scanned(tmp_path: Path, scan) -> None:  # type: ignore[no-untyped-def]
    lines = "".join(f"line {i} Authorization: Bearer {T}{i:06d}\n" for i in range(20000)).encode()
    path = tmp_path / "cut.log.gz"
    path.write_bytes(gzip.compress(lines)[:-2000])
    report = scan(path)
    assert report.findings
    assert any("truncated" in w for w in report.warnings)


def test_same_named_inputs_get_separate_copies(tmp_path: Path) -> None:
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        harbuild.write(
            tmp_path / folder / "x.har",
            harbuild.har(harbuild.entry(request_headers=[("Authorization", f"Bearer {folder}{T}")])),
        )
    out = tmp_path / "out"
    run("scan", "-o", str(out), str(tmp_path / "a" / "x.har"), str(tmp_path / "b" / "x.har"), data_dir=tmp_path / "d")
    assert sorted(p.name for p in out.iterdir()) == ["x-2.har", "x.har"]


def test_zip_member_names_cannot_escape(tmp_path: Path, registry, scan) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "evil.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("../../evil.log", f"Authorization: Bearer {T}\n")
    report, _ = _clean(registry, scan, path)
    assert report.findings[0].locations[0].member == "evil.log"
    with zipfile.ZipFile(path.parent / "clean" / "evil.zip") as archive:
        assert archive.namelist() == ["evil.log"]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"RESPONDER_FINGERPRINT_KEY": "short"}, "at least 16 bytes"),
        ({"RESPONDER_DATA_DIR": "/proc/responder-nope"}, "RESPONDER_DATA_DIR"),
    ],
)
def test_bad_key_settings_are_config_errors(tmp_path: Path, env: dict[str, str], message: str) -> None:
    path = harbuild.write(tmp_path / "a.har", harbuild.har(harbuild.entry()))
    result = run("scan", str(path), data_dir=tmp_path / "d", env=env)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_multipart_form_fields(tmp_path: Path, scan) -> None:  # type: ignore[no-untyped-def]
    body = (
        '--XyZ\r\nContent-Disposition: form-data; name="username"\r\n\r\nbob\r\n'
        '--XyZ\r\nContent-Disposition: form-data; name="password"\r\n\r\nhunter2-hunter2\r\n--XyZ--\r\n'
    )
    entry = harbuild.entry(method="POST", post={"mimeType": "multipart/form-data; boundary=XyZ", "text": body})
    report = scan(harbuild.write(tmp_path / "m.har", harbuild.har(entry)))
    assert [(f.kind.value, f.value.reveal()) for f in report.findings] == [("password", "hunter2-hunter2")]


def test_an_unreadable_member_is_not_a_clean_result(tmp_path: Path) -> None:
    import io

    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as archive:
        archive.writestr("x.log", "nothing here\n")
    for _ in range(3):  # nested deeper than the reader follows
        outer = io.BytesIO()
        with zipfile.ZipFile(outer, "w") as archive:
            archive.writestr("inner.zip", inner.getvalue())
        inner = outer
    path = tmp_path / "deep.zip"
    path.write_bytes(inner.getvalue())
    result = run("scan", "-f", "json", str(path), data_dir=tmp_path / "d")
    assert result.returncode == 3
    assert json.loads(result.stdout)["artifacts"][0]["incomplete"] is True


@pytest.mark.parametrize(
    "escaped",
    [
        "Gr5c3bxD7u6yB54+HkJlpobluliGGxG\\u003d\\u003d",  # Gson: '=' escaped, '+' not
        "Gr5c3bxD7u6yB54\\u002BHkJlpobluliGGxG==",  # .NET: '+' escaped, '=' not
        "Gr5c3bxD7u6yB54+HkJl\\/pobluliGGxG\\u003d\\u003d",  # PHP slash with Gson '='
    ],
)
def test_mixed_json_escapes_are_redacted(tmp_path: Path, registry, scan, escaped: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "a.log"
    path.write_text('{"access_token":"' + escaped + '"}\n')
    report, clean = _clean(registry, scan, path)
    assert report.findings
    assert b"Gr5c3bxD7u6yB54" not in clean


@pytest.mark.parametrize("text", ["x " + "token:" * 60000, "<input " * 20000 + ">", "password=" * 40000])
def test_repetitive_text_stays_linear(tmp_path: Path, scan, text: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "r.txt"
    path.write_text(text)
    assert scan(path).error is None  # a hang here would stall the suite (the pre-fix cost was minutes)


@pytest.mark.parametrize(
    "line", ["spring.datasource.password=Sup3rS3cret!", '{"auth.token": "' + T + '"}', "config.access_token: " + T]
)
def test_dotted_keys(tmp_path: Path, scan, line: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "d.log"
    path.write_text(line + "\n")
    assert len(scan(path).findings) == 1


def test_claims_are_masked_across_artifacts(tmp_path: Path) -> None:
    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    okta_sid = "102AbCdEfGhIjKlMnOpQrStUv"
    claims = {"iss": "https://dev-1.okta.com", "sub": "u", "sid": okta_sid, "nonce": "n"}
    id_token = f"{part({'alg': 'RS256'})}.{part(claims)}.c2ln"
    a = harbuild.write(
        tmp_path / "a.har",
        harbuild.har(harbuild.entry(url="https://dev-1.okta.com/app", request_cookies=[("sid", okta_sid)])),
    )
    b = harbuild.write(tmp_path / "b.har", harbuild.har(harbuild.entry(body=json.dumps({"id_token": id_token}))))
    for output_format in ("json", "sarif"):
        result = run("scan", "-f", output_format, str(a), str(b), data_dir=tmp_path / "d")
        assert okta_sid not in result.stdout


def test_plain_text_in_a_binary_websocket_frame(tmp_path: Path, registry, scan) -> None:  # type: ignore[no-untyped-def]
    data = json.dumps({"access_token": T + "xyz12"})
    path = harbuild.write(
        tmp_path / "w.har",
        harbuild.har(harbuild.entry(websocket=[{"type": "send", "time": 1, "opcode": 2, "data": data}])),
    )
    report, clean = _clean(registry, scan, path)
    assert report.findings
    assert T.encode() not in clean


def test_logging_writes_to_the_current_stderr_not_a_closed_earlier_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """A CLI run under a test runner configured logging with its own stderr, closed afterwards; the engine's
    error path then failed on the log call and left its action leased."""
    import io
    import sys

    import structlog

    from responder.log import configure_logging

    earlier = io.StringIO()
    monkeypatch.setattr(sys, "stderr", earlier)
    configure_logging(level="info")
    earlier.close()
    now = io.StringIO()
    monkeypatch.setattr(sys, "stderr", now)
    structlog.get_logger("test").warning("still_logging")
    assert "still_logging" in now.getvalue()


OPAQUE = "Zk9/aW1+Rm9vYmFy" + T + "+x/y=="  # `/`, `+` and `=` change under form encoding


@pytest.mark.parametrize(
    "text",
    [
        # An upload sent with `curl --data-urlencode file@capture.txt`: one form-encoded line.
        "file=GET+%2Fv1%2Fme+HTTP%2F1.1%0D%0AHost%3A+api.example.com%0D%0AAuthorization%3A+Bearer+"
        + quote_plus(OPAQUE, safe="")
        + "%0D%0A&submit=1\n",
        # A log line that quotes an encoded header dump.
        "2024-05-01 INFO forwarded headers=Authorization%3A%20Bearer%20" + quote(OPAQUE, safe="") + "\n",
    ],
)
def test_url_encoded_text_is_decoded_and_its_credentials_redacted(tmp_path: Path, registry, scan, text: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "upload.txt"
    path.write_text(text)
    report, clean = _clean(registry, scan, path)
    assert [(f.kind.value, f.value.reveal()) for f in report.findings] == [("access_token", OPAQUE)]
    for form in (OPAQUE, quote(OPAQUE, safe=""), quote_plus(OPAQUE, safe=""), T):
        assert form.encode() not in clean


def test_a_form_field_holding_an_encoded_header_dump_is_scanned(tmp_path: Path, registry, scan) -> None:  # type: ignore[no-untyped-def]
    body = "note=see+below&dump=Authorization%3A+Bearer+" + quote_plus(OPAQUE, safe="")
    post = {"mimeType": "application/x-www-form-urlencoded", "text": body}
    path = harbuild.write(tmp_path / "a.har", harbuild.har(harbuild.entry(method="POST", post=post)))
    report, clean = _clean(registry, scan, path)
    assert [f.value.reveal() for f in report.findings] == [OPAQUE]
    assert T.encode() not in clean


def test_a_plus_that_is_a_plus_never_makes_a_second_finding(tmp_path: Path, scan) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "x.log"
    path.write_text(f"redirect=https%3A%2F%2Fapp.example.com%2F access_token={T}+more+{T}==\n")
    report = scan(path)
    assert [f.value.reveal() for f in report.findings] == [f"{T}+more+{T}=="]


def test_a_short_password_in_an_encoded_form_is_redacted(tmp_path: Path, registry, scan) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "form.log"
    path.write_text("POST /login body=user%3Dbob%26password%3Dhunter2%26remember%3D1\n")
    report, clean = _clean(registry, scan, path)
    assert [(f.kind.value, f.value.reveal()) for f in report.findings] == [("password", "hunter2")]
    assert b"hunter2" not in clean


def test_text_that_is_not_utf8_is_scanned_and_cleaned(tmp_path: Path, registry, scan) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "latin1.log"  # a Latin-1 log: é and ä are single bytes that are not UTF-8
    path.write_bytes(
        b"caf\xe9 POST /login\npassword=p\xe4ssw0rdXYZ123&user=bob\nAuthorization: Bearer " + T.encode() + b"\n"
    )
    report, clean = _clean(registry, scan, path)
    assert sorted(f.kind.value for f in report.findings) == ["access_token", "password"]
    assert b"ssw0rdXYZ123" not in clean
    assert T.encode() not in clean
    assert clean.startswith(b"caf\xe9 POST")  # everything else byte for byte


@pytest.mark.parametrize(
    ("head", "reader"),
    [
        # A stored (uncompressed) zip shows its HAR member's `"log"`; a `(` among its CRC and time bytes once
        # made it look like JSONP, and the HAR reader then fell back to reading the zip as text.
        (b"PK\x03\x04\x14\x00\x00\x00(\x00" + b"inner/a.har" + b'{"log": {"entries": []}}', "archive"),
        (b'callback({"log": {"entries": []}})', "har"),
        (b'\xef\xbb\xbf{"log": {"entries": []}}', "har"),
    ],
)
def test_the_reader_is_chosen_by_magic_bytes_first(registry, head: bytes, reader: str) -> None:  # type: ignore[no-untyped-def]
    assert registry.choose(head, "upload").name == reader


# Found by fuzzing scan + sanitize (mutated corpus HARs, logs, archives).


def test_a_value_after_a_json_escaped_equals_sign_is_redacted_in_a_broken_har(tmp_path: Path, registry, scan) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "broken.har"  # entry 0 parses (the HAR reader decodes \u003d); then the JSON breaks
    path.write_bytes(
        b'{"log": {"entries": [{"request": {"method": "GET", "url": '
        b'"https://idp.example.com/cb?token\\u003d' + T.encode() + b'", "headers": []}}, BROKEN'
    )
    report, clean = _clean(registry, scan, path)
    assert [f.value.reveal() for f in report.findings] == [T]
    assert T.encode() not in clean


@pytest.mark.parametrize("filler", range(30, 48))
def test_the_context_before_a_value_survives_the_streaming_cut(tmp_path: Path, registry, scan, filler: int) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "cut.log"  # the cut of the streaming rewrite lands in or next to the `%3D` before the value
    path.write_bytes(b"password%3Dxp7rpCtu%0A" + b"-" * filler)
    report, clean = _clean(registry, scan, path)
    assert [f.value.reveal() for f in report.findings] == ["xp7rpCtu"]
    assert b"xp7rpCtu" not in clean


def test_a_long_run_of_spaces_in_a_header_line_costs_linear_time(tmp_path: Path, scan) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "spaces.log"  # took 44 s at 40 KB (the value regex backtracked over the spaces)
    path.write_bytes(b"Authorization: Bearer " + T.encode() + b" " * 400_000 + b"def\nCookie:" + b" " * 400_000 + b"\n")
    started = time.process_time()
    report = scan(path)
    assert time.process_time() - started < 5  # linear: well under a second here
    assert report.readable


def test_a_cookie_or_bearer_longer_than_any_server_takes_is_no_credential(tmp_path: Path, scan) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "huge.log"
    path.write_bytes(b"Cookie: session=7uXpa" + b"&a" * 100_000 + b"\nAuthorization: Bearer " + b"xY" * 20_000 + b"\n")
    assert scan(path).findings == ()


def test_a_value_longer_than_the_pair_limit_is_not_cut_into_a_finding(tmp_path: Path, registry, scan) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "long.log"  # a 16 KiB prefix of it used to be the finding, and the copy kept all of it
    path.write_bytes(b"password=Jn" + b"A" * 20_000 + b"\n")
    report, clean = _clean(registry, scan, path)
    assert all(len(f.value.reveal()) <= 16_384 for f in report.findings)
    for finding in report.findings:
        assert finding.value.reveal().encode() not in clean


@pytest.mark.parametrize(
    "line",
    [
        b"password%3Dab%E9cdefghijkl%26user%3Dalice\n",  # %E9: Latin-1, not UTF-8, once decoded
        b"Authorization%3A%20Bearer%20abcdef%E9ghijklmnopqrstu\n",
    ],
)
def test_an_invalid_utf8_escape_in_encoded_text_is_redacted(tmp_path: Path, registry, scan, line: bytes) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "encoded.log"
    path.write_bytes(line)
    report, clean = _clean(registry, scan, path)
    assert len(report.findings) == 1
    assert b"%E9" not in clean
    assert scan(clean_path := tmp_path / "clean" / "encoded.log").findings == (), clean_path


def test_a_value_after_a_twice_encoded_separator_is_redacted(tmp_path: Path, registry, scan) -> None:  # type: ignore[no-untyped-def]
    once = quote(f"Host: api.example.com\nCookie: a=b; sid=ghp_{T}\n", safe="")
    url = "https://api.example.com/log?msg=" + quote(once, safe="")  # the query holds it encoded twice
    entry = harbuild.entry(url=url)
    entry["request"]["queryString"] = [{"name": "msg", "value": once}]
    path = harbuild.write(tmp_path / "a.har", harbuild.har(entry))
    report, clean = _clean(registry, scan, path)
    assert report.findings
    assert T.encode() not in clean


@pytest.mark.parametrize("offset", [-40, -20, -5, 0, 10])
def test_a_long_encoded_line_is_cut_between_escapes_not_inside_a_token(
    tmp_path: Path, registry, scan, offset: int
) -> None:  # type: ignore[no-untyped-def]
    value = "ZTSKMdR5l0588ZPzFCe1F4cR3qW0B8Ih"
    encoded = quote(f"Host: api.example.com\nCookie: session={value}; csrftoken=abc\n", safe="").encode()
    at = encoded.find(value.encode())
    path = tmp_path / "long.log"  # one line over the text reader's 1 MiB window; the value sits at its edge
    path.write_bytes(b"x%20" * (((1 << 20) + offset - at) // 4) + encoded + b"x%20" * 1000 + b"\n")
    report, clean = _clean(registry, scan, path)
    assert [f.value.reveal() for f in report.findings] == [value]
    assert value.encode() not in clean


def test_an_unpaired_surrogate_escape_in_a_value_neither_crashes_nor_survives(tmp_path: Path, registry, scan) -> None:  # type: ignore[no-untyped-def]
    # `\udfff` stands for a lone surrogate no encoder can write (only U+DC80-U+DCFF stand for raw bytes): the
    # fingerprint raised UnicodeEncodeError. The value is kept as the text has it, escape and all.
    path = tmp_path / "surrogate.log"
    path.write_text('{"access_token": "abcdefgh\\udfffijklmnopqrstuv"}\n')
    report, clean = _clean(registry, scan, path)
    assert [finding.value.reveal() for finding in report.findings] == ["abcdefgh\\udfffijklmnopqrstuv"]
    assert b"ijklmnop" not in clean
    assert scan(tmp_path / "clean" / "surrogate.log").findings == ()


def test_a_jwt_sent_as_a_bare_query_is_found(tmp_path: Path, scan) -> None:  # type: ignore[no-untyped-def]
    # `https://host/verify?<jwt>` (and `#<jwt>`): parse_qsl drops a name without a value, and the token with it.
    def token(user: str) -> str:
        claims = base64.urlsafe_b64encode(json.dumps({"sub": user, "iss": "https://idp.example"}).encode())
        return f"eyJhbGciOiJIUzI1NiJ9.{claims.rstrip(b'=').decode()}.c2lnbmF0dXJlLXNpZ25hdHVyZQ"

    document = harbuild.har(
        harbuild.entry(url=f"https://app.example.com/verify?{token('u1')}"),
        harbuild.entry(url=f"https://app.example.com/landing#{token('u2')}"),
    )
    found = {f.value.reveal() for f in scan(harbuild.write(tmp_path / "bare.har", document)).findings}
    assert found == {token("u1"), token("u2")}
