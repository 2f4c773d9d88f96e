"""One exception family for everything a user can get wrong.

Every error carries a message a user can act on and, where one is to blame, the name of the
offending parameter in ``param`` (``"dim"``, ``"seed"``, ``"n_features"``...), so a front end
can point at the field without reading the message. The CLI maps any ``DescentlabError`` to exit
code 2 and one line; the web API maps it to a 4xx answer naming the field.
"""

from __future__ import annotations

from collections.abc import Iterable


def normalize_name(name: str) -> str:
    """Registry key of a user-typed name: lower case, ``-`` and spaces as ``_``."""
    return str(name).strip().lower().replace("-", "_").replace(" ", "_")


class DescentlabError(Exception):
    """Base class of every error descentlab raises on purpose.

    Args:
        *args: the message (one line a user can act on).
        param: the offending parameter's name, when one is to blame (else ``None``).
    """

    param: str | None = None

    def __init__(self, *args: object, param: str | None = None) -> None:
        super().__init__(*args)
        if param is not None:
            self.param = param


class UnknownNameError(DescentlabError, KeyError):
    """A name (landscape, optimizer, schedule, experiment...) that is not registered."""

    def __init__(self, what: str, name: str, valid: Iterable[str], param: str | None = None):
        self.what = what
        self.name = name
        self.valid = sorted(valid)
        super().__init__(
            f"unknown {what} {name!r}; valid: {', '.join(_compact(self.valid))}",
            param=param or what,
        )

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


def _compact(names: list[str]) -> list[str]:
    """Names with runs of a numbered family shown as one range: bbob_f1..bbob_f24.

    A family is names that differ only in a trailing integer; three or more consecutive numbers
    become ``first..last``, so a catalogue's list stays readable as families are added.
    """
    import re

    families: dict[str, list[int]] = {}
    plain: list[str] = []
    for n in names:
        m = re.fullmatch(r"(.*?[A-Za-z_])(\d+)", n)
        if m:
            families.setdefault(m.group(1), []).append(int(m.group(2)))
        else:
            plain.append(n)
    out = list(plain)
    for stem, nums in families.items():
        nums.sort()
        run = [nums[0]]
        for k in [*nums[1:], None]:
            if k is not None and k == run[-1] + 1:
                run.append(k)
                continue
            if len(run) >= 3:
                out.append(f"{stem}{run[0]}..{stem}{run[-1]}")
            else:
                out.extend(f"{stem}{i}" for i in run)
            if k is not None:
                run = [k]
    return sorted(out)


class InvalidParameterError(DescentlabError, ValueError):
    """A hyper-parameter or argument with a value that cannot work; says which and why."""


class FormulaError(DescentlabError, ValueError):
    """A malformed or refused formula. ``position`` is the 0-based column, when known."""

    def __init__(self, message: str, position: int | None = None, formula: str | None = None):
        self.position = position
        self.formula = formula
        where = f" at position {position}" if position is not None else ""
        super().__init__(f"{message}{where}", param="formula")


class DimensionError(DescentlabError, ValueError):
    """Points whose shape does not match the landscape's dimension."""


class LimitError(InvalidParameterError):
    """A size over one of the limits of :mod:`descentlab.limits`, refused before any allocation.

    Attributes:
        param: the parameter asked too much of (``"dim"``, ``"n_wells"``...).
        limit: the limit's name in :data:`descentlab.limits.LIMITS`.
        asked: the size asked for; ``bound``: the limit's value.
    """

    def __init__(self, message: str, *, param: str, limit: str, asked: float, bound: float):
        self.limit = limit
        self.asked = asked
        self.bound = bound
        super().__init__(message, param=param)


def check_positive(
    name: str, value: float, *, allow_zero: bool = False, owner: str | None = None
) -> float:
    """A finite number ``> 0`` (``>= 0`` with ``allow_zero``), as a ``float``.

    Part of the one set of argument checks, :mod:`descentlab.validate`, which re-exports it;
    it lives here, beside the exception it raises, so that nothing below ``validate`` imports
    it (import it from ``descentlab.validate``). Anything ``float()`` reads is accepted
    (``"0.5"`` from a form field included).

    Example:
        >>> check_positive("lr", "0.5")
        0.5
    """
    who = f"{owner}: {name}" if owner else name
    try:
        v = float(value)
    except (TypeError, ValueError, OverflowError):
        raise InvalidParameterError(f"{who} must be a number, got {value!r}", param=name) from None
    if v != v or v in (float("inf"), float("-inf")):
        raise InvalidParameterError(f"{who} must be finite, got {value!r}", param=name)
    if allow_zero and v < 0:
        raise InvalidParameterError(f"{who} must be >= 0, got {value!r}", param=name)
    if not allow_zero and v <= 0:
        raise InvalidParameterError(f"{who} must be > 0, got {value!r}", param=name)
    return v
