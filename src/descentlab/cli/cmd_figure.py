"""``descentlab figure KIND``: draw one figure (PNG or SVG) and say where it went."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from descentlab.cli.common import (
    add_subcommand,
    allow_negative_values,
    coupling_notices,
    dimension,
    landscape_from_args,
    nonneg_int,
    number,
    parse_floats,
    parse_optimizer,
    print_json,
    print_notices,
    seed_int,
    starts_from_args,
)
from descentlab.errors import InvalidParameterError

KINDS = {
    "gradient-descent": "the 1-D picture: gradient-descent steps as arrows on a curve",
    "critical-points": "a surface with its global minimum, local minimum and saddle",
    "contour": "contour map with the optimizers' paths and labelled critical points",
    "surface": "3-D surface with the optimizers' paths and labelled critical points",
    "curves": "loss and gradient norm per optimizer against the step (log scale)",
    "basins": "a grid of starts coloured by where each optimizer took them",
    "lr-sweep": "outcome shares and final loss against the learning rate",
    "animation": "the race as an animated GIF (MP4 too when ffmpeg is on PATH)",
}
RACE_KINDS = ("contour", "surface", "curves", "basins", "animation")
DEFAULT_LANDSCAPE = {"gradient-descent": "nonconvex_curve"}
DEFAULT_OPTIMIZERS = ["gd:lr=0.03", "momentum:lr=0.05,momentum=0.9", "adam:lr=0.05"]
DEFAULT_STARTS = {"basins": "grid:31", "lr-sweep": "grid:11"}
STORY_KINDS = ("contour", "surface", "curves", "animation")  # default starts: the demo's A, B
DEFAULT_LRS = "0.001,0.003,0.01,0.03,0.1,0.3"


def _landscape(args: argparse.Namespace) -> Any:
    if args.landscape is None and args.formula is None:
        args.landscape = DEFAULT_LANDSCAPE.get(args.kind, "tilted_double_well")
    return landscape_from_args(args)


def _starts(args: argparse.Namespace, landscape: Any) -> Any:
    if not args.start and args.starts is None:
        if args.kind in STORY_KINDS and landscape.name == "tilted_double_well":
            # the demo's two telling starts: A on the saddle's stable manifold, B in the local
            # minimum's basin; random starts sent momentum out of the frame and back as a tangle
            from descentlab.viz.demo import DEMO_STARTS

            args.start = [f"{x!r},{y!r}" for x, y in DEMO_STARTS]
        else:
            args.starts = DEFAULT_STARTS.get(args.kind, "random:4")
    return starts_from_args(args, landscape)


def _optimizers(args: argparse.Namespace) -> list[tuple[Any, dict[str, Any]]]:
    specs = args.optimizer or DEFAULT_OPTIMIZERS
    return [parse_optimizer(s) for s in specs]


def _figure(args: argparse.Namespace) -> int:
    from descentlab.viz import save_figure

    kind = args.kind
    L = _landscape(args)
    out = Path(args.out)
    stem = f"{kind}-{L.name}"
    written: list[Path] = []
    if kind == "gradient-descent":
        from descentlab.viz.seed import gradient_descent_figure

        start = None
        if args.start:
            if len(args.start) != 1:
                raise InvalidParameterError("gradient-descent takes one --start W")
            (start,) = parse_floats(args.start[0], "--start", 1)
        fig = gradient_descent_figure(
            L, start=start, lr=args.lr, steps=10 if args.steps is None else args.steps
        )
        written.append(save_figure(fig, out / f"{stem}.{args.format}"))
    elif kind == "critical-points":
        from descentlab.viz.seed import critical_points_figure

        written.append(save_figure(critical_points_figure(L), out / f"{stem}.{args.format}"))
    elif kind == "lr-sweep":
        written.append(_lr_sweep(args, L, out / f"{stem}.{args.format}"))
    else:
        written += _race_figure(args, L, out, stem)
    if args.json:
        print_json({"kind": kind, "landscape": L.name, "files": [str(p) for p in written]})
    else:
        for p in written:
            print(f"wrote {p}")
    return 0


def _race_figure(args: argparse.Namespace, L: Any, out: Path, stem: str) -> list[Path]:
    from descentlab.engine import run
    from descentlab.viz import save_figure

    if L.dim != 2 and args.kind != "curves":
        raise InvalidParameterError(
            f"figure {args.kind} needs a 2-D landscape; {L.name} has dimension {L.dim}"
        )
    starts = _starts(args, L)
    optimizers = _optimizers(args)
    print_notices(coupling_notices(optimizers, len(starts)))
    race = run(
        L,
        optimizers,
        starts,
        steps=300 if args.steps is None else args.steps,
        seed=args.seed,
        progress=False if args.json else None,
    )
    kind = args.kind
    if kind == "animation":
        from descentlab.viz.animate import animate_race, ffmpeg_available

        paths = [animate_race(L, race, out / f"{stem}.gif", progress=False if args.json else None)]
        if ffmpeg_available():
            paths.append(
                animate_race(L, race, out / f"{stem}.mp4", progress=False if args.json else None)
            )
        return paths
    if kind == "contour":
        from descentlab.viz.landscape import plot_contour

        fig = plot_contour(L, race)
    elif kind == "surface":
        from descentlab.viz.landscape import plot_surface

        fig = plot_surface(L, race)
    elif kind == "curves":
        from descentlab.viz.curves import plot_curves

        fig = plot_curves(race, landscape=L)
    else:
        from descentlab.viz.basins import plot_basins

        fig = plot_basins(L, race)
    return [save_figure(fig, out / f"{stem}.{args.format}")]


def _lr_sweep(args: argparse.Namespace, L: Any, path: Path) -> Path:
    from descentlab.engine import run
    from descentlab.viz import save_figure
    from descentlab.viz.sweep import plot_lr_sweep

    opts = _optimizers(args) if args.optimizer else [("gd", {})]
    if len(opts) != 1:
        raise InvalidParameterError("lr-sweep takes one --optimizer (the rate is swept)")
    name, hyper = opts[0]
    if "lr" in hyper:
        raise InvalidParameterError("lr-sweep sweeps the learning rate: give --lrs, not lr=")
    lrs = parse_floats(args.lrs or DEFAULT_LRS, "--lrs")
    if not lrs or any(v <= 0 for v in lrs):
        raise InvalidParameterError(f"--lrs must be positive numbers, got {args.lrs!r}")
    tr = run(
        L,
        (name, hyper),
        _starts(args, L),
        steps=300 if args.steps is None else args.steps,
        lrs=lrs,
        seed=args.seed,
        progress=False if args.json else None,
    )
    return save_figure(plot_lr_sweep(L, tr), path)


def register(sub: Any) -> None:
    kinds = "\n".join(f"  {k:<17} {v}" for k, v in KINDS.items())
    p = add_subcommand(
        sub,
        "figure",
        "Draw a figure: the two teaching pictures, or a race on any 2-D landscape.",
        [
            "descentlab figure gradient-descent",
            "descentlab figure critical-points --format svg",
            "descentlab figure contour --landscape himmelblau --optimizer gd:lr=0.01 "
            "--optimizer adam:lr=0.05 --starts random:6",
            "descentlab figure basins --landscape double_well --starts grid:41",
            "descentlab figure lr-sweep --landscape rosenbrock --optimizer gd --lrs 1e-4,1e-3,2e-3",
            "descentlab figure animation --start 0.19,-0.5 --json",
        ],
        description="Draw one figure and write it to --out (atomically).\n\nKinds:\n" + kinds,
    )
    allow_negative_values(p)
    p.add_argument("kind", choices=list(KINDS), metavar="KIND", help="one of: " + ", ".join(KINDS))
    src = p.add_mutually_exclusive_group()
    src.add_argument(
        "--landscape",
        metavar="NAME[:key=value,...]",
        help="a catalogue landscape (default: tilted_double_well; nonconvex_curve for "
        "gradient-descent)",
    )
    src.add_argument("--formula", metavar="EXPR", help='a formula, e.g. "x**4 - 2*x**2 + y**2"')
    p.add_argument("--param", action="append", metavar="KEY=VALUE", help="a landscape parameter")
    p.add_argument("--dim", type=dimension, help="dimension of a --formula")
    p.add_argument("--domain", metavar="LO,HI[,...]", help="box of a --formula")
    p.add_argument(
        "--optimizer",
        action="append",
        metavar="NAME[:key=value,...]",
        help="an optimizer to race (repeatable; default: " + ", ".join(DEFAULT_OPTIMIZERS) + ")",
    )
    starts = p.add_mutually_exclusive_group()
    starts.add_argument("--start", action="append", metavar="X,Y", help="a start (repeatable)")
    starts.add_argument(
        "--starts",
        metavar="grid:NxM|random:N",
        help="starts: a grid over the domain or N random ones (default: the demo's starts A and "
        "B on tilted_double_well, else random:4; grid:31 for basins, grid:11 for lr-sweep)",
    )
    p.add_argument(
        "--steps", type=nonneg_int, help="steps per run (default 300; 10 for gradient-descent)"
    )
    p.add_argument("--lr", type=number, help="learning rate of the gradient-descent figure")
    p.add_argument("--lrs", metavar="LR,LR,...", help=f"rates for lr-sweep (default {DEFAULT_LRS})")
    p.add_argument("--seed", type=seed_int, default=0, help="seed for random starts and noise")
    p.add_argument("--out", metavar="DIR", default="descentlab-out", help="output folder")
    p.add_argument("--format", choices=["png", "svg"], default="png", help="figure format")
    p.add_argument("--json", action="store_true", help="print the written paths as JSON")
    p.set_defaults(func=_figure)
