"""One table of size limits, checked before anything is allocated.

Every request (web) and command (CLI) that allocates in proportion to a size it was given
(dimension, starts, steps, random features, wells) checks that size here first, and is refused
with a :class:`~descentlab.errors.LimitError` naming the parameter, the size asked for and the
limit. The limits exist because some work cannot be interrupted once started (a LAPACK
factorisation of a ``d x d`` matrix holds its thread until it ends) and because an allocation
that fails half-way (``MemoryError``) is no answer. The table is shown by ``/api/meta`` and by
``descentlab --help``.

Memory estimates count float64 entries (8 bytes):

* a run of ``R`` rows in ``d`` dimensions for ``T`` steps holds about ``8 R d`` entries of state
  (points, gradients, optimizer moments, closure copies), ``T R`` learning rates and its
  records (kept under 256 MiB by the record interval): ``8 (8 R d + T R) + 256 MiB`` bytes;
* ``random_quadratic_saddle`` holds three ``d x d`` matrices and a QR (``O(d^3)`` flops);
* ``random_fourier_field`` holds its ``m x d`` frequencies, and evaluating ``B`` points holds
  ``B x m`` entries (a critical-point search evaluates thousands of points at once, with the
  graph of a Hessian on top);
* ``gaussian_wells`` certifies each of its ``K`` wells with ``O(K)`` Hessian bounds and finds
  its minimum by Newton (``d x d`` solves): ``O(K^2 d + K d^3)`` work.

Seeds are range-checked, not hashed: a seed must be an integer in ``[0, 2^63 - 1]`` (a signed
64-bit integer, what torch's and numpy's generators and the DuckDB store take), so two different
seeds never silently name the same stream.

Example:
    >>> from descentlab.errors import LimitError
    >>> from descentlab.limits import check_size
    >>> check_size("dim", 3, param="dim")
    3
    >>> try:
    ...     check_size("dense_dim", 10**6, param="dim")
    ... except LimitError as exc:
    ...     print(exc.param, exc.limit, exc.asked, exc.bound)
    dim dense_dim 1000000 2000
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from descentlab.errors import InvalidParameterError, LimitError, normalize_name
from descentlab.validate import MAX_SEED

MiB = 1024 * 1024
GiB = 1024 * MiB
INT64_MAX = MAX_SEED  # 2^63 - 1: a signed 64-bit integer


@dataclass(frozen=True)
class Limit:
    """One row of the table: ``name``, its ``value``, the ``unit`` and what it bounds."""

    name: str
    value: int
    unit: str
    what: str


_TABLE = (
    Limit(
        "dim", 100_000, "", "dimension of a landscape whose cost grows like d (catalogue, formula)"
    ),
    Limit(
        "dense_dim",
        2_000,
        "",
        "dimension of a landscape that stores and factorises a d x d matrix: d^2 floats and "
        "O(d^3) work",
    ),
    Limit(
        "n_features",
        4_096,
        "",
        "random Fourier features of random_fourier_field (evaluating B points holds B x "
        "n_features floats, several times over in a Hessian)",
    ),
    Limit(
        "feature_entries",
        1_000_000,
        "",
        "n_features x dim of random_fourier_field (its frequency matrix, 8 bytes each)",
    ),
    Limit("n_wells", 200, "", "wells of gaussian_wells (each certified against all others: K^2)"),
    Limit(
        "wells_work",
        2_000_000_000,
        "",
        "n_wells x dim^3 of gaussian_wells (a Newton solve in d dimensions per well)",
    ),
    Limit("rows", 1_000_000, "", "rows of one run: starts x learning rates"),
    Limit("steps", 100_000_000, "", "optimizer steps of one run"),
    Limit("run_memory", 4 * GiB, "bytes", "estimated memory of one run (see descentlab.limits)"),
    Limit(
        "critical_work",
        10_000_000,
        "",
        "starts x (15 + dim^2) of one critical-point search, all rounds counted (each start "
        "carries a d x d Hessian; about 3 us per unit on one core)",
    ),
    Limit("seed", INT64_MAX, "", "largest seed (a signed 64-bit integer; seeds are not hashed)"),
    Limit("integer", INT64_MAX, "", "largest |integer| in a parameter spec (64 bits)"),
)

LIMITS: dict[str, Limit] = {lim.name: lim for lim in _TABLE}


def limit(name: str) -> int:
    """The value of the limit ``name``."""
    return LIMITS[name].value


def table() -> list[dict[str, Any]]:
    """The table as JSON-ready rows (for ``/api/meta``)."""
    return [asdict(lim) for lim in _TABLE]


def help_text(width: int = 79) -> str:
    """The table as text for ``--help``: the name and value, then what it bounds (wrapped)."""
    import textwrap

    name_w = max(len(lim.name) for lim in _TABLE)
    lines = ["Limits (sizes are checked before any allocation; see descentlab.limits):"]
    for lim in _TABLE:
        head = f"  {lim.name.ljust(name_w)}  {_human(lim.value, lim.unit):>13}  "
        body = textwrap.wrap(lim.what, max(20, width - len(head)))
        lines.append(head + body[0])
        lines.extend(" " * len(head) + more for more in body[1:])
    return "\n".join(lines)


def _human(v: float, unit: str) -> str:
    if unit == "bytes":
        return f"{v / GiB:g} GiB" if v >= GiB else f"{v / MiB:g} MiB"
    if v == INT64_MAX:
        return "2^63 - 1"
    return f"{int(v):,}"


def check_size(
    name: str,
    asked: int | float,
    *,
    param: str,
    advice: str = "ask for less",
    label: str | None = None,
) -> Any:
    """Return ``asked`` when it is within the limit ``name``; else raise :class:`LimitError`.

    The message names the size asked for (``label``, default the parameter's name), the limit
    and what it bounds; ``param`` is the parameter to blame (the error's ``param``).
    """
    lim = LIMITS[name]
    if asked > lim.value:
        shown = _human(asked, lim.unit) if lim.unit else f"{int(asked):,}"
        raise LimitError(
            f"{label or param}={shown} is over the limit {name} = {_human(lim.value, lim.unit)} "
            f"({lim.what}); {advice}",
            param=param,
            limit=name,
            asked=asked,
            bound=lim.value,
        )
    return asked


def check_spec_integers(params: dict[str, Any], where: str) -> dict[str, Any]:
    """Refuse any integer (or integer in a tuple) beyond 64 bits in a parsed parameter spec.

    Such a value can only overflow further down (``Overflow when unpacking long long``), so
    it is named here, with its key.
    """
    for key, v in params.items():
        values = v if isinstance(v, tuple | list) else (v,)
        for x in values:
            if isinstance(x, int) and not isinstance(x, bool) and abs(x) > INT64_MAX:
                raise InvalidParameterError(
                    f"{where}: {key}={x} does not fit in 64 bits (|value| <= 2^63 - 1)", param=key
                )
    return params


# ---------------------------------------------------------------------------- estimates
RECORD_BUDGET = 256 * MiB


def run_bytes(rows: int, dim: int, steps: int) -> int:
    """Estimated peak memory of one run: ``8 (8 R d + T R) + 256 MiB`` bytes (see the module)."""
    return 8 * (8 * rows * dim + steps * rows) + RECORD_BUDGET


def check_run(rows: int, dim: int, steps: int) -> None:
    """Refuse a run whose rows, steps or estimated memory are over the table (before building)."""
    check_size("rows", rows, param="starts", advice="use fewer starts or learning rates")
    check_size("steps", steps, param="steps")
    check_size(
        "run_memory",
        run_bytes(rows, dim, steps),
        param="starts",
        advice="use fewer starts, learning rates or steps",
        label=f"estimated memory of {rows:,} rows x {dim:,} dimensions x {steps:,} steps",
    )


def critical_work(total_starts: int, dim: int) -> int:
    """Work units of a critical-point search: ``starts x (15 + d^2)``.

    Measured on one core (Rastrigin, 512-1024 starts): 0.04 ms per start at d = 2, 0.4 ms at
    d = 12, 6.3 ms at d = 48, i.e. ``~2.7 us x (15 + d^2)`` per start.
    """
    return int(total_starts) * (15 + int(dim) ** 2)


def check_critical_search(total_starts: int, dim: int) -> None:
    """Refuse a critical-point search whose worst case (every round run) is over the table."""
    work = critical_work(total_starts, dim)
    if work > LIMITS["critical_work"].value:
        fit = max(1, LIMITS["critical_work"].value // (15 + dim * dim))
        check_size(
            "critical_work",
            work,
            param="max_starts",
            label=f"{total_starts:,} starts x (15 + {dim}^2)",
            advice=(
                f"in {dim} dimensions at most {fit:,} starts in all fit (--max-starts {fit}); "
                "a box filled with starts cannot find the critical points of a high-dimensional "
                "landscape anyway"
            ),
        )


# ---------------------------------------------------------------------------- schedules
# Schedules that stop working past a length they were given: torch's OneCycleLR raises
# ("Tried to step 11 times") at the first step beyond ``total_steps``.
_SCHEDULES_THAT_END = {"one_cycle": "total_steps"}


def check_schedule_length(name: str, params: dict[str, Any], steps: int) -> None:
    """Refuse, before the run, a schedule whose explicit length is shorter than the run.

    Only ``one_cycle`` ends (a run given ``total_steps`` below its ``steps`` would fail at step
    ``total_steps + 1``); every other schedule may be shorter than the run (cosine repeats,
    polynomial and warm-up schedules hold their last rate).
    """
    key = _SCHEDULES_THAT_END.get(normalize_name(name))
    if key is None or key not in params:
        return
    length = params[key]
    if isinstance(length, int) and not isinstance(length, bool) and length < steps:
        raise InvalidParameterError(
            f"schedule {normalize_name(name)}: {key}={length} is shorter than the run's "
            f"{steps} steps (the schedule cannot step past its end); set {key} >= {steps} or "
            f"leave it out to use the run length",
            param=key,
        )
