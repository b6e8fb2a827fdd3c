"""The kind of problem is a type: its name is compared nowhere but in ``mlcraft.tasks``."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlcraft.exceptions import ConfigError, DataError
from mlcraft.tasks import ProblemKind, get_kind, kind_names, register_kind

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "mlcraft"
NAMES = {"regression", "binary", "multiclass"}


def _names_in(node: ast.AST) -> set[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value} & NAMES
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return set().union(*(_names_in(e) for e in node.elts)) if node.elts else set()
    return set()


def task_comparisons(source: str) -> list[int]:
    """Lines where a kind's name is compared (==, !=, in, not in, a match case) in Python source."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare) and any(
            _names_in(n) for n in [node.left, *node.comparators]
        ):
            lines.append(node.lineno)
        elif isinstance(node, ast.match_case) and any(
            _names_in(p.value) for p in ast.walk(node.pattern) if isinstance(p, ast.MatchValue)
        ):
            lines.append(node.pattern.lineno)
    return lines


def test_the_walker_finds_comparisons():
    found = task_comparisons(
        'if task == "regression": pass\nok = cfg.task != "binary"\nx = t in ("binary", "multiclass")\ny = kind.classification\n'
    )
    assert found == [1, 2, 3]


def test_no_task_string_comparison_outside_the_kinds():
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.relative_to(PACKAGE).parts[0] == "tasks":
            continue
        for line in task_comparisons(path.read_text()):
            problems.append(f"{path.relative_to(PACKAGE)}:{line}")
    pattern = re.compile(r"""(==|!=|\bin)\s*\(?\s*["'](regression|binary|multiclass)["']""")
    for path in sorted(PACKAGE.rglob("*.j2")):
        for i, text in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(text):
                problems.append(f"{path.relative_to(PACKAGE)}:{i}")
    assert not problems, "compare the kind's attributes, not its name:\n" + "\n".join(problems)


def test_the_tabular_kinds():
    assert kind_names()[:3] == ["regression", "binary", "multiclass"]
    reg, binary, multi = (get_kind(n) for n in ("regression", "binary", "multiclass"))
    assert not reg.classification and binary.classification and multi.classification
    assert binary.has_positive_class and not multi.has_positive_class and not reg.has_positive_class
    assert (reg.estimator_type, binary.estimator_type) == ("regressor", "classifier")
    assert (reg.default_metric, binary.default_metric, multi.default_metric) == (
        "rmse",
        "roc_auc",
        "log_loss",
    )
    assert get_kind(binary) is binary
    with pytest.raises(ConfigError, match="choose regression, binary, multiclass or forecast"):
        get_kind("ranking")


def test_kinds_check_their_targets():
    with pytest.raises(DataError, match="not numeric"):
        get_kind("regression").check_target(pd.Series(["a", "b"]), "y")
    with pytest.raises(DataError, match="3 classes, not 2"):
        get_kind("binary").check_target(pd.Series([1, 2, 3]), "y")
    with pytest.raises(DataError, match="use --task binary"):
        get_kind("multiclass").check_target(pd.Series([1, 2]), "y")
    with pytest.raises(ConfigError, match="only applies to binary"):
        get_kind("multiclass").positive_class(pd.Series([1, 2, 3]), requested=2)


def test_outputs_and_labels():
    binary = get_kind("binary")
    raw = np.array([[0.9, 0.1], [0.4, 0.6], [np.nan, 0.2]])
    assert binary.labels(raw, ["no", "yes"]).tolist() == ["no", "yes", "yes"]  # NaN counts as 0
    assert binary.labels(raw, ["no", "yes"], "yes", 0.05).tolist() == ["yes", "yes", "yes"]
    assert binary.empty_output(4, ["no", "yes"]).shape == (4, 2)
    assert get_kind("regression").empty_output(4, None).shape == (4,)
    assert get_kind("regression").pick(regressor="R", classifier="C") == "R"
    assert get_kind("multiclass").pick(regressor="R", classifier="C") == "C"


def test_a_kind_pickles_as_its_name():
    import pickle

    assert pickle.loads(pickle.dumps(get_kind("multiclass"))) is get_kind("multiclass")


def test_a_new_kind_registers():
    @register_kind
    class Ordinal(ProblemKind):
        name = "ordinal-test"
        description = "ordered classes"
        classification = True
        numeric_target = False
        estimator_type = "classifier"
        default_metric = "accuracy"

    try:
        assert get_kind("ordinal-test").classification
        assert "ordinal-test" in kind_names()
    finally:
        from mlcraft.tasks import base

        base._KINDS.pop("ordinal-test")


def _branches_on_classification(source: str) -> list[int]:
    """Lines where a test (if, while, a conditional expression, a boolean operand) reads ``.classification``."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        tests = []
        if isinstance(node, (ast.If, ast.While, ast.IfExp)):
            tests.append(node.test)
        elif isinstance(node, ast.BoolOp):
            tests.extend(node.values)
        for test in tests:
            if any(
                isinstance(n, ast.Attribute) and n.attr == "classification" for n in ast.walk(test)
            ):
                lines.append(test.lineno)
    return lines


def test_the_steps_after_training_ask_the_kind():
    """The facade, the CLI, the server and the reports call the kind's hooks; none of them decides
    by the kind's ``classification`` flag what to show or answer (a new kind would need a branch)."""
    assert _branches_on_classification(
        "if kind.classification:\n    pass\nx = 1 if not k.classification else 2\n"
    ) == [1, 3]
    problems = []
    for part in ("api", "cli", "serve", "reports", "plots", "monitoring"):
        for path in sorted((PACKAGE / part).rglob("*.py")):
            for line in _branches_on_classification(path.read_text()):
                problems.append(f"{path.relative_to(PACKAGE)}:{line}")
    pattern = re.compile(r"{%-?\s*(el)?if\b[^%]*\bclassification\b")
    for path in sorted(PACKAGE.rglob("*.j2")):
        for i, text in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(text):
                problems.append(f"{path.relative_to(PACKAGE)}:{i}")
    assert not problems, "call a hook of the kind instead:\n" + "\n".join(problems)


def test_every_kind_has_its_presentation():
    """Each registered kind's report section has figures and the three template macros."""
    from mlcraft.plots import analysis

    macros = (PACKAGE / "reports" / "templates" / "analysis_sections.html.j2").read_text()
    for name in kind_names():
        section = get_kind(name).report_section
        assert section in analysis._SECTIONS, f"{name}: no figures registered for {section!r}"
        for macro in (section, f"{section}_cards", f"{section}_errors"):
            assert f"{{% macro {macro}(" in macros, f"{name}: no macro {macro}"


def test_answers_round_trip_through_the_log():
    binary, reg = get_kind("binary"), get_kind("regression")
    raw = np.array([[0.9, 0.1], [0.4, 0.6], [np.nan, 0.2]])
    values, proba = binary.outputs(raw, binary.labels(raw, ["no", "yes"]), ["no", "yes"])
    assert values == ["no", "yes", "yes"]
    assert proba == [{"no": 0.9, "yes": 0.1}, {"no": 0.4, "yes": 0.6}, {"no": 0.0, "yes": 0.2}]
    back = binary.logged_raw(values, proba, ["no", "yes"])
    assert np.array_equal(back, np.nan_to_num(raw))
    values, proba = reg.outputs(np.array([1.5, np.inf]), np.array([1.5, np.inf]), None)
    assert (values, proba) == ([1.5, None], None)
    assert reg.logged_raw([1.5, 2.0], [None, None], None).tolist() == [1.5, 2.0]


def test_labels_numbers_and_limitations_come_from_the_kind():
    reg, binary, multi = (get_kind(n) for n in ("regression", "binary", "multiclass"))
    assert reg.label_values(pd.Series(["1.5", 2]), str) == [1.5, 2.0]
    with pytest.raises(DataError, match="^label 'x' at row 1 is not a number$"):
        reg.label_values(pd.Series([1.0, "x"]), lambda pos: f"label 'x' at row {pos}")
    assert binary.label_values(pd.Series(np.array([1, 0])), str) == [1, 0]
    assert reg.target_numbers(pd.Series(["1", None])).tolist()[0] == 1.0
    assert binary.target_numbers(pd.Series(["yes", "no"]), "yes").tolist() == [1.0, 0.0]
    assert multi.target_numbers(pd.Series(["a", "b", "c"])) is None
    counts = [{"value": "a", "share": 0.9}, {"value": "b", "share": 0.1}]
    assert [i["kind"] for i in multi.target_limitations(counts)] == ["class imbalance"]
    assert reg.target_limitations(counts) == []


def test_diagnose_and_its_summary():
    reg, binary = get_kind("regression"), get_kind("binary")
    rng = np.random.default_rng(0)
    y = rng.normal(size=200)
    d = reg.diagnose(y, y + rng.normal(scale=0.1, size=200), classes=None)
    assert reg.diagnostics_summary(d)[0].startswith("out-of-fold RMSE 0.")
    labels = np.where(y > 0, "yes", "no").astype(object)
    p = 1 / (1 + np.exp(-3 * y))
    d = binary.diagnose(
        labels, np.c_[1 - p, p], classes=["no", "yes"], positive_class="yes", threshold=0.5
    )
    summary = binary.diagnostics_summary(d)
    assert summary[0].startswith("out-of-fold accuracy ") and d["positive_class"] == "yes"
