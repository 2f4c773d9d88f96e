"""The one outcome vocabulary: why a run ended, as kinds with labels and colours.

:func:`~descentlab.analysis.diagnose.diagnose` gives every row one of these kinds; the CLI, the
web API and page (through ``/api/meta``) and the figures read their words and colours from here
instead of spelling them again. The order of :data:`OUTCOMES` is the display order (legends,
counts): the critical points from best to worst, then the runs that reached none.

========================  ===================  ==============  =========================
kind                      label                short label     at a critical point
========================  ===================  ==============  =========================
``global_minimum``        global minimum       global min      yes
``local_minimum``         local minimum        local min       yes
``saddle``                saddle               saddle          yes
``maximum``               maximum              max             yes
``degenerate``            degenerate point     degenerate      yes
``plateau``               plateau              plateau         no
``diverged``              diverged             diverged        no
``max_steps``             still moving         still moving    no
========================  ===================  ==============  =========================

The first five are also the kinds of a landscape's critical points once ``minimum`` is split by
``is_global`` (:func:`critical_point_kind`). This module imports nothing heavy (no torch), so a
command line can read it before any computation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from descentlab.errors import UnknownNameError

__all__ = [
    "CRITICAL_POINT_KINDS",
    "OUTCOMES",
    "OUTCOME_COLORS",
    "OUTCOME_KINDS",
    "OUTCOME_LABELS",
    "OUTCOME_SHORT_LABELS",
    "OutcomeKind",
    "critical_point_kind",
    "outcome_kind",
    "vocabulary",
]


@dataclass(frozen=True)
class OutcomeKind:
    """One way a run can end.

    Attributes:
        name: the key (``Outcome.kind``).
        label: words for sentences and figure legends (``"global minimum"``).
        short: words beside a marker or in a map legend (``"global min"``).
        color: ``#rrggbb`` used by the figures and the web page.
        at_critical_point: whether the run ended at a critical point of this kind.
        meaning: when a row gets this kind.
    """

    name: str
    label: str
    short: str
    color: str
    at_critical_point: bool
    meaning: str


OUTCOMES: tuple[OutcomeKind, ...] = (
    OutcomeKind(
        "global_minimum",
        "global minimum",
        "global min",
        "#1b9e3a",
        True,
        "at a minimum whose value is the global minimum value",
    ),
    OutcomeKind(
        "local_minimum",
        "local minimum",
        "local min",
        "#2b6cc4",
        True,
        "at any other minimum",
    ),
    OutcomeKind(
        "saddle",
        "saddle",
        "saddle",
        "#e02b20",
        True,
        "at a saddle (Hessian eigenvalues of both signs)",
    ),
    OutcomeKind("maximum", "maximum", "max", "#8e3bb5", True, "at a maximum"),
    OutcomeKind(
        "degenerate",
        "degenerate point",
        "degenerate",
        "#6b6b6b",
        True,
        "at a critical point with a zero Hessian eigenvalue second order cannot classify",
    ),
    OutcomeKind(
        "plateau",
        "plateau",
        "plateau",
        "#b8b8b8",
        False,
        "the gradient is tiny but no critical point is anywhere near",
    ),
    OutcomeKind(
        "diverged",
        "diverged",
        "diverged",
        "#111111",
        False,
        "the value or gradient became non-finite, or the point left the bound",
    ),
    OutcomeKind(
        "max_steps",
        "still moving",
        "still moving",
        "#f2c12e",
        False,
        "still moving when the step budget ran out, not at a critical point",
    ),
)

_BY_NAME = {o.name: o for o in OUTCOMES}

OUTCOME_KINDS: tuple[str, ...] = tuple(_BY_NAME)
"""Every kind :func:`~descentlab.analysis.diagnose.diagnose` can give, in display order."""

CRITICAL_POINT_KINDS: tuple[str, ...] = tuple(o.name for o in OUTCOMES if o.at_critical_point)
"""The kinds that name a critical point (``minimum`` split into global and local)."""

OUTCOME_LABELS: dict[str, str] = {o.name: o.label for o in OUTCOMES}
OUTCOME_SHORT_LABELS: dict[str, str] = {o.name: o.short for o in OUTCOMES}
OUTCOME_COLORS: dict[str, str] = {o.name: o.color for o in OUTCOMES}


def outcome_kind(name: str) -> OutcomeKind:
    """The entry of one kind; :class:`~descentlab.errors.UnknownNameError` lists the valid ones.

    Example:
        >>> outcome_kind("max_steps").label
        'still moving'
    """
    try:
        return _BY_NAME[name]
    except (KeyError, TypeError):
        raise UnknownNameError("outcome kind", str(name), OUTCOME_KINDS) from None


def critical_point_kind(kind: str, is_global: bool = False) -> str:
    """The outcome kind of a critical point: ``minimum`` splits into global and local.

    Example:
        >>> critical_point_kind("minimum", is_global=True), critical_point_kind("saddle")
        ('global_minimum', 'saddle')
    """
    if kind == "minimum":
        return "global_minimum" if is_global else "local_minimum"
    if kind in CRITICAL_POINT_KINDS:
        return kind
    raise UnknownNameError("critical-point kind", str(kind), [*CRITICAL_POINT_KINDS, "minimum"])


def vocabulary() -> list[dict[str, Any]]:
    """The vocabulary as JSON-ready records, in display order (what ``/api/meta`` serves)."""
    return [asdict(o) for o in OUTCOMES]
