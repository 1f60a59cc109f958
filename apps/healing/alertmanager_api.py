"""JSON: POST /integrations/alertmanager (Alertmanager's webhook, version 4, authenticated with
a receiver's bearer token), and the receivers for admins: GET/POST /ai/alert-receivers,
POST /ai/alert-receivers/{id}/revoke."""

from datetime import datetime
from typing import Annotated, Literal

from django.http import HttpResponse
from ninja import Field, Router, Schema
from ninja.security import HttpBearer
from pydantic import StringConstraints

from apps.clusters.models import Cluster
from apps.clusters.selectors import cluster_named
from apps.core.api import AUTH, IsoTime, NameFilter, Reason
from apps.core.errors import NotFound
from apps.core.roles import Cap, require

from . import alert_selectors, alertmanager
from .alert_models import AlertReceiver

# No NUL characters (PostgreSQL cannot store them): a 400 naming the field instead.
Text = Annotated[str, StringConstraints(max_length=20000, pattern=r"^[^\x00]*$")]
LabelName = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00]*$")]
Fingerprint = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^\w+$")]
Labels = dict[LabelName, Text]


class ReceiverAuth(HttpBearer):
    """A receiver's token (`ztam_...`), as Alertmanager's http_config.authorization sends it.
    A user's session or API token is no receiver: 401."""

    def authenticate(self, request, token):
        return alertmanager.alert_receiver_authenticate(token)


integrations = Router(auth=ReceiverAuth(), tags=["integrations"])
receivers = Router(auth=AUTH, tags=["integrations"])


class AlertIn(Schema):
    status: Literal["firing", "resolved"]
    labels: Labels
    annotations: Labels = {}
    startsAt: IsoTime
    endsAt: IsoTime | None = None
    generatorURL: Text = ""
    fingerprint: Fingerprint


class WebhookIn(Schema):
    """Alertmanager's webhook payload, version 4 (fields it may add later are ignored)."""

    version: Literal["4"]
    groupKey: Text = ""
    truncatedAlerts: int = 0
    status: Literal["firing", "resolved"]
    receiver: Text = ""
    groupLabels: Labels = {}
    commonLabels: Labels = {}
    commonAnnotations: Labels = {}
    externalURL: Text = ""
    alerts: list[AlertIn] = Field(..., min_length=1, max_length=2000)


class SkippedOut(Schema):
    fingerprint: str
    alertname: str
    reason: str


class WebhookOut(Schema):
    alerts: int  # in the call
    accepted: int  # stored
    firing: list[str]  # alerts that started firing with this call
    resolved: list[str]  # alerts that ended with this call
    skipped: list[SkippedOut]  # not stored: another cluster, another receiver's, out of date


@integrations.post(
    "/alertmanager", response=WebhookOut, summary="Alertmanager's webhook (a receiver's token)"
)
def alertmanager_webhook(request, payload: WebhookIn):
    """Each alert is stored once per fingerprint (a firing alert sent again updates it;
    `resolved` ends it) and read by the next healing cycle as a signal. A malformed payload is
    a 400 and stores nothing; an alert naming a cluster the receiver may not speak for, owned
    by another receiver, or older than the stored one is skipped and listed in `skipped`, and
    the others are stored (Alertmanager never retries a 4xx). Authenticate with the receiver's
    token: `Authorization: Bearer ztam_...`."""
    rows = [
        alertmanager.AlertIn(
            status=a.status,
            labels=dict(a.labels),
            annotations=dict(a.annotations),
            starts_at=a.startsAt,
            ends_at=a.endsAt,
            generator_url=a.generatorURL,
            fingerprint=a.fingerprint,
        )
        for a in payload.alerts
    ]
    got = alertmanager.alerts_receive(
        receiver=request.auth, alerts=rows, group_key=payload.groupKey
    )
    return {
        "alerts": got.alerts,
        "accepted": got.accepted,
        "firing": got.firing,
        "resolved": got.resolved,
        "skipped": got.skipped,
    }


# --- receivers, for admins ---------------------------------------------------------------------

LabelSetting = Annotated[str, StringConstraints(max_length=100, pattern=r"^[^\x00]*$")]


class ReceiverIn(Schema):
    model_config = {"extra": "forbid"}
    name: Annotated[str, StringConstraints(min_length=1, max_length=60, pattern=r"^[^\x00]*$")]
    cluster: NameFilter = ""  # empty: the cluster_label of each alert names one of `clusters`
    clusters: list[NameFilter] = Field(default=[], max_length=200)
    cluster_label: LabelSetting = ""
    namespace_label: LabelSetting = ""
    pod_label: LabelSetting = ""
    workload_label: LabelSetting = ""
    node_label: LabelSetting = ""


class ReceiverOut(Schema):
    id: int
    name: str
    cluster: str | None
    clusters: list[str]  # the clusters the label may name (a receiver with no cluster)
    labels: dict[str, str]
    prefix: str
    created_by: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class ReceiverCreatedOut(ReceiverOut):
    token: str  # shown once


class RevokeIn(Schema):
    model_config = {"extra": "forbid"}
    reason: Reason | None = None


def _out(r: AlertReceiver) -> dict:
    return {
        "id": r.pk,
        "name": r.name,
        "cluster": r.cluster.name if r.cluster else None,
        "clusters": sorted(c.name for c in r.clusters.all()),
        "labels": r.labels(),
        "prefix": r.prefix,
        "created_by": r.created_by,
        "created_at": r.created_at,
        "revoked_at": r.revoked_at,
        "last_used_at": r.last_used_at,
    }


@receivers.get("/alert-receivers", response=list[ReceiverOut], summary="Alertmanager receivers")
def receiver_list(request):
    require(request.auth, Cap.MANAGE_POLICY)
    return [_out(r) for r in alert_selectors.alert_receiver_list()]


@receivers.post(
    "/alert-receivers", response=ReceiverCreatedOut, summary="Create an Alertmanager receiver"
)
def receiver_create(request, response: HttpResponse, payload: ReceiverIn):
    """Admins only. The token is in this answer only (`Cache-Control: no-store`); ZeroTouch
    keeps its hash. Bound to one `cluster`, or to the `clusters` each alert's cluster label may
    name."""
    require(request.auth, Cap.MANAGE_POLICY)
    labels = {k: getattr(payload, k) for k in alertmanager.LABEL_FIELDS}
    r, raw = alertmanager.alert_receiver_create(
        actor=request.auth,
        name=payload.name,
        cluster=cluster_named(payload.cluster),
        clusters=[_cluster(name) for name in payload.clusters],
        labels=labels,
    )
    response["Cache-Control"] = "no-store"
    return {**_out(r), "token": raw}


def _cluster(name: str) -> Cluster:
    """One of the clusters a receiver may speak for; a 404 naming `clusters` if unknown."""
    try:
        found = cluster_named(name)
    except NotFound:
        found = None
    if found is None:
        raise NotFound(f"no cluster named {name!r}", field="clusters")
    return found


@receivers.post(
    "/alert-receivers/{receiver_id}/revoke",
    response=ReceiverOut,
    summary="Revoke an Alertmanager receiver",
)
def receiver_revoke(request, receiver_id: int, payload: RevokeIn):
    require(request.auth, Cap.MANAGE_POLICY)
    r = alertmanager.alert_receiver_revoke(
        actor=request.auth, receiver_id=receiver_id, reason=payload.reason or ""
    )
    return _out(r)
