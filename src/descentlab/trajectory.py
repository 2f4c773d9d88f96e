"""What a batched run recorded: positions, losses, gradient norms, learning rates, stop reasons.

A :class:`Trajectory` holds one optimizer's run over ``B`` starts (numpy, float64); a
:class:`Race` holds several optimizers' trajectories over the same starts, by label. Both save
to and load from ``.npz`` (written atomically), and export CSV (one line per recorded step and
start) and JSON.

Conventions (fixed by :func:`descentlab.engine.run`):

* step ``k`` is the iterate ``x_k`` (``x_0`` is the start); ``record_steps[t]`` says which
  iterate ``positions[t]`` is. Positions are recorded every ``record_every`` steps, plus the
  final state.
* ``stop_step[i]`` is the iterate at which row ``i`` stopped: for ``converged`` the first ``k``
  with ``|grad f(x_k)| <= grad_tol``; for ``diverged`` the first ``k`` whose value or gradient
  norm was not finite or with ``|x_k| > bound``; for ``max_steps`` the number of steps. A
  stopped row is frozen: from its stop step on it is recorded at its final point (for a diverged
  row, its last finite iterate ``x_{k-1}``).
* ``lr[k, j]`` is the learning rate of column ``j`` used for the step ``x_k -> x_{k+1}``;
  ``row_group[i]`` says which column is row ``i``'s.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from descentlab.errors import DescentlabError, InvalidParameterError
from descentlab.io import atomic_path, to_jsonable, write_text

STOP_REASONS = ("converged", "max_steps", "diverged")

_ARRAYS = (
    "starts",
    "positions",
    "record_steps",
    "losses",
    "grad_norms",
    "lr",
    "row_group",
    "row_lr",
    "stop_step",
    "stop_reason",
    "final_points",
    "final_losses",
    "final_grad_norms",
)
_META = (
    "optimizer",
    "hyper",
    "landscape_name",
    "landscape_params",
    "steps",
    "record_every",
    "grad_tol",
    "bound",
    "seed",
    "schedule",
)
_FORMAT = "descentlab.trajectory/1"


@dataclass
class Trajectory:
    """One optimizer's batched run: ``B`` starts in ``d`` dimensions, ``T`` records.

    Attributes:
        starts: ``(B, d)`` start points (row ``i`` of a learning-rate grid is start
            ``i % B0`` with rate ``row_lr[i]``).
        positions: ``(T, B, d)`` iterates at ``record_steps``.
        record_steps: ``(T,)`` which iterate each record is (increasing, last = final state).
        losses: ``(T, B)`` objective values at the recorded iterates.
        grad_norms: ``(T, B)`` Euclidean gradient norms there.
        lr: ``(n_steps, G)`` learning rate used at each executed step, per column.
        row_group: ``(B,)`` column of ``lr`` for each row.
        row_lr: ``(B,)`` each row's initial learning rate (``nan`` if the optimizer has none).
        stop_step: ``(B,)`` iterate at which each row stopped.
        stop_reason: ``(B,)`` ``"converged"``, ``"max_steps"`` or ``"diverged"``.
        final_points: ``(B, d)`` each row's final point (exact, even between records).
        final_losses, final_grad_norms: ``(B,)`` value and gradient norm there.
        optimizer: the optimizer's label, e.g. ``"adam(lr=0.01)"``.
        hyper: its hyper-parameters.
        landscape_name, landscape_params: what it ran on.
        steps: the step budget asked for (``n_steps <= steps`` were executed).
        record_every, grad_tol, bound, seed: the run's settings.
        schedule: the learning-rate schedule's label (``""`` when none).

    Example:
        >>> import torch
        >>> from descentlab.landscapes import Landscape
        >>> from descentlab.engine import run
        >>> bowl = Landscape(lambda P: (P**2).sum(-1), dim=2, name="bowl", domain=(-2, 2))
        >>> tr = run(bowl, "gd", [[1.0, -1.0]], steps=3, lr=0.25)
        >>> tr.positions[:, 0, 0].tolist()
        [1.0, 0.5, 0.25, 0.125]
    """

    starts: np.ndarray
    positions: np.ndarray
    record_steps: np.ndarray
    losses: np.ndarray
    grad_norms: np.ndarray
    lr: np.ndarray
    row_group: np.ndarray
    row_lr: np.ndarray
    stop_step: np.ndarray
    stop_reason: np.ndarray
    final_points: np.ndarray
    final_losses: np.ndarray
    final_grad_norms: np.ndarray
    optimizer: str = ""
    hyper: dict[str, Any] = field(default_factory=dict)
    landscape_name: str = ""
    landscape_params: dict[str, Any] = field(default_factory=dict)
    steps: int = 0
    record_every: int = 1
    grad_tol: float = 0.0
    bound: float = float("inf")
    seed: int = 0
    schedule: str = ""

    # ------------------------------------------------------------------ shape
    @property
    def n_starts(self) -> int:
        """``B``, the number of rows."""
        return int(self.starts.shape[0])

    @property
    def dim(self) -> int:
        return int(self.starts.shape[1])

    @property
    def n_records(self) -> int:
        """``T``, the number of recorded states."""
        return int(self.record_steps.shape[0])

    @property
    def n_steps(self) -> int:
        """Steps executed (fewer than ``steps`` when every row stopped early)."""
        return int(self.lr.shape[0])

    def __len__(self) -> int:
        return self.n_starts

    def counts(self) -> dict[str, int]:
        """How many rows stopped for each reason."""
        return {r: int(np.sum(self.stop_reason == r)) for r in STOP_REASONS}

    def path(self, i: int) -> np.ndarray:
        """Row ``i``'s recorded positions up to and including its stop, ``(t_i, d)``."""
        keep = self.record_steps <= self.stop_step[i]
        p = self.positions[keep, i]
        if not keep.all() or not np.array_equal(p[-1], self.final_points[i]):
            p = np.concatenate([p, self.final_points[i][None]], axis=0)
        return p

    # ------------------------------------------------------------------ export
    def to_dicts(self) -> list[dict[str, Any]]:
        """One summary dict per row: start, end, loss, steps, stop reason, learning rate."""
        out = []
        for i in range(self.n_starts):
            out.append(
                {
                    "optimizer": self.optimizer,
                    "row": i,
                    "start": self.starts[i].tolist(),
                    "end": self.final_points[i].tolist(),
                    "loss": float(self.final_losses[i]),
                    "grad_norm": float(self.final_grad_norms[i]),
                    "steps": int(self.stop_step[i]),
                    "stop_reason": str(self.stop_reason[i]),
                    "lr": float(self.row_lr[i]),
                }
            )
        return to_jsonable(out)

    def to_json(self, *, full: bool = False, indent: int | None = None) -> str:
        """JSON text: the settings and :meth:`to_dicts`; ``full=True`` adds every array."""
        obj: dict[str, Any] = {k: getattr(self, k) for k in _META}
        obj["runs"] = self.to_dicts()
        if full:
            obj["arrays"] = {k: getattr(self, k) for k in _ARRAYS}
        return json.dumps(to_jsonable(obj), indent=indent, allow_nan=False)

    def csv_rows(self) -> Iterator[list[Any]]:
        """Rows of :meth:`to_csv` (without the header)."""
        for t, step in enumerate(self.record_steps):
            for i in range(self.n_starts):
                yield [
                    self.optimizer,
                    i,
                    int(step),
                    *self.positions[t, i].tolist(),
                    float(self.losses[t, i]),
                    float(self.grad_norms[t, i]),
                    str(self.stop_reason[i]),
                    int(self.stop_step[i]),
                ]

    def csv_header(self) -> list[str]:
        return [
            "optimizer",
            "row",
            "step",
            *[f"x{j}" for j in range(self.dim)],
            "loss",
            "grad_norm",
            "stop_reason",
            "stop_step",
        ]

    def to_csv(self, path: str | os.PathLike[str]) -> Path:
        """Write one line per (record, start) to ``path``, atomically."""
        return _write_csv(path, self.csv_header(), self.csv_rows())

    # ------------------------------------------------------------------ save / load
    def _payload(self, prefix: str = "") -> dict[str, np.ndarray]:
        out = {prefix + k: np.asarray(getattr(self, k)) for k in _ARRAYS}
        meta = to_jsonable({k: getattr(self, k) for k in _META})
        out[prefix + "meta"] = np.array(json.dumps(meta))
        return out

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Save to ``path`` (``.npz``, compressed, written atomically); see :meth:`load`."""
        payload = self._payload()
        payload["format"] = np.array(_FORMAT)
        _save_npz(path, payload)
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Trajectory:
        """Load a trajectory written by :meth:`save`."""
        data = _load_npz(path)
        if "meta" not in data:
            raise InvalidParameterError(
                f"{path}: not a single trajectory file (a race? use Race.load)"
            )
        return cls._from_payload(data, "")

    @classmethod
    def _from_payload(cls, data: Mapping[str, np.ndarray], prefix: str) -> Trajectory:
        try:
            arrays = {k: data[prefix + k] for k in _ARRAYS}
            meta = json.loads(str(data[prefix + "meta"]))
        except (KeyError, ValueError) as exc:
            raise InvalidParameterError(
                f"trajectory file is incomplete or damaged: {exc}"
            ) from None
        arrays["stop_reason"] = arrays["stop_reason"].astype(str)
        if meta.get("bound") is None:
            meta["bound"] = float("inf")
        return cls(**arrays, **meta)

    def __repr__(self) -> str:
        c = ", ".join(f"{k}={v}" for k, v in self.counts().items())
        return (
            f"Trajectory({self.optimizer!r} on {self.landscape_name!r}: B={self.n_starts}, "
            f"d={self.dim}, T={self.n_records}, steps={self.n_steps}/{self.steps}; {c})"
        )


class Race(Mapping[str, Trajectory]):
    """Several optimizers' trajectories over the same starts, in order: ``label -> Trajectory``.

    Example:
        >>> from descentlab.landscapes import Landscape
        >>> from descentlab.engine import run
        >>> bowl = Landscape(lambda P: (P**2).sum(-1), dim=2, name="bowl", domain=(-2, 2))
        >>> race = run(bowl, [("gd", {"lr": 0.1}), ("adam", {"lr": 0.1})], [[1.0, 1.0]], steps=5)
        >>> race.labels
        ['gd(lr=0.1)', 'adam(lr=0.1)']
    """

    def __init__(self, runs: Mapping[str, Trajectory] | None = None) -> None:
        self._runs: dict[str, Trajectory] = dict(runs or {})
        starts = [t.starts for t in self._runs.values()]
        if any(s.shape != starts[0].shape or not np.array_equal(s, starts[0]) for s in starts):
            raise InvalidParameterError("a race needs the same starts for every optimizer")

    @property
    def labels(self) -> list[str]:
        return list(self._runs)

    @property
    def starts(self) -> np.ndarray:
        return next(iter(self._runs.values())).starts

    def __getitem__(self, label: str) -> Trajectory:
        try:
            return self._runs[label]
        except KeyError:
            raise InvalidParameterError(
                f"no optimizer {label!r} in this race; labels: {', '.join(self._runs)}"
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._runs)

    def __len__(self) -> int:
        return len(self._runs)

    def to_dicts(self) -> list[dict[str, Any]]:
        return [d for t in self._runs.values() for d in t.to_dicts()]

    def to_json(self, *, full: bool = False, indent: int | None = None) -> str:
        return json.dumps(
            [json.loads(t.to_json(full=full)) for t in self._runs.values()],
            indent=indent,
            allow_nan=False,
        )

    def to_csv(self, path: str | os.PathLike[str]) -> Path:
        """All trajectories in one CSV (the ``optimizer`` column tells them apart)."""
        first = next(iter(self._runs.values()))
        rows = (r for t in self._runs.values() for r in t.csv_rows())
        return _write_csv(path, first.csv_header(), rows)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Save every trajectory in one ``.npz`` (atomic); see :meth:`load`."""
        payload: dict[str, np.ndarray] = {
            "format": np.array(_FORMAT),
            "labels": np.array(json.dumps(self.labels)),
        }
        for j, t in enumerate(self._runs.values()):
            payload.update(t._payload(f"run{j}/"))
        _save_npz(path, payload)
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Race:
        data = _load_npz(path)
        if "labels" not in data:
            raise InvalidParameterError(f"{path}: not a race file (use Trajectory.load)")
        labels = json.loads(str(data["labels"]))
        return cls(
            {lab: Trajectory._from_payload(data, f"run{j}/") for j, lab in enumerate(labels)}
        )

    def __repr__(self) -> str:
        return f"Race({', '.join(self.labels)}; B={self.starts.shape[0]})"


def load(path: str | os.PathLike[str]) -> Trajectory | Race:
    """Load whatever :meth:`Trajectory.save` or :meth:`Race.save` wrote."""
    data = _load_npz(path)
    if "labels" in data:
        return Race.load(path)
    return Trajectory.load(path)


# ---------------------------------------------------------------------- helpers
def _save_npz(path: str | os.PathLike[str], payload: dict[str, np.ndarray]) -> None:
    p = Path(path)
    if p.suffix != ".npz":
        raise InvalidParameterError(f"trajectories are saved as .npz; got {str(path)!r}")
    with atomic_path(p) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **payload)


def _load_npz(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise DescentlabError(f"no such file: {path}") from None
    except (OSError, ValueError) as exc:
        raise InvalidParameterError(f"{path}: not a trajectory file ({exc})") from None
    if str(data.get("format", "")) != _FORMAT:
        raise InvalidParameterError(f"{path}: not a descentlab trajectory file")
    return data


def _write_csv(path: str | os.PathLike[str], header: list[str], rows: Any) -> Path:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for r in rows:
        w.writerow([repr(c) if isinstance(c, float) else c for c in r])
    return write_text(path, buf.getvalue())
