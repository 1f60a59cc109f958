"""Action outcomes label history: a fix whose verification found the workload still failing
is a failure the model learns to warn of, on the cluster's own clock."""

from datetime import timedelta

import pandas as pd
import pytest
from django.utils import timezone

from apps.clusters.services import cluster_create
from apps.governance.action_models import Action
from apps.predictions import dataset, labels, selectors
from apps.predictions.simulate import simulate


def test_a_failed_fix_becomes_a_failure_episode_with_warnings_before_it():
    sim = simulate("healthy", seed=1, hours=1.0)
    start = pd.Timestamp(sim.frames.containers["ts"].min())
    at = (start + pd.Timedelta(minutes=40)).to_pydatetime()
    outcomes = labels.outcome_failures([("shop/api", "workload", at, "action #7 rolled_back")])
    plain = dataset.from_frames(sim.frames, horizon_minutes=15)
    taught = dataset.from_frames(sim.frames, horizon_minutes=15, outcomes=outcomes)
    assert plain.positives == 0 and len(plain.episodes) == 0
    (episode,) = taught.episodes.itertuples()
    assert (episode.entity, episode.kind) == ("shop/api", "FixFailed")
    ts = pd.to_datetime(taught.features["ts"], utc=True)
    before = (
        (taught.features["entity"] == "shop/api") & (ts < at) & (ts >= at - timedelta(minutes=15))
    )
    assert taught.y[before.to_numpy()].all() and taught.positives == int(before.sum())


@pytest.mark.django_db
def test_outcomes_are_read_on_the_clusters_clock():
    cluster = cluster_create(
        actor="system:test", name="c", connection="kubeconfig", kubeconfig_path="/tmp/nowhere"
    )
    cluster_time = timezone.now() + timedelta(days=30)  # a sandbox running ahead
    common = {
        "cluster": cluster,
        "namespace": "shop",
        "reason": "t",
        "requester": "system:t",
        "fingerprint": "f" * 64,
        "expires_at": timezone.now(),
        "finished_at": timezone.now(),
    }
    Action.objects.create(
        kind="rollout_undo",
        target_kind="Deployment",
        target_name="web",
        status="rolled_back",
        result={"cluster_time": cluster_time.isoformat()},
        **common,
    )
    Action.objects.create(
        kind="scale", target_kind="Deployment", target_name="api", status="succeeded", **common
    )
    window = {
        "since": cluster_time - timedelta(hours=1),
        "until": cluster_time + timedelta(hours=1),
    }
    (outcome,) = selectors.action_outcomes(cluster=cluster, **window)
    assert outcome[:3] == ("shop/web", "workload", cluster_time)
    assert (
        selectors.action_outcomes(
            cluster=cluster, since=timezone.now() - timedelta(hours=1), until=timezone.now()
        )
        == []
    )  # not on the wall clock
