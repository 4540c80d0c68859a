"""Provider plugins may import only the plugin-facing modules of responder (DESIGN §2)."""

from __future__ import annotations

import ast

from tests.conftest import ROOT

PLUGIN_FACING = {
    "responder.model",
    "responder.interfaces",
    "responder.errors",
    "responder.http",
    "responder.secret",
    "responder.testing",
}


def test_providers_import_only_the_plugin_facing_api() -> None:
    offending = []
    for path in sorted((ROOT / "providers").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            modules = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else ([node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            )
            for module in modules:
                if module.startswith("responder") and module not in PLUGIN_FACING:
                    offending.append(f"{path.name}: {module}")
    assert not offending
    assert (ROOT / "providers" / "__init__.py").is_file()
