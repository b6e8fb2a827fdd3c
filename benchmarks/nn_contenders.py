"""One contender of `make bench-nn`, timed in its own process: the same MLP trained on the same rows.

2 hidden layers of 300 ReLU units, Adam (lr 1e-3), MSE, batch 256, 20 epochs, every row every epoch.
Prints one JSON line: contender, seconds (training only: after the imports and the data are loaded),
rows, epochs and the final training RMSE (standardised units), so the runs can be compared.

    python benchmarks/nn_contenders.py mlcraft|torch|skorch|keras DATA_DIR
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

WIDTH, EPOCHS, BATCH, LR = 300, 20, 256, 1e-3


def _threads() -> int:
    return int(os.environ.get("BENCH_THREADS", "1"))


def run_torch(X, y):
    """The limit: a minimal hand-written PyTorch loop."""
    import torch
    from torch import nn

    torch.set_num_threads(_threads())
    torch.manual_seed(0)
    start = time.perf_counter()
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y).reshape(-1, 1)
    net = nn.Sequential(
        nn.Linear(X.shape[1], WIDTH),
        nn.ReLU(),
        nn.Linear(WIDTH, WIDTH),
        nn.ReLU(),
        nn.Linear(WIDTH, 1),
    )
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    for _ in range(EPOCHS):
        perm = torch.randperm(len(Xt))
        for i in range(0, len(Xt), BATCH):
            idx = perm[i : i + BATCH]
            loss = nn.functional.mse_loss(net(Xt[idx]), yt[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    seconds = time.perf_counter() - start
    with torch.no_grad():
        rmse = float(torch.sqrt(nn.functional.mse_loss(net(Xt), yt)))
    return seconds, rmse


def run_mlcraft(X, y):
    import torch

    from mlcraft.nn import MLPRegressor

    model = MLPRegressor(
        hidden_layer_sizes=(WIDTH, WIDTH),
        activation="relu",
        initializer="glorot_uniform",
        optimizer="adam",
        learning_rate=LR,
        schedule=None,
        batch_size=BATCH,
        max_epochs=EPOCHS,
        early_stopping=False,
        scale_inputs=False,
        scale_target=False,
        num_threads=_threads(),
        random_state=0,
    )
    torch.set_num_threads(_threads())
    start = time.perf_counter()
    model.fit(X, y)
    seconds = time.perf_counter() - start
    return seconds, float(np.sqrt(np.mean((model.predict(X) - y) ** 2)))


def run_skorch(X, y):
    import torch
    from skorch import NeuralNetRegressor
    from torch import nn

    torch.set_num_threads(_threads())
    torch.manual_seed(0)
    module = nn.Sequential(
        nn.Linear(X.shape[1], WIDTH),
        nn.ReLU(),
        nn.Linear(WIDTH, WIDTH),
        nn.ReLU(),
        nn.Linear(WIDTH, 1),
    )
    net = NeuralNetRegressor(
        module,
        max_epochs=EPOCHS,
        lr=LR,
        optimizer=torch.optim.Adam,
        batch_size=BATCH,
        train_split=None,
        iterator_train__shuffle=True,
        verbose=0,
    )
    start = time.perf_counter()
    net.fit(X, y.reshape(-1, 1))
    seconds = time.perf_counter() - start
    return seconds, float(np.sqrt(np.mean((net.predict(X).ravel() - y) ** 2)))


def run_keras(X, y):
    os.environ["KERAS_BACKEND"] = "torch"
    import keras
    import torch

    torch.set_num_threads(_threads())
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((X.shape[1],)),
            keras.layers.Dense(WIDTH, "relu"),
            keras.layers.Dense(WIDTH, "relu"),
            keras.layers.Dense(1),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(LR), loss="mse")
    start = time.perf_counter()
    model.fit(X, y, batch_size=BATCH, epochs=EPOCHS, shuffle=True, verbose=0)
    seconds = time.perf_counter() - start
    return seconds, float(np.sqrt(np.mean((model.predict(X, verbose=0).ravel() - y) ** 2)))


def main() -> None:
    which, data = sys.argv[1], sys.argv[2]
    X = np.load(os.path.join(data, "X.npy"))
    y = np.load(os.path.join(data, "y.npy"))
    seconds, rmse = {
        "torch": run_torch,
        "mlcraft": run_mlcraft,
        "skorch": run_skorch,
        "keras": run_keras,
    }[which](X, y)
    print(
        json.dumps(
            {
                "contender": which,
                "seconds": seconds,
                "rows": len(X),
                "epochs": EPOCHS,
                "train_rmse": rmse,
                "threads": _threads(),
            }
        )
    )


if __name__ == "__main__":
    main()
