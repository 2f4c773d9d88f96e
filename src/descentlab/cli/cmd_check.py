"""``descentlab check``: is a trained network at a minimum, a saddle, a degenerate point, a
plateau, or descending? Prints the decision rule's numbers (thresholds, evidence, confidence)."""

from __future__ import annotations

import argparse
import contextlib
import json
from pathlib import Path
from typing import Any

from descentlab.cli.common import add_subcommand, parse_spec, print_json
from descentlab.errors import DescentlabError, InvalidParameterError

USER_LOSSES = {"cross_entropy": "CrossEntropyLoss", "mse": "MSELoss"}


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
            "task and model -- or load your own model (--model FILE.py[:FUNCTION] --weights "
            "--data) -- and run check_point on the full data. The rule and its numbers "
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
            "descentlab check --model my_net.py:build_model --weights my_net.pt --data data.pt",
        ],
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--run",
        "--run-dir",
        dest="run",
        help="folder written by 'descentlab train' (under torchrun write --run-dir: torchrun "
        "takes --run for its own --run-path)",
    )
    src.add_argument(
        "--model",
        metavar="FILE.py[:FUNCTION]",
        help="your own model: a Python file whose FUNCTION (default build_model) takes no "
        "arguments and returns the nn.Module; needs --weights and --data",
    )
    p.add_argument(
        "--weights",
        metavar="FILE",
        help="with --model: a state_dict saved with torch.save, or a checkpoint dict holding "
        "one under 'state_dict', 'model_state_dict' or 'model'",
    )
    p.add_argument(
        "--data",
        metavar="FILE",
        help="with --model: the data, a .pt file holding (X, y) or {'X': ..., 'y': ...} "
        "(torch.save), or a .npz file with arrays X and y",
    )
    p.add_argument(
        "--loss",
        choices=sorted(USER_LOSSES),
        default="cross_entropy",
        help="with --model: the loss, batch mean (default cross_entropy)",
    )
    p.add_argument("--l2", type=float, default=0.0, help="with --model: L2 penalty (l2/2)|θ|²")
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
    from descentlab.progress import stage_after

    if args.threads < 1:
        raise InvalidParameterError(f"--threads must be >= 1, got {args.threads}")
    if args.model is not None:
        folder, model_spec, task_spec, model, loss_fn, data, l2 = load_user_model(args)
    else:
        folder, model_spec, task_spec, model, loss_fn, data, l2 = _load_train_run(args)
    old = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    (X, y), rank = data, _start_distributed()
    if rank is not None:  # this process's shard: every WORLD_SIZE-th sample
        world = torch.distributed.get_world_size()
        X, y = X[rank::world], y[rank::world]
    busy = stage_after(f"check: gradient and Hessian spectrum of {model_spec} ...", 2.0)
    done = False
    try:
        with busy if not rank else contextlib.nullcontext():  # rank 0 (or one process) reports
            c = check_point(
                model,
                loss_fn,
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
        done = True
    finally:
        torch.set_num_threads(old)
        if rank is not None:
            if done:  # every rank has finished its collectives before gloo is torn down
                torch.distributed.barrier()
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


def _load_train_run(args: argparse.Namespace) -> tuple[Any, ...]:
    """(folder, model spec, task spec, model, loss, data, l2) of a folder written by train."""
    import torch

    from descentlab.nn.tasks import build_model, get_task

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
    return folder, model_spec, task_spec, model, torch.nn.CrossEntropyLoss(), (task.X, task.y), l2


def load_user_model(args: argparse.Namespace) -> tuple[Any, ...]:
    """(file, builder, data file, model, loss, data, l2) for ``--model FILE.py[:FUNCTION]
    --weights FILE --data FILE``.

    The builder file is run as a module (your code, on your machine: the command line only;
    the web server never loads files) and ``FUNCTION()`` must return an ``nn.Module``. The
    weights and the data are read with ``torch.load(weights_only=True)`` (tensors and plain
    containers only, no pickled code) or, for ``.npz`` data, ``numpy.load(allow_pickle=False)``.
    """
    import importlib.util

    import torch

    for flag in ("weights", "data"):
        if getattr(args, flag) is None:
            raise InvalidParameterError(f"--model needs --{flag}")
    if not args.l2 >= 0 or args.l2 == float("inf"):
        raise InvalidParameterError(f"--l2 must be a finite number >= 0, got {args.l2}")
    file_text, _, func_name = args.model.partition(":")
    func_name = func_name or "build_model"
    path = Path(file_text)
    if path.suffix != ".py" or not path.is_file():
        raise InvalidParameterError(f"--model: {path} is not a Python file")
    spec = importlib.util.spec_from_file_location(f"descentlab_user_model_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise InvalidParameterError(f"--model: cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise DescentlabError(
            f"--model: running {path} failed: {type(exc).__name__}: {exc}"
        ) from None
    builder = getattr(module, func_name, None)
    if not callable(builder):
        raise InvalidParameterError(f"--model: {path} has no function {func_name!r}")
    try:
        model = builder()
    except Exception as exc:
        raise DescentlabError(
            f"--model: {func_name}() failed: {type(exc).__name__}: {exc}"
        ) from None
    if not isinstance(model, torch.nn.Module):
        raise InvalidParameterError(
            f"--model: {func_name}() must return a torch.nn.Module, got {type(model).__name__}"
        )
    model.load_state_dict(_read_state_dict(Path(args.weights), model))
    data = _read_data(Path(args.data))
    loss_fn = getattr(torch.nn, USER_LOSSES[args.loss])()
    return path, f"{func_name}()", args.data, model, loss_fn, data, float(args.l2)


def _read_state_dict(path: Path, model: Any) -> dict[str, Any]:
    import torch

    if not path.is_file():
        raise InvalidParameterError(f"--weights: {path} not found")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise DescentlabError(f"--weights: cannot read {path}: {exc}") from None
    if isinstance(obj, dict):
        for key in ("state_dict", "model_state_dict", "model"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise InvalidParameterError(
            f"--weights: {path} holds no state_dict (tensors by parameter name)"
        )
    want = model.state_dict()
    shapes = [k for k in want if k in obj and tuple(obj[k].shape) != tuple(want[k].shape)]
    if shapes:
        k = shapes[0]
        raise InvalidParameterError(
            f"--weights: {path} does not fit the model ({k}: {tuple(obj[k].shape)} in the file, "
            f"{tuple(want[k].shape)} in the model)"
        )
    if set(obj) != set(want):
        missing, extra = sorted(set(want) - set(obj)), sorted(set(obj) - set(want))
        raise InvalidParameterError(
            f"--weights: {path} does not fit the model (missing {missing[:5]}, "
            f"unexpected {extra[:5]})"
        )
    return obj


def _read_data(path: Path) -> tuple[Any, Any]:
    import numpy as np
    import torch

    if not path.is_file():
        raise InvalidParameterError(f"--data: {path} not found")
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                obj: Any = {k: torch.from_numpy(z[k]) for k in z.files}
        else:
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise DescentlabError(f"--data: cannot read {path}: {exc}") from None
    if isinstance(obj, dict) and {"X", "y"} <= set(obj):
        X, y = obj["X"], obj["y"]
    elif isinstance(obj, list | tuple) and len(obj) == 2:
        X, y = obj
    else:
        raise InvalidParameterError(
            f"--data: {path} must hold (X, y) or {{'X': ..., 'y': ...}} (arrays X and y in .npz)"
        )
    if not (isinstance(X, torch.Tensor) and isinstance(y, torch.Tensor)) or len(X) != len(y):
        raise InvalidParameterError("--data: X and y must be tensors of the same length")
    return X, y
