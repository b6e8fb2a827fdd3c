"""Imports point down the layer map only (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "mlcraft"

LAYERS = {
    "exceptions": 0,
    "config": 0,
    "atomic": 0,
    "jsonsafe": 0,
    "formatting": 0,
    "core": 1,
    "tasks": 1,
    "models": 2,
    "nn": 2,
    "workspace": 3,
    "registry": 3,
    "database": 3,
    "monitoring": 3,
    "reports": 3,
    "plots": 3,
    "api": 4,
    "testing": 4,
    "cli": 5,
    "serve": 5,
}


def layer_of(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "mlcraft" or len(parts) < 2:
        return None
    return LAYERS.get(parts[1])


def imports(path: Path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name


def test_no_upward_imports():
    problems = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        module = ".".join(rel.parts)
        own = layer_of(module)
        if own is None:
            continue
        for imported in imports(path):
            other = layer_of(imported)
            if other is not None and other > own:
                problems.append(f"{module} (L{own}) imports {imported} (L{other})")
            if module.startswith("mlcraft.core.") and imported.startswith("mlcraft.models"):
                problems.append(f"{module} imports {imported}: core never imports the families")
            if module.startswith(("mlcraft.cli", "mlcraft.serve")) and imported.startswith(
                ("mlcraft.core", "mlcraft.models", "mlcraft.tasks")
            ):
                problems.append(
                    f"{module} imports {imported}: the CLI and server call the API only"
                )
            # inside L1: core.data is the bottom; the kinds use core.data and core.analysis (never core.fit or core.predict); the engine asks the kinds
            if (
                module.startswith("mlcraft.core.data")
                and imported.startswith("mlcraft.")
                and layer_of(imported) == 1
                and not imported.startswith("mlcraft.core.data")
            ):
                problems.append(f"{module} imports {imported}: core.data is the bottom of L1")
            if (
                module.startswith("mlcraft.tasks")
                and imported.startswith("mlcraft.core")
                and not imported.startswith(("mlcraft.core.data", "mlcraft.core.analysis"))
            ):
                problems.append(
                    f"{module} imports {imported}: a kind of problem uses core.data and core.analysis only, never the engine"
                )
    assert not problems, "\n".join(problems)


def test_import_mlcraft_is_light():
    import subprocess
    import sys

    code = "import sys, mlcraft; print(sorted(m for m in ('pandas', 'sklearn', 'torch', 'lightgbm') if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "[]"


def runtime_imports(path: Path):
    """Imports that run (lazy ones included), leaving out ``if TYPE_CHECKING:`` blocks."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            node.body = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            for alias in node.names:
                yield f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name


def test_no_import_cycles():
    """No circle of imports between modules, lazy (function-level) imports included.

    The prediction modules once formed one (pipeline - compiled - treepredict - ensemble), held
    together by lazy and private imports."""
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        module = ".".join(p for p in rel.parts if p != "__init__")
        graph[module] = set(runtime_imports(path))
    for (
        module,
        targets,
    ) in graph.items():  # "from pkg import mod" names a module: resolve to it when it exists
        graph[module] = {t for t in targets if t in graph and t != module}
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if nxt.count(".") < 2 or node.startswith(nxt + "."):
                continue  # a package's __init__ re-exporting its own modules is not a circle
            if state.get(nxt) == 1:
                cycles.append(
                    " -> ".join(stack[stack.index(nxt) :] + [nxt])
                    if nxt in stack
                    else f"{node} -> {nxt}"
                )
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    # the facade and its step modules are one unit (retrain trains a challenger through a staged Project)
    cycles = [c for c in cycles if not all(m.startswith("mlcraft.api.") for m in c.split(" -> "))]
    assert not cycles, "\n".join(cycles)


def test_cli_version_and_help_are_light():
    # `mlcraft --version` and `mlcraft --help` answer without loading the facade or any library it needs
    import subprocess
    import sys

    heavy = (
        "pandas",
        "sklearn",
        "numpy",
        "scipy",
        "torch",
        "lightgbm",
        "optuna",
        "fastapi",
        "matplotlib",
    )
    code = (
        "import sys\n"
        "from mlcraft.cli import main\n"
        "sys.argv = ['mlcraft', *sys.argv[1:]]\n"
        "try:\n    main()\n"
        f"finally:\n    print(sorted(m for m in {heavy!r} if m in sys.modules), file=sys.stderr)\n"
    )
    for args in (["--version"], ["--help"]):
        done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip(), f"mlcraft {args[0]} printed nothing"
        assert done.stderr.strip().splitlines()[-1] == "[]", (
            f"mlcraft {args[0]} imported: {done.stderr}"
        )
