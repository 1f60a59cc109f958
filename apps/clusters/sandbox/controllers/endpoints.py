"""The endpoints controller: each Service with a selector has an Endpoints object of the same
name listing the pods it selects (ready ones as addresses, the others as notReadyAddresses),
kept current as pods start, become ready or unready, and go."""

from ..bootstrap import stable_uid
from ..selectors import selector_from_match
from .common import PODS, pod_ready, terminal

SERVICES, ENDPOINTS = "services", "endpoints"


def sync_service(sb, svc: dict) -> None:
    selector = svc["spec"].get("selector")
    if not selector or svc["spec"].get("type") == "ExternalName":
        return  # endpoints of a Service without a selector are the user's to write
    meta = svc["metadata"]
    want = {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            # from the Service's: the controller throws none of the simulation's dice
            "uid": stable_uid("Endpoints", meta["uid"]),
            **({"labels": dict(meta["labels"])} if meta.get("labels") else {}),
        },
    }
    subset = _subset(sb, svc, selector)
    if subset:
        want["subsets"] = [subset]
    current = sb.store.get(ENDPOINTS, meta["namespace"], meta["name"])
    if current is None:
        sb.store.create(ENDPOINTS, want, own_uid=True)
        return
    now = (current.get("subsets"), current["metadata"].get("labels"))
    if now == (want.get("subsets"), want["metadata"].get("labels")):
        return
    current.pop("subsets", None)
    current["metadata"].pop("labels", None)
    if "subsets" in want:
        current["subsets"] = want["subsets"]
    if "labels" in want["metadata"]:
        current["metadata"]["labels"] = want["metadata"]["labels"]
    sb.store.update(ENDPOINTS, current)


def _subset(sb, svc: dict, selector: dict) -> dict:
    match = selector_from_match({"matchLabels": selector})
    pods = [
        p
        for p in sb.store.list(PODS, svc["metadata"]["namespace"])
        if match.matches(p["metadata"].get("labels", {}))
        and p["status"].get("podIP")
        and not p["metadata"].get("deletionTimestamp")
        and not terminal(p)
    ]
    if not pods:
        return {}
    publish = svc["spec"].get("publishNotReadyAddresses", False)
    ready = [_address(p) for p in pods if publish or pod_ready(p)]
    waiting = [_address(p) for p in pods if not (publish or pod_ready(p))]
    subset = {"ports": [_port(svc_port, pods[0]) for svc_port in svc["spec"].get("ports") or []]}
    if ready:
        subset["addresses"] = ready
    if waiting:
        subset["notReadyAddresses"] = waiting
    if not subset["ports"]:
        subset.pop("ports")
    return subset


def _address(pod: dict) -> dict:
    meta = pod["metadata"]
    return {
        "ip": pod["status"]["podIP"],
        "nodeName": pod["spec"].get("nodeName", ""),
        "targetRef": {
            "kind": "Pod",
            "namespace": meta["namespace"],
            "name": meta["name"],
            "uid": meta["uid"],
        },
    }


def _port(svc_port: dict, pod: dict) -> dict:
    target = svc_port.get("targetPort", svc_port.get("port"))
    if isinstance(target, str):  # a named container port
        target = next(
            (
                p["containerPort"]
                for c in pod["spec"]["containers"]
                for p in c.get("ports") or []
                if p.get("name") == target
            ),
            svc_port.get("port"),
        )
    out = {"port": target, "protocol": svc_port.get("protocol", "TCP")}
    if svc_port.get("name"):
        out["name"] = svc_port["name"]
    return out


def pod_changed(sb, pod: dict) -> None:
    """A pod started, changed readiness or went: the Services selecting it follow."""
    labels = pod["metadata"].get("labels", {})
    for svc in sb.store.list(SERVICES, pod["metadata"]["namespace"]):
        selector = svc["spec"].get("selector")
        if selector and all(labels.get(k) == v for k, v in selector.items()):
            sync_service(sb, svc)


def sync_all(sb) -> None:
    for svc in sb.store.list(SERVICES):
        sync_service(sb, svc)


def service_deleted(sb, svc: dict) -> None:
    meta = svc["metadata"]
    if svc["spec"].get("selector") and sb.store.get(ENDPOINTS, meta["namespace"], meta["name"]):
        sb.store.delete(ENDPOINTS, meta["namespace"], meta["name"])
