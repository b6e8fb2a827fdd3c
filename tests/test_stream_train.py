"""Training and predicting on Parquet data over the in-memory limit (forced low by
MLCRAFT_IN_MEMORY_LIMIT): searched on a sample, the incremental champion refitted on every row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.decomposition import PCA

import mlcraft
from mlcraft.core.data import stream
from mlcraft.exceptions import DataError

pytestmark = pytest.mark.slow  # trained projects

ROWS, SAMPLE, BATCH = 6_000, 1_500, 700


def low_rank(n=ROWS, seed=0):
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(n, 2)) * [3.0, 1.5]
    X = Z @ rng.normal(size=(2, 6)) + 0.3 * rng.normal(size=(n, 6)) + [0, 5, -2, 10, 0, 1]
    return pd.DataFrame(X, columns=[f"x{j}" for j in range(6)])


@pytest.fixture(scope="module")
def streamed(tmp_path_factory):
    root = tmp_path_factory.mktemp("stream")
    df = low_rank()
    parts = root / "parts"
    parts.mkdir()
    for i, rows in enumerate(np.array_split(np.arange(ROWS), 3)):
        df.iloc[rows].to_parquet(parts / f"part-{i}.parquet", index=False)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLCRAFT_IN_MEMORY_LIMIT", "100kB")
        mp.setattr(stream, "SAMPLE_ROWS", SAMPLE)
        mp.setattr(stream, "BATCH_ROWS", BATCH)
        project = mlcraft.Project.create(root / "p", parts, task="embed", dims=2, max_trials=4)
        result = project.train(max_trials=4, families=["pca", "incremental_pca"], n_jobs=1)
        yield project, result, df, parts


def training_rows(df):
    return df[~stream.batch_is_test(df, test_size=0.2, id_column=None)].reset_index(drop=True)


def test_only_a_sample_and_a_reference_are_stored(streamed):
    project, _, df, parts = streamed
    reference = project.workspace.dataset_reference(project.config.dataset)
    assert reference["rows"] == ROWS and reference["sample_rows"] == SAMPLE
    assert reference["files"] == ["part-0.parquet", "part-1.parquet", "part-2.parquet"]
    assert len(project.dataset()) == SAMPLE
    assert any("streamed in batches" in note for note in project.notes)


def test_incremental_pca_learns_every_training_row_and_matches_pca(streamed):
    project, result, df, _ = streamed
    train = training_rows(df)
    model = project.load_model()
    assert model.family == "incremental_pca"  # tied with PCA on the sample: it learns every row
    assert project.registry.meta(result.version)["train_rows"] == len(train) > SAMPLE
    prepared = model.pipeline[:-1].transform(train)
    # the scaling was estimated on every training row (partial_fit), not on the sample
    np.testing.assert_allclose(prepared.mean(axis=0), 0, atol=1e-9)
    np.testing.assert_allclose(prepared.std(axis=0), 1, atol=1e-9)
    ipca, pca = model.pipeline[-1], PCA(n_components=2).fit(prepared)
    np.testing.assert_allclose(
        ipca.explained_variance_ratio_, pca.explained_variance_ratio_, rtol=1e-3
    )
    np.testing.assert_allclose(np.abs(ipca.components_ @ pca.components_.T), np.eye(2), atol=1e-3)


def test_the_notes_say_which_families_were_sampled(streamed):
    project, result, df, _ = streamed
    notes = " | ".join(result.notes)
    assert "sampled families (fitted on the sample only, for the comparison): pca" in notes
    assert f"from all {len(training_rows(df)):,} training rows" in notes
    assert (
        f"{SAMPLE - int(stream.batch_is_test(project.dataset(), test_size=0.2, id_column=None).sum()):,}-row sample"
        in notes
    )
    run = project.workspace.run_dir(result.run_id)
    assert "sampled families" in (run / "streamed.json").read_text()


def test_streamed_predict_gives_the_in_memory_predictions(streamed, tmp_path):
    project, _, df, parts = streamed
    summary = project.predict_file(parts, tmp_path / "out.parquet")
    chunked = pd.read_parquet(summary.out)
    assert summary.rows == ROWS
    pd.testing.assert_frame_equal(chunked, project.predict(df), check_exact=False, rtol=1e-9)


def test_changed_data_is_refused(streamed, tmp_path):
    project, _, df, parts = streamed
    original = (parts / "part-1.parquet").read_bytes()
    try:
        low_rank(seed=1).iloc[:2000].to_parquet(parts / "part-1.parquet", index=False)
        with pytest.raises(DataError, match="changed since this project was created"):
            project.train(max_trials=1)
    finally:
        (parts / "part-1.parquet").write_bytes(original)


def test_mini_batch_kmeans_keeps_the_k_of_the_sample(tmp_path, monkeypatch):
    path = tmp_path / "data.parquet"
    rng = np.random.default_rng(2)
    centres = rng.normal(size=(3, 4)) * 6
    X = centres[rng.integers(0, 3, ROWS)] + rng.normal(size=(ROWS, 4))
    pd.DataFrame(X, columns=list("abcd")).to_parquet(path, index=False)
    monkeypatch.setenv("MLCRAFT_IN_MEMORY_LIMIT", "100kB")
    monkeypatch.setattr(stream, "SAMPLE_ROWS", SAMPLE)
    monkeypatch.setattr(stream, "BATCH_ROWS", BATCH)
    project = mlcraft.Project.create(tmp_path / "p", path, task="cluster", max_trials=2)
    result = project.train(max_trials=2, families=["minibatch_kmeans"], n_jobs=1)
    model = project.load_model()
    assert project.registry.meta(result.version)["streamed"] is True
    assert model.pipeline[-1].n_clusters == model.params["n_clusters"]
    assert any("minibatch_kmeans (the champion) learnt incrementally" in n for n in result.notes)
    labels = project.predict(pd.read_parquet(path)).iloc[:, 0].to_numpy()
    assert len(np.unique(labels)) == model.params["n_clusters"]


def test_the_time_limit_ends_the_streamed_passes(streamed):
    """A deadline already past: each pass stops after its first batch, and the notes say the
    model learnt from those rows only (the time limit covers the streamed refit)."""
    from mlcraft.core.data.stream import open_source
    from mlcraft.core.fit.streamed import stream_refit

    project, _, df, parts = streamed
    model = project.load_model()
    sample = project.schema.coerce(project.training_frame(), where="sample")[0]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(stream, "BATCH_ROWS", BATCH)
        cut = stream_refit(
            model,
            sample,
            open_source(parts),
            config=project.config,
            schema=project.schema,
            families=["incremental_pca"],
            deadline=0.0,
        )
    assert cut.streamed and 0 < cut.rows < len(training_rows(df))
    assert any(
        f"learnt incrementally from the first {cut.rows:,} training rows" in n for n in cut.notes
    )
    assert any("the time limit ended the pass" in n for n in cut.notes)
