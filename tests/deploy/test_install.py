"""The README's production install is what the image runs, and it works: a wheel built from the image's build
context, installed into a fresh venv, runs the commands without the checkout."""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path

from tests.conftest import ROOT, require_peer
from tests.deploy import sources
from tests.deploy.conftest import Installed, clean_environment


def test_the_image_runs_the_readme_install_commands_verbatim() -> None:
    readme = sources.readme_install_commands()
    assert readme, "the README's production install section has no commands"
    builder = sources.stages()[0]
    assert sources.shell_commands(builder) == readme


def _run(installed: Installed, *args: str, cwd: Path, program: str = "responder") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(installed.bin / program), *args],
        cwd=cwd,
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_installed_command_answers_help(production_install: Installed, tmp_path: Path) -> None:
    top = _run(production_install, "--help", cwd=tmp_path)
    assert top.returncode == 0, top.stderr
    for command in ("scan", "respond", "work", "panic", "serve", "ledger", "providers"):
        assert command in top.stdout
    serve = _run(production_install, "serve", "--help", cwd=tmp_path)
    assert serve.returncode == 0, serve.stderr
    for option in ("--host", "--port", "--config"):
        assert option in serve.stdout


def test_the_install_does_not_lean_on_the_checkout(production_install: Installed, tmp_path: Path) -> None:
    # The package, its templates and its migrations come from the venv's site-packages, not from the repo.
    where = _run(
        production_install,
        "-c",
        "import pathlib, responder, providers; r = pathlib.Path(responder.__file__).parent; "
        "print(r); print(pathlib.Path(providers.__file__).parent); "
        "print(sorted(p.name for p in (r / 'api' / 'templates').iterdir())); "
        "print(len(list((r / 'ledger' / 'migrations').rglob('*.py'))))",
        cwd=tmp_path,
        program="python",
    )
    assert where.returncode == 0, where.stderr
    package, plugins, templates, migrations = where.stdout.splitlines()
    site = production_install.prefix / "lib" / "python3.11" / "site-packages"
    assert Path(package) == site / "responder"
    assert Path(plugins) == site / "providers"
    assert "panic.html" in templates
    assert int(migrations) >= 1


def test_the_installed_version_is_the_projects(production_install: Installed, tmp_path: Path) -> None:
    version = _run(production_install, "--version", cwd=tmp_path)
    assert version.returncode == 0, version.stderr
    pyproject = (production_install.context / "pyproject.toml").read_text()
    declared = next(line for line in pyproject.splitlines() if line.startswith("version = ")).split('"')[1]
    assert version.stdout.strip() == f"responder {declared}"


def test_the_wheel_carries_the_compiled_depth_guard_where_a_compiler_is(
    production_install: Installed, tmp_path: Path
) -> None:
    """hatch_build.py compiles responder/readers/_brackets.c into the wheel when a C compiler is present; the
    image's slim builder has none and gets the pure-Python rule (tests/readers/test_depth_guard.py)."""
    require_peer(shutil.which("cc") is not None or shutil.which("gcc") is not None, "no C compiler on PATH")
    answer = _run(
        production_install,
        "-c",
        "from responder.readers import jsonstream as j; print(j.compiled())",
        cwd=tmp_path,
        program="python",
    )
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.strip() == "True"
    wheels = list((production_install.context / "dist").glob("responder-*.whl"))
    assert len(wheels) == 1
    assert "-linux_" in wheels[0].name or "-macosx_" in wheels[0].name  # a platform wheel, not py3-none-any


def test_a_pure_build_ships_no_compiled_module_left_in_the_tree(tmp_path: Path) -> None:
    """RESPONDER_PURE_PYTHON=1 builds a py3-none-any wheel, even from a tree holding an earlier build's module
    (found by review: the leftover was shipped inside the pure wheel, and kept by editable installs)."""
    require_peer(shutil.which("python3.11") is not None, "python3.11 is not on PATH")
    tree = tmp_path / "tree"
    for name in ("pyproject.toml", "hatch_build.py", "README.md"):
        tree.mkdir(exist_ok=True)
        shutil.copy2(ROOT / name, tree / name)
    for name in ("responder", "providers"):
        shutil.copytree(ROOT / name, tree / name, ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    leftover = tree / "responder" / "readers" / "_brackets.cpython-311-x86_64-linux-gnu.so"
    leftover.write_bytes(b"an earlier build")
    built = subprocess.run(
        ["python3.11", "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(tmp_path / "dist"), "."],
        cwd=tree,
        env=clean_environment(RESPONDER_PURE_PYTHON="1"),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("responder-*.whl")
    assert wheel.name.endswith("-py3-none-any.whl")
    with zipfile.ZipFile(wheel) as archive:
        assert not [name for name in archive.namelist() if name.endswith((".so", ".c"))]
    assert not leftover.exists()
