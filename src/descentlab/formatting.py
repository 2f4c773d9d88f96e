"""Numbers and tables as text: one formatter for the CLI, the experiments and reports.

A float is written with ``digits`` significant digits when ``1e-4 <= |x| < 1e6`` and in
scientific notation with ``digits - 3`` decimals otherwise (``0`` is ``"0"``); tuples and lists
of cells are written ``(a, b, ...)``; anything else is ``str()``. Tables are plain aligned text
(columns two spaces apart, a dashed rule under the header) or Markdown. Nothing here imports
torch, so a command line can format before (or without) computing.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

__all__ = ["format_cell", "format_number", "format_param", "format_table", "markdown_table"]


def format_number(x: float, digits: int = 6) -> str:
    """``x`` with ``digits`` significant digits, scientific outside ``[1e-4, 1e6)``.

    Example:
        >>> format_number(3.14159265), format_number(1.5e-7), format_number(0.0)
        ('3.14159', '1.500e-07', '0')
    """
    if x == 0:
        return "0"
    if 1e-4 <= abs(x) < 1e6:
        return f"{x:.{digits}g}"
    return f"{x:.{max(digits - 3, 1)}e}"


def format_cell(c: Any, digits: int = 6) -> str:
    """One table cell: floats by :func:`format_number`, sequences as ``(a, b)``, else ``str``.

    Example:
        >>> format_cell((1.0, 2.5e-9))
        '(1, 2.500e-09)'
    """
    if isinstance(c, float):
        return format_number(c, digits)
    if isinstance(c, list | tuple):
        return "(" + ", ".join(format_cell(x, digits) for x in c) + ")"
    return str(c)


def format_param(v: Any) -> str:
    """A hyper-parameter value as written in a label or a list of defaults: floats by ``%g``,
    tuples as ``(a, b)``, strings quoted.

    Example:
        >>> format_param(0.001), format_param((0.9, 0.999)), format_param("strong_wolfe")
        ('0.001', '(0.9, 0.999)', "'strong_wolfe'")
    """
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, tuple):
        return "(" + ", ".join(format_param(x) for x in v) + ")"
    return repr(v) if isinstance(v, str) else str(v)


def format_table(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], *, right: Collection[int] = ()
) -> str:
    """A plain aligned text table; columns whose index is in ``right`` are right-aligned.

    Example:
        >>> print(format_table(["x", "f(x)"], [[1.0, 0.5], [10.0, 2.0]], right={1}))
        x   f(x)
        --  ----
        1    0.5
        10     2
    """
    cells = [[str(h) for h in headers]] + [[format_cell(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = [
        "  ".join(
            (c.rjust(w) if i in right else c.ljust(w))
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ).rstrip()
        for r in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table (cells by :func:`format_cell`).

    Example:
        >>> print(markdown_table(["a", "b"], [[1, 0.25]]))
        | a | b |
        |---|---|
        | 1 | 0.25 |
    """
    head = "| " + " | ".join(str(h) for h in headers) + " |"
    sep = "|" + "|".join("---" for _ in headers) + "|"
    body = ["| " + " | ".join(format_cell(c) for c in r) + " |" for r in rows]
    return "\n".join([head, sep, *body])
