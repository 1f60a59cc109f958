"""Static checks that run with the suite, so CI runs them on every change: bandit finds no
security issue in the product's code that is not explained on its line (`# nosec B…` with the
reason beside it), and the apps keep their import contracts (import-linter). Both are
configured in pyproject.toml."""

import ast
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def test_bandit_finds_nothing_unexplained():
    result = subprocess.run(
        [sys.executable, "-m", "bandit", "-q", "-c", "pyproject.toml", "-r", "apps", "aiops_site"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_apps_keep_their_import_contracts():
    """The apps keep their layers (core, clusters, governance, predictions, then healing,
    chaos and costs side by side), core imports no other app, and the simulator stays behind
    its API (`lint-imports` names the chain that breaks one)."""
    lint = Path(sys.executable).parent / "lint-imports"  # installed beside this interpreter
    result = subprocess.run(
        [str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def _underscore_imports(root: Path) -> list[str]:
    """`from x import _name` anywhere in the product, the benchmarks or the tests."""
    found = []
    for folder in ("apps", "aiops_site", "benchmarks", "tests"):
        for path in sorted((root / folder).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                if isinstance(node, ast.ImportFrom):
                    private = [
                        a.name for a in node.names if a.name.startswith("_") and a.name[1] != "_"
                    ]
                    if private:
                        found.append(f"{path.relative_to(root)}:{node.lineno} {private}")
    return found


def test_no_module_imports_another_modules_private_names():
    """A leading underscore means "this module's own": what another module uses is public."""
    assert _underscore_imports(ROOT) == []
