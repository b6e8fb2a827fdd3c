"""Learning-rate schedules from the book, as thin recipes over ``torch.optim.lr_scheduler``.

``schedule=`` takes a name (the schedule with the book's settings) or an instance for other settings:

========== ==================================================== =====================================
name       rate                                                 book's setting
========== ==================================================== =====================================
constant   ``lr``
power      ``lr / (1 + epoch / s) ** c``                        ``s=20`` epochs, ``c=1``
exponential ``lr * 0.1 ** (epoch / s)``                         ``s=20`` epochs
piecewise  ``lr * factor`` for each epoch interval              x1, then x0.5 from epoch 5, x0.1 from 15
performance ``lr * factor`` when the validation loss stalls     ``factor=0.5``, ``patience=5``
1cycle     up linearly to ``lr`` (peak) in the first 45% of the steps, back down in the next 45%,
           then down by orders of magnitude (Smith, 2018)      start at ``lr / 10``, end ``lr / 1e4``
========== ==================================================== =====================================
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = [
    "Schedule",
    "Constant",
    "PowerSchedule",
    "ExponentialSchedule",
    "PiecewiseConstant",
    "PerformanceSchedule",
    "OneCycle",
    "SCHEDULES",
    "get_schedule",
]


class Schedule:
    """A recipe for a torch learning-rate scheduler.

    ``per_batch`` schedulers step after every batch, the others after every epoch;
    ``needs_metric`` ones step with the epoch's monitored loss.
    """

    per_batch = False
    needs_metric = False

    def build(self, optimizer: torch.optim.Optimizer, *, epochs: int, steps_per_epoch: int):
        raise NotImplementedError


@dataclass(frozen=True)
class Constant(Schedule):
    def build(self, optimizer, *, epochs, steps_per_epoch):
        return None


@dataclass(frozen=True)
class PowerSchedule(Schedule):
    s: float = 20.0
    c: float = 1.0

    def build(self, optimizer, *, epochs, steps_per_epoch):
        return torch.optim.lr_scheduler.LambdaLR(optimizer, _Power(self.s, self.c))


@dataclass(frozen=True)
class ExponentialSchedule(Schedule):
    s: float = 20.0

    def build(self, optimizer, *, epochs, steps_per_epoch):
        return torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.1 ** (1.0 / self.s))


@dataclass(frozen=True)
class PiecewiseConstant(Schedule):
    boundaries: tuple[int, ...] = (5, 15)
    factors: tuple[float, ...] = (1.0, 0.5, 0.1)

    def build(self, optimizer, *, epochs, steps_per_epoch):
        if len(self.factors) != len(self.boundaries) + 1:
            raise ValueError("PiecewiseConstant needs one more factor than boundaries")
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, _Piecewise(self.boundaries, self.factors)
        )


@dataclass(frozen=True)
class PerformanceSchedule(Schedule):
    factor: float = 0.5
    patience: int = 5
    needs_metric = True

    def build(self, optimizer, *, epochs, steps_per_epoch):
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, factor=self.factor, patience=self.patience
        )


@dataclass(frozen=True)
class OneCycle(Schedule):
    warmup: float = 0.45  # share of the steps going up (and as many coming down)
    div_factor: float = 10.0  # start and end of the cycle at peak / div_factor
    final_div_factor: float = 1e3  # the last steps go down to start / final_div_factor
    per_batch = True

    def build(self, optimizer, *, epochs, steps_per_epoch):
        peak = [group["lr"] for group in optimizer.param_groups]
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=peak,
            total_steps=max(
                epochs * steps_per_epoch + 1, 3
            ),  # +1: the last step lands on the final rate
            pct_start=self.warmup,
            anneal_strategy="linear",
            div_factor=self.div_factor,
            final_div_factor=self.final_div_factor,
            three_phase=True,
            cycle_momentum=_has_momentum(optimizer),
        )


def _has_momentum(optimizer) -> bool:
    defaults = optimizer.defaults
    return "betas" in defaults or defaults.get("momentum", 0) > 0


class _Power:
    def __init__(self, s: float, c: float):
        self.s, self.c = s, c

    def __call__(self, epoch: int) -> float:
        return 1.0 / (1.0 + epoch / self.s) ** self.c


class _Piecewise:
    def __init__(self, boundaries, factors):
        self.boundaries, self.factors = tuple(boundaries), tuple(factors)

    def __call__(self, epoch: int) -> float:
        return self.factors[sum(epoch >= b for b in self.boundaries)]


SCHEDULES: dict[str, type[Schedule]] = {
    "constant": Constant,
    "power": PowerSchedule,
    "exponential": ExponentialSchedule,
    "piecewise": PiecewiseConstant,
    "performance": PerformanceSchedule,
    "1cycle": OneCycle,
}


def get_schedule(schedule: str | Schedule | None) -> Schedule:
    """A schedule from its name (book settings), an instance, or None (constant rate)."""
    if schedule is None:
        return Constant()
    if isinstance(schedule, Schedule):
        return schedule
    try:
        return SCHEDULES[schedule]()
    except (KeyError, TypeError):
        raise ValueError(
            f"schedule must be one of {sorted(SCHEDULES)} or a Schedule instance, got {schedule!r}"
        ) from None
