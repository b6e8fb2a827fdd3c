"""The dimensionality-reduction families: registered for the embed kind only, fitted without the
target, D coordinates for every new row, the same coordinates after pickling and with the same
seed, and the maps and bounds ``analyse`` shows."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_swiss_roll

from mlcraft.core.analysis import embedding
from mlcraft.core.analysis.metrics import get_metric
from mlcraft.core.data.schema import infer_schema
from mlcraft.core.fit.family import BuildContext
from mlcraft.core.predict.pipeline import make_pipeline, predict_array
from mlcraft.exceptions import ConfigError
from mlcraft.models import REGISTRY, families_for, get_family
from mlcraft.models.embed import FAMILIES, NOT_FAMILIES, FitOnSample
from mlcraft.tasks import get_kind
from mlcraft.tasks.embed import coordinate_names

EXPECTED = {
    "pca",
    "randomized_pca",
    "incremental_pca",
    "kernel_pca",
    "lle",
    "isomap",
    "gaussian_projection",
    "sparse_projection",
}
OPTIONAL = {"umap"}  # only where umap-learn is installed


def table(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2)) @ rng.normal(size=(2, 5)) + rng.normal(size=(n, 5)) * 0.05
    frame = pd.DataFrame(X, columns=[f"x{j}" for j in range(5)])
    frame["colour"] = np.where(X[:, 0] > 0, "red", "blue")
    frame.loc[::23, "x1"] = np.nan
    frame["y"] = 0.0
    return frame


def fitted(name: str, frame: pd.DataFrame, dims: int = 2, seed: int = 0):
    family = REGISTRY[name]
    schema = infer_schema(frame, "y")
    X, _ = schema.coerce(frame)
    ctx = BuildContext(
        task="embed", n_rows=len(frame), n_features=7, seed=seed, options={"dims": dims}
    )
    params = family.default_params("embed", len(frame))
    reference = np.random.default_rng(1).normal(size=(len(frame), 3))  # y: must be ignored
    return make_pipeline(family, schema, params, ctx).fit(X, reference), X


def test_the_embed_families_are_registered_for_the_embed_kind_only():
    assert {f.name for f in FAMILIES} == EXPECTED | OPTIONAL
    available = [f.name for f in FAMILIES if f.available()]
    assert [f.name for f in families_for("embed")] == available
    assert set(available) >= EXPECTED
    umap = REGISTRY["umap"]
    assert umap.requires == "umap" and umap.available() == embedding.umap_available()
    for family in FAMILIES:
        assert family.tasks == frozenset({"embed"}) and (family.available() or family.requires)
        assert family.needs_scaling and family.categorical == "onehot" and family.description
        for n in (50, 1000, 10**6):
            assert family.cost(n, 10) > 0 and family.memory_bytes(n, 10, {}) > 0
    for task in ("regression", "binary", "multiclass", "cluster"):
        assert not {f.name for f in families_for(task)} & EXPECTED


@pytest.mark.parametrize(
    "name",
    [
        *sorted(EXPECTED),
        pytest.param(
            "umap",
            marks=pytest.mark.skipif(
                not embedding.umap_available(), reason="umap-learn is not installed"
            ),
        ),
    ],
)
def test_each_family_maps_new_rows_to_dims_coordinates(name):
    frame = table()
    pipeline, X = fitted(name, frame, dims=3)
    classes = coordinate_names(3)
    new = infer_schema(frame, "y").coerce(table(40, seed=5))[0]
    out = predict_array(pipeline, new, "embed", classes)
    assert out.shape == get_kind("embed").empty_output(40, classes).shape == (40, 3)
    assert np.isfinite(out).all()
    again = pickle.loads(pickle.dumps(pipeline))
    assert np.allclose(predict_array(again, new, "embed", classes), out)
    second, _ = fitted(name, frame, dims=3)
    assert np.allclose(predict_array(second, new, "embed", classes), out)


def test_the_y_the_engine_passes_is_ignored():
    frame = table()
    a, X = fitted("pca", frame)
    schema = infer_schema(frame, "y")
    ctx = BuildContext(task="embed", n_rows=len(frame), n_features=7, seed=0, options={"dims": 2})
    b = make_pipeline(REGISTRY["pca"], schema, {"whiten": False}, ctx).fit(X)
    assert np.allclose(a.transform(X), b.transform(X))


def test_the_quadratic_methods_fit_a_sample_and_map_every_row():
    X = np.random.default_rng(0).normal(size=(500, 4))
    from sklearn.manifold import Isomap

    model = FitOnSample(Isomap(n_components=2), max_rows=120, random_state=0).fit(X)
    assert len(model.rows_) == 120 and model.transform(X).shape == (500, 2)
    assert not hasattr(FitOnSample(Isomap()), "inverse_transform")  # not fitted: no inverse


def test_isomap_unrolls_the_swiss_roll_better_than_pca():
    """The book's figure 8-13: Isomap follows the roll, PCA squashes it (trustworthiness)."""
    X, _ = make_swiss_roll(600, noise=0.05, random_state=0)
    frame = pd.DataFrame(X, columns=["a", "b", "c"]).assign(y=0.0)
    trust = get_metric("trustworthiness", "embed")._func
    assert trust is not None
    scores = {}
    for name in ("pca", "isomap"):
        pipeline, Xc = fitted(name, frame)
        Y = (X - X.mean(axis=0)) / X.std(axis=0)
        scores[name] = trust(Y, pipeline.transform(Xc))
    assert scores["isomap"] > scores["pca"] + 0.03, scores


def test_map_only_methods_are_refused_in_one_line():
    for name in ("tsne", "mds", "lda"):
        with pytest.raises(ConfigError) as err:
            get_family(name)
        assert "\n" not in str(err.value) and name in NOT_FAMILIES
    assert "t-SNE cannot place new rows" in NOT_FAMILIES["tsne"]
    with pytest.raises(ConfigError, match="LDA fits on labels"):
        get_family("lda")


def test_trustworthiness_metric():
    m = get_metric("trustworthiness", "embed")
    assert m.greater_is_better and m.needs == "embedding"
    rng = np.random.default_rng(0)
    Y = rng.normal(size=(150, 4))
    assert m._func is not None
    assert m._func(Y, Y[:, :3]) > m._func(Y, rng.normal(size=(150, 3)))
    idx = rng.integers(0, 150, 150)  # a bootstrap resample: repeated rows count once
    assert m._func(Y[idx], Y[idx]) == pytest.approx(1.0)
    with pytest.raises(ConfigError):
        get_metric("trustworthiness", "cluster")


def test_the_variance_curve_the_default_dims_and_the_bounds():
    rng = np.random.default_rng(0)
    Y = rng.normal(size=(300, 3)) @ rng.normal(size=(3, 8)) + rng.normal(size=(300, 8)) * 0.01
    curve = embedding.variance_curve(Y)
    assert curve["components_kept"] == 3 and curve["cumulative"][2] >= 0.95
    assert embedding.dims_for_variance(Y) == 3
    flat = rng.normal(size=(300, 1)) @ rng.normal(size=(1, 8))
    assert embedding.dims_for_variance(flat) == embedding.MIN_DIMS  # never below 2
    wide = rng.normal(size=(200, 80))
    assert embedding.dims_for_variance(wide) == embedding.MAX_DIMS  # never above 50
    bound = embedding.jl_bound(1000, 100)
    from sklearn.random_projection import johnson_lindenstrauss_min_dim

    assert bound[0]["min_dims"] == johnson_lindenstrauss_min_dim(1000, eps=0.1)
    assert [b["eps"] for b in bound] == sorted(b["eps"] for b in bound)
    ranked = embedding.kernel_pca_preimage(Y[:100], 3)
    assert ranked and [r["error"] for r in ranked] == sorted(r["error"] for r in ranked)


def test_the_maps_skip_umap_with_a_reason_when_it_is_missing():
    Y = np.random.default_rng(0).normal(size=(80, 5))
    drawn = embedding.maps(Y)
    assert {"pca", "tsne", "mds"} <= set(drawn["maps"])
    assert drawn["maps"]["pca"]["xy"].shape == (80, 2)
    if embedding.umap_available():
        assert "umap" in drawn["maps"]
    else:
        assert any("umap-learn is not installed" in s for s in drawn["skipped"])


@pytest.mark.skipif(embedding.umap_available(), reason="umap-learn is installed")
def test_umap_without_umap_learn_is_refused_in_one_line():
    from mlcraft.api.train import check_families

    with pytest.raises(ConfigError, match="needs the optional package 'umap-learn'") as err:
        check_families(["pca", "umap"])
    assert "\n" not in str(err.value)
    assert "umap" not in {f.name for f in families_for("embed")}
