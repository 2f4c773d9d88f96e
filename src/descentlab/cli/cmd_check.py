"""``descentlab check``: is a trained network at a minimum, a saddle, a plateau, or descending?"""

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
        help="classify a trained network's weights: minimum, saddle (index), plateau, descending",
        description=(
            "Load a run written by 'descentlab train' (summary.json + model.pt), rebuild its "
            "task and model, and run check_point on the full data: gradient norm, both ends "
            "of the Hessian spectrum (dense when small, Lanczos otherwise), negative-curvature "
            "fraction, spread over batches, and the verdict."
        ),
        examples=[
            "descentlab check --run runs/moons",
            "descentlab check --run runs/moons --batch-size 50 --exact-below 0 --json",
        ],
    )
    p.add_argument("--run", required=True, help="folder written by 'descentlab train'")
    p.add_argument("--batch-size", type=int, default=None, help="batches for the spread")
    p.add_argument("--grad-tol", type=float, default=1e-3, help="stationarity threshold")
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
    try:
        c = check_point(
            model,
            torch.nn.CrossEntropyLoss(),
            (task.X, task.y),
            batch_size=args.batch_size,
            grad_tol=args.grad_tol,
            k=args.k,
            exact_below=args.exact_below,
            weight_decay=l2,
        )
    finally:
        torch.set_num_threads(old)
    if args.json:
        print_json(c.to_dict())
    else:
        print(f"{folder}: {model_spec} on {task_spec}")
        print(str(c))
    return 0
