"""``descentlab demo``: race five optimizers on a landscape with a saddle, say who ended where."""

from __future__ import annotations

import argparse
from typing import Any

from descentlab.cli.common import add_subcommand, print_json


def _demo(args: argparse.Namespace) -> int:
    from descentlab.viz.demo import (
        DEMO_LANDSCAPE,
        DEMO_START_NAMES,
        DEMO_STARTS,
        DEMO_STEPS,
        describe_optimizers,
        run_demo,
    )

    res = run_demo(
        args.out,
        animation=not args.no_animation,
        basins=not args.no_basins,
        fmt=args.format,
        progress=None if not args.json else False,
    )
    if args.json:
        print_json(res.to_dict())
        return 0
    from descentlab.i18n import t

    starts = ", ".join(
        f"{n} = ({s[0]:.6g}, {s[1]:.6g})"
        for n, s in zip(DEMO_START_NAMES, DEMO_STARTS, strict=True)
    )
    print(t("demo.title", landscape=DEMO_LANDSCAPE))
    print(t("demo.starts", starts=starts, steps=DEMO_STEPS))
    print(t("demo.optimizers", optimizers="; ".join(describe_optimizers())) + "\n")
    print(res.table())
    print()
    for line in res.story():
        print(line)
    print()
    print(t("demo.lesson"))
    print(t("demo.note"))
    print("\n" + t("demo.wrote", n=len(res.files), out=args.out, seconds=res.seconds))
    for path in res.files.values():
        print(f"  {path}")
    return 0


def register(sub: Any) -> None:
    p = add_subcommand(
        sub,
        "demo",
        "Race GD, momentum, Adam, Newton and perturbed GD past a saddle; print who ended where.",
        [
            "descentlab demo",
            "descentlab demo --out figures --format svg",
            "descentlab demo --no-animation --json",
        ],
        description=(
            "On tilted_double_well (one global minimum, one local minimum, one saddle) race five "
            "optimizers from two telling starts: A, on the saddle's stable manifold, where plain "
            "gradient descent stalls at the saddle and Newton's method is drawn to it while "
            "momentum, Adam and perturbed GD reach the global minimum; and B, in the local "
            "minimum's basin. Prints the diagnosis of every run and writes the two teaching "
            "figures, the race (contour, surface, loss curves, basin map) and its animation."
        ),
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        default="descentlab-out",
        help="output folder (default: ./descentlab-out)",
    )
    p.add_argument("--format", choices=["png", "svg"], default="png", help="figure format")
    p.add_argument("--no-animation", action="store_true", help="skip the race animation")
    p.add_argument("--no-basins", action="store_true", help="skip the basin map (31x31 starts)")
    p.add_argument("--json", action="store_true", help="print the runs and files as JSON")
    p.set_defaults(func=_demo)
