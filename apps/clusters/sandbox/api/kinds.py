"""The kinds stored as their official schema says (strict: unknown fields refused), with the
API server's defaulting: a Secret's stringData folded into base64 data, a Service's cluster
IP and node ports allocated."""

import base64
import binascii
import hashlib
import ipaddress
import json

from ..resources import Resource
from ..schemas import first_violation
from .base import ApiError
from .validation import invalid
from .workloads import prepare_workload

SCHEMA_KINDS = frozenset(
    {
        "ServiceAccount",
        "Secret",
        "ConfigMap",
        "Service",
        "Endpoints",
        "Role",
        "ClusterRole",
        "RoleBinding",
        "ClusterRoleBinding",
        "Ingress",
        "NetworkPolicy",
        "StatefulSet",
        "DaemonSet",
        "CronJob",
    }
)
# Kinds whose schema has no status: the API server stores none.
STATUSLESS = frozenset(
    {
        "ServiceAccount",
        "Secret",
        "ConfigMap",
        "Endpoints",
        "Role",
        "ClusterRole",
        "RoleBinding",
        "ClusterRoleBinding",
        "NetworkPolicy",
    }
)
SERVICE_CIDR = ipaddress.ip_network("10.96.0.0/12")
RESERVED_IPS = {"10.96.0.1", "10.96.0.10"}  # the kubernetes and kube-dns Services
NODE_PORTS = range(30000, 32768)


def prepare(sb, res: Resource, obj: dict, current: dict | None = None) -> None:
    """Validate obj against its schema, then default it as the API server would."""
    if res.kind not in SCHEMA_KINDS:
        return
    check_schema(res, obj)
    if res.kind == "Secret":
        fold_string_data(res, obj)
    elif res.kind == "Service":
        default_service(sb, res, obj, current)
    elif res.kind in ("StatefulSet", "DaemonSet", "CronJob"):
        prepare_workload(res, obj)


def check_schema(res: Resource, obj: dict) -> None:
    found = first_violation(obj)
    if found is not None:
        field, message, reason = found
        raise invalid(res, obj, field, message, reason=reason)


def fold_string_data(res: Resource, obj: dict) -> None:
    """stringData is write-only: merged into data, base64, and never stored."""
    obj.setdefault("type", "Opaque")
    data = {}
    for key, value in (obj.get("data") or {}).items():
        try:  # as Go's decoder: line breaks (kustomize wraps at 70 columns) are skipped
            raw = base64.b64decode(value.replace("\r", "").replace("\n", ""), validate=True)
        except (binascii.Error, ValueError):
            raise invalid(res, obj, f"data[{key}]", "Invalid value: illegal base64 data") from None
        data[key] = base64.b64encode(raw).decode()  # stored as bytes, sent back unwrapped
    for key, value in (obj.pop("stringData", None) or {}).items():
        data[key] = base64.b64encode(value.encode()).decode()
    if data:
        obj["data"] = data


# --- Services ---------------------------------------------------------------------------


def default_service(sb, res: Resource, obj: dict, current: dict | None) -> None:
    spec = obj.setdefault("spec", {})
    kind = spec.setdefault("type", "ClusterIP")
    old = (current or {}).get("spec") or {}
    if kind != "ExternalName":
        spec.setdefault("sessionAffinity", "None")
        spec.setdefault("internalTrafficPolicy", "Cluster")
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        _cluster_ip(sb, res, obj, spec, old)
    for port in spec.get("ports") or []:
        port.setdefault("protocol", "TCP")
        port.setdefault("targetPort", port.get("port"))
    if kind in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
        if kind == "LoadBalancer":
            spec.setdefault("allocateLoadBalancerNodePorts", True)
        _node_ports(sb, res, obj, spec, old)
    if current is not None:  # the status is the control plane's: a write keeps it
        obj["status"] = current.get("status") or {"loadBalancer": {}}


def _cluster_ip(sb, res: Resource, obj: dict, spec: dict, old: dict) -> None:
    kept = old.get("clusterIP")
    wanted = spec.get("clusterIP") or (spec.get("clusterIPs") or [None])[0]
    if kept:
        if wanted and wanted != kept:
            raise invalid(
                res,
                obj,
                "spec.clusterIPs[0]",
                f"Invalid value: {json.dumps(wanted)}: may not change once set",
            )
        wanted = kept
    elif wanted and wanted != "None":
        try:
            address = ipaddress.ip_address(wanted)
        except ValueError:
            address = None
        if address is None or address not in SERVICE_CIDR:
            raise invalid(
                res,
                obj,
                "spec.clusterIPs[0]",
                f"Invalid value: {json.dumps(wanted)}: "
                f"the provided IP ({wanted}) is not in the valid range. "
                f"The range of valid IPs is {SERVICE_CIDR}",
            )
        if wanted in _taken_ips(sb, obj):
            raise invalid(
                res,
                obj,
                "spec.clusterIPs[0]",
                f"Invalid value: {json.dumps(wanted)}: "
                f"failed to allocate IP {wanted}: provided IP is already allocated",
            )
    elif not wanted:
        wanted = _free_ip(sb, obj)
    spec["clusterIP"] = wanted
    spec["clusterIPs"] = [wanted]


def _taken_ips(sb, obj: dict) -> set[str]:
    me = (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
    return RESERVED_IPS | {
        s["spec"].get("clusterIP")
        for s in sb.store.list("services")
        if (s["metadata"]["namespace"], s["metadata"]["name"]) != me
    }


def _free_ip(sb, obj: dict) -> str:
    """An address that follows from the Service's name (deterministic, no dice thrown) and the
    first free one after it."""
    taken = _taken_ips(sb, obj)
    size = SERVICE_CIDR.num_addresses - 2
    start = _hash(obj) % size
    for step in range(size):
        candidate = str(SERVICE_CIDR.network_address + 1 + (start + step) % size)
        if candidate not in taken:
            return candidate
    raise ApiError(500, "InternalError", "the service IP range is full")


def _node_ports(sb, res: Resource, obj: dict, spec: dict, old: dict) -> None:
    before = {p.get("port"): p.get("nodePort") for p in old.get("ports") or []}
    taken = {
        p.get("nodePort")
        for s in sb.store.list("services")
        if s["metadata"]["uid"] != obj["metadata"].get("uid")
        for p in s["spec"].get("ports") or []
    }
    start = _hash(obj) % len(NODE_PORTS)
    for i, port in enumerate(spec.get("ports") or []):
        wanted = port.get("nodePort") or before.get(port.get("port"))
        if wanted and wanted not in NODE_PORTS:
            raise invalid(
                res,
                obj,
                f"spec.ports[{i}].nodePort",
                f"Invalid value: {wanted}: provided port is not in the valid range. "
                f"The range of valid ports is {NODE_PORTS.start}-{NODE_PORTS.stop - 1}",
            )
        if wanted and wanted in taken:
            raise invalid(
                res,
                obj,
                f"spec.ports[{i}].nodePort",
                f"Invalid value: {wanted}: provided port is already allocated",
            )
        if not wanted:
            wanted = next(
                NODE_PORTS[(start + step) % len(NODE_PORTS)]
                for step in range(len(NODE_PORTS))
                if NODE_PORTS[(start + step) % len(NODE_PORTS)] not in taken
            )
        port["nodePort"] = wanted
        taken.add(wanted)


def _hash(obj: dict) -> int:
    meta = obj["metadata"]
    key = f"{meta.get('namespace', '')}/{meta['name']}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big")
