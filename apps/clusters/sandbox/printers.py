"""kubectl's columns for the kinds beyond pods, nodes and the core workloads, as a v1.31 API
server prints them (the column names, their types and which ones only `-o wide` shows)."""

from dataclasses import dataclass
from datetime import datetime

from .selectors import format_label_selector

ACCESS_MODES = {
    "ReadWriteOnce": "RWO",
    "ReadOnlyMany": "ROX",
    "ReadWriteMany": "RWX",
    "ReadWriteOncePod": "RWOP",
}


@dataclass(frozen=True)
class Column:
    name: str
    type: str = "string"
    priority: int = 0  # 1: only with -o wide

    def definition(self) -> dict:
        return {
            "name": self.name,
            "type": self.type,
            "format": "name" if self.name == "Name" else "",
            "description": self.name,
            "priority": self.priority,
        }


def _time(sb, stamp: str) -> datetime:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=sb.now.tzinfo)


def span(s: int) -> str:
    """An age as kubectl shows it: 45s, 5m, 3h, 2d (two units from twice the unit on)."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size * 2 or (unit == "m" and s >= 60):
            return f"{s // size}{unit}"
    return f"{max(s, 0)}s"


def age(sb, stamp: str) -> str:
    return span(int((sb.now - _time(sb, stamp)).total_seconds()))


def _more(items: list[str], limit: int = 3, sep: str = ",") -> str:
    if len(items) > limit:
        return sep.join(items[:limit]) + f" + {len(items) - limit} more..."
    return sep.join(items)


def _labels(selector: dict | None) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted((selector or {}).items())) or "<none>"


def _containers(template: dict) -> tuple[str, str]:
    containers = (template.get("spec") or {}).get("containers") or []
    return ",".join(c["name"] for c in containers), ",".join(c["image"] for c in containers)


def _name_age(sb, o: dict) -> tuple[str, str]:
    return o["metadata"]["name"], age(sb, o["metadata"]["creationTimestamp"])


# --- core/v1 ------------------------------------------------------------------------------


def service_row(sb, s: dict) -> list:
    spec = s["spec"]
    kind = spec.get("type", "ClusterIP")
    ports = [
        f"{p['port']}:{p['nodePort']}/{p.get('protocol', 'TCP')}"
        if p.get("nodePort")
        else f"{p['port']}/{p.get('protocol', 'TCP')}"
        for p in spec.get("ports") or []
    ]
    external = list(spec.get("externalIPs") or [])
    if kind == "LoadBalancer":
        ingress = (s.get("status", {}).get("loadBalancer") or {}).get("ingress") or []
        external += [i.get("ip") or i.get("hostname", "") for i in ingress]
        shown = ",".join(external) or "<pending>"
    elif kind == "ExternalName":
        shown = spec.get("externalName", "<none>")
    else:
        shown = ",".join(external) or "<none>"
    name, created = _name_age(sb, s)
    cluster_ip = spec.get("clusterIP") or "<none>"
    selector = _labels(spec.get("selector"))
    return [name, kind, cluster_ip, shown, ",".join(ports) or "<none>", created, selector]


def endpoints_row(sb, e: dict) -> list:
    shown = [
        f"{a['ip']}:{p['port']}"
        for subset in e.get("subsets") or []
        for p in subset.get("ports") or [{}]
        for a in subset.get("addresses") or []
        if p
    ]
    name, created = _name_age(sb, e)
    return [name, _more(shown) or "<none>", created]


def config_map_row(sb, c: dict) -> list:
    name, created = _name_age(sb, c)
    return [name, len(c.get("data") or {}) + len(c.get("binaryData") or {}), created]


def secret_row(sb, s: dict) -> list:
    name, created = _name_age(sb, s)
    return [name, s.get("type", "Opaque"), len(s.get("data") or {}), created]


def service_account_row(sb, s: dict) -> list:
    name, created = _name_age(sb, s)
    return [name, len(s.get("secrets") or []), created]


def pvc_row(sb, c: dict) -> list:
    status, spec = c.get("status") or {}, c["spec"]
    phase = "Terminating" if c["metadata"].get("deletionTimestamp") else status.get("phase", "")
    bound = phase == "Bound"
    modes = status.get("accessModes") if bound else []
    name, created = _name_age(sb, c)
    return [
        name,
        phase,
        spec.get("volumeName", ""),
        (status.get("capacity") or {}).get("storage", "") if bound else "",
        ",".join(ACCESS_MODES.get(m, m) for m in modes or []),
        spec.get("storageClassName") or "",
        spec.get("volumeAttributesClassName") or "<unset>",
        created,
        spec.get("volumeMode", "Filesystem"),
    ]


# --- policy, autoscaling, networking -------------------------------------------------------


def pdb_row(sb, p: dict) -> list:
    spec = p["spec"]
    name, created = _name_age(sb, p)
    return [
        name,
        str(spec["minAvailable"]) if "minAvailable" in spec else "N/A",
        str(spec["maxUnavailable"]) if "maxUnavailable" in spec else "N/A",
        (p.get("status") or {}).get("disruptionsAllowed", 0),
        created,
    ]


def hpa_row(sb, h: dict) -> list:
    spec, status = h["spec"], h.get("status") or {}
    ref = spec["scaleTargetRef"]
    current = {
        m["resource"]["name"]: m["resource"]["current"].get("averageUtilization")
        for m in status.get("currentMetrics") or []
        if m.get("type") == "Resource"
    }
    targets = []
    for m in spec.get("metrics") or []:
        res = m.get("resource") or {}
        goal = (res.get("target") or {}).get("averageUtilization")
        if m.get("type") == "Resource" and goal is not None:
            now = current.get(res["name"])
            shown = "<unknown>" if now is None else f"{now}%"
            targets.append(f"{res['name']}: {shown}/{goal}%")
    name, created = _name_age(sb, h)
    return [
        name,
        f"{ref['kind']}/{ref['name']}",
        _more(targets, sep=", ") or "<none>",
        spec.get("minReplicas", 1),
        spec["maxReplicas"],
        status.get("currentReplicas", 0),
        created,
    ]


def ingress_row(sb, i: dict) -> list:
    spec = i["spec"]
    hosts = [r.get("host") or "*" for r in spec.get("rules") or []]
    ingress = ((i.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    name, created = _name_age(sb, i)
    return [
        name,
        spec.get("ingressClassName") or "<none>",
        _more(hosts) or "*",
        ",".join(x.get("ip") or x.get("hostname", "") for x in ingress),
        "80, 443" if spec.get("tls") else "80",
        created,
    ]


def network_policy_row(sb, n: dict) -> list:
    selector = n["spec"].get("podSelector") or {}
    name, created = _name_age(sb, n)
    return [name, format_label_selector(selector) or "<none>", created]


# --- rbac ----------------------------------------------------------------------------------


def role_row(sb, r: dict) -> list:
    return [r["metadata"]["name"], r["metadata"]["creationTimestamp"]]


def binding_row(sb, b: dict) -> list:
    subjects = b.get("subjects") or []

    def named(kind: str) -> str:
        return ", ".join(
            (f"{s.get('namespace', '')}/{s['name']}" if kind == "ServiceAccount" else s["name"])
            for s in subjects
            if s["kind"] == kind
        )

    name, created = _name_age(sb, b)
    ref = b["roleRef"]
    return [
        name,
        f"{ref['kind']}/{ref['name']}",
        created,
        named("User"),
        named("Group"),
        named("ServiceAccount"),
    ]


# --- workloads -----------------------------------------------------------------------------


def statefulset_row(sb, s: dict) -> list:
    status = s.get("status") or {}
    name, created = _name_age(sb, s)
    return [
        name,
        f"{status.get('readyReplicas', 0)}/{s['spec'].get('replicas', 1)}",
        created,
        *_containers(s["spec"]["template"]),
    ]


def daemonset_row(sb, d: dict) -> list:
    status, spec = d.get("status") or {}, d["spec"]
    name, created = _name_age(sb, d)
    return [
        name,
        status.get("desiredNumberScheduled", 0),
        status.get("currentNumberScheduled", 0),
        status.get("numberReady", 0),
        status.get("updatedNumberScheduled", 0),
        status.get("numberAvailable", 0),
        _labels(spec["template"].get("spec", {}).get("nodeSelector")),
        created,
        *_containers(spec["template"]),
        format_label_selector(spec["selector"]),
    ]


def cronjob_row(sb, c: dict) -> list:
    spec, status = c["spec"], c.get("status") or {}
    last = status.get("lastScheduleTime")
    job = spec.get("jobTemplate") or {}
    name, created = _name_age(sb, c)
    selector = (job.get("spec") or {}).get("selector")
    return [
        name,
        spec["schedule"],
        spec.get("timeZone") or "<none>",
        str(bool(spec.get("suspend"))),
        len(status.get("active") or []),
        age(sb, last) if last else "<none>",
        created,
        *_containers((job.get("spec") or {}).get("template") or {}),
        format_label_selector(selector) if selector else "<none>",
    ]


AGE, NAME = Column("Age"), Column("Name")
WIDE_WORKLOAD = (Column("Containers", priority=1), Column("Images", priority=1))
SELECTOR = Column("Selector", priority=1)
INT = "integer"

PRINTERS = {
    "services": (
        (
            NAME,
            Column("Type"),
            Column("Cluster-IP"),
            Column("External-IP"),
            Column("Port(s)"),
            AGE,
            SELECTOR,
        ),
        service_row,
    ),
    "endpoints": ((NAME, Column("Endpoints"), AGE), endpoints_row),
    "configmaps": ((NAME, Column("Data", INT), AGE), config_map_row),
    "secrets": ((NAME, Column("Type"), Column("Data", INT), AGE), secret_row),
    "serviceaccounts": ((NAME, Column("Secrets", INT), AGE), service_account_row),
    "persistentvolumeclaims": (
        (
            NAME,
            Column("Status"),
            Column("Volume"),
            Column("Capacity"),
            Column("Access Modes"),
            Column("StorageClass"),
            Column("VolumeAttributesClass"),
            AGE,
            Column("VolumeMode", priority=1),
        ),
        pvc_row,
    ),
    "policy/poddisruptionbudgets": (
        (
            NAME,
            Column("Min Available"),
            Column("Max Unavailable"),
            Column("Allowed Disruptions", INT),
            AGE,
        ),
        pdb_row,
    ),
    "autoscaling/horizontalpodautoscalers": (
        (
            NAME,
            Column("Reference"),
            Column("Targets"),
            Column("MinPods", INT),
            Column("MaxPods", INT),
            Column("Replicas", INT),
            AGE,
        ),
        hpa_row,
    ),
    "networking.k8s.io/ingresses": (
        (
            NAME,
            Column("Class"),
            Column("Hosts"),
            Column("Address"),
            Column("Ports"),
            AGE,
        ),
        ingress_row,
    ),
    "networking.k8s.io/networkpolicies": ((NAME, Column("Pod-Selector"), AGE), network_policy_row),
    "apps/statefulsets": ((NAME, Column("Ready"), AGE, *WIDE_WORKLOAD), statefulset_row),
    "apps/daemonsets": (
        (
            NAME,
            Column("Desired", INT),
            Column("Current", INT),
            Column("Ready", INT),
            Column("Up-to-date", INT),
            Column("Available", INT),
            Column("Node Selector"),
            AGE,
            *WIDE_WORKLOAD,
            SELECTOR,
        ),
        daemonset_row,
    ),
    "batch/cronjobs": (
        (
            NAME,
            Column("Schedule"),
            Column("Timezone"),
            Column("Suspend"),
            Column("Active", INT),
            Column("Last Schedule"),
            AGE,
            *WIDE_WORKLOAD,
            SELECTOR,
        ),
        cronjob_row,
    ),
}
_ROLE = ((NAME, Column("Created At", "date")), role_row)
_BINDING = (
    (
        NAME,
        Column("Role"),
        AGE,
        Column("Users", priority=1),
        Column("Groups", priority=1),
        Column("ServiceAccounts", priority=1),
    ),
    binding_row,
)
for _plural in ("roles", "clusterroles"):
    PRINTERS[f"rbac.authorization.k8s.io/{_plural}"] = _ROLE
for _plural in ("rolebindings", "clusterrolebindings"):
    PRINTERS[f"rbac.authorization.k8s.io/{_plural}"] = _BINDING
