"""scikit-learn compatible PyTorch networks: MLP and wide & deep, for regression and classification.

>>> from mlcraft.nn import MLPRegressor
>>> from sklearn.datasets import make_regression
>>> X, y = make_regression(n_samples=200, n_features=5, noise=1.0, random_state=0)
>>> model = MLPRegressor(hidden_layer_sizes=(32, 32), max_epochs=20, random_state=0).fit(X, y)
>>> model.predict(X[:2]).shape
(2,)
"""

from __future__ import annotations

import numpy as np

from mlcraft.nn import _docs
from mlcraft.nn.modules import InputEncoder, WideAndDeepNet
from mlcraft.nn.params import keyword_init
from mlcraft.nn.tasks import Classification, Regression

__all__ = ["MLPRegressor", "MLPClassifier", "WideAndDeepRegressor", "WideAndDeepClassifier"]


WIDE_AND_DEEP = dict(
    wide_features=None, deep_features=None, auxiliary_output=False, loss_weights=(0.9, 0.1)
)


class _WideAndDeep:
    """The wide & deep network in place of the plain MLP (mixed into the two wide & deep estimators)."""

    n_features_in_: int  # set by fit, in the estimator this is mixed into

    def _columns(self, spec, name: str) -> list[int]:
        n = self.n_features_in_
        if spec is None:
            return list(range(n))
        names = list(getattr(self, "feature_names_in_", []))
        out = []
        for item in spec:
            if isinstance(item, str):
                if item not in names:
                    raise ValueError(f"{name}: unknown column {item!r}")
                out.append(names.index(item))
            elif 0 <= int(item) < n:
                out.append(int(item))
            else:
                raise ValueError(f"{name}: column index {item!r} out of range for {n} columns")
        return sorted(set(out))

    def _make_net(self, n_out, cfg):
        if self.auxiliary_output and len(self.loss_weights) != 2:
            raise ValueError("loss_weights must be (main, auxiliary)")
        cat, num = self._input.categorical, self._input.numeric
        cards, widths = self._input.cardinalities, self._embedding_widths()
        wide, deep = (
            self._columns(self.wide_features, "wide_features"),
            self._columns(self.deep_features, "deep_features"),
        )
        deep_codes = [cat.index(j) for j in deep if j in cat]
        wide_codes = [cat.index(j) for j in wide if j in cat]
        deep_encoder = InputEncoder(
            sum(j in num for j in deep),
            [cards[k] for k in deep_codes],
            [widths[k] for k in deep_codes],
        )
        wide_encoder = InputEncoder(
            sum(j in num for j in wide), [cards[k] for k in wide_codes], [None] * len(wide_codes)
        )
        cfg.update(
            wide_features=wide, deep_features=deep, auxiliary_output=bool(self.auxiliary_output)
        )
        return WideAndDeepNet(
            deep_encoder,
            wide_encoder,
            self._stack(deep_encoder.out_features, cfg),
            n_out,
            deep_numeric=[num.index(j) for j in deep if j in num],
            deep_codes=deep_codes,
            wide_numeric=[num.index(j) for j in wide if j in num],
            wide_codes=wide_codes,
            auxiliary=bool(self.auxiliary_output),
        )


class MLPRegressor(Regression):
    __doc__ = f"""A multilayer perceptron for regression (one or several outputs), in PyTorch.

    Parameters
    ----------
    loss : {{"mse", "mae", "huber"}}, default="mse"
    scale_target : bool, default=True
        Standardise the target inside, so the defaults work for targets of any scale.{_docs.COMMON}
{_docs.ATTRIBUTES}
    residual_std_ : ndarray
        Residual deviation on the validation rows (the noise term of ``predict_interval``).
    """

    __init__ = keyword_init(loss="mse", scale_target=True)


class MLPClassifier(Classification):
    __doc__ = f"""A multilayer perceptron for binary, multiclass and multilabel classification, in PyTorch.

    Parameters
    ----------
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes in the loss (multiplied with ``sample_weight``).{_docs.COMMON}
{_docs.ATTRIBUTES}
    classes_ : ndarray
        The class labels (multilabel: the label indices).
    """

    __init__ = keyword_init(class_weight=None)


class WideAndDeepRegressor(_WideAndDeep, Regression):
    __doc__ = f"""The book's wide & deep network for regression: a short path from the inputs to the output.

    Parameters
    ----------
    loss, scale_target : see :class:`MLPRegressor`.
    wide_features, deep_features : list of int or str, or None, default=None
        Columns (positions, or names when fitted on a DataFrame) of each path; None: all.
    auxiliary_output : bool, default=False
        Add an output on the deep path alone, trained with ``loss_weights`` (regularisation).
    loss_weights : (float, float), default=(0.9, 0.1)
        Weights of the main and auxiliary losses.{_docs.COMMON}
{_docs.ATTRIBUTES}
    """

    __init__ = keyword_init(loss="mse", scale_target=True, **WIDE_AND_DEEP)

    def predict_auxiliary(self, X) -> np.ndarray:
        """The auxiliary output (deep path only), in the target's units."""
        return self._unscale(self._outputs(X, head="aux"))


class WideAndDeepClassifier(_WideAndDeep, Classification):
    __doc__ = f"""The book's wide & deep network for classification (see :class:`WideAndDeepRegressor`).

    Parameters
    ----------
    class_weight : see :class:`MLPClassifier`.
    wide_features, deep_features, auxiliary_output, loss_weights : see :class:`WideAndDeepRegressor`.{_docs.COMMON}
{_docs.ATTRIBUTES}
    """

    __init__ = keyword_init(class_weight=None, **WIDE_AND_DEEP)

    def predict_auxiliary(self, X) -> np.ndarray:
        """Class probabilities from the auxiliary output (deep path only)."""
        return self._proba(self._outputs(X, head="aux"))
