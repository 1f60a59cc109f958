"""authorization.k8s.io: what the caller may do, as `kubectl auth can-i` asks it.

The sandbox authorizes by token (server.py): the admin token may do everything (as
system:masters), the viewer token may get, list and watch everything, and the nobody token
may do nothing but discovery. The reviews answer from the same rules the routes enforce, so
"yes" means the request would pass and "no" that it would be refused with 403. Any
authenticated caller may ask about itself, as system:basic-user allows on a real cluster.
"""

import json

from ..resources import Resource
from .base import ApiError, Request, Response

GROUP = "authorization.k8s.io"
READ_VERBS = ("get", "list", "watch")
SELF_REVIEWS = ("selfsubjectaccessreviews", "selfsubjectrulesreviews")
# Non-resource URLs every authenticated caller may GET (system:discovery, system:public-info).
DISCOVERY = (
    "/api",
    "/api/*",
    "/apis",
    "/apis/*",
    "/healthz",
    "/livez",
    "/readyz",
    "/version",
    "/version/",
    "/openapi",
    "/openapi/*",
)


def role(req: Request) -> str:
    return "nobody" if req.nothing else ("viewer" if req.readonly else "admin")


def user(req: Request) -> str:
    return f"sandbox:{role(req)}"


def decide(req: Request, verb: str, group: str, resource: str) -> tuple[bool, str]:
    """(allowed, reason) for a resource request, as the routes would answer it."""
    who = role(req)
    if group == GROUP and resource in SELF_REVIEWS and verb == "create":
        return (
            True,
            'RBAC: allowed by ClusterRoleBinding "system:basic-user" of ClusterRole '
            '"system:basic-user" to Group "system:authenticated"',
        )
    if who == "admin":
        return (
            True,
            'RBAC: allowed by ClusterRoleBinding "cluster-admin" of ClusterRole '
            '"cluster-admin" to Group "system:masters"',
        )
    if who == "viewer" and verb in READ_VERBS:
        return (
            True,
            'RBAC: allowed by ClusterRoleBinding "sandbox-view" of ClusterRole '
            '"view" to User "sandbox:viewer"',
        )
    return False, ""


def decide_url(req: Request, verb: str, path: str) -> tuple[bool, str]:
    if role(req) == "admin":
        return decide(req, verb, "*", "*")
    public = any(path == p or (p.endswith("*") and path.startswith(p[:-1])) for p in DISCOVERY)
    if verb == "get" and public:
        return (
            True,
            'RBAC: allowed by ClusterRoleBinding "system:discovery" of ClusterRole '
            '"system:discovery" to Group "system:authenticated"',
        )
    return False, ""


def review(req: Request, res: Resource) -> Response:
    """POST a SelfSubjectAccessReview or a SelfSubjectRulesReview: the review, answered."""
    if req.method != "POST":
        raise ApiError(405, "MethodNotAllowed", f"{req.method} is not supported on {res.plural}")
    body = review_body(req, res)
    spec = body.get("spec") if isinstance(body.get("spec"), dict) else {}
    if res.plural == "selfsubjectaccessreviews":
        body["status"] = access(req, res, body, spec)
    else:
        body["status"] = rules(req, spec)
    body.setdefault("metadata", {})["creationTimestamp"] = None
    return Response(201, body)


def review_body(req: Request, res: Resource) -> dict:
    """The review as JSON, or as the protobuf newer kubectl versions send for built-in kinds."""
    if "protobuf" in req.headers.get("content-type", ""):
        body = from_protobuf(req.body, res)
    else:
        try:
            body = json.loads(req.body or b"{}")
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError(400, "BadRequest", f"the request body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "BadRequest", "the request body must be a JSON object")
    body["kind"], body["apiVersion"] = res.kind, res.api_version
    return body


# Field numbers of authorization/v1's generated.proto, for the fields the reviews read.
RESOURCE_ATTRIBUTES = {
    1: "namespace",
    2: "verb",
    3: "group",
    4: "version",
    5: "resource",
    6: "subresource",
    7: "name",
}
NON_RESOURCE_ATTRIBUTES = {1: "path", 2: "verb"}


def from_protobuf(data: bytes, res: Resource) -> dict:
    """A review in Kubernetes' protobuf envelope ("k8s\\0", then runtime.Unknown whose field 2
    is the object), as JSON: only the spec's strings are read."""
    if not data.startswith(b"k8s\x00"):
        raise ApiError(400, "BadRequest", "the request body is not a Kubernetes protobuf object")
    try:
        spec = fields(first(fields(first(fields(data[4:]), 2)), 2))
        if res.plural == "selfsubjectrulesreviews":
            return {"spec": strings(spec, {1: "namespace"})}
        out: dict = {}
        if 1 in spec:
            out["resourceAttributes"] = strings(fields(spec[1][0]), RESOURCE_ATTRIBUTES)
        if 2 in spec:
            out["nonResourceAttributes"] = strings(fields(spec[2][0]), NON_RESOURCE_ATTRIBUTES)
    except (IndexError, KeyError, UnicodeDecodeError, ValueError) as exc:
        raise ApiError(400, "BadRequest", f"the protobuf body cannot be read: {exc}") from exc
    return {"spec": out}


def strings(message: dict[int, list[bytes]], names: dict[int, str]) -> dict:
    return {names[n]: v[0].decode() for n, v in message.items() if n in names and v[0]}


def first(message: dict[int, list[bytes]], number: int) -> bytes:
    return message[number][0]


def fields(data: bytes) -> dict[int, list[bytes]]:
    """A protobuf message's length-delimited fields by number (varints are skipped)."""
    out: dict[int, list[bytes]] = {}
    pos = 0
    while pos < len(data):
        key, pos = varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            _, pos = varint(data, pos)
        elif wire == 2:
            size, pos = varint(data, pos)
            out.setdefault(number, []).append(data[pos : pos + size])
            pos += size
        else:
            raise ValueError(f"unexpected wire type {wire}")
    return out


def varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def access(req: Request, res: Resource, body: dict, spec: dict) -> dict:
    attrs, url = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    if bool(attrs) == bool(url):
        raise invalid(
            res,
            "spec.resourceAttributes",
            "exactly one of nonResourceAttributes or resourceAttributes must be specified",
        )
    if attrs:
        allowed, reason = decide(
            req, attrs.get("verb") or "", attrs.get("group") or "", attrs.get("resource") or ""
        )
    else:
        allowed, reason = decide_url(req, url.get("verb") or "", url.get("path") or "")
    return {"allowed": allowed, **({"reason": reason} if reason else {})}


def rules(req: Request, spec: dict) -> dict:
    """What `kubectl auth can-i --list` prints: the caller's rules in spec.namespace."""
    who = role(req)
    resource_rules = [{"verbs": ["create"], "apiGroups": [GROUP], "resources": list(SELF_REVIEWS)}]
    url_rules = [{"verbs": ["get"], "nonResourceURLs": list(DISCOVERY)}]
    if who == "admin":
        resource_rules.insert(0, {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]})
        url_rules.insert(0, {"verbs": ["*"], "nonResourceURLs": ["*"]})
    elif who == "viewer":
        resource_rules.insert(
            0, {"verbs": list(READ_VERBS), "apiGroups": ["*"], "resources": ["*"]}
        )
    return {"resourceRules": resource_rules, "nonResourceRules": url_rules, "incomplete": False}


def invalid(res: Resource, field: str, message: str) -> ApiError:
    return ApiError(
        422,
        "Invalid",
        f"{res.kind}.{GROUP} is invalid: {field}: Invalid value: {message}",
        kind=res.kind,
        group=GROUP,
        causes=[{"reason": "FieldValueInvalid", "message": message, "field": field}],
    )
