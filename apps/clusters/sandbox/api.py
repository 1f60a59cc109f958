"""The Kubernetes REST API over the simulation: discovery, get/list/create/update/patch/delete,
the scale and eviction subresources, metrics.k8s.io and Status errors, as the real API server
answers them, so the official client and kubectl work unchanged."""

import json
import logging
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from . import controllers, faults, metrics
from .patch import PatchError, apply_patch
from .resources import BY_PATH, METRICS_GROUP, RESOURCES, Resource, groups
from .selectors import (
    SelectorError,
    format_label_selector,
    parse_field_selector,
    parse_label_selector,
    selector_from_match,
)
from .tables import as_table, wants_table

log = logging.getLogger(__name__)
VERSION = {
    "major": "1",
    "minor": "31",
    "gitVersion": "v1.31.0-zerotouch-sandbox",
    "gitCommit": "sandbox",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.22",
    "compiler": "gc",
    "platform": "linux/amd64",
}
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
INITIAL_STATUS: dict[str, dict] = {
    "Namespace": {"phase": "Active"},
    "Pod": {"phase": "Pending"},
    "PersistentVolumeClaim": {"phase": "Pending"},
    "ReplicaSet": {"replicas": 0},
    "PodDisruptionBudget": {
        "disruptionsAllowed": 0,
        "currentHealthy": 0,
        "desiredHealthy": 0,
        "expectedPods": 0,
    },
    "HorizontalPodAutoscaler": {"desiredReplicas": 0},
}
IMMUTABLE = ("name", "namespace", "uid", "creationTimestamp", "ownerReferences")


class ApiError(Exception):
    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        *,
        name: str = "",
        kind: str = "",
        group: str = "",
        causes: list | None = None,
    ):
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message
        self.details = {k: v for k, v in (("name", name), ("group", group), ("kind", kind)) if v}
        if causes:
            self.details["causes"] = causes

    def status(self) -> dict:
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "details": self.details,
            "code": self.code,
        }


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes = b""
    readonly: bool = False  # authenticated with the read-only token
    nothing: bool = False  # authenticated, but RBAC allows no resource at all
    metrics_api: bool | str = True  # False: not installed; "broken": answers 503


@dataclass
class Response:
    status: int
    body: object
    watch: dict | None = None  # set for a watch: the server streams it
    headers: dict = field(default_factory=dict)


def parse_query(raw: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()}


def qualified(res: Resource) -> str:
    """The resource as the API server names it in messages: "deployments.apps", "pods"."""
    return f"{res.plural}.{res.group}" if res.group else res.plural


def not_found(name: str, res: Resource) -> ApiError:
    return ApiError(
        404,
        "NotFound",
        f'{qualified(res)} "{name}" not found',
        name=name,
        group=res.group,
        kind=res.plural,
    )


def handle(sb, req: Request) -> Response:
    try:
        with sb.lock:
            return _route(sb, req)
    except ApiError as exc:
        return Response(exc.code, exc.status())
    except PatchError as exc:
        reason = {415: "UnsupportedMediaType", 422: "Invalid"}.get(exc.status, "BadRequest")
        return Response(exc.status, ApiError(exc.status, reason, exc.message).status())
    except SelectorError as exc:
        return Response(
            400, ApiError(400, "BadRequest", f"unable to parse requirement: {exc}").status()
        )
    except Exception as exc:  # a bug in the simulation: answer as an API server would
        log.exception("sandbox: internal error on %s %s", req.method, req.path)
        return Response(
            500,
            ApiError(
                500, "InternalError", f"Internal error occurred: {type(exc).__name__}"
            ).status(),
        )


# --- Routing ------------------------------------------------------------------------------


def _route(sb, req: Request) -> Response:
    parts = [p for p in req.path.split("/") if p]
    if req.path in ("/version", "/version/"):
        return Response(200, VERSION)
    if req.path in ("/healthz", "/livez", "/readyz"):
        return Response(200, "ok")
    if parts == ["api"]:
        return Response(
            200,
            {
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [
                    {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}
                ],
            },
        )
    if parts == ["apis"]:
        return Response(200, _group_list(req.metrics_api))
    if parts[:1] == ["api"] and len(parts) >= 2:
        return _resource_route(sb, req, "", parts[1], parts[2:])
    if parts[:1] == ["apis"] and len(parts) == 2:
        info = next((g for g in groups() if g.name == parts[1]), None)
        if info is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return Response(200, _group(info))
    if parts[:1] == ["apis"] and len(parts) >= 3:
        return _resource_route(sb, req, parts[1], parts[2], parts[3:])
    raise ApiError(404, "NotFound", "the server could not find the requested resource")


def _group(info) -> dict:
    versions = [{"groupVersion": f"{info.name}/{v}", "version": v} for v in info.versions]
    return {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": info.name,
        "versions": versions,
        "preferredVersion": versions[0],
    }


def _group_list(metrics_api: bool = True) -> dict:
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [_group(g) for g in groups() if metrics_api or g.name != METRICS_GROUP],
    }


def _resource_list(group: str, version: str) -> dict:
    resources = []
    for r in RESOURCES:
        if (r.group, r.version) != (group, version):
            continue
        resources.append(
            {
                "name": r.plural,
                "singularName": r.singular or r.kind.lower(),
                "namespaced": r.namespaced,
                "kind": r.kind,
                "verbs": list(r.verbs),
                **({"shortNames": list(r.short_names)} if r.short_names else {}),
                **({"categories": list(r.categories)} if r.categories else {}),
            }
        )
        for sub in r.subresources:
            kind = {"scale": "Scale", "eviction": "Eviction"}.get(sub, r.kind)
            group_of = {"scale": "autoscaling", "eviction": "policy"}.get(sub)
            verbs = {"eviction": ["create"], "scale": ["get", "patch", "update"]}.get(
                sub, ["get", "patch", "update"]
            )
            entry = {
                "name": f"{r.plural}/{sub}",
                "singularName": "",
                "namespaced": r.namespaced,
                "kind": kind,
                "verbs": verbs,
            }
            if group_of:
                entry["group"], entry["version"] = group_of, "v1"
            resources.append(entry)
    gv = f"{group}/{version}" if group else version
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": gv,
        "resources": resources,
    }


def _resource_route(sb, req: Request, group: str, version: str, rest: list[str]) -> Response:
    if not rest:
        if not any((r.group, r.version) == (group, version) for r in RESOURCES):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return Response(200, _resource_list(group, version))
    namespace = ""
    if rest[0] == "namespaces" and len(rest) >= 3:
        namespace, rest = rest[1], rest[2:]
    res = BY_PATH.get((group, version, rest[0]))
    if (
        res is None
        or (namespace and not res.namespaced)
        or (res.group == METRICS_GROUP and not req.metrics_api)
    ):
        raise ApiError(404, "NotFound", "the server could not find the requested resource")
    name = rest[1] if len(rest) > 1 else ""
    sub = rest[2] if len(rest) > 2 else ""
    if len(rest) > 3:
        raise ApiError(404, "NotFound", "the server could not find the requested resource")
    if req.nothing or (req.method != "GET" and req.readonly):
        raise _forbidden(req, res, namespace, name, sub)
    if res.group == METRICS_GROUP:
        if req.metrics_api == "broken":  # registered, but metrics-server is down
            raise ApiError(
                503, "ServiceUnavailable", "the server is currently unable to handle the request"
            )
        return _metrics(sb, req, res, namespace, name)
    if sub:
        return _subresource(sb, req, res, namespace, name, sub)
    if not name:
        if req.method == "GET":
            return _list(sb, req, res, namespace)
        if req.method == "POST":
            return _create(sb, req, res, namespace)
        raise ApiError(405, "MethodNotAllowed", f"{req.method} is not supported on a list")
    handler = {"GET": _get, "PUT": _update, "PATCH": _patch, "DELETE": _delete}.get(req.method)
    if handler is None:
        raise ApiError(405, "MethodNotAllowed", f"{req.method} is not supported here")
    return handler(sb, req, res, namespace, name)


def _forbidden(req: Request, res: Resource, namespace: str, name: str, sub: str) -> ApiError:
    """RBAC's refusal, worded as the API server words it (verbs, not HTTP methods)."""
    who = "sandbox:nobody" if req.nothing else "sandbox:viewer"
    if req.method == "GET":
        verb = "get" if name else ("watch" if req.query.get("watch") in ("true", "1") else "list")
    else:
        verb = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(
            req.method, req.method.lower()
        )
    what = f'{qualified(res)} "{name}"' if name else qualified(res)
    resource = f"{res.plural}/{sub}" if sub else res.plural
    where = f' in the namespace "{namespace}"' if namespace else ""
    return ApiError(
        403,
        "Forbidden",
        f'{what} is forbidden: User "{who}" cannot {verb} resource "{resource}" '
        f'in API group "{res.group}"{where}',
        name=name,
        group=res.group,
        kind=res.plural,
    )


# --- Reads --------------------------------------------------------------------------------


def _matching(sb, req: Request, res: Resource, namespace: str) -> list[dict]:
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


def _list(sb, req: Request, res: Resource, namespace: str) -> Response:
    if req.query.get("watch") in ("true", "1"):
        _matching(sb, req, res, namespace)  # validate the selectors before streaming
        for param in ("resourceVersion", "timeoutSeconds"):  # and what the stream parses
            value = req.query.get(param, "")
            if value and not (value.isascii() and value.isdigit()):
                raise ApiError(
                    400,
                    "BadRequest",
                    f"invalid {param} {value!r}: must be a non-negative integer",
                )
        return Response(200, None, watch={"res": res, "namespace": namespace})
    items = _matching(sb, req, res, namespace)
    body = {
        "kind": res.list_kind,
        "apiVersion": res.api_version,
        "metadata": {"resourceVersion": str(sb.store.rv)},
        "items": items,
    }
    if wants_table(req.headers.get("accept", "")):
        return Response(200, as_table(res, items, sb, list_rv=str(sb.store.rv)))
    return Response(200, body)


def _get(sb, req: Request, res: Resource, namespace: str, name: str) -> Response:
    obj = sb.store.get(res.key, namespace, name)
    if obj is None:
        raise not_found(name, res)
    if wants_table(req.headers.get("accept", "")):
        return Response(200, as_table(res, [obj], sb, list_rv=str(sb.store.rv)))
    return Response(200, obj)


def _metrics(sb, req: Request, res: Resource, namespace: str, name: str) -> Response:
    if req.method != "GET":
        raise ApiError(405, "MethodNotAllowed", "metrics are read-only")
    if res.plural == "nodes":
        items = metrics.node_metrics(sb)
    else:
        items = [
            m
            for p in _matching(sb, req, BY_PATH[("", "v1", "pods")], namespace)
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


# --- Writes -------------------------------------------------------------------------------


def _json_body(req: Request) -> dict:
    try:
        body = json.loads(req.body or b"{}")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "BadRequest", f"the request body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "BadRequest", "the request body must be a JSON object")
    return body


def _count(sb, verb: str, res: Resource, sub: str = "", *, effective: bool = True) -> None:
    """Every mutating call, and separately those that changed something (a repeated
    idempotent call is a call, not a change)."""
    key = f"{verb} {res.key}{'/' + sub if sub else ''}"
    sb.mutations[key] += 1
    if effective:
        sb.effective_mutations[key] += 1


def _create(sb, req: Request, res: Resource, namespace: str) -> Response:
    if "create" not in res.verbs:
        raise ApiError(405, "MethodNotAllowed", f"{res.plural} cannot be created")
    obj = _json_body(req)
    meta = obj.setdefault("metadata", {})
    if obj.get("kind") != res.kind or obj.get("apiVersion") != res.api_version:
        raise ApiError(
            400,
            "BadRequest",
            f"expected kind {res.kind} and apiVersion "
            f"{res.api_version}, got {obj.get('kind')!r} {obj.get('apiVersion')!r}",
        )
    if not meta.get("name"):
        raise ApiError(
            422,
            "Invalid",
            f"{res.kind} is invalid: metadata.name: Required value",
            kind=res.kind,
            causes=[{"reason": "FieldValueRequired", "field": "metadata.name"}],
        )
    if res.namespaced:
        if meta.get("namespace", namespace) != namespace:
            raise ApiError(
                400,
                "BadRequest",
                "the namespace of the object does not match the namespace on the request",
            )
        if not sb.store.get("namespaces", "", namespace):
            raise ApiError(
                404,
                "NotFound",
                f'namespaces "{namespace}" not found',
                name=namespace,
                kind="namespaces",
            )
        meta["namespace"] = namespace
    for key in ("uid", "resourceVersion", "creationTimestamp", "generation"):
        meta.pop(key, None)
    default(res, obj)
    validate(res, obj)
    # As the API server's PrepareForCreate: the status a client sends is dropped, and the
    # status starts with the fields the schema requires (the controllers fill in the rest).
    obj["status"] = json.loads(json.dumps(INITIAL_STATUS.get(res.kind, {})))
    try:
        created = sb.store.create(res.key, obj)
    except KeyError as exc:
        raise ApiError(
            409,
            "AlreadyExists",
            f'{qualified(res)} "{meta["name"]}" already exists',
            name=meta["name"],
            group=res.group,
            kind=res.plural,
        ) from exc
    _count(sb, "create", res)
    _after_write(sb, res, created, spec_changed=True, created=True)
    return Response(201, created)


def _update(sb, req: Request, res: Resource, namespace: str, name: str) -> Response:
    current = sb.store.get(res.key, namespace, name)
    if current is None:
        raise not_found(name, res)
    obj = _json_body(req)
    meta = obj.get("metadata") or {}
    if meta.get("name", name) != name:
        raise ApiError(
            400,
            "BadRequest",
            f"the name of the object ({meta['name']}) does not match the name on the URL ({name})",
        )
    if res.namespaced and meta.get("namespace", namespace) != namespace:
        raise ApiError(
            400,
            "BadRequest",
            "the namespace of the provided object does not match the namespace sent on the request",
        )
    rv = meta.get("resourceVersion")
    if rv and rv != current["metadata"]["resourceVersion"]:
        raise _conflict(res, name)
    return _replace(sb, res, current, obj, "update")


def _patch(sb, req: Request, res: Resource, namespace: str, name: str) -> Response:
    current = sb.store.get(res.key, namespace, name)
    if current is None:
        raise not_found(name, res)
    patched = apply_patch(current, req.body, req.headers.get("content-type", ""))
    rv = patched.get("metadata", {}).get("resourceVersion")
    if rv and rv != current["metadata"]["resourceVersion"]:
        raise _conflict(res, name)
    return _replace(sb, res, current, patched, "patch")


def _conflict(res: Resource, name: str) -> ApiError:
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {qualified(res)} "{name}": '
        "the object has been modified; please apply your changes to the latest "
        "version and try again",
        name=name,
        group=res.group,
        kind=res.plural,
    )


def _replace(sb, res: Resource, current: dict, new: dict, verb: str) -> Response:
    meta = new.setdefault("metadata", {})
    for key in IMMUTABLE:
        if key in current["metadata"]:
            meta[key] = current["metadata"][key]
        else:
            meta.pop(key, None)
    meta.pop("generation", None)
    if "generation" in current["metadata"]:
        meta["generation"] = current["metadata"]["generation"]
    new["kind"], new["apiVersion"] = current["kind"], current["apiVersion"]
    default(res, new)
    validate(res, new)
    if res.key == "nodes":
        new["status"] = current["status"]  # the kubelet owns node status
    spec_changed = new.get("spec") != current.get("spec")
    changed = spec_changed or new.get("metadata") != current.get("metadata")
    current.clear()
    current.update(new)
    sb.store.update(res.key, current, spec_changed=spec_changed)
    _count(sb, verb, res, effective=changed)
    _after_write(sb, res, current, spec_changed=spec_changed)
    return Response(200, current)


def _delete(sb, req: Request, res: Resource, namespace: str, name: str) -> Response:
    obj = sb.store.get(res.key, namespace, name)
    if obj is None:
        raise not_found(name, res)
    if "delete" not in res.verbs:
        raise ApiError(405, "MethodNotAllowed", f"{res.plural} cannot be deleted")
    options = _json_body(req) if req.body else {}
    want_uid = options.get("preconditions", {}).get("uid")
    if want_uid and want_uid != obj["metadata"]["uid"]:
        raise ApiError(
            409,
            "Conflict",
            f"Precondition failed: UID in precondition: {want_uid}"
            f", UID in object meta: {obj['metadata']['uid']}",
            name=name,
            group=res.group,
            kind=res.plural,
        )
    _count(sb, "delete", res)
    if res.key == "pods":
        controllers.delete_pod(sb, obj, reason="api")
        _reconcile_owner(sb, obj)
    elif res.group == "chaos-mesh.org":
        faults.chaos_end(sb, res.key, namespace, name, obj)
        sb.store.delete(res.key, namespace, name)
    else:
        sb.store.delete(res.key, namespace, name)
        _collect_garbage(sb, obj)
    return Response(200, obj)


def _collect_garbage(sb, owner: dict) -> None:
    """Background cascading deletion: what the owner owned goes too."""
    uid = owner["metadata"]["uid"]
    for key in ("apps/replicasets", "pods"):
        for obj in list(sb.store.list(key, owner["metadata"].get("namespace") or None)):
            if any(r["uid"] == uid for r in obj["metadata"].get("ownerReferences", [])):
                if key == "pods":
                    controllers.delete_pod(sb, obj, reason="garbage collection")
                else:
                    sb.store.delete(key, obj["metadata"]["namespace"], obj["metadata"]["name"])
                    _collect_garbage(sb, obj)


def _reconcile_owner(sb, pod: dict) -> None:
    controllers.reconcile_owner(sb, pod)


def _after_write(
    sb, res: Resource, obj: dict, *, spec_changed: bool, created: bool = False
) -> None:
    if res.key == "apps/deployments" and spec_changed:
        controllers.reconcile_deployment(sb, obj)
        controllers.resync(sb)
    elif res.key == "apps/replicasets":
        controllers.resync(sb)
    elif res.key == "nodes":
        controllers.schedule_pending(sb)
    elif res.group == "chaos-mesh.org" and created:
        faults.chaos_start(sb, res.key, obj)
    elif res.key == "pods" and created:
        controllers.adopt_bare_pod(sb, obj)


# --- Subresources -------------------------------------------------------------------------


def _subresource(sb, req, res: Resource, namespace: str, name: str, sub: str) -> Response:
    if sub not in res.subresources:
        raise ApiError(404, "NotFound", "the server could not find the requested resource")
    obj = sb.store.get(res.key, namespace, name)
    if obj is None:
        raise not_found(name, res)
    if sub == "status":
        if req.method != "GET":
            raise ApiError(405, "MethodNotAllowed", "status is written by the control plane")
        return Response(200, obj)
    if sub == "eviction":
        if req.method != "POST":
            raise ApiError(405, "MethodNotAllowed", "evictions are created with POST")
        return _evict(sb, res, obj)
    return _scale(sb, req, res, obj)


def _scale_obj(sb, obj: dict) -> dict:
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


def _scale(sb, req, res: Resource, obj: dict) -> Response:
    if req.method == "GET":
        return Response(200, _scale_obj(sb, obj))
    if req.method == "PUT":
        new = _json_body(req)
    elif req.method == "PATCH":
        new = apply_patch(_scale_obj(sb, obj), req.body, req.headers.get("content-type", ""))
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
        raise _conflict(res, obj["metadata"]["name"])
    changed = obj["spec"].get("replicas") != replicas
    if changed:
        obj["spec"]["replicas"] = replicas
        sb.store.update(res.key, obj, spec_changed=True)
        _after_write(sb, res, obj, spec_changed=True)
    _count(sb, "scale", res, effective=changed)
    return Response(200, _scale_obj(sb, obj))


def _evict(sb, res: Resource, pod: dict) -> Response:
    labels = pod["metadata"].get("labels", {})
    for pdb in sb.store.list("policy/poddisruptionbudgets", pod["metadata"]["namespace"]):
        selector = pdb["spec"].get("selector")
        if selector is None:
            continue  # policy/v1: a null selector selects no pods
        if selector_from_match(selector).matches(labels):
            allowed, *_ = controllers.pdb_allowed(sb, pdb)
            if allowed < 1:
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
    _count(sb, "create", res, "eviction")
    sb.emit(pod, "Evicted", "Evicted via the Eviction API", "Normal", "sandbox-apiserver")
    controllers.delete_pod(sb, pod, reason="eviction")
    _reconcile_owner(sb, pod)
    return Response(
        201,
        {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201},
    )


# --- Validation ---------------------------------------------------------------------------


def _invalid(
    res: Resource, obj: dict, field_path: str, message: str, *, reason: str = "FieldValueInvalid"
) -> ApiError:
    name = obj.get("metadata", {}).get("name", "")
    group = f".{res.group}" if res.group else ""
    return ApiError(
        422,
        "Invalid",
        f'{res.kind}{group} "{name}" is invalid: {field_path}: {message}',
        name=name,
        group=res.group,
        kind=res.kind,
        causes=[{"reason": reason, "message": message, "field": field_path}],
    )


HPA_DEFAULT_METRICS = [
    {
        "type": "Resource",
        "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}},
    }
]


def default(res: Resource, obj: dict) -> None:
    """The API server's defaulting for the fields the controllers rely on."""
    spec = obj.get("spec")
    if res.kind == "HorizontalPodAutoscaler" and isinstance(spec, dict):
        spec.setdefault("minReplicas", 1)
        if not spec.get("metrics"):
            spec["metrics"] = json.loads(json.dumps(HPA_DEFAULT_METRICS))


def validate(res: Resource, obj: dict) -> None:
    spec = obj.get("spec") or {}
    if res.kind in ("Deployment", "ReplicaSet"):
        replicas = spec.get("replicas", 1)
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise _invalid(
                res,
                obj,
                "spec.replicas",
                f"Invalid value: {json.dumps(replicas)}: must be greater than or equal to 0",
            )
        _validate_selector(res, obj, spec)
        template = spec.get("template") or {}
        _validate_pod_spec(res, obj, template.get("spec") or {}, "spec.template.spec")
    elif res.kind == "Pod":
        _validate_pod_spec(res, obj, spec, "spec")
    elif res.kind == "HorizontalPodAutoscaler":
        _validate_hpa(res, obj, spec)


def _validate_selector(res: Resource, obj: dict, spec: dict) -> None:
    """apps/v1 requires a selector, and it must select the pods of the template."""
    selector = spec.get("selector")
    if not isinstance(selector, dict) or not (
        selector.get("matchLabels") or selector.get("matchExpressions")
    ):
        raise _invalid(res, obj, "spec.selector", "Required value", reason="FieldValueRequired")
    try:
        matcher = selector_from_match(selector)
    except SelectorError as exc:
        raise _invalid(res, obj, "spec.selector", f"Invalid value: {exc}") from None
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    if not matcher.matches(labels):
        raise _invalid(
            res,
            obj,
            "spec.template.metadata.labels",
            f"Invalid value: {json.dumps(labels)}: `selector` does not match template `labels`",
        )


def _validate_pod_spec(res: Resource, obj: dict, pod_spec: dict, where: str) -> None:
    from ..quantity import QuantityError, parse

    containers = pod_spec.get("containers")
    if not containers:
        raise _invalid(
            res, obj, f"{where}.containers", "Required value", reason="FieldValueRequired"
        )
    for i, c in enumerate(containers):
        if not c.get("name") or not c.get("image"):
            raise _invalid(
                res,
                obj,
                f"{where}.containers[{i}]",
                "Required value: name and image",
                reason="FieldValueRequired",
            )
        amounts: dict[str, dict] = {}
        for kind in ("requests", "limits"):
            for rname, value in ((c.get("resources") or {}).get(kind) or {}).items():
                field_path = f"{where}.containers[{i}].resources.{kind}.{rname}"
                try:
                    amount = parse(value)
                except QuantityError:
                    raise _invalid(
                        res,
                        obj,
                        field_path,
                        f"Invalid value: {json.dumps(value)}: "
                        "quantities must match the regular expression "
                        "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
                    ) from None
                if amount < 0:
                    raise _invalid(
                        res,
                        obj,
                        field_path,
                        f"Invalid value: {json.dumps(value)}: must be greater than or equal to 0",
                    )
                amounts.setdefault(kind, {})[rname] = (value, amount)
        for rname, (value, amount) in amounts.get("requests", {}).items():
            limit = amounts.get("limits", {}).get(rname)
            if limit is not None and amount > limit[1]:
                raise _invalid(
                    res,
                    obj,
                    f"{where}.containers[{i}].resources.requests",
                    f"Invalid value: {json.dumps(value)}: must be less than or equal to "
                    f"{rname} limit of {limit[0]}",
                )


def _validate_hpa(res: Resource, obj: dict, spec: dict) -> None:
    ref = spec.get("scaleTargetRef") or {}
    for key in ("kind", "name"):
        if not ref.get(key):
            raise _invalid(
                res,
                obj,
                f"spec.scaleTargetRef.{key}",
                "Required value",
                reason="FieldValueRequired",
            )
    low, high = spec.get("minReplicas", 1), spec.get("maxReplicas")
    if not isinstance(low, int) or isinstance(low, bool) or low < 1:
        raise _invalid(
            res,
            obj,
            "spec.minReplicas",
            f"Invalid value: {json.dumps(low)}: must be greater than or equal to 1",
        )
    if not isinstance(high, int) or isinstance(high, bool) or high < low:
        raise _invalid(
            res,
            obj,
            "spec.maxReplicas",
            f"Invalid value: {json.dumps(high)}: must be greater than or equal to `minReplicas`",
        )
