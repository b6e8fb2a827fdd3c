"""The interface a kind of problem implements, and the registry of kinds.

A kind of problem (regression, binary and multiclass classification today; clustering, forecasting,
images and text next) says what its data means and how it is judged: how the target is checked and
framed, how test rows are set aside and training rows folded, which metric applies by default, what
a model's raw output looks like and how it becomes a prediction. The engine (``mlcraft.core``), the
facade (``mlcraft.api``) and the reports ask the kind; none of them compares a task's name.

Adding a kind is one class and one :func:`register_kind` call (see ``docs/architecture.md``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from mlcraft.core.data import framing
from mlcraft.exceptions import ConfigError

if TYPE_CHECKING:
    from mlcraft.core.data.split import TestSplit

__all__ = ["ProblemKind", "register_kind", "get_kind", "kind_names", "refuse_foreign_settings"]

Folds = list[tuple[np.ndarray, np.ndarray]]


class ProblemKind:
    """One kind of problem. Subclasses set the class attributes and implement the hooks.

    Class attributes
    ----------------
    name : str
        What ``--task`` and ``mlcraft.toml`` call it.
    description : str
        One line for help texts and reports.
    classification : bool
        The model predicts a class; its raw output is one probability column per class.
    has_positive_class : bool
        Two classes, one of them positive: a decision threshold and the binary metrics apply.
    numeric_target : bool
        The target must be numbers (converted with a clear error otherwise).
    needs_target : bool
        The data has a column to predict (``--target``). A kind without one (clustering) is judged
        against :meth:`reference` coordinates of the rows instead.
    semi_supervised : bool
        Rows whose target is missing may be learnt from (``--semi-supervised``): classification,
        where scikit-learn's semi-supervised estimators take them as unlabelled rows.
    ensembles : bool
        The raw outputs of several models may be blended (not cluster ids).
    estimator_type : {"regressor", "classifier"}
        scikit-learn's estimator type for the models of this kind.
    default_metric : str
        The metric used when the user names none.
    settings : tuple of str
        ``ProjectConfig`` fields that only this kind uses (``--dims`` of an embedding,
        ``--contamination`` of anomaly detection): refused for every other kind, checked and
        settled by :meth:`frame_settings`, passed to the families by :meth:`family_options`.
    report_section : str
        The name under which the presentation layer shows this kind's error analysis: a figure
        builder in :mod:`mlcraft.plots.analysis` and the macros ``<section>``, ``<section>_cards``
        and ``<section>_errors`` in ``reports/templates/analysis_sections.html.j2``.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    classification: ClassVar[bool]
    has_positive_class: ClassVar[bool] = False
    needs_target: ClassVar[bool] = True
    semi_supervised: ClassVar[bool] = False
    stability_measure: ClassVar[str | None] = None  # what :meth:`agreement` measures, if anything
    settings: ClassVar[tuple[str, ...]] = ()  # ProjectConfig fields only this kind uses
    ensembles: ClassVar[bool] = True
    numeric_target: ClassVar[bool]
    estimator_type: ClassVar[str]
    default_metric: ClassVar[str]
    report_section: ClassVar[str]
    # a kind whose leaderboard reference is one of its families (forecasting's seasonal naive)
    # rather than the mean / class-share dummy
    baseline_family: ClassVar[str | None] = None
    external_test: ClassVar[bool] = True  # a separate test set (``--test-data``) makes sense
    # the CV's fold models may serve in place of a refit when time runs out (k-fold bagging); not
    # a forecast's: its fold models never saw the latest rows
    fold_models_serve: ClassVar[bool] = True
    # its models forecast what comes after the known rows: ``predict`` needs no rows
    # (``mlcraft predict --project P --out F [--history NEW]``, :mod:`mlcraft.api.forecast`)
    forecasts: ClassVar[bool] = False
    goal: ClassVar[str | None] = (
        None  # a kind without a target: "<goal> by N feature(s)" (objective)
    )
    # analyse refits the model on random subsets of the rows (learning curve) and permutes
    # columns on one fold (importance); meaningless for a time series' rows, so a kind may opt out
    row_refits: ClassVar[bool] = True

    def __repr__(self) -> str:
        return f"<problem kind {self.name}>"

    def __reduce__(
        self,
    ):  # a kind pickles as its name: saved models do not depend on the class's module
        return (get_kind, (self.name,))

    # -- framing ---------------------------------------------------------------------------------
    def check_target(self, present: pd.Series, target: str) -> None:
        """Refuse a target (its non-missing values) that this kind cannot learn."""

    def positive_class(self, values: pd.Series, requested: Any = None) -> Any:
        """The positive class (binary kinds), else None; ``requested`` is the user's choice."""
        if requested is not None:
            raise ConfigError(
                f"--positive-class only applies to binary tasks (this task is {self.name})"
            )
        return None

    def classes(self, y: pd.Series) -> list[Any] | None:
        """The sorted classes of a classification target, else None."""
        return None

    def prepare_frame(
        self,
        frame: pd.DataFrame,
        target: str,
        settings: dict[str, Any],
        *,
        where: str,
        line_of: Callable[[int], str] | None = None,
    ) -> tuple[pd.DataFrame, dict[str, Any], list[str]]:
        """Kinds with a target: check and reshape the loaded table before anything is split (a
        forecast's stamps parsed and put on a regular grid), and settle this kind's
        :attr:`settings`. Returns the table, the settings and notes on what was done."""
        return frame, settings, []

    def forced_categorical(self, settings: dict[str, Any]) -> tuple[str, ...]:
        """Columns that must stay categorical features whatever the schema would infer (a
        forecast's series ids)."""
        return ()

    def reference(self, schema: Any, X_train: pd.DataFrame) -> Any:
        """Kinds without a target: the space the rows are judged in, fitted on the training rows
        (an object with ``coordinates(X) -> array``)."""
        raise NotImplementedError(f"{self.name} has a target")

    def frame_settings(
        self,
        schema: Any,
        X_train: pd.DataFrame,
        settings: dict[str, Any],
        *,
        metric: str,
        known: pd.Series | None,
    ) -> tuple[dict[str, Any], list[str]]:
        """Check and settle this kind's :attr:`settings` when the problem is framed, from the
        training rows' features ``X_train`` (e.g. the embedding's ``dims``); ``metric`` is the
        chosen metric, ``known`` the ``--labels`` column of every row (kinds without a target), or
        None. Returns the settings and notes that say what was decided; raises ``ConfigError`` /
        ``DataError`` for what does not fit. Settings of other kinds never reach it (see
        :func:`refuse_foreign_settings`)."""
        return settings, []

    def family_options(self, config: Any) -> dict[str, Any]:
        """What the families of this kind read from the project (``BuildContext.options``): the
        values of this kind's :attr:`settings` in ``config``."""
        return {name: getattr(config, name) for name in self.settings}

    def raw_columns(self, config: Any) -> list[str] | None:
        """Kinds without classes whose raw output has several columns (an embedding's
        coordinates): their names, which go where classes go (None: one value a row)."""
        return None

    def judged_on(self, coordinates: np.ndarray, known: pd.Series | None) -> np.ndarray:
        """Kinds without a target: what the rows are scored against in place of a target, from
        their :meth:`reference` coordinates and their known labels (``--labels``, or None). The
        default: the coordinates alone; a kind whose metrics read the labels adds them (the models
        never fit this)."""
        return coordinates

    def known_scores(self, raw: np.ndarray, known: pd.Series) -> dict[str, float]:
        """Kinds without a target: the raw output of some rows scored against a known labelling
        of the same rows (``--labels``): what ``evaluate`` adds on the test rows (never searched
        on, never fitted). Nothing by default."""
        return {}

    # -- split and folds -------------------------------------------------------------------------
    def split_test(
        self,
        frame: pd.DataFrame,
        target: str | None,
        *,
        test_size: float,
        seed: int,
        id_column: str | None = None,
        stratify_on: str | None = None,
        settings: dict[str, Any] | None = None,
    ) -> TestSplit:
        """Which rows are set aside as the test set (``settings``: this kind's, settled)."""
        raise NotImplementedError

    def folds(
        self,
        y: pd.Series,
        *,
        n_folds: int,
        seed: int,
        features: pd.DataFrame | None = None,
        settings: dict[str, Any] | None = None,
    ) -> Folds:
        """The cross-validation folds of the training rows (``features``: their features, for
        kinds whose folds follow them, like a forecast's backtest windows)."""
        raise NotImplementedError

    def scored_target(
        self, y: Any, features: pd.DataFrame, folds: Folds, settings: dict[str, Any]
    ) -> Any:
        """The target as the search scores it, from the training rows' target ``y`` and their
        ``folds``: the target itself, or more (a forecast's MASE scale of each held-out row)."""
        return y

    def test_target(
        self,
        y_test: Any,
        test_features: pd.DataFrame,
        training: Callable[[], tuple[pd.Series, pd.DataFrame]],
        settings: dict[str, Any],
    ) -> Any:
        """The test rows' target as ``evaluate`` scores it (see :meth:`scored_target`);
        ``training()`` gives the training rows' target and features when it needs them."""
        return y_test

    def regrow(
        self, combined: pd.DataFrame, target: str, settings: dict[str, Any], *, where: str
    ) -> tuple[pd.DataFrame, np.ndarray, list[str]] | None:
        """``retrain``: the stored rows followed by the new ones, as this kind arranges them, with
        the test rows of the whole (``(frame, is_test, notes)``), for a kind whose test rows move
        with the data (a forecast's last horizon). None: the old rows keep their side and new
        rows are assigned by the stable hash."""
        return None

    def before_scoring(self, model: Any, features: pd.DataFrame, values: np.ndarray) -> None:
        """Before a saved model is scored on test rows it was not fitted next to (``retrain``'s
        gate): let it read the rows that come before them (a forecaster's histories). Nothing by
        default."""

    def live_target(self, labels: np.ndarray, inputs: list[dict[str, Any]], model: Any) -> Any:
        """``monitor``: the late labels of logged predictions as the metric scores them, from
        the logged inputs and the fitted model (a forecast adds each row's MASE scale, from its
        series' history in the model). The labels themselves by default."""
        return labels

    def resampling_groups(self, features: pd.DataFrame, settings: dict[str, Any]) -> Any:
        """What the test score's bootstrap resamples (one label per row: a forecast's series),
        or None: the rows."""
        return None

    def test_details(
        self,
        y: Any,
        raw: np.ndarray,
        features: pd.DataFrame,
        settings: dict[str, Any],
        metadata: dict[str, Any],
    ) -> dict[str, Any] | None:
        """More of the test score that ``evaluate`` records beside it (a forecast's error per series
        and its intervals' coverage), from the test rows' target ``y`` (as :meth:`test_target`
        gives it), the model's raw output and its ``metadata``; None by default."""
        return None

    def model_metadata(
        self,
        oof: np.ndarray,
        y: Any,
        features: pd.DataFrame,
        folds: Folds,
        settings: dict[str, Any],
    ) -> dict[str, Any]:
        """What the saved model keeps from its out-of-fold output ``oof`` on the training rows
        (``FittedModel.metadata``): a forecast's conformal intervals. Nothing by default."""
        return {}

    # -- outputs ---------------------------------------------------------------------------------
    def empty_output(self, n_rows: int, classes: Sequence[Any] | None) -> np.ndarray:
        """An array shaped like the raw output of ``n_rows`` rows (filled in fold by fold)."""
        raise NotImplementedError

    def predict_raw(self, estimator: Any, X: Any, classes: Sequence[Any] | None) -> np.ndarray:
        """A fitted estimator's raw output: values, or probabilities in ``classes`` order."""
        raise NotImplementedError

    def labels(
        self,
        raw: np.ndarray,
        classes: Sequence[Any] | None,
        positive_class: Any = None,
        threshold: float | None = None,
    ) -> np.ndarray:
        """Predictions from raw output: the values, or the decided class."""
        raise NotImplementedError

    def served_raw(self, estimator: Any, X: Any, raw: np.ndarray) -> np.ndarray:
        """A saved model's raw output for users (predict, ``/predict``, monitor), from the raw
        output ``raw`` the search scores (:meth:`predict_raw`) and the fitted ``estimator``: kinds
        whose models say more than what they are scored on add it here (a mixture's membership
        probabilities); :meth:`labels` and :meth:`outputs` read either form."""
        return raw

    def pick(self, *, regressor: Any, classifier: Any) -> Any:
        """The regressor or the classifier flavour of a model family."""
        return classifier if self.classification else regressor

    # -- what explore, analyse, serve, monitor and feedback ask ----------------------------------
    def target_numbers(self, y: pd.Series, positive_class: Any = None) -> np.ndarray | None:
        """The target as numbers for correlations and plots (explore), or None if it has none."""
        return None

    def target_limitations(self, value_counts: Sequence[dict[str, Any]]) -> list[dict[str, str]]:
        """Limitations the target's distribution implies (``{"kind", "text"}`` items for the report);
        ``value_counts`` are explore's ``{"value", "share"}`` rows of the target."""
        return []

    def diagnose(
        self,
        y: np.ndarray,
        raw: np.ndarray,
        *,
        classes: Sequence[Any] | None,
        positive_class: Any = None,
        threshold: float | None = None,
        categories: dict[str, pd.Series] | None = None,
        known: pd.Series | None = None,
        features: pd.DataFrame | None = None,
        settings: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The error analysis of out-of-fold raw output ``raw`` against the targets ``y`` (analyse);
        ``categories`` are the categorical features, for a breakdown of the errors by category;
        ``known`` a known labelling of a kind without a target (``--labels``), to score against;
        ``features`` the rows' features (what a kind shows per group of rows, e.g. cluster profiles);
        ``settings`` this kind's settings (a forecast's series ids, time column and horizon)."""
        raise NotImplementedError

    def align_out_of_fold(
        self, raw: np.ndarray, fold_of_row: np.ndarray, reference: Callable[[], np.ndarray]
    ) -> np.ndarray:
        """Out-of-fold raw output made comparable across folds (before :meth:`diagnose`).

        Each fold's model answers in its own terms; values and class probabilities already agree.
        ``reference()`` gives one model's raw output for every row (the saved model's), for kinds
        whose fold models name their answers arbitrarily (cluster ids)."""
        return raw

    def agreement(self, raw_a: np.ndarray, raw_b: np.ndarray) -> float:
        """How far two models' raw outputs for the same rows agree (1: the same answers): the
        stability of a kind's models across resamples (kinds with a ``stability_measure``)."""
        raise NotImplementedError(f"{self.name} does not measure stability across resamples")

    def model_diagnostics(self, pipeline: Any, X: pd.DataFrame) -> dict[str, Any]:
        """What analyse adds about the saved model itself (its fitted ``pipeline`` and the training
        rows' features ``X``), merged into :meth:`diagnose`'s answer: e.g. an embedding's
        reconstruction error. Nothing by default."""
        return {}

    def prediction_groups(self, labels: np.ndarray) -> list[str] | None:
        """The group each prediction puts its row in (monitor follows the share of rows per group
        over time against the training rows' shares), or None for kinds whose predictions are not
        groups to follow."""
        return None

    def explore_extras(self, frame: pd.DataFrame, config: Any, notes: list[str]) -> dict | None:
        """What the exploration adds for this kind, from the training rows ``frame``, the
        project's ``config`` and the dataset's ``notes`` (what loading it did): a JSON-ready dict
        the explore page shows in the kind's own section (a forecast's series), or None."""
        return None

    def diagnostics_summary(self, diagnostics: dict[str, Any]) -> list[str]:
        """A few lines of plain text that sum up :meth:`diagnose`'s answer (the CLI prints them)."""
        return []

    def prediction_columns(
        self, raw: np.ndarray, labels: np.ndarray, target: str, classes: Sequence[Any] | None
    ) -> dict[str, np.ndarray]:
        """The predicted column(s) of ``predict``'s table, by name (class probabilities are added
        after them): the target's column by default, one column a coordinate for an embedding."""
        return {target: labels}

    def outputs(
        self, raw: np.ndarray, labels: np.ndarray, classes: Sequence[Any] | None
    ) -> tuple[list[Any], list[dict[str, float]] | None]:
        """What ``/predict`` answers for these rows: one JSON value per row (the prediction) and, for
        kinds that have them, a ``{class: probability}`` dict per row (else None)."""
        raise NotImplementedError

    def logged_raw(
        self, values: Sequence[Any], probabilities: Sequence[dict[str, float] | None], classes
    ) -> np.ndarray:
        """The raw output rebuilt from what :meth:`outputs` answered (read back from the prediction
        log), to score the answers once their true labels arrive (monitor)."""
        raise NotImplementedError

    def label_values(self, values: pd.Series, where: Callable[[int], str]) -> list[Any]:
        """True labels as a user sends them (feedback), checked and made JSON values;
        ``where(position)`` names a label and its row for an error message."""
        return [framing.to_native(v) for v in values]


_KINDS: dict[str, ProblemKind] = {}


def register_kind(kind: type[ProblemKind]) -> type[ProblemKind]:
    """Register a kind of problem under its ``name`` (usable as a class decorator)."""
    _KINDS[kind.name] = kind()
    return kind


def kind_names() -> list[str]:
    """The registered kinds, in registration order."""
    return list(_KINDS)


def get_kind(kind: str | ProblemKind) -> ProblemKind:
    """The registered kind called ``kind`` (a kind is returned as it is).

    Examples
    --------
    >>> get_kind("binary").classification, get_kind("regression").default_metric
    (True, 'rmse')
    """
    if isinstance(kind, ProblemKind):
        return kind
    try:
        return _KINDS[kind]
    except (KeyError, TypeError):
        raise ConfigError(f"--task {kind!r}: choose {_choices()}") from None


def refuse_foreign_settings(kind: ProblemKind | None, settings: dict[str, Any]) -> None:
    """Refuse a setting given for a kind that does not use it (``--dims`` for a regression); ``kind``
    None: a kind with a target, not inferred yet."""
    own = kind.settings if kind is not None else ()
    for other in _KINDS.values():
        for name in other.settings:
            if settings.get(name) is not None and name not in own:
                flag = "--" + name.replace("_", "-")
                this = kind.name if kind is not None else "regression, binary or multiclass"
                raise ConfigError(
                    f"{flag} only applies to --task {other.name}; leave it out for --task {this}"
                )


def _or(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def _choices() -> str:
    """The kinds, grouped: those of a table with a target, then those without one."""
    groups = [
        (_or([n for n, k in _KINDS.items() if k.needs_target == needs]), why)
        for needs, why in ((True, "a table with a target"), (False, "no target"))
    ]
    return " or ".join(f"{names} ({why})" for names, why in groups if names)
