"""The anomaly detectors: a score and a flag per row, the threshold learnt at the contamination rate."""

from __future__ import annotations

import numpy as np
import pytest

from mlcraft.core.fit.family import BuildContext
from mlcraft.models import families_for
from mlcraft.models.anomaly import Detector, RankAverage, robust_rate, threshold_at


def cloud(n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A Gaussian cloud and 6 far rows (the last ones)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    far = rng.normal(size=(6, 3)) * 0.3 + np.array([7.0, -7.0, 7.0])
    return np.vstack([X, far]), np.r_[np.zeros(n), np.ones(6)]


NAMES = [f.name for f in families_for("anomaly")]


def test_every_detector_family_is_declared_for_anomalies_only():
    assert set(NAMES) == {
        "rank_average",
        "isolation_forest",
        "lof",
        "gmm_density",
        "pca_reconstruction",
        "elliptic_envelope",
        "one_class_svm",
    }
    assert not set(NAMES) & {f.name for f in families_for("cluster")}
    assert not set(NAMES) & {f.name for f in families_for("binary")}


@pytest.mark.parametrize("name", NAMES)
def test_each_detector_scores_the_far_rows_highest(name):
    from sklearn.metrics import roc_auc_score

    X, truth = cloud()
    family = next(f for f in families_for("anomaly") if f.name == name)
    ctx = BuildContext(
        task="anomaly", n_rows=len(X), n_features=3, seed=0, options={"contamination": 0.02}
    )
    model = family.build(family.default_params("anomaly", len(X)), ctx).fit(X)
    out = model.predict(X)
    assert out.shape == (len(X), 2) and set(np.unique(out[:, 1])) <= {0.0, 1.0}
    # the threshold is learnt on the training rows at the rate: about 2% of them flagged
    assert abs(out[:, 1].mean() - 0.02) <= 0.01
    assert roc_auc_score(truth, out[:, 0]) > 0.9  # (the one-class SVM: 0.94, its support vectors)
    new = model.predict(np.array([[0.0, 0.0, 0.0], [8.0, -8.0, 8.0]]))
    assert new[0, 0] < new[1, 0] and new[1, 1] == 1.0


def test_auto_contamination_is_the_robust_rule():
    scores = np.r_[np.random.default_rng(0).normal(size=1000), [20.0] * 10]
    rate = robust_rate(scores)
    assert 0.009 <= rate <= 0.02  # the 10 far scores and the normal tail beyond 3 robust SDs
    assert robust_rate(np.ones(50)) == pytest.approx(1 / 50)  # never 0 rows, never above half
    assert robust_rate(np.r_[np.zeros(10), np.ones(10)]) == pytest.approx(1 / 20)
    # over half the rows alike (a MAD of 0): the rows above them
    assert robust_rate(np.r_[np.zeros(11), np.ones(9)]) == pytest.approx(9 / 20)
    assert threshold_at(np.arange(100.0), 0.1) == 90.0


def test_auto_and_fixed_rates_are_saved_with_the_model():
    from sklearn.ensemble import IsolationForest

    X, _ = cloud()
    auto = Detector(IsolationForest(random_state=0)).fit(X)
    fixed = Detector(IsolationForest(random_state=0), contamination=0.1).fit(X)
    assert 0 < auto.contamination_ < 0.1 and fixed.contamination_ == 0.1
    assert fixed.predict(X)[:, 1].mean() == pytest.approx(0.1, abs=0.01)
    assert auto.threshold_ > fixed.threshold_


def test_the_rank_average_is_the_mean_empirical_cdf_of_its_members():
    from sklearn.ensemble import IsolationForest
    from sklearn.neighbors import LocalOutlierFactor

    X, truth = cloud()
    members = [
        Detector(IsolationForest(random_state=0)),
        Detector(LocalOutlierFactor(novelty=True)),
    ]
    model = RankAverage(members, contamination=0.02).fit(X)
    scores = model.predict(X)[:, 0]
    assert scores.min() >= 0 and scores.max() <= 1
    by_hand = np.mean(
        [
            np.searchsorted(d.train_scores_, d.score_samples(X), side="right") / len(X)
            for d in model.detectors_
        ],
        axis=0,
    )
    np.testing.assert_allclose(scores, by_hand)
    assert set(np.argsort(-scores)[:6]) == set(np.flatnonzero(truth))
    auto = RankAverage(members).fit(X)  # auto: the median of the members' rates
    assert auto.contamination_ == pytest.approx(
        np.median([d.contamination_ for d in auto.detectors_])
    )
