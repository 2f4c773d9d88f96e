"""``descentlab lr-find``: the learning-rate range test on a landscape or a small network."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from descentlab.cli.common import (
    add_landscape_arguments,
    add_subcommand,
    format_table,
    landscape_from_args,
    nonneg_int,
    number,
    optimizer_from_spec,
    parse_spec,
    positive_int,
    print_json,
    seed_int,
    starts_from_args,
)
from descentlab.errors import InvalidParameterError

FORMATS = ("png", "svg")
DEFAULT_MAX_ROWS = 20


def register(sub: Any) -> None:
    p = add_subcommand(
        sub,
        "lr-find",
        help="learning-rate range test: raise the rate step by step, suggest where to train",
        description=(
            "Smith's learning-rate range test (2017): take --iters optimizer steps while the "
            "learning rate rises exponentially (or linearly) from --start-lr to --end-lr, record "
            "the loss after every step, smooth it (bias-corrected moving average, --beta) and "
            "stop once the smoothed loss passes --diverge-th times its best. Two suggestions: "
            "the rate where the smoothed loss falls fastest per decade (steepest descent), and "
            "a tenth of the rate at its minimum (minimum/10, as fastai). On a landscape every "
            "start runs its own test at once (same schedule) and the medians are reported; on "
            "a task, a copy of the model trains on the data (mini-batches with --batch-size)."
        ),
        examples=[
            "descentlab lr-find --landscape himmelblau --optimizer momentum:momentum=0.9",
            'descentlab lr-find --formula "x**4 - 2*x**2 + y**2" --domain -2,2,-2,2 '
            "--optimizer adam --starts random:50 --iters 200 --out runs/lr --json",
            "descentlab lr-find --task moons --model mlp:hidden=16 --optimizer "
            "momentum:momentum=0.9 --start-lr 1e-6 --end-lr 10 --batch-size 32 --out runs/lr",
        ],
    )
    src = add_landscape_arguments(p, "box of a --formula (for the starts)")
    src.add_argument(
        "--task",
        metavar="NAME[:key=value,...]",
        help="a built-in classification task (xor, moons, spirals, blobs, digits)",
    )
    p.add_argument(
        "--model",
        default=None,
        metavar="NAME[:key=value,...]",
        help="with --task: mlp|cnn|linear[:key=value,...] (default mlp:hidden=16)",
    )
    p.add_argument(
        "--optimizer",
        default="gd",
        metavar="NAME[:key=value,...]",
        help="an optimizer with hyper-parameters (its lr is replaced by the test's), e.g. "
        "momentum:momentum=0.9 (default gd; an unknown name lists the valid ones)",
    )
    p.add_argument("--start-lr", type=number, default=1e-5, help="first rate (default 1e-5)")
    p.add_argument("--end-lr", type=number, default=10.0, help="last rate (default 10)")
    p.add_argument("--iters", type=positive_int, default=100, help="steps (default 100)")
    p.add_argument(
        "--mode", choices=("exp", "linear"), default="exp", help="rate spacing (default exp)"
    )
    p.add_argument(
        "--beta",
        type=number,
        default=0.98,
        help="smoothing of the loss curve, in [0, 1) (default 0.98; 0 = none)",
    )
    p.add_argument(
        "--diverge-th",
        type=number,
        default=5.0,
        help="stop when the smoothed loss passes this factor over its best (default 5; "
        "0 = stop only on a non-finite loss)",
    )
    p.add_argument(
        "--skip-start",
        type=nonneg_int,
        default=None,
        help="points left out at the start when suggesting (default iters // 10)",
    )
    p.add_argument(
        "--skip-end",
        type=nonneg_int,
        default=5,
        help="points left out at the end when suggesting (default 5)",
    )
    p.add_argument(
        "--loss-floor",
        type=number,
        default=None,
        help="with a landscape: the floor m of the divergence rule s - m > th (best - m) "
        "(default: the landscape's global minimum value when known, else 0)",
    )
    starts = p.add_mutually_exclusive_group()
    starts.add_argument(
        "--start", action="append", metavar="X,Y,...", help="one start point (repeatable)"
    )
    starts.add_argument(
        "--starts",
        metavar="grid:NxM|random:N",
        help="with a landscape: a grid over the domain or N uniform random starts (default grid:5)",
    )
    p.add_argument("--batch-size", type=positive_int, default=None, help="with --task")
    p.add_argument("--seed", type=seed_int, default=0, help="seed of starts, weights, noise")
    p.add_argument("--out", metavar="DIR", help="write lr_find.json and the figure here")
    p.add_argument("--format", default="png", choices=FORMATS, help="figure format")
    p.add_argument(
        "--max-rows",
        type=nonneg_int,
        default=DEFAULT_MAX_ROWS,
        help=f"landscape rows to print (default {DEFAULT_MAX_ROWS}; 0 = all)",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def _landscape_args_only(args: argparse.Namespace) -> None:
    if args.model is not None:
        raise InvalidParameterError("--model applies to --task, not to a landscape")
    if args.batch_size is not None:
        raise InvalidParameterError("--batch-size applies to --task, not to a landscape")


def _check_task_floor(args: argparse.Namespace) -> None:
    if args.loss_floor is not None:
        raise InvalidParameterError("--loss-floor applies to a landscape, not to --task")


def _task_args_only(args: argparse.Namespace) -> None:
    for flag, value in (
        ("--param", args.param),
        ("--dim", args.dim),
        ("--domain", args.domain),
        ("--start", args.start),
        ("--starts", args.starts),
    ):
        if value:
            raise InvalidParameterError(f"{flag} applies to a landscape, not to --task")


def run(args: argparse.Namespace) -> int:
    from descentlab.io import write_json
    from descentlab.optim.lr_finder import lr_find, lr_find_landscape
    from descentlab.viz import save_figure
    from descentlab.viz.lr_finder import plot_lr_finder

    if args.iters < 2:
        raise InvalidParameterError(f"--iters must be >= 2, got {args.iters}")
    settings = {
        "start_lr": args.start_lr,
        "end_lr": args.end_lr,
        "num_iter": args.iters,
        "mode": args.mode,
        "beta": args.beta,
        "diverge_th": None if args.diverge_th == 0 else args.diverge_th,
        "skip_start": args.skip_start,
        "skip_end": args.skip_end,
    }
    opt = optimizer_from_spec(args.optimizer)
    if args.task is not None:
        import torch

        from descentlab.nn.tasks import build_model, get_task

        _task_args_only(args)
        _check_task_floor(args)
        task_name, task_kw = parse_spec(args.task, "task")
        task = get_task(task_name, **task_kw)
        model_name, model_kw = parse_spec(args.model or "mlp:hidden=16", "model")
        model = build_model(model_name, task, seed=args.seed, **model_kw)
        result: Any = lr_find(
            model,
            torch.nn.CrossEntropyLoss(),
            (task.X, task.y),
            opt,
            batch_size=args.batch_size,
            seed=args.seed,
            **settings,
        )
        info = {"task": task.info(), "model": args.model or "mlp:hidden=16"}
    else:
        _landscape_args_only(args)
        landscape = landscape_from_args(args)
        starts = starts_from_args(args, landscape)
        result = lr_find_landscape(
            landscape, starts, opt, seed=args.seed, loss_floor=args.loss_floor, **settings
        )
        info = {"landscape": landscape.name}
    data = {**info, **result.to_dict()}
    files: dict[str, str] = {}
    if args.out:
        out = Path(args.out)
        fig = save_figure(plot_lr_finder(result), out / f"lr_find.{args.format}")
        files["figure"] = str(fig)
        files["json"] = str(out / "lr_find.json")
        data["files"] = files
        write_json(out / "lr_find.json", data)
    if args.json:
        print_json(data)
        return 0
    print(result.summary())
    if args.task is None and len(result.rows) > 1:
        _print_rows(result, args.max_rows)
    for key, path in files.items():
        print(f"wrote {key}: {path}")
    return 0


def _print_rows(result: Any, max_rows: int) -> None:
    rows = []
    for s, r in zip(result.starts, result.rows, strict=True):
        rows.append(
            [
                [float(x) for x in s],
                "-" if r.suggested_lr is None else r.suggested_lr,
                "-" if r.min_lr_over_10 is None else r.min_lr_over_10,
                "-" if r.stop_step is None else f"{r.stop_step} ({r.stop_reason})",
            ]
        )
    shown = rows if max_rows == 0 else rows[:max_rows]
    print()
    print(format_table(["start", "steepest lr", "minimum/10", "stopped at"], shown))
    if len(shown) < len(rows):
        print(f"... {len(rows) - len(shown)} more rows (use --max-rows 0 or --json for all)")
