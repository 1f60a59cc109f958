"""Writes: create, update, patch, delete, and what the controllers do after each."""

import json

from .. import controllers, faults
from ..patch import apply_patch
from ..resources import CHAOS_GROUPS, Resource
from ..store import GENERATION_KINDS
from .base import ApiError, Request, Response, not_found, qualified
from .kinds import STATUSLESS, prepare
from .validation import default, validate

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
    "Service": {"loadBalancer": {}},
    "Ingress": {"loadBalancer": {}},
    "StatefulSet": {"replicas": 0, "availableReplicas": 0},
    "DaemonSet": {
        "currentNumberScheduled": 0,
        "desiredNumberScheduled": 0,
        "numberMisscheduled": 0,
        "numberReady": 0,
    },
}


# Kept from the stored object on a write (deletion marks are the API server's to set).
IMMUTABLE = (
    "name",
    "namespace",
    "uid",
    "creationTimestamp",
    "ownerReferences",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)


def json_body(req: Request) -> dict:
    if "protobuf" in req.headers.get("content-type", ""):
        # kubectl's generators (create namespace, create secret...) send protobuf, which the
        # sandbox does not decode: say so plainly (kubectl apply -f sends JSON).
        raise ApiError(
            415,
            "UnsupportedMediaType",
            "the sandbox accepts JSON bodies only, not protobuf "
            "(kubectl create <kind> <name> sends protobuf: use kubectl apply -f)",
        )
    try:
        body = json.loads(req.body or b"{}")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "BadRequest", f"the request body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "BadRequest", "the request body must be a JSON object")
    return body


def dry_run(req: Request, options: dict | None = None) -> bool:
    """`?dryRun=All` (or, on a delete, `"dryRun": ["All"]` in its DeleteOptions, as kubectl
    sends it): check and answer exactly as the write would, but store nothing and start
    nothing (what `kubectl apply --dry-run=server` and `kubectl diff` rely on). Any other
    value is refused, as the API server refuses it."""
    value = req.query.get("dryRun")
    listed = (options or {}).get("dryRun")
    if not value and isinstance(listed, list) and listed:
        value = ",".join(str(v) for v in listed)
    if value is None or value == "":
        return False
    if value != "All":
        raise ApiError(
            400,
            "BadRequest",
            f'Invalid dry run value: dryRun: Unsupported value: "{value}": supported values: "All"',
        )
    return True


def count_request(sb, verb: str, res: Resource, sub: str = "", *, effective: bool = True) -> None:
    """Every mutating call, and separately those that changed something (a repeated
    idempotent call is a call, not a change)."""
    key = f"{verb} {res.key}{'/' + sub if sub else ''}"
    sb.mutations[key] += 1
    if effective:
        sb.effective_mutations[key] += 1


def create_object(sb, req: Request, res: Resource, namespace: str) -> Response:
    if "create" not in res.verbs:
        raise ApiError(405, "MethodNotAllowed", f"{res.plural} cannot be created")
    obj = json_body(req)
    meta = obj.setdefault("metadata", {})
    # As the API server's decoder: a body without kind or apiVersion takes the URL's.
    obj.setdefault("kind", res.kind)
    obj.setdefault("apiVersion", res.api_version)
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
    for key in ("resourceVersion", "creationTimestamp", "generation"):
        meta.pop(key, None)
    meta["uid"] = sb.store.new_uid()  # before defaulting, as a Job's selector is made from it
    default(res, obj)
    validate(res, obj)
    prepare(sb, res, obj)
    # As the API server's PrepareForCreate: the status a client sends is dropped, and the
    # status starts with the fields the schema requires (the controllers fill in the rest).
    obj.pop("status", None)
    if res.kind not in STATUSLESS:
        obj["status"] = json.loads(json.dumps(INITIAL_STATUS.get(res.kind, {})))
    if dry_run(req):
        if sb.store.get(res.key, meta.get("namespace", ""), meta["name"]):
            raise _exists(res, meta["name"])
        meta["creationTimestamp"] = sb.iso()
        if res.kind in GENERATION_KINDS:
            meta["generation"] = 1
        return Response(201, obj)
    try:
        created = sb.store.create(res.key, obj)
    except KeyError as exc:
        raise _exists(res, meta["name"]) from exc
    count_request(sb, "create", res)
    after_write(sb, res, created, spec_changed=True, created=True)
    return Response(201, created)


def _exists(res: Resource, name: str) -> ApiError:
    return ApiError(
        409,
        "AlreadyExists",
        f'{qualified(res)} "{name}" already exists',
        name=name,
        group=res.group,
        kind=res.plural,
    )


def update_object(sb, req: Request, res: Resource, namespace: str, name: str) -> Response:
    current = sb.store.get(res.key, namespace, name)
    if current is None:
        raise not_found(name, res)
    obj = json_body(req)
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
        raise conflict(res, name)
    return replace_object(sb, res, current, obj, "update", dry=dry_run(req))


def patch_object(sb, req: Request, res: Resource, namespace: str, name: str) -> Response:
    current = sb.store.get(res.key, namespace, name)
    if current is None:
        raise not_found(name, res)
    patched = apply_patch(current, req.body, req.headers.get("content-type", ""))
    rv = patched.get("metadata", {}).get("resourceVersion")
    if rv and rv != current["metadata"]["resourceVersion"]:
        raise conflict(res, name)
    return replace_object(sb, res, current, patched, "patch", dry=dry_run(req))


def conflict(res: Resource, name: str) -> ApiError:
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


def replace_object(
    sb, res: Resource, current: dict, new: dict, verb: str, *, dry: bool = False
) -> Response:
    """Write `new` over `current`; `dry`: answer with what would be stored, store nothing."""
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
    prepare(sb, res, new, current)
    if res.key == "nodes":
        new["status"] = current["status"]  # the kubelet owns node status
    spec_changed = new.get("spec") != current.get("spec")
    changed = spec_changed or new.get("metadata") != current.get("metadata")
    if dry:
        if spec_changed and current.get("kind") in GENERATION_KINDS:
            meta["generation"] = meta.get("generation", 1) + 1
        return Response(200, new)
    current.clear()
    current.update(new)
    sb.store.update(res.key, current, spec_changed=spec_changed)
    count_request(sb, verb, res, effective=changed)
    after_write(sb, res, current, spec_changed=spec_changed)
    return Response(200, current)


def delete_object(sb, req: Request, res: Resource, namespace: str, name: str) -> Response:
    obj = sb.store.get(res.key, namespace, name)
    if obj is None:
        raise not_found(name, res)
    if "delete" not in res.verbs:
        raise ApiError(405, "MethodNotAllowed", f"{res.plural} cannot be deleted")
    options = json_body(req) if req.body else {}
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
    if dry_run(req, options):
        return Response(200, obj)
    count_request(sb, "delete", res, effective=not obj["metadata"].get("deletionTimestamp"))
    if res.key == "pods":
        grace = options.get("gracePeriodSeconds", req.query.get("gracePeriodSeconds"))
        grace = None if grace is None else _grace(grace)
        controllers.delete_pod(sb, obj, reason="api", grace=grace)
        reconcile_pod_owner(sb, obj)
    elif res.group in CHAOS_GROUPS:
        faults.chaos_end(sb, res.key, namespace, name, obj)
        sb.store.delete(res.key, namespace, name)
    else:
        sb.store.delete(res.key, namespace, name)
        collect_garbage(sb, obj)
        controllers.object_deleted(sb, res.key, obj)
    return Response(200, obj)


def _grace(value) -> int:
    try:
        grace = int(value)
    except (TypeError, ValueError):
        grace = -1
    if grace < 0:
        raise ApiError(
            422,
            "Invalid",
            f"DeleteOptions is invalid: gracePeriodSeconds: Invalid value: {value!r}: "
            "must be greater than or equal to 0",
            causes=[
                {
                    "reason": "FieldValueInvalid",
                    "field": "gracePeriodSeconds",
                    "message": f"Invalid value: {value!r}: must be >= 0",
                }
            ],
        )
    return grace


def collect_garbage(sb, owner: dict) -> None:
    """Background cascading deletion: what the owner owned goes too."""
    uid = owner["metadata"]["uid"]
    for key in ("apps/replicasets", "batch/jobs", "pods"):
        for obj in list(sb.store.list(key, owner["metadata"].get("namespace") or None)):
            if any(r["uid"] == uid for r in obj["metadata"].get("ownerReferences", [])):
                if key == "pods":
                    controllers.delete_pod(sb, obj, reason="garbage collection")
                else:
                    sb.store.delete(key, obj["metadata"]["namespace"], obj["metadata"]["name"])
                    collect_garbage(sb, obj)


def reconcile_pod_owner(sb, pod: dict) -> None:
    controllers.reconcile_owner(sb, pod)


def after_write(sb, res: Resource, obj: dict, *, spec_changed: bool, created: bool = False) -> None:
    if res.key == "apps/deployments" and spec_changed:
        controllers.reconcile_deployment(sb, obj)
        controllers.resync(sb)
    elif res.key == "apps/replicasets":
        controllers.resync(sb)
    elif res.key == controllers.JOBS and spec_changed:
        controllers.reconcile_job(sb, obj)
    elif res.key == "nodes":
        controllers.schedule_pending(sb)
    elif res.group in CHAOS_GROUPS and created:
        faults.chaos_start(sb, res.key, obj)
    elif res.key == "pods" and created:
        controllers.adopt_bare_pod(sb, obj)
    else:
        controllers.object_written(sb, res.key, obj, spec_changed=spec_changed, created=created)
