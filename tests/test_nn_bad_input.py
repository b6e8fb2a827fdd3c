"""Bad input to a network: a clear message, nothing lost, no half-written checkpoint."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

from mlcraft.exceptions import BudgetError, DataError  # noqa: E402
from mlcraft.nn import (  # noqa: E402
    Callback,
    DivergenceWarning,
    InvalidInputError,
    MLPClassifier,
    MLPRegressor,
    NetworkMemoryError,
)
from mlcraft.nn.callbacks import state_copy  # noqa: E402
from nn_data import FAST, regression  # noqa: E402


def test_text_reaching_the_network_says_what_to_do():
    X, y = regression(n=50)
    frame = pd.DataFrame(X, columns=list("abcde")).assign(town=["Paris", "Lyon"] * 25)
    with pytest.raises(
        InvalidInputError, match="could not convert string to float: 'Paris'"
    ) as err:
        MLPRegressor(**FAST).fit(frame, y)
    assert "encode text and categorical columns first" in str(err.value)
    assert isinstance(err.value, DataError) and isinstance(err.value, ValueError)


@pytest.mark.parametrize("value, word", [(np.nan, "NaN"), (np.inf, "infinity")])
def test_nan_and_infinity_are_refused_in_fit_and_predict(value, word):
    X, y = regression(n=50)
    bad = X.copy()
    bad[3, 1] = value
    with pytest.raises(InvalidInputError, match=word):
        MLPRegressor(**FAST).fit(bad, y)
    model = MLPRegressor(**FAST).fit(X, y)
    with pytest.raises(InvalidInputError, match=word):
        model.predict(bad)
    y_bad = y.copy()
    y_bad[0] = value
    with pytest.raises(InvalidInputError, match=word):
        MLPRegressor(**FAST).fit(X, y_bad)


def test_a_target_with_one_class_is_refused():
    X, _ = regression(n=50)
    with pytest.raises(
        InvalidInputError,
        match="needs at least 2 classes in y, but it holds only one class \\('yes'",
    ):
        MLPClassifier(**FAST).fit(X, ["yes"] * 50)


def test_a_diverging_learning_rate_stops_restores_and_says_so():
    X, y = regression(n=200)
    with pytest.warns(
        DivergenceWarning,
        match="diverged at epoch .*restored the weights of epoch .*lower the learning rate",
    ):
        model = MLPRegressor(
            **{**FAST, "max_epochs": 50},
            optimizer="sgd",
            learning_rate=5.0,
            schedule=None,
            momentum=0.99,
        ).fit(X, y)
    assert "diverged" in model.stop_reason_ and model.n_iter_ < 50
    assert model.best_epoch_ == model.n_iter_ - 1  # the weights kept are those of the epoch before
    assert all(torch.isfinite(p).all() for p in model.module_.parameters())
    assert np.isfinite(model.predict(X)).all()
    last = model.history_["loss"][-1]  # the history shows the diverged epoch
    assert not np.isfinite(last) or last > 1e3 * min(model.history_["loss"])


class RunOutOfMemory(Callback):
    """Makes the network's forward pass fail for lack of memory from epoch ``at`` on."""

    def __init__(self, at: int):
        self.at = at

    def on_epoch_end(self, epoch, logs):
        self.last = state_copy(self.trainer.net)

    def on_epoch_begin(self, epoch, logs):
        if epoch == self.at:

            def forward(*args, **kwargs):
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

            self.trainer.net.forward = forward


def test_out_of_memory_keeps_the_last_epoch_and_the_checkpoint(tmp_path):
    X, y = regression(n=100)
    spy = RunOutOfMemory(at=3)
    path = tmp_path / "best.pt"
    model = MLPRegressor(
        **{**FAST, "max_epochs": 10},
        early_stopping=False,
        checkpoint_path=str(path),
        callbacks=[spy],
    )
    with pytest.raises(
        NetworkMemoryError,
        match="out of memory training on batches of 32 rows: lower batch_size .* epoch \\(2\\) were kept",
    ) as err:
        model.fit(X, y)
    assert isinstance(
        err.value, BudgetError
    )  # an MlcraftError: one line and exit code 2 in the CLI
    assert all(torch.equal(v, spy.last[k]) for k, v in model.module_.state_dict().items())
    assert torch.load(path)["epoch"] == 2
    assert [p.name for p in tmp_path.iterdir()] == ["best.pt"]
