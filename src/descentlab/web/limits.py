"""The playground server's bounds: every request is checked against these before any work."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Limits:
    """Bounds on what one request may ask for (all stated in the error messages).

    Attributes:
        max_body_bytes: largest request body accepted (413 beyond).
        max_formula_chars: longest formula accepted.
        max_grid: contour grid points per axis.
        max_starts: starts in one run request.
        max_optimizers: optimizers raced in one request (run or basin map).
        max_steps: optimizer steps in one run or basin map.
        max_frames: recorded frames per run sent back (positions are subsampled to fit).
        max_basin_n: basin-map starts per axis (``n x n`` starts).
        max_basin_work: ``optimizers x n^2 x steps`` for one basin map.
        max_coordinate: largest ``|coordinate|`` of a start or a domain bound.
        max_drain_bytes: an over-size body up to this many bytes is read to its end (and thrown
            away) before the 413, so the client sees the answer, not a reset; beyond it the 413
            is sent and the connection closed.
        body_seconds: the whole body must arrive within this long (408 and close beyond: a
            client declaring more bytes than it sends cannot hold the connection).
        wall_seconds: a request still computing this long after it started is stopped and
            answered 503 ("over time").
        queue_seconds: a request that found no free compute slot within this long is answered
            503 "busy" with ``Retry-After`` (it never ran).
        critical_seconds: a formula's critical-point search stops after this long (the surface
            is then drawn without them, and says so).
        max_critical_points: at most this many critical points are sent (lowest values first).
        max_concurrent: compute jobs running at once (others queue, within ``queue_seconds``).
        light_concurrent: jobs at once in the light lane (metadata and the catalogue: what the
            page needs to load), separate from the compute slots.
        light_seconds: wall-time and queue bound of a light-lane job.
    """

    max_body_bytes: int = 64 * 1024
    max_drain_bytes: int = 8 * 1024 * 1024
    body_seconds: float = 10.0
    max_formula_chars: int = 500
    max_grid: int = 300
    max_starts: int = 64
    max_optimizers: int = 8
    max_steps: int = 5000
    max_frames: int = 600
    max_basin_n: int = 150
    max_basin_work: int = 40_000_000
    max_coordinate: float = 1e6
    wall_seconds: float = 20.0
    queue_seconds: float = 10.0
    critical_seconds: float = 6.0
    max_critical_points: int = 300
    max_concurrent: int = 2
    light_concurrent: int = 2
    light_seconds: float = 10.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
