"""The image and the wheel: a wheel built from the project holds its templates, static files and
sandbox scenarios; the image installs pinned dependencies (requirements.lock) in a layer of its
own, before the code."""

import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
DATA_DIRS = ("templates", "static", "apps")
DATA_SUFFIXES = {".html", ".css", ".js", ".svg", ".yaml", ".md"}


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory) -> set[str]:
    """The files in a wheel built (`pip wheel . --no-deps`) from a copy of the project, so the
    build leaves nothing in the working tree."""
    src = tmp_path_factory.mktemp("src")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copy(ROOT / "pyproject.toml", src)
    for folder in ("aiops_site", *DATA_DIRS):
        shutil.copytree(ROOT / folder, src / folder, ignore=ignore)
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "-q", "-w", str(out)],
        cwd=src,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (wheel,) = out.glob("zerotouch-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        return set(zf.namelist())


def test_the_wheel_holds_every_template_static_file_and_scenario(wheel_names):
    data = {
        str(p.relative_to(ROOT))
        for folder in DATA_DIRS
        for p in (ROOT / folder).rglob("*")
        if p.is_file() and p.suffix in DATA_SUFFIXES and "__pycache__" not in p.parts
    }
    assert "templates/base.html" in data and "static/css/app.css" in data
    scenarios = {n for n in data if n.startswith("apps/clusters/sandbox/scenarios/")}
    assert "apps/clusters/sandbox/scenarios/healthy.yaml" in scenarios
    assert any(re.fullmatch(r"apps/core/templates/core/\w+\.html", n) for n in data)
    assert data - wheel_names == set()
    assert "aiops_site/settings.py" in wheel_names and "apps/core/migrations/0001_initial.py" in (
        wheel_names
    )
    assert not [n for n in wheel_names if "__pycache__" in n or n.endswith(".pyc")]


def _lock() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version
    return pins


def test_the_lock_pins_every_runtime_dependency_within_its_range():
    pins = _lock()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for line in project["dependencies"]:
        req = Requirement(line)
        version = pins.get(canonicalize_name(req.name))
        assert version is not None, f"requirements.lock has no pin for {req.name}"
        assert req.specifier.contains(version, prereleases=True), (req.name, version)
    dev = {canonicalize_name(Requirement(r).name) for r in project["optional-dependencies"]["dev"]}
    assert {"pytest", "ruff"} <= dev and not dev & set(pins)  # no dev tools in the image


def test_the_image_installs_the_lock_before_it_copies_the_code():
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    at = {line: i for i, line in enumerate(lines)}
    install = next(i for i, line in enumerate(lines) if "pip install" in line)
    assert "-r requirements.lock" in lines[install]
    assert at["COPY requirements.lock ./"] < install
    code = [i for i, line in enumerate(lines) if line.startswith("COPY") and "lock" not in line]
    assert code and min(code) > install
