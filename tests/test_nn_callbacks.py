"""Callbacks: early stopping, checkpoints, TensorBoard logs, history, progress bar (one test each)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

from mlcraft.nn import Callback, MLPRegressor  # noqa: E402
from mlcraft.nn.callbacks import state_copy  # noqa: E402
from nn_data import FAST, regression  # noqa: E402


class Snapshots(Callback):
    """The network's weights at the end of every epoch."""

    def on_train_begin(self, logs):
        self.states = {}

    def on_epoch_end(self, epoch, logs):
        self.states[epoch] = state_copy(self.trainer.net)


def same_weights(a, b) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def stopped(tmp_path_factory):
    """A fit that early-stops (high constant rate, patience 3) and writes a checkpoint and TensorBoard logs."""
    root = tmp_path_factory.mktemp("nn-callbacks")
    X, y = regression(n=200)
    snaps = Snapshots()
    model = MLPRegressor(
        **{**FAST, "max_epochs": 200},
        learning_rate=0.05,
        schedule=None,
        patience=3,
        callbacks=[snaps],
        checkpoint_path=str(root / "best.pt"),
        tensorboard_dir=str(root / "tb"),
    ).fit(X, y)
    return model, snaps, root


def test_early_stopping_restores_the_best_epochs_weights(stopped):
    model, snaps, _ = stopped
    assert model.n_iter_ < 200 and model.stop_reason_.startswith("early stopping")
    val = model.history_["val_loss"]
    best = model.history_["epoch"][int(np.argmin(val))]
    assert model.best_epoch_ == best and best < model.n_iter_
    assert same_weights(model.module_.state_dict(), snaps.states[best])
    assert not same_weights(model.module_.state_dict(), snaps.states[model.n_iter_])


def test_checkpoint_holds_the_best_model(stopped):
    model, _, root = stopped
    saved = torch.load(root / "best.pt")
    assert saved["epoch"] == model.best_epoch_ and saved["monitor"] == "val_loss"
    assert same_weights(model.module_.state_dict(), saved["state_dict"])


def test_checkpoint_is_never_half_written(tmp_path, monkeypatch):
    X, y = regression(n=100)
    path = tmp_path / "best.pt"
    MLPRegressor(**FAST, checkpoint_path=str(path)).fit(X, y)
    before = path.read_bytes()

    def failing_save(obj, f, *args, **kwargs):
        with open(f, "wb") as fh:
            fh.write(b"half a checkpoint")
        raise OSError("No space left on device")

    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(OSError, match="No space left"):
        MLPRegressor(**FAST, checkpoint_path=str(path)).fit(X, y)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["best.pt"]


def test_tensorboard_event_logs_parse(stopped):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    model, _, root = stopped
    events = EventAccumulator(str(root / "tb"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {
        "loss/train",
        "loss/validation",
        "rmse/train",
        "rmse/validation",
        "learning_rate",
    } <= tags
    losses = events.Scalars("loss/validation")
    assert [e.step for e in losses] == list(range(1, model.n_iter_ + 1))
    assert np.allclose([e.value for e in losses], model.history_["val_loss"], rtol=1e-5)


def test_history_has_loss_and_metric_per_epoch_on_train_and_validation(stopped):
    model, _, _ = stopped
    assert {"epoch", "loss", "val_loss", "rmse", "val_rmse", "lr", "time_s"} <= set(model.history_)
    assert all(len(v) == model.n_iter_ for v in model.history_.values())
    # the training RMSE is the MSE loss in the target's units
    assert np.allclose(model.history_["rmse"], np.sqrt(model.history_["loss"]) * model.y_scale_[0])


def test_progress_bar_reports_each_epoch(capsys):
    X, y = regression(n=100)
    MLPRegressor(**{**FAST, "max_epochs": 3}, verbose=1).fit(X, y)
    out = capsys.readouterr().out
    assert all(f"epoch {e}:" in out for e in (1, 2, 3)) and "val_loss" in out


def test_user_callbacks_get_every_hook_in_order():
    calls = []

    class Recorder(Callback):
        def on_train_begin(self, logs):
            calls.append("train_begin")

        def on_epoch_begin(self, epoch, logs):
            calls.append(f"epoch_begin {epoch}")

        def on_batch_end(self, batch, logs):
            calls.append("batch")

        def on_epoch_end(self, epoch, logs):
            calls.append(f"epoch_end {epoch}")

        def on_train_end(self, logs):
            calls.append("train_end")

    X, y = regression(n=64)
    MLPRegressor(**{**FAST, "max_epochs": 2}, early_stopping=False, callbacks=[Recorder()]).fit(
        X, y
    )
    assert calls == [
        "train_begin",
        "epoch_begin 1",
        "batch",
        "batch",
        "epoch_end 1",
        "epoch_begin 2",
        "batch",
        "batch",
        "epoch_end 2",
        "train_end",
    ]
