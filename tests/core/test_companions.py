"""A signed session cookie travels with its signature cookie: the finding carries the signature as a companion
(the OP needs both to recognise the session), from the same request only, and the signature is never a
finding of its own."""

from __future__ import annotations

from pathlib import Path

from responder.model import Kind
from responder.plugins import load_readers
from responder.scan import Scanner
from responder.secret import Fingerprinter
from responder.settings import Settings
from tests import harbuild

SESSION_A = "Jk3vQ9xL2mT8pR4sW7yZ1bN6cF0hD5gA"
SIG_A = "dGhpcy1pcy1hLXNpZ25hdHVyZS1h"
SESSION_B = "Pq8rT2vX6zB1dF5hJ9kM3nQ7sV0wY4aC"
SIG_B = "dGhpcy1pcy1hLXNpZ25hdHVyZS1i"


def test_the_signature_cookie_of_the_same_request_is_the_companion(tmp_path: Path) -> None:
    capture = harbuild.write(
        tmp_path / "login.har",
        harbuild.har(
            harbuild.entry(
                "https://op.example.com/session/end",
                request_headers=[("Cookie", f"_session={SESSION_A}; _session.sig={SIG_A}; _ga=GA1.2.3")],
            ),
            # another entry: another session with its own signature; a signature never crosses entries
            harbuild.entry(
                "https://op.example.com/me",
                request_headers=[("Cookie", f"_session={SESSION_B}; _session.sig={SIG_B}")],
            ),
            harbuild.entry("https://op.example.com/x", request_headers=[("Cookie", f"connect.sid={SESSION_A}x")]),
        ),
    )
    settings = Settings(data_dir=tmp_path)
    report = Scanner(load_readers(), Fingerprinter(b"k" * 32), settings.scan).scan(capture)
    by_value = {f.value.reveal(): f for f in report.findings}
    assert {f.kind for f in report.findings} == {Kind.SESSION_COOKIE}
    assert {k: v.reveal() for k, v in by_value[SESSION_A].companions.items()} == {"_session.sig": SIG_A}
    assert {k: v.reveal() for k, v in by_value[SESSION_B].companions.items()} == {"_session.sig": SIG_B}
    assert by_value[SESSION_A + "x"].companions == {}
    assert SIG_A not in by_value
    assert SIG_B not in by_value
