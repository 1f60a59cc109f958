"""Open a Gateway for a registered cluster (kubeconfig, in-cluster, or the sandbox)."""

from pathlib import Path

from django.conf import settings

from .gateway import Gateway, errors
from .models import Cluster


def kubeconfig_refusal(path: str) -> str:
    """ "" when `path` lies inside one of KUBECONFIG_DIRS (symlinks followed), else why not."""
    real = Path(path).resolve()
    if any(real.is_relative_to(d) for d in settings.KUBECONFIG_DIRS):
        return ""
    allowed = ", ".join(str(d) for d in settings.KUBECONFIG_DIRS)
    return f"kubeconfigs are read only from {allowed} (KUBECONFIG_DIRS); {path} is outside"


def gateway_for(cluster: Cluster, *, timeout: float = 10.0) -> Gateway:
    if cluster.connection == Cluster.Connection.IN_CLUSTER:
        return Gateway.in_cluster(timeout=timeout)
    if not cluster.kubeconfig_path:
        raise errors.ConfigInvalid(f"cluster {cluster.name} has no kubeconfig path")
    refused = kubeconfig_refusal(cluster.kubeconfig_path)
    if refused:
        raise errors.ConfigInvalid(f"cluster {cluster.name}: {refused}")
    return Gateway.from_kubeconfig(
        cluster.kubeconfig_path, cluster.context or None, timeout=timeout
    )
