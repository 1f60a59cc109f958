"""Apply Kubernetes PATCH bodies to plain JSON objects for the sandbox API server.

The sandbox stores objects as dicts, so PATCH support is reimplemented here rather than
borrowed from client-go. Every function returns a new object: the stored version must stay
intact when a patch fails half way, and callers compare old and new to decide what changed.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonpatch
import jsonpointer

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

# List field name -> merge key(s). Only the last path element is considered: the sandbox
# serves a handful of core kinds and no two of their keyed lists share a name with
# different keys, except `ports`, where Services key by `port` instead of `containerPort`;
# an element is identified by the first candidate key it carries.
MERGE_KEYS: dict[str, tuple[str, ...]] = {
    "containers": ("name",),
    "initContainers": ("name",),
    "ephemeralContainers": ("name",),
    "env": ("name",),
    "volumes": ("name",),
    "volumeMounts": ("mountPath",),
    "ports": ("containerPort", "port"),
    "imagePullSecrets": ("name",),
    "conditions": ("type",),
    "ownerReferences": ("uid",),
}

_PATCH_DIRECTIVE = "$patch"
_RETAIN_KEYS = "$retainKeys"
_SET_ELEMENT_ORDER = "$setElementOrder/"
_DELETE_FROM_PRIMITIVE_LIST = "$deleteFromPrimitiveList/"

_JSON_PATCH_OPS = {"add", "remove", "replace", "move", "copy", "test"}


class PatchError(Exception):
    """A patch that cannot be applied; `status` is the HTTP status the server should return."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def apply_patch(obj: dict, patch_body: bytes | str | dict | list, content_type: str) -> dict:
    """Apply `patch_body` to `obj` according to the request's Content-Type.

    Media-type parameters (`; charset=utf-8`) are ignored because clients add them freely.
    """
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == APPLY_PATCH:
        raise PatchError("server-side apply is not supported by the sandbox", 415)
    if media_type not in (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH):
        raise PatchError(f"unsupported patch content type '{content_type}'", 415)
    body = _decode(patch_body)
    if media_type == JSON_PATCH:
        return _apply_json_patch(obj, body)
    if not isinstance(body, dict):
        raise PatchError(f"{_label(media_type)}: patch body must be a JSON object", 400)
    if media_type == MERGE_PATCH:
        return merge_patch(obj, body)
    return strategic_merge(obj, body)


def _label(media_type: str) -> str:
    return "merge patch" if media_type == MERGE_PATCH else "strategic merge patch"


def _decode(patch_body: bytes | str | dict | list) -> Any:
    """Parse a raw body; already-parsed bodies are copied so the caller's value stays untouched."""
    if isinstance(patch_body, dict | list):
        return copy.deepcopy(patch_body)
    if isinstance(patch_body, bytes):
        try:
            patch_body = patch_body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PatchError(f"patch body is not valid UTF-8: {exc}", 400) from exc
    try:
        return json.loads(patch_body)
    except ValueError as exc:
        raise PatchError(f"patch body is not valid JSON: {exc}", 400) from exc


# --- RFC 7386 JSON merge patch ---------------------------------------------------------------


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 merge: dicts merge recursively, `None` deletes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# --- Kubernetes strategic merge patch --------------------------------------------------------


def strategic_merge(target: Any, patch: dict) -> dict:
    """Strategic merge patch: a merge patch whose keyed lists merge element by element.

    kubectl relies on this to change one container without resending the others.
    """
    if not isinstance(patch, dict):
        raise PatchError("strategic merge patch: patch body must be a JSON object", 400)
    directive = patch.get(_PATCH_DIRECTIVE, "merge")
    if directive == "replace":
        return _strip_directives(patch)
    if directive != "merge":
        raise PatchError(f"strategic merge patch: unknown $patch directive '{directive}'", 400)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    deletions: dict[str, list] = {}
    for key, value in patch.items():
        if key.startswith(_DELETE_FROM_PRIMITIVE_LIST):
            deletions[key.removeprefix(_DELETE_FROM_PRIMITIVE_LIST)] = _as_list(key, value)
        elif _is_directive(key):
            continue  # ordering/pruning hints from kubectl that the sandbox does not need
        else:
            _merge_field(result, key, value)
    for field, values in deletions.items():
        if isinstance(result.get(field), list):
            result[field] = [item for item in result[field] if item not in values]
    return result


def _is_directive(key: str) -> bool:
    return key in (_PATCH_DIRECTIVE, _RETAIN_KEYS) or key.startswith(
        (_SET_ELEMENT_ORDER, _DELETE_FROM_PRIMITIVE_LIST)
    )


def _as_list(key: str, value: Any) -> list:
    if not isinstance(value, list):
        raise PatchError(f"strategic merge patch: '{key}' must be a list", 400)
    return value


def _merge_field(result: dict, key: str, value: Any) -> None:
    """Merge one patch field into `result` in place (`result` is already a private copy)."""
    if value is None:
        result.pop(key, None)
    elif isinstance(value, dict):
        if value.get(_PATCH_DIRECTIVE) == "delete":
            result.pop(key, None)
        else:
            result[key] = strategic_merge(result.get(key), value)
    elif isinstance(value, list):
        result[key] = _merge_list(key, result.get(key), value)
    else:
        result[key] = copy.deepcopy(value)


def _merge_list(field: str, current: Any, patch: list) -> list:
    """Merge a list field: keyed lists merge by element, all others are replaced."""
    candidates = MERGE_KEYS.get(field)
    if {_PATCH_DIRECTIVE: "replace"} in patch:
        return [_strip_directives(item) for item in patch if item != {_PATCH_DIRECTIVE: "replace"}]
    if candidates is None or not all(isinstance(item, dict) for item in patch):
        return copy.deepcopy(patch)
    result = copy.deepcopy(current) if isinstance(current, list) else []
    for item in patch:
        key, value = _element_identity(field, item, candidates)
        index = _find_element(result, key, value)
        if item.get(_PATCH_DIRECTIVE) == "delete":
            result = [e for e in result if not (isinstance(e, dict) and e.get(key) == value)]
        elif index is None:
            result.append(strategic_merge({}, item))
        else:
            result[index] = strategic_merge(result[index], item)
    return result


def _element_identity(field: str, item: dict, candidates: tuple[str, ...]) -> tuple[str, Any]:
    for key in candidates:
        if key in item:
            return key, item[key]
    raise PatchError(
        f"strategic merge patch: element of '{field}' is missing merge key '{candidates[0]}'", 422
    )


def _find_element(items: list, key: str, value: Any) -> int | None:
    for index, element in enumerate(items):
        if isinstance(element, dict) and element.get(key) == value:
            return index
    return None


def _strip_directives(value: Any) -> Any:
    """Copy `value` without `$` directives, which must never end up in a stored object."""
    if isinstance(value, dict):
        return {k: _strip_directives(v) for k, v in value.items() if not _is_directive(k)}
    if isinstance(value, list):
        return [_strip_directives(item) for item in value]
    return copy.deepcopy(value)


# --- RFC 6902 JSON patch ---------------------------------------------------------------------


def _apply_json_patch(obj: dict, ops: Any) -> dict:
    """Apply the ops one at a time so a failure can name the exact operation and path."""
    if not isinstance(ops, list):
        raise PatchError("json patch: patch body must be a JSON array of operations", 400)
    for index, op in enumerate(ops):
        _validate_op(index, op)
    result: Any = copy.deepcopy(obj)
    for op in ops:
        try:
            result = jsonpatch.JsonPatch([op]).apply(result, in_place=True)
        except jsonpatch.JsonPatchTestFailed as exc:
            if not _pointer_exists(result, op["path"]):
                raise PatchError(f"json patch: path '{op['path']}' does not exist", 422) from exc
            raise PatchError(f"json patch: test failed at path '{op['path']}'", 422) from exc
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
            raise PatchError(_describe_failure(result, op, exc), 422) from exc
    if not isinstance(result, dict):
        raise PatchError("json patch: result is not a JSON object", 422)
    return result


def _validate_op(index: int, op: Any) -> None:
    """Reject structurally broken operations up front (400) before touching the object."""
    where = f"json patch: operation {index}"
    if not isinstance(op, dict):
        raise PatchError(f"{where} is not a JSON object", 400)
    name = op.get("op")
    if name not in _JSON_PATCH_OPS:
        raise PatchError(f"{where} has unknown op {name!r}", 400)
    required = ["path"]
    if name in ("add", "replace", "test"):
        required.append("value")
    if name in ("move", "copy"):
        required.append("from")
    for member in required:
        if member not in op:
            raise PatchError(f"{where} ({name}) is missing '{member}'", 400)
    for member in ("path", "from"):
        pointer = op.get(member, "")
        if not isinstance(pointer, str) or (pointer and not pointer.startswith("/")):
            raise PatchError(f"{where} ({name}) has invalid {member} {pointer!r}", 400)


def _describe_failure(doc: Any, op: dict, exc: Exception) -> str:
    """Prefer "path does not exist" over jsonpatch's internal wording when that is the cause."""
    name = op["op"]
    if name in ("move", "copy"):
        pointer = op["from"]
    elif name == "add":
        pointer = op["path"].rsplit("/", 1)[0]
    else:
        pointer = op["path"]
    if not _pointer_exists(doc, pointer):
        return f"json patch: path '{pointer}' does not exist"
    return f"json patch: {name} at '{op['path']}' failed: {exc}"


def _pointer_exists(doc: Any, pointer: str) -> bool:
    try:
        jsonpointer.resolve_pointer(doc, pointer)
    except (jsonpointer.JsonPointerException, TypeError):
        return False
    return True
