"""What an action will do: its parameters, checked, and the fingerprint approvals bind to."""

import hashlib
import json

from apps.clusters.quantity import QuantityError, parse

from ..action_models import CHAOS_KINDS, Kind
from ..errors import ValidationFailed

MAX_REPLICAS = 1000


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


def _clean_parameters(kind: str, parameters: dict) -> dict:
    p = dict(parameters or {})
    if kind == Kind.SCALE:
        replicas = p.get("replicas")
        if (
            not isinstance(replicas, int)
            or isinstance(replicas, bool)
            or not (0 <= replicas <= MAX_REPLICAS)
        ):
            raise ValidationFailed(
                f"replicas must be a whole number from 0 to {MAX_REPLICAS}",
                field="parameters.replicas",
            )
    elif kind == Kind.ROLLOUT_UNDO:
        revision = p.get("revision")
        if not isinstance(revision, int) or revision < 1:
            raise ValidationFailed(
                "revision must be a positive whole number", field="parameters.revision"
            )
    elif kind == Kind.PATCH_RESOURCES:
        if not isinstance(p.get("container"), str) or not p["container"]:
            raise ValidationFailed("container is required", field="parameters.container")
        for part in ("requests", "limits"):
            values = p.get(part) or {}
            if not isinstance(values, dict) or set(values) - {"cpu", "memory"}:
                raise ValidationFailed(
                    f"{part} may set cpu and memory only", field=f"parameters.{part}"
                )
            for name, value in values.items():
                try:
                    if parse(value) <= 0:
                        raise QuantityError(value)
                except QuantityError:
                    raise ValidationFailed(
                        f"{part}.{name}: {value!r} is not a positive quantity",
                        field=f"parameters.{part}.{name}",
                    ) from None
        if not p.get("requests") and not p.get("limits"):
            raise ValidationFailed("give requests or limits", field="parameters")
    elif kind in CHAOS_KINDS:
        p.setdefault("duration", "60s")
        if kind == Kind.CHAOS_NETWORK_DELAY:
            p.setdefault("latency", "200ms")
    return p
