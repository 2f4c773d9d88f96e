"""The one set of argument checks: numbers, integers, flags, choices, seeds, size caps.

Each check returns the value coerced to its type, or raises
:class:`~descentlab.errors.InvalidParameterError` naming the parameter, the rule and the value
given. ``owner`` (an optimizer or schedule name, say) prefixes the message as ``"owner: "``.
Messages read::

    lr must be > 0, got -0.1                    check_number("lr", v, lo=0, lo_open=True)
    momentum must be in [0, 1), got 1.5         check_number(..., lo=0, hi=1, hi_open=True)
    n must be an integer >= 4, got 2            check_int("n", v, lo=4)
    arms must be an integer in [2, 1000], got 1 check_int("arms", v, lo=2, hi=1000)
    n must be at most 1,000,000, got 10,000,000 check_at_most("n", v, 1_000_000)
    mode must be one of eval, train, got 'x'    check_choice("mode", v, ("eval", "train"))

``bool`` is never accepted as a number (``True`` is not ``1`` here), and a number is accepted
as an integer only when it is one (``numpy`` integers included; ``2.0`` only with
``integral_float=True``, for values that come through JSON).
"""

from __future__ import annotations

import math
import numbers
import sys
from collections.abc import Iterable
from typing import Any

from descentlab.errors import InvalidParameterError, check_positive

__all__ = [
    "MAX_SEED",
    "check_at_most",
    "check_bool",
    "check_choice",
    "check_int",
    "check_number",
    "check_positive",
    "check_seed",
    "range_text",
]

MAX_SEED = 2**63 - 1
"""Largest seed accepted (``torch.Generator.manual_seed`` takes a 64-bit integer)."""


def _who(name: str, owner: str | None) -> str:
    return f"{owner}: {name}" if owner else name


def range_text(lo: float, hi: float, *, lo_open: bool = False, hi_open: bool = False) -> str:
    """The rule ``lo <(=) x <(=) hi`` in words: ``> 0``, ``<= 1``, ``in [0, 1)``."""
    if math.isinf(hi) and math.isinf(lo):
        return "a finite number"
    if math.isinf(hi):
        return f"{'>' if lo_open else '>='} {lo:g}"
    if math.isinf(lo):
        return f"{'<' if hi_open else '<='} {hi:g}"
    return f"in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"


def check_number(
    name: str,
    value: Any,
    *,
    lo: float = -math.inf,
    hi: float = math.inf,
    lo_open: bool = False,
    hi_open: bool = False,
    owner: str | None = None,
) -> float:
    """A finite real number in ``[lo, hi]`` (ends open on request), as a ``float``.

    Accepts Python and NumPy reals and one-element tensors; refuses ``bool``, strings, NaN, inf.

    Example:
        >>> check_number("momentum", 0.9, lo=0.0, hi=1.0, hi_open=True)
        0.9
    """
    torch = sys.modules.get("torch")  # a one-element tensor, without importing torch here
    if torch is not None and isinstance(value, torch.Tensor) and value.numel() == 1:
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidParameterError(
            f"{_who(name, owner)} must be a number, got {value!r}", param=name
        )
    v = float(value)
    if not math.isfinite(v):
        raise InvalidParameterError(
            f"{_who(name, owner)} must be finite, got {value!r}", param=name
        )
    below = v <= lo if lo_open else v < lo
    above = v >= hi if hi_open else v > hi
    if below or above:
        need = range_text(lo, hi, lo_open=lo_open, hi_open=hi_open)
        raise InvalidParameterError(
            f"{_who(name, owner)} must be {need}, got {value!r}", param=name
        )
    return v


def check_int(
    name: str,
    value: Any,
    *,
    lo: int = 0,
    hi: int | None = None,
    integral_float: bool = False,
    owner: str | None = None,
) -> int:
    """An integer in ``[lo, hi]`` (``hi=None``: no upper bound), as an ``int``.

    Example:
        >>> check_int("steps", 100, lo=1)
        100
    """
    if integral_float and isinstance(value, float) and value.is_integer():
        value = int(value)
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if ok and value >= lo and (hi is None or value <= hi):
        return int(value)
    need = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
    raise InvalidParameterError(
        f"{_who(name, owner)} must be an integer {need}, got {value!r}", param=name
    )


def check_at_most(
    name: str, value: int | float, cap: int | float, *, owner: str | None = None
) -> Any:
    """A size cap checked before any work is done: ``value <= cap`` or an error that says so.

    Example:
        >>> check_at_most("n", 10, 1_000_000)
        10
    """
    if value > cap:
        raise InvalidParameterError(
            f"{_who(name, owner)} must be at most {cap:,}, got {value:,}", param=name
        )
    return value


def check_bool(name: str, value: Any, *, owner: str | None = None) -> bool:
    """``True`` or ``False`` exactly (``1`` and ``"yes"`` are refused)."""
    if not isinstance(value, bool):
        raise InvalidParameterError(
            f"{_who(name, owner)} must be true or false, got {value!r}", param=name
        )
    return value


def check_choice(name: str, value: Any, choices: Iterable[Any], *, owner: str | None = None) -> Any:
    """One of ``choices``; the message lists the valid ones in their given order.

    Example:
        >>> check_choice("mode", "exp", ("exp", "linear"))
        'exp'
    """
    options = tuple(choices)
    try:
        if value in options:
            return value
    except TypeError:  # unhashable or incomparable value
        pass
    listed = ", ".join(str(c) for c in options)
    raise InvalidParameterError(
        f"{_who(name, owner)} must be one of {listed}, got {value!r}", param=name
    )


def check_seed(value: Any, *, name: str = "seed", owner: str | None = None) -> int:
    """A random seed: an integer in ``[0, 2^63 - 1]``.

    Example:
        >>> check_seed(7)
        7
    """
    v = check_int(name, value, lo=0, owner=owner)
    return check_at_most(name, v, MAX_SEED, owner=owner)
