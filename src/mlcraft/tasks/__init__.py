"""Kinds of problem: each one says what its data means and how it is judged (see :mod:`mlcraft.tasks.base`).

>>> from mlcraft.tasks import get_kind, kind_names
>>> kind_names()
['regression', 'binary', 'multiclass', 'cluster', 'embed', 'anomaly', 'forecast']
>>> get_kind("multiclass").estimator_type
'classifier'
"""

from mlcraft.tasks.base import (
    ProblemKind,
    get_kind,
    kind_names,
    refuse_foreign_settings,
    register_kind,
)
from mlcraft.tasks.tabular import (
    Binary,
    Multiclass,
    Regression,
    align_proba,
    decide_labels,
    infer_kind,
)

# isort: split
from mlcraft.tasks.cluster import Cluster  # registered after the table kinds, listed after them
from mlcraft.tasks.embed import Embed

# isort: split
from mlcraft.tasks.anomaly import Anomaly  # after the cluster kind, whose reference space it uses

# isort: split
from mlcraft.tasks.forecast import Forecast  # a table kind, listed after the kinds without a target

__all__ = [
    "ProblemKind",
    "get_kind",
    "kind_names",
    "register_kind",
    "refuse_foreign_settings",
    "infer_kind",
    "Regression",
    "Binary",
    "Multiclass",
    "Cluster",
    "Embed",
    "Anomaly",
    "Forecast",
    "decide_labels",
    "align_proba",
]
