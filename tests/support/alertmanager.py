"""A real Alertmanager (Debian's prometheus-alertmanager) on loopback, with one route: every
alert to a webhook with a bearer token, grouped and sent within about a second."""

import contextlib
import shutil
import subprocess
import urllib.request
from pathlib import Path

import yaml

from .prometheus import free_port
from .waiting import wait_for

ALERTMANAGER = shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


@contextlib.contextmanager
def alertmanager(tmp_path: Path, *, webhook: str, token: str):
    """Alertmanager routing every alert to `webhook` with `Authorization: Bearer <token>`,
    resolved ones too; yields its URL once it is ready. Clustering is off (no gossip port)."""
    port = free_port()
    config = {
        "global": {"resolve_timeout": "10s"},
        "route": {
            "receiver": "zerotouch",
            "group_by": ["alertname", "node", "namespace"],
            "group_wait": "500ms",
            "group_interval": "1s",
            "repeat_interval": "1h",
        },
        "receivers": [
            {
                "name": "zerotouch",
                "webhook_configs": [
                    {
                        "url": webhook,
                        "send_resolved": True,
                        "http_config": {"authorization": {"type": "Bearer", "credentials": token}},
                    }
                ],
            }
        ],
    }
    (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump(config))
    log = open(tmp_path / "alertmanager.log", "w")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        [
            ALERTMANAGER,
            f"--config.file={tmp_path / 'alertmanager.yml'}",
            f"--storage.path={tmp_path / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: proc.poll() is None and _ready(url), timeout=30, what="Alertmanager")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
