"""One-off chaos through the API: the checks that refuse bad input before anything is written,
the dry run, and a real injection through a governed Action executed against the sandbox
(over HTTPS, through the official client)."""

import json

import pytest
from django.test import Client
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from apps.chaos.models import Experiment, Run
from apps.chaos.selectors import run_state
from apps.chaos.services import caps_set
from apps.clusters.labels import CHAOS_OPT_IN
from apps.core.errors import RoleRequired, ValidationFailed
from apps.core.models import AuditEvent
from apps.core.services import safety_switch_set
from apps.governance import executor
from apps.governance.action_models import Action, Source, Status
from apps.governance.actions import action_approve
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.django_db, pytest.mark.scenario("healthy", speed=30)]
URL = "/chaos/inject-failure"


def kube(live):
    api = k8s.ApiClient(k8s_config.new_client_from_config(str(live.kubeconfig)).configuration)
    return k8s.CoreV1Api(api), k8s.CustomObjectsApi(api)


@pytest.fixture
def shop_opted_in(live):
    """`kubectl annotate namespace shop chaos.zerotouch.dev/enabled=true`, as an SRE would."""
    core, _ = kube(live)
    core.patch_namespace("shop", {"metadata": {"annotations": {CHAOS_OPT_IN: "true"}}})


def post(user, body: dict):
    c = Client()
    if user is not None:
        c.force_login(user)
    return c.post(URL, json.dumps(body), content_type="application/json")


def body(**over) -> dict:
    return {
        "cluster": "sandbox",
        "namespace": "shop",
        "target": "web",
        "fault": "pod-kill",
        "duration_seconds": 60,
        **over,
    }


def chaos_objects(live, plural: str = "podchaos") -> list[dict]:
    _, custom = kube(live)
    return custom.list_namespaced_custom_object("chaos-mesh.org", "v1alpha1", "shop", plural)[
        "items"
    ]


def test_it_answers_a_dry_run_with_the_pods_and_the_object_and_writes_nothing(
    cluster, live, shop_opted_in, olivia
):
    r = post(olivia, body(dry_run=True, fault="network-delay", parameters={"latency": "300ms"}))
    assert r.status_code == 200, r.content
    plan = r.json()["plan"]
    web = sorted(
        p.metadata.name
        for p in kube(live)[0].list_namespaced_pod("shop", label_selector="app=web").items
    )
    assert plan["candidates"] == web and plan["hit"] == 1 and plan["workload_pods"] == len(web)
    assert plan["chaos_object"] == {
        "kind": "NetworkChaos",
        "spec": {
            "mode": "one",
            "selector": {"namespaces": ["shop"], "labelSelectors": {"app": "web"}},
            "duration": "60s",
            "action": "delay",
            "delay": {"latency": "300ms"},
        },
    }
    assert "at random" in plan["notes"][0]
    assert not Action.objects.exists() and not Experiment.objects.exists()
    assert chaos_objects(live, "networkchaos") == []


@pytest.mark.parametrize(
    ("over", "field", "words"),
    [
        ({"fault": "meteor"}, "fault", "unknown fault"),
        ({"duration_seconds": 0}, "duration_seconds", "from 1 to 900"),
        ({"duration_seconds": 901}, "duration_seconds", "chaos cap"),
        ({"selector": {"tier": "nothing-has-this"}}, "selector", "matches no running pod"),
        ({"selector": {"app": "api"}}, "selector", "contradicts"),
        ({"namespace": "payments", "target": "ledger"}, "namespace", "not opted in"),
        ({"namespace": "kube-system", "target": "coredns"}, "namespace", "protected"),
        ({"namespace": "nowhere"}, "namespace", "no namespace"),
        ({"target": "ghost"}, "target", "no Deployment"),
        ({"cluster": "elsewhere"}, "cluster", "no cluster"),
        ({"parameters": {"blast": 1}}, "parameters.blast", "takes no parameter"),
        ({"mode": "all"}, "mode", "cap is 50%"),
        ({"mode": "fixed", "value": "3"}, "value", "cap is 50%"),
        ({"mode": "fixed"}, "parameters.value", "value for mode fixed"),
        ({"mode": "sometimes"}, "parameters.mode", "not one of"),
        ({"fault": "network-loss", "parameters": {"loss": 0}}, "parameters.loss", "loss"),
        ({"fault": "memory-stress", "parameters": {"size": "lots"}}, "parameters.size", "quantity"),
        (
            {"fault": "container-kill", "parameters": {"container": "Bad_Name"}},
            "parameters.container",
            "container",
        ),
    ],
)
def test_it_refuses_bad_input_naming_the_field_and_injects_nothing(
    cluster, live, shop_opted_in, olivia, over, field, words
):
    r = post(olivia, body(**over))
    assert r.status_code == 400, r.content
    assert r.json()["field"] == field and words in r.json()["detail"], r.json()
    assert not Action.objects.exists() and not Experiment.objects.exists()
    assert chaos_objects(live) == []


def test_it_lets_only_operators_start_chaos(cluster, live, shop_opted_in, vic, alice, nobody):
    assert post(None, body()).status_code == 401
    for who in (nobody, vic, alice):  # no role, a viewer, an approver (approves, never starts)
        r = post(who, body(dry_run=True))
        assert r.status_code == 403, (who.username, r.content)
    assert not Action.objects.exists()


def test_an_operator_is_refused_where_the_namespace_has_not_opted_in(cluster, live, olivia):
    r = post(olivia, body())  # shop as the scenario made it: no annotation
    assert r.status_code == 400 and r.json()["field"] == "namespace"
    assert f'{CHAOS_OPT_IN}="true"' in r.json()["detail"]


def test_it_injects_through_an_approved_action_and_the_fault_lands(
    cluster, live, shop_opted_in, olivia, alice, adam
):
    r = post(olivia, body(reason="does web survive losing a pod?"))
    assert r.status_code == 201, r.content
    out = r.json()
    run = Run.objects.select_related("action", "experiment").get(pk=out["run"]["id"])
    action = run.action
    # A person's chaos waits for another person; the rating is the server's (medium).
    assert out["run"]["state"] == "waiting" and action.status == Status.PROPOSED
    assert action.source == Source.CHAOS and action.kind == "chaos_pod_kill"
    assert action.risk == "medium" and action.requester == "olivia"
    assert action.parameters["selector"] == {"app": "web"}
    assert run.experiment.one_off and run.experiment.owner == olivia and run.hit == 1
    start = AuditEvent.objects.get(verb="chaos.run.start")
    assert start.actor == "olivia" and start.after["action"] == action.pk
    assert start.after["chaos_object"]["kind"] == "PodChaos"

    safety_switch_set(actor=adam, name="allow_chaos", enabled=True, reason="game day")
    action = action_approve(approver=alice, action=action, reason="game day")
    web_before = {
        p.metadata.uid
        for p in kube(live)[0].list_namespaced_pod("shop", label_selector="app=web").items
    }
    assert executor.execute(action.pk) == Status.SUCCEEDED
    run.action.refresh_from_db()
    assert run_state(run) == "running"
    [obj] = chaos_objects(live)
    assert obj["metadata"]["name"] == f"zt-action-{action.pk}"
    assert obj["spec"]["duration"] == "60s" and obj["spec"]["action"] == "pod-kill"
    killed = obj["metadata"]["annotations"]["sandbox.zerotouch.dev/targets"].split(",")
    assert len(killed) == 1 and killed[0] in web_before

    def replaced():
        pods = kube(live)[0].list_namespaced_pod("shop", label_selector="app=web").items
        ready = {p.metadata.uid for p in pods if p.status.phase == "Running"}
        return killed[0] not in ready and len(ready) == len(web_before)

    wait_for(replaced, timeout=30, what="the killed pod's replacement to run")

    detail = Client()
    detail.force_login(olivia)
    got = detail.get(f"/chaos/experiments/{run.experiment.pk}").json()
    assert got["runs"][0]["action"]["status"] == "succeeded"
    assert got["runs"][0]["state"] == "running"


def test_without_allow_chaos_governance_blocks_it_and_the_run_says_refused(
    cluster, live, shop_opted_in, olivia, alice
):
    r = post(olivia, body())
    run = Run.objects.select_related("action", "experiment").get(pk=r.json()["run"]["id"])
    action_approve(approver=alice, action=run.action, reason="ok")  # the guards run here too
    run.action.refresh_from_db()
    assert run.action.status == Status.BLOCKED
    assert executor.execute(run.action.pk) == "skipped"  # and nothing runs it later
    assert run_state(run) == "refused" and "allow_chaos" in run.action.status_reason
    assert chaos_objects(live) == []


def test_admins_change_the_caps_audited(adam, olivia):
    with pytest.raises(RoleRequired):
        caps_set(actor=olivia, max_duration_seconds=60, max_pod_share_percent=10, reason="x")
    with pytest.raises(ValidationFailed) as e:
        caps_set(actor=adam, max_duration_seconds=0, max_pod_share_percent=10, reason="x")
    assert e.value.field == "max_duration_seconds"
    caps_set(actor=adam, max_duration_seconds=120, max_pod_share_percent=34, reason="tighter")
    ev = AuditEvent.objects.get(verb="chaos.caps.set")
    assert ev.before["max_duration_seconds"] == 900 and ev.after == {
        "max_duration_seconds": 120,
        "max_pod_share_percent": 34,
    }
