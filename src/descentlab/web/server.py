"""Start the playground: a uvicorn server on a local address, and a browser when one is there."""

from __future__ import annotations

import socket
import sys
import threading
import webbrowser
from typing import TextIO

from descentlab.errors import InvalidParameterError
from descentlab.web.limits import Limits

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now (the OS picks it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def check_port(host: str, port: int) -> None:
    """Raise ``InvalidParameterError`` when ``port`` is out of range or taken on ``host``."""
    if not 0 <= port <= 65535:
        raise InvalidParameterError(f"--port must be between 0 and 65535, got {port}")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError as exc:
            raise InvalidParameterError(
                f"cannot listen on {host}:{port} ({exc.strerror}); pick another --port, "
                "or --port 0 for any free one"
            ) from None


def url_for(host: str, port: int) -> str:
    """The page's URL, e.g. ``http://127.0.0.1:8765/`` (IPv6 hosts in brackets)."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def serve(
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    open_browser: bool = True,
    limits: Limits | None = None,
    stream: TextIO | None = None,
    log_level: str = "warning",
) -> None:
    """Serve the playground until interrupted (Ctrl-C).

    Args:
        host: address to listen on; the default is local-only. Anything else is reachable from
            other machines, and a warning says so.
        port: TCP port (0: any free port).
        open_browser: open the page in a browser when one is available.
        limits: request bounds (default :class:`Limits`).
        stream: where the URL is printed (default stdout).
        log_level: uvicorn's log level.

    Example:
        $ descentlab play --port 8765 --no-browser
    """
    import torch
    import uvicorn

    from descentlab.web.app import create_app

    out = stream or sys.stdout
    if port == 0:
        port = free_port(host)
    else:
        check_port(host, port)
    # Each request's compute runs in its own worker thread: one torch thread each keeps
    # concurrent requests from fighting over the cores.
    torch.set_num_threads(1)
    from descentlab.web.service import warm_up

    warm_up()
    url = url_for(host, port)
    if host not in LOCAL_HOSTS:
        print(
            f"warning: listening on {host}, reachable from other machines; the playground has "
            "no authentication",
            file=out,
        )
    print(f"descentlab playground: {url}  (Ctrl-C stops it)", file=out, flush=True)
    if open_browser:
        threading.Timer(0.8, _open, args=(url,)).start()
    config = uvicorn.Config(
        create_app(limits), host=host, port=port, log_level=log_level, access_log=False
    )
    uvicorn.Server(config).run()


def _open(url: str) -> None:
    try:
        webbrowser.open(url)
    except webbrowser.Error:  # no browser: the printed URL is enough
        pass


class BackgroundServer:
    """The playground on a loopback port in a background thread (for tests and benchmarks).

    Example:
        >>> with BackgroundServer() as srv:  # doctest: +SKIP
        ...     httpx.get(srv.url + "api/landscapes").status_code
        200
    """

    def __init__(self, limits: Limits | None = None, host: str = "127.0.0.1", port: int = 0):
        self.limits = limits
        self.host = host
        self.port = port or free_port(host)
        self.url = url_for(host, self.port)
        self._server: object | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> BackgroundServer:
        import time

        import uvicorn

        from descentlab.web.app import create_app
        from descentlab.web.service import warm_up

        warm_up()
        config = uvicorn.Config(
            create_app(self.limits),
            host=self.host,
            port=self.port,
            log_level="warning",
            access_log=False,
        )
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(target=server.run, name="descentlab-web", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 20.0
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the playground server did not start on {self.url}")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.should_exit = True  # type: ignore[attr-defined]
        if self._thread is not None:
            self._thread.join(timeout=10.0)
