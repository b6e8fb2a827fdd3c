"""The searched preparation of the supervised search: PCA keeping a share of the variance, or the
book's cluster-similarity features, for linear models, SVMs and k-NN only, never in a family's
first trials."""

from __future__ import annotations

import numpy as np
import pytest

from mlcraft.core.data.preprocess import (
    REDUCTIONS,
    ClusterSimilarity,
    VarianceKeptPCA,
    reduction_step,
)
from mlcraft.core.data.schema import infer_schema
from mlcraft.core.fit.candidates import family_spec
from mlcraft.core.fit.family import BuildContext, preparation_space
from mlcraft.core.predict.pipeline import make_pipeline
from mlcraft.models import REGISTRY
from mlcraft.testing import toy_frame


@pytest.mark.parametrize(
    "name, task, searched",
    [
        ("ridge", "regression", True),
        ("logistic_regression", "binary", True),
        ("knn", "multiclass", True),
        ("kernel_svm", "regression", True),
        ("random_forest", "regression", False),
        ("hist_gradient_boosting", "binary", False),
        ("decision_tree", "regression", False),
        ("kmeans", "cluster", False),
        ("pca", "embed", False),
    ],
)
def test_only_the_scaled_supervised_families_search_it(name, task, searched):
    space = preparation_space(REGISTRY[name], task)
    assert bool(space) is searched
    if searched:
        assert space["prepare"].choices == REDUCTIONS and space["prepare"].default == "none"


def test_the_first_trials_prepare_as_before():
    frame = toy_frame("regression")
    schema = infer_schema(frame, "y")
    spec = family_spec(REGISTRY["knn"], schema, "regression", 0, len(frame), 1)
    assert "prepare" in spec.space and len(spec.first) > 1
    assert all(p["prepare"] == "none" for p in spec.first)
    trees = family_spec(REGISTRY["random_forest"], schema, "regression", 0, len(frame), 1)
    assert "prepare" not in trees.space and all("prepare" not in p for p in trees.first)


@pytest.mark.parametrize("choice", REDUCTIONS)
def test_each_preparation_fits_and_predicts(choice):
    frame = toy_frame("regression")
    schema = infer_schema(frame, "y")
    X, _ = schema.coerce(frame)
    ctx = BuildContext(task="regression", n_rows=len(frame), n_features=5, seed=0)
    params = {"alpha": 1.0, "prepare": choice}
    pipeline = make_pipeline(REGISTRY["ridge"], schema, params, ctx).fit(X, frame["y"])
    names = [name for name, _ in pipeline.steps]
    assert names == (["prepare", "model"] if choice == "none" else ["prepare", "reduce", "model"])
    assert "prepare" not in pipeline.named_steps["model"].get_params()
    pred = pipeline.predict(X)
    assert pred.shape == (len(frame),) and np.isfinite(pred).all()
    if choice.startswith("similarity"):
        encoded = pipeline.named_steps["prepare"].transform(X).shape[1]
        assert pipeline[:-1].transform(X).shape[1] == encoded + int(choice.split(":")[1])


def test_the_transformers():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2)) @ rng.normal(size=(2, 6)) + rng.normal(size=(200, 6)) * 0.01
    assert VarianceKeptPCA(0.95).fit(X).n_components_ == 2
    sim = ClusterSimilarity(4, random_state=0).fit(X)
    out = sim.transform(X)
    assert out.shape == (200, 10) and np.allclose(out[:, :6], X)
    assert ((out[:, 6:] > 0) & (out[:, 6:] <= 1)).all()
    with pytest.raises(ValueError, match="prepare must be one of"):
        reduction_step({"prepare": "umap:2"}, 0)
