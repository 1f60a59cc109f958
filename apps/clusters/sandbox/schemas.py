"""The official OpenAPI schemas of the objects the sandbox stores, as kubernetes-validate ships
them (strict: a field the schema does not declare is an error), for the version the sandbox
reports. One validator per kind, built once: the package itself rereads 1.3 MB of definitions
on every call."""

import importlib.resources
import json
import re
from functools import cache

import jsonschema
from jsonschema.exceptions import ValidationError, best_match
from kubernetes_validate.utils import all_versions, major_minor
from referencing import Registry, Resource

KUBERNETES = "1.31"  # what the sandbox's /version reports


@cache
def schema_dir():
    version = next(v for v in reversed(all_versions()) if major_minor(v) <= KUBERNETES)
    root = importlib.resources.files("kubernetes_validate") / "kubernetes-json-schema"
    return root / f"v{version}-local-strict"


def schema_name(kind: str, api_version: str) -> str:
    """The package's file for a kind: "service-v1", "role-rbac-v1", "ingress-networking-v1"."""
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    return f"{kind.lower()}-{group_version}"


@cache
def validator(name: str) -> jsonschema.Draft202012Validator:
    directory = schema_dir()
    contents = json.loads((directory / f"{name}.json").read_text())
    definitions = json.loads((directory / "_definitions.json").read_text())
    registry = Resource.from_contents(definitions) @ (Resource.from_contents(contents) @ Registry())
    return jsonschema.Draft202012Validator(contents, registry=registry)


def field_path(parts) -> str:
    """A JSON path as the API server writes it in a Status: spec.ports[0].port."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def first_violation(obj: dict) -> tuple[str, str, str] | None:
    """(field, message, reason) of the most relevant violation of obj's schema, or None."""
    error = best_match(validator(schema_name(obj["kind"], obj["apiVersion"])).iter_errors(obj))
    if error is None:
        return None
    return describe(error)


def describe(error: ValidationError) -> tuple[str, str, str]:
    where = list(error.absolute_path)
    if error.validator == "additionalProperties":
        known = set((error.schema.get("properties") or {}).keys())
        extra = sorted(set(error.instance) - known)
        name = field_path([*where, extra[0]]) if extra else field_path(where)
        return name, f'unknown field "{name}"', "FieldValueNotSupported"
    if error.validator == "required":
        missing = re.search(r"'([^']+)' is a required property", error.message)
        name = field_path([*where, missing.group(1)]) if missing else field_path(where)
        return name, "Required value", "FieldValueRequired"
    value = json.dumps(error.instance)
    if len(value) > 60:
        value = value[:57] + "..."
    return field_path(where), f"Invalid value: {value}: {_plain(error)}", "FieldValueInvalid"


def _plain(error: ValidationError) -> str:
    if error.validator == "type":
        expected = error.validator_value
        names = expected if isinstance(expected, list) else [expected]
        return f"expected {' or '.join(names)}"
    if error.validator == "enum":
        return "supported values: " + ", ".join(json.dumps(v) for v in error.validator_value)
    return error.message
