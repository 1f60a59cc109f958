"""Static checks that run with the suite, so CI runs them on every change: bandit finds no
security issue in the product's code that is not explained on its line (`# nosec B…` with the
reason beside it), and the apps keep their import contracts (import-linter), both configured in
pyproject.toml; no module imports another module's private names; and no test imports from a
conftest module (helpers live in tests/support)."""

import ast
import subprocess
import sys
from pathlib import Path

from tests.support.paths import ROOT


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


def _conftest_imports(path: Path) -> list[str]:
    """`from ….conftest import …` and `import ….conftest` statements in one file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom):  # `from tests import conftest` too
            base = node.module or ""
            modules = [base] + [f"{base}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        else:
            continue
        if any(m == "conftest" or m.endswith(".conftest") for m in modules):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_no_test_imports_from_a_conftest_module():
    """Fixtures come from pytest (tests/support/fixtures.py and the packages' conftest.py);
    helpers a test calls come from tests/support/*.py, never from a conftest."""
    found = [
        hit for path in sorted((ROOT / "tests").rglob("*.py")) for hit in _conftest_imports(path)
    ]
    assert found == [], "import helpers from tests.support instead:\n" + "\n".join(found)
