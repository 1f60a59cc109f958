"""Routing: discovery documents, and each path to its handler under the sandbox lock."""

import logging

from ..patch import PatchError
from ..resources import BY_PATH, METRICS_GROUP, RESOURCES, Resource, groups
from ..selectors import SelectorError
from . import authz, openapi
from .apply import apply_object, is_apply
from .base import ApiError, Request, Response, qualified
from .fields import check_fields
from .reads import get_metrics, get_object, list_objects
from .subresources import subresource
from .writes import create_object, delete_object, patch_object, update_object

log = logging.getLogger(__package__)  # "apps.clusters.sandbox.api", as before the split


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


def handle(sb, req: Request) -> Response:
    try:
        with sb.lock:
            return route(sb, req)
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


def route(sb, req: Request) -> Response:
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
        return Response(200, group_list(req.metrics_api))
    if parts[:1] == ["openapi"]:
        return openapi.serve(req, parts[1:])
    if parts[:1] == ["api"] and len(parts) >= 2:
        return resource_route(sb, req, "", parts[1], parts[2:])
    if parts[:1] == ["apis"] and len(parts) == 2:
        info = next((g for g in groups() if g.name == parts[1]), None)
        if info is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return Response(200, group_info(info))
    if parts[:1] == ["apis"] and len(parts) >= 3:
        return resource_route(sb, req, parts[1], parts[2], parts[3:])
    raise ApiError(404, "NotFound", "the server could not find the requested resource")


def group_info(info) -> dict:
    versions = [{"groupVersion": f"{info.name}/{v}", "version": v} for v in info.versions]
    return {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": info.name,
        "versions": versions,
        "preferredVersion": versions[0],
    }


def group_list(metrics_api: bool = True) -> dict:
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [group_info(g) for g in groups() if metrics_api or g.name != METRICS_GROUP],
    }


def resource_list(group: str, version: str) -> dict:
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
            verbs = {
                "eviction": ["create"],
                "log": ["get"],
                "scale": ["get", "patch", "update"],
            }.get(sub, ["get", "patch", "update"])
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


def resource_route(sb, req: Request, group: str, version: str, rest: list[str]) -> Response:
    if not rest:
        if not any((r.group, r.version) == (group, version) for r in RESOURCES):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return Response(200, resource_list(group, version))
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
    if res.group == authz.GROUP:  # any caller may ask what it may do
        return authz.review(req, res)
    if req.nothing or (req.method != "GET" and req.readonly):
        raise forbidden(req, res, namespace, name, sub)
    warnings = [] if sub or res.group == METRICS_GROUP else check_fields(req, res)
    resp = dispatch(sb, req, res, namespace, name, sub)
    if warnings:
        resp.headers["Warning"] = ", ".join(warnings)
    return resp


def dispatch(sb, req: Request, res: Resource, namespace: str, name: str, sub: str) -> Response:
    if res.group == METRICS_GROUP:
        if req.metrics_api == "broken":  # registered, but metrics-server is down
            raise ApiError(
                503, "ServiceUnavailable", "the server is currently unable to handle the request"
            )
        return get_metrics(sb, req, res, namespace, name)
    if sub:
        return subresource(sb, req, res, namespace, name, sub)
    if not name:
        if req.method == "GET":
            return list_objects(sb, req, res, namespace)
        if req.method == "POST":
            return create_object(sb, req, res, namespace)
        raise ApiError(405, "MethodNotAllowed", f"{req.method} is not supported on a list")
    handler = {
        "GET": get_object,
        "PUT": update_object,
        "PATCH": patch_object,
        "DELETE": delete_object,
    }.get(req.method)
    if is_apply(req):
        handler = apply_object
    if handler is None:
        raise ApiError(405, "MethodNotAllowed", f"{req.method} is not supported here")
    return handler(sb, req, res, namespace, name)


def forbidden(req: Request, res: Resource, namespace: str, name: str, sub: str) -> ApiError:
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
