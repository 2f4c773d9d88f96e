"""``descentlab critical``: find and classify every critical point of a landscape or a formula."""

from __future__ import annotations

import argparse
from typing import Any

from descentlab.cli.common import (
    add_landscape_arguments,
    add_subcommand,
    key_values,
    parse_floats,
    parse_spec,
    positive_int,
    print_json,
    seed_int,
)
from descentlab.errors import InvalidParameterError
from descentlab.limits import check_critical_search


def _critical(args: argparse.Namespace) -> int:
    from descentlab.analysis.critical import find_critical_points
    from descentlab.landscapes import Landscape, get_landscape

    domain = parse_floats(args.domain, "--domain") if args.domain is not None else None
    if domain is not None and (len(domain) < 2 or len(domain) % 2):
        raise InvalidParameterError(
            f"--domain: expected lo,hi or xmin,xmax,ymin,ymax,... (pairs), got {args.domain!r}"
        )
    if args.formula is not None:
        if args.param:
            raise InvalidParameterError("--param applies to --landscape, not to --formula")
        landscape = Landscape.from_formula(args.formula, domain=domain, dim=args.dim)
    else:
        if args.dim is not None:
            raise InvalidParameterError("--dim applies to --formula; use --param dim=D")
        name, params = parse_spec(args.landscape, "landscape")
        params.update(key_values(args.param or []))
        landscape = get_landscape(name, **params)
    _check_search_size(landscape.dim, args)
    cps = find_critical_points(
        landscape,
        domain,
        n_starts=args.starts,
        seed=args.seed,
        max_rounds=args.rounds,
        max_starts=args.max_starts,
    )
    if args.json:
        print_json(cps.to_dicts())
        return 0
    print(cps.summary())
    if len(cps):
        print(cps.table())
    for note in cps.notes:
        print(f"note: {note}")
    return 0


def _check_search_size(dim: int, args: argparse.Namespace) -> None:
    """Refuse, before it starts, a search whose worst case (every round run) is over the limit
    ``critical_work`` of :mod:`descentlab.limits` (e.g. Rastrigin in 12 dimensions: 21^12
    critical points, every round finds new ones, and all 131072 starts would run)."""
    from descentlab.analysis.critical import default_n_starts

    first = args.starts if args.starts is not None else default_n_starts(dim)
    planned = first * (2 ** min(args.rounds, 40) - 1)
    check_critical_search(max(first, min(args.max_starts, planned)), dim)


def register(sub: Any) -> None:
    p = add_subcommand(
        sub,
        "critical",
        "Find and classify every critical point (minima, saddles, maxima) in a box.",
        [
            "descentlab critical --landscape himmelblau",
            "descentlab critical --landscape styblinski_tang --param dim=3",
            'descentlab critical --formula "x**4 - 2*x**2 + y**2" --domain -2,2,-2,2',
            "descentlab critical --landscape six_hump_camel --json",
        ],
        description=(
            "Solve grad f = 0 from many starts at once (batched Levenberg-Marquardt on the\n"
            "gradient, then Newton to full float64 precision), keep the roots inside the box,\n"
            "merge duplicates and classify each by its Hessian eigenvalues: minimum, maximum,\n"
            "saddle (index = number of negative eigenvalues) or degenerate. The lowest minima\n"
            "are marked global. Rounds of twice as many new starts continue while a round\n"
            "finds a new point."
        ),
    )
    add_landscape_arguments(
        p,
        "the box to search: lo,hi for every dimension or xmin,xmax,ymin,ymax,... "
        "(default: the landscape's domain; [-5, 5] per dimension for a formula)",
    )
    p.add_argument(
        "--starts",
        type=positive_int,
        default=None,
        help="starts of the first round (default 256 * 2^(d-1), at most 4096)",
    )
    p.add_argument(
        "--rounds",
        type=positive_int,
        default=8,
        help="rounds at most; round r has STARTS * 2^(r-1) new starts (default 8)",
    )
    p.add_argument(
        "--max-starts",
        type=positive_int,
        default=131_072,
        help="starts in all rounds at most (default 131072)",
    )
    p.add_argument("--seed", type=seed_int, default=0, help="seed of the starts (default 0)")
    p.add_argument(
        "--json",
        action="store_true",
        help="print a JSON list of {point, value, kind, index, eigenvalues, is_global}",
    )
    p.set_defaults(func=_critical)
