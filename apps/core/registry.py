"""Extension points: typed registries that apps fill at start-up (their AppConfig.ready()).
A key may be registered once; registering the same key again with the same thing is harmless
(ready() can run twice in tests), with another thing it is an error. Pure: no Django."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, name: str) -> None:
        self.name = name
        self._items: dict[str, T] = {}

    def register(self, key: str, item: T) -> T:
        if key in self._items and self._items[key] != item:
            raise ValueError(f"{self.name}: {key!r} is already registered")
        self._items[key] = item
        return item

    def items(self) -> Iterator[tuple[str, T]]:
        return iter(list(self._items.items()))

    def __iter__(self) -> Iterator[T]:
        return iter(list(self._items.values()))

    def __len__(self) -> int:
        return len(self._items)


# Why a workload should be left alone now (an open incident, an active fix): each function
# takes a cluster and returns {(namespace, workload): reason}. Costs reads them so its plan
# never works against healing; healing registers its open incidents, governance its actions.
WorkloadHolds = Callable[[object], dict[tuple[str, str], str]]
WORKLOAD_HOLDS: Registry[WorkloadHolds] = Registry("workload holds")


# Incidents about a workload in a time window, for whoever grades the self-healer (chaos):
# each function takes (cluster id, namespace, workload, since, until), times on the cluster's
# clock, and returns one dict per incident: id, cause, severity, preventive, status,
# started_at, detected_at, recovered_at, resolved_at, healed_by_zerotouch, and its fix as
# action {id, kind, status, approved_by} or None. Healing registers its incidents.
WorkloadIncidents = Callable[[int, str, str, object, object], list[dict]]
WORKLOAD_INCIDENTS: Registry[WorkloadIncidents] = Registry("workload incidents")


# What stops when a scope ("global" or "cluster:<id>") is halted, by an admin or the storm
# brake: each function takes the scope and the reason and runs in the transaction of the
# change. Governance registers the cancelling of queued actions (the emergency stop).
HaltHook = Callable[[str, str], None]
HALT_HOOKS: Registry[HaltHook] = Registry("halt hooks")


# Parts of GET /ai/status that other apps add (healing: its incident summary): name -> a
# function returning that part's JSON.
StatusPart = Callable[[], dict]
STATUS_PARTS: Registry[StatusPart] = Registry("status parts")

# Figures other apps add to GET /ai/metrics (healing: MTTD, MTTR, the auto-resolution rate).
METRICS_PARTS: Registry[StatusPart] = Registry("metrics parts")

# Panels of the Overview page: (template, a function returning its context), in the order
# registered.
OverviewPanel = tuple[str, Callable[[], dict]]
OVERVIEW_PANELS: Registry[OverviewPanel] = Registry("overview panels")

# Sections of the Safety page below the global mode and switches (clusters: each cluster's
# own mode), as (template, a function of the signed-in user returning its context).
SafetyPanel = tuple[str, Callable[[object], dict]]
SAFETY_PANELS: Registry[SafetyPanel] = Registry("safety panels")


@dataclass(frozen=True)
class CostChange:
    """What an action does to the monthly bill, as another app works it out."""

    monthly: float | None  # dollars a month, + more, - less; None: unknown
    text: str  # "+$12.34/month", "no cost change", "cost unknown: no samples for shop/api"


# Functions that price an action, or return None when they do not know its kind (costs
# registers one). Governance knows nothing of money itself.
ActionCost = Callable[[object], CostChange | None]
ACTION_COST: Registry[ActionCost] = Registry("action cost")

# Families of GET /metrics (Prometheus text format) that other apps add: name -> a function
# returning prometheus_client metric families, read from the database at scrape time so every
# web process answers the same (clusters: collections; governance: actions; healing: incidents).
PrometheusPart = Callable[[], list]
PROMETHEUS_PARTS: Registry[PrometheusPart] = Registry("prometheus parts")

# Clusters by id and name, for core's pages that filter by cluster (notification rules): each
# function returns [(id, name)]. Clusters registers its list.
ClusterNames = Callable[[], list[tuple[int, str]]]
CLUSTER_NAMES: Registry[ClusterNames] = Registry("cluster names")

# Retention: rows older than SAMPLE_RETENTION_DAYS that nobody needs any more, pruned hourly by
# core.prune (governance: spent and expired approval links; healing: resolved alerts, and log
# excerpts — log lines may hold what should not be kept). Each takes the cutoff, returns a count.
Pruner = Callable[[object], int]
PRUNERS: Registry[Pruner] = Registry("pruners")
