"""The API server's defaulting and validation of the fields the controllers rely on."""

import json

from ...quantity import QuantityError, parse
from ..builders import job_defaults
from ..resources import Resource
from ..selectors import SelectorError, selector_from_match
from .base import ApiError


def invalid(
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
    elif res.kind == "Job":
        job_defaults(obj)


def validate(res: Resource, obj: dict) -> None:
    spec = obj.get("spec") or {}
    if res.kind in ("Deployment", "ReplicaSet"):
        _validate_count(res, obj, spec, "replicas", 1)
        validate_selector(res, obj, spec)
        template = spec.get("template") or {}
        validate_pod_spec(res, obj, template.get("spec") or {}, "spec.template.spec")
    elif res.kind == "Job":
        _validate_job(res, obj, spec)
    elif res.kind == "Pod":
        validate_pod_spec(res, obj, spec, "spec")
    elif res.kind == "HorizontalPodAutoscaler":
        validate_hpa(res, obj, spec)


def _validate_count(res: Resource, obj: dict, spec: dict, key: str, default_value: int) -> None:
    value = spec.get(key, default_value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise invalid(
            res,
            obj,
            f"spec.{key}",
            f"Invalid value: {json.dumps(value)}: must be greater than or equal to 0",
        )


def _validate_job(res: Resource, obj: dict, spec: dict) -> None:
    """batch/v1: counts, a pod template with containers that does not restart Always."""
    for key in ("backoffLimit", "completions", "parallelism"):
        _validate_count(res, obj, spec, key, 1)
    pod_spec = (spec.get("template") or {}).get("spec") or {}
    validate_pod_spec(res, obj, pod_spec, "spec.template.spec")
    policy = pod_spec.get("restartPolicy") or "Always"  # the pod default the API server sets
    if policy not in ("OnFailure", "Never"):
        raise invalid(
            res,
            obj,
            "spec.template.spec.restartPolicy",
            f'Unsupported value: "{policy}": supported values: "OnFailure", "Never"',
            reason="FieldValueNotSupported",
        )
    validate_selector(res, obj, spec)


def validate_selector(res: Resource, obj: dict, spec: dict) -> None:
    """apps/v1 requires a selector, and it must select the pods of the template."""
    selector = spec.get("selector")
    if not isinstance(selector, dict) or not (
        selector.get("matchLabels") or selector.get("matchExpressions")
    ):
        raise invalid(res, obj, "spec.selector", "Required value", reason="FieldValueRequired")
    try:
        matcher = selector_from_match(selector)
    except SelectorError as exc:
        raise invalid(res, obj, "spec.selector", f"Invalid value: {exc}") from None
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    if not matcher.matches(labels):
        raise invalid(
            res,
            obj,
            "spec.template.metadata.labels",
            f"Invalid value: {json.dumps(labels)}: `selector` does not match template `labels`",
        )


def validate_pod_spec(res: Resource, obj: dict, pod_spec: dict, where: str) -> None:
    containers = pod_spec.get("containers")
    if not containers:
        raise invalid(
            res, obj, f"{where}.containers", "Required value", reason="FieldValueRequired"
        )
    for i, c in enumerate(containers):
        if not c.get("name") or not c.get("image"):
            raise invalid(
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
                    raise invalid(
                        res,
                        obj,
                        field_path,
                        f"Invalid value: {json.dumps(value)}: "
                        "quantities must match the regular expression "
                        "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
                    ) from None
                if amount < 0:
                    raise invalid(
                        res,
                        obj,
                        field_path,
                        f"Invalid value: {json.dumps(value)}: must be greater than or equal to 0",
                    )
                amounts.setdefault(kind, {})[rname] = (value, amount)
        for rname, (value, amount) in amounts.get("requests", {}).items():
            limit = amounts.get("limits", {}).get(rname)
            if limit is not None and amount > limit[1]:
                raise invalid(
                    res,
                    obj,
                    f"{where}.containers[{i}].resources.requests",
                    f"Invalid value: {json.dumps(value)}: must be less than or equal to "
                    f"{rname} limit of {limit[0]}",
                )


def validate_hpa(res: Resource, obj: dict, spec: dict) -> None:
    ref = spec.get("scaleTargetRef") or {}
    for key in ("kind", "name"):
        if not ref.get(key):
            raise invalid(
                res,
                obj,
                f"spec.scaleTargetRef.{key}",
                "Required value",
                reason="FieldValueRequired",
            )
    low, high = spec.get("minReplicas", 1), spec.get("maxReplicas")
    if not isinstance(low, int) or isinstance(low, bool) or low < 1:
        raise invalid(
            res,
            obj,
            "spec.minReplicas",
            f"Invalid value: {json.dumps(low)}: must be greater than or equal to 1",
        )
    if not isinstance(high, int) or isinstance(high, bool) or high < low:
        raise invalid(
            res,
            obj,
            "spec.maxReplicas",
            f"Invalid value: {json.dumps(high)}: must be greater than or equal to `minReplicas`",
        )
