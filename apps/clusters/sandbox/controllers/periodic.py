"""The periodic pass over every controller."""

from .common import DEPLOYMENTS, JOBS, REPLICASETS
from .deployments import reconcile_deployment, reconcile_rs
from .hpa_pdb import hpa_pass, pdb_status
from .jobs import reconcile_job
from .kinds import resync_kinds
from .scheduler import schedule_pending


def resync(sb) -> None:
    """The periodic pass. Changes reconcile at once (events); this catches deadlines and
    anything in motion, and skips deployments at rest, which is most of them."""
    for dep in sb.store.list(DEPLOYMENTS):
        if not at_rest(dep):
            reconcile_deployment(sb, dep)
    for rs in sb.store.list(REPLICASETS):
        if not rs["metadata"].get("ownerReferences"):
            reconcile_rs(sb, rs)
    for job in sb.store.list(JOBS):
        reconcile_job(sb, job)  # a finished Job returns at once
    resync_kinds(sb)
    schedule_pending(sb)
    hpa_pass(sb)
    pdb_status(sb)
    if sb.now.minute % 5 == 0 and sb.now.second < 15:
        sb.expire_events()


def at_rest(dep: dict) -> bool:
    st, want = dep.get("status", {}), dep["spec"].get("replicas", 1)
    if st.get("observedGeneration") != dep["metadata"].get("generation", 1):
        return False
    if not (st.get("replicas") == st.get("updatedReplicas") == st.get("readyReplicas", 0) == want):
        return False
    return any(
        c["type"] == "Progressing" and c["reason"] == "NewReplicaSetAvailable"
        for c in st.get("conditions", [])
    )
