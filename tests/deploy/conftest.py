"""The README's production install, run once per session into a fresh venv: the image runs the same lines."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT, require_peer
from tests.deploy import sources

IMAGE_PREFIX = "/opt/responder"  # where the README and the image install; a test installs into a temp dir


@dataclass(frozen=True)
class Installed:
    prefix: Path  # the venv that stands for the image's /opt/responder
    context: Path  # the build context the wheel was built from

    @property
    def bin(self) -> Path:
        return self.prefix / "bin"


def clean_environment(**extra: str) -> dict[str, str]:
    """This process's environment without responder's settings or the dev venv, as a fresh shell has it."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith("RESPONDER_") and k != "VIRTUAL_ENV"}
    return {**keep, **extra}


@pytest.fixture(scope="session")
def production_install(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """Copy what the builder stage COPYs into a build context, then run the README's commands verbatim in it,
    only the install prefix moved to a temp dir. The pip cache is the user's, so a warm run takes seconds."""
    require_peer(shutil.which("python3.11") is not None, "python3.11 is not on PATH")
    root = tmp_path_factory.mktemp("production")
    context, prefix = root / "context", root / "opt-responder"
    context.mkdir()
    builder = sources.stages()[0]
    for name in sources.copy_sources(builder):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, context / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.so"))
        else:
            shutil.copy2(source, context / name)
    for command in sources.readme_install_commands():
        done = subprocess.run(
            ["/bin/sh", "-c", command.replace(IMAGE_PREFIX, str(prefix))],
            cwd=context,
            env=clean_environment(),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        output = done.stdout[-3000:] + done.stderr[-3000:]
        assert done.returncode == 0, f"README install step failed: {command}\n{output}"
    return Installed(prefix, context)
