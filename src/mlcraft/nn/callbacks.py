"""Training callbacks: Keras-style hooks that do nothing unless overridden.

The training loop calls, in order, ``on_train_begin``, then per epoch ``on_epoch_begin``,
``on_batch_end`` (only for callbacks that override it, so an idle hook costs nothing per batch) and
``on_epoch_end`` with the epoch's logs (``loss``, ``val_loss``, metrics, ``lr``), then
``on_train_end``. A callback reaches the network and the loop through ``self.trainer`` and stops the
training with ``self.trainer.stop(reason)``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import torch

__all__ = ["Callback", "EarlyStopping", "ModelCheckpoint", "TensorBoard", "History", "ProgressBar"]


class Callback:
    """Override the hooks you need; each is a no-op by default."""

    trainer: Any = None

    def set_trainer(self, trainer: Any) -> None:
        self.trainer = trainer

    def on_train_begin(self, logs: dict[str, Any]) -> None: ...

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any]) -> None: ...

    def on_batch_end(self, batch: int, logs: dict[str, Any]) -> None: ...

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None: ...

    def on_train_end(self, logs: dict[str, Any]) -> None: ...


def _better(value: float, best: float, min_delta: float) -> bool:
    return math.isfinite(value) and value < best - min_delta


def state_copy(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A detached copy of the module's weights (on the module's device)."""
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved for ``patience`` epochs; restore the best weights.

    Parameters
    ----------
    monitor : str
        A key of the epoch logs; ``val_loss`` falls back to ``loss`` when there is no validation set.
    patience : int
        Epochs without improvement before stopping (the book uses 10).
    min_delta : float
        Smallest decrease that counts as an improvement.
    restore_best_weights : bool
        At the end of training, load the weights of the best epoch.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        patience: int = 10,
        min_delta: float = 0.0,
        restore_best_weights: bool = True,
    ):
        self.monitor = monitor
        self.patience = patience
        self.min_delta = min_delta
        self.restore_best_weights = restore_best_weights

    def on_train_begin(self, logs):
        self.best = math.inf
        self.best_epoch: int | None = None
        self.best_state: dict[str, torch.Tensor] | None = None
        self.wait = 0

    def on_epoch_end(self, epoch, logs):
        value = logs.get(self.monitor, logs.get("loss") if self.monitor == "val_loss" else None)
        if value is None:
            return
        if _better(value, self.best, self.min_delta):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self.best_state = state_copy(self.trainer.net)
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.trainer.stop(
                f"early stopping: no improvement of {self.monitor} for {self.patience} epochs"
            )

    def on_train_end(self, logs):
        if self.restore_best_weights and self.best_state is not None:
            self.trainer.net.load_state_dict(self.best_state)
            self.trainer.best_epoch = self.best_epoch


class ModelCheckpoint(Callback):
    """Save the network's weights (``torch.save`` of a dict) when ``monitor`` improves.

    The file is written to a temporary sibling and renamed into place, so a crash never leaves a
    half-written checkpoint. It holds ``state_dict``, ``epoch`` and the monitored ``value``.
    """

    def __init__(
        self, path: str | os.PathLike[str], monitor: str = "val_loss", save_best_only: bool = True
    ):
        self.path = path
        self.monitor = monitor
        self.save_best_only = save_best_only

    def on_train_begin(self, logs):
        self.best = math.inf

    def on_epoch_end(self, epoch, logs):
        value = logs.get(self.monitor, logs.get("loss") if self.monitor == "val_loss" else None)
        if value is None or (self.save_best_only and not _better(value, self.best, 0.0)):
            return
        self.best = value
        from mlcraft.atomic import atomic_path

        state = {k: v.detach().cpu() for k, v in self.trainer.net.state_dict().items()}
        with atomic_path(self.path) as tmp:
            torch.save(
                {"state_dict": state, "epoch": epoch, "monitor": self.monitor, "value": value}, tmp
            )


class TensorBoard(Callback):
    """Write every epoch's logs as TensorBoard scalars (``tensorboard --logdir LOG_DIR`` shows them).

    Training and validation values of the same quantity share a chart (``loss/train``,
    ``loss/validation``). Needs the ``tensorboard`` package (in mlcraft's ``[nn]`` extra).
    """

    def __init__(self, log_dir: str | os.PathLike[str]):
        self.log_dir = log_dir

    def on_train_begin(self, logs):
        from torch.utils.tensorboard import SummaryWriter

        Path(self.log_dir).mkdir(parents=True, exist_ok=True)
        self.writer = SummaryWriter(log_dir=str(self.log_dir))

    def on_epoch_end(self, epoch, logs):
        for key, value in logs.items():
            if key == "epoch" or not isinstance(value, (int, float)):
                continue
            tag = (
                f"{key[4:]}/validation"
                if key.startswith("val_")
                else (f"{key}/train" if key != "lr" else "learning_rate")
            )
            self.writer.add_scalar(tag, value, epoch)

    def on_train_end(self, logs):
        self.writer.flush()
        self.writer.close()


class History(Callback):
    """Per-epoch logs as lists: ``history["val_loss"][i]`` is epoch ``i + 1``'s validation loss."""

    def __init__(self, history: dict[str, list] | None = None):
        self.history = {} if history is None else history

    def on_epoch_end(self, epoch, logs):
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)


class ProgressBar(Callback):
    """A progress bar per epoch (batches done, running loss) and a summary line at its end (Rich)."""

    def __init__(self, every: int = 10):
        self.every = every

    def on_train_begin(self, logs):
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.progress = Progress(
            TextColumn("epoch {task.fields[epoch]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[info]}"),
            transient=True,
        )
        self.progress.start()

    def on_epoch_begin(self, epoch, logs):
        self.task = self.progress.add_task(
            "", total=self.trainer.steps_per_epoch, epoch=epoch, info=""
        )

    def on_batch_end(self, batch, logs):
        if batch % self.every == 0 or batch == self.trainer.steps_per_epoch:
            self.progress.update(self.task, completed=batch)

    def on_epoch_end(self, epoch, logs):
        self.progress.remove_task(self.task)
        shown = "  ".join(
            f"{k} {v:.4g}" for k, v in logs.items() if k not in ("epoch",) and isinstance(v, float)
        )
        self.progress.console.print(f"epoch {epoch}: {shown}")

    def on_train_end(self, logs):
        self.progress.stop()
