"""The watch after a resource patch: the pods of the deployment's new revision, looked at for a
while after its rollout, because a limit that is too small shows only once the new pods work.

A resource patch is watched for the policy's `resources_watch_seconds` (default 120) after its
rollout, on the cluster's clock (the API server's Date: wall time on a real cluster; a
fast-forwarded sandbox gets there sooner), and at most as long in wall time. A pod of the new
revision that is OOM-killed or restarts, or is not Ready READY_GRACE_SECONDS after it started,
fails verification: the executor rolls the patch back.
"""

import time

from apps.clusters.gateway import errors as gw_errors

from .action_models import Action

READY_GRACE_SECONDS = 60


class PodWatch:
    """The pods of a patched deployment's current revision: OOM kills, restarts, and pods
    not Ready past their start-up grace. Pods that predate the patch (a patch that changed
    nothing) count restarts from when the watch first saw them."""

    def __init__(self, gw, a: Action):
        self.gw, self.a = gw, a
        self.since = gw.last_server_time  # the cluster's clock right after the change
        self.seen: dict[tuple[str, str], int] = {}

    def _pods(self) -> list:
        dep = self.gw.deployment(self.a.namespace, self.a.target_name)
        labels = dict(dep.selector.get("matchLabels") or {})
        try:
            labels["pod-template-hash"] = self.gw.replica_set_hash(
                self.a.namespace, self.a.target_name, dep.revision
            )
        except gw_errors.NotFound:
            return []  # the new replica set is not there yet
        selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        return self.gw.pods(self.a.namespace, label_selector=selector)

    def trouble(self) -> str:
        """ "" while the pods look fine, else what went wrong, naming the pod."""
        for pod in self._pods():
            new = self.since is None or (pod.created and pod.created >= self.since)
            for c in pod.containers:
                base = self.seen.setdefault((pod.uid, c.name), 0 if new else c.restarts)
                if c.restarts > base or (new and c.oom_killed):
                    what = c.last_terminated_reason or c.waiting_reason or "an exit"
                    return (
                        f"pod {pod.namespace}/{pod.name}: container {c.name} {what}"
                        f" (restarts {c.restarts}) after the resource change"
                    )
            problem = self._unready(pod)
            if problem:
                return problem
        return ""

    def _unready(self, pod) -> str:
        now, began = self.gw.last_server_time, pod.started or pod.created
        if pod.ready or now is None or began is None:
            return ""
        waited = (now - began).total_seconds()
        if waited <= READY_GRACE_SECONDS:
            return ""
        why = next((c.waiting_reason for c in pod.containers if c.waiting_reason), pod.phase)
        return (
            f"pod {pod.namespace}/{pod.name} not Ready {waited:.0f} s after it started"
            f" ({why}; grace {READY_GRACE_SECONDS} s)"
        )


def watch_pods(watch: PodWatch, seconds: float, detail: str) -> tuple[bool, str]:
    """After the rollout: no trouble for `seconds` on the cluster's clock (or the wall's)."""
    wall_end, start = time.monotonic() + seconds, watch.gw.last_server_time
    while True:
        try:
            trouble = watch.trouble()
        except gw_errors.GatewayError:
            trouble = ""  # a blip while watching is not the patch's fault: look again
        if trouble:
            return False, trouble
        now = watch.gw.last_server_time
        on_cluster = start and now and (now - start).total_seconds() >= seconds
        if on_cluster or time.monotonic() >= wall_end:
            return True, f"{detail}; new pods watched {seconds:g} s: no OOM kill or restart"
        time.sleep(1.0)
