"""``descentlab experiment NAME`` and ``descentlab report``: four claims, measured."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from descentlab.cli.common import add_subcommand, print_json


def _experiment(args: argparse.Namespace) -> int:
    from descentlab.experiments import run_experiment
    from descentlab.experiments.report import experiment_markdown
    from descentlab.io import write_text

    folder = Path(args.out) / args.name
    result = run_experiment(args.name, quick=args.quick, out=folder)
    # the same text as a file beside the figures, its links relative to that folder
    md_path = write_text(
        folder / f"{result.name}.md", experiment_markdown(result, link_base=folder)
    )
    if args.json:
        print_json({**result.to_dict(), "markdown": str(md_path)})
        return 0
    print(experiment_markdown(result))  # links relative to the working folder, where it was run
    print(f"markdown: {md_path}")
    if result.figures:
        print("figures:")
        for path in result.figures.values():
            print(f"  {path}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from descentlab.experiments import experiment_names, run_experiment
    from descentlab.experiments.report import write_report

    out = Path(args.out)
    names = args.only or experiment_names()
    results = []
    status = sys.stderr if args.json else sys.stdout  # with --json, stdout is the JSON only
    for name in names:
        print(f"running {name}{' (quick)' if args.quick else ''} ...", file=status, flush=True)
        results.append(run_experiment(name, quick=args.quick, out=out / name))
        print(f"  {results[-1].verdict} in {results[-1].seconds:.1f} s", file=status, flush=True)
    paths = write_report(results, out)
    if args.json:
        print_json(
            {
                "report": {k: str(v) for k, v in paths.items()},
                "experiments": [r.to_dict() for r in results],
            }
        )
    else:
        print(f"report: {paths['html']}\nmarkdown: {paths['markdown']}")
    return 0


def register(sub: Any) -> None:
    p = add_subcommand(
        sub,
        "experiment",
        "Run one claim about gradient descent as an experiment: numbers, figures, a verdict.",
        [
            "descentlab experiment nonconvexity --quick",
            "descentlab experiment escape --out results --json",
        ],
    )
    p.add_argument(
        "name", help="experiment name: nonconvexity, newton-vs-gd, saddles-dominate, escape"
    )
    p.add_argument("--quick", action="store_true", help="small sizes: under a minute")
    p.add_argument(
        "--out", default="descentlab-out", help="output folder (default: descentlab-out)"
    )
    p.add_argument("--json", action="store_true", help="print the key numbers as JSON")
    p.set_defaults(func=_experiment)

    r = add_subcommand(
        sub,
        "report",
        "Run every experiment and write one self-contained HTML report (and Markdown).",
        ["descentlab report --quick", "descentlab report --out report-dir"],
    )
    r.add_argument(
        "--quick", action="store_true", help="small sizes: about a minute per experiment"
    )
    r.add_argument("--out", default="descentlab-out/report", help="output folder")
    r.add_argument("--only", action="append", metavar="NAME", help="run only these experiments")
    r.add_argument("--json", action="store_true", help="print paths and key numbers as JSON")
    r.set_defaults(func=_report)
