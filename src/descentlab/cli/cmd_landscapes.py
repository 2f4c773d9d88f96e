"""``descentlab landscapes``: the catalogue and how many critical points of each kind are known."""

from __future__ import annotations

import argparse
from typing import Any

from descentlab.cli.common import add_subcommand, format_table, parse_spec, print_json


def _landscapes(args: argparse.Namespace) -> int:
    from descentlab.landscapes import get_landscape, list_landscapes

    if args.landscape:
        name, params = parse_spec(args.landscape, "landscape")
        landscapes = [get_landscape(name, **params)]
    else:
        landscapes = [entry.factory() for entry in list_landscapes()]
    if args.json:
        print_json([_info(land) for land in landscapes])
        return 0
    rows = []
    notes = []
    for land in landscapes:
        info = _info(land)
        counts = info["counts"]
        if "note" in info:
            notes.append(f"{land.name}: {info['note']}")
        known = [
            counts[k] if counts else "-" for k in ("minimum", "saddle", "maximum", "degenerate")
        ]
        dim = f"{land.dim} (any)" if "dim" in land.params else str(land.dim)
        rows.append(
            [
                land.name,
                dim,
                *known,
                "yes" if land.complete else "no",
                _fmt_min(land.global_min_value),
            ]
        )
    print(
        format_table(
            ["name", "dim", "minima", "saddles", "maxima", "degenerate", "complete", "global min"],
            rows,
        )
    )
    for note in notes:
        print(f"\n{note}")
    if not args.landscape:
        print(
            "\ncomplete = every critical point in the landscape's domain is listed. "
            "Details: descentlab landscapes --landscape NAME[:dim=D] --json"
        )
    return 0


def _info(land: Any) -> dict[str, Any]:
    """``land.info()``; for a set too large to list (e.g. Styblinski–Tang in 20-D) the counts are
    left out with a note instead of failing."""
    from descentlab.errors import InvalidParameterError

    try:
        return land.info()
    except InvalidParameterError as exc:
        return {
            "name": land.name,
            "dim": land.dim,
            "params": dict(land.params),
            "domain": None if land.domain is None else [list(p) for p in land.domain],
            "global_min_value": land.global_min_value,
            "critical_points_known": True,
            "complete": bool(land.complete),
            "counts": None,
            "formula": land.formula,
            "description": land.description,
            "note": str(exc),
        }


def _fmt_min(v: float | None) -> Any:
    return "-" if v is None else v


def register(sub: Any) -> None:
    p = add_subcommand(
        sub,
        "landscapes",
        "List the landscape catalogue: dimension and known critical points of each kind.",
        [
            "descentlab landscapes",
            "descentlab landscapes --json",
            "descentlab landscapes --landscape styblinski_tang:dim=4",
        ],
        description=(
            "List the landscape catalogue: name, dimension, how many minima, saddles, maxima and "
            "degenerate critical points are known, and whether that list is complete in the "
            "landscape's domain. --json prints each landscape's full info()."
        ),
    )
    p.add_argument(
        "--landscape",
        metavar="NAME[:key=value,...]",
        help="show one landscape, optionally with parameters (e.g. rosenbrock:dim=4)",
    )
    p.add_argument("--json", action="store_true", help="print a JSON list of Landscape.info()")
    p.set_defaults(func=_landscapes)
