"""A dependency-free progress report for long jobs, on stderr.

On a terminal it is a bar redrawn in place. Where stderr is not a terminal (piped, logged, a CI
job) it is plain lines, one every few seconds, that read well in a log file; the command line
turns these on with :func:`reporting` so that every long command says how far it is, while a
library caller who did not ask sees a bar only on a terminal.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TextIO

__all__ = ["Progress", "reporting", "stage", "stage_after"]

_PLAIN_LINES: ContextVar[bool] = ContextVar("descentlab_plain_progress", default=False)


@contextmanager
def reporting(plain_lines: bool = True) -> Iterator[None]:
    """Within the block, progress with ``enabled=None`` also reports when stderr is not a
    terminal, as plain lines (the CLI wraps every command in this)."""
    token = _PLAIN_LINES.set(plain_lines)
    try:
        yield
    finally:
        _PLAIN_LINES.reset(token)


def _is_tty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or odd streams
        return False


def stage(message: str, *, stream: TextIO | None = None, enabled: bool | None = None) -> None:
    """One line saying what a long command is doing now (``report: 2/4 newton-vs-gd``).

    Printed when ``enabled``, or for ``None`` when stderr is a terminal or :func:`reporting` is on.
    """
    stream = stream or sys.stderr
    if enabled is None:
        enabled = _is_tty(stream) or _PLAIN_LINES.get()
    if enabled:
        stream.write(f"{message}\n")
        stream.flush()


@contextmanager
def stage_after(
    message: str, delay: float = 1.0, *, stream: TextIO | None = None, enabled: bool | None = None
) -> Iterator[None]:
    """:func:`stage` ``message`` if the block is still running after ``delay`` seconds.

    A long step without a loop of its own to report from (a Hessian spectrum, a slice) says what
    it is doing; one that ends quickly (or fails at once on bad input, whose error should be the
    only line) prints nothing.
    """
    import threading

    stream = stream or sys.stderr
    if enabled is None:
        enabled = _is_tty(stream) or _PLAIN_LINES.get()
    timer = threading.Timer(
        delay, stage, args=(message,), kwargs={"stream": stream, "enabled": True}
    )
    timer.daemon = True
    if enabled:
        timer.start()
    try:
        yield
    finally:
        timer.cancel()


class Progress:
    """``with Progress(total, "racing") as bar: bar.update(k)``.

    ``enabled=None`` (default): a bar when stderr is a terminal; plain lines when it is not and
    :func:`reporting` is on; nothing otherwise. ``True`` forces a report (bar or lines by the
    stream), ``False`` silences it. Nothing is printed before ``delay`` seconds, so short jobs
    stay quiet. The bar redraws at most every 0.1 s, plain lines at most every ``line_every`` s.
    """

    def __init__(
        self,
        total: int,
        label: str = "",
        *,
        enabled: bool | None = None,
        delay: float = 1.0,
        stream: TextIO | None = None,
        line_every: float = 5.0,
    ) -> None:
        self.total = max(int(total), 1)
        self.label = label
        self.stream = stream or sys.stderr
        self.tty = _is_tty(self.stream)
        self.enabled = (self.tty or _PLAIN_LINES.get()) if enabled is None else bool(enabled)
        self.delay = delay
        self.line_every = line_every
        self.n = 0
        self._t0 = time.monotonic()
        self._last = 0.0
        self._drawn = False

    def update(self, k: int = 1) -> None:
        self.n = min(self.n + k, self.total)
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._t0 < self.delay:
            return
        if self.tty:
            if now - self._last < 0.1 and self.n < self.total:
                return
        elif self._drawn and now - self._last < self.line_every:
            return
        self._last = now
        self._draw(now)

    def _draw(self, now: float) -> None:
        frac = self.n / self.total
        elapsed = now - self._t0
        eta = elapsed / frac - elapsed if frac > 0 else 0.0
        if self.tty:
            width = 30
            bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
            self.stream.write(
                f"\r{self.label} [{bar}] {self.n}/{self.total} {elapsed:5.1f}s eta {eta:5.1f}s"
            )
        else:
            self.stream.write(
                f"{self.label}: {self.n}/{self.total} ({100 * frac:.0f}%) "
                f"{elapsed:.1f} s, about {eta:.0f} s left\n"
            )
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if not self._drawn:
            return
        if self.tty:
            self.stream.write("\n")
        else:
            elapsed = time.monotonic() - self._t0
            self.stream.write(f"{self.label}: done, {self.n}/{self.total} in {elapsed:.1f} s\n")
        self.stream.flush()
        self._drawn = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
