"""The task halves of the network estimators: regression and classification.

Each supplies what :class:`~mlcraft.nn.base.BaseNetwork` leaves open: the target's encoding, the loss,
the metric, and how the network's output becomes a prediction (with Monte Carlo dropout).
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np
import torch
from scipy import special, stats
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.utils import column_or_1d
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.multiclass import check_classification_targets, type_of_target

from mlcraft.nn.base import BaseNetwork
from mlcraft.nn.data import InvalidInputError
from mlcraft.nn.modules import dropout_layers
from mlcraft.nn.training import Batches, Metric


class Head(StrEnum):
    """The network's output layer: one sigmoid (two classes), a softmax, or a sigmoid per label."""

    BINARY = "binary"
    MULTICLASS = "multiclass"
    MULTILABEL = "multilabel"


__all__ = ["Regression", "Classification", "MC_SAMPLES", "REGRESSION_LOSSES"]

MC_SAMPLES = 100  # Monte Carlo dropout passes for prediction intervals
F = torch.nn.functional


class _Loss:
    """A loss over (output, target, row weights or None); with an auxiliary output, ``mix`` weighs
    the main and auxiliary losses. Unweighted batches use torch's fused mean (the fast path)."""

    def __init__(self, fn, per_row, mix=None):
        self.fn, self.per_row, self.mix = fn, per_row, mix

    def _one(self, out, y, w):
        if w is None:
            return self.fn(out, y)
        return (self.per_row(out, y) * w).sum() / w.sum().clamp_min(1e-12)

    def __call__(self, out, y, w):
        if isinstance(out, tuple):
            return self.mix[0] * self._one(out[0], y, w) + self.mix[1] * self._one(out[1], y, w)
        return self._one(out, y, w)


REGRESSION_LOSSES = {
    "mse": (F.mse_loss, lambda o, t: (o - t).pow(2).mean(dim=1)),
    "mae": (F.l1_loss, lambda o, t: (o - t).abs().mean(dim=1)),
    "huber": (F.huber_loss, lambda o, t: F.huber_loss(o, t, reduction="none").mean(dim=1)),
}
CLASSIFICATION_LOSSES = {
    Head.BINARY: (
        lambda o, t: F.binary_cross_entropy_with_logits(o[:, 0], t),
        lambda o, t: F.binary_cross_entropy_with_logits(o[:, 0], t, reduction="none"),
    ),
    Head.MULTICLASS: (F.cross_entropy, lambda o, t: F.cross_entropy(o, t, reduction="none")),
    Head.MULTILABEL: (
        F.binary_cross_entropy_with_logits,
        lambda o, t: F.binary_cross_entropy_with_logits(o, t, reduction="none").mean(dim=1),
    ),
}


class Regression(RegressorMixin, BaseNetwork):
    """Regression: the target is standardised inside (``scale_target``), predictions come back in its units."""

    def _y_options(self):
        return {"y_numeric": True, "multi_output": True}

    def _target_dtype(self):
        return torch.float32

    def _encode_target(self, y, reset: bool) -> np.ndarray:
        y = np.asarray(y, dtype=np.float64)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if reset:
            self._y_1d = y.ndim == 1
            y2 = y.reshape(len(y), -1)
            self._n_out = y2.shape[1]
            self.y_mean_ = y2.mean(axis=0) if self.scale_target else np.zeros(self._n_out)
            std = y2.std(axis=0) if self.scale_target else np.ones(self._n_out)
            self.y_scale_ = np.where(std > 0, std, 1.0)
        y2 = y.reshape(len(y), -1)
        if y2.shape[1] != self._n_out:
            raise ValueError(
                f"y has {y2.shape[1]} outputs; this model was fitted with {self._n_out}"
            )
        return ((y2 - self.y_mean_) / self.y_scale_).astype(np.float32)

    def _loss_fn(self):
        if self.loss not in REGRESSION_LOSSES:
            raise ValueError(f"loss must be one of {sorted(REGRESSION_LOSSES)}, got {self.loss!r}")
        return _Loss(*REGRESSION_LOSSES[self.loss], getattr(self, "loss_weights", None))

    def _metric(self) -> Metric:
        scale = torch.as_tensor(self.y_scale_, dtype=torch.float32, device=self._device())
        k = self._n_out
        from_loss = None
        if (
            self.loss == "mse" and k == 1
        ):  # the training RMSE is the MSE loss, rescaled: no per-batch work
            from_loss = lambda loss: float(np.sqrt(loss) * self.y_scale_[0])  # noqa: E731
        return Metric(
            "rmse",
            lambda o, t: ((o - t) * scale).pow(2).sum(),
            lambda total, n: float(np.sqrt(total / max(n * k, 1))),
            from_loss,
        )

    def _after_fit(self, data: Batches) -> None:
        with torch.no_grad():
            self.module_.eval()
            out = self._forward_chunks(
                self.module_.forward,
                data.numeric.cpu().numpy(),
                None if data.codes is None else data.codes.cpu().numpy(),
                self._device(),
            )
        err = (out - data.y.cpu().numpy()) * self.y_scale_
        self.residual_std_ = np.sqrt(np.mean(err**2, axis=0))

    def _unscale(self, out: np.ndarray) -> np.ndarray:
        values = out * self.y_scale_ + self.y_mean_
        return values[..., 0] if self._y_1d else values

    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over ``(X, y)`` (see :meth:`BaseNetwork.partial_fit`)."""
        return super().partial_fit(X, y, sample_weight)

    def predict(self, X, mc_samples: int | None = None, return_std: bool = False):
        """Predicted values; with ``mc_samples`` the mean of that many Monte Carlo dropout passes.

        ``return_std=True`` also returns the standard deviation of those passes (zeros without them).
        """
        out = self._outputs(X, mc_samples)
        if out.ndim == 3:
            mean, std = self._unscale(out.mean(axis=0)), out.std(axis=0) * self.y_scale_
        else:
            mean, std = self._unscale(out), np.zeros_like(out)
        if self._y_1d:
            std = std[..., 0]
        return (mean, std) if return_std else mean

    def predict_interval(
        self, X, coverage: float = 0.95, mc_samples: int | None = None
    ) -> np.ndarray:
        """Prediction intervals: ``[..., 0]`` lower and ``[..., 1]`` upper bounds.

        Gaussian, with the variance of the Monte Carlo dropout passes (the model's uncertainty;
        ``MC_SAMPLES`` passes by default when the network has dropout) plus the residual variance
        measured after fit on the validation rows (on the training rows without early stopping:
        then the interval is optimistic).
        """
        if not 0 < coverage < 1:
            raise ValueError(f"coverage must be between 0 and 1, got {coverage!r}")
        if mc_samples is None:
            mc_samples = MC_SAMPLES if dropout_layers(self.module_) else None
        mean, std = self.predict(X, mc_samples=mc_samples, return_std=True)
        noise = self.residual_std_[0] if self._y_1d else self.residual_std_
        half = stats.norm.ppf(0.5 + coverage / 2) * np.sqrt(std**2 + noise**2)
        return np.stack([mean - half, mean + half], axis=-1)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


class Classification(ClassifierMixin, BaseNetwork):
    """Classification: binary (one sigmoid output), multiclass (softmax), multilabel (sigmoids)."""

    def _y_options(self):
        return {"y_numeric": False, "multi_output": True}

    def _target_dtype(self):
        return torch.long if self._head == Head.MULTICLASS else torch.float32

    def _encode_target(self, y, reset: bool, classes=None) -> np.ndarray:
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if reset:
            self._learn_classes(y, classes)
        if self._head == Head.MULTILABEL:
            if y.ndim != 2 or y.shape[1] != len(self.classes_):
                raise ValueError(
                    f"y must be a label indicator matrix with {len(self.classes_)} columns"
                )
            return y.astype(np.float32)
        unknown = ~np.isin(y, self.classes_)
        if unknown.any():
            raise ValueError(
                f"y holds labels not seen in the first fit: {np.unique(y[unknown])[:5].tolist()}"
            )
        index = np.searchsorted(self.classes_, y)
        return index.astype(np.float32) if self._head == Head.BINARY else index.astype(np.int64)

    def _learn_classes(self, y, classes) -> None:
        if y.ndim == 2 and type_of_target(y) == "multilabel-indicator":
            self._head, self.classes_ = Head.MULTILABEL, np.arange(y.shape[1])
            self._n_out = y.shape[1]
            return
        check_classification_targets(y)
        found = np.unique(y) if classes is None else np.unique(np.asarray(classes))
        if len(found) < 2:
            raise InvalidInputError(
                f"{type(self).__name__} needs at least 2 classes in y, but it holds only one class ({found.tolist()[0]!r}); "
                "check the target column and the rows selected"
            )
        self.classes_ = found
        self._head = Head.BINARY if len(found) == 2 else Head.MULTICLASS
        self._n_out = 1 if self._head == Head.BINARY else len(found)

    def _stratify(self, y_raw):
        return None if self._head == Head.MULTILABEL else y_raw

    def _row_weights(self, y_raw, w):
        if self.class_weight is not None:
            w = w * compute_sample_weight(self.class_weight, y_raw)
        return w

    def _loss_fn(self):
        return _Loss(*CLASSIFICATION_LOSSES[self._head], getattr(self, "loss_weights", None))

    def _metric(self) -> Metric:
        correct = {
            Head.BINARY: lambda o, t: ((o[:, 0] > 0) == (t > 0.5)).sum(),
            Head.MULTICLASS: lambda o, t: (o.argmax(dim=1) == t).sum(),
            Head.MULTILABEL: lambda o, t: ((o > 0) == (t > 0.5)).all(dim=1).sum(),
        }[self._head]
        return Metric("accuracy", correct, lambda total, n: total / max(n, 1))

    def _proba(self, out: np.ndarray) -> np.ndarray:
        if self._head == Head.BINARY:
            p = special.expit(out[..., 0])
            return np.stack([1 - p, p], axis=-1)
        if self._head == Head.MULTICLASS:
            return special.softmax(out, axis=-1)
        return special.expit(out)

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch over ``(X, y)``; ``classes`` (all labels) is required on the first call."""
        if (
            not hasattr(self, "module_")
            and classes is None
            and not (np.ndim(y) == 2 and np.shape(y)[1] > 1)
        ):
            raise ValueError("classes must be passed on the first call to partial_fit")
        return super().partial_fit(X, y, sample_weight, classes=classes)

    def predict_proba(self, X, mc_samples: int | None = None, return_std: bool = False):
        """Class probabilities (columns follow ``classes_``); multilabel: one probability per label.

        With ``mc_samples``, the mean over that many Monte Carlo dropout passes (and, with
        ``return_std``, their standard deviation).
        """
        out = self._outputs(X, mc_samples)
        proba = self._proba(out)
        if out.ndim == 3:
            mean, std = proba.mean(axis=0), proba.std(axis=0)
        else:
            mean, std = proba, np.zeros_like(proba)
        return (mean, std) if return_std else mean

    def predict(self, X, mc_samples: int | None = None):
        """Predicted labels (multilabel: a 0/1 indicator matrix)."""
        proba = self.predict_proba(X, mc_samples=mc_samples)
        if self._head == Head.MULTILABEL:
            return (proba >= 0.5).astype(int)
        return self.classes_[np.argmax(proba, axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags
