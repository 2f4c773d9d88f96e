"""``descentlab sweep SPEC`` runs a sweep into a DuckDB store; ``descentlab sweep show STORE``
summarises one."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from descentlab.cli.common import add_subcommand, positive_int, print_json
from descentlab.errors import InvalidParameterError


def _default_store(spec_path: str) -> Path:
    return Path(spec_path).with_suffix(".duckdb")


def _run(args: argparse.Namespace) -> int:
    from descentlab.sweeps import SweepStore, load_spec, run_sweep, write_summary

    if args.json_flag:
        raise InvalidParameterError("--json is for `descentlab sweep show STORE`")
    spec = load_spec(args.target)
    store_path = Path(args.store) if args.store else _default_store(args.target)
    with SweepStore(store_path) as store:
        report = run_sweep(
            spec,
            store,
            executor=args.executor,
            address=args.address,
            resume=args.resume,
            num_cpus=args.num_cpus,
            quiet=args.quiet,
        )
        print(
            f"{report.ran} cells run, {report.skipped} already finished, {report.total} in all "
            f"({report.wall_s:.1f} s, {report.executor}); store: {store_path}",
            file=sys.stderr,
        )
        _outputs(store, args, write_summary)
    return 0


def _outputs(store: Any, args: argparse.Namespace, write_summary: Any) -> None:
    if args.html:
        paths = write_summary(store, args.html)
        print(f"summary: {paths['html']}", file=sys.stderr)
    if args.parquet:
        for p in store.export_parquet(args.parquet):
            print(f"parquet: {p}", file=sys.stderr)


def _show(args: argparse.Namespace) -> int:
    from descentlab.sweeps import SweepData, SweepStore, summarize, write_summary
    from descentlab.sweeps.analysis import summary_text

    with SweepStore(args.target, read_only=True) as store:
        data = SweepData.from_store(store)
        if not data.runs:
            raise InvalidParameterError(f"{args.target} holds no finished cells yet")
        summary = summarize(data)
        if args.json_flag:
            print_json(summary)
        else:
            print(summary_text(summary))
        _outputs(store, args, write_summary)
    return 0


def _dispatch(args: argparse.Namespace) -> int:
    words = args.words
    if words and words[0] == "show":
        if len(words) != 2:
            raise InvalidParameterError("usage: descentlab sweep show STORE [--json]")
        args.target = words[1]
        for opt in ("resume", "store", "address", "num_cpus"):
            if getattr(args, opt) not in (None, False):
                raise InvalidParameterError(f"--{opt.replace('_', '-')} is for running a sweep")
        return _show(args)
    if len(words) != 1:
        raise InvalidParameterError(
            "usage: descentlab sweep SPEC.toml [options] | descentlab sweep show STORE [--json]"
        )
    args.target = words[0]
    return _run(args)


def register(sub: Any) -> None:
    p = add_subcommand(
        sub,
        "sweep",
        "Run a sweep (landscapes x optimizers x seeds, equal tuning budget) into a DuckDB "
        "store, or summarise one.",
        [
            "descentlab sweep examples/saddle_sweep.toml",
            "descentlab sweep examples/saddle_sweep.toml --resume --html sweep_report",
            "descentlab sweep spec.toml --executor ray --address auto",
            "descentlab sweep show examples/saddle_sweep.duckdb --json",
        ],
        description=(
            "descentlab sweep SPEC runs every cell of the TOML spec not yet in the store (one "
            "transaction per finished cell; Ctrl-C leaves no half-written cell; --resume goes "
            "on). descentlab sweep show STORE prints the analysis: tuned best configuration per "
            "optimizer, outcome shares, runtime ECDF. On a Ray cluster: start Ray on the nodes "
            "(`ray start --head` / `ray start --address HEAD:6379`), install descentlab[ray] on "
            "each, then pass --executor ray --address auto from a node (or ray://HEAD:10001)."
        ),
    )
    p.add_argument("words", nargs="+", metavar="SPEC | show STORE")
    p.add_argument("--store", help="the DuckDB file (default: the spec's path with .duckdb)")
    p.add_argument("--resume", action="store_true", help="go on with a store's finished cells")
    p.add_argument("--executor", choices=("local", "ray"), default="local")
    p.add_argument("--address", help="Ray cluster address (default: a local Ray instance)")
    p.add_argument("--num-cpus", type=positive_int, help="CPUs of a local Ray instance")
    p.add_argument("--quiet", action="store_true", help="no per-cell progress lines on stderr")
    p.add_argument("--html", metavar="DIR", help="write summary.html/.json and figures to DIR")
    p.add_argument("--parquet", metavar="DIR", help="export cells, runs and spec as Parquet")
    p.add_argument("--json", dest="json_flag", action="store_true", help="(show) print JSON")
    p.set_defaults(func=_dispatch)
