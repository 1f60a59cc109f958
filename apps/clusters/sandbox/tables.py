"""Server-side printing: kubectl asks for meta.k8s.io Tables and prints their rows."""

from datetime import datetime

from .printers import PRINTERS

TABLE_MEDIA = "as=Table"


def wants_table(accept: str) -> bool:
    return TABLE_MEDIA in accept.replace(" ", "")


def _time(sb, stamp: str) -> datetime:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=sb.now.tzinfo)


def _age(sb, created: str) -> str:
    return _span(int((sb.now - _time(sb, created)).total_seconds()))


def _span(s: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size * 2 or (unit == "m" and s >= 60):
            return f"{s // size}{unit}"
    return f"{max(s, 0)}s"


def _pod_row(sb, p: dict) -> list:
    statuses = p["status"].get("containerStatuses", [])
    ready = sum(1 for c in statuses if c.get("ready"))
    # As kubectl's printer: the pod's reason, else its phase, overridden by the reason of a
    # waiting or terminated container (ContainerCreating, CrashLoopBackOff, OOMKilled...).
    reason = p["status"].get("reason") or p["status"].get("phase", "Pending")
    for c in reversed(statuses):
        state = c.get("state", {})
        waiting, terminated = state.get("waiting") or {}, state.get("terminated") or {}
        if waiting.get("reason"):
            reason = waiting["reason"]
        elif terminated.get("reason"):
            reason = terminated["reason"]
        elif terminated:
            reason = f"ExitCode:{terminated.get('exitCode', 0)}"
    if p["metadata"].get("deletionTimestamp"):
        reason = "Terminating"
    restarts = sum(c.get("restartCount", 0) for c in statuses)
    return [
        p["metadata"]["name"],
        f"{ready}/{len(p['spec']['containers'])}",
        reason,
        restarts,
        _age(sb, p["metadata"]["creationTimestamp"]),
        p["status"].get("podIP", "<none>"),
        p["spec"].get("nodeName", "<none>"),
    ]


def _node_row(sb, n: dict) -> list:
    ready = next((c for c in n["status"].get("conditions", []) if c["type"] == "Ready"), None)
    status = "Ready" if ready and ready["status"] == "True" else "NotReady"
    if n["spec"].get("unschedulable"):
        status += ",SchedulingDisabled"
    return [
        n["metadata"]["name"],
        status,
        "<none>",
        _age(sb, n["metadata"]["creationTimestamp"]),
        n["status"]["nodeInfo"]["kubeletVersion"],
    ]


def _deploy_row(sb, d: dict) -> list:
    s = d.get("status", {})
    return [
        d["metadata"]["name"],
        f"{s.get('readyReplicas', 0)}/{d['spec'].get('replicas', 1)}",
        s.get("updatedReplicas", 0),
        s.get("availableReplicas", 0),
        _age(sb, d["metadata"]["creationTimestamp"]),
    ]


def _rs_row(sb, r: dict) -> list:
    s = r.get("status", {})
    return [
        r["metadata"]["name"],
        r["spec"].get("replicas", 0),
        s.get("replicas", 0),
        s.get("readyReplicas", 0),
        _age(sb, r["metadata"]["creationTimestamp"]),
    ]


def _job_row(sb, j: dict) -> list:
    s = j.get("status", {})
    done = [c["type"] for c in s.get("conditions", []) if c["type"] in ("Complete", "Failed")]
    started = s.get("startTime")
    ended = _time(sb, s["completionTime"]) if s.get("completionTime") else sb.now
    return [
        j["metadata"]["name"],
        done[-1] if done else "Running",
        f"{s.get('succeeded', 0)}/{j['spec'].get('completions', 1)}",
        _span(int((ended - _time(sb, started)).total_seconds())) if started else "",
        _age(sb, j["metadata"]["creationTimestamp"]),
    ]


def _event_row(sb, e: dict) -> list:
    obj = e["involvedObject"]
    return [
        _age(sb, e["lastTimestamp"]),
        e["type"],
        e["reason"],
        f"{obj['kind'].lower()}/{obj['name']}",
        e["message"],
    ]


COLUMNS = {
    "pods": (["Name", "Ready", "Status", "Restarts", "Age", "IP", "Node"], _pod_row),
    "nodes": (["Name", "Status", "Roles", "Age", "Version"], _node_row),
    "deployments": (["Name", "Ready", "Up-to-date", "Available", "Age"], _deploy_row),
    "replicasets": (["Name", "Desired", "Current", "Ready", "Age"], _rs_row),
    "jobs": (["Name", "Status", "Completions", "Duration", "Age"], _job_row),
    "events": (["Last Seen", "Type", "Reason", "Object", "Message"], _event_row),
}
NUMERIC = {"Restarts", "Up-to-date", "Available", "Desired", "Current"}


def as_table(res, items: list[dict], sb, *, list_rv: str) -> dict:
    if res.key in PRINTERS:
        columns, row = PRINTERS[res.key]
        return _table([c.definition() for c in columns], row, items, sb, list_rv)
    names, row = COLUMNS.get(
        res.plural,
        (
            ["Name", "Age"],
            lambda sb, o: [o["metadata"]["name"], _age(sb, o["metadata"]["creationTimestamp"])],
        ),
    )
    columns = [
        {
            "name": n,
            "type": "integer" if n in NUMERIC else "string",
            "format": "name" if n == "Name" else "",
            "description": n,
            "priority": 1 if n in ("IP", "Node") else 0,
        }
        for n in names
    ]
    return _table(columns, row, items, sb, list_rv)


def _table(columns: list[dict], row, items: list[dict], sb, list_rv: str) -> dict:
    rows = [
        {
            "cells": row(sb, o),
            "object": {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": o["metadata"],
            },
        }
        for o in items
    ]
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": list_rv},
        "columnDefinitions": columns,
        "rows": rows,
    }
