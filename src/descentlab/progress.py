"""A dependency-free progress bar for long jobs (to stderr, only where someone can see it)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """``with Progress(total, "racing") as bar: bar.update(k)``.

    Draws only when ``enabled`` (default: stderr is a terminal) and only after ``delay`` seconds,
    so short jobs print nothing. Redraws at most every 0.1 s.
    """

    def __init__(
        self,
        total: int,
        label: str = "",
        *,
        enabled: bool | None = None,
        delay: float = 1.0,
        stream: TextIO | None = None,
    ) -> None:
        self.total = max(int(total), 1)
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.delay = delay
        self.n = 0
        self._t0 = time.monotonic()
        self._last = 0.0
        self._drawn = False

    def update(self, k: int = 1) -> None:
        self.n = min(self.n + k, self.total)
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._t0 < self.delay or (now - self._last < 0.1 and self.n < self.total):
            return
        self._last = now
        frac = self.n / self.total
        width = 30
        bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
        elapsed = now - self._t0
        eta = elapsed / frac - elapsed if frac > 0 else 0.0
        self.stream.write(
            f"\r{self.label} [{bar}] {self.n}/{self.total} {elapsed:5.1f}s eta {eta:5.1f}s"
        )
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
