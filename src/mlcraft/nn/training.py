"""The training loop: mini-batches over tensors already on the device, hooks around each epoch.

One loop serves ``fit`` (many epochs, validation, schedules, callbacks) and ``partial_fit`` (one
epoch). It owns what every step needs: the L1/L2 penalties, gradient clipping (by value, by norm),
the max-norm constraint, the learning-rate schedule, and the guards: a diverging loss stops the
run and restores the last good weights; running out of memory on a batch keeps the last good
weights and raises a clear error.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from mlcraft.exceptions import BudgetError
from mlcraft.nn.callbacks import Callback, state_copy
from mlcraft.nn.modules import apply_max_norm
from mlcraft.nn.schedules import Schedule

__all__ = ["Batches", "Metric", "Trainer", "NetworkMemoryError", "DIVERGENCE_FACTOR", "EVAL_BATCH"]

DIVERGENCE_FACTOR = 1e4  # an epoch loss this many times the first one counts as diverged
EVAL_BATCH = 8192  # rows per forward pass when predicting or validating


class NetworkMemoryError(BudgetError, MemoryError):
    """A batch did not fit in memory; the weights of the last complete epoch were kept."""


@dataclass
class Batches:
    """Training or validation rows as tensors on the device: inputs, target, sample weights."""

    numeric: torch.Tensor
    codes: torch.Tensor | None
    y: torch.Tensor
    w: torch.Tensor | None  # None: every row weighs the same (the unweighted, faster loss)

    def __len__(self) -> int:
        return self.numeric.shape[0]

    @property
    def weighted(self) -> bool:
        return self.w is not None

    def take(self, idx: torch.Tensor | slice):
        codes = None if self.codes is None else self.codes[idx]
        w = None if self.w is None else self.w[idx]
        return self.numeric[idx], codes, self.y[idx], w


@dataclass
class Metric:
    """A metric accumulated over batches: ``batch(out, y)`` gives a sum, ``finish(total, n)`` the value.

    ``from_loss``, when given, derives the training value from the epoch's mean loss instead (no
    per-batch cost), e.g. the RMSE from the MSE loss.
    """

    name: str
    batch: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    finish: Callable[[float, int], float]
    from_loss: Callable[[float], float] | None = None


def _main(out):
    return out[0] if isinstance(out, tuple) else out


def _is_oom(exc: BaseException) -> bool:
    if isinstance(exc, (MemoryError, torch.OutOfMemoryError)):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and (
        "out of memory" in text or "can't allocate memory" in text
    )


class Trainer:
    """Runs epochs of mini-batch gradient descent on ``net`` and calls the callbacks.

    Parameters
    ----------
    net, optimizer : the network and its torch optimiser.
    loss_fn : callable
        ``loss_fn(output, y, w) -> scalar``: the mean loss, weighted by ``w`` unless it is None;
        ``output`` may be a (main, aux) tuple.
    metric : Metric or None
        Reported per epoch on the training batches (running) and on the validation set.
    """

    def __init__(
        self,
        net: nn.Module,
        optimizer: torch.optim.Optimizer,
        loss_fn: Callable,
        *,
        metric: Metric | None,
        batch_size: int,
        generator: torch.Generator,
        clip_value: float | None = None,
        clip_norm: float | None = None,
        max_norm: float | None = None,
        l1: float = 0.0,
        l2: float = 0.0,
        callbacks: Sequence[Callback] = (),
    ):
        self.net, self.optimizer, self.loss_fn, self.metric = net, optimizer, loss_fn, metric
        self.batch_size, self.generator = batch_size, generator
        self.clip_value, self.clip_norm, self.max_norm, self.l1, self.l2 = (
            clip_value,
            clip_norm,
            max_norm,
            l1,
            l2,
        )
        self.callbacks = list(callbacks)
        self.batch_callbacks = [
            cb for cb in self.callbacks if type(cb).on_batch_end is not Callback.on_batch_end
        ]
        self.kernels = [m.weight for m in net.modules() if isinstance(m, nn.Linear)]
        self.has_batch_norm = any(
            isinstance(m, nn.modules.batchnorm._BatchNorm) for m in net.modules()
        )
        self.track_metric = metric is not None and metric.from_loss is None
        self.stop_reason: str | None = None
        self.diverged = False
        self.best_epoch: int | None = None
        self.steps_per_epoch = 0
        for cb in self.callbacks:
            cb.set_trainer(self)

    def stop(self, reason: str) -> None:
        """Ask the loop to stop after the current epoch (callbacks call this)."""
        self.stop_reason = reason

    # -- one step ---------------------------------------------------------------------------------
    def _penalty(self) -> torch.Tensor | float:
        total: torch.Tensor | float = 0.0
        if self.l1:
            total = total + self.l1 * sum(w.abs().sum() for w in self.kernels)
        if self.l2:
            total = total + self.l2 * sum(w.pow(2).sum() for w in self.kernels)
        return total

    def step(self, numeric, codes, y, w) -> tuple[torch.Tensor, torch.Tensor | None]:
        out = self.net(numeric, codes)
        loss = self.loss_fn(out, y, w)
        total = loss + self._penalty() if (self.l1 or self.l2) else loss
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        if self.clip_value is not None:
            nn.utils.clip_grad_value_(self.net.parameters(), self.clip_value)
        if self.clip_norm is not None:
            nn.utils.clip_grad_norm_(self.net.parameters(), self.clip_norm)
        self.optimizer.step()
        if self.max_norm is not None:
            apply_max_norm(self.net, self.max_norm)
        metric = (
            self.metric.batch(_main(out).detach(), y)
            if self.track_metric and self.metric is not None
            else None
        )
        return loss.detach(), metric

    # -- epochs -----------------------------------------------------------------------------------
    def _train_epoch(self, data: Batches, scheduler) -> tuple[float, float | None]:
        self.net.train()
        n, bs = len(data), self.batch_size
        perm = torch.randperm(n, generator=self.generator).to(data.numeric.device)
        losses, metrics, rows = [], [], []
        step_scheduler = scheduler is not None and self.schedule.per_batch
        for batch, start in enumerate(range(0, n, bs), start=1):
            idx = perm[start : start + bs]
            if self.has_batch_norm and idx.numel() == 1:
                continue  # batch norm cannot normalise a single row
            batch_loss, metric = self.step(*data.take(idx))
            losses.append(batch_loss)
            rows.append(idx.numel())
            if metric is not None:
                metrics.append(metric)
            if step_scheduler:
                scheduler.step()
            for cb in self.batch_callbacks:
                cb.on_batch_end(batch, {"loss": batch_loss})
        if not losses:
            return math.nan, None
        weights = torch.tensor(rows, dtype=losses[0].dtype, device=losses[0].device)
        seen = int(sum(rows))
        loss = float(torch.stack(losses) @ weights) / seen
        if self.metric is None:
            return loss, None
        if self.metric.from_loss is not None:
            return loss, self.metric.from_loss(loss)
        return loss, self.metric.finish(float(torch.stack(metrics).sum()), seen)

    @torch.no_grad()
    def evaluate(self, data: Batches) -> tuple[float, float | None]:
        """Loss (weighted mean) and metric of the network on ``data``, in evaluation mode."""
        self.net.eval()
        loss_sum, metric_sum = 0.0, 0.0
        weighted = (
            data.w is not None and float(data.w.sum()) > 0
        )  # all-zero weights: report the plain mean
        weight = float(data.w.sum()) if weighted and data.w is not None else float(len(data))
        for start in range(0, len(data), EVAL_BATCH):
            numeric, codes, y, w = data.take(slice(start, start + EVAL_BATCH))
            w = w if weighted else None
            out = self.net(numeric, codes)
            loss_sum += float(self.loss_fn(out, y, w)) * (
                float(w.sum()) if w is not None else len(y)
            )
            if self.metric is not None:
                metric_sum += float(self.metric.batch(out, y))
        loss = loss_sum / weight if weight > 0 else math.nan
        return loss, (
            self.metric.finish(metric_sum, len(data)) if self.metric is not None else None
        )

    def _epoch_logs(
        self, epoch: int, train: Batches, valid: Batches | None, scheduler, started: float
    ) -> dict[str, Any]:
        loss, metric = self._train_epoch(train, scheduler)
        logs: dict[str, Any] = {"epoch": epoch, "loss": loss}
        if metric is not None and self.metric is not None:
            logs[self.metric.name] = metric
        if valid is not None and len(valid):
            val_loss, val_metric = self.evaluate(valid)
            logs["val_loss"] = val_loss
            if val_metric is not None and self.metric is not None:
                logs[f"val_{self.metric.name}"] = val_metric
        logs["lr"] = float(self.optimizer.param_groups[0]["lr"])
        logs["time_s"] = time.perf_counter() - started
        return logs

    def _diverged(self, logs: dict[str, Any], first_loss: float | None) -> bool:
        values = [logs["loss"], logs.get("val_loss", 0.0)]
        if not all(math.isfinite(v) for v in values):
            return True
        return first_loss is not None and logs["loss"] > DIVERGENCE_FACTOR * max(first_loss, 1e-12)

    def run(
        self,
        train: Batches,
        valid: Batches | None,
        *,
        epochs: int,
        schedule: Schedule,
        first_epoch: int = 1,
    ) -> str:
        """Train for up to ``epochs`` epochs; returns why it stopped."""
        self.schedule = schedule
        self.steps_per_epoch = math.ceil(len(train) / self.batch_size)
        scheduler = schedule.build(
            self.optimizer, epochs=epochs, steps_per_epoch=self.steps_per_epoch
        )
        self.stop_reason = None
        last_good = state_copy(self.net)
        first_loss: float | None = None
        for cb in self.callbacks:
            cb.on_train_begin({})
        try:
            for epoch in range(first_epoch, first_epoch + epochs):
                started = time.perf_counter()
                for cb in self.callbacks:
                    cb.on_epoch_begin(epoch, {})
                try:
                    logs = self._epoch_logs(epoch, train, valid, scheduler, started)
                except Exception as exc:
                    if not _is_oom(exc):
                        raise
                    self.net.load_state_dict(last_good)
                    raise NetworkMemoryError(
                        f"out of memory training on batches of {self.batch_size} rows: lower batch_size or the layer "
                        f"sizes; the weights of the last complete epoch ({epoch - 1}) were kept"
                    ) from exc
                if self._diverged(logs, first_loss):
                    self.net.load_state_dict(last_good)
                    self.optimizer.state.clear()
                    self.diverged, self.best_epoch = True, epoch - 1
                    self.stop(
                        f"diverged at epoch {epoch} (loss {logs['loss']:.3g}): stopped and restored the weights of epoch {epoch - 1}; lower the learning rate"
                    )
                else:
                    first_loss = logs["loss"] if first_loss is None else first_loss
                    last_good = state_copy(self.net)
                    self._step_epoch_scheduler(scheduler, logs)
                for cb in self.callbacks:  # a diverged epoch is reported too: the history shows it
                    cb.on_epoch_end(epoch, logs)
                if self.stop_reason is not None:
                    break
        finally:
            for cb in self.callbacks:
                cb.on_train_end({})
        return self.stop_reason or f"reached max_epochs ({epochs})"

    def _step_epoch_scheduler(self, scheduler, logs) -> None:
        if scheduler is None or self.schedule.per_batch:
            return
        if self.schedule.needs_metric:
            scheduler.step(logs.get("val_loss", logs["loss"]))
        else:
            scheduler.step()
