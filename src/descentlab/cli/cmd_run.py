"""``descentlab run``: race optimizers from many starts and say why each run stopped."""

from __future__ import annotations

import argparse
from typing import Any

from descentlab.cli.common import (
    add_landscape_arguments,
    add_subcommand,
    coupling_notices,
    format_table,
    landscape_from_args,
    nonneg_int,
    number,
    parse_floats,
    parse_optimizer,
    parse_spec,
    positive_int,
    print_json,
    print_notices,
    seed_int,
    starts_from_args,
    step_count,
)
from descentlab.limits import check_run, check_schedule_length

DEFAULT_STEPS = 1000
DEFAULT_MAX_ROWS = 50


def _record_every(args: argparse.Namespace, n_rows: int, dim: int) -> int:
    """The asked record interval, or the smallest that keeps the records within the budget."""
    from descentlab.engine import DEFAULT_MAX_MEMORY
    from descentlab.loop.recorder import auto_record_every

    if args.record_every is not None:
        return args.record_every
    return auto_record_every(n_rows, dim, args.steps, budget=DEFAULT_MAX_MEMORY)


def _point(p: Any) -> list[float]:
    return [float(x) for x in p]


def _coord(x: float) -> str:
    return "0" if abs(x) < 1e-12 else f"{x:.4g}"


def _outcome_words(o: Any) -> str:
    from descentlab.analysis.outcomes import OUTCOME_LABELS

    cp = o.critical_point
    # critical points found numerically carry rounding noise such as 3e-34 for an exact zero
    where = "" if cp is None else " (" + ", ".join(_coord(x) for x in cp.point) + ")"
    word = OUTCOME_LABELS[o.kind]
    if o.kind == "local_minimum":
        gap = "" if o.gap is None else f", gap {o.gap:.4g}"
        return f"{word}{where}{gap}"
    if o.kind == "saddle":
        return f"{word}{where}, index {o.index}"
    if o.kind == "diverged":
        return f"{word} at step {o.step}"
    if o.kind == "plateau":
        return f"stalled on a {word}"
    if o.kind == "max_steps":
        return f"{word} (out of steps)"
    return f"{word}{where}"


def _run(args: argparse.Namespace) -> int:
    from descentlab.analysis.diagnose import diagnose
    from descentlab.analysis.outcomes import OUTCOME_LABELS
    from descentlab.engine import run
    from descentlab.trajectory import Race

    landscape = landscape_from_args(args)
    starts = starts_from_args(args, landscape)
    optimizers = [parse_optimizer(s) for s in args.optimizer]
    schedule = parse_spec(args.schedule, "schedule") if args.schedule else None
    lrs = parse_floats(args.lrs, "--lrs") if args.lrs else None
    n_rows = len(starts) * (len(lrs) if lrs else 1)
    check_run(n_rows, landscape.dim, args.steps)  # sizes against the limits, before building
    if schedule is not None:
        check_schedule_length(schedule[0], schedule[1], args.steps)
    print_notices(coupling_notices(optimizers, n_rows))
    result = run(
        landscape,
        list(optimizers),
        starts,
        args.steps,
        schedule=schedule,
        lrs=lrs,
        record_every=_record_every(args, n_rows, landscape.dim),
        grad_tol=args.grad_tol,
        bound=args.bound,
        seed=args.seed,
    )
    assert isinstance(result, Race)
    diagnoses = diagnose(result, landscape)

    if args.save:
        if len(result) == 1:
            next(iter(result.values())).save(args.save)
        else:
            result.save(args.save)
    if args.csv:
        result.to_csv(args.csv)

    runs = []
    outcomes = []
    for label, tr in result.items():
        for o in diagnoses[label]:
            outcomes.append(o)
            i = o.row
            runs.append(
                {
                    "optimizer": label,
                    "start": _point(tr.starts[i]),
                    "end": _point(tr.final_points[i]),
                    "loss": float(tr.final_losses[i]),
                    "steps": int(tr.stop_step[i]),
                    "lr": float(tr.row_lr[i]),
                    "outcome": {
                        "kind": o.kind,
                        "index": o.index,
                        "gap": o.gap,
                        "step": o.step,
                        "text": o.text,
                    },
                }
            )
    if args.json:
        print_json(runs)
        return 0

    head = ["optimizer", "start", "end", "loss", "steps"]
    if lrs:
        head.append("lr")
    head.append("outcome")
    if args.explain:
        head.append("what happened")
    rows = []
    for r, o in zip(runs, outcomes, strict=True):
        row = [r["optimizer"], r["start"], r["end"], r["loss"], r["steps"]]
        if lrs:
            row.append(r["lr"])
        row.append(_outcome_words(o))
        if args.explain:
            row.append(o.text)
        rows.append(row)
    shown = rows if args.max_rows == 0 else rows[: args.max_rows]
    print(format_table(head, shown))
    if len(shown) < len(rows):
        print(f"... {len(rows) - len(shown)} more rows (use --max-rows 0, --json or --csv for all)")
    print()
    for label, d in diagnoses.items():
        counts = ", ".join(f"{OUTCOME_LABELS[k]} {v}" for k, v in d.counts().items() if v)
        print(f"{label}: {counts}")
    notes = next(iter(diagnoses.values())).notes
    for note in notes:
        print(f"note: outcomes compared with {note}" if note[0].islower() else f"note: {note}")
    return 0


def register(sub: Any) -> None:
    p = add_subcommand(
        sub,
        "run",
        "Race optimizers from many starts at once and say why each run stopped.",
        [
            "descentlab run --landscape tilted_double_well --optimizer gd:lr=0.01 "
            "--starts grid:5x5 --steps 2000",
            "descentlab run --landscape double_well --optimizer newton --optimizer gd:lr=0.05 "
            "--start 0.3,0.5 --start -0.4,-0.2 --steps 500",
            'descentlab run --formula "x**4 - 2*x**2 + y**2" --domain -2,2,-2,2 '
            "--optimizer adam:lr=0.01 --optimizer momentum:lr=0.01,momentum=0.9 "
            "--starts random:100 --steps 500 --schedule cosine:T_max=500 --json",
            "descentlab run --landscape rosenbrock --optimizer gd --lrs 0.0001,0.001,0.01 "
            "--start -1.5,2 --steps 5000 --save runs.npz --csv runs.csv",
        ],
        description=(
            "Run every optimizer from every start at once (all starts in one batched tensor) and "
            "diagnose each run's end: global minimum, local minimum (with its gap to the global "
            "value), saddle (with its index), maximum, degenerate point, plateau, diverged (with "
            "its step) or still moving when the steps ran out. Rows stop when the gradient norm "
            "falls below --grad-tol (by default never for optimizers that escape critical "
            "points), diverge when the value or gradient is not finite or the point's norm "
            "passes --bound, and are otherwise run for --steps steps."
        ),
    )
    add_landscape_arguments(
        p, "box of a --formula (for grid/random starts and the critical-point search)"
    )
    p.add_argument(
        "--optimizer",
        action="append",
        required=True,
        metavar="NAME[:key=value,...]",
        help="an optimizer with hyper-parameters, e.g. adam:lr=0.01 (repeat to race several; "
        "an unknown name lists the valid ones)",
    )
    starts = p.add_mutually_exclusive_group()
    starts.add_argument(
        "--start",
        action="append",
        metavar="X,Y,...",
        help="one start point (repeatable)",
    )
    starts.add_argument(
        "--starts",
        metavar="grid:NxM|random:N",
        help="a grid over the domain (grid:20x20, or grid:20 per axis) or N uniform random "
        "starts (random:100); default grid:5",
    )
    p.add_argument(
        "--steps",
        type=step_count,
        default=DEFAULT_STEPS,
        help=f"steps per run (default {DEFAULT_STEPS})",
    )
    p.add_argument("--schedule", metavar="NAME[:key=value,...]", help="e.g. cosine:T_max=500")
    p.add_argument(
        "--lrs",
        metavar="LR,LR,...",
        help="a learning-rate grid: every start runs with every rate (one row group per rate)",
    )
    p.add_argument(
        "--record-every",
        type=positive_int,
        default=None,
        help="record positions every k steps (default 1, or what keeps records under 256 MiB)",
    )
    p.add_argument(
        "--grad-tol",
        type=number,
        default=None,
        help="a row converges when its gradient norm is at most this (0 = never). Default: "
        "1e-8, and no gradient stop for optimizers that move where the gradient vanishes "
        "(perturbed_gd, noisy_gd, cubic_newton), as in the library's run",
    )
    p.add_argument(
        "--bound",
        type=number,
        default=1e6,
        help="a row diverges when its point's Euclidean norm passes this (default 1e6)",
    )
    p.add_argument("--seed", type=seed_int, default=0, help="seed for random starts and noise")
    p.add_argument("--save", metavar="FILE.npz", help="save the trajectories (.npz)")
    p.add_argument("--csv", metavar="FILE", help="write every recorded step of every run as CSV")
    p.add_argument(
        "--max-rows",
        type=nonneg_int,
        default=DEFAULT_MAX_ROWS,
        help=f"table rows to print (default {DEFAULT_MAX_ROWS}; 0 = all)",
    )
    p.add_argument("--explain", action="store_true", help="add each run's story to the table")
    p.add_argument(
        "--json",
        action="store_true",
        help='print a JSON list of {"optimizer", "start", "end", "loss", "steps", "lr", '
        '"outcome": {"kind", "index", "gap", "step", "text"}}',
    )
    p.set_defaults(func=_run)
