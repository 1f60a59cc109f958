"""deploy/kubernetes as CI checks it: every overlay renders with `kubectl kustomize`, every
object is a valid Kubernetes 1.31 object, the rendered pods meet the `restricted` Pod Security
level and the invariants docs/deployment.md promises, and the sandbox accepts each overlay
with `kubectl apply --dry-run=server` without storing anything."""

import os
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from django.conf import settings

from tests.support.kustomize import KUBE, KUBECTL, kustomize, kustomize_with, of_kind
from tests.support.sandbox import start_sandbox

ROOT = Path(__file__).resolve().parent.parent
OVERLAYS = sorted(p.name for p in (KUBE / "overlays").iterdir() if p.is_dir())
POD_OWNERS = ("Deployment", "Job")
UID = 10001


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict]]:
    return {name: kustomize(KUBE / "overlays" / name) for name in OVERLAYS}


def pod_specs(docs: list[dict]) -> dict[str, dict]:
    return {
        f"{d['kind']}/{d['metadata']['name']}": d["spec"]["template"]["spec"]
        for d in docs
        if d["kind"] in POD_OWNERS
    }


def containers(spec: dict) -> list[dict]:
    return spec.get("initContainers", []) + spec["containers"]


def workers(docs: list[dict]) -> dict[str, dict]:
    return {
        name: d
        for name, d in of_kind(docs, "Deployment").items()
        if d["spec"]["template"]["metadata"]["labels"].get("component") == "worker"
    }


def queues_read(deployment: dict) -> list[str]:
    command = deployment["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[:4] == ["celery", "-A", "aiops_site", "worker"], command
    return command[command.index("-Q") + 1].split(",")


# --- Rendering and schemas --------------------------------------------------------------------


def test_there_are_a_production_and_a_sandbox_overlay():
    assert {"production", "sandbox"} <= set(OVERLAYS)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_rendered_object_is_a_valid_kubernetes_object(rendered, overlay):
    docs = rendered[overlay]
    assert len(docs) > 20
    for doc in docs:
        kubernetes_validate.validate(doc, "1.31", strict=True)


# --- Pod security ---------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pod_meets_the_restricted_pod_security_level(rendered, overlay):
    docs = rendered[overlay]
    namespace = of_kind(docs, "Namespace")["zerotouch"]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    specs = pod_specs(docs)
    assert len(specs) == 8  # web, five workers, beat, the migrations Job
    for owner, spec in specs.items():
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True, owner
        assert pod["runAsUser"] == UID and pod["runAsGroup"] == UID, owner
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, owner
        assert not any(spec.get(k) for k in ("hostNetwork", "hostPID", "hostIPC")), owner
        for volume in spec["volumes"]:
            assert set(volume) - {"name"} <= {"emptyDir", "persistentVolumeClaim"}, owner
        for c in containers(spec):
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, (owner, c["name"])
            assert sc["capabilities"] == {"drop": ["ALL"]}, (owner, c["name"])
            assert sc["readOnlyRootFilesystem"] is True, (owner, c["name"])
            assert not any("hostPort" in p for p in c.get("ports", [])), (owner, c["name"])
            # A read-only root: /tmp and the var dir are emptyDirs.
            mounts = {m["mountPath"] for m in c["volumeMounts"]}
            assert {"/tmp", "/app/var"} <= mounts, (owner, c["name"])


def test_the_image_runs_as_the_user_the_manifests_name():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert f"--uid {UID}" in dockerfile and f"USER {UID}:{UID}" in dockerfile


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_image_has_a_tag_the_overlay_sets_and_none_is_latest(rendered, overlay):
    images = {
        c["image"] for spec in pod_specs(rendered[overlay]).values() for c in containers(spec)
    }
    assert len(images) == 1, images  # one image, one tag, for every pod
    (image,) = images
    name, _, tag = image.rpartition(":")
    assert name and "/" not in tag and tag not in ("", "latest"), image
    base = {c["image"] for s in pod_specs(kustomize(KUBE / "base")).values() for c in containers(s)}
    assert base == {"zerotouch"}  # the base names no tag: the overlay does


# --- Least privilege --------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_pods_that_call_the_cluster_get_a_token(rendered, overlay):
    docs = rendered[overlay]
    accounts = of_kind(docs, "ServiceAccount")
    deployments = of_kind(docs, "Deployment")
    tokenless = {"zerotouch-beat", "zerotouch-worker-train"}
    for name in tokenless:
        spec = deployments[name]["spec"]["template"]["spec"]
        assert spec["automountServiceAccountToken"] is False, name
        assert accounts[spec["serviceAccountName"]]["automountServiceAccountToken"] is False
    job = of_kind(docs, "Job")["zerotouch-migrate"]["spec"]["template"]["spec"]
    assert job["automountServiceAccountToken"] is False
    account_of = {
        n: d["spec"]["template"]["spec"]["serviceAccountName"] for n, d in deployments.items()
    }
    assert len({account_of[n] for n in tokenless}) == 2  # each its own ServiceAccount
    assert job["serviceAccountName"] not in {*account_of.values()} - {
        account_of[n] for n in tokenless
    }
    # Only the act worker may change anything, and only where a RoleBinding says so.
    bindings = of_kind(docs, "RoleBinding").values()
    operators = {
        s["name"]
        for b in bindings
        if b["roleRef"]["name"] == "zerotouch-operator"
        for s in b["subjects"]
    }
    assert operators == {account_of["zerotouch-worker-act"]}
    assert all(b["metadata"]["namespace"] != "kube-system" for b in bindings)
    readers = {
        s["name"] for s in of_kind(docs, "ClusterRoleBinding")["zerotouch-reader"]["subjects"]
    }
    assert readers == {
        account_of[n]
        for n in (
            "zerotouch-web",
            *(f"zerotouch-worker-{q}" for q in ("collect", "score", "act", "default")),
        )
    }


# --- Workers, beat, migrations ----------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_one_worker_deployment_per_queue_and_together_every_queue(rendered, overlay):
    found = {name: queues_read(d) for name, d in workers(rendered[overlay]).items()}
    assert all(len(q) == 1 for q in found.values()), found
    assert sorted(q for (q,) in found.values()) == sorted(settings.TASK_QUEUES)
    for name, (queue,) in found.items():
        assert name == f"zerotouch-worker-{queue}"
    train = workers(rendered[overlay])["zerotouch-worker-train"]
    assert "--concurrency=1" in train["spec"]["template"]["spec"]["containers"][0]["command"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_beat_is_one_replica_replaced_with_recreate(rendered, overlay):
    beat = of_kind(rendered[overlay], "Deployment")["zerotouch-beat"]
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"] == {"type": "Recreate"}
    assert beat["spec"]["template"]["spec"]["containers"][0]["command"][3] == "beat"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_a_job_migrates_as_the_owner_and_every_deployment_waits_for_it(rendered, overlay):
    docs = rendered[overlay]
    job = of_kind(docs, "Job")["zerotouch-migrate"]["spec"]["template"]["spec"]
    (migrate,) = job["containers"]
    assert migrate["command"] == ["python", "manage.py", "migrate", "--noinput"]
    (db_url,) = [e for e in migrate["env"] if e["name"] == "DATABASE_URL"]
    owner = db_url["valueFrom"]["secretKeyRef"]["name"]
    secrets = of_kind(docs, "Secret")
    assert owner in secrets and owner.startswith("zerotouch-owner-")  # generated, hashed
    for name, d in of_kind(docs, "Deployment").items():
        (wait,) = d["spec"]["template"]["spec"]["initContainers"]
        assert "manage.py migrate --check" in " ".join(wait["command"]), name
        assert "--noinput" not in " ".join(wait["command"]), name  # waits, never migrates
        refs = {
            next(iter(e.values()))["name"]
            for e in d["spec"]["template"]["spec"]["containers"][0]["envFrom"]
        }
        assert refs <= set(secrets) | set(of_kind(docs, "ConfigMap")), name


# --- Web: probes, Service, Ingress, PDB, HPA ----------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_web_has_probes_a_service_an_ingress_a_pdb_and_an_hpa(rendered, overlay):
    docs = rendered[overlay]
    web = of_kind(docs, "Deployment")["zerotouch-web"]
    (container,) = web["spec"]["template"]["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    labels = web["spec"]["selector"]["matchLabels"]
    assert of_kind(docs, "Service")["zerotouch-web"]["spec"]["selector"] == labels
    ingress = of_kind(docs, "Ingress")["zerotouch-web"]
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == "zerotouch-web"
    assert (
        of_kind(docs, "PodDisruptionBudget")["zerotouch-web"]["spec"]["selector"]["matchLabels"]
        == labels
    )
    hpa = of_kind(docs, "HorizontalPodAutoscaler")["zerotouch-web"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == "zerotouch-web"
    assert hpa["spec"]["minReplicas"] >= 2
    assert "replicas" not in web["spec"]  # the HPA owns the count


def test_the_production_overlay_sets_the_host_and_the_tls_secret(rendered):
    docs = rendered["production"]
    ingress = of_kind(docs, "Ingress")["zerotouch-web"]
    assert ingress["spec"]["tls"][0]["secretName"]
    host = ingress["spec"]["rules"][0]["host"]
    assert host in ingress["spec"]["tls"][0]["hosts"]
    (config,) = of_kind(docs, "ConfigMap").values()
    assert host in config["data"]["ALLOWED_HOSTS"].split(",")
    keys = {k for s in of_kind(docs, "Secret").values() for k in s["data"]}
    assert {"SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL", "AUDIT_KEY"} <= keys


# --- NetworkPolicies -------------------------------------------------------------------------


def _selects(policy: dict, labels: dict) -> bool:
    selector = policy["spec"]["podSelector"]
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    return all(labels.get(e["key"]) in e["values"] for e in selector.get("matchExpressions", []))


def _egress_ports(policies: list[dict], labels: dict) -> set[int]:
    return {
        p["port"]
        for pol in policies
        if _selects(pol, labels)
        for rule in pol["spec"].get("egress", [])
        for p in rule.get("ports", [])
    }


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_deny_by_default_and_allow_only_what_each_part_needs(rendered, overlay):
    docs = rendered[overlay]
    policies = list(of_kind(docs, "NetworkPolicy").values())
    deny = of_kind(docs, "NetworkPolicy")["zerotouch-default-deny"]["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    pods = {
        name: d["spec"]["template"]["metadata"]["labels"]
        for name, d in {**of_kind(docs, "Deployment"), **of_kind(docs, "Job")}.items()
    }
    for name, labels in pods.items():
        ports = _egress_ports(policies, labels)
        assert {53, 5432, 6379} <= ports, name
        calls_cluster = labels.get("component") == "web" or (
            labels.get("component") == "worker" and labels["queue"] != "train"
        )
        assert ({443, 6443} <= ports) is calls_cluster, name
        assert not ({443, 6443} & ports) or calls_cluster, name
    ingress = [
        p for p in policies if "Ingress" in p["spec"]["policyTypes"] and p["spec"].get("ingress")
    ]
    # Only web accepts traffic: from the ingress controller, and from Prometheus and
    # Alertmanager in the monitoring namespace.
    assert sorted(p["metadata"]["name"] for p in ingress) == [
        "zerotouch-web-ingress",
        "zerotouch-web-ingress-monitoring",
    ]
    for policy in ingress:
        (rule,) = policy["spec"]["ingress"]
        assert _selects(policy, pods["zerotouch-web"])
        assert [set(f) for f in rule["from"]] == [{"namespaceSelector"}]
    # The default worker delivers notifications (SMTP, webhooks) and audit checkpoints (syslog).
    default = next(v for k, v in pods.items() if v.get("queue") == "default")
    assert {25, 587, 443, 514, 601} <= _egress_ports(policies, default)


# --- Components -------------------------------------------------------------------------------


def test_the_keda_component_scales_each_worker_on_its_own_queue(tmp_path, rendered):
    docs = kustomize_with(tmp_path, "keda")
    deployments = workers(docs)
    scaled = of_kind(docs, "ScaledObject")
    assert len(scaled) == len(deployments) == len(settings.TASK_QUEUES)
    for so in scaled.values():
        assert so["apiVersion"] == "keda.sh/v1alpha1"
        assert so["metadata"]["namespace"] == "zerotouch"
        target = deployments[so["spec"]["scaleTargetRef"]["name"]]
        (trigger,) = so["spec"]["triggers"]
        assert trigger["type"] == "redis"
        assert [trigger["metadata"]["listName"]] == queues_read(target)
        assert so["spec"]["minReplicaCount"] >= 1
        assert "replicas" not in target["spec"]  # KEDA owns the count
    assert all(not of_kind(d, "ScaledObject") for d in rendered.values())  # opt-in only


# --- The sandbox accepts every overlay ----------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = start_sandbox(tmp_path_factory.mktemp("kustomize"))
    yield server
    server.stop()


def _kubectl(server, *args, stdin=None):
    env = {
        **os.environ,
        "KUBECONFIG": str(server.kubeconfig),
        "KUBECACHEDIR": str(server.kubeconfig.parent / "kube-cache"),
    }
    return subprocess.run(
        [KUBECTL, "--context", "sandbox", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_sandbox_accepts_every_overlay_with_a_server_side_dry_run(server, rendered, overlay):
    docs = rendered[overlay]
    # As on a real API server, objects need their namespace to exist: it is created for real.
    # --validate=strict: kubectl checks every field against the OpenAPI the sandbox serves.
    namespace = yaml.safe_dump(of_kind(docs, "Namespace")["zerotouch"])
    created = _kubectl(server, "apply", "-f", "-", stdin=namespace)
    assert created.returncode == 0, created.stderr
    proc = _kubectl(
        server,
        "apply",
        "--dry-run=server",
        "--validate=strict",
        "-f",
        "-",
        stdin=yaml.safe_dump_all(docs),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert len(lines) == len(docs) and all(line.endswith("(server dry run)") for line in lines)
    with server.sandbox.lock:  # nothing was stored
        assert server.sandbox.store.get("deployments", "zerotouch", "zerotouch-web") is None
