"""The web playground: a FastAPI app over the lab, and a vanilla-JS page in ``static/``.

``create_app(limits)`` builds the app (see :mod:`descentlab.web.app` for the endpoints);
``serve(host, port)`` runs it with uvicorn, which is what ``descentlab play`` does. Importing
this package does not import FastAPI; the names load on first use.
"""

from __future__ import annotations

from typing import Any

from descentlab.web.limits import Limits

__all__ = ["Limits", "create_app", "serve"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from descentlab.web.app import create_app

        return create_app
    if name == "serve":
        from descentlab.web.server import serve

        return serve
    raise AttributeError(f"module 'descentlab.web' has no attribute {name!r}")
