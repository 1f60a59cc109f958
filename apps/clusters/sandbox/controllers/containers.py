"""The kubelet's side: container starts, crashes, OOM kills and exits, pod status, pod
deletion."""

from .. import kubelet, logs
from ..kubelet import ContainerRt, PodRt
from .common import NODES, PODS, terminal
from .endpoints import pod_changed


def pod_runtime(sb, pod: dict, workload: str) -> PodRt:
    """The kubelet's record of a new pod and its containers."""
    rt = PodRt(
        uid=pod["metadata"]["uid"],
        namespace=pod["metadata"]["namespace"],
        name=pod["metadata"]["name"],
        workload=workload,
    )
    for c in pod["spec"]["containers"]:
        rt.containers[c["name"]] = ContainerRt(name=c["name"], image=c["image"])
    sb.runtime[rt.uid] = rt
    return rt


def admit_pod(sb, pod: dict, workload: str) -> PodRt:
    """A pod a controller made: it waits for the scheduler."""
    rt = pod_runtime(sb, pod, workload)
    sb.unscheduled.add((rt.namespace, rt.name))
    render_pod(sb, rt, pod)
    return rt


def delete_pod(sb, pod: dict, *, reason: str, grace: int | None = None) -> None:
    """Delete a pod as the API server does. A running pod on a node whose kubelet has stopped
    reporting is only marked (deletionTimestamp): no kubelet confirms that its containers
    stopped, so it stays Terminating until the node returns or it is force-deleted (grace 0),
    while its controller already replaces it. Unscheduled and finished pods go at once."""
    meta = pod["metadata"]
    node = pod["spec"].get("nodeName")
    if node and grace != 0 and not terminal(pod) and not sb.node_ready.get(node, True):
        if not meta.get("deletionTimestamp"):
            meta["deletionTimestamp"] = sb.iso()
            meta["deletionGracePeriodSeconds"] = 30 if grace is None else grace
            rt = sb.runtime.get(meta["uid"])
            for c in rt.containers.values() if rt is not None else ():
                c.gen += 1  # its kubelet is gone: no timer of it fires
            sb.store.update(PODS, pod)
            pod_changed(sb, pod)
        return
    sb.unscheduled.discard((meta["namespace"], meta["name"]))
    rt = sb.runtime.pop(meta["uid"], None)
    if rt is not None:
        for c in rt.containers.values():
            c.gen += 1  # cancels its pending timers
    sb.store.delete("pods", meta["namespace"], meta["name"])
    pod_changed(sb, pod)
    if pod["spec"].get("nodeName") and not terminal(pod):
        sb.emit(pod, "Killing", f"Stopping container {pod['spec']['containers'][0]['name']}")


def container_start(sb, rt: PodRt, c: ContainerRt, pod: dict) -> None:
    c.gen += 1
    if kubelet.image_unpullable(c.image):
        first = c.reason not in ("ErrImagePull", "ImagePullBackOff")
        c.state, c.reason = "waiting", "ErrImagePull" if first else "ImagePullBackOff"
        c.message = f'Back-off pulling image "{c.image}"'
        c.backoff += 1
        sb.emit(
            pod,
            "Failed",
            f'Failed to pull image "{c.image}": rpc error: code = '
            "NotFound desc = failed to pull and unpack image: not found",
            "Warning",
        )
        sb.emit(pod, "BackOff", f'Back-off pulling image "{c.image}"', "Normal")
        if first:
            sb.record_failure("ImagePullBackOff", pod=rt)
        sb.after(kubelet.backoff_seconds(c.backoff), "container", rt.uid, c.name, c.gen, "start")
        return
    if c.restarts == 0 and c.started_at is None:
        sb.emit(pod, "Pulled", f'Successfully pulled image "{c.image}"')
    sb.emit(pod, "Created", f"Created container {c.name}")
    sb.emit(pod, "Started", f"Started container {c.name}")
    c.state, c.reason, c.message, c.started_at, c.ready = "running", "", "", sb.now, False
    logs.started(sb, rt, c, pod, job=_job_pod(pod))
    profile = sb.profile_for(rt)
    sb.after(profile.startup_seconds, "container", rt.uid, c.name, c.gen, "ready")
    if (
        kubelet.image_broken(c.image)
        # A crash_loop fault breaks the config new pods are made from: only pods whose
        # template carries it crash (rolling back the template recovers, as on a cluster).
        or (profile.crash_on_start and _broken_config(pod))
        or (rt.failing_until and rt.failing_until > sb.now)
    ):
        sb.after(kubelet.CRASH_AFTER, "container", rt.uid, c.name, c.gen, "crash")
    if _job_pod(pod):  # batch work: it exits when done (or, for a `failing` image, fails)
        annotations = pod["metadata"].get("annotations") or {}
        seconds = kubelet.run_seconds(c.image, annotations)
        sb.after(seconds, "container", rt.uid, c.name, c.gen, "done")
    schedule_oom(sb, rt, c, pod)


def _broken_config(pod: dict) -> bool:
    annotations = pod["metadata"].get("annotations") or {}
    return "sandbox.zerotouch.dev/config" in annotations


def _job_pod(pod: dict) -> bool:
    return any(r.get("kind") == "Job" for r in pod["metadata"].get("ownerReferences", []))


def schedule_oom(sb, rt: PodRt, c: ContainerRt, pod: dict) -> None:
    limit = sb.container_limit(pod, c.name, "memory")
    wait = kubelet.seconds_until_oom(
        sb.profile_for(rt), limit, c.started_at, sb.now, sb.mem_extra.get(rt.uid, 0.0)
    )
    if wait is not None:
        sb.after(wait, "container", rt.uid, c.name, c.gen, "oom")


def become_ready(sb, rt: PodRt, c: ContainerRt, pod: dict) -> None:
    if c.state == "running":
        c.ready = sb.node_ready.get(rt.node, False)
        logs.ready(sb, c)


def _termination(sb, c: ContainerRt, reason: str, code: int) -> dict:
    return {
        "exitCode": code,
        "reason": reason,
        "startedAt": sb.iso(c.started_at),
        "finishedAt": sb.iso(),
        "containerID": f"containerd://{c.name}-{c.restarts}",
    }


def container_exit(sb, rt: PodRt, c: ContainerRt, pod: dict, reason: str, code: int) -> None:
    """The container's process ended: the pod's restartPolicy says whether it runs again."""
    logs.ended(sb, c)
    policy = pod["spec"].get("restartPolicy", "Always")
    if policy == "Always" or (policy == "OnFailure" and code != 0):
        container_terminate(sb, rt, c, pod, reason, code)
        return
    c.term = _termination(sb, c, reason, code)
    c.state, c.reason, c.message, c.ready = "terminated", reason, "", False
    c.gen += 1  # cancels its pending timers


def container_terminate(sb, rt: PodRt, c: ContainerRt, pod: dict, reason: str, code: int) -> None:
    """Exited, to be restarted after the kubelet's back-off."""
    ran = (sb.now - c.started_at).total_seconds() if c.started_at else 0
    if ran > kubelet.BACKOFF_RESET:
        c.backoff = 0
    c.last_term = _termination(sb, c, reason, code)
    c.restarts += 1
    c.backoff += 1
    c.gen += 1
    c.ready = False
    delay = kubelet.backoff_seconds(c.backoff - 1)
    if delay:
        c.state, c.reason = "waiting", "CrashLoopBackOff"
        c.message = f"back-off {delay}s restarting failed container={c.name} pod={rt.name}"
        sb.emit(
            pod,
            "BackOff",
            f"Back-off restarting failed container {c.name} in pod {rt.name}",
            "Warning",
        )
        if c.backoff == 2:
            sb.record_failure("CrashLoopBackOff", pod=rt)
    else:
        c.state, c.reason = "waiting", "ContainerCreating"
    sb.after(delay or 1, "container", rt.uid, c.name, c.gen, "start")


def crash(sb, rt: PodRt, c: ContainerRt, pod: dict) -> None:
    logs.crashed(sb, rt, c, pod)
    container_exit(sb, rt, c, pod, "Error", 1)


def container_done(sb, rt: PodRt, c: ContainerRt, pod: dict) -> None:
    """A job pod's work ended: exit 0, or 1 for a `failing` image."""
    if kubelet.image_failing(c.image):
        logs.done(sb, c, 1)
        container_exit(sb, rt, c, pod, "Error", 1)
    else:
        logs.done(sb, c, 0)
        container_exit(sb, rt, c, pod, "Completed", 0)


def oom(sb, rt: PodRt, c: ContainerRt, pod: dict) -> None:
    node = sb.store.get(NODES, "", rt.node)
    if node is not None:
        sb.emit(
            node,
            "OOMKilling",
            f"Memory cgroup out of memory: Killed process "
            f"(container {c.name}) in pod {rt.namespace}/{rt.name}",
            "Warning",
            "kernel-monitor",
        )
    sb.record_failure("OOMKilled", pod=rt)
    logs.oom_killed(sb, rt, c)
    container_exit(sb, rt, c, pod, "OOMKilled", 137)


def render_pod(sb, rt: PodRt, pod: dict) -> None:
    status = pod["status"]
    containers = list(rt.containers.values())
    running = [c for c in containers if c.state == "running"]
    ready = all(c.ready for c in containers)
    if rt.node:
        status["hostIP"] = node_ip(sb, rt.node)
        status.setdefault("podIP", f"10.244.{sb.rng.randrange(255)}.{sb.rng.randrange(1, 255)}")
        status["podIPs"] = [{"ip": status["podIP"]}]
        status["hostIPs"] = [{"ip": status["hostIP"]}]
        status.setdefault("startTime", sb.iso(rt.scheduled_at))
        set_condition(pod, "PodScheduled", "True", None, None, sb)
        set_condition(pod, "Initialized", "True", None, None, sb)
        status["phase"] = _phase(containers, running)
        status["containerStatuses"] = [kubelet.container_status(c, {}, sb.iso) for c in containers]
        reason = None if ready else "PodCompleted" if terminal(pod) else "ContainersNotReady"
        set_condition(pod, "ContainersReady", "True" if ready else "False", reason, None, sb)
        set_condition(pod, "Ready", "True" if ready else "False", reason, None, sb)
    sb.store.update(PODS, pod)


def _phase(containers: list[ContainerRt], running: list[ContainerRt]) -> str:
    if all(c.state == "terminated" for c in containers):
        return "Succeeded" if all(c.term["exitCode"] == 0 for c in containers) else "Failed"
    if running or any(c.restarts or c.state == "terminated" for c in containers):
        return "Running"
    return "Pending"


def node_ip(sb, name: str) -> str:
    node = sb.store.get(NODES, "", name)
    return node["status"]["addresses"][0]["address"] if node else ""


def set_condition(pod: dict, ctype: str, status: str, reason, message, sb) -> None:
    conds = pod["status"].setdefault("conditions", [])
    prev = next((c for c in conds if c["type"] == ctype), None)
    if (
        prev
        and prev["status"] == status
        and prev.get("reason") == reason
        and (message is None or prev.get("message") == message)
    ):
        return
    new = {"type": ctype, "status": status, "lastProbeTime": None, "lastTransitionTime": sb.iso()}
    if reason:
        new["reason"] = reason
    if message:
        new["message"] = message
    if prev:
        conds[conds.index(prev)] = new
    else:
        conds.append(new)
