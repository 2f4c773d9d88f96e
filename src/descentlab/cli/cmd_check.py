"""``descentlab check``: is a trained network at a minimum, a saddle, a degenerate point, a
plateau, or descending? Prints the decision rule's numbers (thresholds, evidence, confidence)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from descentlab.cli.common import add_subcommand, parse_spec, print_json
from descentlab.errors import DescentlabError, InvalidParameterError


def register(sub: Any) -> None:
    p = add_subcommand(
        sub,
        "check",
        help=(
            "classify a trained network's weights: minimum, saddle (index), degenerate, "
            "plateau, descending"
        ),
        description=(
            "Load a run written by 'descentlab train' (summary.json + model.pt), rebuild its "
            "task and model, and run check_point on the full data. The rule and its numbers "
            "are printed: the gradient norm against max(grad-tol, noise-z x its sampling "
            "standard error from per-sample gradients), both ends of the Hessian spectrum with "
            "their uncertainties (dense when small, Lanczos otherwise), the curvature the "
            "gradient can hide tau = sqrt(2 rho |g|), the index, and a confidence statement. "
            "The batching does not change the verdict. Launched by torchrun (e.g. "
            "'torchrun --nproc-per-node 2 -m descentlab check --run-dir R'), every process "
            "takes every WORLD_SIZE-th sample, Hessian products and gradients are averaged "
            "over the processes (gloo), and only rank 0 prints."
        ),
        examples=[
            "descentlab check --run runs/moons",
            "torchrun --nproc-per-node 2 -m descentlab check --run-dir runs/moons --json",
            "descentlab check --run runs/moons --exact-below 0 --lanczos-max-steps 400 --json",
        ],
    )
    p.add_argument(
        "--run",
        "--run-dir",
        dest="run",
        required=True,
        help="folder written by 'descentlab train' (under torchrun write --run-dir: torchrun "
        "takes --run for its own --run-path)",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="batches for the per-batch spread (information only; the verdict does not use it)",
    )
    p.add_argument(
        "--grad-tol", type=float, default=1e-3, help="absolute floor of the gradient threshold"
    )
    p.add_argument(
        "--noise-z",
        type=float,
        default=2.0,
        help="standard errors of sampling noise a gradient may be and count as zero (0: off)",
    )
    p.add_argument(
        "--lanczos-max-steps", type=int, default=None, help="Lanczos step budget (default: auto)"
    )
    p.add_argument("--lanczos-tol", type=float, default=1e-6, help="Lanczos relative tolerance")
    p.add_argument("--k", type=int, default=5, help="eigenpairs at each end (Lanczos)")
    p.add_argument(
        "--exact-below", type=int, default=400, help="dense Hessian up to this many parameters"
    )
    p.add_argument("--threads", type=int, default=1, help="CPU threads for torch (default 1)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from descentlab.nn import check_point
    from descentlab.nn.tasks import build_model, get_task

    if args.threads < 1:
        raise InvalidParameterError(f"--threads must be >= 1, got {args.threads}")
    folder = Path(args.run)
    summary_path, model_path = folder / "summary.json", folder / "model.pt"
    for f in (summary_path, model_path):
        if not f.is_file():
            raise DescentlabError(f"{f} not found: --run must be a folder written by 'train'")
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        task_spec, model_spec = summary["task_spec"], summary["model"]
        l2, seed = float(summary.get("l2", 0.0)), int(summary.get("seed", 0))
    except (ValueError, KeyError, TypeError) as exc:
        raise DescentlabError(f"{summary_path} is not a train summary ({exc})") from None
    task_name, task_kw = parse_spec(task_spec, "task")
    task = get_task(task_name, **task_kw)
    model_name, model_kw = parse_spec(model_spec, "model")
    model = build_model(model_name, task, seed=seed, **model_kw)
    try:
        state = torch.load(model_path, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except Exception as exc:
        raise DescentlabError(f"cannot load {model_path}: {exc}") from None
    old = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    X, y, rank = task.X, task.y, _start_distributed()
    if rank is not None:  # this process's shard: every WORLD_SIZE-th sample
        world = torch.distributed.get_world_size()
        X, y = X[rank::world], y[rank::world]
    try:
        c = check_point(
            model,
            torch.nn.CrossEntropyLoss(),
            (X, y),
            batch_size=args.batch_size,
            grad_tol=args.grad_tol,
            noise_z=args.noise_z,
            lanczos_max_steps=args.lanczos_max_steps,
            lanczos_tol=args.lanczos_tol,
            k=args.k,
            exact_below=args.exact_below,
            weight_decay=l2,
        )
    finally:
        torch.set_num_threads(old)
        if rank is not None:
            torch.distributed.destroy_process_group()
    if rank:  # only rank 0 prints
        return 0
    if args.json:
        print_json(c.to_dict())
    else:
        print(f"{folder}: {model_spec} on {task_spec}")
        print(str(c))
    return 0


def _start_distributed() -> int | None:
    """Under torchrun (``WORLD_SIZE`` > 1): join the process group (gloo) and return the rank."""
    import os

    import torch

    if int(os.environ.get("WORLD_SIZE", "1") or 1) <= 1:
        return None
    if not torch.distributed.is_available():
        raise DescentlabError("launched with WORLD_SIZE > 1 but torch.distributed is unavailable")
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group("gloo")
    return int(torch.distributed.get_rank())
