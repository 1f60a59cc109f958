"""Field validation (`?fieldValidation=`) of the bodies of create, update, patch and apply.

The sandbox's OpenAPI documents tell kubectl that the server validates fields, so kubectl sends
`fieldValidation=Strict` (its default, `--validate=strict`) and leaves the check to the server:
a field the kind's schema does not declare fails the request with 400, naming the field as the
API server does. `Warn` (the server's default) answers with one Warning header per unknown
field, which kubectl prints; `Ignore` checks nothing. A JSON patch is not checked (the sandbox
looks at bodies, and a JSON patch names paths, not fields); a kind with a permissive schema
(custom resources) accepts any field.
"""

import json

import yaml

from ..patch import APPLY_PATCH, JSON_PATCH
from ..resources import Resource
from .base import ApiError, Request
from .openapi import JSON_PREFIX, definitions, kind_name

MODES = ("Ignore", "Warn", "Strict")


def check_fields(req: Request, res: Resource) -> list[str]:
    """The Warning header values for the request's unknown fields; raises if Strict."""
    if req.method not in ("POST", "PUT", "PATCH"):
        return []
    mode = req.query.get("fieldValidation") or "Warn"
    if mode not in MODES:
        raise ApiError(
            400,
            "BadRequest",
            f'fieldValidation: Unsupported value: "{mode}": supported values: '
            + ", ".join(f'"{m}"' for m in MODES),
        )
    media = req.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if mode == "Ignore" or not req.body or media == JSON_PATCH:
        return []
    body = decode(req.body, apply=media == APPLY_PATCH)
    if not isinstance(body, dict):
        return []  # the handler refuses the body with its own message
    unknown = unknown_fields(definitions()[kind_name(res)], body, "")
    if not unknown:
        return []
    if mode == "Strict":
        raise strict_error(res, unknown, apply=media == APPLY_PATCH)
    return ['299 - "unknown field \\"' + path + '\\""' for path in unknown]


def decode(body: bytes, *, apply: bool):
    try:
        return yaml.safe_load(body) if apply else json.loads(body)
    except (ValueError, UnicodeDecodeError, yaml.YAMLError):
        return None


def strict_error(res: Resource, unknown: list[str], *, apply: bool) -> ApiError:
    if apply:
        message = "; ".join(f".{path}: field not declared in schema" for path in unknown)
    else:
        fields = ", ".join(f'unknown field "{path}"' for path in unknown)
        message = (
            f'{res.kind} in version "{res.version}" cannot be handled as a {res.kind}: '
            f"strict decoding error: {fields}"
        )
    causes = [
        {"reason": "FieldValueInvalid", "message": f'unknown field "{p}"', "field": p}
        for p in unknown
    ]
    return ApiError(400, "BadRequest", message, causes=causes)


def unknown_fields(schema: dict, value, path: str) -> list[str]:
    """The paths of `value`'s fields that `schema` (JSON-schema flavoured) does not declare;
    patch directives ("$patch", "$setElementOrder/...") are not fields."""
    while "$ref" in schema:
        schema = definitions()[schema["$ref"].removeprefix(JSON_PREFIX)]
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return []
    out: list[str] = []
    if isinstance(value, dict):
        properties, extra = schema.get("properties"), schema.get("additionalProperties")
        for key, item in value.items():
            if key.startswith("$"):
                continue
            where = f"{path}.{key}" if path else key
            if properties is not None:
                if key in properties:
                    out += unknown_fields(properties[key], item, where)
                else:
                    out.append(where)
            elif isinstance(extra, dict):
                out += unknown_fields(extra, item, where)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            out += unknown_fields(schema["items"], item, f"{path}[{index}]")
    return out
