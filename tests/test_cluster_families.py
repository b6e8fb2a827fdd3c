"""The clustering families, their wrapper for new rows, and the clustering metrics."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.base import clone
from sklearn.cluster import DBSCAN, AgglomerativeClustering, KMeans
from sklearn.datasets import make_blobs

from mlcraft.core.analysis.metrics import (
    SILHOUETTE_MAX_ROWS,
    Scorer,
    external_cluster_scores,
    get_metric,
)
from mlcraft.core.data.schema import infer_schema
from mlcraft.core.fit.family import BuildContext
from mlcraft.core.predict.pipeline import make_pipeline
from mlcraft.exceptions import ConfigError
from mlcraft.models import REGISTRY, families_for
from mlcraft.models.cluster import FAMILIES, AssignByNeighbours, k_distance_eps, kmax
from mlcraft.testing import _check_space

CLUSTER_FAMILIES = sorted(f.name for f in FAMILIES)
SLOW_FAMILIES = {"tsne_hdbscan"}  # t-SNE: seconds a fit even on small tables
FITTED_FAMILIES = [
    pytest.param(n, marks=pytest.mark.slow) if n in SLOW_FAMILIES else n for n in CLUSTER_FAMILIES
]
EXPECTED = {
    "kmeans",
    "minibatch_kmeans",
    "gmm",
    "bayesian_gmm",
    "agglomerative",
    "birch",
    "dbscan",
    "hdbscan",
    "spectral",
    "meanshift",
    "affinity_propagation",
    "tsne_hdbscan",
}

# the families of the tabular kinds before clustering was added (the optional ones where installed)
TABULAR = {
    "regression": [
        "linear_regression",
        "ridge",
        "lasso",
        "elastic_net",
        "sgd",
        "linear_svm",
        "kernel_svm",
        "knn",
        "decision_tree",
        "random_forest",
        "extra_trees",
        "adaboost",
        "hist_gradient_boosting",
        "lightgbm",
        "mlp",
        "wide_deep",
    ],
    "binary": [
        "logistic_regression",
        "sgd",
        "linear_svm",
        "kernel_svm",
        "knn",
        "decision_tree",
        "random_forest",
        "extra_trees",
        "adaboost",
        "hist_gradient_boosting",
        "lightgbm",
        "mlp",
        "wide_deep",
    ],
}
TABULAR["multiclass"] = TABULAR["binary"]


def blob_frame(
    n: int = 240, seed: int = 0, missing: bool = True
) -> tuple[pd.DataFrame, np.ndarray]:
    """Three well separated blobs in two numeric columns, a categorical column that mostly follows
    them, a few missing values, and a dummy target (the schema needs one; clustering ignores it)."""
    X, truth = make_blobs(
        n, centers=[(-6, -6), (0, 6), (6, -3)], cluster_std=1.0, random_state=seed
    )
    rng = np.random.default_rng(seed)
    colour = np.where(rng.uniform(size=n) < 0.9, np.array(["red", "green", "blue"])[truth], "red")
    frame = pd.DataFrame({"x1": X[:, 0], "x2": X[:, 1], "colour": colour, "y": 0.0})
    if missing:
        frame.loc[::29, "x2"] = np.nan
    return frame, truth


def fitted(name: str, frame: pd.DataFrame, seed: int = 0):
    family = REGISTRY[name]
    schema = infer_schema(frame, "y")
    X, _ = schema.coerce(frame)
    ctx = BuildContext(task="cluster", n_rows=len(frame), n_features=5, seed=seed)
    params = family.default_params("cluster", len(frame))
    if "n_clusters" in params:
        params["n_clusters"] = 3
    if "n_components" in params:
        params["n_components"] = 3
    reference = np.random.default_rng(1).normal(size=(len(frame), 2))  # y: must be ignored
    pipeline = make_pipeline(family, schema, params, ctx).fit(X, reference)
    return pipeline, schema, params


def test_the_cluster_families_are_registered_for_the_cluster_kind_only():
    assert set(CLUSTER_FAMILIES) == EXPECTED
    assert [f.name for f in families_for("cluster")] == [f.name for f in FAMILIES]
    for family in FAMILIES:
        assert family.tasks == frozenset({"cluster"})
        assert family.needs_scaling and family.categorical == "onehot"
        assert family.description and family.available()
        for n in (50, 1000, 10**6):
            assert family.cost(n, 10) > 0 and family.memory_bytes(n, 10, {}) > 0


def test_the_tabular_kinds_keep_their_families():
    for task, names in TABULAR.items():
        expected = [n for n in names if REGISTRY[n].available()]
        assert [f.name for f in families_for(task)] == expected, task


@pytest.mark.parametrize("name", CLUSTER_FAMILIES)
def test_space_defaults_lie_in_their_ranges(name):
    family = REGISTRY[name]
    _check_space(family, "cluster")
    for n in (40, 300, 100_000):
        params = family.default_params("cluster", n)
        for extra in family.portfolio_params("cluster", n):
            assert extra.keys() == params.keys()
            for key in ("n_clusters", "n_components"):
                if key in extra:
                    assert 2 <= extra[key] <= kmax(n)
            space = family.space("cluster", n)
            for key, value in extra.items():  # a portfolio entry never leaves the space
                dim = space[key]
                if hasattr(dim, "choices"):
                    assert value in dim.choices, (name, n, key, value)
                else:
                    assert dim.low <= value <= dim.high, (name, n, key, value)


def test_kmax_follows_the_rows():
    assert [kmax(n) for n in (10, 40, 60, 200, 400, 10**6)] == [2, 2, 3, 10, 20, 20]


@pytest.mark.parametrize("name", FITTED_FAMILIES)
def test_family_fits_predicts_new_rows_is_deterministic_and_pickles(name):
    frame, _ = blob_frame()
    new, _ = blob_frame(60, seed=5)
    pipeline, schema, params = fitted(name, frame)
    model = pipeline.steps[-1][1]
    X_new, _ = schema.coerce(new)
    pred = pipeline.predict(X_new)
    assert pred.shape == (len(new),) and np.issubdtype(pred.dtype, np.integer)
    k = params.get("n_clusters") or params.get("n_components")
    if k is None:
        k = int(model.labels_.max()) + 1
    assert pred.min() >= -1 and pred.max() < k, (name, sorted(set(pred)))
    assert len(set(pred) - {-1}) >= 2, f"{name}: fewer than 2 clusters on 3 clear blobs"
    again = pickle.loads(pickle.dumps(pipeline))
    assert np.array_equal(again.predict(X_new), pred), (
        f"{name}: unpickled model predicts differently"
    )
    second, _, _ = fitted(name, frame)
    assert np.array_equal(second.predict(X_new), pred), f"{name}: same seed, different predictions"
    if hasattr(model, "predict_proba"):
        proba = pipeline.predict_proba(X_new)
        assert proba.shape == (len(new), k) and np.allclose(proba.sum(axis=1), 1.0)


@pytest.mark.parametrize("name", FITTED_FAMILIES)
def test_family_finds_the_three_blobs(name):
    """Fitted on 240 rows with a categorical column, each family recovers the blobs on new rows.

    (Without missing values: the standardised indicator of a value missing in 1 row of 29 is a
    coordinate of about 5, which some families rightly take for a cluster of its own.)"""
    frame, _ = blob_frame(missing=False)
    new, truth = blob_frame(90, seed=7, missing=False)
    pipeline, schema, _ = fitted(name, frame)
    X_new, _ = schema.coerce(new)
    assert skm.adjusted_rand_score(truth, pipeline.predict(X_new)) > 0.8, name


def test_dbscan_assigns_near_rows_to_their_cluster_and_far_rows_to_noise():
    X, truth = make_blobs(300, centers=[(0, 0), (10, 10)], cluster_std=0.5, random_state=0)
    model = AssignByNeighbours(DBSCAN(min_samples=5), radius="eps", eps_quantile=0.9).fit(X)
    assert model.eps_ == pytest.approx(k_distance_eps(X, 5, 0.9))
    assert model.radius_ == model.eps_ == model.estimator_.eps
    assert len(model.index_labels_) == len(model.estimator_.core_sample_indices_)
    first, second = model.labels_[truth == 0][0], model.labels_[truth == 1][0]
    assert first != second and min(first, second) >= 0
    near = np.array([[0.1, -0.1], [9.9, 10.2]])
    far = np.array([[5.0, 5.0], [100.0, -100.0]])
    assert model.predict(near).tolist() == [first, second]
    assert model.predict(far).tolist() == [-1, -1]
    assert model.predict(X[:50]).tolist() == [
        label if label >= 0 else model.predict(X[i : i + 1])[0]
        for i, label in enumerate(model.labels_[:50])
    ]


def test_dbscan_with_no_core_sample_predicts_noise():
    X = np.random.default_rng(0).normal(size=(40, 3))
    model = AssignByNeighbours(DBSCAN(eps=1e-6, min_samples=5), radius="eps").fit(X)
    assert model.index_ is None and model.n_clusters_ == 0
    assert (model.predict(X) == -1).all() and (model.labels_ == -1).all()


def test_k_distance_eps_is_the_quantile_of_the_distance_to_the_kth_neighbour():
    X = np.arange(10, dtype=float).reshape(-1, 1) ** 2  # gaps 1, 3, 5, ...
    # the 2nd neighbour, the row itself counted: its nearest other row
    nearest = np.array([1, 1, 3, 5, 7, 9, 11, 13, 15, 17], dtype=float)
    assert k_distance_eps(X, 2, 0.5) == pytest.approx(np.quantile(nearest, 0.5))
    assert k_distance_eps(np.zeros((5, 2)), 3, 0.9) > 0  # identical rows: still a valid eps


def test_the_wrapper_subsamples_large_tables_and_labels_every_row():
    X, truth = make_blobs(600, centers=3, cluster_std=0.6, random_state=3)
    model = AssignByNeighbours(
        AgglomerativeClustering(n_clusters=3), max_rows=200, random_state=0
    ).fit(X)
    assert len(model.index_labels_) == 200 and model.labels_.shape == (600,)
    assert skm.adjusted_rand_score(truth, model.labels_) > 0.95
    twice = clone(model).fit(X)
    assert np.array_equal(twice.labels_, model.labels_)
    assert model.fit_predict(X).tolist() == model.labels_.tolist()


def test_the_wrapper_follows_scikit_learn_rules():
    wrapper = AssignByNeighbours(KMeans(n_clusters=2, random_state=0), max_rows=50, random_state=1)
    params = wrapper.get_params(deep=False)
    assert params == {
        "estimator": wrapper.estimator,
        "radius": None,
        "eps_quantile": None,
        "bandwidth_quantile": None,
        "max_rows": 50,
        "random_state": 1,
    }
    assert clone(wrapper).get_params(deep=False)["max_rows"] == 50
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        wrapper.predict(np.zeros((2, 2)))
    X = np.random.default_rng(0).normal(size=(80, 2))
    wrapper.fit(X)
    assert wrapper.n_features_in_ == 2 and wrapper.index_ is None  # KMeans predicts itself
    assert np.array_equal(wrapper.predict(X), wrapper.estimator_.predict(X))
    with pytest.raises(ValueError):
        wrapper.predict(np.zeros((2, 3)))


@pytest.mark.parametrize(
    "wrapper",
    [
        AssignByNeighbours(AgglomerativeClustering(n_clusters=3)),
        AssignByNeighbours(
            DBSCAN(min_samples=3), radius="eps", eps_quantile=0.9, max_rows=20, random_state=0
        ),
        AssignByNeighbours(KMeans(3, n_init=1, random_state=0), max_rows=20, random_state=0),
    ],
    ids=["agglomerative", "dbscan-subsampled", "kmeans-subsampled"],
)
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.SkipTestWarning")  # array API: not set up
def test_the_wrapper_passes_scikit_learns_estimator_checks(wrapper):
    from sklearn.utils.estimator_checks import check_estimator

    failed = [r for r in check_estimator(wrapper, on_fail=None) if r["status"] == "failed"]
    assert not failed, [(r["check_name"], str(r["exception"])[:300]) for r in failed]


def test_bayesian_gmm_prunes_components_it_does_not_need():
    frame, truth = blob_frame(300)
    family = REGISTRY["bayesian_gmm"]
    schema = infer_schema(frame, "y")
    X, _ = schema.coerce(frame)
    params = {**family.default_params("cluster", 300), "n_components": 10}
    params["weight_concentration_prior"] = 0.001
    ctx = BuildContext(task="cluster", n_rows=300, n_features=5, seed=0)
    pipeline = make_pipeline(family, schema, params, ctx).fit(X)
    weights = pipeline.steps[-1][1].weights_
    assert (weights > 0.05).sum() <= 5 < 10
    assert skm.adjusted_rand_score(truth, pipeline.predict(X)) > 0.8


def test_kmeans_at_the_true_k_has_the_best_held_out_silhouette():
    centres = [(-8, -8), (-8, 8), (8, -8), (8, 8)]
    X, _ = make_blobs(800, centers=centres, cluster_std=1.5, random_state=4)
    train, held = X[:600], X[600:]
    scorer = Scorer(get_metric("silhouette", "cluster"))
    scores = {
        k: scorer(held, KMeans(k, n_init=3, random_state=0).fit(train).predict(held).astype(float))
        for k in range(2, 9)
    }
    assert max(scores, key=scores.get) == 4, scores
    ch, db = Scorer(get_metric("calinski_harabasz")), Scorer(get_metric("davies_bouldin"))
    labels = KMeans(4, n_init=3, random_state=0).fit(train).predict(held)
    assert ch(held, labels) > 0 and 0 < db(held, labels) < 1.0
    assert db.sign == -1 and scorer.sign == ch.sign == 1


def test_cluster_metrics_match_scikit_learn():
    X, labels = make_blobs(500, centers=3, random_state=2)
    pred = labels.astype(float)  # fold arrays are floats
    assert Scorer(get_metric("silhouette"))(X, pred) == pytest.approx(
        skm.silhouette_score(X, labels)
    )
    assert Scorer(get_metric("calinski_harabasz"))(X, pred) == pytest.approx(
        skm.calinski_harabasz_score(X, labels)
    )
    assert Scorer(get_metric("davies_bouldin"))(X, pred) == pytest.approx(
        skm.davies_bouldin_score(X, labels)
    )
    bound = Scorer(get_metric("silhouette")).bind(X)
    assert bound(pred) == Scorer(get_metric("silhouette"))(X, pred)


def test_noise_counts_as_zero_silhouette_and_is_left_out_of_the_other_scores():
    X, labels = make_blobs(300, centers=3, random_state=2)
    noisy = labels.copy()
    noisy[::10] = -1
    kept = noisy >= 0
    expected = skm.silhouette_samples(X[kept], noisy[kept]).sum() / len(X)
    assert Scorer(get_metric("silhouette"))(X, noisy) == pytest.approx(expected)
    assert Scorer(get_metric("calinski_harabasz"))(X, noisy) == pytest.approx(
        skm.calinski_harabasz_score(X[kept], noisy[kept])
    )
    assert Scorer(get_metric("davies_bouldin"))(X, noisy) == pytest.approx(
        skm.davies_bouldin_score(X[kept], noisy[kept])
    )


@pytest.mark.parametrize(
    "labels",
    [
        np.zeros(60),  # one cluster
        -np.ones(60),  # all noise
        np.r_[np.zeros(59), -1],  # one cluster and noise
        np.r_[[0, 1], -np.ones(58)],  # two clusters of one row each, the rest noise
        np.full(60, np.nan),  # no prediction at all
    ],
)
def test_degenerate_clusterings_get_the_documented_finite_scores(labels):
    X = np.random.default_rng(0).normal(size=(60, 3))
    silhouette = Scorer(get_metric("silhouette"))(X, labels)
    ch = Scorer(get_metric("calinski_harabasz"))(X, labels)
    db = Scorer(get_metric("davies_bouldin"))(X, labels)
    # clusters of a single row are scored as noise: fewer than 2 clusters in every case
    assert (silhouette, ch, db) == (-1.0, 0.0, 1e6)
    assert np.isfinite([silhouette, ch, db]).all()


def test_a_few_outlying_rows_split_off_are_not_clusters():
    """One group holding nearly every row, and far outliers as tiny "clusters" (mean shift on the
    digits' pixels): the worst silhouette, not a well separated one."""
    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(size=(300, 3)), [[40.0, 0, 0], [0, 40.0, 0]]]
    split_off = np.r_[np.zeros(300), 1, 2]
    assert Scorer(get_metric("silhouette"))(X, split_off) == -1.0
    two = np.r_[np.zeros(294), np.ones(8)]  # 97% and 3%: the 3% under a tenth of the mean size
    X2 = np.r_[rng.normal(size=(294, 3)), rng.normal(size=(8, 3)) + 30]
    assert Scorer(get_metric("silhouette"))(X2, two) == -1.0
    X = np.r_[rng.normal(size=(150, 3)), rng.normal(size=(150, 3)) + 8]
    assert Scorer(get_metric("silhouette"))(X, np.r_[np.zeros(150), np.ones(150)]) > 0.5


def test_silhouette_is_scored_on_a_fixed_sample_of_large_tables():
    X, labels = make_blobs(6000, centers=3, cluster_std=3.0, random_state=0)
    scorer = Scorer(get_metric("silhouette"))
    first, second = scorer(X, labels), scorer(X, labels)
    assert first == second
    assert first == pytest.approx(skm.silhouette_score(X, labels), abs=0.02)
    assert SILHOUETTE_MAX_ROWS == 2000


def test_cluster_metrics_belong_to_the_cluster_kind():
    for name in ("silhouette", "calinski_harabasz", "davies_bouldin"):
        assert get_metric(name, "cluster").tasks == frozenset({"cluster"})
        assert get_metric(name).needs == "clusters"
        with pytest.raises(ConfigError, match="does not apply to a regression task"):
            get_metric(name, "regression")
    with pytest.raises(ConfigError, match="known labels"):
        get_metric("adjusted_rand_score")


def test_external_cluster_scores_equal_scikit_learn():
    rng = np.random.default_rng(0)
    truth = rng.choice(["a", "b", "c"], size=200)
    pred = np.where(truth == "a", 0, rng.integers(-1, 3, size=200))  # -1: noise, its own cluster
    scores = external_cluster_scores(truth, pred)
    assert scores == {
        "adjusted_rand": pytest.approx(skm.adjusted_rand_score(truth, pred)),
        "normalized_mutual_info": pytest.approx(skm.normalized_mutual_info_score(truth, pred)),
        "homogeneity": pytest.approx(skm.homogeneity_score(truth, pred)),
        "completeness": pytest.approx(skm.completeness_score(truth, pred)),
    }
    with_missing = pd.Series(truth, dtype=object)
    with_missing[:10] = None
    assert external_cluster_scores(with_missing, pred) == pytest.approx(
        external_cluster_scores(truth[10:], pred[10:])
    )
    with pytest.raises(ValueError, match="3 known labels for 2"):
        external_cluster_scores([0, 1, 1], [0, 1])


def test_the_mixture_chooses_k_and_the_covariance_type_by_bic():
    from mlcraft.models.cluster import MixtureByCriterion

    X, truth = make_blobs(300, centers=[(-6, -6), (0, 6), (6, -3)], random_state=0)
    model = MixtureByCriterion(max_components=6, random_state=0).fit(X)
    assert model.n_components_ == 3
    assert {c["k"] for c in model.criteria_} == {2, 3, 4, 5}  # 2 k without a lower BIC: stop
    assert len(model.criteria_) == 4 * 4
    lowest = min(model.criteria_, key=lambda c: c["bic"])
    assert (lowest["k"], lowest["covariance"]) == (3, model.covariance_type_)
    assert np.allclose(model.predict_proba(X).sum(axis=1), 1.0)
    by_aic = MixtureByCriterion(max_components=6, criterion="aic", covariance_type="diag").fit(X)
    assert {c["covariance"] for c in by_aic.criteria_} == {"diag"} and by_aic.n_components_ >= 3


def test_the_mixture_walk_stops_at_the_fit_deadline():
    import time

    from mlcraft.core.fit.family import fit_deadline
    from mlcraft.models.cluster import MixtureByCriterion

    X, _ = make_blobs(300, centers=3, random_state=0)
    with fit_deadline(time.time()):  # no time left: k = 2 only, every covariance type
        model = MixtureByCriterion(max_components=8, random_state=0).fit(X)
    assert model.stopped_at_ == 3 and {c["k"] for c in model.criteria_} == {2}
    assert len(model.criteria_) == 4 and model.n_components_ == 2
    assert MixtureByCriterion(max_components=4, random_state=0).fit(X).stopped_at_ is None
