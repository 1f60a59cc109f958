"""Rolling-window features for failure prediction, from the collector's stored samples. Pure.

Input: `Frames` of pandas DataFrames whose columns are the Django models' field names
(ContainerSample, NodeSample, ClusterEvent, and an optional per-sample Workload series).
Output: one row per entity per sample time. An entity is a workload ("namespace/workload", a
bare pod counts as its own workload) or a node (its name; `entity_kind` tells them apart).

Everything is vectorised: rows are sorted by (container or entity, time) once and trailing
windows are differences of cumulative sums found with `searchsorted` on keys of
entity * 2**40 + seconds, so no window looks ahead or into another entity. Container features
come first; the worst container (max, or min for "minutes to limit") speaks for its workload.
Trends are the difference of the means of a window's two halves over the difference of their
mean times (robust to one noisy sample, no squares of large times). A node row carries the
node's own state only; its pods' troubles belong to their workloads. `latest_within=s`
computes just each container's and node's last sample taken in the last s seconds, from the
same windows (live scoring: `latest()` of them equals `latest()` of every row).

Missing values: a container without a limit has no "% of limit" (NaN); `impute()` then uses
each feature's documented default, and `mem_limit_known` / `cpu_limit_known` (context columns)
record the share of containers that have one, so explanations never claim "% of limit" where
there is none.
"""

from .build import build_features as build_features
from .build import enough_history as enough_history
from .build import impute as impute
from .build import latest as latest
from .build import pod_index as pod_index
from .catalogue import ANY_TYPE as ANY_TYPE
from .catalogue import CAP_MINUTES as CAP_MINUTES
from .catalogue import CAP_SINCE as CAP_SINCE
from .catalogue import CONTAINER_COLUMNS as CONTAINER_COLUMNS
from .catalogue import EVENT_BUCKETS as EVENT_BUCKETS
from .catalogue import EVENT_COLUMNS as EVENT_COLUMNS
from .catalogue import EVENT_FEATURES as EVENT_FEATURES
from .catalogue import FEATURE_INFO as FEATURE_INFO
from .catalogue import FEATURE_NAMES as FEATURE_NAMES
from .catalogue import FEATURES as FEATURES
from .catalogue import FRESH_S as FRESH_S
from .catalogue import LONG_S as LONG_S
from .catalogue import META_COLUMNS as META_COLUMNS
from .catalogue import MIN_HISTORY_MINUTES as MIN_HISTORY_MINUTES
from .catalogue import MIN_SAMPLES as MIN_SAMPLES
from .catalogue import NODE_COLUMNS as NODE_COLUMNS
from .catalogue import SHORT_S as SHORT_S
from .catalogue import WAITING_OK as WAITING_OK
from .catalogue import WORKLOAD_COLUMNS as WORKLOAD_COLUMNS
from .catalogue import Feature as Feature
from .catalogue import Frames as Frames
from .catalogue import empty_frames as empty_frames
from .rows import CONTAINER_AGG as CONTAINER_AGG
from .rows import NODE_STATE as NODE_STATE
from .rows import NUMERIC_COLUMNS as NUMERIC_COLUMNS
from .rows import pod_index_of as pod_index_of
from .windows import seconds_of as seconds_of
