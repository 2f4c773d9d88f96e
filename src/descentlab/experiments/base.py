"""What every experiment returns, and the registry behind ``descentlab experiment NAME``.

An experiment reproduces one claim: it measures numbers, draws figures and states a verdict
(``supported``, ``qualified`` or ``refuted``) together with what the verdict rests on. Each
experiment module registers a function ``run(quick: bool, out: Path | None, progress: bool)
-> ExperimentResult`` with :func:`register`.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from descentlab.errors import InvalidParameterError, UnknownNameError
from descentlab.formatting import markdown_table
from descentlab.io import to_jsonable

VERDICTS = ("supported", "qualified", "refuted")


@dataclass
class Table:
    """A small table for the report: a title, column names and rows."""

    title: str
    columns: list[str]
    rows: list[list[Any]]

    def to_dict(self) -> dict[str, Any]:
        return {"title": self.title, "columns": self.columns, "rows": to_jsonable(self.rows)}

    def to_markdown(self) -> str:
        return f"**{self.title}**\n\n" + markdown_table(self.columns, self.rows)


@dataclass
class ExperimentResult:
    """Numbers, tables, figures and a verdict for one claim.

    ``numbers`` holds the key measurements (JSON-able scalars, lists or dicts) that ``--json``
    prints; ``rests_on`` lists, in plain words, the measurements the verdict is drawn from.
    Rendered for a reader (plain sentences first, English or Korean, figure links that resolve)
    by :func:`descentlab.experiments.report.experiment_markdown` and the report.
    """

    name: str
    claim: str
    verdict: str
    summary: str
    rests_on: list[str] = field(default_factory=list)
    numbers: dict[str, Any] = field(default_factory=dict)
    tables: list[Table] = field(default_factory=list)
    figures: dict[str, Path] = field(default_factory=dict)
    quick: bool = False
    seconds: float = 0.0

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise InvalidParameterError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "claim": self.claim,
            "verdict": self.verdict,
            "summary": self.summary,
            "rests_on": list(self.rests_on),
            "numbers": to_jsonable(self.numbers),
            "tables": [t.to_dict() for t in self.tables],
            "figures": {k: str(v) for k, v in self.figures.items()},
            "quick": self.quick,
            "seconds": round(self.seconds, 3),
        }


Runner = Callable[..., ExperimentResult]
_REGISTRY: dict[str, Runner] = {}
# The order a report presents them in (claims 1-4: non-convexity, Newton vs GD, saddles, escape).
ORDER = ("nonconvexity", "newton-vs-gd", "saddles-dominate", "escape")


def register(name: str) -> Callable[[Runner], Runner]:
    def deco(fn: Runner) -> Runner:
        _REGISTRY[name] = fn
        return fn

    return deco


def _load_all() -> None:
    import descentlab.experiments as pkg

    for mod in pkgutil.iter_modules(pkg.__path__):
        if not mod.name.startswith("_") and mod.name not in ("base", "report"):
            importlib.import_module(f"descentlab.experiments.{mod.name}")


def experiment_names() -> list[str]:
    _load_all()
    return sorted(_REGISTRY, key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))


def run_experiment(
    name: str, *, quick: bool = False, out: str | Path | None = None, progress: bool | None = None
) -> ExperimentResult:
    """Run one experiment by name; figures go under ``out`` when given."""
    import time

    _load_all()
    key = name.strip().lower().replace("_", "-")
    if key not in _REGISTRY:
        raise UnknownNameError("experiment", name, _REGISTRY)
    t0 = time.perf_counter()
    result = _REGISTRY[key](quick=quick, out=None if out is None else Path(out), progress=progress)
    result.seconds = time.perf_counter() - t0
    result.quick = quick
    return result
