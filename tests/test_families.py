"""Every registered model family passes the conformance checks."""

from __future__ import annotations

import pytest

from mlcraft.exceptions import ConfigError
from mlcraft.models import REGISTRY, families_for, get_family
from mlcraft.testing import check_family

BOOK_FAMILIES = {
    "linear_regression",
    "ridge",
    "lasso",
    "elastic_net",
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
}


def test_registry_has_the_book_families():
    assert BOOK_FAMILIES <= set(REGISTRY)


# check_family knows the tabular kinds; the clustering families are checked in test_cluster_families
TABULAR_TASKS = {"regression", "binary", "multiclass"}


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.slow) if n == "hist_gradient_boosting" else n
        for n in sorted(REGISTRY)
        if REGISTRY[n].tasks & TABULAR_TASKS
    ],
)  # its fits: the most time
def test_family_conformance(name):
    check_family(REGISTRY[name])


def test_family_lookup():
    assert all(f.supports("binary") for f in families_for("binary"))
    assert "ridge" not in [f.name for f in families_for("binary")]
    with pytest.raises(ConfigError, match="unknown model family"):
        get_family("nope")


def test_kernel_svm_subsamples_large_data():
    import numpy as np

    from mlcraft.core.fit.family import BuildContext

    family = get_family("kernel_svm")
    est = family.make(
        family.default_params("regression", 100), BuildContext("regression", 100, 2, 0)
    )
    est.max_rows = 50
    X = np.random.default_rng(0).normal(size=(120, 2))
    est.fit(X, X[:, 0])
    assert est.subsampled_ and est.estimator_.regressor_.support_vectors_.shape[0] <= 50
