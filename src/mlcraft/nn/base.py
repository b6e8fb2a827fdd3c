"""The machinery every mlcraft network estimator shares: building, fitting, predicting, pickling.

Subclasses (:mod:`mlcraft.nn.estimators`) supply the task: how the target is encoded, the loss,
the metric, and how the network's output becomes a prediction.
"""

from __future__ import annotations

import contextlib
import copy
import warnings
from typing import Any, overload

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.validation import _check_sample_weight, check_is_fitted

from mlcraft.nn import modules
from mlcraft.nn.callbacks import EarlyStopping, History, ModelCheckpoint, ProgressBar, TensorBoard
from mlcraft.nn.data import encode_inputs
from mlcraft.nn.schedules import Constant, get_schedule
from mlcraft.nn.training import EVAL_BATCH, Batches, Trainer

__all__ = ["BaseNetwork", "DivergenceWarning", "DEEP_LAYERS", "OPTIMIZERS"]


DEEP_LAYERS = 4  # batch_norm="auto" turns batch normalisation on from this many hidden layers
MIN_VALIDATION_ROWS = 2


class DivergenceWarning(ConvergenceWarning):
    """The loss diverged: training stopped and the last good weights were restored."""


def _sgd(params, est, nesterov=False, momentum=True):
    return torch.optim.SGD(
        params, lr=est.learning_rate, momentum=est.momentum if momentum else 0.0, nesterov=nesterov
    )


OPTIMIZERS = {
    "sgd": lambda p, est: _sgd(p, est, momentum=False),
    "momentum": lambda p, est: _sgd(p, est),
    "nesterov": lambda p, est: _sgd(p, est, nesterov=True),
    "adagrad": lambda p, est: torch.optim.Adagrad(p, lr=est.learning_rate),
    "rmsprop": lambda p, est: torch.optim.RMSprop(
        p, lr=est.learning_rate, alpha=0.9
    ),  # the book's rho=0.9
    "adam": lambda p, est: torch.optim.Adam(p, lr=est.learning_rate),
    "nadam": lambda p, est: torch.optim.NAdam(p, lr=est.learning_rate),
    "adamw": lambda p, est: torch.optim.AdamW(
        p, lr=est.learning_rate, weight_decay=est.weight_decay
    ),
}


@contextlib.contextmanager
def _seeded(seed: int, device: torch.device):
    """Seed torch's global generator (initialisation, dropout) without disturbing the caller's."""
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


@contextlib.contextmanager
def _threads(n: int | None):
    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


@overload
def _tensor(array: np.ndarray, device: torch.device, dtype=None) -> torch.Tensor: ...


@overload
def _tensor(array: None, device: torch.device, dtype=None) -> None: ...


def _tensor(array: np.ndarray | None, device: torch.device, dtype=None) -> torch.Tensor | None:
    if array is None:
        return None
    return torch.from_numpy(np.array(array, copy=True)).to(device=device, dtype=dtype)


class BaseNetwork(BaseEstimator):
    """Shared fit/predict logic; see :class:`mlcraft.nn.MLPRegressor` for the parameters."""

    _aux_capable = False

    # -- resolved configuration ---------------------------------------------------------------------
    def _scales_inputs(self) -> bool:
        return bool(self.scale_inputs or self.self_normalizing)

    def _resolve(self) -> dict[str, Any]:
        """Choices left to mlcraft ("auto", self-normalising), resolved and recorded in ``config_``."""
        snn = bool(self.self_normalizing)
        hidden = (
            tuple(int(h) for h in np.atleast_1d(self.hidden_layer_sizes))
            if self.hidden_layer_sizes is not None
            else ()
        )
        activation = "selu" if snn else self.activation
        initializer = "lecun_normal" if snn else self.initializer
        if activation not in modules.ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {sorted(modules.ACTIVATIONS)}, got {activation!r}"
            )
        if initializer not in modules.INITIALIZERS:
            raise ValueError(
                f"initializer must be one of {sorted(modules.INITIALIZERS)}, got {initializer!r}"
            )
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(
                f"optimizer must be one of {sorted(OPTIMIZERS)}, got {self.optimizer!r}"
            )
        if not 0 <= float(self.dropout) < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if any(h < 1 for h in hidden) or int(self.batch_size) < 1 or int(self.max_epochs) < 1:
            raise ValueError("hidden_layer_sizes, batch_size and max_epochs must be positive")
        batch_norm = (
            (len(hidden) >= DEEP_LAYERS) if self.batch_norm == "auto" else bool(self.batch_norm)
        )
        return {
            "hidden_layer_sizes": list(hidden),
            "activation": activation,
            "initializer": initializer,
            "batch_norm": batch_norm and not snn,
            "layer_norm": bool(self.layer_norm) and not snn,
            "dropout": float(self.dropout),
            "dropout_kind": "alpha" if activation == "selu" else "standard",
            "optimizer": self.optimizer,
            "schedule": self.schedule
            if isinstance(self.schedule, str) or self.schedule is None
            else repr(self.schedule),
            "scale_inputs": self._scales_inputs(),
        }

    def _device(self) -> torch.device:
        """ "auto": the first CUDA GPU when torch sees one, else the CPU."""
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        device = torch.device(self.device)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(
                f"device={self.device!r} but torch sees no CUDA GPU here; use device='auto' or 'cpu'"
            )
        return device

    # -- building -------------------------------------------------------------------------------------
    def _embedding_widths(self) -> list[int | None]:
        widths: list[int | None] = []
        for n in self._input.cardinalities:
            if n - 1 <= self.max_onehot_categories:
                widths.append(None)
            else:
                widths.append(
                    int(self.embedding_dim)
                    if self.embedding_dim is not None
                    else modules.embedding_width(n)
                )
        return widths

    def _stack(self, n_in: int, cfg: dict[str, Any]) -> modules.DenseStack:
        return modules.DenseStack(
            n_in,
            cfg["hidden_layer_sizes"],
            activation=cfg["activation"],
            batch_norm=cfg["batch_norm"],
            layer_norm=cfg["layer_norm"],
            dropout=cfg["dropout"],
            alpha_dropout=cfg["dropout_kind"] == "alpha",
        )

    def _make_net(self, n_out: int, cfg: dict[str, Any]) -> torch.nn.Module:
        encoder = modules.InputEncoder(
            len(self._input.numeric), self._input.cardinalities, self._embedding_widths()
        )
        return modules.MLPNet(encoder, self._stack(encoder.out_features, cfg), n_out)

    def _record_inputs(self, cfg: dict[str, Any]) -> None:
        names = getattr(self, "feature_names_in_", None)
        cfg["categorical"] = [
            {
                "column": str(names[j]) if names is not None else int(j),
                "categories": n - 1,
                "encoding": "one-hot" if w is None else "embedding",
                "width": n if w is None else w,
            }
            for j, n, w in zip(
                self._input.categorical, self._input.cardinalities, self._embedding_widths()
            )
        ]

    def _setup(self, n_out: int, device: torch.device) -> None:
        cfg = self._resolve()
        self._record_inputs(cfg)
        net = self._make_net(n_out, cfg)
        modules.initialize(net, cfg["initializer"])
        cfg["parameters"] = modules.count_parameters(net)
        self.module_ = net.to(device)
        self._optimizer = OPTIMIZERS[self.optimizer](self.module_.parameters(), self)
        self.config_ = cfg
        self.history_: dict[str, list] = {}
        self.n_iter_ = 0

    def _callbacks(self, has_validation: bool, *, full: bool) -> list:
        cbs: list = [History(self.history_)]
        if full and self.early_stopping:
            cbs.append(
                EarlyStopping("val_loss" if has_validation else "loss", patience=int(self.patience))
            )
        if full and self.checkpoint_path is not None:
            cbs.append(
                ModelCheckpoint(self.checkpoint_path, "val_loss" if has_validation else "loss")
            )
        if self.tensorboard_dir is not None:
            cbs.append(TensorBoard(self.tensorboard_dir))
        if self.verbose:
            cbs.append(ProgressBar())
        return cbs + list(self.callbacks or ())

    def _trainer(self, callbacks) -> Trainer:
        return Trainer(
            self.module_,
            self._optimizer,
            self._loss_fn(),
            metric=self._metric(),
            batch_size=int(self.batch_size),
            generator=self._generator,
            clip_value=self.clip_value,
            clip_norm=self.clip_norm,
            max_norm=self.max_norm,
            l1=float(self.l1),
            l2=float(self.l2),
            callbacks=callbacks,
        )

    # -- fitting --------------------------------------------------------------------------------------
    def _batches(self, numeric, codes, y, w, device) -> Batches:
        return Batches(
            _tensor(numeric, device),
            _tensor(codes, device),
            _tensor(y, device, self._target_dtype()),
            _tensor(w, device),
        )

    def _split(self, numeric, codes, y, w, y_raw, seed) -> tuple[tuple, tuple | None]:
        n = len(numeric)
        n_val = int(round(self.validation_fraction * n)) if self.early_stopping else 0
        if n_val < MIN_VALIDATION_ROWS or n - n_val < MIN_VALIDATION_ROWS:
            return (numeric, codes, y, w), None
        idx = np.arange(n)
        try:
            tr, va = train_test_split(
                idx, test_size=n_val, random_state=seed, stratify=self._stratify(y_raw)
            )
        except ValueError:
            tr, va = train_test_split(idx, test_size=n_val, random_state=seed)
        pick = lambda a, i: None if a is None else a[i]  # noqa: E731
        return tuple(pick(a, tr) for a in (numeric, codes, y, w)), tuple(
            pick(a, va) for a in (numeric, codes, y, w)
        )

    def _stratify(self, y_raw):
        return None

    def fit(self, X, y, sample_weight=None):
        """Train from scratch: up to ``max_epochs`` epochs, early stopping on a validation split.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Numbers; ``category`` columns of a DataFrame are categorical (see ``categorical_features``).
        y : array-like
            Target.
        sample_weight : array-like of shape (n_samples,), optional
            Weight of each row in the loss.
        """
        numeric, codes, y_raw = encode_inputs(self, X, y, reset=True, **self._y_options())
        target = self._encode_target(y_raw, reset=True)
        w = self._weights(y_raw, sample_weight, numeric)
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        device = self._device()
        with _threads(self.num_threads), _seeded(seed, device):
            self._generator = torch.Generator().manual_seed(seed)
            self._setup(self._n_out, device)
            train, valid = self._split(numeric, codes, target, w, y_raw, seed)
            train_b = self._batches(*train, device)
            valid_b = self._batches(*valid, device) if valid is not None else None
            trainer = self._trainer(self._callbacks(valid_b is not None, full=True))
            reason = trainer.run(
                train_b, valid_b, epochs=int(self.max_epochs), schedule=get_schedule(self.schedule)
            )
        self._finish(trainer, reason, valid_b if valid_b is not None else train_b)
        return self

    def partial_fit(self, X, y, sample_weight=None, **kwargs):
        """One epoch over ``(X, y)`` at the constant ``learning_rate``, continuing from the current weights.

        The first call learns the input scaling (and the target's) from its rows. Early stopping,
        validation and schedules belong to ``fit`` and are not used here.
        """
        first = not hasattr(self, "module_")
        numeric, codes, y_raw = encode_inputs(self, X, y, reset=first, **self._y_options())
        target = self._encode_target(y_raw, reset=first, **kwargs)
        w = self._weights(y_raw, sample_weight, numeric)
        device = self._device()
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max)) + (
            0 if first else self.n_iter_
        )
        with _threads(self.num_threads), _seeded(seed, device):
            if first:
                self._setup(self._n_out, device)
            if getattr(self, "_optimizer", None) is None:
                self._optimizer = OPTIMIZERS[self.optimizer](self.module_.parameters(), self)
            for (
                group
            ) in self._optimizer.param_groups:  # a schedule in fit may have left it elsewhere
                group["lr"] = float(self.learning_rate)
            self.module_.to(device)
            self._generator = torch.Generator().manual_seed(seed)
            data = self._batches(numeric, codes, target, w, device)
            trainer = self._trainer(self._callbacks(False, full=False))
            reason = trainer.run(
                data, None, epochs=1, schedule=Constant(), first_epoch=self.n_iter_ + 1
            )
        self._finish(trainer, reason, data)
        return self

    def _weights(self, y_raw, sample_weight, numeric) -> np.ndarray | None:
        """Row weights for the loss, or None when every row weighs 1 (the unweighted fast path)."""
        w = self._row_weights(y_raw, _check_sample_weight(sample_weight, numeric, dtype=np.float64))
        return None if np.all(w == 1) else w.astype(np.float32)

    def _row_weights(self, y_raw, w: np.ndarray) -> np.ndarray:
        return w

    def _finish(self, trainer: Trainer, reason: str, residual_data: Batches) -> None:
        self.n_iter_ = len(self.history_.get("epoch", ()))
        self.stop_reason_ = reason
        self.best_epoch_ = trainer.best_epoch if trainer.best_epoch is not None else self.n_iter_
        self.module_.eval()
        if trainer.diverged:
            warnings.warn(f"{type(self).__name__}: {reason}", DivergenceWarning, stacklevel=3)
        self._after_fit(residual_data)

    def _after_fit(self, data: Batches) -> None: ...

    # -- predicting -----------------------------------------------------------------------------------
    def _inference_net(self, device: torch.device) -> torch.nn.Module:
        """The network for prediction: a float64 copy on the CPU, so a row's prediction does not depend
        on the other rows in its batch (float32 kernels round differently by batch shape)."""
        net = self.module_.to(device)
        return copy.deepcopy(net).double() if device.type == "cpu" else net

    def _outputs(self, X, mc_samples: int | None = None, head: str = "main") -> np.ndarray:
        """Raw network outputs: (n, k), or (mc_samples, n, k) for Monte Carlo dropout."""
        check_is_fitted(self, "module_")
        numeric, codes = encode_inputs(self, X, reset=False)
        device = self._device()
        net = self._inference_net(device)
        forward = net.auxiliary if head == "aux" else net.forward
        samples = int(mc_samples) if mc_samples else 0
        if samples > 1 and not modules.dropout_layers(net):
            warnings.warn(
                "mc_samples without dropout: every pass gives the same output (set dropout > 0)",
                UserWarning,
                stacklevel=3,
            )
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        with torch.no_grad(), _threads(self.num_threads), _seeded(seed, device):
            net.eval()
            for layer in modules.dropout_layers(net) if samples > 1 else ():
                layer.train()
            runs = [
                self._forward_chunks(forward, numeric, codes, device)
                for _ in range(max(samples, 1))
            ]
        return np.stack(runs) if samples > 1 else runs[0]

    def _forward_chunks(self, forward, numeric, codes, device) -> np.ndarray:
        dtype = next(forward.__self__.parameters()).dtype
        out = []
        for start in range(0, len(numeric), EVAL_BATCH):
            num = torch.from_numpy(numeric[start : start + EVAL_BATCH]).to(
                device=device, dtype=dtype
            )
            cod = (
                None
                if codes is None
                else torch.from_numpy(codes[start : start + EVAL_BATCH]).to(device)
            )
            out.append(forward(num, cod).double().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self._n_out))

    # -- persistence ----------------------------------------------------------------------------------
    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_optimizer", None)  # rebuilt by partial_fit; saved models stay small
        state.pop("_generator", None)
        module = state.get("module_")
        if module is not None and any(p.device.type != "cpu" for p in module.parameters()):
            state["module_"] = copy.deepcopy(module).cpu()
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        self._optimizer = None

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags
