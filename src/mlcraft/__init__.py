"""mlcraft: the Machine Learning Project Checklist, automated.

>>> import mlcraft
>>> project = mlcraft.Project.create("runs/housing", data="housing.csv", target="median_house_value")  # doctest: +SKIP
>>> project.train(); project.evaluate()  # doctest: +SKIP
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["Project", "__version__"]


def __getattr__(name: str):
    # keep `import mlcraft` fast: the facade (pandas, scikit-learn) loads on first use
    if name == "Project":
        from mlcraft.api.project import Project

        return Project
    raise AttributeError(f"module 'mlcraft' has no attribute {name!r}")
