"""Analysis: find and classify critical points; diagnose why each run ended, in the one outcome
vocabulary (:mod:`descentlab.analysis.outcomes`)."""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "find_critical_points": "descentlab.analysis.critical",
    "refine_critical_points": "descentlab.analysis.critical",
    "CriticalPointSet": "descentlab.analysis.critical",
    "diagnose": "descentlab.analysis.diagnose",
    "Diagnosis": "descentlab.analysis.diagnose",
    "Outcome": "descentlab.analysis.diagnose",
    "OUTCOMES": "descentlab.analysis.outcomes",
    "OUTCOME_KINDS": "descentlab.analysis.outcomes",
    "outcome_kind": "descentlab.analysis.outcomes",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:  # lazy, so each module imports only what it needs
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'descentlab.analysis' has no attribute {name!r}")


# ``diagnose`` names both a submodule and a function. Importing the submodule anywhere binds the
# package attribute to the module, which would shadow the lazy export; binding the function
# eagerly here (after that import) keeps ``from descentlab.analysis import diagnose`` a function.
from descentlab.analysis.diagnose import Diagnosis, Outcome, diagnose  # noqa: E402, F401
