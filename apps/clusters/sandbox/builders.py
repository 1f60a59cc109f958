"""Kubernetes objects as the API server would return them (plain dicts)."""

import hashlib
import json

from ..quantity import cpu_millis, format_cpu, format_memory, memory_bytes
from .kubelet import RUN_SECONDS_ANNOTATION
from .scenario import Job, NodePool, Workload

SAFE = "bcdfghjklmnpqrstvwxz2456789"  # the alphabet Kubernetes uses for generated names
REVISION = "deployment.kubernetes.io/revision"
JOB_TRACKING = "batch.kubernetes.io/job-tracking"  # a job pod's finalizer until it is counted


def template_hash(template: dict) -> str:
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).digest()
    n = int.from_bytes(digest[:8], "big")
    out = ""
    for _ in range(10):
        n, r = divmod(n, len(SAFE))
        out += SAFE[r]
    return out


def namespace(name: str, annotations: dict | None = None) -> dict:
    meta = {"name": name, **({"annotations": dict(annotations)} if annotations else {})}
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": meta,
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }


def node(pool: NodePool, index: int) -> dict:
    name = f"{pool.name}-{index}"
    cpu, mem = cpu_millis(pool.cpu), memory_bytes(pool.memory)
    alloc_cpu, alloc_mem = cpu - 100, mem - 512 * 2**20  # system reserved
    labels = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "node.kubernetes.io/instance-type": pool.name,
        **pool.labels,
    }
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": labels,
            "annotations": {"sandbox.zerotouch.dev/simulated": "true"},
        },
        "spec": {
            "podCIDR": f"10.244.{index}.0/24",
            "providerID": f"sandbox://{name}",
            **({"taints": pool.taints} if pool.taints else {}),
        },
        "status": {
            "capacity": {"cpu": format_cpu(cpu), "memory": format_memory(mem), "pods": "110"},
            "allocatable": {
                "cpu": format_cpu(alloc_cpu),
                "memory": format_memory(alloc_mem),
                "pods": "110",
            },
            "conditions": [],
            "addresses": [
                {"type": "InternalIP", "address": f"10.0.{index // 250}.{index % 250 + 1}"},
                {"type": "Hostname", "address": name},
            ],
            "nodeInfo": {
                "architecture": "amd64",
                "operatingSystem": "linux",
                "kubeletVersion": "v1.31.0-sandbox",
                "kubeProxyVersion": "v1.31.0",
                "containerRuntimeVersion": "containerd://1.7.0",
                "kernelVersion": "6.1.0",
                "osImage": "ZeroTouch sandbox (simulated)",
                "machineID": name,
                "systemUUID": name,
                "bootID": name,
            },
        },
    }


def node_condition(ctype: str, status: str, reason: str, message: str, now: str) -> dict:
    return {
        "type": ctype,
        "status": status,
        "reason": reason,
        "message": message,
        "lastHeartbeatTime": now,
        "lastTransitionTime": now,
    }


def _pod_spec(w: Workload | Job, restart_policy: str) -> dict:
    resources = {}
    if w.requests:
        resources["requests"] = dict(w.requests)
    if w.limits:
        resources["limits"] = dict(w.limits)
    container = {
        "name": w.name,
        "image": w.image,
        "resources": resources,
        "imagePullPolicy": "IfNotPresent",
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
    }
    return {
        "containers": [container],
        "restartPolicy": restart_policy,
        "terminationGracePeriodSeconds": 30,
        "dnsPolicy": "ClusterFirst",
        "schedulerName": "default-scheduler",
    }


def pod_template(w: Workload) -> dict:
    spec = _pod_spec(w, "Always")
    container = spec["containers"][0]
    container["ports"] = [{"containerPort": 8080, "protocol": "TCP"}]
    if w.pvc:
        container["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
        spec["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": w.pvc["name"]}}]
    return {"metadata": {"labels": {"app": w.name, **w.labels}}, "spec": spec}


def deployment(w: Workload) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": w.name,
            "namespace": w.namespace,
            "labels": {"app": w.name, **w.labels},
            "annotations": {"sandbox.zerotouch.dev/user-facing": str(w.user_facing).lower()},
        },
        "spec": {
            "replicas": w.replicas,
            "selector": {"matchLabels": {"app": w.name}},
            "template": pod_template(w),
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
            },
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600,
        },
        "status": {},
    }


def job(j: Job, uid: str) -> dict:
    annotations = {RUN_SECONDS_ANNOTATION: str(j.run_seconds)} if j.run_seconds is not None else {}
    obj = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": j.name, "namespace": j.namespace, "uid": uid},
        "spec": {
            "backoffLimit": j.backoff_limit,
            "template": {
                "metadata": {"annotations": annotations} if annotations else {},
                "spec": _pod_spec(j, j.restart_policy),
            },
        },
        "status": {},
    }
    job_defaults(obj)
    return obj


def job_defaults(obj: dict) -> None:
    """The API server's defaults for a Job: counts, and the labels that tie its pods to it
    (made from its uid) with the selector that matches them."""
    spec, meta = obj.get("spec"), obj["metadata"]
    if not isinstance(spec, dict):
        return
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completions", 1)
    spec.setdefault("parallelism", 1)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    template = spec.get("template")
    if spec.get("manualSelector") or not isinstance(template, dict):
        return
    uid, name = meta.get("uid", ""), meta.get("name", "")
    labels = {
        "batch.kubernetes.io/controller-uid": uid,
        "batch.kubernetes.io/job-name": name,
        "controller-uid": uid,
        "job-name": name,
    }
    template_meta = template.setdefault("metadata", {})
    template_meta["labels"] = {**(template_meta.get("labels") or {}), **labels}
    spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    if not meta.get("labels"):
        meta["labels"] = dict(template_meta["labels"])


def job_pod(obj: dict, suffix: str) -> dict:
    out = pod(obj, suffix)
    out["metadata"]["finalizers"] = [JOB_TRACKING]
    return out


def owner_ref(obj: dict) -> dict:
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "name": obj["metadata"]["name"],
        "uid": obj["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def replica_set(dep: dict, template: dict, revision: int) -> dict:
    h = template_hash(template)
    labels = {**template["metadata"].get("labels", {}), "pod-template-hash": h}
    tmpl = json.loads(json.dumps(template))
    tmpl["metadata"]["labels"] = labels
    selector = json.loads(json.dumps(dep["spec"]["selector"]))
    selector.setdefault("matchLabels", {})["pod-template-hash"] = h
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"{dep['metadata']['name']}-{h}",
            "namespace": dep["metadata"]["namespace"],
            "labels": labels,
            "annotations": {
                REVISION: str(revision),
                "deployment.kubernetes.io/desired-replicas": str(dep["spec"].get("replicas", 1)),
            },
            "ownerReferences": [owner_ref(dep)],
        },
        "spec": {"replicas": 0, "selector": selector, "template": tmpl},
        "status": {"replicas": 0, "observedGeneration": 1},
    }


def pod(rs: dict, suffix: str) -> dict:
    tmpl = json.loads(json.dumps(rs["spec"]["template"]))
    spec = tmpl["spec"]
    spec.setdefault(
        "tolerations",
        [
            {
                "key": "node.kubernetes.io/not-ready",
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 300,
            },
            {
                "key": "node.kubernetes.io/unreachable",
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 300,
            },
        ],
    )
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{rs['metadata']['name']}-{suffix}",
            "generateName": f"{rs['metadata']['name']}-",
            "namespace": rs["metadata"]["namespace"],
            "labels": tmpl["metadata"].get("labels", {}),
            "annotations": tmpl["metadata"].get("annotations", {}),
            "ownerReferences": [owner_ref(rs)],
        },
        "spec": spec,
        "status": {
            "phase": "Pending",
            "qosClass": qos_class(spec),
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "lastTransitionTime": None,
                    "reason": "Unschedulable",
                }
            ],
        },
    }


def qos_class(spec: dict) -> str:
    reqs = [c.get("resources", {}) for c in spec["containers"]]
    if all(r.get("limits") and r.get("requests") == r.get("limits") for r in reqs):
        return "Guaranteed"
    if any(r.get("requests") or r.get("limits") for r in reqs):
        return "Burstable"
    return "BestEffort"


def pdb(w: Workload) -> dict:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": w.name, "namespace": w.namespace},
        "spec": {**w.pdb, "selector": {"matchLabels": {"app": w.name}}},
        "status": {
            "currentHealthy": 0,
            "desiredHealthy": 0,
            "disruptionsAllowed": 0,
            "expectedPods": 0,
            "observedGeneration": 1,
        },
    }


def hpa(w: Workload) -> dict:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": w.name, "namespace": w.namespace},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": w.name},
            "minReplicas": w.hpa.get("min", 1),
            "maxReplicas": w.hpa["max"],
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {
                            "type": "Utilization",
                            "averageUtilization": w.hpa.get("cpu_utilization", 80),
                        },
                    },
                }
            ],
        },
        "status": {"currentReplicas": w.replicas, "desiredReplicas": w.replicas},
    }


def pvc(w: Workload, bound: bool) -> dict:
    spec = w.pvc
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": spec["name"], "namespace": w.namespace},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "volumeMode": "Filesystem",
            "storageClassName": spec.get("storage_class", "standard"),
            "resources": {"requests": {"storage": spec.get("storage", "10Gi")}},
            **({"volumeName": f"pvc-{w.namespace}-{spec['name']}"} if bound else {}),
        },
        "status": {
            "phase": "Bound" if bound else "Pending",
            **(
                {
                    "accessModes": ["ReadWriteOnce"],
                    "capacity": {"storage": spec.get("storage", "10Gi")},
                }
                if bound
                else {}
            ),
        },
    }


def event(
    *, name: str, involved: dict, reason: str, message: str, etype: str, now: str, source: str
) -> dict:
    meta = involved["metadata"]
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": meta.get("namespace") or "default"},
        "involvedObject": {
            "apiVersion": involved["apiVersion"],
            "kind": involved["kind"],
            "name": meta["name"],
            "namespace": meta.get("namespace", ""),
            "uid": meta["uid"],
            "resourceVersion": meta.get("resourceVersion"),
        },
        "reason": reason,
        "message": message,
        "type": etype,
        "count": 1,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "eventTime": None,
        "source": {"component": source},
        "reportingComponent": source,
        "reportingInstance": "sandbox",
    }
