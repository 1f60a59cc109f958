"""The faults an experiment can inject, and the governed Action kind each one becomes. Pure.

Each fault is one Chaos Mesh object created by the governance executor (the only thing that
changes a cluster), so the mode, `allow_chaos`, protected namespaces, windows and the blast
radius apply to it as to any fix. Every object carries its own duration: the fault ends on its
own even if ZeroTouch dies.
"""

from dataclasses import dataclass, field
from enum import StrEnum


class Fault(StrEnum):
    POD_KILL = "pod-kill"
    POD_FAILURE = "pod-failure"
    CONTAINER_KILL = "container-kill"
    NETWORK_DELAY = "network-delay"
    NETWORK_LOSS = "network-loss"
    NETWORK_PARTITION = "network-partition"
    CPU_STRESS = "cpu-stress"
    MEMORY_STRESS = "memory-stress"
    NODE_DRAIN = "node-drain"
    NODE_NOT_READY = "node-not-ready"


@dataclass(frozen=True)
class FaultInfo:
    action_kind: str  # the governance Action kind
    label: str
    what: str  # what it does, for the page and the dry run
    parameters: dict = field(default_factory=dict)  # its own parameters and their defaults


FAULTS: dict[Fault, FaultInfo] = {
    Fault.POD_KILL: FaultInfo(
        "chaos_pod_kill",
        "Pod kill",
        "deletes the selected pods; their controller replaces them",
    ),
    Fault.POD_FAILURE: FaultInfo(
        "chaos_pod_failure",
        "Pod failure",
        "makes the selected pods' containers fail for the whole duration",
    ),
    Fault.CONTAINER_KILL: FaultInfo(
        "chaos_container_kill",
        "Container kill",
        "kills one container in each selected pod once; the kubelet restarts it",
        {"container": ""},
    ),
    Fault.NETWORK_DELAY: FaultInfo(
        "chaos_network_delay",
        "Network delay",
        "adds latency to the selected pods' traffic",
        {"latency": "200ms"},
    ),
    Fault.NETWORK_LOSS: FaultInfo(
        "chaos_network_loss",
        "Packet loss",
        "drops a share of the selected pods' packets",
        {"loss": 25},
    ),
    Fault.NETWORK_PARTITION: FaultInfo(
        "chaos_network_partition",
        "Network partition",
        "cuts the selected pods off the network",
        {"direction": "both"},
    ),
    Fault.CPU_STRESS: FaultInfo(
        "chaos_stress",
        "CPU stress",
        "burns CPU in the selected pods (workers, each at load % of a core)",
        {"workers": 1, "load": 80},
    ),
    Fault.MEMORY_STRESS: FaultInfo(
        "chaos_memory_stress",
        "Memory stress",
        "allocates memory in the selected pods; past the limit they are OOM-killed",
        {"workers": 1, "size": "256Mi"},
    ),
    Fault.NODE_DRAIN: FaultInfo(
        "drain_node",
        "Node drain",
        "drains the node that runs one of the selected pods (kubectl drain: cordon, evict); "
        "uncordoned at the end",
    ),
    Fault.NODE_NOT_READY: FaultInfo(
        "chaos_node_not_ready",
        "Node NotReady (sandbox)",
        "stops the kubelet of the node that runs one of the selected pods: the node goes "
        "NotReady, its pods unready, and they are evicted after 300 s; back at the end",
    ),
}
NODE_FAULTS = {Fault.NODE_DRAIN, Fault.NODE_NOT_READY}  # the Action targets a node
SANDBOX_ONLY = {Fault.NODE_NOT_READY}  # a real cluster has no API that stops a kubelet


def targets_hit(mode: str, value: str | None, candidates: int) -> int:
    """How many of `candidates` pods a fault hits in Chaos Mesh's `mode`."""
    if candidates <= 0:
        return 0
    if mode == "all":
        return candidates
    if mode == "fixed":
        return min(candidates, int(value or 1))
    if mode == "fixed-percent":
        return max(1, candidates * int(value or 100) // 100)
    return 1
