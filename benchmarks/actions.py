"""Governance at speed, with one real Celery worker (concurrency 2) on Redis and a scratch
PostgreSQL database, against the `large` sandbox in its own process:

- approval → mutation start (the executor's claim), p50/p95 over 40 actions one at a time
  (target p95 < 2 s)
- 1,000 queued actions drain: the rate, and that none is lost or runs twice (every action
  succeeded, and the sandbox saw exactly one mutating call per action)
"""

import base64
import json
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
N_LATENCY, N_DRAIN = 40, 1000


def _mutations(kubeconfig: Path) -> dict:
    doc = yaml.safe_load(kubeconfig.read_text())
    server = doc["clusters"][0]["cluster"]["server"]
    ca = base64.b64decode(doc["clusters"][0]["cluster"]["certificate-authority-data"]).decode()
    token = doc["users"][0]["user"]["token"]
    req = urllib.request.Request(
        f"{server}/sandbox/mutations", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(
        req,
        context=ssl.create_default_context(cadata=ca),
        timeout=10,
    ) as r:
        return json.loads(r.read())


def run() -> None:
    from benchmarks.support import drop_database, free_port, scratch_database

    url = scratch_database()
    if not url:
        print("actions: skipped (PostgreSQL unavailable)")
        return
    os.environ["DATABASE_URL"] = url
    os.environ["CELERY_BROKER_URL"] = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/12")
    os.environ["CELERY_QUEUE_PREFIX"] = f"zt-bench-{os.getpid()}."
    tmp = Path(tempfile.mkdtemp())
    os.environ["KUBECONFIG_DIRS"] = str(tmp)  # the product reads kubeconfigs only from there
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    kubeconfig = tmp / "large.kubeconfig"
    env = {**os.environ}
    sandbox = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "sandbox",
            "--scenario",
            "large",
            "--speed",
            "20",
            "--port",
            str(free_port()),
            "--kubeconfig",
            str(kubeconfig),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "aiops_site",
            "worker",
            "--loglevel=WARNING",
            "--concurrency=2",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        while not kubeconfig.exists():
            time.sleep(0.2)
        _measure(kubeconfig)
    finally:
        for p in (worker, sandbox):
            p.terminate()
            p.wait(timeout=30)
        from django.db import connections

        connections.close_all()
        drop_database(url)


def _setup(kubeconfig: Path):
    from django.contrib.auth.models import Group, User

    from apps.clusters.services import cluster_create
    from apps.core.services import safety_switch_set

    def user(name, role):
        u = User.objects.create_user(name)
        u.groups.set([Group.objects.get(name=role)])
        return u

    olivia, alice, adam = (
        user("olivia", "operator"),
        user("alice", "approver"),
        user("adam", "admin"),
    )
    # A thousand actions at once on one cluster: the budgets would rightly stop them.
    safety_switch_set(actor=adam, name="lift_blast_radius", enabled=True, reason="benchmark")
    cluster = cluster_create(
        actor="system:bench",
        name="large",
        connection="sandbox",
        kubeconfig_path=str(kubeconfig),
        context="sandbox",
    )
    return cluster, olivia, alice


def _propose(cluster, olivia, i: int):
    from apps.governance.actions import action_propose

    return action_propose(
        actor=olivia,
        cluster=cluster,
        kind="cordon" if i % 2 == 0 else "uncordon",
        target_name=f"node-{i % 50 + 1}",
        reason=f"bench {i}",
    )


def _measure(kubeconfig: Path) -> None:
    from django.db.models import Count

    from apps.governance.action_models import Action, Status
    from apps.governance.actions import action_approve

    cluster, olivia, alice = _setup(kubeconfig)
    latencies = []
    for i in range(N_LATENCY):
        action = _propose(cluster, olivia, i)
        t = time.time()
        action_approve(approver=alice, action=action)
        while not Action.objects.filter(pk=action.pk, started_at__isnull=False).exists():
            time.sleep(0.01)
        started = Action.objects.get(pk=action.pk).started_at.timestamp()
        latencies.append(started - t)
        while not Action.objects.get(pk=action.pk).is_final:
            time.sleep(0.02)
    q = statistics.quantiles(latencies, n=20)
    print(
        f"approval → mutation start: p50 {statistics.median(latencies) * 1000:5.0f} ms, "
        f"p95 {q[18] * 1000:5.0f} ms over {N_LATENCY} actions (target p95 < 2 s)"
    )

    before = sum(_mutations(kubeconfig)["by_call"].values())
    proposed = [_propose(cluster, olivia, i) for i in range(N_DRAIN)]
    t = time.time()
    for a in proposed:
        action_approve(approver=alice, action=a)
    ids = [a.pk for a in proposed]
    while (
        Action.objects.filter(pk__in=ids)
        .exclude(
            status__in=[
                Status.SUCCEEDED,
                Status.FAILED,
                Status.ROLLED_BACK,
                Status.BLOCKED,
                Status.CANCELLED,
            ]
        )
        .exists()
    ):
        time.sleep(0.5)
    took = time.time() - t
    done = dict(
        Action.objects.filter(pk__in=ids)
        .values("status")
        .annotate(n=Count("pk"))
        .values_list("status", "n")
    )
    calls = sum(_mutations(kubeconfig)["by_call"].values()) - before
    attempts = sum(Action.objects.filter(pk__in=ids).values_list("attempts", flat=True))
    print(
        f"drain of {N_DRAIN} queued actions: {took:6.1f} s, {N_DRAIN / took:5.1f} actions/s; "
        f"final states {done}; mutating calls {calls}; attempts {attempts}"
    )


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiops_site.settings")
    os.environ.setdefault("HTTPS", "0")
    run()
