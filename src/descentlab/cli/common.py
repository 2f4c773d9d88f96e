"""Helpers shared by the CLI commands: spec parsing, JSON output, tables."""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from descentlab.errors import InvalidParameterError
from descentlab.formatting import format_table  # noqa: F401  (re-exported for the commands)
from descentlab.io import to_jsonable
from descentlab.limits import INT64_MAX, check_size, check_spec_integers
from descentlab.validate import check_seed


def add_subcommand(
    sub: Any, name: str, help: str, examples: Sequence[str], description: str = ""
) -> argparse.ArgumentParser:
    """A subparser whose ``--help`` ends with examples."""
    epilog = "Examples:\n" + "\n".join(f"  {e}" for e in examples)
    return sub.add_parser(
        name,
        help=help,
        description=description or help,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def parse_value(text: str) -> Any:
    """A hyper-parameter value: int, float, bool, a tuple ``(a;b)``/``a;b``, or a bare word."""
    t = text.strip()
    low = t.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    if ";" in t:
        return tuple(parse_value(p) for p in t.strip("()[]").split(";") if p.strip())
    try:
        return int(t)
    except ValueError:
        pass
    try:
        return float(t)
    except ValueError:
        pass
    return t


def parse_spec(spec: str, what: str = "spec") -> tuple[str, dict[str, Any]]:
    """``"adam:lr=0.01,betas=0.9;0.99"`` -> ``("adam", {"lr": 0.01, "betas": (0.9, 0.99)})``."""
    name, sep, rest = spec.partition(":")
    name = name.strip()
    if not name:
        raise InvalidParameterError(f"empty {what} name in {spec!r}; expected NAME[:key=value,...]")
    params: dict[str, Any] = {}
    if sep and not rest.strip():
        raise InvalidParameterError(
            f"{what} {spec!r}: nothing after ':'; expected NAME[:key=value,...]"
        )
    for item in (p.strip() for p in rest.split(",") if sep):
        if not item:
            raise InvalidParameterError(
                f"{what} {spec!r}: empty item (a stray ','); expected key=value,key=value"
            )
        key, eq, val = item.partition("=")
        if not eq or not key.strip():
            raise InvalidParameterError(
                f"{what} {spec!r}: expected key=value, got {item!r} "
                "(several values are written a;b, e.g. betas=0.9;0.999)"
            )
        if key.strip() in params:
            raise InvalidParameterError(f"{what} {spec!r}: {key.strip()!r} is given twice")
        params[key.strip()] = parse_value(val)
    return name, check_spec_integers(params, f"{what} {spec!r}")


def parse_floats(text: str, what: str, n: int | None = None) -> list[float]:
    try:
        vals = [float(v) for v in text.replace(" ", "").split(",") if v != ""]
    except ValueError:
        raise InvalidParameterError(
            f"{what}: expected comma-separated numbers, got {text!r}"
        ) from None
    if n is not None and len(vals) != n:
        raise InvalidParameterError(f"{what}: expected {n} numbers, got {len(vals)} in {text!r}")
    if not all(math.isfinite(v) for v in vals):
        raise InvalidParameterError(f"{what}: numbers must be finite, got {text!r}")
    return vals


def print_json(obj: Any) -> None:
    json.dump(to_jsonable(obj), sys.stdout, indent=2, allow_nan=False)
    sys.stdout.write("\n")


# ---------------------------------------------------------------------------- argparse types
def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    return _int_at_least(text, 1, "a positive integer")


def nonneg_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    return _int_at_least(text, 0, "an integer >= 0")


def _int_at_least(text: str, minimum: int, what: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if v < minimum:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return v


def seed_int(text: str) -> int:
    """argparse type: a seed, an integer in ``[0, 2^63 - 1]`` (range-checked, never hashed)."""
    try:
        return check_seed(int(text))
    except (ValueError, InvalidParameterError):
        raise argparse.ArgumentTypeError(
            f"expected an integer between 0 and 2^63 - 1 = {INT64_MAX}, got {text!r}"
        ) from None


def dimension(text: str) -> int:
    """argparse type: a dimension, an integer in ``[1, limit dim]`` (see descentlab.limits)."""
    v = positive_int(text)
    try:
        return int(check_size("dim", v, param="--dim"))
    except InvalidParameterError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def step_count(text: str) -> int:
    """argparse type: a number of steps, ``0 <= steps <=`` the ``steps`` limit."""
    v = nonneg_int(text)
    try:
        return int(check_size("steps", v, param="--steps"))
    except InvalidParameterError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def number(text: str) -> float:
    """argparse type: any float."""
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def key_values(items: Sequence[str], option: str = "--param") -> dict[str, Any]:
    """Repeated ``key=value`` options (``--param dim=3 --param seed=1``) as a dict."""
    params: dict[str, Any] = {}
    for item in items:
        key, eq, val = item.partition("=")
        if not eq or not key.strip():
            raise InvalidParameterError(f"{option} expects key=value, got {item!r}")
        if key.strip() in params:
            raise InvalidParameterError(f"{option} {key.strip()!r} is given twice")
        params[key.strip()] = parse_value(val)
    return check_spec_integers(params, option)


_NEGATIVE_VALUES = re.compile(r"^-(\d|\.\d)[\d.,eE+\-]*$")


def allow_negative_values(parser: argparse.ArgumentParser) -> None:
    """Let ``--start -1,2`` / ``--domain -2,2,-1,1`` through as values: argparse otherwise takes
    any ``-...`` word that is not a plain negative number for an option."""
    parser._negative_number_matcher = _NEGATIVE_VALUES  # type: ignore[attr-defined]


def add_landscape_arguments(
    parser: argparse.ArgumentParser, domain_help: str
) -> argparse._MutuallyExclusiveGroup:
    """``--landscape NAME | --formula EXPR`` (required, exclusive), ``--param``, ``--dim`` and
    ``--domain``; negative numbers pass as values. Returns the exclusive group, so a command can
    add another source (e.g. ``--task``)."""
    allow_negative_values(parser)
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--landscape",
        metavar="NAME[:key=value,...]",
        help="a catalogue landscape (see `descentlab landscapes`)",
    )
    src.add_argument("--formula", metavar="EXPR", help='a formula, e.g. "x**4 - 2*x**2 + y**2"')
    parser.add_argument(
        "--param",
        action="append",
        metavar="KEY=VALUE",
        help="a landscape parameter, e.g. --param dim=3 (repeatable)",
    )
    parser.add_argument("--dim", type=dimension, help="dimension of a --formula (default: its own)")
    parser.add_argument("--domain", metavar="LO,HI[,...]", help=domain_help)
    return src


# ---------------------------------------------------------------------------- open optimizers
_DOTTED = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")


def import_optimizer_class(path: str) -> type:
    """The ``torch.optim.Optimizer`` subclass named by a dotted path (``torch_optimizer.Yogi``).

    The module is imported (that is the point: any installed optimizer package); the text is
    checked to be a dotted name first and is never evaluated. Command line only: the web server
    takes registered names alone.
    """
    if not _DOTTED.match(path):
        raise InvalidParameterError(
            f"optimizer {path!r}: expected a registered name or package.module.Class"
        )
    import importlib

    module_name, _, attr = path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or module_name
        raise InvalidParameterError(
            f"optimizer {path!r}: cannot import {missing!r}; is the package installed? "
            f"(e.g. pip install {missing.split('.')[0].replace('_', '-')})"
        ) from None
    except Exception as exc:  # a broken third-party module: say so in one line
        raise InvalidParameterError(
            f"optimizer {path!r}: importing {module_name!r} failed: {type(exc).__name__}: {exc}"
        ) from None
    cls = getattr(module, attr, None)
    if cls is None:
        raise InvalidParameterError(f"optimizer {path!r}: {module_name!r} has no {attr!r}")
    import torch

    if not (isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer)):
        raise InvalidParameterError(
            f"optimizer {path!r} is not a torch.optim.Optimizer subclass (got {type(cls).__name__})"
        )
    return cls


def parse_optimizer(text: str) -> tuple[Any, dict[str, Any]]:
    """``NAME[:key=value,...]`` -> ``(name, hyper)`` for a registered name, or ``(class, hyper)``
    for ``package.module.Class[:key=value,...]`` (any importable ``torch.optim.Optimizer``)."""
    name, hyper = parse_spec(text, "optimizer")
    if "." in name:
        return import_optimizer_class(name), hyper
    return name, hyper


def coupling_notices(optimizers: Sequence[tuple[Any, dict[str, Any]]], n_rows: int) -> list[str]:
    """One line for each optimizer whose rule couples the rows of a batch (per-tensor norms,
    trust ratios, shared step sizes: Lamb, Prodigy, L-BFGS...): the engine then runs its
    ``n_rows`` starts one at a time, roughly ``n_rows`` times slower than one batched run."""
    from descentlab.optim import is_elementwise, resolve_optimizer

    lines = []
    for name, hyper in optimizers:
        spec = resolve_optimizer(name, **hyper)
        elementwise = spec.elementwise
        if elementwise is None:
            elementwise = is_elementwise(spec)
        if not elementwise and n_rows > 1:
            lines.append(
                f"note: {spec.label} couples the rows of a batch (its update uses statistics of "
                f"the whole tensor), so its {n_rows} starts run one at a time: expect roughly "
                f"{n_rows}x the time of an element-wise optimizer on the same starts"
            )
    return lines


def print_notices(lines: Sequence[str]) -> None:
    for line in lines:
        print(line, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- before any compute
class StoreOnce(argparse._StoreAction):
    """argparse's ``store``, refusing an option given twice (``--landscape a --landscape b``)
    instead of silently keeping the last."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        seen = namespace.__dict__.setdefault("_given_once", set())
        if option_string is not None:
            if self.dest in seen:
                parser.error(f"{option_string} is given twice; give it once")
            seen.add(self.dest)
        super().__call__(parser, namespace, values, option_string)


def _unwritable(folder: Path) -> str | None:
    """Why ``folder`` cannot be written (created with its parents if missing), or ``None``."""
    for p in (folder, *folder.parents):
        if p.exists():
            if not p.is_dir():
                return f"{str(p)!r} is a file, not a folder"
            break
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    return None


def check_output_folder(path: str | Path, option: str = "--out") -> Path:
    """Create the output folder ``path`` (and parents) and prove it writable, before compute.

    Raises:
        InvalidParameterError: it cannot be created or written (a file in the way, no
            permission, a read-only or virtual file system such as ``/proc``).
    """
    out = Path(path)
    reason = _unwritable(out)
    if reason is not None:
        raise InvalidParameterError(
            f"{option}: cannot write {str(path)!r} ({reason}); pick another folder", param=option
        )
    return out


def check_output_file(path: str | Path, option: str) -> Path:
    """Prove the file ``path`` can be written (its folder is created), before compute."""
    target = Path(path)
    reason = "it is a folder" if target.is_dir() else _unwritable(target.parent)
    if reason is not None:
        raise InvalidParameterError(
            f"{option}: cannot write {str(path)!r} ({reason}); pick another place", param=option
        )
    return target


# Options that name where a command writes: folders, then files.
_OUTPUT_FOLDERS = ("out",)
_OUTPUT_FILES = {"save": "--save", "csv": "--csv"}


def check_outputs(args: argparse.Namespace) -> None:
    """Every output folder and file a command was given, checked writable before it computes."""
    for dest in _OUTPUT_FOLDERS:
        value = getattr(args, dest, None)
        if isinstance(value, str) and value:
            check_output_folder(value, f"--{dest}")
    for dest, option in _OUTPUT_FILES.items():
        value = getattr(args, dest, None)
        if isinstance(value, str) and value:
            check_output_file(value, option)


# ---------------------------------------------------------------------------- shared arguments
def landscape_from_args(args: argparse.Namespace) -> Any:
    """The landscape of ``--landscape``/``--param`` or ``--formula``/``--dim``/``--domain``."""
    from descentlab.landscapes import Landscape, get_landscape

    domain = parse_floats(args.domain, "--domain") if args.domain is not None else None
    if domain is not None and (len(domain) < 2 or len(domain) % 2):
        raise InvalidParameterError(
            f"--domain: expected lo,hi or xmin,xmax,ymin,ymax,... (pairs), got {args.domain!r}"
        )
    if args.formula is not None:
        if args.param:
            raise InvalidParameterError("--param applies to --landscape, not to --formula")
        return Landscape.from_formula(args.formula, domain=domain, dim=args.dim)
    if args.dim is not None:
        raise InvalidParameterError("--dim applies to --formula; use --param dim=D")
    if domain is not None:
        raise InvalidParameterError("--domain applies to --formula (catalogue domains are fixed)")
    name, params = parse_spec(args.landscape, "landscape")
    params.update(key_values(args.param or []))
    return get_landscape(name, **params)


def starts_from_args(args: argparse.Namespace, landscape: Any) -> Any:
    """The ``(B, d)`` starts of ``--start X,Y`` (repeatable) or ``--starts grid:N|random:N``."""
    import numpy as np

    from descentlab.engine import grid_starts, random_starts

    if args.start:
        return np.array([parse_floats(s, "--start", landscape.dim) for s in args.start])
    spec = args.starts or "grid:5"
    kind, _, rest = spec.partition(":")
    kind = kind.strip().lower()
    if kind == "grid":
        try:
            counts = [int(c) for c in rest.lower().split("x")] if rest else [5]
        except ValueError:
            raise InvalidParameterError(
                f"--starts grid:N or grid:NxM (one count per axis), got {spec!r}"
            ) from None
        n = counts[0] if len(counts) == 1 else counts
        return grid_starts(landscape, n)
    if kind == "random":
        try:
            n = int(rest)
        except ValueError:
            raise InvalidParameterError(
                f"--starts random:N with N an integer, got {spec!r}"
            ) from None
        return random_starts(landscape, n, seed=args.seed)
    raise InvalidParameterError(f"--starts must be grid:N, grid:NxM or random:N, got {spec!r}")


def optimizer_from_spec(spec: str) -> Any:
    """``NAME[:key=value,...]`` (a registered name) or ``package.module.Class[:key=value,...]``
    (any importable ``torch.optim.Optimizer``), resolved by the optimizer registry."""
    from descentlab.optim import resolve_optimizer

    name, hyper = parse_optimizer(spec)
    return resolve_optimizer(name, **hyper)
