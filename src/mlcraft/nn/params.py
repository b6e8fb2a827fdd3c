"""The networks' hyperparameters: every default in one place, and the ``__init__`` that stores them."""

from __future__ import annotations

import inspect

__all__ = ["DEFAULTS", "keyword_init"]

# Every network's hyperparameters and their defaults (the book's default DNN configuration), in one
# place; documented in mlcraft.nn._docs. Each estimator adds its task's own (loss, class_weight...).
DEFAULTS = dict(
    hidden_layer_sizes=(100, 100),
    activation="elu",
    initializer="he_normal",
    batch_norm="auto",
    layer_norm=False,
    dropout=0.0,
    self_normalizing=False,
    max_norm=None,
    l1=0.0,
    l2=0.0,
    clip_value=None,
    clip_norm=None,
    optimizer="adamw",
    learning_rate=1e-3,
    momentum=0.9,
    weight_decay=0.01,
    schedule="1cycle",
    batch_size=32,
    max_epochs=100,
    early_stopping=True,
    validation_fraction=0.1,
    patience=10,
    scale_inputs=True,
    categorical_features="from_dtype",
    max_onehot_categories=10,
    embedding_dim=None,
    callbacks=None,
    checkpoint_path=None,
    tensorboard_dir=None,
    verbose=0,
    device="auto",
    num_threads=None,
    random_state=None,
)


def keyword_init(**own):
    """An ``__init__`` that only stores its keyword arguments (scikit-learn's rule), with a real signature.

    The signature (``own`` parameters first, then :data:`DEFAULTS`) is what ``inspect.signature``,
    ``get_params``, ``clone`` and ``help()`` see, so the four estimators share one list of defaults
    instead of repeating 35 parameters each.
    """
    defaults = {**own, **DEFAULTS}

    def __init__(self, **params):
        unknown = sorted(set(params) - set(defaults))
        if unknown:
            raise TypeError(
                f"{type(self).__name__}() got an unexpected keyword argument {unknown[0]!r}"
            )
        for name, default in defaults.items():
            setattr(self, name, params.get(name, default))

    kind = inspect.Parameter.KEYWORD_ONLY
    __init__.__signature__ = inspect.Signature(
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        + [inspect.Parameter(k, kind, default=v) for k, v in defaults.items()]
    )
    return __init__
