"""What an action will do: its parameters, checked, and the fingerprint approvals bind to."""

import hashlib
import json
import re
from datetime import timedelta

from apps.clusters.limits import MAX_COUNT, MAX_CPU_M, MAX_MEMORY, MAX_REPLICAS
from apps.clusters.quantity import QuantityError, cpu_millis, memory_bytes
from apps.core.errors import ValidationFailed

from ..action_models import CHAOS_KINDS, Kind


def fingerprint(
    *,
    kind: str,
    cluster_id: int,
    namespace: str,
    target_kind: str,
    target_name: str,
    target_uid: str,
    parameters: dict,
) -> str:
    doc = {
        "kind": kind,
        "cluster": cluster_id,
        "namespace": namespace,
        "target": [target_kind, target_name, target_uid],
        "parameters": parameters,
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


ALLOWED = {
    Kind.SCALE: {"replicas"},
    Kind.ROLLOUT_UNDO: {"revision"},  # the template hash is the cluster's to fill in
    Kind.PATCH_RESOURCES: {"container", "requests", "limits"},
    Kind.CHAOS_POD_KILL: {"duration"},
    Kind.CHAOS_NETWORK_DELAY: {"duration", "latency"},
    Kind.CHAOS_STRESS: {"duration"},
}
MAX_PARAMETERS_BYTES = 16 * 1024
CHAOS_MAX_DURATION = timedelta(hours=1)
MAX_LATENCY = timedelta(seconds=10)
_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?$")


def clean_parameters(kind: str, parameters: dict) -> dict:
    """The parameters checked for their kind: known keys only, no NUL, at most 16 KB, every
    number and quantity within what a cluster could hold. Raises ValidationFailed naming the
    field."""
    if not isinstance(parameters, dict):
        raise ValidationFailed("parameters must be an object", field="parameters")
    _check_size_and_text(parameters)
    p = dict(parameters)
    unknown = sorted(set(p) - ALLOWED.get(kind, set()))
    if unknown:
        allowed = ", ".join(sorted(ALLOWED.get(kind, set()))) or "none"
        raise ValidationFailed(
            f"{kind} takes no parameter {unknown[0]!r} (it takes: {allowed})",
            field=f"parameters.{unknown[0]}",
        )
    if kind == Kind.SCALE:
        _whole(p.get("replicas"), 0, MAX_REPLICAS, "parameters.replicas", "replicas")
    elif kind == Kind.ROLLOUT_UNDO:
        _whole(p.get("revision"), 1, MAX_COUNT, "parameters.revision", "revision")
    elif kind == Kind.PATCH_RESOURCES:
        _check_resources(p)
    elif kind in CHAOS_KINDS:
        p.setdefault("duration", "60s")
        _duration(p["duration"], CHAOS_MAX_DURATION, "parameters.duration")
        if kind == Kind.CHAOS_NETWORK_DELAY:
            p.setdefault("latency", "200ms")
            _duration(p["latency"], MAX_LATENCY, "parameters.latency")
    return p


def _check_size_and_text(parameters: dict) -> None:
    try:
        text = json.dumps(parameters, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValidationFailed(f"parameters are not plain JSON: {exc}", field="parameters") from exc
    if len(text.encode()) > MAX_PARAMETERS_BYTES:
        raise ValidationFailed(
            f"parameters are {len(text.encode()):,} bytes; at most {MAX_PARAMETERS_BYTES:,}",
            field="parameters",
        )
    if "\\u0000" in text:  # json.dumps escapes NUL; no database column holds one
        raise ValidationFailed("parameters may not contain NUL characters", field="parameters")


def _whole(value, lo: int, hi: int, field: str, name: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise ValidationFailed(f"{name} must be a whole number from {lo} to {hi}", field=field)


def _check_resources(p: dict) -> None:
    if not isinstance(p.get("container"), str) or not p["container"]:
        raise ValidationFailed("container is required", field="parameters.container")
    for part in ("requests", "limits"):
        values = p.get(part) or {}
        if not isinstance(values, dict) or set(values) - {"cpu", "memory"}:
            raise ValidationFailed(
                f"{part} may set cpu and memory only", field=f"parameters.{part}"
            )
        for name, value in values.items():
            _quantity(part, name, value)
    if not p.get("requests") and not p.get("limits"):
        raise ValidationFailed("give requests or limits", field="parameters")


def _quantity(part: str, name: str, value) -> None:
    field = f"parameters.{part}.{name}"
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ValidationFailed(f"{part}.{name}: {value!r} is not a quantity", field=field)
    try:
        amount = cpu_millis(value) if name == "cpu" else memory_bytes(value)
    except QuantityError:
        raise ValidationFailed(
            f"{part}.{name}: {value!r} is not a positive quantity", field=field
        ) from None
    hi = MAX_CPU_M if name == "cpu" else MAX_MEMORY
    if not 0 < amount <= hi:
        most = f"{hi // 1000} cores" if name == "cpu" else "1Pi"
        raise ValidationFailed(
            f"{part}.{name}: {value!r} is not a positive quantity of at most {most}", field=field
        )


def parse_duration(text) -> timedelta | None:
    """A Chaos Mesh duration ("90s", "5m", "1h30m", "200ms"), or None when it is not one."""
    m = _DURATION.match(text) if isinstance(text, str) and text else None
    if m is None or not any(m.groups()):
        return None
    h, mi, sec, ms = (int(g or 0) for g in m.groups())
    return timedelta(hours=h, minutes=mi, seconds=sec, milliseconds=ms)


def _duration(text, cap: timedelta, field: str) -> None:
    d = parse_duration(text)
    if d is None or d <= timedelta(0) or d > cap:
        raise ValidationFailed(
            f"{text!r} is not a duration from 1ms to {cap} (e.g. 90s, 5m, 200ms)", field=field
        )
