"""Reads: get, list (and the start of a watch) with label and field selectors, metrics."""

from .. import metrics
from ..resources import BY_PATH, Resource
from ..selectors import parse_field_selector, parse_label_selector
from ..tables import as_table, wants_table
from .base import ApiError, Request, Response, not_found

# The field selectors each resource supports, as the API server's field label conversions
# declare them; every resource also supports metadata.name and metadata.namespace.
COMMON_FIELD_PATHS = frozenset({"metadata.name", "metadata.namespace"})


FIELD_PATHS: dict[str, frozenset[str]] = {
    "pods": frozenset(
        {
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        }
    ),
    "nodes": frozenset({"spec.unschedulable"}),
    "namespaces": frozenset({"status.phase"}),
    "events": frozenset(
        {
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        }
    ),
    "apps/replicasets": frozenset({"status.replicas"}),
}


def matching(sb, req: Request, res: Resource, namespace: str) -> list[dict]:
    labels = parse_label_selector(req.query.get("labelSelector", ""))
    fields = parse_field_selector(req.query.get("fieldSelector", ""))
    supported = COMMON_FIELD_PATHS | FIELD_PATHS.get(res.key, frozenset())
    for path in fields.paths:
        if path not in supported:
            raise ApiError(400, "BadRequest", f"field label not supported: {path}")
    items = sb.store.list(res.key, namespace if res.namespaced and namespace else None)
    return [
        o for o in items if labels.matches(o["metadata"].get("labels", {})) and fields.matches(o)
    ]


def list_objects(sb, req: Request, res: Resource, namespace: str) -> Response:
    if req.query.get("watch") in ("true", "1"):
        matching(sb, req, res, namespace)  # validate the selectors before streaming
        for param in ("resourceVersion", "timeoutSeconds"):  # and what the stream parses
            value = req.query.get(param, "")
            if value and not (value.isascii() and value.isdigit()):
                raise ApiError(
                    400,
                    "BadRequest",
                    f"invalid {param} {value!r}: must be a non-negative integer",
                )
        return Response(200, None, watch={"res": res, "namespace": namespace})
    items = matching(sb, req, res, namespace)
    body = {
        "kind": res.list_kind,
        "apiVersion": res.api_version,
        "metadata": {"resourceVersion": str(sb.store.rv)},
        "items": items,
    }
    if wants_table(req.headers.get("accept", "")):
        return Response(200, as_table(res, items, sb, list_rv=str(sb.store.rv)))
    return Response(200, body)


def get_object(sb, req: Request, res: Resource, namespace: str, name: str) -> Response:
    obj = sb.store.get(res.key, namespace, name)
    if obj is None:
        raise not_found(name, res)
    if wants_table(req.headers.get("accept", "")):
        return Response(200, as_table(res, [obj], sb, list_rv=str(sb.store.rv)))
    return Response(200, obj)


def get_metrics(sb, req: Request, res: Resource, namespace: str, name: str) -> Response:
    if req.method != "GET":
        raise ApiError(405, "MethodNotAllowed", "metrics are read-only")
    if res.plural == "nodes":
        items = metrics.node_metrics(sb)
    else:
        items = [
            m
            for p in matching(sb, req, BY_PATH[("", "v1", "pods")], namespace)
            if (m := metrics.pod_metrics(sb, p)) is not None
        ]
    if name:
        found = next((i for i in items if i["metadata"]["name"] == name), None)
        if found is None:
            raise not_found(name, res)
        return Response(200, found)
    return Response(
        200, {"kind": res.list_kind, "apiVersion": res.api_version, "metadata": {}, "items": items}
    )
