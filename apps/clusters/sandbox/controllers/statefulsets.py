"""The statefulset controller: pods with stable names `<name>-0..n-1`, each with its own
claims from the volumeClaimTemplates. OrderedReady (the default): a pod is created only once
every lower ordinal is Ready, and scaling down removes the highest ordinal first, one at a
time; Parallel: all at once. A changed template rolls the pods from the highest ordinal down,
one at a time, each replaced after the ones above it are Ready again."""

from .. import builders
from .common import PODS, pod_ready
from .containers import admit_pod, delete_pod

STATEFULSETS = "apps/statefulsets"
SOURCE = "statefulset-controller"


def revision(sts: dict) -> str:
    return f"{sts['metadata']['name']}-{builders.template_hash(sts['spec']['template'])}"


def ordinal(sts: dict, pod: dict) -> int:
    suffix = pod["metadata"]["name"][len(sts["metadata"]["name"]) + 1 :]
    return int(suffix) if suffix.isdigit() else -1


def reconcile_statefulset(sb, sts: dict) -> None:
    spec, meta = sts["spec"], sts["metadata"]
    want, parallel = spec.get("replicas", 1), spec.get("podManagementPolicy") == "Parallel"
    pods = {ordinal(sts, p): p for p in sb.store.pods_of(meta["uid"])}
    for i in range(want):
        if i in pods:
            if not parallel and not pod_ready(pods[i]):
                break  # OrderedReady: wait for this one before the next
            continue
        if sb.store.get(PODS, meta["namespace"], f"{meta['name']}-{i}") is not None:
            break  # the old pod of that name is still terminating
        pods[i] = _create_pod(sb, sts, i)
        if not parallel:
            break
    extra = sorted((i for i in pods if i >= want), reverse=True)
    for i in extra if parallel else extra[:1]:
        delete_pod(sb, pods.pop(i), reason="scale down")
        sb.emit(
            sts,
            "SuccessfulDelete",
            f"delete Pod {meta['name']}-{i} in StatefulSet {meta['name']} successful",
            source=SOURCE,
        )
    if not extra:
        _roll(sb, sts, pods, want)
    _status(sb, sts, pods)


def _create_pod(sb, sts: dict, i: int) -> dict:
    meta = sts["metadata"]
    name = f"{meta['name']}-{i}"
    pod = builders.pod(sts, str(i))
    pod["metadata"].pop("generateName", None)
    pod["metadata"]["labels"] = {
        **pod["metadata"]["labels"],
        "apps.kubernetes.io/pod-index": str(i),
        "controller-revision-hash": revision(sts),
        "statefulset.kubernetes.io/pod-name": name,
    }
    pod["spec"]["hostname"] = name
    if sts["spec"].get("serviceName"):
        pod["spec"]["subdomain"] = sts["spec"]["serviceName"]
    volumes = pod["spec"].setdefault("volumes", [])
    for template in sts["spec"].get("volumeClaimTemplates") or []:
        claim = f"{template['metadata']['name']}-{name}"
        _ensure_claim(sb, sts, template, claim)
        volumes.append(
            {"name": template["metadata"]["name"], "persistentVolumeClaim": {"claimName": claim}}
        )
    if not volumes:
        pod["spec"].pop("volumes")
    pod = sb.store.create(PODS, pod)
    admit_pod(sb, pod, f"{meta['namespace']}/{meta['name']}")
    sb.emit(
        sts,
        "SuccessfulCreate",
        f"create Pod {name} in StatefulSet {meta['name']} successful",
        source=SOURCE,
    )
    return pod


def _ensure_claim(sb, sts: dict, template: dict, claim: str) -> None:
    """A claim per pod, kept when the pod goes (the default retention policy)."""
    namespace = sts["metadata"]["namespace"]
    if sb.store.get("persistentvolumeclaims", namespace, claim) is not None:
        return
    spec = template.get("spec") or {}
    storage_class = spec.get("storageClassName") or "standard"
    bound = storage_class not in sb.missing_storage_classes
    request = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
    modes = spec.get("accessModes") or ["ReadWriteOnce"]
    sb.store.create(
        "persistentvolumeclaims",
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {
                "name": claim,
                "namespace": namespace,
                "labels": dict(sts["spec"]["selector"].get("matchLabels") or {}),
            },
            "spec": {
                "accessModes": modes,
                "volumeMode": "Filesystem",
                "storageClassName": storage_class,
                "resources": {"requests": {"storage": request}},
                **({"volumeName": f"pvc-{namespace}-{claim}"} if bound else {}),
            },
            "status": {"phase": "Bound", "accessModes": modes, "capacity": {"storage": request}}
            if bound
            else {"phase": "Pending"},
        },
    )


def _roll(sb, sts: dict, pods: dict[int, dict], want: int) -> None:
    """RollingUpdate: once every pod is Ready, replace the highest outdated one."""
    strategy = sts["spec"].get("updateStrategy") or {}
    if strategy.get("type") == "OnDelete" or len(pods) < want:
        return
    if not all(pod_ready(p) for p in pods.values()):
        return
    partition = (strategy.get("rollingUpdate") or {}).get("partition", 0)
    current = revision(sts)
    for i in sorted(pods, reverse=True):
        if i >= partition and pods[i]["metadata"]["labels"].get("controller-revision-hash") != (
            current
        ):
            delete_pod(sb, pods.pop(i), reason="rolling update")
            return


def _status(sb, sts: dict, pods: dict[int, dict]) -> None:
    current = revision(sts)
    ready = sum(1 for p in pods.values() if pod_ready(p))
    updated = sum(
        1
        for p in pods.values()
        if p["metadata"]["labels"].get("controller-revision-hash") == current
    )
    status = {
        "observedGeneration": sts["metadata"].get("generation", 1),
        "replicas": len(pods),
        "readyReplicas": ready,
        "currentReplicas": updated,
        "updatedReplicas": updated,
        "availableReplicas": ready,
        "currentRevision": current,
        "updateRevision": current,
        "collisionCount": 0,
    }
    if sts.get("status") != status:
        sts["status"] = status
        sb.store.update(STATEFULSETS, sts)
