"""Server-side apply (`kubectl apply --server-side`): a PATCH of Content-Type
application/apply-patch+yaml whose body is the configuration a field manager wants.

An approximation of the API server's: the object is created when absent; otherwise the applied
fields replace the object's, keyed lists (containers by name, env by name, ports by port...)
merge element by element, and the fields this manager applied last time but no longer applies
are removed. `metadata.managedFields` records each manager's fields as FieldsV1 with the
operation Apply. Conflicts between managers are not detected, so `force` is accepted and
changes nothing. `dryRun=All` answers without storing, as every write does.
"""

import copy
import dataclasses
import json

import yaml

from ..patch import APPLY_PATCH, MERGE_KEYS, strategic_merge
from ..resources import Resource
from .base import ApiError, Request, Response
from .writes import conflict, create_object, dry_run, replace_object

# Set by the API server, never owned by a manager.
UNOWNED_META = (
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)


def is_apply(req: Request) -> bool:
    media = req.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return req.method == "PATCH" and media == APPLY_PATCH


def apply_object(sb, req: Request, res: Resource, namespace: str, name: str) -> Response:
    if "patch" not in res.verbs:
        raise ApiError(405, "MethodNotAllowed", f"{res.plural} cannot be patched")
    manager = req.query.get("fieldManager", "")
    if not manager:
        raise ApiError(
            422,
            "Invalid",
            "PatchOptions.meta.k8s.io is invalid: fieldManager: Required value: "
            "is required for apply patch",
            causes=[{"reason": "FieldValueRequired", "field": "fieldManager"}],
        )
    applied = configuration(req, res, name)
    fields = field_set(applied)
    entry = {
        "manager": manager,
        "operation": "Apply",
        "apiVersion": res.api_version,
        "time": sb.iso(),
        "fieldsType": "FieldsV1",
        "fieldsV1": fields,
    }
    current = sb.store.get(res.key, namespace, name)
    if current is None:
        applied["metadata"]["managedFields"] = [entry]
        body = json.dumps(applied).encode()
        return create_object(sb, dataclasses.replace(req, method="POST", body=body), res, namespace)
    rv = applied["metadata"].get("resourceVersion")
    if rv and rv != current["metadata"]["resourceVersion"]:
        raise conflict(res, name)
    managed = current["metadata"].get("managedFields") or []
    mine = [e for e in managed if e.get("manager") == manager and e.get("operation") == "Apply"]
    merged = strategic_merge(current, applied)
    if mine:
        prune(merged, mine[0].get("fieldsV1") or {}, fields)
    merged["metadata"]["managedFields"] = [*(e for e in managed if e not in mine), entry]
    return replace_object(sb, res, current, merged, "patch", dry=dry_run(req))


def configuration(req: Request, res: Resource, name: str) -> dict:
    """The applied configuration: YAML (or JSON), of the URL's kind and name, without status."""
    try:
        applied = yaml.safe_load(req.body or b"")
    except yaml.YAMLError as exc:
        raise ApiError(400, "BadRequest", f"error decoding YAML: {exc}") from exc
    if not isinstance(applied, dict):
        raise ApiError(400, "BadRequest", "the apply configuration must be an object")
    if applied.get("kind") != res.kind or applied.get("apiVersion") != res.api_version:
        raise ApiError(
            400,
            "BadRequest",
            f"expected kind {res.kind} and apiVersion {res.api_version}, "
            f"got {applied.get('kind')!r} {applied.get('apiVersion')!r}",
        )
    meta = applied.get("metadata")
    if not isinstance(meta, dict):
        meta = applied["metadata"] = {}
    if meta.setdefault("name", name) != name:
        raise ApiError(
            400,
            "BadRequest",
            f"the name of the object ({meta['name']}) does not match the name on the URL ({name})",
        )
    applied.pop("status", None)
    meta.pop("managedFields", None)
    return applied


def field_set(value, field: str = "", top: bool = True) -> dict:
    """The fields a configuration sets, as FieldsV1: {"f:spec": {"f:replicas": {}}, ...};
    an element of a keyed list is "k:{"name":"web"}"."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if top and key in ("apiVersion", "kind"):
                continue
            if top and key == "metadata" and isinstance(item, dict):
                item = {k: v for k, v in item.items() if k not in UNOWNED_META}
                if not item:
                    continue
            out[f"f:{key}"] = field_set(item, key, top=False)
        return out
    if isinstance(value, list) and field in MERGE_KEYS:
        out = {}
        for item in value:
            if isinstance(item, dict) and (key := element_key(field, item)):
                out[key] = {".": {}, **field_set(item, top=False)}
        return out
    return {}


def element_key(field: str, item: dict) -> str:
    name = next((k for k in MERGE_KEYS[field] if k in item), None)
    return "" if name is None else "k:" + json.dumps({name: item[name]}, separators=(",", ":"))


def prune(obj: dict, before: dict, after: dict) -> None:
    """Remove from obj (in place) what `before` owned and `after` no longer does."""
    for key, owned in before.items():
        if not key.startswith("f:"):
            continue
        name = key[2:]
        if key not in after:
            obj.pop(name, None)
            continue
        value = obj.get(name)
        if isinstance(value, dict):
            prune(value, owned, after[key])
        elif isinstance(value, list) and name in MERGE_KEYS:
            obj[name] = prune_list(name, value, owned, after[key])


def prune_list(field: str, items: list, before: dict, after: dict) -> list:
    kept = []
    for item in items:
        key = element_key(field, item) if isinstance(item, dict) else ""
        if key and key in before and key not in after:
            continue
        if key and key in before:
            item = copy.deepcopy(item)
            prune(item, before[key], after[key])
        kept.append(item)
    return kept
