"""services/config holds only what every domain shares: the dependency goes one way,
from the domains to config, never back (type-only and function-level imports included)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
DOMAINS = ("services.auth", "services.bridges", "services.credentials", "services.context")


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_no_config_module_imports_a_domain() -> None:
    offenders = {
        f"{path.name}: {module}"
        for path in sorted((ROOT / "services" / "config").glob("*.py"))
        for module in imported_modules(path)
        if module.startswith(DOMAINS)
    }
    assert offenders == set()
