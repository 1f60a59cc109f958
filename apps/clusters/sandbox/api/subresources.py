"""Subresources: status, scale, eviction and log."""

import json

from .. import controllers
from ..patch import apply_patch
from ..resources import Resource
from ..selectors import format_label_selector, selector_from_match
from .base import ApiError, Response, not_found
from .logs import UNSUPPORTED, pod_log, unsupported
from .writes import (
    after_write,
    conflict,
    count_request,
    dry_run,
    json_body,
    reconcile_pod_owner,
)


def subresource(sb, req, res: Resource, namespace: str, name: str, sub: str) -> Response:
    if res.plural == "pods" and sub in UNSUPPORTED:
        raise unsupported(sub, name)
    if sub not in res.subresources:
        raise ApiError(404, "NotFound", "the server could not find the requested resource")
    obj = sb.store.get(res.key, namespace, name)
    if obj is None:
        raise not_found(name, res)
    if sub == "log":
        return pod_log(sb, req, obj)
    if sub == "status":
        if req.method != "GET":
            raise ApiError(405, "MethodNotAllowed", "status is written by the control plane")
        return Response(200, obj)
    if sub == "eviction":
        if req.method != "POST":
            raise ApiError(405, "MethodNotAllowed", "evictions are created with POST")
        options = (json_body(req) if req.body else {}).get("deleteOptions") or {}
        return evict(sb, res, obj, dry=dry_run(req, options))  # kubectl drain --dry-run=server
    return scale_response(sb, req, res, obj)


def scale_obj(sb, obj: dict) -> dict:
    meta = obj["metadata"]
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta["uid"],
            "resourceVersion": meta["resourceVersion"],
            "creationTimestamp": meta["creationTimestamp"],
        },
        "spec": {"replicas": obj["spec"].get("replicas", 1)},
        "status": {
            "replicas": obj.get("status", {}).get("replicas", 0),
            "selector": format_label_selector(obj["spec"]["selector"]),
        },
    }


def scale_response(sb, req, res: Resource, obj: dict) -> Response:
    if req.method == "GET":
        return Response(200, scale_obj(sb, obj))
    if req.method == "PUT":
        new = json_body(req)
    elif req.method == "PATCH":
        new = apply_patch(scale_obj(sb, obj), req.body, req.headers.get("content-type", ""))
    else:
        raise ApiError(405, "MethodNotAllowed", f"{req.method} is not supported on scale")
    replicas = new.get("spec", {}).get("replicas")
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise ApiError(
            422,
            "Invalid",
            f'Scale.autoscaling "{obj["metadata"]["name"]}" is '
            f"invalid: spec.replicas: Invalid value: {json.dumps(replicas)}: must be "
            "greater than or equal to 0",
            name=obj["metadata"]["name"],
            group="autoscaling",
            kind="Scale",
            causes=[
                {
                    "reason": "FieldValueInvalid",
                    "message": f"Invalid value: {json.dumps(replicas)}: must be greater than "
                    "or equal to 0",
                    "field": "spec.replicas",
                }
            ],
        )
    rv = new.get("metadata", {}).get("resourceVersion")
    if rv and rv != obj["metadata"]["resourceVersion"]:
        raise conflict(res, obj["metadata"]["name"])
    changed = obj["spec"].get("replicas") != replicas
    if dry_run(req):
        would = json.loads(json.dumps(obj))
        would["spec"]["replicas"] = replicas
        return Response(200, scale_obj(sb, would))
    if changed:
        obj["spec"]["replicas"] = replicas
        sb.store.update(res.key, obj, spec_changed=True)
        after_write(sb, res, obj, spec_changed=True)
    count_request(sb, "scale", res, effective=changed)
    return Response(200, scale_obj(sb, obj))


def evict(sb, res: Resource, pod: dict, *, dry: bool = False) -> Response:
    """The Eviction API: refused (429) when a disruption budget would be broken; `dry`
    answers the same and evicts nothing."""
    labels = pod["metadata"].get("labels", {})
    # As the API server: a pod already being deleted is evicted without asking its budget.
    pdbs = (
        []
        if pod["metadata"].get("deletionTimestamp")
        else sb.store.list("policy/poddisruptionbudgets", pod["metadata"]["namespace"])
    )
    for pdb in pdbs:
        selector = pdb["spec"].get("selector")
        if selector is None:
            continue  # policy/v1: a null selector selects no pods
        if selector_from_match(selector).matches(labels):
            allowed, *_ = controllers.pdb_allowed(sb, pdb)
            if allowed < 1 and not _unhealthy_may_go(sb, pdb, pod):
                raise ApiError(
                    429,
                    "TooManyRequests",
                    "Cannot evict pod as it would violate the pod's disruption budget.",
                    causes=[
                        {
                            "reason": "DisruptionBudget",
                            "message": f"The disruption budget {pdb['metadata']['name']} needs "
                            f"{pdb['status'].get('desiredHealthy', 0)} healthy pods"
                            f" and has {pdb['status'].get('currentHealthy', 0)}",
                        }
                    ],
                )
    going = bool(pod["metadata"].get("deletionTimestamp"))
    if dry:
        return _evicted()
    count_request(sb, "create", res, "eviction", effective=not going)
    if going:
        return _evicted()
    sb.emit(pod, "Evicted", "Evicted via the Eviction API", "Normal", "sandbox-apiserver")
    controllers.delete_pod(sb, pod, reason="eviction")
    reconcile_pod_owner(sb, pod)
    return _evicted()


def _evicted() -> Response:
    return Response(
        201,
        {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201},
    )


def _unhealthy_may_go(sb, pdb: dict, pod: dict) -> bool:
    """policy/v1 unhealthyPodEvictionPolicy: a pod that is not ready adds nothing to the
    budget's healthy count, so it may go while the budget still holds (IfHealthyBudget, the
    default), or always (AlwaysAllow)."""
    if controllers.pod_ready(pod):
        return False
    if pdb["spec"].get("unhealthyPodEvictionPolicy") == "AlwaysAllow":
        return True
    _, current, desired, _ = controllers.pdb_allowed(sb, pdb)
    return current >= desired
