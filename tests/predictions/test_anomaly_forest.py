"""The detector's Isolation Forest scoring (anomaly/forest.py) gives scikit-learn's own scores:
the same forest, the same rows, `-score_samples` — on random shapes, subsampled features and
rows, tiny forests."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.ensemble import IsolationForest

from apps.predictions.anomaly.forest import anomaly_scores, average_path_length


@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(1, 600),
    columns=st.integers(1, 12),
    trees=st.integers(1, 30),
    max_features=st.sampled_from([1.0, 0.5]),
    seed=st.integers(0, 2**16),
)
def test_it_matches_scikit_learn(rows, columns, trees, max_features, seed):
    rng = np.random.default_rng(seed)
    train = rng.normal(size=(rows, columns))
    forest = IsolationForest(
        n_estimators=trees,
        max_samples=min(256, rows),
        max_features=max_features,
        random_state=seed,
    ).fit(train)
    test = np.vstack([train[:5], rng.normal(0, 4, size=(20, columns))])
    np.testing.assert_allclose(anomaly_scores(forest, test), -forest.score_samples(test))


def test_it_scores_outliers_above_inliers():
    rng = np.random.default_rng(1)
    forest = IsolationForest(n_estimators=50, random_state=0).fit(rng.normal(size=(500, 3)))
    inlier, outlier = anomaly_scores(forest, np.array([[0.0, 0.0, 0.0], [9.0, -9.0, 9.0]]))
    assert outlier > 0.6 > 0.5 > inlier


def test_the_average_path_length_follows_liu_et_al():
    assert average_path_length([0, 1, 2]).tolist() == [0.0, 0.0, 1.0]
    (c256,) = average_path_length([256])
    assert c256 == pytest.approx(2 * (np.log(255) + np.euler_gamma) - 2 * 255 / 256)
