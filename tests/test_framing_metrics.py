"""Task inference, positive class, metrics by name."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from mlcraft.core.analysis.metrics import Scorer, default_metric, get_metric
from mlcraft.core.data.framing import check_target
from mlcraft.exceptions import ConfigError, DataError
from mlcraft.tasks import get_kind, infer_kind


@pytest.mark.parametrize(
    "values, task",
    [
        ([0, 1, 1, 0], "binary"),
        (["a", "b", "a"], "binary"),
        ([True, False, True], "binary"),
        (["a", "b", "c"], "multiclass"),
        ([1, 2, 3, 4, 2], "multiclass"),
        ([1.0, 2.0, 3.0], "multiclass"),
        ([0.5, 1.7, 2.2, 9.1], "regression"),
        (list(range(100)), "regression"),
    ],
)
def test_infer_task(values, task):
    assert infer_kind(pd.Series(values)).name == task


def test_bad_targets():
    with pytest.raises(DataError, match="entirely missing"):
        check_target(pd.Series([np.nan, np.nan]), "y")
    with pytest.raises(DataError, match="single value"):
        check_target(pd.Series(["a", "a", None]), "y")


def test_positive_class():
    assert get_kind("binary").positive_class(pd.Series([0, 1, 0, 0])) == 1
    assert get_kind("binary").positive_class(pd.Series(["no", "yes", "no"])) == "yes"
    assert (
        get_kind("binary").positive_class(pd.Series(["benign", "malignant", "benign"]))
        == "malignant"
    )
    assert get_kind("binary").positive_class(pd.Series(["a", "b", "b"]), "b") == "b"
    with pytest.raises(ConfigError, match="not a class"):
        get_kind("binary").positive_class(pd.Series(["a", "b"]), "c")
    assert get_kind("regression").positive_class(pd.Series([1.0, 2.0])) is None


def test_metric_names_and_defaults():
    assert get_metric("neg_root_mean_squared_error").name == "rmse"
    assert get_metric("AUC").name == "roc_auc"
    assert [default_metric(t) for t in ("regression", "binary", "multiclass")] == [
        "rmse",
        "roc_auc",
        "log_loss",
    ]
    with pytest.raises(ConfigError, match="unknown metric"):
        get_metric("bogus")
    with pytest.raises(ConfigError, match="does not apply"):
        get_metric("rmse", "binary")


def test_scorers_match_scikit_learn():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    p1 = np.clip(y * 0.6 + rng.uniform(0, 0.4, 200), 0, 1)
    proba = np.column_stack([1 - p1, p1])
    auc = Scorer(get_metric("roc_auc"), classes=[0, 1], positive_class=1)
    assert auc(y, proba) == pytest.approx(skm.roc_auc_score(y, p1))
    ll = Scorer(get_metric("log_loss"), classes=[0, 1], positive_class=1)
    assert ll(y, proba) == pytest.approx(skm.log_loss(y, proba))
    f1 = Scorer(get_metric("f1"), classes=[0, 1], positive_class=1)
    assert f1(y, proba) == pytest.approx(skm.f1_score(y, (p1 >= 0.5).astype(int)))
    rmse = Scorer(get_metric("rmse"))
    assert rmse(np.array([0.0, 0.0]), np.array([3.0, 4.0])) == pytest.approx(np.sqrt(12.5))
    assert rmse.sign == -1 and auc.sign == 1


def test_fast_binary_auc_equals_scikit_learn_with_ties():
    import numpy as np
    from sklearn.metrics import roc_auc_score

    from mlcraft.core.analysis.metrics import Scorer, get_metric

    rng = np.random.default_rng(0)
    y = rng.choice(["no", "yes"], size=500)
    p = np.round(rng.uniform(size=500), 1)  # many ties
    scorer = Scorer(get_metric("roc_auc"), classes=["no", "yes"], positive_class="yes")
    assert scorer(y, np.column_stack([1 - p, p])) == pytest.approx(
        roc_auc_score(y == "yes", p), abs=1e-12
    )


@pytest.mark.parametrize(
    "name,task,k",
    [
        ("rmse", "regression", 0),
        ("mse", "regression", 0),
        ("mae", "regression", 0),
        ("log_loss", "multiclass", 3),
        ("log_loss", "binary", 2),
        ("roc_auc", "binary", 2),
        ("roc_auc", "multiclass", 3),
        ("accuracy", "multiclass", 3),
    ],
)
def test_a_scorer_bound_to_its_targets_gives_the_checked_scores(name, task, k):
    """Greedy ensemble selection calls ``scorer.bind(y)`` thousands of times: its NumPy paths must
    give scikit-learn's values, including probabilities of exactly 0 and 1 and string labels."""
    rng = np.random.default_rng(7)
    n = 157
    if k == 0:
        scorer, y = Scorer(get_metric(name)), rng.normal(100, 20, size=n)
        preds = [y + rng.normal(0, s, size=n) for s in (0.0, 1.0, 30.0)]
    else:
        classes = ["low", "mid", "high"][:k]
        scorer = Scorer(
            get_metric(name), classes=classes, positive_class=classes[-1] if k == 2 else None
        )
        y = np.asarray(classes, dtype=object)[rng.integers(0, k, size=n)]
        sharp = np.eye(k)[rng.integers(0, k, size=n)]  # probabilities of exactly 0 and 1
        preds = [rng.dirichlet(np.ones(k), size=n), sharp, 0.5 * sharp + 0.5 / k]
    bound = scorer.bind(y)
    for pred in preds:
        assert bound(pred) == pytest.approx(scorer(y, pred), rel=1e-12, abs=1e-12)


class _Fixed:
    """An estimator that answers fixed predictions, for scikit-learn's own scorers."""

    def __init__(self, pred, classes=None, positive=None):
        self.pred, self.positive = pred, positive
        self.classes_ = None if classes is None else np.asarray(classes)

    def predict(self, X):
        if self.classes_ is None:
            return self.pred
        from mlcraft.core.analysis.metrics import decide_labels

        return np.array(
            decide_labels(
                self.pred, self.classes_, self.positive, 0.5 if self.positive is not None else None
            ).tolist()
        )

    def predict_proba(self, X):
        return self.pred


def _toy(task):
    rng = np.random.default_rng(3)
    n = 120
    if task == "regression":
        y = rng.uniform(1, 10, n)
        return y, np.clip(y + rng.normal(0, 1.5, n), 0.5, None), None, None
    k = 2 if task == "binary" else 3
    classes = list(range(k))
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y]
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, proba, classes, (1 if k == 2 else None)


def _sk_score(name, task, y, pred, classes, positive):
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin

    kind = RegressorMixin if task == "regression" else ClassifierMixin
    estimator = type("Fixed", (kind, _Fixed, BaseEstimator), {})(pred, classes, positive)
    return skm.get_scorer(name)(estimator, np.zeros((len(y), 1)), y)


# where mlcraft does more than scikit-learn's scorer of that name (which raises): compared with this one
_EXTENDS = {("roc_auc", "multiclass"): "roc_auc_ovr"}


@pytest.mark.parametrize("name", skm.get_scorer_names())
def test_every_scikit_learn_scorer_name_is_accepted_or_refused_with_a_reason(name):
    """A scorer name that a new scikit-learn adds fails here until the metric table decides on it."""
    from mlcraft.core.analysis.metrics import REFUSED

    if name in REFUSED:
        with pytest.raises(ConfigError, match="does not use: it .{20,}"):
            get_metric(name)
        return
    metric = get_metric(name)
    assert metric.greater_is_better == (not name.startswith("neg_")), name
    assert name in metric.sklearn or name == metric.name
    for task in ("regression", "binary", "multiclass"):
        if task not in metric.tasks:
            with pytest.raises(ConfigError, match=f"does not apply to a {task} task"):
                get_metric(name, task)
            continue
        y, pred, classes, positive = _toy(task)
        ours = Scorer(get_metric(name, task), classes=classes, positive_class=positive)(y, pred)
        theirs = _sk_score(_EXTENDS.get((name, task), name), task, y, pred, classes, positive)
        assert np.isfinite(ours)
        assert metric.sign * ours == pytest.approx(theirs, rel=1e-9, abs=1e-12), (name, task)


def test_metrics_outside_their_domain():
    from mlcraft.core.analysis.metrics import check_metric_target

    with pytest.raises(ConfigError, match="needs a target that is positive.*1 value"):
        check_metric_target(get_metric("neg_mean_gamma_deviance"), [0.0, 1.0, 2.0], "y")
    check_metric_target(get_metric("neg_mean_poisson_deviance"), [0.0, 1.0, np.nan], "y")
    check_metric_target(get_metric("rmse"), [-5.0], "y")
    # a model may predict below the domain: the prediction is raised to its edge, never an error
    assert np.isfinite(Scorer(get_metric("msle"))(np.array([0.0, 1.0]), np.array([-3.0, 1.0])))
    with pytest.raises(ConfigError, match="with two classes the true class is always"):
        get_metric("top_k_accuracy", "binary")
    with pytest.raises(ConfigError, match="clustering"):
        get_metric("adjusted_rand_score")
