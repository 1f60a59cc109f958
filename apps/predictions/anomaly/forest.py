"""Isolation Forest scores in one pass over the trees.

scikit-learn's `IsolationForest.score_samples` sends every tree through joblib, one `delayed`
call per tree even when it runs them in sequence. The product scores a few dozen rows per
entity at every collection, where that dispatch costs several times the trees' own work (and,
in a thread, warns that `delayed` was used without its `Parallel`). Here each tree's leaves
carry the path length they stand for — their depth plus the average path length of the
training points they still hold (Liu et al., 2008) — so a score is one `apply` per tree and a
sum. The numbers are scikit-learn's own (tests/predictions/test_anomaly_forest.py checks it).
Pure: numpy and scikit-learn.
"""

import weakref

import numpy as np
from sklearn.ensemble import IsolationForest

_paths: "weakref.WeakKeyDictionary[IsolationForest, list[np.ndarray]]" = weakref.WeakKeyDictionary()


def average_path_length(n: np.ndarray) -> np.ndarray:
    """c(n): the average path length of an unsuccessful search in a binary tree of n points
    (0 for one point or none, 1 for two)."""
    n = np.asarray(n, dtype=float)
    out = np.where(n == 2, 1.0, 0.0)
    big = n > 2
    out[big] = 2.0 * (np.log(n[big] - 1.0) + np.euler_gamma) - 2.0 * (n[big] - 1.0) / n[big]
    return out


def leaf_paths(tree) -> np.ndarray:
    """Per node of a fitted tree (`estimator.tree_`): its depth (the root is 0) plus c(the
    training points it holds) — the path length a row that lands there is counted."""
    left, right = tree.children_left, tree.children_right
    depth = np.zeros(tree.node_count)
    stack = [0]
    while stack:  # each node is pushed once, by its parent: bounded by the node count
        node = stack.pop()
        if left[node] != -1:
            depth[left[node]] = depth[right[node]] = depth[node] + 1
            stack += [left[node], right[node]]
    return depth + average_path_length(tree.n_node_samples)


def anomaly_scores(forest: IsolationForest, x: np.ndarray) -> np.ndarray:
    """`-forest.score_samples(x)`: 2 ** -(mean path length / c(max samples)), one per row of
    `x`; near 1 is anomalous, well under 0.5 normal."""
    paths = _paths.get(forest)
    if paths is None:
        paths = _paths.setdefault(forest, [leaf_paths(e.tree_) for e in forest.estimators_])
    x = np.ascontiguousarray(x, dtype=np.float32)
    every = np.arange(x.shape[1])
    total = np.zeros(len(x))
    for estimator, features, path in zip(
        forest.estimators_, forest.estimators_features_, paths, strict=True
    ):
        rows = x if np.array_equal(features, every) else np.ascontiguousarray(x[:, features])
        total += path[estimator.tree_.apply(rows)]
    scale = len(forest.estimators_) * float(average_path_length([forest.max_samples_])[0])
    if scale == 0:  # trees of one point: scikit-learn counts the ratio as 1
        return np.full(len(x), 0.5)
    return 2.0 ** (-total / scale)
