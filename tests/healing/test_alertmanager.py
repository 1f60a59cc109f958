"""Alertmanager in (issue 23): the webhook with a receiver's bearer token, 400s that name the
field with nothing written, one row per fingerprint, and each alert as a healing signal — on
the workload or node its labels name, with the detector's cause it stands for, or a
cluster-level incident when it names nothing ZeroTouch knows; `resolved` ends it. Receivers
are an admin's, audited. Against the sandbox over HTTPS (one server for the module), collected
by the collector's own code."""

import json
import subprocess
import sys
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction
from django.test import Client

from apps.clusters.models import Node, Pod
from apps.clusters.services import cluster_collect
from apps.core.errors import ValidationFailed
from apps.core.models import AuditEvent
from apps.core.services import api_token_create, safety_mode_set, safety_switch_set
from apps.governance.action_models import Action
from apps.healing import services
from apps.healing.alertmanager import (
    AlertIn,
    alert_receiver_create,
    alert_receiver_revoke,
    alerts_receive,
)
from apps.healing.alerts import alert_signals, kind_for, match
from apps.healing.diagnose import Diagnosis
from apps.healing.models import Alert, AlertReceiver, Incident, Status
from apps.healing.signals import Signal
from apps.healing.state import AlertState, ClusterState, WorkloadState
from tests.support.sandbox import sandbox_cluster, start_sandbox
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db
URL = "/integrations/alertmanager"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The healthy scenario, paused: nothing fails unless an alert says so."""
    s = start_sandbox(tmp_path_factory.mktemp("alertmanager"))
    yield s
    s.stop()


@pytest.fixture
def cluster(server, db):
    c = sandbox_cluster(server)
    assert cluster_collect(cluster=c).ok
    c.refresh_from_db()
    return c


@pytest.fixture
def receiver(cluster, adam):
    """A receiver bound to the cluster: (receiver, raw token)."""
    return alert_receiver_create(actor=adam, name="prod-am", cluster=cluster)


def _alert(alertname: str, status: str = "firing", fingerprint: str = "", **labels) -> dict:
    start = datetime.now(UTC) - timedelta(minutes=2)
    return {
        "status": status,
        "labels": {"alertname": alertname, "severity": "warning", **labels},
        "annotations": {
            "summary": f"{alertname} is firing",
            "description": "the long story",
            "runbook_url": "https://runbooks.example/x",
        },
        "startsAt": start.isoformat().replace("+00:00", "Z"),
        "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-12-07T10:00:00Z",
        "generatorURL": "http://prometheus.example:9090/graph?g0.expr=up",
        "fingerprint": fingerprint or f"{abs(hash((alertname, *labels.values()))):016x}",
    }


def _payload(*alerts, status: str = "firing") -> dict:
    return {
        "version": "4",
        "groupKey": '{}:{alertname="x"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "zerotouch",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": list(alerts),
    }


def _post(payload, token: str | None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return Client().post(URL, json.dumps(payload), content_type="application/json", headers=headers)


def _pod(cluster, workload: str) -> str:
    return Pod.objects.filter(cluster=cluster, workload=workload).order_by("name").first().name


# --- authentication and bad input -----------------------------------------------------------


def test_it_refuses_no_token_a_wrong_one_a_users_and_a_revoked_one(receiver, adam):
    rec, raw = receiver
    body = _payload(_alert("KubePodCrashLooping", namespace="shop", pod="x"))
    user_token = api_token_create(user=adam, name="not a receiver")[1]
    for token in (None, raw + "x", "ztam_wrong", user_token):
        assert _post(body, token).status_code == 401, token
    alert_receiver_revoke(actor=adam, receiver_id=rec.pk, reason="rotated")
    assert _post(body, raw).status_code == 401
    assert not Alert.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda p: p.pop("alerts"), "alerts"),
        (lambda p: p.update(alerts=[]), "alerts"),
        (lambda p: p.update(version="3"), "version"),
        (lambda p: p["alerts"][1].update(startsAt="yesterday"), "alerts[1].startsAt"),
        (lambda p: p["alerts"][1].update(status="pending"), "alerts[1].status"),
        (lambda p: p["alerts"][1].pop("fingerprint"), "alerts[1].fingerprint"),
        (lambda p: p["alerts"][1]["labels"].pop("alertname"), "alerts[1].labels.alertname"),
        (lambda p: p["alerts"][1]["labels"].update(pod="a\x00b"), "alerts[1].labels.pod"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_nothing_is_written(receiver, change, field):
    _, raw = receiver
    body = _payload(
        _alert("KubePodCrashLooping", namespace="shop", pod="a"),
        _alert("KubePodNotReady", namespace="shop", pod="b"),
    )
    change(body)
    r = _post(body, raw)
    assert r.status_code == 400, r.content
    assert r.json()["field"] == field
    assert not Alert.objects.exists()  # the first, valid alert was not written either


def test_an_alert_for_a_cluster_the_receiver_may_not_speak_for_is_skipped_the_rest_stored(
    server, cluster, adam
):
    """Alertmanager never retries a 4xx: one alert naming the wrong cluster must not lose the
    others. It is skipped, reported in the 200 and audited."""
    other = sandbox_cluster(server, name="other")  # known to ZeroTouch, but not this receiver's
    _, raw = alert_receiver_create(actor=adam, name="by-label", clusters=[cluster])
    body = _payload(
        _alert("KubeNodeNotReady", fingerprint="aa01", cluster=cluster.name, node="n1"),
        _alert("KubeNodeNotReady", fingerprint="aa02", cluster="elsewhere", node="n2"),
        _alert("KubeNodeNotReady", fingerprint="aa03", cluster=other.name, node="n3"),
        _alert("KubeNodeNotReady", fingerprint="aa04", node="n4"),
    )
    r = _post(body, raw)
    assert r.status_code == 200, r.content
    got = r.json()
    assert (got["alerts"], got["accepted"]) == (4, 1)
    assert got["firing"] == ["KubeNodeNotReady (aa01)"]
    skipped = {s["fingerprint"]: s["reason"] for s in got["skipped"]}
    assert set(skipped) == {"aa02", "aa03", "aa04"}
    assert "cluster='other' names no cluster this receiver may speak for" in skipped["aa03"]
    assert "no cluster label" in skipped["aa04"]
    assert Alert.objects.get().cluster == cluster
    audit = AuditEvent.objects.get(verb="alerts.received")
    assert [s["fingerprint"] for s in audit.after["skipped"]] == ["aa02", "aa03", "aa04"]


def test_a_receiver_is_bound_to_one_cluster_or_an_explicit_list(server, cluster, adam):
    with pytest.raises(ValidationFailed) as e:
        alert_receiver_create(actor=adam, name="anything")
    assert e.value.field == "clusters"
    with pytest.raises(ValidationFailed):
        alert_receiver_create(actor=adam, name="both", cluster=cluster, clusters=[cluster])


def test_a_receiver_cannot_change_another_receivers_alert_nor_an_older_state_win(
    cluster, receiver, adam
):
    """Rows are keyed by (cluster, fingerprint): a second receiver's `resolved` must not end
    the first one's alert (and withdraw its incident's fix); an HA pair's late delivery of an
    older state must not undo a newer one."""
    _, raw = receiver
    _, other = alert_receiver_create(actor=adam, name="other-am", cluster=cluster)
    firing = _alert("KubeNodeNotReady", fingerprint="beef01", node="n1")
    assert _post(_payload(firing), raw).json()["accepted"] == 1
    resolved = {**firing, "status": "resolved", "endsAt": datetime.now(UTC).isoformat()}

    for sent in (resolved, {**firing, "labels": {**firing["labels"], "node": "n2"}}):
        r = _post(_payload(sent), other).json()
        assert r["accepted"] == 0 and r["resolved"] == []
        assert r["skipped"][0]["reason"] == "the alert belongs to the receiver prod-am"
    row = Alert.objects.get()
    assert (row.status, row.node, row.receiver.name) == ("firing", "n1", "prod-am")

    # An older episode's resolve, delivered late by the other Alertmanager of the pair.
    earlier = datetime.fromisoformat(firing["startsAt"]) - timedelta(hours=1)
    late = {**resolved, "startsAt": earlier.isoformat(), "endsAt": earlier.isoformat()}
    r = _post(_payload(late), raw).json()
    assert r["accepted"] == 0 and "older than the stored alert" in r["skipped"][0]["reason"]
    assert Alert.objects.get().status == "firing"

    assert _post(_payload(resolved), raw).json()["resolved"] == ["KubeNodeNotReady (beef01)"]
    # The same episode's firing, delivered after its resolve: it does not start it again.
    r = _post(_payload(firing), raw).json()
    assert r["firing"] == [] and "already ended" in r["skipped"][0]["reason"]
    assert Alert.objects.get().status == "resolved"


@pytest.mark.django_db(transaction=True)
def test_two_calls_inserting_the_same_new_alert_at_once_both_succeed(receiver):
    """An HA Alertmanager pair sends the same new alert at once: the second call finds no row,
    inserts, and waits on the first call's uncommitted insert; when that commits, the second
    updates the row instead of failing on the unique constraint (a 500 Alertmanager retries,
    but a lost alert meanwhile)."""
    rec, _ = receiver
    alert = AlertIn(
        status="firing",
        labels={"alertname": "KubeNodeNotReady", "node": "n1"},
        annotations={},
        starts_at=datetime.now(UTC),
        ends_at=None,
        generator_url="",
        fingerprint="face01",
    )
    got, errors = [], []

    def second():
        try:
            got.append(alerts_receive(receiver=rec, alerts=[alert]))
        except Exception as exc:  # what the request would have turned into a 500
            errors.append(exc)
        finally:
            connection.close()

    with transaction.atomic():
        assert alerts_receive(receiver=rec, alerts=[alert]).firing  # inserted, not committed
        thread = threading.Thread(target=second)
        thread.start()
        wait_for(_waiting_on_a_lock, timeout=20, what="the second call to wait on the insert")
    thread.join(timeout=20)
    assert errors == [] and len(got) == 1
    assert (got[0].accepted, got[0].firing, got[0].skipped) == (1, [], [])
    assert Alert.objects.filter(fingerprint="face01").count() == 1


def _waiting_on_a_lock() -> bool:
    with connection.cursor() as cur:
        cur.execute("SELECT pg_stat_clear_snapshot()")  # read afresh inside the transaction
        cur.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        return cur.fetchone()[0] > 0


# --- alerts as healing signals ----------------------------------------------------------------


def test_a_crash_loop_alert_opens_one_incident_on_its_workload_and_resolved_ends_it(
    cluster, receiver, vic
):
    _, raw = receiver
    pod = _pod(cluster, "api")
    firing = _alert("KubePodCrashLooping", fingerprint="c0ffee", namespace="shop", pod=pod)
    r = _post(_payload(firing), raw)
    assert r.status_code == 200 and r.json()["firing"] == ["KubePodCrashLooping (c0ffee)"]
    received = AuditEvent.objects.filter(verb="alerts.received")
    assert received.count() == 1 and received.get().actor == "alertmanager:prod-am"

    result = services.heal_cycle(cluster=cluster)
    incident = Incident.objects.get(cluster=cluster)
    assert result.opened == [incident.pk]
    assert (incident.scope, incident.target_label) == ("workload", "shop/api")  # pod -> owner
    assert incident.cause == "crash_loop" and incident.runbook == "rollout-restart"
    assert any("Alertmanager: KubePodCrashLooping firing" in e for e in incident.evidence)
    action = Action.objects.get(pk=incident.action_id)
    assert action.kind == "rollout_restart" and action.status == "proposed"
    assert Alert.objects.get().incident == incident

    # Sent again (Alertmanager repeats): the same row, no new audit event, the same incident.
    again = _post(_payload(firing), raw)
    assert again.status_code == 200 and again.json()["firing"] == []
    assert Alert.objects.count() == 1 and received.count() == 1
    assert services.heal_cycle(cluster=cluster).opened == []
    assert Incident.objects.filter(cluster=cluster).count() == 1

    # The incident page shows the alert as evidence, with its source.
    client = Client()
    client.force_login(vic)
    page = client.get(f"/healing/{incident.pk}/").content.decode()
    assert "KubePodCrashLooping is firing" in page and "the long story" in page
    assert 'href="http://prometheus.example:9090/graph?g0.expr=up"' in page

    resolved = {**firing, "status": "resolved", "endsAt": datetime.now(UTC).isoformat()}
    assert _post(_payload(resolved, status="resolved"), raw).json()["resolved"] == [
        "KubePodCrashLooping (c0ffee)"
    ]
    alert = Alert.objects.get()
    assert alert.status == "resolved" and alert.ends_at is not None and alert.resolved_at
    result = services.heal_cycle(cluster=cluster)
    incident.refresh_from_db()
    assert result.resolved == [incident.pk] and incident.status == Status.RESOLVED
    assert "resolved in Alertmanager (KubePodCrashLooping)" in incident.resolution
    assert Action.objects.get(pk=action.pk).status == "cancelled"  # withdrawn: nobody approves it


def test_an_alert_alone_never_gets_its_fix_approved_without_a_person(cluster, receiver, adam):
    """Autonomous mode auto-approves a low-risk fix for a P3/P4, but not on Alertmanager's word
    alone: whoever holds a receiver's token must not change a cluster without a person."""
    safety_mode_set(actor=adam, mode="autonomous", reason="test: let it heal")
    safety_switch_set(actor=adam, name="auto_approve_low_severity", enabled=True, reason="test")
    _, raw = receiver
    pod = _pod(cluster, "api")
    body = _payload(_alert("KubePodCrashLooping", namespace="shop", pod=pod))
    assert _post(body, raw).status_code == 200
    services.heal_cycle(cluster=cluster)
    incident = Incident.objects.get(cluster=cluster)
    action = Action.objects.get(pk=incident.action_id)
    assert (action.kind, action.risk) == ("rollout_restart", "low")
    assert incident.severity in {"P3", "P4"}
    assert action.status == "proposed", action.status  # waits for an approver
    assert services.EXTERNAL_ONLY in action.reason and action.evidence["external_alert_only"]
    assert incident.timeline.filter(kind="proposed", text__contains=services.EXTERNAL_ONLY)


def test_a_diagnosis_rests_on_alerts_only_when_no_collected_signal_agrees():
    now = datetime.now(UTC)
    alert = Signal(
        "crash_loop", "workload", "shop", "api", now, "x", evidence={"source": "alertmanager"}
    )
    seen = Signal("crash_loop", "workload", "shop", "api", now, "CrashLoopBackOff")
    d = Diagnosis("crash_loop", "workload", "shop", "api", "t", "h", [], 0.5, [alert], now)
    assert d.from_alerts_only
    assert not replace(d, signals=[alert, seen]).from_alerts_only
    assert not replace(d, signals=[]).from_alerts_only


def test_common_alerts_map_to_the_detectors_causes_and_unmatched_ones_to_the_cluster(
    cluster, receiver
):
    _, raw = receiver
    node = Node.objects.filter(cluster=cluster).order_by("name").first().name
    body = _payload(
        _alert("KubeNodeNotReady", node=node, severity="critical"),
        _alert("CPUThrottlingHigh", namespace="shop", pod=_pod(cluster, "web"), container="web"),
        _alert("KubeContainerOOMKilled", namespace="shop", pod=_pod(cluster, "worker")),
        _alert("KubeDeploymentReplicasMismatch", namespace="payments", deployment="ledger"),
        _alert(
            "KubePersistentVolumeFillingUp",
            namespace="payments",
            persistentvolumeclaim="ledger-data",
        ),
        _alert("ErrorBudgetBurn", namespace="nowhere", service="checkout", severity="critical"),
        _alert("ErrorBudgetBurn", namespace="nowhere", service="search"),
    )
    assert _post(body, raw).status_code == 200
    services.heal_cycle(cluster=cluster)
    got = {
        i.target_label: (i.scope, i.cause, i.status)
        for i in Incident.objects.filter(cluster=cluster)
    }
    assert got.pop(node) == ("node", "node_failure", Status.OPEN)  # drained after 30 s NotReady
    assert got.pop("shop/web") == ("workload", "saturation", Status.OPEN)
    assert got.pop("shop/worker")[:2] in {("workload", "memory_undersized")}
    # No unready pod to restart: escalated, with what a person should check.
    assert got.pop("payments/ledger") == ("workload", "readiness", Status.ESCALATED)
    assert got.pop("payments/ledger-data") == ("pvc", "volume_filling", Status.ESCALATED)
    # Both ErrorBudgetBurn alerts: one cluster-level incident, escalated.
    assert got.pop("ErrorBudgetBurn") == ("cluster", "alert", Status.ESCALATED)
    assert got == {}
    wide = Incident.objects.get(scope="cluster")
    assert wide.title == "Alertmanager: ErrorBudgetBurn (cluster-wide)"
    assert wide.alerts.count() == 2 and wide.severity == "P4"  # development: two steps milder
    assert {a.kind for a in Alert.objects.all()} >= {"node_not_ready", "oom_killed", "alert"}


# --- receivers: admins only, audited ------------------------------------------------------------


def test_only_an_admin_manages_receivers_and_every_change_is_audited(cluster, adam, olivia, vic):
    for user in (vic, olivia):
        c = Client()
        c.force_login(user)
        assert c.get("/healing/alert-receivers/").status_code == 403
        assert c.post("/healing/alert-receivers/new", {"name": "x"}).status_code == 403
        assert c.get("/ai/alert-receivers").status_code == 403
        assert (
            c.post(
                "/ai/alert-receivers", json.dumps({"name": "x"}), content_type="application/json"
            ).status_code
            == 403
        )
    assert not AlertReceiver.objects.exists()

    admin = Client()
    admin.force_login(adam)
    link = 'href="/healing/alert-receivers/"'
    assert link in admin.get("/").content.decode()  # in the admins' navigation
    assert link not in c.get("/").content.decode()  # not in an operator's
    form = {
        "name": "am-main",
        "cluster": cluster.name,
        "cluster_label": "cluster",
        "namespace_label": "namespace",
        "pod_label": "pod",
        "workload_label": "workload",
        "node_label": "instance",
    }
    made = admin.post("/healing/alert-receivers/new", form)
    assert made["Cache-Control"] == "no-store"  # the token: never kept by a cache
    page = made.content.decode()
    rec = AlertReceiver.objects.get()
    raw = page.split('data-testid="new-token">')[1].split("<")[0]
    assert raw.startswith("ztam_") and rec.prefix == raw[:10] and raw not in rec.digest
    assert (rec.cluster, rec.workload_label, rec.node_label) == (cluster, "workload", "instance")
    assert raw not in admin.get("/healing/alert-receivers/").content.decode()  # shown once
    bad = admin.post("/healing/alert-receivers/new", {**form, "name": "x2", "pod_label": "a-b"})
    assert bad.status_code == 400 and "pod_label" in bad.content.decode()
    dup = admin.post(
        "/ai/alert-receivers",
        json.dumps({"name": "am-main", "cluster": cluster.name}),
        "application/json",
    )
    assert dup.status_code == 409 and dup.json()["field"] == "name"

    unbound = admin.post("/ai/alert-receivers", json.dumps({"name": "am-2"}), "application/json")
    assert unbound.status_code == 400 and unbound.json()["field"] == "clusters"
    nowhere = {"name": "am-2", "clusters": ["nowhere"]}
    assert (
        admin.post("/ai/alert-receivers", json.dumps(nowhere), "application/json").json()["field"]
        == "clusters"
    )
    body = json.dumps({"name": "am-2", "clusters": [cluster.name]})
    made = admin.post("/ai/alert-receivers", body, "application/json")
    assert made.status_code == 200 and made.json()["token"].startswith("ztam_")
    assert made["Cache-Control"] == "no-store"
    assert made.json()["cluster"] is None and made.json()["labels"]["cluster"] == "cluster"
    assert made.json()["clusters"] == [cluster.name]
    r2 = admin.post(f"/ai/alert-receivers/{made.json()['id']}/revoke", "{}", "application/json")
    assert r2.status_code == 200 and r2.json()["revoked_at"]
    assert admin.post(f"/healing/alert-receivers/{rec.pk}/revoke").status_code == 302
    assert AlertReceiver.objects.filter(revoked_at__isnull=True).count() == 0
    verbs = list(
        AuditEvent.objects.filter(target_type="alert_receiver")
        .order_by("seq")
        .values_list("verb", flat=True)
    )
    assert verbs == [
        "alert_receiver.created",
        "alert_receiver.created",
        "alert_receiver.revoked",
        "alert_receiver.revoked",
    ]
    listed = admin.get("/ai/alert-receivers").json()
    assert [r["name"] for r in listed] == ["am-2", "am-main"] and "token" not in listed[0]


# --- the mapping, pure ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alertname", "labels", "kind"),
    [
        ("KubePodCrashLooping", {}, "crash_loop"),
        ("KubeDeploymentReplicasMismatch", {}, "readiness_failing"),
        ("KubeNodeNotReady", {}, "node_not_ready"),
        ("KubeContainerOOMKilled", {}, "oom_killed"),
        ("ContainerTerminated", {"reason": "OOMKilled"}, "oom_killed"),
        ("CPUThrottlingHigh", {}, "cpu_saturated"),
        ("KubePersistentVolumeFillingUp", {}, "volume_filling"),
        ("Watchdog", {}, "alert"),
    ],
)
def test_each_alert_name_stands_for_a_detectors_kind(alertname, labels, kind):
    assert kind_for(alertname, labels) == kind


def test_a_pod_newer_than_the_last_collection_is_matched_to_its_deployment_by_name():
    now = datetime.now(UTC)
    state = ClusterState(
        now=now,
        workloads=[
            WorkloadState("shop", name, 3, 3, 1, (), None) for name in ("web", "web-admin", "api")
        ],
    )
    new_pod = AlertState("f", "KubePodCrashLooping", "crash_loop", now, "shop", "web-admin-7d9-x2")
    assert match(new_pod, state) == ("workload", "shop", "web-admin", ())
    elsewhere = AlertState("g", "KubePodCrashLooping", "crash_loop", now, "shop", "db-0")
    (signal,) = alert_signals(replace(state, alerts=[new_pod, elsewhere]))[:1]
    assert (signal.kind, signal.scope, signal.name) == ("alert", "cluster", "KubePodCrashLooping")


def test_the_mapping_imports_no_django():
    code = (
        "import sys\n"
        "import apps.healing.alerts\n"
        "assert not [m for m in sys.modules if m.split('.')[0] == 'django'], 'django imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=sys.path[0] or ".")
