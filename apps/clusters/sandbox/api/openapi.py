"""The OpenAPI documents an API server publishes, for every kind in the sandbox's registry.

`/openapi/v2` (one Swagger 2.0 document) and `/openapi/v3` (an index of one OpenAPI 3.0
document per group-version) are built from the JSON schemas that kubernetes-validate ships for
the sandbox's Kubernetes version, named as the API server names them
(`io.k8s.api.apps.v1.Deployment`, with `x-kubernetes-group-version-kind`). A kind the official
schemas do not know (Chaos Mesh, the sandbox's own NodeChaos, metrics.k8s.io) gets a permissive
schema, as a CRD without a structural schema would. The paths carry the query parameters
kubectl looks for: it asks for `fieldValidation` on a PATCH to decide that the server checks
fields itself (strict by default), instead of validating on its side.

Built lazily, once per process, from the registry as it stands then.
"""

import copy
import hashlib
import importlib.resources
import json
import threading
from functools import cache

from kubernetes_validate.utils import all_versions, major_minor

from ..resources import METRICS_GROUP, RESOURCES, Resource
from ..schemas import KUBERNETES
from .base import ApiError, Request, Response

V2_PREFIX = "#/definitions/"
V3_PREFIX = "#/components/schemas/"
JSON_PREFIX = "#/$defs/"
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
# Always in a document, as the API server's are: what every write answers or accepts.
COMMON = (
    "io.k8s.apimachinery.pkg.apis.meta.v1.Status",
    "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions",
    "io.k8s.apimachinery.pkg.apis.meta.v1.Patch",
)
PATCH_TYPES = (
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
)
_build_lock = threading.Lock()


@cache
def source_definitions() -> dict[str, dict]:
    """The official definitions, JSON-schema flavoured (`$defs`, nullable type lists)."""
    version = next(v for v in reversed(all_versions()) if major_minor(v) <= KUBERNETES)
    root = importlib.resources.files("kubernetes_validate") / "kubernetes-json-schema"
    path = root / f"v{version}-local" / "_definitions.json"
    return json.loads(path.read_text())["$defs"]


def gvk(res: Resource, kind: str = "") -> dict:
    return {"group": res.group, "version": res.version, "kind": kind or res.kind}


@cache
def by_gvk() -> dict[tuple[str, str, str], str]:
    """(group, version, kind) -> definition name, for every kind the schemas declare."""
    out = {}
    for name, schema in source_definitions().items():
        for g in schema.get("x-kubernetes-group-version-kind", []):
            out.setdefault((g["group"], g["version"], g["kind"]), name)
    return out


def custom_name(res: Resource, kind: str) -> str:
    """A CRD's definition name: the group reversed, "org.chaos-mesh.v1alpha1.PodChaos"."""
    return ".".join([*reversed(res.group.split(".")), res.version, kind])


def permissive(res: Resource, kind: str) -> dict:
    """A kind without an official schema: any field goes, as for a CRD without one."""
    meta = "io.k8s.apimachinery.pkg.apis.meta.v1." + (
        "ListMeta" if kind.endswith("List") else "ObjectMeta"
    )
    return {
        "description": f"{kind} of {res.group}/{res.version}: its fields are not checked.",
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string", "description": "APIVersion of the object."},
            "kind": {"type": "string", "description": "Kind of the object."},
            "metadata": {"$ref": JSON_PREFIX + meta, "description": "Standard metadata."},
        },
        "x-kubernetes-preserve-unknown-fields": True,
        "x-kubernetes-group-version-kind": [gvk(res, kind)],
    }


def kind_name(res: Resource, kind: str = "") -> str:
    kind = kind or res.kind
    return by_gvk().get((res.group, res.version, kind)) or custom_name(res, kind)


@cache
def definitions() -> dict[str, dict]:
    """The official definitions plus a permissive one for each registry kind they lack."""
    out = dict(source_definitions())
    for res in RESOURCES:
        for kind in (res.kind, res.list_kind):
            if (res.group, res.version, kind) not in by_gvk():
                out[custom_name(res, kind)] = permissive(res, kind)
    return out


def closure(names) -> list[str]:
    """The definitions `names` refer to, directly or not, themselves included."""
    defs, seen, todo = definitions(), set(), list(names)
    while todo:
        name = todo.pop()
        if name in seen or name not in defs:
            continue
        seen.add(name)
        todo.extend(refs(defs[name]))
    return sorted(seen)


def refs(schema) -> list[str]:
    if isinstance(schema, dict):
        found = [schema["$ref"].removeprefix(JSON_PREFIX)] if "$ref" in schema else []
        for value in schema.values():
            found.extend(refs(value))
        return found
    if isinstance(schema, list):
        return [r for item in schema for r in refs(item)]
    return []


def convert(schema, prefix: str, v3: bool):
    """A JSON-schema definition as OpenAPI writes it: one type (no "null"), `$ref`s into
    the document (wrapped in `allOf` in v3 when the reference carries a description, as the
    API server does); IntOrString and Quantity are a `oneOf` in v3 and strings in v2."""
    if isinstance(schema, list):
        return [convert(item, prefix, v3) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, value in schema.items():
        if key == "$ref":
            continue
        if key == "type" and isinstance(value, list):
            value = next((t for t in value if t != "null"), "string")
        elif key == "oneOf" and not v3:
            continue
        elif key == "properties":
            value = {k: convert(v, prefix, v3) for k, v in value.items()}
            for fixed in ("apiVersion", "kind"):  # the generator's enums: not the server's
                if isinstance(value.get(fixed), dict):
                    value[fixed].pop("enum", None)
            out[key] = value
            continue
        out[key] = convert(value, prefix, v3)
    if "oneOf" in schema and not v3:  # v3 keeps the choice, v2 writes such types as strings
        out["type"] = "string"
    if "$ref" in schema:
        target = prefix + schema["$ref"].removeprefix(JSON_PREFIX)
        if v3 and out:
            out["allOf"] = [{"$ref": target}]
        else:
            out = {"$ref": target, **out}
    return out


def converted(name: str, prefix: str, v3: bool) -> dict:
    schema = convert(copy.deepcopy(definitions()[name]), prefix, v3)
    if name == INT_OR_STRING and not v3:
        schema["format"] = "int-or-string"
    return schema


# --- paths -------------------------------------------------------------------------------------


def gv_path(res: Resource) -> str:
    """The group-version's key in the v3 index, and its URL prefix: "api/v1", "apis/apps/v1"."""
    return f"apis/{res.group}/{res.version}" if res.group else f"api/{res.version}"


def operation_id(action: str, res: Resource, namespaced: bool, kind: str) -> str:
    """As the API server names them: patchAppsV1NamespacedDeployment, listCoreV1Pod..."""
    words = res.group.removesuffix(".k8s.io").replace("-", ".").split(".") if res.group else []
    group = "".join(w.capitalize() for w in words) or "Core"
    where = "Namespaced" if namespaced else ""
    return f"{action}{group}{res.version.capitalize()}{where}{kind}"


def parameter(name: str, where: str, description: str, v3: bool, kind: str = "string") -> dict:
    out = {"name": name, "in": where, "description": description}
    if where == "path":
        out["required"] = True
    if v3:
        out["schema"] = {"type": kind, "uniqueItems": True}
    else:
        out.update(type=kind, uniqueItems=True)
    return out


QUERY = {
    "dryRun": "When present, indicates that modifications should not be persisted. "
    "Valid values are: All (all dry run stages will be processed).",
    "fieldManager": "A name associated with the actor or entity that is making these changes.",
    "fieldValidation": "How the server handles unknown fields in the request: Ignore, Warn "
    "(the default: one warning header per unknown field) or Strict (the request fails).",
    "force": "Force is going to force Apply requests: the applied fields take ownership.",
    "labelSelector": "A selector to restrict the list of returned objects by their labels.",
    "fieldSelector": "A selector to restrict the list of returned objects by their fields.",
    "limit": "The maximum number of responses to return for a list call.",
    "continue": "The continue token of a previous, paginated list call.",
    "resourceVersion": "Which resource versions the request may be served from.",
    "watch": "Watch for changes to the described resources and return them as a stream.",
    "timeoutSeconds": "Timeout for the list/watch call.",
    "gracePeriodSeconds": "The duration in seconds before the object should be deleted.",
    "propagationPolicy": "Whether and how garbage collection will be performed.",
}
QUERY_TYPES = {"force": "boolean", "limit": "integer", "timeoutSeconds": "integer"}
QUERY_TYPES |= {"watch": "boolean", "gracePeriodSeconds": "integer"}
ACTIONS = {
    # verb: (HTTP method, x-kubernetes-action, on the item path, query parameters)
    "list": (
        "get",
        "list",
        False,
        (
            "labelSelector",
            "fieldSelector",
            "limit",
            "continue",
            "resourceVersion",
            "watch",
            "timeoutSeconds",
        ),
    ),
    "create": ("post", "post", False, ("dryRun", "fieldManager", "fieldValidation")),
    "get": ("get", "get", True, ()),
    "update": ("put", "put", True, ("dryRun", "fieldManager", "fieldValidation")),
    "patch": ("patch", "patch", True, ("dryRun", "fieldManager", "fieldValidation", "force")),
    "delete": ("delete", "delete", True, ("dryRun", "gracePeriodSeconds", "propagationPolicy")),
}


def operation(res: Resource, verb: str, prefix: str, v3: bool, *, namespaced: bool) -> dict:
    _, action, _, query = ACTIONS[verb]
    kind = res.list_kind if verb == "list" else res.kind
    ref = {"$ref": prefix + kind_name(res, kind)}
    op = {
        "description": f"{verb} {'a' if action != 'list' else 'objects of kind'} {res.kind}",
        "operationId": operation_id(
            {"create": "create", "update": "replace"}.get(verb, verb), res, namespaced, res.kind
        ),
        "tags": [gv_path(res).removeprefix("apis/").removeprefix("api/").replace("/", "_")],
        "parameters": [
            parameter(q, "query", QUERY[q], v3, QUERY_TYPES.get(q, "string")) for q in query
        ],
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk(res),
    }
    body = (
        {"$ref": prefix + "io.k8s.apimachinery.pkg.apis.meta.v1.Patch"} if verb == "patch" else ref
    )
    if verb in ("create", "update", "patch"):
        types = PATCH_TYPES if verb == "patch" else ("application/json",)
        if v3:
            op["requestBody"] = {
                "content": {t: {"schema": body} for t in types},
                "required": True,
            }
        else:
            op["consumes"] = list(types)
            op["parameters"].insert(
                0, {"name": "body", "in": "body", "required": True, "schema": body}
            )
    codes = {"create": ("200", "201", "202"), "delete": ("200", "202")}.get(verb, ("200",))
    if v3:
        content = {"application/json": {"schema": ref}}
        op["responses"] = {c: {"description": "OK", "content": content} for c in codes}
    else:
        op["produces"] = ["application/json"]
        op["responses"] = {c: {"description": "OK", "schema": ref} for c in codes}
    return op


def resource_paths(res: Resource, prefix: str, v3: bool) -> dict[str, dict]:
    base = "/" + gv_path(res)
    scope = f"{base}/namespaces/{{namespace}}" if res.namespaced else base
    where = {
        False: f"{scope}/{res.plural}",
        True: f"{scope}/{res.plural}/{{name}}",
    }
    paths: dict[str, dict] = {}
    for verb in ("list", "create", "get", "update", "patch", "delete"):
        if verb not in res.verbs:
            continue
        method, _, item, _ = ACTIONS[verb]
        item_path = paths.setdefault(where[item], {"parameters": path_parameters(res, item, v3)})
        item_path[method] = operation(res, verb, prefix, v3, namespaced=res.namespaced)
    if res.namespaced and "list" in res.verbs:  # across namespaces
        op = operation(res, "list", prefix, v3, namespaced=False)
        op["operationId"] = op["operationId"].replace(res.kind, f"{res.kind}ForAllNamespaces")
        paths[f"{base}/{res.plural}"] = {"get": op}
    return paths


def path_parameters(res: Resource, item: bool, v3: bool) -> list[dict]:
    out = []
    if item:
        out.append(parameter("name", "path", f"name of the {res.kind}", v3))
    if res.namespaced:
        out.append(parameter("namespace", "path", "object name and auth scope", v3))
    return out


# --- documents ---------------------------------------------------------------------------------

INFO = {"title": "Kubernetes", "version": f"v{KUBERNETES}.0"}


def schemas_for(resources: list[Resource], prefix: str, v3: bool) -> dict[str, dict]:
    names = [kind_name(r, k) for r in resources for k in (r.kind, r.list_kind)]
    return {n: converted(n, prefix, v3) for n in closure([*names, *COMMON])}


def v2_document() -> dict:
    paths: dict[str, dict] = {}
    for res in RESOURCES:
        paths.update(resource_paths(res, V2_PREFIX, False))
    return {
        "swagger": "2.0",
        "info": INFO,
        "paths": paths,
        "definitions": schemas_for(RESOURCES, V2_PREFIX, False),
    }


def v3_document(resources: list[Resource]) -> dict:
    paths: dict[str, dict] = {}
    for res in resources:
        paths.update(resource_paths(res, V3_PREFIX, True))
    return {
        "openapi": "3.0.0",
        "info": INFO,
        "paths": paths,
        "components": {"schemas": schemas_for(resources, V3_PREFIX, True)},
    }


@cache
def v2_bytes() -> bytes:
    return json.dumps(v2_document(), separators=(",", ":")).encode()


@cache
def v3_documents() -> dict[str, tuple[bytes, str]]:
    """Each group-version's document, serialized, with its hash: "apis/apps/v1" -> (...)."""
    by_gv: dict[str, list[Resource]] = {}
    for res in RESOURCES:
        by_gv.setdefault(gv_path(res), []).append(res)
    out = {}
    for key, resources in by_gv.items():
        data = json.dumps(v3_document(resources), separators=(",", ":")).encode()
        out[key] = (data, hashlib.sha512(data).hexdigest().upper())
    return out


def built(build):
    """One thread builds a document, the others wait for it (a second or so, once)."""
    with _build_lock:
        return build()


def serve(req: Request, rest: list[str]) -> Response:
    """GET /openapi/v2, /openapi/v3 and /openapi/v3/<group-version>; the documents are JSON
    whatever the Accept header asks for (the server has no protobuf encoding)."""
    if req.method != "GET":
        raise ApiError(405, "MethodNotAllowed", f"{req.method} is not supported here")
    if rest == ["v2"]:
        return Response(200, built(v2_bytes), headers={"ETag": '"sandbox-v2"'})
    if rest[:1] == ["v3"]:
        docs = built(v3_documents)
        visible = {
            k: v for k, v in docs.items() if req.metrics_api or k != f"apis/{METRICS_GROUP}/v1beta1"
        }
        if len(rest) == 1:
            return Response(200, index(visible))
        found = visible.get("/".join(rest[1:]))
        if found:
            return Response(200, found[0], headers={"ETag": f'"{found[1]}"'})
    raise ApiError(404, "NotFound", "the server could not find the requested resource")


def index(docs: dict[str, tuple[bytes, str]]) -> dict:
    return {
        "paths": {
            key: {"serverRelativeURL": f"/openapi/v3/{key}?hash={digest}"}
            for key, (_, digest) in sorted(docs.items())
        }
    }
