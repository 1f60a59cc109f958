"""GET /metrics: who may read it, that it says what the database holds, that a real
Prometheus scrapes it, and that the shipped alert rules and dashboard fit what it exposes."""

import json
import re
import shutil
import subprocess
import urllib.parse
import urllib.request
from datetime import timedelta

import pytest
import yaml
from celery import current_app
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from apps.clusters.services import cluster_create
from apps.core.models import AuditVerification, Delivery, Notification, NotificationChannel
from apps.core.services import (
    api_token_create,
    audit_verify,
    safety_mode_set,
    work_observe,
    worker_heartbeat,
)
from apps.governance.action_models import Action
from apps.healing.models import Incident
from tests.support.paths import ROOT
from tests.support.prometheus import PROMETHEUS, free_port
from tests.support.waiting import wait_for

MONITORING = ROOT / "deploy" / "monitoring"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _get(client: Client, **headers) -> tuple[int, str]:
    r = client.get("/metrics", headers=headers)
    return r.status_code, r.content.decode()


@pytest.mark.django_db
def test_only_a_token_or_a_viewer_reads_it(vic, olivia, settings):
    assert _get(Client())[0] == 401
    _token, raw = api_token_create(user=vic, name="prometheus")
    status, body = _get(Client(), Authorization=f"Bearer {raw}")
    assert status == 200 and "zerotouch_workers_alive" in body
    assert _get(Client(), Authorization="Bearer zt_not-a-token")[0] == 401
    _token, stranger = api_token_create(user=olivia, name="her roles go next")
    olivia.groups.clear()
    assert _get(Client(), Authorization=f"Bearer {stranger}")[0] == 403
    client = Client()
    client.force_login(vic)
    assert _get(client)[0] == 200
    settings.METRICS_PUBLIC = True  # a NetworkPolicy guards it instead
    assert _get(Client())[0] == 200


@pytest.mark.django_db
def test_it_says_what_the_database_holds(vic, adam):
    cluster = cluster_create(
        actor=adam, name="prod", connection="in_cluster", reason="metrics test"
    )
    now = timezone.now()
    for minutes, status in ((2, "succeeded"), (20, "succeeded"), (None, "proposed")):
        Action.objects.create(
            cluster=cluster,
            kind="scale",
            namespace="shop",
            target_kind="Deployment",
            target_name="web",
            reason="metrics test",
            requester="olivia",
            fingerprint=f"{minutes}".ljust(64, "f"),
            status=status,
            created_at=now - timedelta(hours=1),
            approved_at=now - timedelta(hours=1) + timedelta(minutes=minutes) if minutes else None,
            expires_at=now + timedelta(minutes=30),
        )
    Incident.objects.create(
        cluster=cluster,
        fingerprint="a" * 32,
        cause="oom_killed",
        scope="workload",
        namespace="shop",
        name="api",
        title="api OOM-killed",
        hypothesis="memory leak",
        confidence=0.9,
        severity="P2",
        status="resolved",
        started_at=now - timedelta(minutes=10),
        detected_at=now - timedelta(minutes=9),  # MTTD 60 s
        last_seen_at=now,
        recovered_at=now - timedelta(minutes=4),  # MTTR 300 s
        resolved_at=now,
    )
    hook = NotificationChannel.objects.create(name="oncall", kind="webhook", created_by="adam")
    for n, (status, attempts) in enumerate((("sent", 1), ("sent", 3), ("failed", 6))):
        note = Notification.objects.create(event="incident.opened", severity="P2", title=f"#{n}")
        Delivery.objects.create(
            notification=note, channel=hook, mode="immediate", status=status, attempts=attempts
        )
    worker_heartbeat(hostname="act@pod-1", pid=1, queues=["act"])
    worker_heartbeat(hostname="rest@pod-2", pid=1, queues=["collect", "score", "act"])
    work_observe(name="collection", labels={"cluster": "prod"}, seconds=0.3)
    work_observe(name="collection", labels={"cluster": "prod"}, seconds=40, ok=False)
    work_observe(name="training", labels={"kind": "failure"}, seconds=700)
    safety_mode_set(actor=adam, mode="dry_run", reason="metrics test")
    assert audit_verify().ok
    current_app.control.purge()
    current_app.send_task("governance.action_execute", args=(0,))  # no worker: it waits
    try:
        client = Client()
        client.force_login(vic)
        s = _samples(_get(client)[1])
    finally:
        current_app.control.purge()

    def one(name, **labels):
        return s[(name, tuple(sorted(labels.items())))]

    assert one("zerotouch_actions", kind="scale", status="succeeded") == 2
    assert one("zerotouch_actions", kind="scale", status="proposed") == 1
    assert one("zerotouch_action_approval_wait_seconds_count", kind="scale") == 2
    assert one("zerotouch_action_approval_wait_seconds_sum", kind="scale") == 22 * 60
    assert one("zerotouch_action_approval_wait_seconds_bucket", kind="scale", le="300.0") == 1
    assert one("zerotouch_action_approval_wait_seconds_bucket", kind="scale", le="1800.0") == 2
    assert one("zerotouch_incidents", cause="oom_killed", status="resolved") == 1
    assert one("zerotouch_incident_detection_seconds_sum", cause="oom_killed") == 60
    assert one("zerotouch_incident_recovery_seconds_sum", cause="oom_killed") == 300
    assert one("zerotouch_collection_duration_seconds_count", cluster="prod") == 2
    assert one("zerotouch_collection_duration_seconds_bucket", cluster="prod", le="0.5") == 1
    assert one("zerotouch_collection_failures_total", cluster="prod") == 1
    assert one("zerotouch_training_duration_seconds_bucket", kind="failure", le="600.0") == 0
    assert one("zerotouch_training_duration_seconds_bucket", kind="failure", le="1800.0") == 1
    assert one("zerotouch_queue_length", queue="act") == 1
    assert one("zerotouch_queue_length", queue="train") == 0
    assert one("zerotouch_safety_mode", scope="global", mode="dry_run") == 1
    assert one("zerotouch_cluster_reachable", cluster="prod") == -1  # never checked
    assert one("zerotouch_audit_verification_ok") == 1
    assert one("zerotouch_audit_verified_head_seq") == one("zerotouch_audit_chain_head_seq")
    assert one("zerotouch_workers_alive") == 2
    assert one("zerotouch_queue_workers", queue="act") == 2
    assert one("zerotouch_queue_workers", queue="score") == 1
    assert one("zerotouch_queue_workers", queue="train") == 0  # ZeroTouchQueueUnread fires
    hook_labels = {"channel": "oncall", "kind": "webhook"}
    assert one("zerotouch_notification_deliveries", **hook_labels, status="sent") == 2
    assert one("zerotouch_notification_deliveries", **hook_labels, status="failed") == 1
    assert one("zerotouch_notification_attempts_total", **hook_labels) == 10
    AuditVerification.objects.create(ok=False, problem="chain: a row was changed")
    assert _samples(_get(client)[1])[("zerotouch_audit_verification_ok", ())] == 0


def test_the_alert_rules_load_and_fire_as_their_unit_tests_say():
    check = subprocess.run(
        [PROMTOOL, "check", "rules", str(MONITORING / "zerotouch-rules.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    unit = subprocess.run(
        [PROMTOOL, "test", "rules", "zerotouch-rules.test.yaml"],
        cwd=MONITORING,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert unit.returncode == 0, unit.stdout + unit.stderr
    alerts = {
        r["alert"]
        for g in yaml.safe_load((MONITORING / "zerotouch-rules.yaml").read_text())["groups"]
        for r in g["rules"]
    }
    # The four the issue names: no worker, collection failing, storm brake, audit failed.
    assert {
        "ZeroTouchNoWorker",
        "ZeroTouchCollectionFailing",
        "ZeroTouchStormBrakeEngaged",
        "ZeroTouchAuditVerificationFailed",
    } <= alerts


def _query(url: str, q: str) -> list:
    try:
        with urllib.request.urlopen(
            f"{url}/api/v1/query?query={urllib.parse.quote(q)}", timeout=2
        ) as r:
            return json.loads(r.read())["data"]["result"]
    except OSError:
        return []


@pytest.mark.django_db(transaction=True)
def test_a_real_prometheus_scrapes_it_with_a_token_and_the_rules_see_it(live_server, vic, tmp_path):
    _token, raw = api_token_create(user=vic, name="prometheus")
    host = live_server.url.removeprefix("http://")
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(MONITORING / "zerotouch-rules.yaml")],
        "scrape_configs": [
            {
                "job_name": "zerotouch",
                "authorization": {"credentials": raw},
                "static_configs": [{"targets": [host]}],
            }
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
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
        up = wait_for(
            lambda: _query(url, 'up{job="zerotouch"}'), timeout=60, what="a scrape of /metrics"
        )
        assert up[0]["value"][1] == "1", "Prometheus could not read /metrics"
        # No worker runs here: the rule sees it (pending for its 2 minutes).
        pending = wait_for(
            lambda: _query(url, 'ALERTS{alertname="ZeroTouchNoWorker"}'),
            timeout=60,
            what="ZeroTouchNoWorker to be pending",
        )
        assert pending[0]["metric"]["alertstate"] == "pending"
        names = {r["metric"]["__name__"] for r in _query(url, '{job="zerotouch"}')}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    # Every series the dashboard and the rules read is one /metrics exposes (families that
    # need data, like histograms of actions, are checked in the test above).
    dashboard = json.loads((MONITORING / "zerotouch-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    rules = (MONITORING / "zerotouch-rules.yaml").read_text()
    used = set(re.findall(r"\bzerotouch_[a-z_]+", " ".join(exprs) + rules))
    exposed_families = {re.sub(r"_(bucket|sum|count|total)$", "", n) for n in names}
    always = {"zerotouch_workers_alive", "zerotouch_audit_chain_head_seq"}
    assert always <= names
    documented = (ROOT / "docs" / "metrics.md").read_text()
    for name in used:
        family = re.sub(r"_(bucket|sum|count|total)$", "", name)
        assert family in exposed_families or f"`{family}" in documented, name
