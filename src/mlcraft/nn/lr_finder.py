"""The learning-rate finder (Smith, 2015; the book's chapter 11).

Train from fresh weights while the learning rate grows exponentially from ``min_rate`` to
``max_rate``, one batch per rate; the (smoothed) loss falls, bottoms out, then shoots up. A good
rate is about ten times below that turning point.

>>> result = find_learning_rate(MLPRegressor(), X, y)  # doctest: +SKIP
>>> MLPRegressor(learning_rate=result.suggestion).fit(X, y)  # doctest: +SKIP
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.base import clone
from sklearn.utils import check_random_state

from mlcraft.nn.base import _seeded, _threads
from mlcraft.nn.data import encode_inputs

__all__ = ["LRFinderResult", "find_learning_rate"]

SMOOTHING = 0.98  # exponential moving average of the loss (bias-corrected)
BLOW_UP = 4.0  # stop once the smoothed loss exceeds this many times its minimum
BELOW_TURNING_POINT = 10.0


@dataclass
class LRFinderResult:
    """Rates tried, smoothed losses, the turning point (lowest loss) and the suggested rate."""

    rates: np.ndarray
    losses: np.ndarray
    turning_point: float
    suggestion: float

    def plot(self, ax=None):
        """Loss against rate on a log axis (needs matplotlib)."""
        import matplotlib.pyplot as plt

        ax = ax or plt.gca()
        ax.semilogx(self.rates, self.losses)
        ax.axvline(self.suggestion, linestyle="--", color="gray")
        ax.set_xlabel("learning rate")
        ax.set_ylabel("loss (smoothed)")
        return ax


def _batch_indices(n: int, batch_size: int, generator: torch.Generator):
    while True:
        perm = torch.randperm(n, generator=generator)
        for start in range(0, n, batch_size):
            yield perm[start : start + batch_size]


def find_learning_rate(
    estimator,
    X,
    y,
    *,
    min_rate: float = 1e-6,
    max_rate: float = 10.0,
    steps: int = 200,
    sample_weight=None,
) -> LRFinderResult:
    """Run the learning-rate finder on a fresh clone of ``estimator`` (which is left untouched).

    Parameters
    ----------
    estimator : an mlcraft.nn estimator
        Its architecture, optimiser and batch size are used; its schedule is not.
    X, y, sample_weight : the training data.
    min_rate, max_rate : float
        The range of rates, grown exponentially over ``steps`` batches.
    """
    est = clone(estimator).set_params(
        schedule=None,
        early_stopping=False,
        callbacks=None,
        checkpoint_path=None,
        tensorboard_dir=None,
    )
    numeric, codes, y_raw = encode_inputs(est, X, y, reset=True, **est._y_options())
    target = est._encode_target(y_raw, reset=True)
    w = est._weights(y_raw, sample_weight, numeric)
    seed = int(check_random_state(est.random_state).randint(np.iinfo(np.int32).max))
    device = est._device()
    rates = np.geomspace(min_rate, max_rate, steps)
    losses: list[float] = []
    with _threads(est.num_threads), _seeded(seed, device):
        generator = torch.Generator().manual_seed(seed)
        est._generator = generator
        est._setup(est._n_out, device)
        data = est._batches(numeric, codes, target, w, device)
        trainer = est._trainer([])
        est.module_.train()
        avg, best = 0.0, math.inf
        for i, (rate, idx) in enumerate(
            zip(rates, _batch_indices(len(data), int(est.batch_size), generator)), start=1
        ):
            for group in est._optimizer.param_groups:
                group["lr"] = float(rate)
            loss, _ = trainer.step(*data.take(idx.to(device)))
            value = float(loss)
            if not math.isfinite(value):
                break
            avg = SMOOTHING * avg + (1 - SMOOTHING) * value
            smoothed = avg / (1 - SMOOTHING**i)
            losses.append(smoothed)
            best = min(best, smoothed)
            if smoothed > BLOW_UP * best:
                break
    if not losses:
        raise ValueError(
            "the loss was not finite even at min_rate; check the data or lower min_rate"
        )
    rates = rates[: len(losses)]
    turning = float(rates[int(np.argmin(losses))])
    return LRFinderResult(
        rates, np.asarray(losses), turning, max(turning / BELOW_TURNING_POINT, float(min_rate))
    )
