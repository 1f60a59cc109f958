"""What an action will do: its parameters, checked, and the fingerprint approvals bind to."""

import hashlib
import json
import re
from datetime import timedelta

from apps.clusters.labels import is_label_key, is_label_value
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


CHAOS_COMMON = frozenset({"duration", "mode", "value", "selector"})
CHAOS_MODES = ("one", "fixed", "fixed-percent", "all")  # Chaos Mesh's, random-max-percent aside
DIRECTIONS = ("to", "from", "both")
MAX_STRESS_WORKERS = 16
_CONTAINER = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")

ALLOWED = {
    Kind.SCALE: {"replicas"},
    Kind.ROLLOUT_UNDO: {"revision"},  # the template hash is the cluster's to fill in
    Kind.PATCH_RESOURCES: {"container", "requests", "limits"},
    # Every chaos kind: how long, which pods (Chaos Mesh's mode and value, and a label
    # selector that narrows the workload's pods), and what the fault itself needs.
    Kind.CHAOS_POD_KILL: CHAOS_COMMON,
    Kind.CHAOS_POD_FAILURE: CHAOS_COMMON,
    Kind.CHAOS_CONTAINER_KILL: CHAOS_COMMON | {"container"},
    Kind.CHAOS_NETWORK_DELAY: CHAOS_COMMON | {"latency", "jitter"},
    Kind.CHAOS_NETWORK_LOSS: CHAOS_COMMON | {"loss"},
    Kind.CHAOS_NETWORK_PARTITION: CHAOS_COMMON | {"direction"},
    Kind.CHAOS_STRESS: CHAOS_COMMON | {"workers", "load"},
    Kind.CHAOS_MEMORY_STRESS: CHAOS_COMMON | {"workers", "size"},
    Kind.CHAOS_NODE_NOT_READY: {"duration"},  # the node is the target: no pod selector
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
        _check_chaos(kind, p)
    return p


def _check_chaos(kind: str, p: dict) -> None:
    """Defaults filled in the one way (so two proposals of one fault compare equal), then
    every value checked."""
    p.setdefault("duration", "60s")
    _duration(p["duration"], CHAOS_MAX_DURATION, "parameters.duration")
    if kind == Kind.CHAOS_NODE_NOT_READY:
        return
    p.setdefault("mode", "one")
    if p["mode"] not in CHAOS_MODES:
        raise ValidationFailed(
            f"mode {p['mode']!r} is not one of {', '.join(CHAOS_MODES)}", field="parameters.mode"
        )
    if p["mode"] in ("fixed", "fixed-percent"):
        hi = 100 if p["mode"] == "fixed-percent" else MAX_COUNT
        value = p.get("value")
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        _whole(value, 1, hi, "parameters.value", f"value for mode {p['mode']}")
        p["value"] = str(value)  # Chaos Mesh's field is a string
    elif "value" in p:
        raise ValidationFailed(
            f"mode {p['mode']} takes no value (fixed and fixed-percent do)",
            field="parameters.value",
        )
    if "selector" in p:
        _check_selector(p["selector"])
    if kind == Kind.CHAOS_CONTAINER_KILL:
        c = p.get("container")
        if not isinstance(c, str) or not _CONTAINER.match(c):
            raise ValidationFailed(
                "container is required: the name of the container to kill",
                field="parameters.container",
            )
    elif kind == Kind.CHAOS_NETWORK_DELAY:
        p.setdefault("latency", "200ms")
        _duration(p["latency"], MAX_LATENCY, "parameters.latency")
        if "jitter" in p:
            _duration(p["jitter"], MAX_LATENCY, "parameters.jitter")
    elif kind == Kind.CHAOS_NETWORK_LOSS:
        loss = p.setdefault("loss", 25)
        if isinstance(loss, str) and loss.isdigit():
            loss = int(loss)
        _whole(loss, 1, 100, "parameters.loss", "loss (percent of packets)")
        p["loss"] = loss
    elif kind == Kind.CHAOS_NETWORK_PARTITION:
        p.setdefault("direction", "both")
        if p["direction"] not in DIRECTIONS:
            raise ValidationFailed(
                f"direction {p['direction']!r} is not one of {', '.join(DIRECTIONS)}",
                field="parameters.direction",
            )
    elif kind in (Kind.CHAOS_STRESS, Kind.CHAOS_MEMORY_STRESS):
        _whole(p.setdefault("workers", 1), 1, MAX_STRESS_WORKERS, "parameters.workers", "workers")
        if kind == Kind.CHAOS_STRESS:
            _whole(p.setdefault("load", 80), 1, 100, "parameters.load", "load (percent of a core)")
        else:
            _quantity("stress", "memory", p.setdefault("size", "256Mi"), field="parameters.size")


def _check_selector(selector) -> None:
    if not isinstance(selector, dict) or not selector:
        raise ValidationFailed(
            'selector must be an object of labels, e.g. {"app": "api"}', field="parameters.selector"
        )
    for key, value in selector.items():
        if not is_label_key(key):
            raise ValidationFailed(f"{key!r} is not a label key", field="parameters.selector")
        if not is_label_value(value):
            raise ValidationFailed(
                f"{value!r} is not a label value (for {key})", field="parameters.selector"
            )


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


def _quantity(part: str, name: str, value, *, field: str = "") -> None:
    field = field or f"parameters.{part}.{name}"
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
