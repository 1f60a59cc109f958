"""The anomaly detector (apps/predictions/anomaly) and `manage.py detect_anomalies`.

Pure tests: no database. Data is seeded, so every assertion is deterministic.
"""

import pickle
from io import StringIO

import numpy as np
import pandas as pd
import pytest
from django.core.management import CommandError, call_command
from sklearn.ensemble import IsolationForest
from sklearn.metrics import average_precision_score

from apps.predictions import anomaly
from benchmarks.anomaly_data import ROWS_PER_DAY, make_dataset, metric_names

DAY = ROWS_PER_DAY


def _servers(rows: int, seed: int = 0) -> np.ndarray:
    """Three correlated, daily-seasonal metrics on very different scales, plus noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(rows)
    load = 1 + 0.5 * np.sin(2 * np.pi * t / DAY) + 0.05 * rng.standard_normal(rows)
    requests = 1000 * load + 20 * rng.standard_normal(rows)
    cpu = 0.3 + 2 * load + 0.05 * rng.standard_normal(rows)
    latency = 40 + 10 * load + 2 * rng.standard_t(4, rows)
    memory = 1.5e9 + 1e7 * rng.standard_normal(rows)
    return np.column_stack([requests, cpu, latency, memory])


@pytest.fixture(scope="module")
def fitted():
    data = _servers(10 * DAY)
    return anomaly.fit(data[: 7 * DAY]), data[7 * DAY :]


def test_it_flags_a_spike_and_a_level_shift_but_not_the_rows_around_them(fitted):
    detector, test = fitted
    test = test.copy()
    test[100, 2] += 60  # latency spike: about 10 sigma
    test[400:460, 0] += 250  # requests level shift with no matching CPU change
    scores = detector.score(test)
    flags = scores >= detector.threshold
    assert flags[100]
    assert flags[400:460].mean() >= 0.8
    normal = np.ones(len(test), dtype=bool)
    normal[95:140] = normal[395:500] = False
    assert flags[normal].mean() <= 0.02


def test_it_keeps_false_positives_low_on_clean_held_out_data(fitted):
    detector, test = fitted
    assert (detector.score(test) >= detector.threshold).mean() <= 0.02
    matrix, labels, _ = make_dataset(11, 28 * DAY, 8, train_rows=14 * DAY, events_per_kind=0)
    assert not labels.any()
    realistic = anomaly.fit(matrix[: 14 * DAY], contamination=0.01)
    assert (realistic.score(matrix[14 * DAY :]) >= realistic.threshold).mean() <= 0.03
    # What reaches people is rarer still: alarms need persistence (RAISE_K of RAISE_N rows).
    assert realistic.alarms(matrix[14 * DAY :]).mean() <= 0.02


def test_it_learns_the_daily_period(fitted):
    detector, _ = fitted
    assert detector.period == DAY


def test_it_finds_no_period_in_noise_or_a_random_walk():
    rng = np.random.default_rng(3)
    assert anomaly.fit(rng.standard_normal((2000, 3))).period is None
    assert anomaly.fit(np.cumsum(rng.standard_normal((2000, 3)), axis=0)).period is None


def test_it_gives_constant_columns_and_gaps_finite_scores():
    data = _servers(3 * DAY)
    data[:, 3] = 4.0  # replicas: never changes
    data[::13, 0] = np.nan
    data[50, :] = np.nan
    detector = anomaly.fit(data[: 2 * DAY])
    test = data[2 * DAY :].copy()
    test[10, :] = np.nan  # a scrape gap: the whole row missing
    test[20, 1] = np.inf
    scores = detector.score(test)
    assert np.isfinite(scores).all()
    assert scores[10] < detector.threshold
    test[30, 3] = 5.0  # the constant column moves
    assert detector.score(test)[30] >= detector.threshold
    assert detector.explain(test, 30)[0][0] == 3


def test_it_survives_a_column_that_is_missing_throughout():
    data = _servers(2 * DAY)
    data[:, 1] = np.nan
    detector = anomaly.fit(data[:DAY])
    assert np.isfinite(detector.score(data[DAY:])).all()


def test_it_explains_by_pointing_at_the_perturbed_metric(fitted):
    detector, test = fitted
    for metric in range(4):
        perturbed = test.copy()
        perturbed[200, metric] += 12 * np.nanstd(np.diff(test[:, metric]))
        explained = detector.explain(perturbed, 200)
        assert explained[0][0] == metric
        shares = [share for _, share in explained]
        assert shares == sorted(shares, reverse=True)
        assert sum(shares) == pytest.approx(1.0)
        assert sorted(j for j, _ in explained) == [0, 1, 2, 3]


def test_it_works_with_one_metric():
    rng = np.random.default_rng(5)
    series = np.sin(2 * np.pi * np.arange(6 * DAY) / DAY) + 0.1 * rng.standard_normal(6 * DAY)
    series = series.reshape(-1, 1)
    detector = anomaly.fit(series[: 4 * DAY], contamination=0.01)
    test = series[4 * DAY :].copy()
    test[77, 0] += 2.0
    flags = detector.score(test) >= detector.threshold
    assert flags[77]
    # A near-perfect sine with 10% noise: its level detector sees every wobble, so a few
    # percent of rows reach the line (5.2% since the local spread has a floor); not everything.
    assert flags.mean() <= 0.06
    assert detector.explain(test, 77) == [(0, 1.0)]


def test_it_works_with_120_metrics():
    rng = np.random.default_rng(6)
    common = rng.standard_normal((1500, 1))
    data = common + 0.5 * rng.standard_normal((1500, 120)) + np.arange(120)
    detector = anomaly.fit(data[:1000], contamination=0.01)
    test = data[1000:].copy()
    test[40, 97] += 5
    scores = detector.score(test)
    assert scores.shape == (500,)
    assert scores[40] >= detector.threshold
    assert (scores >= detector.threshold).mean() <= 0.03
    assert detector.explain(test, 40)[0][0] == 97


def test_it_rejects_bad_shapes_and_settings(fitted):
    detector, test = fitted
    with pytest.raises(ValueError, match="need at least 30 rows of training data, got 29"):
        anomaly.fit(np.ones((29, 3)))
    with pytest.raises(ValueError, match="got 0"):
        anomaly.fit(np.full((100, 3), np.nan))
    with pytest.raises(ValueError, match="2-D"):
        anomaly.fit(np.arange(100.0))
    with pytest.raises(ValueError, match="no metric columns"):
        anomaly.fit(np.ones((100, 0)))
    with pytest.raises(ValueError, match="numeric"):
        anomaly.fit([["a", "b"]] * 40)
    with pytest.raises(ValueError, match="contamination"):
        anomaly.fit(test, contamination=0.6)
    with pytest.raises(ValueError, match="window"):
        anomaly.fit(test, window=2)
    with pytest.raises(ValueError, match="data has 3 metrics, the detector was fitted on 4"):
        detector.score(test[:, :3])
    with pytest.raises(ValueError, match="2-D"):
        detector.score(test[:, 0])
    with pytest.raises(IndexError, match="out of range"):
        detector.explain(test[:10], 10)


def test_it_pickles_to_identical_scores(fitted):
    detector, test = fitted
    restored = pickle.loads(pickle.dumps(detector))  # noqa: S301 - bytes we just wrote
    np.testing.assert_array_equal(restored.score(test), detector.score(test))
    assert restored.threshold == detector.threshold


def test_it_is_deterministic_under_a_random_state():
    data = _servers(3 * DAY)
    a, b = anomaly.fit(data[: 2 * DAY]), anomaly.fit(data[: 2 * DAY])
    np.testing.assert_array_equal(a.score(data[2 * DAY :]), b.score(data[2 * DAY :]))
    c = anomaly.fit(data[: 2 * DAY], random_state=1)
    assert not np.array_equal(
        a.component_scores(data)["iforest"], c.component_scores(data)["iforest"]
    )


def test_it_uses_the_tail_of_training_as_context_and_rescores_training_rows(fitted):
    detector, test = fitted
    follow_on = detector.score(test)
    explicit = detector.score(test, start=detector.n_train)
    np.testing.assert_array_equal(follow_on, explicit)
    rescored = detector.score(_servers(10 * DAY)[: 7 * DAY], start=0)
    assert (rescored >= detector.threshold).mean() <= 0.03


def test_it_beats_a_plain_isolation_forest_on_the_benchmark_recipe():
    ours, forest, truth = [], [], []
    for seed in (21, 22):
        matrix, labels, _ = make_dataset(seed, 28 * DAY, 8, train_rows=14 * DAY)
        train, test = matrix[: 14 * DAY], matrix[14 * DAY :]
        ours.append(anomaly.fit(train).score(test))
        filled = np.nan_to_num(train, nan=0.0)
        plain = IsolationForest(random_state=0).fit(filled)
        forest.append(-plain.score_samples(np.nan_to_num(test, nan=0.0)))
        truth.append(labels[14 * DAY :])
    truth = np.concatenate(truth)
    ours_ap = average_precision_score(truth, np.concatenate(ours))
    forest_ap = average_precision_score(truth, np.concatenate(forest))
    assert ours_ap > forest_ap + 0.1


# -- manage.py detect_anomalies ----------------------------------------------------------------


def _csv(tmp_path, rows: int = 4 * DAY, labelled: bool = True):
    matrix, _, _ = make_dataset(4, rows, 4, train_rows=rows // 2)
    frame = pd.DataFrame(matrix, columns=metric_names(4))
    if labelled:
        stamps = pd.date_range("2026-01-05", periods=rows, freq="5min")
        frame.insert(0, "timestamp", stamps.strftime("%Y-%m-%dT%H:%M"))
    path = tmp_path / "metrics.csv"
    frame.to_csv(path, index=False)
    return path


def _run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("detect_anomalies", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_it_prints_one_line_per_row_with_label_score_and_flag(tmp_path):
    out, err = _run("--csv", str(_csv(tmp_path)), "--train-rows", str(2 * DAY))
    lines = out.splitlines()
    assert lines[0] == "label,score,flag"
    assert len(lines) == 1 + 4 * DAY
    label, score, flag = lines[1].split(",")
    assert label == "2026-01-05T00:00"
    assert float(score) >= 0
    assert flag in ("0", "1")
    flagged = sum(line.endswith(",1") for line in lines[1:])
    assert 0 < flagged < 0.2 * 4 * DAY
    assert f"fitted on {2 * DAY} rows x 4 metrics" in err


def test_it_labels_rows_by_number_without_a_label_column(tmp_path):
    out, _ = _run("--csv", str(_csv(tmp_path, labelled=False)), "--contamination", "0.05")
    lines = out.splitlines()
    assert [line.split(",")[0] for line in lines[1:4]] == ["0", "1", "2"]
    assert len(lines) == 1 + 4 * DAY


def test_it_fails_clearly_on_bad_input(tmp_path):
    with pytest.raises(CommandError, match="no such file"):
        _run("--csv", str(tmp_path / "missing.csv"))
    text = tmp_path / "text.csv"
    text.write_text("host,state\nweb-1,up\nweb-2,down\n")
    with pytest.raises(CommandError, match="no numeric columns"):
        _run("--csv", str(text))
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(CommandError, match="not a readable CSV"):
        _run("--csv", str(empty))
    short = _csv(tmp_path, rows=40)
    with pytest.raises(CommandError, match="need at least 30 rows of training data, got 20"):
        _run("--csv", str(short))
    with pytest.raises(CommandError, match="--train-rows 41 is more than the 40 rows"):
        _run("--csv", str(short), "--train-rows", "41")
    with pytest.raises(CommandError, match="contamination"):
        _run("--csv", str(short), "--train-rows", "40", "--contamination", "0.9")


@pytest.mark.parametrize(
    ("learned_minutes", "age_minutes", "uncovered", "due"),
    [
        (15, 14, 0, False),  # young, but the history has not doubled yet
        (15, 15, 0, True),  # doubled: learn again from 30 minutes
        (8 * 60, 7 * 60, 0, True),  # refit every 6 hours whatever its age
        (48 * 60, 5 * 60, 0, False),  # grown up: wait for the 6-hour refit
        (48 * 60, 30, 2, True),  # entities with no detector: sooner
        (None, 60, 0, False),  # what it learned from is unknown: the usual schedule
    ],
)
def test_it_refits_young_detectors_each_time_their_history_doubles(
    learned_minutes, age_minutes, uncovered, due
):
    from datetime import timedelta

    from apps.predictions.schedule import refit_due

    learned = None if learned_minutes is None else timedelta(minutes=learned_minutes)
    age = timedelta(minutes=age_minutes)
    assert refit_due(learned=learned, age=age, uncovered=uncovered) is due


def test_it_raises_the_same_alarms_from_scores_it_already_computed():
    rng = np.random.default_rng(11)
    x = rng.standard_normal((600, 3))
    x[520:540] += 6.0
    det = anomaly.fit(x[:400], contamination=0.01)
    scores = det.score(x[400:])
    assert det.alarms_of(scores).any()
    assert (det.alarms_of(scores) == det.alarms(x[400:])).all()
