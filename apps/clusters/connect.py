"""Open a Gateway for a registered cluster (kubeconfig, in-cluster, or the sandbox)."""

from .gateway import Gateway, errors
from .models import Cluster


def gateway_for(cluster: Cluster, *, timeout: float = 10.0) -> Gateway:
    if cluster.connection == Cluster.Connection.IN_CLUSTER:
        return Gateway.in_cluster(timeout=timeout)
    if not cluster.kubeconfig_path:
        raise errors.ConfigInvalid(f"cluster {cluster.name} has no kubeconfig path")
    return Gateway.from_kubeconfig(
        cluster.kubeconfig_path, cluster.context or None, timeout=timeout
    )
