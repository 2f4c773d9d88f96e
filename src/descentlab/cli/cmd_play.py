"""``descentlab play``: the web playground on a local server."""

from __future__ import annotations

import argparse
from typing import Any

from descentlab.cli.common import add_subcommand
from descentlab.errors import InvalidParameterError


def register(sub: Any) -> None:
    p = add_subcommand(
        sub,
        "play",
        "start the web playground (race optimizers in the browser)",
        [
            "descentlab play",
            "descentlab play --port 9000 --no-browser",
            "descentlab play --port 0        # any free port",
        ],
        description="Start the web playground on a local server and print its URL. Pick a "
        "landscape or type a formula, click starts, race optimizers, read each run's diagnosis. "
        "The JSON API is documented at /docs.",
    )
    p.add_argument(
        "--port", type=int, default=8765, help="TCP port (0: any free one; default 8765)"
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this machine only)",
    )
    p.add_argument("--no-browser", action="store_true", help="do not open a browser")
    p.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise InvalidParameterError(
            "the playground needs fastapi and uvicorn: pip install 'descentlab[web]'"
        ) from None
    from descentlab.web.server import serve

    serve(args.host, args.port, open_browser=not args.no_browser)
    return 0
