"""Static checks that run with the suite, so CI runs them on every change: bandit finds no
security issue in the product's code that is not explained on its line (`# nosec B…` with the
reason beside it; the configuration is in pyproject.toml)."""

import subprocess
import sys

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
