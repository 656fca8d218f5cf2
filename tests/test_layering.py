"""The layering of ARCHITECTURE.md, checked by import-linter's contracts (pyproject.toml),
as part of the test suite so CI breaks on a layering violation as on a failing test."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_are_kept() -> None:
    linter = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(linter), "--no-cache"], cwd=ROOT, capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_no_module_imports_itself_through_others() -> None:
    """No import cycle at all, between modules inside a package either (import-linter's
    layers cover the packages; this covers every module, lazy imports included)."""
    import grimp

    graph = grimp.build_graph("services", "api", "workers", exclude_type_checking_imports=True)
    cycles = [(m, other) for m in graph.modules for other in graph.find_modules_directly_imported_by(m)
              if m != other and graph.chain_exists(importer=other, imported=m)]
    assert not cycles, f"import cycles through: {sorted(cycles)[:5]}"
