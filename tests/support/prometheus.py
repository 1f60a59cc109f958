"""A real Prometheus (Debian's package) scraping a sandbox server's /metrics every second."""

import contextlib
import json
import shutil
import socket
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path

import yaml

from .waiting import wait_for

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _up(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/api/v1/query?query=up", timeout=2) as r:
            result = json.loads(r.read())["data"]["result"]
    except OSError:
        return False
    return bool(result) and result[0]["value"][1] == "1"


def samples(url: str, query: str) -> int:
    """How many samples Prometheus holds for `query` over the last minute."""
    q = urllib.parse.quote(f"count_over_time(({query})[1m:1s])")
    try:
        with urllib.request.urlopen(f"{url}/api/v1/query?query={q}", timeout=2) as r:
            result = json.loads(r.read())["data"]["result"]
    except OSError:
        return 0
    return int(float(result[0]["value"][1])) if result else 0


@contextlib.contextmanager
def scraping(server, tmp_path: Path, *, history: int = 5, extra: dict | None = None):
    """Prometheus scraping `server` every second; yields its URL once it holds `history`
    scrapes of the sandbox (waited for, not slept). `extra` adds top-level configuration
    (rule_files, alerting)."""
    ca = tmp_path / "ca.pem"
    ca.write_bytes(server.ca_pem)
    port = free_port()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [
            {
                "job_name": "sandbox",
                "scheme": "https",
                "tls_config": {"ca_file": str(ca)},
                "static_configs": [{"targets": [server.url[8:]]}],
            }
        ],
        **(extra or {}),
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    proc = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _up(url), timeout=60, what="Prometheus to scrape the sandbox")
        wait_for(
            lambda: samples(url, 'up{job="sandbox"}') >= history,
            timeout=60,
            what=f"{history} scrapes of history",
            interval=0.5,
        )
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
