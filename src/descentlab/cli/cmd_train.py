"""``descentlab train``: train a small network on a built-in task and say where it ended."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from descentlab.cli.common import (
    add_subcommand,
    optimizer_from_spec,
    parse_spec,
    print_json,
    seed_int,
)
from descentlab.errors import InvalidParameterError

FORMATS = ("png", "svg")


def register(sub: Any) -> None:
    p = add_subcommand(
        sub,
        "train",
        help="train a small network on a built-in task; write curves, boundary, monitor, verdict",
        description=(
            "Train an MLP/CNN on a task generated in code (xor, moons, spirals, blobs; digits "
            "with scikit-learn) with any registered optimizer. Writes the loss curve, the "
            "decision regions (2-D tasks), the training monitor's record and figure, "
            "landscape slices (random filter-normalised plane, Hessian eigenvector lines, "
            "PCA plane of the path), the Hessian eigenvalue density (SLQ) and check_point's "
            "verdict on the final weights: minimum, saddle (with index), plateau or still "
            "descending."
        ),
        examples=[
            "descentlab train --task moons --model mlp:hidden=16 --optimizer adam:lr=0.01 "
            "--steps 500 --out runs/moons",
            "descentlab train --task spirals:n=400 --model 'mlp:hidden=32;32,act=relu' "
            "--optimizer momentum:lr=0.1,momentum=0.9 --steps 2000 --batch-size 64 --out runs/sp",
            "descentlab train --task xor --model mlp:hidden=2 --optimizer lbfgs --steps 30 "
            "--l2 0.001 --out runs/xor --json",
        ],
    )
    p.add_argument("--task", default="moons", help="NAME[:key=value,...] (default: moons)")
    p.add_argument("--model", default="mlp:hidden=16", help="mlp|cnn|linear[:key=value,...]")
    p.add_argument("--optimizer", default="adam:lr=0.01", help="NAME[:key=value,...]")
    p.add_argument("--steps", type=int, default=500, help="optimizer steps (default: 500)")
    p.add_argument("--batch-size", type=int, default=None, help="mini-batch size (default: all)")
    p.add_argument("--l2", type=float, default=0.0, help="L2 penalty (l2/2)|θ|² in the loss")
    p.add_argument("--seed", type=seed_int, default=0, help="seed of the weights and batch order")
    p.add_argument("--monitor-every", type=int, default=50, help="steps between curvature probes")
    p.add_argument(
        "--out",
        metavar="DIR",
        default="descentlab-out",
        help="output folder (default: ./descentlab-out)",
    )
    p.add_argument("--format", default="png", choices=FORMATS, help="figure format")
    p.add_argument("--no-slices", action="store_true", help="skip the landscape slices")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads for torch (default: the global --threads, i.e. 1; small networks run "
        "fastest on one)",
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    threads = args.threads if args.threads is not None else torch.get_num_threads()
    if threads < 1:
        raise InvalidParameterError(f"--threads must be >= 1, got {threads}")
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _run(args)
    finally:
        torch.set_num_threads(old)


def _run(args: argparse.Namespace) -> int:
    import torch

    from descentlab.io import atomic_path, write_json
    from descentlab.nn import (
        HessianOperator,
        check_point,
        eigen_directions,
        random_directions,
        slice_1d,
        slq_density,
    )
    from descentlab.nn.slices import pca_path, slice_2d
    from descentlab.nn.tasks import build_model, get_task
    from descentlab.nn.training import train
    from descentlab.progress import stage
    from descentlab.viz import slices as figs

    if args.steps < 1:
        raise InvalidParameterError(f"--steps must be >= 1, got {args.steps}")
    if args.batch_size is not None and args.batch_size < 1:
        raise InvalidParameterError(f"--batch-size must be >= 1, got {args.batch_size}")
    if not args.l2 >= 0 or args.l2 == float("inf"):
        raise InvalidParameterError(f"--l2 must be a finite number >= 0, got {args.l2}")
    if args.monitor_every < 1:
        raise InvalidParameterError(f"--monitor-every must be >= 1, got {args.monitor_every}")
    task_name, task_kw = parse_spec(args.task, "task")
    task = get_task(task_name, **task_kw)
    model_name, model_kw = parse_spec(args.model, "model")
    model = build_model(model_name, task, seed=args.seed, **model_kw)
    opt = optimizer_from_spec(args.optimizer)
    out = Path(args.out)
    ext = args.format
    files: dict[str, str] = {}

    def put(key: str, path: Path) -> None:
        files[key] = str(path)

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(args.seed)  # dropout-free models; keeps any stochastic optimizer fixed
        result = train(
            model,
            task,
            opt,
            args.steps,
            batch_size=args.batch_size,
            l2=args.l2,
            seed=args.seed,
            monitor_every=args.monitor_every,
            monitor_window=max(4, min(50, args.steps // 5)),
            path_every=max(1, args.steps // 100),
        )
    mon = result.monitor
    put("monitor", mon.save(out / "monitor.json"))
    with atomic_path(out / "model.pt") as tmp:
        torch.save(model.state_dict(), tmp)
    put("model", out / "model.pt")
    figs.plot_loss_curves({"training objective": result.losses}, path=out / f"loss_curve.{ext}")
    put("loss_curve", out / f"loss_curve.{ext}")
    figs.plot_monitor(mon, path=out / f"monitor.{ext}")
    put("monitor_figure", out / f"monitor.{ext}")
    if task.is_2d:
        figs.plot_decision_boundary(
            model,
            task.X,
            task.y,
            title=f"Decision regions ({task.name})",
            path=out / f"decision_boundary.{ext}",
        )
        put("decision_boundary", out / f"decision_boundary.{ext}")

    data = (task.X, task.y)
    loss_fn = torch.nn.CrossEntropyLoss()
    check: dict[str, Any] | None = None
    verdict = None
    if result.diverged_at is None:
        stage("train: checking the final weights (gradient, Hessian spectrum)")
        c = check_point(model, loss_fn, data, weight_decay=args.l2, batch_size=min(len(task), 256))
        check = c.to_dict()
        verdict = c
        put("check", write_json(out / "check.json", check))
        if not args.no_slices:
            stage("train: slicing the landscape (random plane, eigenvectors, spectrum, PCA path)")
            d1, d2 = random_directions(model, 2, seed=args.seed)
            s2 = slice_2d(model, loss_fn, data, d1, d2, weight_decay=args.l2)
            figs.plot_slice_2d(
                s2,
                title="Loss on a random filter-normalised plane",
                log=True,
                path=out / f"slice_random_plane.{ext}",
            )
            put("slice_random_plane", out / f"slice_random_plane.{ext}")
            H = HessianOperator(model, loss_fn, data, weight_decay=args.l2)
            dens = slq_density(H, n_vectors=4, n_iter=min(H.n, 80), seed=args.seed)
            figs.plot_spectrum_density(dens, check=verdict, path=out / f"spectrum.{ext}")
            put("spectrum", out / f"spectrum.{ext}")
            e = eigen_directions(model, loss_fn, data, k=1, weight_decay=args.l2)
            lines = {
                f"{lab} (λ={val:.3g})": slice_1d(
                    model,
                    loss_fn,
                    data,
                    d,
                    torch.linspace(-1, 1, 41),
                    weight_decay=args.l2,
                    label=lab,
                )
                for lab, val, d in zip(e.labels, e.values, e.directions, strict=True)
            }
            figs.plot_slice_1d(
                lines,
                title="Loss along the top and bottom Hessian eigenvectors",
                path=out / f"slice_eigenvectors.{ext}",
            )
            put("slice_eigenvectors", out / f"slice_eigenvectors.{ext}")
            path = [
                *mon.path,
                torch.cat([p.detach().reshape(-1).double().cpu() for p in model.parameters()]),
            ]
            if len(path) >= 3:
                pca = pca_path(path)
                lo = pca.coords.min(0).values
                hi = pca.coords.max(0).values
                pad = 0.2 * (hi - lo).clamp_min(1e-3)
                surface = slice_2d(
                    model,
                    loss_fn,
                    data,
                    pca.directions[0],
                    pca.directions[1],
                    torch.linspace(float(lo[0] - pad[0]), float(hi[0] + pad[0]), 31),
                    torch.linspace(float(lo[1] - pad[1]), float(hi[1] + pad[1]), 31),
                    labels=("PC1", "PC2"),
                    weight_decay=args.l2,
                )
                figs.plot_pca_path(pca, surface, path=out / f"pca_path.{ext}")
                put("pca_path", out / f"pca_path.{ext}")
    summary = {
        "task": task.info(),
        "task_spec": args.task,
        "model": args.model,
        "n_params": sum(p.numel() for p in model.parameters()),
        "optimizer": opt.label,
        "steps": result.steps,
        "batch_size": args.batch_size,
        "l2": args.l2,
        "seed": args.seed,
        **result.to_dict(),
        "verdict": None if verdict is None else verdict.verdict,
        "verdict_summary": None if verdict is None else verdict.summary,
        "episodes": [e.to_dict() for e in mon.episodes],
        "files": files,
    }
    put("summary", out / "summary.json")
    summary["files"] = files
    write_json(out / "summary.json", summary)
    if args.json:
        print_json({**summary, "check": check})
        return 0
    print(
        f"trained {args.model} ({summary['n_params']} parameters) on {task.name} "
        f"({len(task)} samples) with {opt.label} for {result.steps} steps"
    )
    if result.diverged_at is not None:
        print(f"diverged at step {result.diverged_at} (loss not finite); no verdict")
    else:
        print(f"final loss {result.final_loss:.6g}, accuracy {100 * result.accuracy:.1f}%")
        print(str(verdict))
    for ep in mon.episodes:
        end = "end" if ep.end is None else ep.end
        print(f"monitor: {ep.kind} episode, steps {ep.start}..{end}")
    print(f"wrote {len(files)} files to {out}")
    return 0
