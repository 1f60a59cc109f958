"""The gateway: every call ZeroTouch makes to a cluster, through the official client.

Reads return dataclasses from types.py. Mutating verbs are used only by governance (the one
path every cluster change takes). Every call has a timeout; every failure is typed.
"""

import contextlib
import gc
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

import urllib3
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from ..quantity import QuantityError, memory_bytes, parse
from . import errors
from .types import (
    ContainerLog,
    ContainerUsage,
    Deployment,
    Event,
    HorizontalPodAutoscaler,
    Job,
    Node,
    NodeUsage,
    PersistentVolumeClaim,
    Pod,
    PodDisruptionBudget,
    ReplicaSet,
    Version,
    parse_time,
)

log = logging.getLogger(__name__)
CHAOS_GROUP, CHAOS_VERSION = "chaos-mesh.org", "v1alpha1"
# Fault objects: kind -> (group, version, plural). Chaos Mesh's live in the namespace of the
# pods they hit; NodeChaos is the sandbox's own (a node NotReady for a duration, cluster-wide
# as nodes are), which a real cluster does not serve.
CHAOS = {
    "PodChaos": (CHAOS_GROUP, CHAOS_VERSION, "podchaos"),
    "NetworkChaos": (CHAOS_GROUP, CHAOS_VERSION, "networkchaos"),
    "StressChaos": (CHAOS_GROUP, CHAOS_VERSION, "stresschaos"),
    "NodeChaos": ("sandbox.zerotouch.dev", "v1", "nodechaos"),
}
CLUSTER_SCOPED_CHAOS = {"NodeChaos"}
SMP = "application/strategic-merge-patch+json"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
LOG_BYTES = 256 * 1024  # a log read never brings back more than this
LOG_LINES = 1000


def _api_error(exc: ApiException, what: str) -> errors.GatewayError:
    try:
        status = json.loads(exc.body or "{}")
    except ValueError:
        status = {}
    message = f"{what}: {status.get('message') or exc.reason or exc.status}"
    reason = status.get("reason", "")
    kinds = {
        401: errors.Unauthorized,
        403: errors.Forbidden,
        404: errors.NotFound,
        409: errors.Conflict,
        400: errors.Invalid,
        422: errors.Invalid,
        415: errors.Invalid,
    }
    cls = kinds.get(exc.status)
    if cls is None:
        cls = errors.Unreachable  # 429 and 5xx: the server is busy or broken; retry later
    return cls(message, status=exc.status, reason=reason)


class Gateway:
    """One cluster. Build it with from_kubeconfig / in_cluster; it holds one ApiClient."""

    def __init__(
        self, api_client: client.ApiClient, *, timeout: float = 10.0, name: str = "cluster"
    ):
        self.api = api_client
        self.timeout = (min(5.0, timeout), timeout)  # (connect, read) seconds
        self.name = name
        self.core = client.CoreV1Api(api_client)
        self.apps = client.AppsV1Api(api_client)
        self.policy = client.PolicyV1Api(api_client)
        self.autoscaling = client.AutoscalingV2Api(api_client)
        self.batch = client.BatchV1Api(api_client)
        self.custom = client.CustomObjectsApi(api_client)
        self.version_api = client.VersionApi(api_client)
        self.last_server_time: datetime | None = None
        # Objects a list read could not parse ("Pod shop/x: ..."): skipped, never a failed
        # read. The collector shows them on the cluster page; `skipped_drain()` empties it.
        self.skipped: list[str] = []

    # --- construction -------------------------------------------------------------------
    @classmethod
    def from_kubeconfig(
        cls, path: str | Path, context: str | None = None, *, timeout: float = 10.0
    ) -> "Gateway":
        if not Path(path).is_file():
            raise errors.ConfigInvalid(f"kubeconfig not found: {path}")
        configuration = client.Configuration()
        try:
            config.load_kube_config(
                config_file=str(path),
                context=context or None,
                client_configuration=configuration,
                persist_config=False,
            )
        except (ConfigException, ValueError, KeyError, TypeError, OSError, yaml.YAMLError) as exc:
            raise errors.ConfigInvalid(f"kubeconfig {path} is not usable: {exc}") from exc
        return cls(_client(configuration), timeout=timeout, name=context or str(path))

    @classmethod
    def in_cluster(cls, *, timeout: float = 10.0) -> "Gateway":
        configuration = client.Configuration()
        try:
            config.load_incluster_config(client_configuration=configuration)
        except ConfigException as exc:
            raise errors.ConfigInvalid(f"not running in a cluster: {exc}") from exc
        return cls(_client(configuration), timeout=timeout, name="in-cluster")

    def close(self) -> None:
        self.api.close()

    # --- plumbing -----------------------------------------------------------------------
    def _call(self, what: str, fn: Callable, *args, raw: bool = True, **kwargs):
        """Run one client call with the timeout; map every failure to a typed error.
        raw=True reads the JSON ourselves: the client's model deserialisation is slow."""
        try:
            response = fn(*args, _request_timeout=self.timeout, _preload_content=not raw, **kwargs)
        except ApiException as exc:
            raise _api_error(exc, what) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise errors.Unreachable(f"{what}: {type(exc).__name__}: {exc}") from exc
        if not raw:
            return response
        self._note_time(response.headers.get("Date"))
        try:
            with _gc_paused():
                body = json.loads(response.data)
        except ValueError as exc:
            raise errors.Unreachable(f"{what}: the server's answer is not JSON") from exc
        if b"\\u0000" in response.data:  # no database column holds NUL: replace them
            clean = _without_nul(body)
            if clean != body:
                self.skipped.append(f"{what}: NUL characters in the answer were replaced")
            body = clean
        return body

    def _text(self, what: str, fn: Callable, *args, **kwargs) -> str:
        """Like _call, for an answer that is text (a log), not JSON."""
        try:
            response = fn(*args, _request_timeout=self.timeout, _preload_content=False, **kwargs)
        except ApiException as exc:
            raise _api_error(exc, what) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise errors.Unreachable(f"{what}: {type(exc).__name__}: {exc}") from exc
        self._note_time(response.headers.get("Date"))
        return response.data.decode("utf-8", "replace").replace("\x00", "\ufffd")

    def _parse_items(self, body: dict, parse: Callable, kind: str) -> list:
        """Each item of a list answer parsed on its own: one malformed object is skipped and
        named, the rest are read."""
        out = []
        for o in body.get("items") or []:
            try:
                out.append(parse(o))
            except PARSE_ERRORS as exc:
                self.skipped.append(f"{kind} {_object_name(o)} skipped: {_why(exc)}")
        return out

    def skipped_drain(self) -> list[str]:
        out, self.skipped = self.skipped, []
        return out

    def _note_time(self, header: str | None) -> None:
        if header:
            with contextlib.suppress(TypeError, ValueError):
                self.last_server_time = parsedate_to_datetime(header).astimezone(UTC)

    # --- reads --------------------------------------------------------------------------
    def version(self) -> Version:
        body = self._call("version", self.version_api.get_code)
        return Version(body.get("gitVersion", ""), body.get("platform", ""), self.last_server_time)

    def namespaces(self) -> list[str]:
        body = self._call("list namespaces", self.core.list_namespace)
        return [o["metadata"]["name"] for o in body["items"]]

    def namespace_annotations(self, name: str) -> dict[str, str]:
        body = self._call(f"get namespace {name}", self.core.read_namespace, name)
        annotations = (body.get("metadata") or {}).get("annotations") or {}
        return {str(k): str(v) for k, v in annotations.items()}

    def nodes(self) -> list[Node]:
        body = self._call("list nodes", self.core.list_node)
        return self._parse_items(body, Node.parse, "Node")

    def pods(
        self, namespace: str | None = None, *, label_selector: str = "", field_selector: str = ""
    ) -> list[Pod]:
        kw = {"label_selector": label_selector, "field_selector": field_selector}
        if namespace:
            body = self._call(
                f"list pods in {namespace}", self.core.list_namespaced_pod, namespace, **kw
            )
        else:
            body = self._call("list pods", self.core.list_pod_for_all_namespaces, **kw)
        with _gc_paused():  # thousands of small objects: collect once afterwards
            return self._parse_items(body, Pod.parse, "Pod")

    def pod(self, namespace: str, name: str) -> Pod:
        what = f"get pod {namespace}/{name}"
        body = self._call(what, self.core.read_namespaced_pod, name, namespace)
        return _parse_one(what, body, Pod.parse)

    def container_logs(
        self,
        namespace: str,
        pod: str,
        container: str = "",
        *,
        previous: bool = False,
        tail: int = 50,
    ) -> ContainerLog:
        """The last `tail` lines a container wrote; `previous`: those of its run before the
        last restart (what it said before it crashed or was OOM-killed). A read: no
        governance. Bounded to LOG_LINES lines and LOG_BYTES bytes."""
        which = f" container {container}" if container else ""
        what = f"read {'previous ' if previous else ''}logs of pod {namespace}/{pod}{which}"
        kwargs = {
            "tail_lines": max(0, min(tail, LOG_LINES)),
            "previous": previous,
            "limit_bytes": LOG_BYTES,
        }
        if container:
            kwargs["container"] = container
        text = self._text(what, self.core.read_namespaced_pod_log, pod, namespace, **kwargs)
        return ContainerLog(namespace, pod, container, previous, tuple(text.splitlines()))

    def deployments(self, namespace: str | None = None) -> list[Deployment]:
        if namespace:
            body = self._call("list deployments", self.apps.list_namespaced_deployment, namespace)
        else:
            body = self._call("list deployments", self.apps.list_deployment_for_all_namespaces)
        return self._parse_items(body, Deployment.parse, "Deployment")

    def deployment(self, namespace: str, name: str) -> Deployment:
        what = f"get deployment {namespace}/{name}"
        body = self._call(what, self.apps.read_namespaced_deployment, name, namespace)
        return _parse_one(what, body, Deployment.parse)

    def replica_sets(self, namespace: str | None = None) -> list[ReplicaSet]:
        if namespace:
            body = self._call("list replica sets", self.apps.list_namespaced_replica_set, namespace)
        else:
            body = self._call("list replica sets", self.apps.list_replica_set_for_all_namespaces)
        return self._parse_items(body, ReplicaSet.parse, "ReplicaSet")

    def events(self, since: datetime | None = None, namespace: str | None = None) -> list[Event]:
        if namespace:
            body = self._call("list events", self.core.list_namespaced_event, namespace)
        else:
            body = self._call("list events", self.core.list_event_for_all_namespaces)
        events = self._parse_items(body, Event.parse, "Event")
        if since is not None:
            events = [e for e in events if e.last_seen is None or e.last_seen >= since]
        return sorted(events, key=lambda e: e.last_seen or datetime.min.replace(tzinfo=UTC))

    def pdbs(self, namespace: str | None = None) -> list[PodDisruptionBudget]:
        if namespace:
            body = self._call(
                "list PDBs", self.policy.list_namespaced_pod_disruption_budget, namespace
            )
        else:
            body = self._call(
                "list PDBs", self.policy.list_pod_disruption_budget_for_all_namespaces
            )
        return self._parse_items(body, PodDisruptionBudget.parse, "PodDisruptionBudget")

    def pvcs(self, pods: list[Pod] | None = None) -> list[PersistentVolumeClaim]:
        body = self._call("list PVCs", self.core.list_persistent_volume_claim_for_all_namespaces)
        pods = self.pods() if pods is None else pods
        mounts: dict[tuple[str, str], list[str]] = {}
        for p in pods:
            for claim in p.pvc_names:
                mounts.setdefault((p.namespace, claim), []).append(p.name)
        return self._parse_items(body, lambda o: _pvc(o, mounts), "PersistentVolumeClaim")

    def hpas(self) -> list[HorizontalPodAutoscaler]:
        body = self._call(
            "list HPAs", self.autoscaling.list_horizontal_pod_autoscaler_for_all_namespaces
        )
        return self._parse_items(body, HorizontalPodAutoscaler.parse, "HorizontalPodAutoscaler")

    def jobs(self) -> list[Job]:
        body = self._call("list jobs", self.batch.list_job_for_all_namespaces)
        return self._parse_items(body, Job.parse, "Job")

    def node_usage(self) -> list[NodeUsage]:
        body = self._call(
            "node metrics (metrics.k8s.io)",
            self.custom.list_cluster_custom_object,
            "metrics.k8s.io",
            "v1beta1",
            "nodes",
        )
        return self._parse_items(body, _node_usage, "NodeMetrics")

    def pod_usage(self, namespace: str | None = None) -> list[ContainerUsage]:
        if namespace:
            body = self._call(
                "pod metrics",
                self.custom.list_namespaced_custom_object,
                "metrics.k8s.io",
                "v1beta1",
                namespace,
                "pods",
            )
        else:
            body = self._call(
                "pod metrics (metrics.k8s.io)",
                self.custom.list_cluster_custom_object,
                "metrics.k8s.io",
                "v1beta1",
                "pods",
            )
        return [u for pod in self._parse_items(body, _pod_usage, "PodMetrics") for u in pod]

    # --- mutating verbs: governance only ------------------------------------------------
    def delete_pod(self, namespace: str, name: str, *, uid: str) -> None:
        """Delete exactly this pod: the UID precondition fails (Conflict) if it was replaced."""
        body = client.V1DeleteOptions(preconditions=client.V1Preconditions(uid=uid))
        self._call(
            f"delete pod {namespace}/{name}",
            self.core.delete_namespaced_pod,
            name,
            namespace,
            body=body,
        )

    def evict_pod(self, namespace: str, name: str) -> None:
        """Evict through the Eviction API, which respects PodDisruptionBudgets."""
        body = client.V1Eviction(metadata=client.V1ObjectMeta(name=name, namespace=namespace))
        try:
            self._call(
                f"evict pod {namespace}/{name}",
                self.core.create_namespaced_pod_eviction,
                name,
                namespace,
                body,
            )
        except errors.Unreachable as exc:
            if exc.status == 429:
                raise errors.PDBBlocked(exc.message, status=429, reason=exc.reason) from exc
            raise

    def rollout_restart(self, namespace: str, name: str, *, at: datetime) -> None:
        """What `kubectl rollout restart` does; the same `at` twice is one restart."""
        stamp = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        patch = {
            "spec": {
                "template": {
                    "metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": stamp}}
                }
            }
        }
        self._call(
            f"restart deployment {namespace}/{name}",
            self.apps.patch_namespaced_deployment,
            name,
            namespace,
            patch,
            _content_type=SMP,
        )

    def scale(self, namespace: str, name: str, *, replicas: int) -> None:
        if replicas < 0:
            raise errors.Invalid(f"cannot scale {namespace}/{name} to {replicas}")
        self._call(
            f"scale deployment {namespace}/{name}",
            self.apps.patch_namespaced_deployment_scale,
            name,
            namespace,
            {"spec": {"replicas": replicas}},
            _content_type=MERGE,
        )

    def rollout_undo(
        self,
        namespace: str,
        name: str,
        *,
        revision: int | None = None,
        template_hash: str | None = None,
    ) -> None:
        """Roll back to a revision (as `kubectl rollout undo --to-revision`). Give the
        template_hash captured when the action was proposed for an idempotent undo: Kubernetes
        renumbers the restored revision, so a retried undo by number would not find it; by
        hash, a retry finds the deployment already on that template and does nothing."""
        if revision is None and not template_hash:
            raise errors.Invalid("rollout undo needs a revision or a template hash")
        dep = self._call(
            f"get deployment {namespace}/{name}",
            self.apps.read_namespaced_deployment,
            name,
            namespace,
        )
        items = self._call("list replica sets", self.apps.list_namespaced_replica_set, namespace)[
            "items"
        ]
        owned = [
            rs
            for rs in items
            if any(
                r.get("uid") == dep["metadata"]["uid"]
                for r in rs["metadata"].get("ownerReferences") or []
            )
        ]
        target = next((rs for rs in owned if _matches_revision(rs, revision, template_hash)), None)
        if target is None:
            what = f"template {template_hash}" if template_hash else f"revision {revision}"
            raise errors.NotFound(f"deployment {namespace}/{name} has no {what}")
        template = json.loads(json.dumps(target["spec"]["template"]))
        template.get("metadata", {}).get("labels", {}).pop("pod-template-hash", None)
        if _same_template(dep["spec"]["template"], template):
            return  # already there: a retry, or nothing to undo
        patch = [{"op": "replace", "path": "/spec/template", "value": template}]
        self._call(
            f"undo deployment {namespace}/{name}",
            self.apps.patch_namespaced_deployment,
            name,
            namespace,
            patch,
            _content_type=JSON_PATCH,
        )

    def replica_set_hash(self, namespace: str, name: str, revision: int) -> str:
        """The pod-template-hash of a deployment's revision, to undo to it idempotently."""
        for rs in self.replica_sets(namespace):
            if rs.owner and rs.owner.name == name and rs.revision == revision:
                return (
                    rs.template.get("metadata", {}).get("labels", {}).get("pod-template-hash", "")
                )
        raise errors.NotFound(f"deployment {namespace}/{name} has no revision {revision}")

    def patch_resources(
        self,
        namespace: str,
        name: str,
        *,
        container: str,
        requests: dict | None = None,
        limits: dict | None = None,
    ) -> None:
        resources = {k: v for k, v in (("requests", requests), ("limits", limits)) if v}
        patch = {
            "spec": {
                "template": {"spec": {"containers": [{"name": container, "resources": resources}]}}
            }
        }
        self._call(
            f"patch resources of {namespace}/{name}",
            self.apps.patch_namespaced_deployment,
            name,
            namespace,
            patch,
            _content_type=SMP,
        )

    def cordon(self, node: str) -> None:
        self._call(
            f"cordon {node}",
            self.core.patch_node,
            node,
            {"spec": {"unschedulable": True}},
            _content_type=SMP,
        )

    def uncordon(self, node: str) -> None:
        self._call(
            f"uncordon {node}",
            self.core.patch_node,
            node,
            {"spec": {"unschedulable": False}},
            _content_type=SMP,
        )

    def create_chaos(self, kind: str, namespace: str, name: str, spec: dict) -> dict:
        """Create a fault object (`namespace` is ignored for a cluster-wide kind)."""
        group, version, plural = self._chaos_resource(kind)
        metadata = (
            {"name": name}
            if kind in CLUSTER_SCOPED_CHAOS
            else {"name": name, "namespace": namespace}
        )
        body = {
            "apiVersion": f"{group}/{version}",
            "kind": kind,
            "metadata": metadata,
            "spec": spec,
        }
        if kind in CLUSTER_SCOPED_CHAOS:
            return self._call(
                f"create {kind} {name}",
                self.custom.create_cluster_custom_object,
                group,
                version,
                plural,
                body,
            )
        return self._call(
            f"create {kind} {namespace}/{name}",
            self.custom.create_namespaced_custom_object,
            group,
            version,
            namespace,
            plural,
            body,
        )

    def delete_chaos(self, kind: str, namespace: str, name: str) -> None:
        self._chaos_verb("delete", kind, namespace, name)

    def get_chaos(self, kind: str, namespace: str, name: str) -> dict:
        return self._chaos_verb("get", kind, namespace, name)

    def _chaos_verb(self, verb: str, kind: str, namespace: str, name: str):
        group, version, plural = self._chaos_resource(kind)
        if kind in CLUSTER_SCOPED_CHAOS:
            call = getattr(self.custom, f"{verb}_cluster_custom_object")
            return self._call(f"{verb} {kind} {name}", call, group, version, plural, name)
        call = getattr(self.custom, f"{verb}_namespaced_custom_object")
        return self._call(
            f"{verb} {kind} {namespace}/{name}", call, group, version, namespace, plural, name
        )

    def list_chaos(self, kind: str) -> list[dict]:
        """Every object of a fault kind, in every namespace (raw, as the API gives them); none
        where the cluster does not serve the kind (Chaos Mesh not installed, or NodeChaos on a
        real cluster)."""
        try:
            body = self._call(
                f"list {kind}", self.custom.list_cluster_custom_object, *self._chaos_resource(kind)
            )
        except errors.NotFound:
            return []
        return [o for o in body.get("items", []) if isinstance(o, dict) and o.get("metadata")]

    @staticmethod
    def _chaos_resource(kind: str) -> tuple[str, str, str]:
        if kind not in CHAOS:
            raise errors.Invalid(f"unknown chaos kind {kind!r}; expected one of {sorted(CHAOS)}")
        return CHAOS[kind]


# What a malformed object raises while it is parsed: a missing key, a wrong type, a bad
# quantity or time.
PARSE_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError)


def _object_name(o) -> str:
    meta = o.get("metadata") if isinstance(o, dict) else None
    if not isinstance(meta, dict):
        return "(no metadata)"
    ns, name = str(meta.get("namespace") or ""), str(meta.get("name") or "(no name)")
    return f"{ns}/{name}"[:300] if ns else name[:300]


def _why(exc: Exception) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text[:200]


def _without_nul(o):
    if isinstance(o, str):
        return o.replace("\x00", "\ufffd")
    if isinstance(o, list):
        return [_without_nul(v) for v in o]
    if isinstance(o, dict):
        return {_without_nul(k): _without_nul(v) for k, v in o.items()}
    return o


def _parse_one(what: str, body: dict, parse: Callable):
    try:
        return parse(body)
    except PARSE_ERRORS as exc:
        raise errors.Invalid(f"{what}: the object is malformed ({_why(exc)})") from exc


@contextlib.contextmanager
def _gc_paused():
    """Building thousands of objects triggers many needless collections; run one after."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _matches_revision(rs: dict, revision: int | None, template_hash: str | None) -> bool:
    meta = rs["metadata"]
    if template_hash:
        return (meta.get("labels") or {}).get("pod-template-hash") == template_hash
    return (meta.get("annotations") or {}).get("deployment.kubernetes.io/revision") == str(revision)


def _same_template(a: dict, b: dict) -> bool:
    def strip(t: dict) -> dict:
        t = json.loads(json.dumps(t))
        t.get("metadata", {}).get("labels", {}).pop("pod-template-hash", None)
        return t

    return strip(a) == strip(b)


def _pvc(o: dict, mounts: dict[tuple[str, str], list[str]]) -> PersistentVolumeClaim:
    meta, spec = o["metadata"], o.get("spec", {})
    try:
        size = memory_bytes(spec["resources"]["requests"]["storage"])
    except (KeyError, QuantityError):
        size = None
    return PersistentVolumeClaim(
        meta["namespace"],
        meta["name"],
        o.get("status", {}).get("phase", ""),
        spec.get("storageClassName") or "",
        size,
        tuple(mounts.get((meta["namespace"], meta["name"]), [])),
    )


def _node_usage(o: dict) -> NodeUsage:
    return NodeUsage(
        o["metadata"]["name"],
        _cpu(o["usage"]["cpu"]),
        memory_bytes(o["usage"]["memory"]),
        parse_time(o.get("timestamp")),
    )


def _pod_usage(o: dict) -> list[ContainerUsage]:
    meta, ts = o["metadata"], parse_time(o.get("timestamp"))
    return [
        ContainerUsage(
            meta["namespace"],
            meta["name"],
            c["name"],
            _cpu(c["usage"]["cpu"]),
            memory_bytes(c["usage"]["memory"]),
            ts,
        )
        for c in o.get("containers") or []
    ]


def _cpu(value: str) -> float:
    return float(parse(value) * 1000)


def _client(configuration: client.Configuration) -> client.ApiClient:
    configuration.retries = 0  # retries are the caller's decision (Celery backoff)
    return client.ApiClient(configuration)
