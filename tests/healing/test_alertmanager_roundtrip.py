"""The Alertmanager round trip on real servers (issue 23): Debian's `prometheus` scrapes the
sandbox every second and evaluates a KubeNodeNotReady rule; Debian's `prometheus-alertmanager`
routes it to ZeroTouch's live server with a receiver's bearer token. A node of the sandbox stops
reporting: the alert fires, reaches ZeroTouch, and the healing cycle opens the incident on that
node with the node-failure cause — from the alert alone, before any collection saw the node go.
The node comes back: Prometheus resolves the alert, Alertmanager sends `resolved`, and the next
cycle resolves the incident."""

import os
from datetime import UTC, datetime, timedelta

import pytest
import yaml

from apps.clusters.models import Node
from apps.clusters.sandbox import faults
from apps.clusters.services import cluster_collect
from apps.healing import services
from apps.healing.alertmanager import alert_receiver_create
from apps.healing.models import Alert, Incident, Status
from tests.support.alertmanager import ALERTMANAGER, alertmanager
from tests.support.prometheus import PROMETHEUS, scraping
from tests.support.sandbox import sandbox_cluster, start_sandbox
from tests.support.waiting import wait_for

pytestmark = [
    pytest.mark.django_db(transaction=True),  # the live server answers from another thread
    pytest.mark.skipif(
        not (os.path.exists(PROMETHEUS) and os.path.exists(ALERTMANAGER))
        and os.environ.get("REQUIRE_SERVICES") != "1",
        reason="needs Debian's prometheus and prometheus-alertmanager packages",
    ),
]

RULES = {
    "groups": [
        {
            "name": "zerotouch-test",
            "interval": "1s",
            "rules": [
                {
                    "alert": "KubeNodeNotReady",
                    "expr": 'kube_node_status_condition{job="sandbox",condition="Ready",'
                    'status="true"} == 0',
                    "for": "0s",
                    "labels": {"severity": "warning"},
                    "annotations": {
                        "summary": "{{ $labels.node }} has been unready",
                        "description": "Its kubelet stopped posting node status.",
                    },
                }
            ],
        }
    ]
}


def _alert(node: str, status: str):
    return Alert.objects.filter(alertname="KubeNodeNotReady", node=node, status=status).first()


def test_a_firing_alert_opens_the_incident_and_its_resolution_resolves_it(
    tmp_path, live_server, adam
):
    server = start_sandbox(
        tmp_path, speed=1, start=datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    )
    try:
        cluster = sandbox_cluster(server)
        assert cluster_collect(cluster=cluster).ok
        node = Node.objects.filter(cluster=cluster).order_by("name").first().name
        _, token = alert_receiver_create(actor=adam, name="loopback", cluster=cluster)
        webhook = f"{live_server.url}/integrations/alertmanager"
        (tmp_path / "rules.yml").write_text(yaml.safe_dump(RULES))
        with alertmanager(tmp_path, webhook=webhook, token=token) as am_url:
            extra = {
                "rule_files": [str(tmp_path / "rules.yml")],
                "alerting": {
                    "alertmanagers": [{"static_configs": [{"targets": [am_url[len("http://") :]]}]}]
                },
            }
            with scraping(server, tmp_path, history=2, extra=extra):
                with server.sandbox.lock:
                    assert faults.node_down(server.sandbox, node)
                firing = wait_for(
                    lambda: _alert(node, "firing"), timeout=40, what="the alert to reach ZeroTouch"
                )
                assert firing.kind == "node_not_ready" and firing.labels["job"] == "sandbox"
                assert firing.summary == f"{node} has been unready"
                assert firing.generator_url.startswith("http://")

                opened = services.heal_cycle(cluster=cluster)
                incident = Incident.objects.get(cluster=cluster)
                assert opened.opened == [incident.pk]
                assert (incident.scope, incident.name) == ("node", node)
                assert incident.cause == "node_failure" and incident.status == Status.OPEN
                assert Node.objects.get(cluster=cluster, name=node).ready  # not collected since
                assert firing.pk in set(incident.alerts.values_list("pk", flat=True))

                with server.sandbox.lock:
                    faults.restore(server.sandbox, "node_not_ready", node)
                wait_for(
                    lambda: _alert(node, "resolved"),
                    timeout=40,
                    what="Alertmanager to send the resolution",
                )
                closed = services.heal_cycle(cluster=cluster)
        incident.refresh_from_db()
        assert closed.resolved == [incident.pk] and incident.status == Status.RESOLVED
        assert "resolved in Alertmanager (KubeNodeNotReady)" in incident.resolution
    finally:
        server.stop()
