"""Celery workers a test starts and kills itself (the `celery_worker_process` fixture is the
usual one): each in its own process group, so `os.killpg(worker.pid, SIGKILL)` is a kill -9 of
the worker and its pool."""

import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings
from django.db import connection

from .paths import ROOT, VAR


def start_worker(name: str, queues: tuple[str, ...] = ()) -> subprocess.Popen:
    """A `celery worker` on the test database (one pool process), logging to var/; it reads
    the named queues (settings.TASK_QUEUES' names), else all of them."""

    s = connection.settings_dict
    env = {
        **os.environ,
        "WORKER_HEARTBEAT_SECONDS": "1",
        "DATABASE_URL": f"postgres://{s['USER']}@{s['HOST']}:{s['PORT']}/{s['NAME']}",
    }
    log = open(VAR / f"{name}-worker.log", "a")  # noqa: SIM115
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "aiops_site",
            "worker",
            "--loglevel=INFO",
            "--concurrency=1",
            f"--hostname={name}@%h",
            "--without-gossip",
            "--without-mingle",
            *(["-Q", ",".join(settings.CELERY_QUEUE_PREFIX + q for q in queues)] if queues else []),
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (a worker's pool)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(entry.name))
    return out
