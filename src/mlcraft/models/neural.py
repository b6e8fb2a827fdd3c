"""Neural networks (PyTorch, :mod:`mlcraft.nn`): the multilayer perceptron and the book's wide & deep.

Both get standardised numeric inputs (heavy tails logged) and categorical columns as codes: the
network one-hot encodes a column with few categories and embeds one with many (width by a rule of
thumb, recorded in the model's ``config_``). torch is imported only when a network is built.
"""

from __future__ import annotations

from mlcraft.core.fit.family import Choice, Family, Float, Int
from mlcraft.models._common import ALL_TASKS

MAX_EPOCHS = 60  # with 1cycle over these epochs and early stopping (patience 10) on 10% of the rows
PATIENCE = 10
STEP_OVERHEAD_S = 4e-4  # seconds per optimiser step on one core, beyond the arithmetic
FLOPS_PER_S = 8e9  # one core, float32 matrix products of this size


def _space(task: str, n_rows: int) -> dict:
    return {
        "n_hidden": Int(1, 5, 2),
        "n_neurons": Int(16, 512, 128, log=True),
        "learning_rate": Float(1e-4, 3e-2, 3e-3, log=True),
        "batch_size": Choice((32, 64, 128, 256, 512), 128),
        "dropout": Float(0.0, 0.5, 0.0),
        "activation": Choice(("elu", "relu", "selu", "gelu", "swish", "leaky_relu"), "elu"),
        "optimizer": Choice(("adamw", "nadam", "adam", "rmsprop", "nesterov"), "adamw"),
        "schedule": Choice(("1cycle", "exponential", "performance", "constant"), "1cycle"),
    }


def _params(p, ctx) -> dict:
    return dict(
        hidden_layer_sizes=(int(p["n_neurons"]),) * int(p["n_hidden"]),
        activation=p["activation"],
        dropout=float(p["dropout"]),
        optimizer=p["optimizer"],
        schedule=p["schedule"],
        learning_rate=float(p["learning_rate"]),
        batch_size=int(p["batch_size"]),
        max_epochs=MAX_EPOCHS,
        patience=PATIENCE,
        num_threads=1,  # overhead-bound networks; folds already run in parallel processes
        random_state=ctx.seed,
    )


def _mlp(p, ctx):
    from mlcraft.nn import MLPClassifier, MLPRegressor

    cls = MLPRegressor if not ctx.kind.classification else MLPClassifier
    return cls(**_params(p, ctx))


def _wide_deep(p, ctx):
    from mlcraft.nn import WideAndDeepClassifier, WideAndDeepRegressor

    cls = WideAndDeepRegressor if not ctx.kind.classification else WideAndDeepClassifier
    return cls(**_params(p, ctx))


def _cost(n_rows: int, n_features: int) -> float:
    """One fit at the defaults: MAX_EPOCHS epochs of 90% of the rows, forward + backward (~3x forward)."""
    batch, width, layers = 128, 128, 2
    flops_per_row = 6 * (n_features * width + (layers - 1) * width * width + width)
    rows = 0.9 * n_rows * MAX_EPOCHS
    return 0.5 + rows / batch * STEP_OVERHEAD_S + rows * flops_per_row / FLOPS_PER_S


FAMILIES = [
    Family(
        name="mlp",
        tasks=ALL_TASKS,
        build=_mlp,
        space=_space,
        cost=_cost,
        needs_scaling=True,
        categorical="native",
        requires="torch",
        description="multilayer perceptron (PyTorch): He init, ELU, AdamW, 1cycle, early stopping",
    ),
    Family(
        name="wide_deep",
        tasks=ALL_TASKS,
        build=_wide_deep,
        space=_space,
        cost=lambda n, d: 1.1 * _cost(n, d),
        needs_scaling=True,
        categorical="native",
        requires="torch",
        description="the book's wide & deep network (PyTorch): inputs also go straight to the output",
    ),
]
