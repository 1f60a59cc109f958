"""The controllers of the kinds beyond the core workloads: Endpoints for Services, StatefulSets,
DaemonSets and CronJobs, and what a new namespace is given. Called after API writes, on pod
changes and on the periodic pass."""

from .. import bootstrap
from .cronjobs import CRONJOBS, reconcile_cronjob
from .daemonsets import DAEMONSETS, reconcile_daemonset
from .endpoints import SERVICES, service_deleted, sync_all, sync_service
from .scheduler import schedule_pending
from .statefulsets import STATEFULSETS, reconcile_statefulset


def object_written(sb, key: str, obj: dict, *, spec_changed: bool, created: bool) -> None:
    if key == SERVICES:
        sync_service(sb, obj)
    elif key == STATEFULSETS and spec_changed:
        reconcile_statefulset(sb, obj)
        schedule_pending(sb)
    elif key == DAEMONSETS and spec_changed:
        reconcile_daemonset(sb, obj)
    elif key == CRONJOBS and spec_changed:
        reconcile_cronjob(sb, obj)
    elif key == "namespaces" and created:
        namespace_defaults(sb, obj["metadata"]["name"])


def object_deleted(sb, key: str, obj: dict) -> None:
    if key == SERVICES:
        service_deleted(sb, obj)


def namespace_defaults(sb, namespace: str) -> None:
    for key, obj in bootstrap.namespace_objects(namespace):
        if sb.store.get(key, namespace, obj["metadata"]["name"]) is None:
            sb.store.create(key, obj, own_uid=True)


def owner_changed(sb, pod: dict, ref: dict) -> bool:
    """A pod of a StatefulSet or DaemonSet changed: its owner reconciles. False for other
    owners."""
    key = {"StatefulSet": STATEFULSETS, "DaemonSet": DAEMONSETS}.get(ref["kind"])
    if key is None:
        return False
    owner = sb.store.get(key, pod["metadata"]["namespace"], ref["name"])
    if owner is not None:
        (reconcile_statefulset if key == STATEFULSETS else reconcile_daemonset)(sb, owner)
        schedule_pending(sb)
    return True


def resync_kinds(sb) -> None:
    for sts in sb.store.list(STATEFULSETS):
        reconcile_statefulset(sb, sts)
    for ds in sb.store.list(DAEMONSETS):
        reconcile_daemonset(sb, ds)
    for cj in sb.store.list(CRONJOBS):
        reconcile_cronjob(sb, cj)
    sync_all(sb)
