"""An in-memory object store that behaves like the API server's: uids, resourceVersions,
creation timestamps, generations, and a change log that watches read from."""

from __future__ import annotations

import copy
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from datetime import datetime
from random import Random

GENERATION_KINDS = {
    "Deployment",
    "ReplicaSet",
    "Job",
    "PodDisruptionBudget",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "DaemonSet",
    "CronJob",
}
CHANGE_LOG = 20_000  # watch history kept, in changes


def ts(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class Store:
    def __init__(self, clock: Callable[[], datetime], rng: Random):
        self.clock = clock
        self.rng = rng
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.rv = 1000
        self._objects: dict[str, dict[tuple[str, str], dict]] = {}
        self.log: deque[tuple[int, str, str, dict]] = deque(maxlen=CHANGE_LOG)
        self._owned: dict[str, dict[tuple[str, str], dict]] = {}  # owner uid -> pods

    # --- identity -----------------------------------------------------------------------
    def new_uid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _bump(self) -> str:
        self.rv += 1
        return str(self.rv)

    def _record(self, kind: str, key: str, obj: dict) -> None:
        # A copy: a watch replaying older changes must send each object as it was then.
        self.log.append((self.rv, kind, key, copy.deepcopy(obj)))
        self.changed.notify_all()

    # --- reads --------------------------------------------------------------------------
    def get(self, key: str, namespace: str, name: str) -> dict | None:
        """namespace is "" for cluster-scoped resources."""
        return self._objects.get(key, {}).get((namespace, name))

    def list(self, key: str, namespace: str | None = None) -> list[dict]:
        items = self._objects.get(key, {})
        if namespace is None:
            return [items[k] for k in sorted(items)]
        return [items[k] for k in sorted(items) if k[0] == namespace]

    def pods_of(self, owner_uid: str) -> list[dict]:
        """The active pods an object owns (an index: no scan of every pod). A pod being
        deleted (Terminating) no longer counts: its controller replaces it at once."""
        return [
            p
            for p in self._owned.get(owner_uid, {}).values()
            if not p["metadata"].get("deletionTimestamp")
        ]

    def count(self, key: str) -> int:
        return len(self._objects.get(key, {}))

    # --- writes -------------------------------------------------------------------------
    def create(self, key: str, obj: dict, *, own_uid: bool = False) -> dict:
        """own_uid: obj carries its uid, and no uid is drawn (a draw would move every random
        choice after it, and with it a scenario's course)."""
        meta = obj.setdefault("metadata", {})
        slot = (meta.get("namespace", ""), meta["name"])
        bucket = self._objects.setdefault(key, {})
        if slot in bucket:
            raise KeyError(f"{key} {slot[1]!r} already exists")
        if not own_uid:
            meta.setdefault("uid", self.new_uid())
        meta.setdefault("creationTimestamp", ts(self.clock()))
        if obj.get("kind") in GENERATION_KINDS:
            meta.setdefault("generation", 1)
        meta["resourceVersion"] = self._bump()
        bucket[slot] = obj
        if key == "pods":
            for ref in meta.get("ownerReferences", []):
                self._owned.setdefault(ref["uid"], {})[slot] = obj
        self._record("ADDED", key, obj)
        return obj

    def update(self, key: str, obj: dict, *, spec_changed: bool = False) -> dict:
        meta = obj["metadata"]
        if spec_changed and obj.get("kind") in GENERATION_KINDS:
            meta["generation"] = meta.get("generation", 1) + 1
        meta["resourceVersion"] = self._bump()
        self._objects.setdefault(key, {})[(meta.get("namespace", ""), meta["name"])] = obj
        self._record("MODIFIED", key, obj)
        return obj

    def delete(self, key: str, namespace: str, name: str) -> dict | None:
        obj = self._objects.get(key, {}).pop((namespace, name), None)
        if obj is not None and key == "pods":
            for ref in obj["metadata"].get("ownerReferences", []):
                self._owned.get(ref["uid"], {}).pop((namespace, name), None)
        if obj is not None:
            obj["metadata"]["resourceVersion"] = self._bump()
            self._record("DELETED", key, obj)
        return obj

    def changes_since(self, rv: int) -> Iterator[tuple[int, str, str, dict]]:
        for entry in list(self.log):
            if entry[0] > rv:
                yield entry

    def snapshot(self, obj: dict) -> dict:
        return copy.deepcopy(obj)
