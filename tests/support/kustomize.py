"""deploy/kubernetes rendered with `kubectl kustomize` (the binary beside this interpreter,
as CI installs it, else the one on PATH), and small readers of the rendered objects."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent.parent
KUBE = ROOT / "deploy/kubernetes"
KUBECTL = str(Path(sys.executable).parent / "kubectl")
if not Path(KUBECTL).exists():
    KUBECTL = shutil.which("kubectl") or KUBECTL


def kustomize(path: Path) -> list[dict]:
    proc = subprocess.run(
        [KUBECTL, "kustomize", str(path)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def kustomize_with(tmp_path: Path, *components: str) -> list[dict]:
    """The base with the named components, rendered from a kustomization written in tmp_path
    (kustomize takes relative paths only)."""
    rel = os.path.relpath(KUBE, tmp_path)
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [f"{rel}/base"],
        "components": [f"{rel}/components/{c}" for c in components],
    }
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    return kustomize(tmp_path)


def of_kind(docs: list[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}
