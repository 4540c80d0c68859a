"""The image as Docker would run it, without Docker: the production install started with the final stage's
ENV, ENTRYPOINT and CMD, probed with the HEALTHCHECK's own command. Only the listen address (loopback here,
not 0.0.0.0), the port and the paths the image fixes are moved."""

from __future__ import annotations

import hashlib
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.deploy import sources
from tests.deploy.conftest import IMAGE_PREFIX, Installed, clean_environment
from tests.integration.oidc_peer import free_port

IMAGE_PORT = "8080"


@dataclass(frozen=True)
class Container:
    base_url: str
    environment: dict[str, str]
    probe: list[str]  # the HEALTHCHECK command, aimed at this port
    api_key: str
    log: Path


def final_stage() -> sources.Stage:
    return sources.stages()[-1]


def image_environment(installed: Installed, data_dir: Path, config: Path) -> dict[str, str]:
    """The final stage's ENV with the image's own paths moved to this test's."""
    declared = sources.environment(final_stage())
    base = clean_environment()
    moved = {
        "PATH": declared["PATH"].replace(IMAGE_PREFIX, str(installed.prefix)).replace("${PATH}", base["PATH"]),
        "RESPONDER_DATA_DIR": str(data_dir),
        "RESPONDER_CONFIG": str(config),
    }
    assert set(moved) <= set(declared), f"the image no longer sets {set(moved) - set(declared)}"
    return {**base, **declared, **moved}


def probe(command: list[str], environment: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=timeout, check=False)


def test_the_probe_and_the_service_agree_on_the_port() -> None:
    stage = final_stage()
    _, command = sources.healthcheck(stage)
    cmd = sources.exec_form(stage.one("CMD").arguments)
    assert cmd[0] == "serve"
    assert cmd[cmd.index("--port") + 1] == IMAGE_PORT
    assert cmd[cmd.index("--host") + 1] == "0.0.0.0"  # noqa: S104 - inside the container, by design
    assert f"http://127.0.0.1:{IMAGE_PORT}/healthz" in command[-1]
    assert stage.one("EXPOSE").arguments.split() == [IMAGE_PORT]


@pytest.fixture
def container(production_install: Installed, tmp_path: Path) -> Iterator[Container]:
    key = secrets.token_urlsafe(32)
    config = tmp_path / "responder.toml"
    config.write_text(
        f'[[api_keys]]\nname = "deploy-test"\nkey_sha256 = "{hashlib.sha256(key.encode()).hexdigest()}"\n'
        'roles = ["auditor"]\n'
    )
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o700)
    environment = image_environment(production_install, data_dir, config)
    port = free_port()

    stage = final_stage()
    entrypoint = sources.exec_form(stage.one("ENTRYPOINT").arguments)
    cmd = sources.exec_form(stage.one("CMD").arguments)
    cmd[cmd.index("--host") + 1] = "127.0.0.1"
    cmd[cmd.index("--port") + 1] = str(port)
    _, command = sources.healthcheck(stage)
    aimed = [*command[:-1], command[-1].replace(f":{IMAGE_PORT}/", f":{port}/")]

    # As in the image, the names resolve through PATH: the probe's python3.11 and the entrypoint are the venv's.
    assert shutil.which(command[0], path=environment["PATH"]) == str(production_install.bin / command[0])
    assert shutil.which(entrypoint[0], path=environment["PATH"]) == str(production_install.bin / entrypoint[0])

    log = tmp_path / "serve.log"
    with log.open("w") as sink:
        server = subprocess.Popen([*entrypoint, *cmd], cwd=data_dir, env=environment, stdout=sink, stderr=sink)
    try:
        yield Container(f"http://127.0.0.1:{port}", environment, aimed, key, log)
    finally:
        server.terminate()
        # uvicorn shuts down gracefully on SIGTERM, then re-raises it: the status is -15 (or 0 on older ones)
        assert server.wait(timeout=60) in (0, -15), log.read_text()
    assert "Traceback" not in log.read_text()


def test_the_healthcheck_passes_on_a_serving_container(container: Container) -> None:
    options = sources.healthcheck(final_stage())[0]
    timeout = float(options["timeout"].removesuffix("s"))
    start_period = float(options["start-period"].removesuffix("s"))

    # Docker's view: healthy within the start period, each probe within its timeout.
    deadline = time.monotonic() + start_period
    result = probe(container.probe, container.environment, timeout)
    while result.returncode != 0:
        assert time.monotonic() < deadline, f"never healthy: {result.stderr}\n{container.log.read_text()}"
        time.sleep(0.5)
        result = probe(container.probe, container.environment, timeout)

    started = time.monotonic()
    healthy = probe(container.probe, container.environment, timeout)
    assert healthy.returncode == 0, healthy.stderr
    assert time.monotonic() - started < timeout

    # A proxy meant for the IdP calls must not capture the probe: this one accepts nothing.
    dead_proxy = f"http://127.0.0.1:{free_port()}"
    proxied = probe(container.probe, {**container.environment, "HTTP_PROXY": dead_proxy}, timeout)
    assert proxied.returncode == 0, proxied.stderr

    # The mounted config (RESPONDER_CONFIG) was read: its key works, no run-only key was made.
    assert httpx.get(f"{container.base_url}/v1/ledger").status_code == 401
    listed = httpx.get(f"{container.base_url}/v1/ledger", headers={"Authorization": f"Bearer {container.api_key}"})
    assert listed.status_code == 200
    assert "Bearer" not in container.log.read_text()
    assert httpx.get(f"{container.base_url}/readyz").status_code == 200


def test_the_healthcheck_fails_when_nothing_answers(production_install: Installed, tmp_path: Path) -> None:
    environment = image_environment(production_install, tmp_path / "data", tmp_path / "responder.toml")
    options, command = sources.healthcheck(final_stage())
    aimed = [*command[:-1], command[-1].replace(f":{IMAGE_PORT}/", f":{free_port()}/")]
    refused = probe(aimed, environment, float(options["timeout"].removesuffix("s")))
    assert refused.returncode != 0
