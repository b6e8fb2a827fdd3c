"""The networks: dense blocks, the categorical input encoder, the MLP and the book's wide & deep.

Building blocks follow the book's part II: initialisers (Glorot, He, LeCun; normal or uniform),
activations (ReLU, leaky ReLU, PReLU, RReLU, ELU, SELU, GELU, Swish), batch or layer normalisation,
dropout or alpha dropout (for SELU), and a max-norm constraint applied after each step.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

__all__ = [
    "ACTIVATIONS",
    "INITIALIZERS",
    "InputEncoder",
    "DenseStack",
    "MLPNet",
    "WideAndDeepNet",
    "apply_max_norm",
    "embedding_width",
    "dropout_layers",
    "initialize",
    "count_parameters",
]

LEAKY_SLOPE = 0.2  # the book's leaky ReLU alpha
EMBEDDING_MAX_WIDTH = 600

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(LEAKY_SLOPE),
    "prelu": nn.PReLU,
    "rrelu": nn.RReLU,
    "elu": nn.ELU,
    "selu": nn.SELU,
    "gelu": nn.GELU,
    "swish": nn.SiLU,
    "tanh": nn.Tanh,
}

# name -> (torch init function, gain nonlinearity): He = gain sqrt(2), Glorot = fan average, LeCun = gain 1
INITIALIZERS = {
    "glorot_uniform": lambda w: nn.init.xavier_uniform_(w),
    "glorot_normal": lambda w: nn.init.xavier_normal_(w),
    "he_uniform": lambda w: nn.init.kaiming_uniform_(w, nonlinearity="relu"),
    "he_normal": lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu"),
    "lecun_uniform": lambda w: nn.init.kaiming_uniform_(w, nonlinearity="linear"),
    "lecun_normal": lambda w: nn.init.kaiming_normal_(w, nonlinearity="linear"),
}


def embedding_width(n_categories: int) -> int:
    """fastai's rule of thumb for an embedding's width: ``min(600, round(1.6 * n ** 0.56))``."""
    return int(min(EMBEDDING_MAX_WIDTH, round(1.6 * n_categories**0.56)))


class InputEncoder(nn.Module):
    """Numeric columns pass through; each categorical code column is one-hot encoded or embedded.

    Codes arrive shifted by one: 0 means missing or unknown, ``1..n`` the categories seen in fit.

    Parameters
    ----------
    n_numeric : int
        Numeric input columns.
    cardinalities : sequence of int
        Per categorical column, the number of codes including the 0 slot.
    widths : sequence of int or None
        Per categorical column, an embedding width, or None for one-hot.
    """

    def __init__(
        self, n_numeric: int, cardinalities: Sequence[int] = (), widths: Sequence[int | None] = ()
    ):
        super().__init__()
        self.n_numeric = n_numeric
        self.cardinalities = list(cardinalities)
        self.onehot = [j for j, w in enumerate(widths) if w is None]
        embedded = {j: w for j, w in enumerate(widths) if w is not None}
        self.embedded = list(embedded)
        self.embeddings = nn.ModuleList(
            nn.Embedding(self.cardinalities[j], w) for j, w in embedded.items()
        )
        self.out_features = (
            n_numeric + sum(self.cardinalities[j] for j in self.onehot) + sum(embedded.values())
        )

    def forward(self, numeric: torch.Tensor, codes: torch.Tensor | None = None) -> torch.Tensor:
        if codes is None or not self.cardinalities:
            return numeric
        parts = [numeric] if self.n_numeric else []
        for j in self.onehot:
            parts.append(
                nn.functional.one_hot(codes[:, j], self.cardinalities[j]).to(numeric.dtype)
            )
        for emb, j in zip(self.embeddings, self.embedded):
            parts.append(emb(codes[:, j]))
        return torch.cat(parts, dim=1)


class DenseStack(nn.Sequential):
    """Hidden layers: Linear, then batch or layer normalisation, activation, (alpha) dropout."""

    def __init__(
        self,
        n_in: int,
        sizes: Sequence[int],
        *,
        activation: str,
        batch_norm: bool,
        layer_norm: bool,
        dropout: float,
        alpha_dropout: bool,
    ):
        layers: list[nn.Module] = []
        for size in sizes:
            layers.append(nn.Linear(n_in, size, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm1d(size))
            elif layer_norm:
                layers.append(nn.LayerNorm(size))
            layers.append(ACTIVATIONS[activation]())
            if dropout > 0:
                layers.append(nn.AlphaDropout(dropout) if alpha_dropout else nn.Dropout(dropout))
            n_in = size
        super().__init__(*layers)
        self.out_features = n_in


class MLPNet(nn.Module):
    """Inputs, hidden stack, one linear output layer (logits or standardised values)."""

    def __init__(self, encoder: InputEncoder, stack: DenseStack, n_out: int):
        super().__init__()
        self.encoder = encoder
        self.stack = stack
        self.output = nn.Linear(stack.out_features, n_out)

    def forward(self, numeric: torch.Tensor, codes: torch.Tensor | None = None) -> torch.Tensor:
        return self.output(self.stack(self.encoder(numeric, codes)))


class WideAndDeepNet(nn.Module):
    """The book's wide & deep network (Cheng et al., 2016).

    The wide path (a subset of the inputs, categorical columns one-hot) goes straight to the output
    layer, beside the deep path (embeddings and the hidden stack). An optional auxiliary output on
    the deep path alone regularises it: the loss is ``w_main * main + w_aux * aux``.
    """

    # column indices, registered as buffers in __init__ (so that they follow the module's device)
    deep_numeric: torch.Tensor
    deep_codes: torch.Tensor
    wide_numeric: torch.Tensor
    wide_codes: torch.Tensor

    def __init__(
        self,
        deep_encoder: InputEncoder,
        wide_encoder: InputEncoder,
        stack: DenseStack,
        n_out: int,
        *,
        deep_numeric: Sequence[int],
        deep_codes: Sequence[int],
        wide_numeric: Sequence[int],
        wide_codes: Sequence[int],
        auxiliary: bool = False,
    ):
        super().__init__()
        self.deep_encoder, self.wide_encoder, self.stack = deep_encoder, wide_encoder, stack
        for name, idx in (
            ("deep_numeric", deep_numeric),
            ("deep_codes", deep_codes),
            ("wide_numeric", wide_numeric),
            ("wide_codes", wide_codes),
        ):
            self.register_buffer(
                name, torch.as_tensor(list(idx), dtype=torch.long), persistent=False
            )
        self.output = nn.Linear(stack.out_features + wide_encoder.out_features, n_out)
        self.aux_output = nn.Linear(stack.out_features, n_out) if auxiliary else None

    @staticmethod
    def _pick(t: torch.Tensor | None, idx: torch.Tensor) -> torch.Tensor | None:
        return None if t is None else t.index_select(1, idx)

    def forward(self, numeric: torch.Tensor, codes: torch.Tensor | None = None):
        deep = self.stack(
            self.deep_encoder(
                self._pick(numeric, self.deep_numeric), self._pick(codes, self.deep_codes)
            )
        )
        wide = self.wide_encoder(
            self._pick(numeric, self.wide_numeric), self._pick(codes, self.wide_codes)
        )
        main = self.output(torch.cat([wide, deep], dim=1))
        if self.aux_output is not None and self.training:
            return main, self.aux_output(deep)
        return main

    def auxiliary(self, numeric: torch.Tensor, codes: torch.Tensor | None = None) -> torch.Tensor:
        """The auxiliary head's output (deep path only)."""
        if self.aux_output is None:
            raise ValueError(
                "this network was built without an auxiliary output (auxiliary_output=False)"
            )
        deep = self.stack(
            self.deep_encoder(
                self._pick(numeric, self.deep_numeric), self._pick(codes, self.deep_codes)
            )
        )
        return self.aux_output(deep)


OUTPUT_INITIALIZER = "glorot_uniform"  # Keras's default, kept for the output layers as in the book


def initialize(module: nn.Module, initializer: str) -> None:
    """Hidden linear layers get ``initializer``, output layers Glorot uniform; biases start at zero (Keras)."""
    heads = {
        id(getattr(module, name))
        for name in ("output", "aux_output")
        if getattr(module, name, None) is not None
    }
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            INITIALIZERS[OUTPUT_INITIALIZER if id(layer) in heads else initializer](layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


@torch.no_grad()
def apply_max_norm(module: nn.Module, max_norm: float) -> None:
    """Rescale each unit's incoming weight vector (a row of every linear layer) to norm <= ``max_norm``."""
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            layer.weight.copy_(torch.renorm(layer.weight, p=2, dim=0, maxnorm=max_norm))


def dropout_layers(module: nn.Module) -> list[nn.Module]:
    return [m for m in module.modules() if isinstance(m, (nn.Dropout, nn.AlphaDropout))]


def count_parameters(module: nn.Module) -> int:
    return int(sum(math.prod(p.shape) for p in module.parameters()))
