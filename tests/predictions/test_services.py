"""The learning loop and scoring on the database: the cold-start base model, risk scores
written after collections of the sandbox (over HTTPS, through the official client), anomalies,
artifacts that are corrupt or from another scikit-learn, and the promotion rule."""

from datetime import timedelta

import pytest

from apps.core.models import AuditEvent
from apps.predictions import artifacts, services, training
from apps.predictions.models import Anomaly, ModelVersion, RiskScore
from apps.predictions.selectors import samples_frames
from apps.predictions.series import all_series
from tests.support.base_model import SMALL
from tests.support.sandbox import collect_through

pytestmark = pytest.mark.django_db


@pytest.fixture
def base(model_dir):
    return training.base_model_ensure(spec=SMALL)


def test_it_trains_the_base_model_on_sandbox_histories_marked_low_confidence(base, model_dir):
    assert base.status == ModelVersion.Status.CHAMPION and base.low_confidence
    assert base.source == "sandbox-base" and base.progress == 100
    assert (model_dir / base.artifact).exists()
    assert base.rows_train > 1000 and base.positives_train > 0 and base.positives_test > 0
    for key in ("precision", "recall", "fpr", "pr_auc", "event_recall", "median_lead"):
        assert key in base.figures
    assert "accuracy" not in base.figures
    assert base.figures["fpr"] <= 0.1
    assert 0.0 < base.figures["pr_auc"] <= 1.0
    assert next(iter(base.feature_importances))  # sorted, most important first
    event = AuditEvent.objects.get(verb="model.promoted")
    assert event.after["champion"] == f"v{base.version}"
    # A second call finds a serving model and trains nothing.
    assert training.base_model_ensure(spec=SMALL) is None


def test_without_a_model_or_enough_history_no_score_is_made_up(leak, leak_cluster, model_dir):
    collect_through(leak, leak_cluster, 1)
    result = services.cluster_score(cluster=leak_cluster)
    assert result.scored == 0 and result.unknown > 0
    rows = RiskScore.objects.filter(cluster=leak_cluster)
    assert rows.exists() and all(r.risk is None and r.level == "unknown" for r in rows)
    assert all(r.missing for r in rows)


def test_a_leaking_workload_is_scored_riskier_than_healthy_ones_with_reasons(
    base, leak, leak_cluster
):
    # The leak starts at minute 10 and OOM-kills api about 7 minutes later: score at ~14.
    collect_through(leak, leak_cluster, 13)
    services.cluster_score(cluster=leak_cluster)
    latest = {
        (r.namespace, r.name): r
        for r in RiskScore.objects.filter(
            cluster=leak_cluster, scored_at=leak_cluster.last_cluster_time
        )
    }
    api = latest[("shop", "api")]
    others = [r for k, r in latest.items() if k[1] in ("web", "worker", "ledger")]
    assert api.risk is not None and all(o.risk is not None for o in others)
    assert api.risk > max(o.risk for o in others)
    assert api.level in ("medium", "high", "critical")
    assert any("memory" in reason for reason in api.reasons), api.reasons
    assert api.low_confidence and api.model_id == base.pk
    nodes = [r for r in latest.values() if r.entity_kind == "node"]
    assert len(nodes) == 3


def test_detectors_learn_each_workloads_normal_and_open_anomalies(leak, leak_cluster, model_dir):
    # Normal history before the leak at minute 10, sampled every 15 s to have 30+ rows.
    collect_through(leak, leak_cluster, 9, step=15)
    version = services.anomaly_fit(cluster=leak_cluster)
    assert version.status == ModelVersion.Status.CHAMPION and version.cluster == leak_cluster
    assert version.params["entities"] >= 4 + 3  # four workloads and three nodes
    collect_through(leak, leak_cluster, 12, step=15)  # the leak, the OOM kill, restarts
    frames_until = leak_cluster.last_cluster_time
    frames = samples_frames(
        cluster=leak_cluster, since=frames_until - timedelta(minutes=12), until=frames_until
    )
    opened = services.anomalies_update(
        cluster=leak_cluster, series=all_series(frames), until=frames_until
    )
    assert opened >= 1
    api = Anomaly.objects.filter(cluster=leak_cluster, namespace="shop", name="api")
    assert api.exists()
    involved = {m["key"] for a in api for m in a.metrics}
    assert involved & {"memory_mib", "memory_limit_pct", "restarts", "not_ready"}
    # Scoring the same samples again opens nothing new.
    assert (
        services.anomalies_update(
            cluster=leak_cluster, series=all_series(frames), until=frames_until
        )
        == 0
    )


def test_a_corrupt_champion_artifact_leaves_the_previous_one_serving(base, model_dir):
    newer = ModelVersion.objects.create(kind="failure", version=base.version + 1, source="cluster")
    newer.artifact, newer.artifact_sha256 = artifacts.write(
        model_dir, "failure-newer.pkl", services.load(base)
    )
    from django.db import transaction

    with transaction.atomic():
        services.make_champion(newer, "adam", "test")
    (model_dir / "failure-newer.pkl").write_bytes(b"not a pickle")
    services._cache.clear()
    use = services.served("failure")
    assert use.version.pk == base.pk
    assert "does not match its recorded checksum" in use.problems[0]


def test_an_artifact_from_another_scikit_learn_is_refused(model_dir, monkeypatch):
    name, sha = artifacts.write(model_dir, "m.pkl", {"any": "model"})
    import sklearn

    monkeypatch.setattr(sklearn, "__version__", "0.0.1")  # the library, not our code
    with pytest.raises(artifacts.ArtifactError, match="written by scikit-learn"):
        artifacts.read(model_dir, name, sha)


def test_a_challenger_without_enough_labelled_history_is_rejected_and_audited(
    base, settings, leak, leak_cluster
):
    settings.PREDICTION_MIN_FAILURES = 5
    first = training.challenger_train(trigger="test", actor="system:test")
    assert first.status == ModelVersion.Status.REJECTED and "no stored samples" in first.decision
    collect_through(leak, leak_cluster, 3)  # healthy minutes: no failure yet
    version = training.challenger_train(trigger="test", actor="system:test")
    assert version.status == ModelVersion.Status.REJECTED
    assert "not enough labelled history" in version.decision
    assert services.served("failure").version.pk == base.pk
    assert AuditEvent.objects.filter(verb="model.rejected", target_id=str(version.pk)).exists()


@pytest.mark.parametrize(
    ("new", "old", "promoted", "said"),
    [
        ({"pr_auc": 0.8, "fpr": 0.02, "event_recall": 0.9}, None, True, "no champion"),
        (
            {"pr_auc": 0.8, "fpr": 0.02, "event_recall": 0.9},
            {"pr_auc": 0.7, "fpr": 0.03, "event_recall": 0.9},
            True,
            "beats the champion",
        ),
        (
            {"pr_auc": 0.6, "fpr": 0.02, "event_recall": 0.9},
            {"pr_auc": 0.7, "fpr": 0.03, "event_recall": 0.9},
            False,
            "PR-AUC 0.600 vs 0.700",
        ),
        (
            {"pr_auc": 0.8, "fpr": 0.09, "event_recall": 0.9},
            {"pr_auc": 0.7, "fpr": 0.03, "event_recall": 0.9},
            False,
            "false-positive rate",
        ),
        (
            {"pr_auc": 0.8, "fpr": 0.02, "event_recall": 0.5},
            {"pr_auc": 0.7, "fpr": 0.03, "event_recall": 0.9},
            False,
            "event recall",
        ),
        (
            {"pr_auc": 0.7, "fpr": 0.03, "event_recall": 0.9},
            {"pr_auc": 0.7, "fpr": 0.03, "event_recall": 0.9},
            False,
            "no better on any figure",
        ),
        (
            {"pr_auc": 0.7, "fpr": 0.01, "event_recall": 0.9},
            {"pr_auc": 0.7, "fpr": 0.03, "event_recall": 0.9},
            True,
            "beats the champion",
        ),
    ],
)
def test_the_promotion_rule(new, old, promoted, said):
    ok, why = training.beats(new, old)
    assert ok is promoted and said in why


def test_a_training_run_whose_worker_died_is_marked_failed_and_blocks_nothing(
    leak_cluster, settings
):
    from django.utils import timezone

    settings.PREDICTION_AUTO_TRAIN = False
    dead = services.version_create(kind="failure", source="sandbox-base")
    alive = services.version_create(kind="anomaly", cluster=leak_cluster)
    ModelVersion.objects.filter(pk=dead.pk).update(
        updated_at=timezone.now() - timedelta(minutes=60)
    )
    leak_cluster.last_cluster_time = timezone.now()
    due = training.follow_ups_due(cluster=leak_cluster)
    assert not due.train_base and not due.retrain  # auto-training is off
    dead.refresh_from_db()
    alive.refresh_from_db()
    assert dead.status == "failed" and "interrupted" in dead.error
    assert alive.status == "training"  # still reporting progress
    assert dead.version == 1 and alive.version == 1  # numbered per kind
