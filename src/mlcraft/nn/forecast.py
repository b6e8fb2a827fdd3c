"""The book's neural forecasters (chapter 15) and N-BEATS, as one global model over many series.

>>> from mlcraft.nn.forecast import NeuralForecaster  # doctest: +SKIP
>>> model = NeuralForecaster(arch="gru", window=24).fit(series, horizon=12, season=12)  # doctest: +SKIP
>>> model.forecast(series, 12).shape, model.forecast_samples(series, 12).shape  # doctest: +SKIP
((n_series, 12), (100, n_series, 12))

How the data is shaped
----------------------
- **Windows.** Every position of every series gives one training example: the ``window`` values
  before it (the input) and the ``horizon`` values from it (the target). A series shorter than
  ``window + horizon`` is *padded on the left with a mask*, not skipped: each time step carries two
  channels, the value and a 0/1 "observed" flag, so a short history is still a usable input
  (at fit and at forecast time). A series needs ``horizon + 1`` values to give a training window.
- **Scaling.** Each window is standardised by the mean and standard deviation of the observed
  values of its own input part; the network's output is rescaled by the same two numbers, so one
  model serves series of any level and scale. No differencing.
- **Sequence to sequence** (``seq2seq=True``, the recurrent and convolutional archs): in training,
  every time step of the window predicts the next ``horizon`` values (the book's setup; the steps
  whose input is padding do not count in the loss); the forecast is the last step's output.
  ``seq2seq=False``: only the last step's output is trained. ``linear`` and ``nbeats`` read the
  whole window at once and always predict from it.
- **Validation.** When a series has at least ``2 * horizon + 2`` values, its last window is held
  out (and the training windows stop before that window's targets begin); the epochs stop early
  when the validation loss has not improved for :data:`PATIENCE` epochs and the best weights are
  kept. Without such series every window trains and all ``epochs`` run.
- **Longer horizons.** ``forecast(h)`` with ``h`` beyond the fitted horizon feeds the forecasts
  back as history and forecasts again (recursive), one path per MC-dropout sample.
- **Deadline.** Between epochs the fit asks :func:`mlcraft.core.fit.family.time_left` and stops when
  less is left than the last epoch took, recording ``truncated_params_ = {"epochs": n}``.
"""

from __future__ import annotations

import copy
import warnings
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator
from torch import nn

from mlcraft.core.fit.family import time_left
from mlcraft.exceptions import ConfigError, DataError, NotFittedError
from mlcraft.models.forecast import check_series
from mlcraft.nn.base import _seeded, _threads
from mlcraft.nn.callbacks import Callback, EarlyStopping, History
from mlcraft.nn.modules import count_parameters, dropout_layers
from mlcraft.nn.schedules import Constant
from mlcraft.nn.training import EVAL_BATCH, Batches, Trainer

__all__ = ["NeuralForecaster", "ARCHS", "PATIENCE", "build_network", "make_windows", "loss"]

ARCHS = ("linear", "rnn", "deep_rnn", "lstm", "gru", "conv_gru", "wavenet", "nbeats")
SEQUENTIAL = {"rnn", "deep_rnn", "lstm", "gru", "conv_gru", "wavenet"}  # one output per time step
PATIENCE = 10  # epochs without a better validation loss before stopping (the book's)
CONV_KERNEL = 4  # conv_gru's causal convolution (the book's kernel size)
WAVENET_KERNEL = 2  # the book's WaveNet: kernel 2, dilations 1, 2, 4, ...
NBEATS_BLOCKS = 3  # N-BEATS generic blocks per layer, each of NBEATS_DEPTH fully connected layers
NBEATS_DEPTH = 4
MIN_STD = 1e-8  # a window whose input is constant is scaled by 1 instead
CHANNELS = 2  # value, observed flag


# -- networks -------------------------------------------------------------------------------------
class _Recurrent(nn.Module):
    """Stacked recurrent layers (dropout after each), optionally behind a causal 1D convolution."""

    def __init__(self, cell: str, layers: int, hidden: int, dropout: float, conv: bool):
        super().__init__()
        rnn = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell]
        self.conv = nn.Conv1d(CHANNELS, hidden, CONV_KERNEL) if conv else None
        n_in = hidden if conv else CHANNELS
        self.cells = nn.ModuleList(
            rnn(n_in if i == 0 else hidden, hidden, batch_first=True) for i in range(layers)
        )
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, W) -> (B, W, hidden)
        if self.conv is not None:
            x = torch.relu(self.conv(nn.functional.pad(x, (CONV_KERNEL - 1, 0))))
        h = x.transpose(1, 2)
        for cell in self.cells:
            h = self.drop(cell(h)[0])
        return h


class _WaveNet(nn.Module):
    """The book's WaveNet: causal convolutions of kernel 2 with dilations 1, 2, 4... (ReLU)."""

    def __init__(self, window: int, layers: int, hidden: int, dropout: float):
        super().__init__()
        dilations, reach = [], 1
        while reach < window:  # one block reaches back over the whole window
            dilations.append(reach)
            reach *= 2
        dilations = (dilations or [1]) * layers
        self.dilations = dilations
        self.convs = nn.ModuleList(
            nn.Conv1d(CHANNELS if i == 0 else hidden, hidden, WAVENET_KERNEL, dilation=d)
            for i, d in enumerate(dilations)
        )
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, W) -> (B, W, hidden)
        for conv, d in zip(self.convs, self.dilations):
            x = self.drop(torch.relu(conv(nn.functional.pad(x, ((WAVENET_KERNEL - 1) * d, 0)))))
        return x.transpose(1, 2)


class SequenceNet(nn.Module):
    """A body with one output per time step and a linear head to the next ``horizon`` values.

    In training with ``seq2seq`` it returns every step's forecast ``(B, W, H)``; otherwise (and in
    evaluation) the last step's ``(B, H)``.
    """

    def __init__(self, body: nn.Module, hidden: int, horizon: int, window: int, seq2seq: bool):
        super().__init__()
        self.body, self.head = body, nn.Linear(hidden, horizon)
        self.window, self.seq2seq = window, seq2seq

    def forward(self, x: torch.Tensor, codes=None) -> torch.Tensor:
        h = self.body(x[:, :, : self.window])
        if self.seq2seq and self.training:
            return self.head(h)
        return self.head(h[:, -1])


class LinearNet(nn.Module):
    """The book's linear model over the window (values and observed flags)."""

    def __init__(self, window: int, horizon: int, dropout: float):
        super().__init__()
        self.window = window
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.out = nn.Linear(CHANNELS * window, horizon)

    def forward(self, x: torch.Tensor, codes=None) -> torch.Tensor:
        return self.out(self.drop(x[:, :, : self.window].flatten(1)))


class _NBeatsBlock(nn.Module):
    def __init__(self, window: int, horizon: int, hidden: int, dropout: float):
        super().__init__()
        layers: list[nn.Module] = []
        n_in = CHANNELS * window
        for _ in range(NBEATS_DEPTH):
            layers += [nn.Linear(n_in, hidden), nn.ReLU()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            n_in = hidden
        self.fc = nn.Sequential(*layers)
        self.backcast = nn.Linear(hidden, window)
        self.forecast = nn.Linear(hidden, horizon)

    def forward(self, values: torch.Tensor, mask: torch.Tensor):
        h = self.fc(torch.cat([values, mask], dim=1))
        return self.backcast(h), self.forecast(h)


class NBeatsNet(nn.Module):
    """N-BEATS, generic blocks (Oreshkin et al., 2020): each block reads what the previous ones
    left unexplained of the window (the residual of its backcast) and adds its part of the forecast."""

    def __init__(self, window: int, horizon: int, hidden: int, blocks: int, dropout: float):
        super().__init__()
        self.window = window
        self.blocks = nn.ModuleList(
            _NBeatsBlock(window, horizon, hidden, dropout) for _ in range(blocks)
        )

    def forward(self, x: torch.Tensor, codes=None) -> torch.Tensor:
        values, mask = x[:, 0, : self.window], x[:, 1, : self.window]
        total: torch.Tensor | float = 0.0
        for block in self.blocks:
            backcast, forecast = block(values, mask)
            values = values - backcast * mask
            total = total + forecast
        assert isinstance(total, torch.Tensor)
        return total


def build_network(
    arch: str,
    *,
    window: int,
    horizon: int,
    hidden: int,
    layers: int,
    dropout: float,
    seq2seq: bool,
) -> nn.Module:
    """The network of one arch (see :class:`NeuralForecaster`), input ``(B, 2, >= window)``."""
    if arch == "linear":
        return LinearNet(window, horizon, dropout)
    if arch == "nbeats":
        return NBeatsNet(window, horizon, hidden, NBEATS_BLOCKS * layers, dropout)
    body: nn.Module
    if arch == "wavenet":
        body = _WaveNet(window, layers, hidden, dropout)
    else:
        cell = {"deep_rnn": "rnn", "conv_gru": "gru"}.get(arch, arch)
        depth = max(layers, 2) if arch == "deep_rnn" else layers
        body = _Recurrent(cell, depth, hidden, dropout, conv=arch == "conv_gru")
    return SequenceNet(body, hidden, horizon, window, seq2seq)


# -- data -----------------------------------------------------------------------------------------
def _scale(values: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of the observed values of each row (rows of ``values``)."""
    n = np.maximum(mask.sum(axis=1), 1.0)
    mean = (values * mask).sum(axis=1) / n
    var = (((values - mean[:, None]) * mask) ** 2).sum(axis=1) / n
    std = np.sqrt(var)
    std = np.where(std > MIN_STD * np.maximum(1.0, np.abs(mean)), std, 1.0)
    return mean, std


def make_windows(
    series: list[np.ndarray], window: int, horizon: int, *, holdout: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """Training (and validation) examples: ``(N, 2, window + horizon)`` float32 arrays.

    Channel 0 holds the values standardised by the window's input part, channel 1 the observed
    flags (0 for the left padding). With ``holdout``, each series of at least ``2 * horizon + 2``
    values gives its last window to the validation array and trains only on windows whose targets
    end before that window's targets begin.
    """
    span = window + horizon
    train, valid = [], []
    for s in series:
        n = len(s)
        if n < horizon + 1:
            continue
        padded = np.concatenate([np.zeros(window), s])
        flags = np.concatenate([np.zeros(window), np.ones(n)])
        # segment i covers the series' [i - window, i + horizon): input ends at i (i = 1 .. n - h)
        seg = np.lib.stride_tricks.sliding_window_view(padded, span)[1 : n - horizon + 1]
        msk = np.lib.stride_tricks.sliding_window_view(flags, span)[1 : n - horizon + 1]
        if holdout and n >= 2 * horizon + 2:
            valid.append((seg[-1:], msk[-1:]))
            seg, msk = seg[: len(seg) - horizon], msk[: len(msk) - horizon]
        train.append((seg, msk))

    def stack(parts):
        if not parts:
            return None
        seg = np.concatenate([p[0] for p in parts])
        msk = np.concatenate([p[1] for p in parts])
        mean, std = _scale(seg[:, :window], msk[:, :window])
        scaled = (seg - mean[:, None]) / std[:, None] * msk
        return np.stack([scaled, msk], axis=1).astype(np.float32)

    out = stack(train)
    if out is None:
        raise DataError(
            f"no series has the {horizon + 1} values a training window needs (horizon {horizon} + 1): "
            "give longer series or a shorter horizon"
        )
    return out, (stack(valid) if holdout else None)


def loss(out: torch.Tensor, y: torch.Tensor, w=None) -> torch.Tensor:
    """Mean squared error of the forecasts in ``out`` against the windows ``y`` (B, 2, W + H).

    ``out`` of shape (B, W, H): every step's forecast (sequence to sequence), the steps whose input
    is padding left out; (B, H): the forecast from the end of the window.
    """
    if out.dim() == 3:
        w_, h = out.shape[1], out.shape[2]
        target = y[:, 0, 1:].unfold(1, h, 1)[:, :w_]  # step t: values t+1 .. t+h
        mask = y[:, 1, :w_].unsqueeze(2)
        return ((out - target) ** 2 * mask).sum() / (mask.sum() * h).clamp_min(1.0)
    h = out.shape[1]
    return nn.functional.mse_loss(out, y[:, 0, -h:])


# -- the estimator --------------------------------------------------------------------------------
class _Deadline(Callback):
    """Stop between epochs when the fit's deadline leaves less than the last epoch took."""

    def __init__(self):
        self.fired = False
        self.epochs = 0

    def on_epoch_end(self, epoch, logs):
        self.epochs = epoch
        if time_left() < logs["time_s"]:
            self.fired = True
            self.trainer.stop(f"deadline: stopped after epoch {epoch}")


def _check_horizon(horizon: Any) -> int:
    if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)) or horizon < 1:
        raise ConfigError(f"horizon must be a whole number of steps >= 1, got {horizon!r}")
    return int(horizon)


class NeuralForecaster(BaseEstimator):
    """One global PyTorch forecaster over many series (see the module's notes on the data).

    Parameters
    ----------
    arch : {"linear", "rnn", "deep_rnn", "lstm", "gru", "conv_gru", "wavenet", "nbeats"}
        ``linear``: a linear layer over the window; ``rnn``: simple RNN (``layers`` layers);
        ``deep_rnn``: stacked simple RNN (at least 2 layers); ``lstm``, ``gru``; ``conv_gru``: a
        causal 1D convolution (kernel 4) in front of a GRU; ``wavenet``: causal convolutions of
        kernel 2 with dilations 1, 2, 4... until they reach over the window, ``layers`` times;
        ``nbeats``: N-BEATS generic blocks (3 per layer, 4 fully connected layers of ``hidden``).
    window : int
        Past values read per forecast (at least ``season``: ``window_`` is the one used).
    hidden, layers, dropout : the width, the depth, and the dropout rate (also MC dropout's).
    lr, epochs, batch_size : Adam's learning rate (constant), the most epochs, the batch size.
    seq2seq : bool
        Train every time step to forecast the next ``horizon`` values (recurrent and conv archs).
    device : "auto", "cpu" or "cuda"
        "auto": the first CUDA GPU when torch sees one, else the CPU.
    seed : int
        Seeds the initialisation, the shuffling and the dropout masks (bit-identical on the CPU).
    num_threads : int or None
        torch's CPU threads while fitting and forecasting (None: torch's setting). The engine
        passes 1: its folds already run in parallel processes (forked workers must not use the
        parent's thread pool).

    Attributes
    ----------
    horizon_, window_, season_ : what the fit used. epochs_ : epochs run.
    truncated_params_ : ``{"epochs": n}`` when the deadline cut the fit short, else ``{}``.
    history_ : per-epoch ``loss`` (and ``val_loss``). config_ : the resolved settings.
    """

    def __init__(
        self,
        arch: str = "gru",
        window: int = 24,
        hidden: int = 32,
        layers: int = 1,
        dropout: float = 0.1,
        lr: float = 1e-3,
        epochs: int = 60,
        batch_size: int = 64,
        seq2seq: bool = True,
        device: str = "auto",
        seed: int = 0,
        num_threads: int | None = None,
    ):
        self.arch = arch
        self.window = window
        self.hidden = hidden
        self.layers = layers
        self.dropout = dropout
        self.lr = lr
        self.epochs = epochs
        self.batch_size = batch_size
        self.seq2seq = seq2seq
        self.device = device
        self.seed = seed
        self.num_threads = num_threads

    # -- settings ---------------------------------------------------------------------------------
    def _check_settings(self) -> None:
        if self.arch not in ARCHS:
            raise ConfigError(f"arch must be one of {', '.join(ARCHS)}; got {self.arch!r}")
        for name in ("window", "hidden", "layers", "epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ConfigError(f"{name} must be a whole number >= 1, got {value!r}")
        if not 0 <= float(self.dropout) < 1:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if not float(self.lr) > 0:
            raise ConfigError(f"lr must be positive, got {self.lr!r}")

    def _device(self) -> torch.device:
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        device = torch.device(self.device)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ConfigError(
                f"device={self.device!r} but torch sees no CUDA GPU here; use device='auto' or 'cpu'"
            )
        return device

    def _network(self) -> nn.Module:
        return build_network(
            self.arch,
            window=self.window_,
            horizon=self.horizon_,
            hidden=int(self.hidden),
            layers=int(self.layers),
            dropout=float(self.dropout),
            seq2seq=bool(self.seq2seq) and self.arch in SEQUENTIAL,
        )

    # -- fitting ----------------------------------------------------------------------------------
    def fit(
        self, series: list[np.ndarray], *, horizon: int, season: int = 1, inputs: Any = None
    ) -> NeuralForecaster:
        """Train one model on windows from every series (each series' history, oldest first);
        ``inputs`` (stamps, covariates: :class:`mlcraft.models.forecast.PanelInputs`) are not read."""
        self._check_settings()
        horizon = _check_horizon(horizon)
        if isinstance(season, bool) or not isinstance(season, (int, np.integer)) or season < 1:
            raise ConfigError(f"season must be a whole number >= 1, got {season!r}")
        data = check_series(series, "series")
        self.horizon_, self.season_ = horizon, int(season)
        self.window_ = max(int(self.window), int(season))
        train, valid = make_windows(data, self.window_, horizon, holdout=True)
        device = self._device()
        with _threads(self.num_threads), _seeded(int(self.seed), device):
            net = self._network().to(device)
            optimizer = torch.optim.Adam(net.parameters(), lr=float(self.lr))
            generator = torch.Generator().manual_seed(int(self.seed))
            self.history_: dict[str, list] = {}
            deadline = _Deadline()
            callbacks: list[Callback] = [History(self.history_), deadline]
            if valid is not None:
                callbacks.append(EarlyStopping("val_loss", patience=PATIENCE))
            trainer = Trainer(
                net,
                optimizer,
                loss,
                metric=None,
                batch_size=int(self.batch_size),
                generator=generator,
                callbacks=callbacks,
            )
            as_batches = lambda a: Batches(t := torch.from_numpy(a).to(device), None, t, None)  # noqa: E731
            self.stop_reason_ = trainer.run(
                as_batches(train),
                as_batches(valid) if valid is not None else None,
                epochs=int(self.epochs),
                schedule=Constant(),
            )
        self.module_ = net.eval()
        self.epochs_ = deadline.epochs
        self.truncated_params_ = (
            {"epochs": deadline.epochs}
            if deadline.fired and deadline.epochs < int(self.epochs)
            else {}
        )
        self.config_ = {
            "arch": self.arch,
            "window": self.window_,
            "horizon": horizon,
            "seq2seq": bool(self.seq2seq) and self.arch in SEQUENTIAL,
            "training_windows": int(len(train)),
            "validation_windows": 0 if valid is None else int(len(valid)),
            "parameters": count_parameters(net),
            "device": str(device),
        }
        return self

    # -- forecasting ------------------------------------------------------------------------------
    def _net(self, device: torch.device) -> nn.Module:
        if not hasattr(self, "module_"):
            raise NotFittedError("this NeuralForecaster is not fitted yet: call fit first")
        if next(self.module_.parameters()).device != device:
            self.module_ = self.module_.to(device)
        return self.module_

    def _last_windows(self, histories: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        w = self.window_
        values, mask = np.zeros((len(histories), w)), np.zeros((len(histories), w))
        for i, h in enumerate(histories):
            tail = h[-w:]
            values[i, w - len(tail) :], mask[i, w - len(tail) :] = tail, 1.0
        return values, mask

    def _roll(self, values: np.ndarray, mask: np.ndarray, horizon: int, mc: bool) -> np.ndarray:
        """Forecast ``horizon`` steps for each row, feeding forecasts back beyond ``horizon_``."""
        device = self._device()
        net = self._net(device)
        out = []
        done = 0
        with torch.no_grad(), _threads(self.num_threads), _seeded(int(self.seed), device):
            net.eval()
            for layer in dropout_layers(net) if mc else ():
                layer.train()
            while done < horizon:
                mean, std = _scale(values, mask)
                scaled = (values - mean[:, None]) / std[:, None] * mask
                x = np.stack([scaled, mask], axis=1).astype(np.float32)
                parts = [
                    net(torch.from_numpy(x[i : i + EVAL_BATCH]).to(device)).double().cpu().numpy()
                    for i in range(0, len(x), EVAL_BATCH)
                ]
                step = np.concatenate(parts) * std[:, None] + mean[:, None]
                out.append(step)
                done += step.shape[1]
                values = np.concatenate([values, step], axis=1)[:, -self.window_ :]
                mask = np.concatenate([mask, np.ones_like(step)], axis=1)[:, -self.window_ :]
            net.eval()
        return np.concatenate(out, axis=1)[:, :horizon]

    def forecast(self, histories: list[np.ndarray], horizon: int, inputs: Any = None) -> np.ndarray:
        """The next ``horizon`` values of each series, shape ``(n_series, horizon)`` (dropout off)."""
        horizon = _check_horizon(horizon)
        data = check_series(histories, "histories")
        values, mask = self._last_windows(data)
        return self._roll(values, mask, horizon, mc=False)

    def forecast_samples(
        self, histories: list[np.ndarray], horizon: int, n_samples: int = 100, inputs: Any = None
    ) -> np.ndarray:
        """MC dropout (the book's method): ``n_samples`` forecasts with dropout on,
        shape ``(n_samples, n_series, horizon)``; reproducible for a fixed ``seed``."""
        horizon = _check_horizon(horizon)
        if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)):
            raise ConfigError(f"n_samples must be a whole number >= 1, got {n_samples!r}")
        if n_samples < 1:
            raise ConfigError(f"n_samples must be a whole number >= 1, got {n_samples!r}")
        data = check_series(histories, "histories")
        if not dropout_layers(self._net(self._device())):
            warnings.warn(
                "forecast_samples with dropout=0: every sample is the same forecast (set dropout > 0)",
                UserWarning,
                stacklevel=2,
            )
        values, mask = self._last_windows(data)
        n = len(data)
        rows = self._roll(
            np.tile(values, (n_samples, 1)), np.tile(mask, (n_samples, 1)), horizon, True
        )
        return rows.reshape(n_samples, n, horizon)

    # -- persistence ------------------------------------------------------------------------------
    def __getstate__(self):
        state = super().__getstate__()
        module = state.get("module_")
        if module is not None and any(p.device.type != "cpu" for p in module.parameters()):
            state["module_"] = copy.deepcopy(module).cpu()
        return state
