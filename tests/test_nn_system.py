"""The neural families inside mlcraft: registry, lazy torch, and an end-to-end `mlcraft train` on housing."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from conftest import run_cli
from mlcraft.core.fit.family import Choice, Float, Int
from mlcraft.models import REGISTRY, families_for


def test_import_mlcraft_models_does_not_import_torch():
    code = "import sys, mlcraft.models, mlcraft.nn; print('torch' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "False"


def test_neural_families_declare_their_search_space_and_need_torch(monkeypatch):
    for name in ("mlp", "wide_deep"):
        family = REGISTRY[name]
        assert (
            family.requires == "torch" and family.categorical == "native" and family.needs_scaling
        )
        space = family.space("regression", 10_000)
        assert isinstance(space["n_hidden"], Int) and isinstance(space["n_neurons"], Int)
        assert isinstance(space["learning_rate"], Float) and space["learning_rate"].log
        assert {"batch_size", "activation", "optimizer", "schedule"} <= {
            k for k, v in space.items() if isinstance(v, Choice)
        }
        assert isinstance(space["dropout"], Float)
        assert family.cost(13_000, 13) > family.cost(1_000, 13) > 0
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a)
    )
    assert not {"mlp", "wide_deep"} & {f.name for f in families_for("regression")}


def test_family_builds_the_network_the_parameters_describe():
    from mlcraft.core.fit.family import BuildContext

    family = REGISTRY["mlp"]
    params = {
        **family.default_params("binary", 1000),
        "n_hidden": 3,
        "n_neurons": 64,
        "activation": "gelu",
    }
    est = family.make(params, BuildContext("binary", 1000, 5, seed=3))
    assert type(est).__name__ == "MLPClassifier"
    assert (est.hidden_layer_sizes, est.activation, est.random_state) == ((64, 64, 64), "gelu", 3)


@pytest.mark.slow
def test_train_on_housing_puts_neural_families_on_the_leaderboard_and_saves_learning_curves(
    tmp_path, housing_csv
):
    sample = pd.read_csv(housing_csv).sample(3000, random_state=0)
    data = tmp_path / "housing_sample.csv"
    sample.to_csv(data, index=False)
    project = tmp_path / "p"
    result = run_cli(
        "train",
        data,
        "--target",
        "median_house_value",
        "--project",
        project,
        "--family",
        "mlp,wide_deep,ridge",
        "--folds",
        "3",
        "--max-trials",
        "3",
    )
    assert result.returncode == 0, result.stderr
    run = next((project / "runs").iterdir())
    board = pd.read_csv(run / "leaderboard.csv")
    ok = set(board.loc[board["status"] == "ok", "family"])
    assert {"mlp", "wide_deep", "ridge"} <= ok
    singles = board[board["family"] != "ensemble"].reset_index(drop=True)
    assert singles.loc[0, "family"] in (
        "mlp",
        "wide_deep",
    )  # the networks beat the linear model on housing
    chosen = json.loads((run / "chosen.json").read_text())
    # one network champion: learning_curves.csv; an ensemble: one learning_curves-<member>.csv per network
    curve_files = sorted(run.glob("learning_curves*.csv"))
    members = chosen.get("members") or [chosen]
    networks = [
        m
        for m in members
        if m["family"] in ("mlp", "wide_deep") and m.get("form", "refit") == "refit"
    ]
    assert networks and len(curve_files) == len(networks), (chosen, curve_files)
    for path in curve_files:
        curves = pd.read_csv(path)
        assert {"epoch", "loss", "val_loss", "rmse", "val_rmse", "lr"} <= set(
            curves.columns
        ) and len(curves) >= 5
        assert curves["val_loss"].iloc[-1] < curves["val_loss"].iloc[0]
        network = json.loads(
            path.with_name(
                path.name.replace("learning_curves", "network").replace(".csv", ".json")
            ).read_text()
        )
        assert network["categorical"][0]["column"] == "cat__ocean_proximity"
        assert (
            network["categorical"][0]["encoding"] == "one-hot"
        )  # 5 categories: few enough for one-hot
    out = tmp_path / "pred.csv"
    new = sample.drop(columns="median_house_value").head(50)
    new.to_csv(tmp_path / "new.csv", index=False)
    assert (
        run_cli("predict", tmp_path / "new.csv", "--project", project, "--out", out).returncode == 0
    )
    assert pd.read_csv(out)["median_house_value"].between(0, 1_000_000).all()
    evaluation = run_cli("evaluate", "--project", project)
    assert evaluation.returncode == 0 and "95% CI" in evaluation.stdout


def test_readme_example_runs():
    from pathlib import Path

    from nn_data import regression

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = text.split("## Neural networks")[1].split("```python")[1].split("```")[0]
    X, y = regression(n=200)
    namespace = {"X": X, "y": y, "X_new": X[:5]}
    exec(compile(block, "README.md", "exec"), namespace)
    assert namespace["mean"].shape == (5,) and (namespace["std"] > 0).all()
    assert namespace["interval"].shape == (5, 2) and namespace["rate"] > 0
