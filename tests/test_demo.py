"""`make demo` end to end: the embedded default (SQLite, filesystem broker) serves the login
page, a real worker beats, Ctrl-C stops every process it started, and a second run works."""

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import wait_for

ROOT = Path(__file__).resolve().parent.parent
TEST_ONLY = {
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "SECRET_KEY",
    "ZEROTOUCH_VAR_DIR",
    "HTTPS",
    "STATIC_MANIFEST",
    "WHITENOISE_USE_FINDERS",
    "DJANGO_ALLOW_ASYNC_UNSAFE",
    "DEBUG",
    "DJANGO_SETTINGS_MODULE",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status
    except OSError:
        return 0


def _processes_of(var_dir: Path) -> list[int]:
    """Every live process started with this demo's var dir in its environment."""
    needle = f"ZEROTOUCH_VAR_DIR={var_dir}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if needle in (entry / "environ").read_bytes().split(b"\0"):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def _heartbeats(db: Path) -> int:
    try:
        with sqlite3.connect(db) as conn:
            return conn.execute("SELECT count(*) FROM governance_workerheartbeat").fetchone()[0]
    except sqlite3.Error:
        return 0


def _run_demo_once(var_dir: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in TEST_ONLY}
    env.update({"DEBUG": "1", "ZEROTOUCH_VAR_DIR": str(var_dir), "WORKER_HEARTBEAT_SECONDS": "1"})
    proc = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "demo",
            "--addr",
            f"127.0.0.1:{port}",
            "--sandbox-port",
            str(_free_port()),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(
            lambda: _get(f"http://127.0.0.1:{port}/login/") == 200,
            timeout=90,
            what="the demo's login page",
        )
        wait_for(
            lambda: _heartbeats(var_dir / "zerotouch.sqlite3"),
            timeout=90,
            what="the demo worker's heartbeat",
        )
        assert len(_processes_of(var_dir)) >= 4  # demo, web, worker (+ its children), beat
    finally:
        proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "adam" in out and "admin" in out and "adam-demo" in out  # credentials printed
    assert "stopped." in out
    deadline = time.monotonic() + 20
    while _processes_of(var_dir) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _processes_of(var_dir) == [], "processes left behind after Ctrl-C"
    assert _get(f"http://127.0.0.1:{port}/login/") == 0


@pytest.mark.demo
def test_make_demo_runs_stops_and_runs_again(tmp_path):
    _run_demo_once(tmp_path)
    _run_demo_once(tmp_path)
    with sqlite3.connect(tmp_path / "zerotouch.sqlite3") as conn:
        groups = {r[0] for r in conn.execute("SELECT name FROM auth_group")}
        users = {r[0] for r in conn.execute("SELECT username FROM auth_user")}
    assert groups == {"viewer", "operator", "approver", "admin"}
    assert not (ROOT / "control").exists()  # the broker keeps everything under var/
    assert {"vic", "olivia", "alice", "bob", "adam"} <= users


def test_demo_refuses_to_run_without_debug(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in TEST_ONLY}
    env.update({"DEBUG": "0", "ZEROTOUCH_VAR_DIR": str(tmp_path)})
    result = subprocess.run(
        [sys.executable, "manage.py", "demo", "--setup-only"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "demo only" in result.stderr
    assert not (tmp_path / "zerotouch.sqlite3").exists() or _users(tmp_path) == set()


def _users(var_dir: Path) -> set[str]:
    with sqlite3.connect(var_dir / "zerotouch.sqlite3") as conn:
        return {r[0] for r in conn.execute("SELECT username FROM auth_user")}
