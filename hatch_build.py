"""Wheel build hook: compile responder's optional C helpers with the system C compiler.

Each helper has a pure-Python fallback, so a machine without a compiler (a slim container image, a laptop
without build tools) still builds a working wheel; it only scans more slowly. RESPONDER_PURE_PYTHON=1 skips
the compiler on purpose. Editable installs (`make test`) compile into the source tree, where the import finds
the module; the compiled file is ignored by git and carried into a wheel as a build artifact.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sysconfig
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

# module path (without suffix) → its C source
HELPERS = {"responder/readers/_brackets": "responder/readers/_brackets.c"}


class CompiledHelpers(BuildHookInterface):  # type: ignore[misc]  # hatchling ships no type hints
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return
        suffix = sysconfig.get_config_var("EXT_SUFFIX")
        if os.environ.get("RESPONDER_PURE_PYTHON"):
            for module in HELPERS:  # an editable install would otherwise keep running an earlier build
                (Path(self.root) / f"{module}{suffix}").unlink(missing_ok=True)
            return
        built = [module for module, source in HELPERS.items() if self._compile(module, source)]
        if not built:
            return
        build_data["pure_python"] = False
        build_data["infer_tag"] = True  # a CPython-version and platform wheel, as the module is
        # Compiled modules are excluded from the wheel (pyproject.toml), so that one left in a copied tree is
        # never shipped under a pure tag; the ones built now are put in by name.
        for module in built:
            build_data["force_include"][str(Path(self.root) / f"{module}{suffix}")] = f"{module}{suffix}"

    def _compile(self, module: str, source: str) -> bool:
        root = Path(self.root)
        target = root / f"{module}{sysconfig.get_config_var('EXT_SUFFIX')}"
        # LDSHARED is how this Python links its own extensions ("cc -shared" on Linux, "-bundle" on macOS).
        linker = shlex.split(os.environ.get("LDSHARED") or sysconfig.get_config_var("LDSHARED") or "cc -shared")
        flags = shlex.split(os.environ.get("CFLAGS", ""))
        include = sysconfig.get_paths()["include"]
        command = [*linker, "-fPIC", "-O3", *flags, "-I", include, str(root / source), "-o", str(target)]
        try:
            # The command is this Python's own linker and paths, and a source file of this checkout.
            subprocess.run(command, check=True, capture_output=True, text=True, timeout=120)  # noqa: S603
        except (OSError, subprocess.SubprocessError) as exc:
            detail = getattr(exc, "stderr", "") or str(exc)
            self.app.display_warning(
                f"responder: {source} was not compiled, so the pure-Python fallback will be used "
                f"(same results, slower scans): {detail.strip()[:300]}"
            )
            target.unlink(missing_ok=True)
            return False
        return True
