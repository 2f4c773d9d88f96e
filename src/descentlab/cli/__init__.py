"""The ``descentlab`` command line. Thin: parse, call the library, present.

Each subcommand lives in a module ``cmd_<name>.py`` of this package exposing
``register(subparsers) -> None``; the parser it adds must set ``func=handler`` via
``set_defaults``. Any ``DescentlabError`` becomes exit code 2 and one line on stderr.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from descentlab import i18n
from descentlab.cli.common import StoreOnce, check_outputs
from descentlab.errors import DescentlabError, InvalidParameterError
from descentlab.limits import help_text
from descentlab.progress import reporting

THREADS_ENV = "DESCENTLAB_THREADS"


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # a single-valued option given twice is an error, not "the last one wins"
        self.register("action", None, StoreOnce)
        self.register("action", "store", StoreOnce)

    def error(self, message: str) -> None:  # argparse's default prints usage + exits 2
        self.exit(2, f"descentlab: error: {message} (see --help)\n")


@contextmanager
def torch_threads(n: int | None) -> Iterator[int]:
    """Run a command with torch on ``n`` threads (default ``$DESCENTLAB_THREADS``, else 1).

    One thread by default: the batched problems here are small, and on a machine others share,
    torch's default (every core) was measured up to 4x slower (newton-vs-gd --quick).
    """
    if n is None:
        env = os.environ.get(THREADS_ENV, "").strip()
        try:
            n = int(env) if env else 1
        except ValueError:
            raise InvalidParameterError(f"{THREADS_ENV} must be an integer, got {env!r}") from None
    if n < 1:
        raise InvalidParameterError(f"--threads must be >= 1, got {n}")
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield n
    finally:
        torch.set_num_threads(old)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="descentlab",
        description="Run, watch and diagnose gradient descent on non-convex losses.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Examples:\n  descentlab demo\n  descentlab critical --landscape himmelblau\n"
        "  descentlab <command> --help\n\n" + help_text(),
    )
    from descentlab import __version__

    parser.add_argument("--version", action="version", version=f"descentlab {__version__}")
    parser.add_argument(
        "--lang",
        metavar="LANG",
        default=None,
        help="language of the printed story, the experiments' sentences and the report: en or ko "
        "(default: $DESCENTLAB_LANG, else en)",
    )
    parser.add_argument(
        "--threads",
        dest="global_threads",
        type=int,
        metavar="N",
        default=None,
        help="CPU threads for torch (default: $DESCENTLAB_THREADS, else 1: on a shared machine "
        "the small batched problems here run fastest on one)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    import descentlab.cli as pkg

    for mod in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if mod.name.startswith("cmd_"):
            importlib.import_module(f"descentlab.cli.{mod.name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        with i18n.using(args.lang), torch_threads(args.global_threads), reporting():
            check_outputs(args)  # output folders and files: writable before any compute
            rc = args.func(args)
    except DescentlabError as exc:
        print(f"descentlab: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("descentlab: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. piped into head
        return 0
    return int(rc or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
