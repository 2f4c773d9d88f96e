"""``descentlab demo``: the race that shows why "converged" is not "minimised".

On ``tilted_double_well`` (one global minimum, one local minimum, one saddle) five optimizers
race for 280 steps from two telling starts:

* **A = (0.1901891832238677, -0.5)** lies on the saddle's stable manifold for gradient descent
  with ``lr = 0.03`` (the point of the line ``y = -0.5`` where GD's fate switches from the global
  to the local minimum, found by bisection to float precision). Plain GD slides down the
  manifold into the saddle and sits there: after 280 steps it is ``7e-5`` from the saddle with
  a gradient norm of ``3e-4`` — it *stalled at the saddle*. Newton's method jumps to the
  stationary point of its local quadratic model and converges to the saddle in four steps — it
  is *drawn to the saddle*. Momentum (heavy ball) and Adam leave the manifold and reach the
  *global minimum*. Perturbed GD (Jin et al. 2017) is plain GD with the same ``lr = 0.03`` plus
  one random kick of radius 0.1 once its gradient norm falls below 0.1 near the saddle: the
  kick gets it off the saddle, and with ``seed = 1`` it lands on the global minimum's side. The
  side is chance: over seeds 0..15, 10 kicks lead to the global minimum, 5 to the local one
  and 1 is still on its way after 280 steps (the printed note says so).
* **B = (1.5, 0.0)** lies in the local minimum's basin. GD, Adam, Newton and perturbed GD settle
  in the local minimum; momentum's inertia carries it over the saddle into the global minimum.

The diagnosis (``analysis.diagnose``) of every row is printed as a table, and the figures (the
two teaching pictures, the race on the contour map and on the surface, loss/gradient-norm
curves, a basin map) and the race animation are written to the output folder. The whole demo
takes a few seconds of CPU (see ``DemoResult.seconds``).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from descentlab.analysis.outcomes import OUTCOME_LABELS
from descentlab.landscapes.base import Landscape
from descentlab.landscapes.registry import get_landscape
from descentlab.progress import Progress

DEMO_LANDSCAPE = "tilted_double_well"
DEMO_STEPS = 280
# A: on GD(lr=0.03)'s stable manifold of the saddle; B: in the local minimum's basin
DEMO_STARTS: tuple[tuple[float, float], ...] = ((0.1901891832238677, -0.5), (1.5, 0.0))
DEMO_START_NAMES = ("A", "B")
DEMO_OPTIMIZERS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("gd", {"lr": 0.03}),
    ("momentum", {"lr": 0.05, "momentum": 0.9}),
    ("adam", {"lr": 0.05}),
    ("newton", {}),
    ("perturbed_gd", {"lr": 0.03, "g_thres": 0.1, "radius": 0.1, "t_thres": 1000, "seed": 1}),
)
BASIN_GRID = 31
# the surface is flattened above this height: the walls (f up to 25) otherwise squash the
# wells and the saddle (f from -0.5 to 1.03) into a flat sheet
SURFACE_ZMAX = 3.0
ANIMATION_FRAMES = 40


@dataclass
class DemoResult:
    """What the demo ran, found and wrote.

    Attributes:
        landscape: the landscape raced on.
        race: the ``Race`` (label -> Trajectory) from the starts in ``DEMO_STARTS``.
        diagnoses: ``label -> Diagnosis`` for the race.
        rows: one dict per (optimizer, start): optimizer, start name, start, end, outcome kind,
            steps, stop reason, story.
        files: the files written, by name (``gradient-descent``, ``critical-points``, ``contour``,
            ``surface``, ``curves``, ``basins``, ``animation``).
        seconds: wall time of the whole demo.
    """

    landscape: Landscape
    race: Any
    diagnoses: dict[str, Any]
    rows: list[dict[str, Any]]
    files: dict[str, Path] = field(default_factory=dict)
    seconds: float = 0.0

    def table(self, lang: str | None = None) -> str:
        """The diagnosis table: who reached the global minimum, who stalled at the saddle..."""
        from descentlab.i18n import t

        cols = ("optimizer", "start", "end", "loss", "grad", "steps", "outcome")
        head = [t(f"demo.col_{c}", lang) for c in cols]
        body = [
            [
                r["optimizer"],
                r["start_name"],
                "(" + ", ".join(f"{v:.4g}" for v in r["end"]) + ")",
                f"{r['loss']:.4g}",
                f"{r['grad_norm']:.1e}",
                r["steps"],
                outcome_words(r["verdict"], lang),
            ]
            for r in self.rows
        ]
        cells = [head] + [[str(c) for c in r] for r in body]
        widths = [max(_width(r[j]) for r in cells) for j in range(len(head))]
        lines = [
            "  ".join(c + " " * (w - _width(c)) for c, w in zip(r, widths, strict=True)).rstrip()
            for r in cells
        ]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)

    def story(self, lang: str | None = None) -> list[str]:
        """One line per outcome group, in plain words (in ``lang``, see :mod:`descentlab.i18n`)."""
        from descentlab.i18n import t

        groups: dict[str, list[str]] = {}
        for r in self.rows:
            groups.setdefault(r["verdict"], []).append(
                t("demo.who", lang, optimizer=r["optimizer"], start=r["start_name"])
            )
        order = list(OUTCOME_KEYS)
        keys = [k for k in order if k in groups] + [k for k in groups if k not in order]
        out = []
        for k in keys:
            words = outcome_words(k, lang)
            words = words[:1].upper() + words[1:]
            out.append(t("demo.story_line", lang, outcome=words, who=", ".join(groups[k])))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "landscape": self.landscape.name,
            "steps": DEMO_STEPS,
            "optimizers": {name: dict(hyper) for name, hyper in DEMO_OPTIMIZERS},
            "starts": {n: list(s) for n, s in zip(DEMO_START_NAMES, DEMO_STARTS, strict=True)},
            "runs": self.rows,
            "files": {k: str(v) for k, v in self.files.items()},
            "seconds": round(self.seconds, 3),
        }


# the demo's verdicts (English, as in --json) -> catalogue keys, in the order the story tells them
OUTCOME_KEYS: dict[str, str] = {
    "reached the global minimum": "demo.outcome_global",
    "stalled at the saddle": "demo.outcome_stalled",
    "drawn to the saddle": "demo.outcome_drawn",
    "settled in a local minimum": "demo.outcome_local",
    "diverged": "demo.outcome_diverged",
    "still moving": "demo.outcome_moving",
}


def outcome_words(verdict_text: str, lang: str | None = None) -> str:
    """A verdict of :func:`verdict` in ``lang`` (unknown ones as they are)."""
    from descentlab.i18n import t

    key = OUTCOME_KEYS.get(verdict_text)
    return t(key, lang) if key else verdict_text


def _width(text: str) -> int:
    """Columns a string takes in a terminal: East Asian wide characters take two."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def verdict(outcome: Any) -> str:
    """The demo's words for an outcome: a saddle reached by a converged run was *drawn to*; one
    still there when the budget ran out *stalled*."""
    k = outcome.kind
    if k == "saddle":
        return (
            "drawn to the saddle" if outcome.stop_reason == "converged" else "stalled at the saddle"
        )
    return {
        "global_minimum": "reached the global minimum",
        "local_minimum": "settled in a local minimum",
        "diverged": "diverged",
        "max_steps": "still moving",
    }.get(k) or OUTCOME_LABELS[k]


def demo_race(progress: bool | None = None) -> tuple[Landscape, Any, dict[str, Any]]:
    """Run the demo's race and diagnose it: ``(landscape, race, diagnoses)``."""
    from descentlab.analysis.diagnose import diagnose
    from descentlab.engine import run
    from descentlab.trajectory import Race

    L = get_landscape(DEMO_LANDSCAPE)
    raced = run(
        L,
        [(name, dict(hyper)) for name, hyper in DEMO_OPTIMIZERS],
        np.asarray(DEMO_STARTS, dtype=np.float64),
        steps=DEMO_STEPS,
        progress=progress,
    )
    # short labels for tables and legends; the hyper-parameters are in DEMO_OPTIMIZERS
    race = Race({name: t for (name, _), t in zip(DEMO_OPTIMIZERS, raced.values(), strict=True)})
    return L, race, diagnose(race, L)


def describe_optimizers() -> list[str]:
    """``"gd: lr=0.03"``, ... one line per optimizer of the race."""
    out = []
    for name, hyper in DEMO_OPTIMIZERS:
        hp = ", ".join(f"{k}={v:g}" for k, v in hyper.items()) or "defaults (lr=1)"
        out.append(f"{name}: {hp}")
    return out


def demo_rows(race: Any, diagnoses: dict[str, Any]) -> list[dict[str, Any]]:
    """One summary dict per (optimizer, start), start by start."""
    rows = []
    for i, name in enumerate(DEMO_START_NAMES):
        for label, traj in race.items():
            o = diagnoses[label][i]
            rows.append(
                {
                    "optimizer": label,
                    "start_name": name,
                    "start": [float(v) for v in traj.starts[i]],
                    "end": [float(v) for v in traj.final_points[i]],
                    "loss": float(traj.final_losses[i]),
                    "grad_norm": float(traj.final_grad_norms[i]),
                    "outcome": o.kind,
                    "verdict": verdict(o),
                    "steps": int(traj.stop_step[i]),
                    "stop_reason": str(traj.stop_reason[i]),
                    "text": o.text,
                }
            )
    return rows


def run_demo(
    out_dir: str | os.PathLike[str] = "descentlab-out",
    *,
    animation: bool = True,
    basins: bool = True,
    fmt: str = "png",
    progress: bool | None = None,
) -> DemoResult:
    """Race, diagnose, and write the figures and the animation to ``out_dir``.

    Args:
        out_dir: the output folder (created if needed); files are written atomically.
        animation: also write ``race.gif`` (and ``race.mp4`` when ffmpeg is on PATH).
        basins: also run a ``31 x 31`` grid of starts per optimizer for the basin map.
        fmt: figure format, ``png`` or ``svg``.
        progress: show a progress bar (default: when stderr is a terminal).

    Returns:
        a :class:`DemoResult`.

    Example:
        >>> res = run_demo("descentlab-out", animation=False)  # doctest: +SKIP
        >>> print(res.table())  # doctest: +SKIP
    """
    from descentlab.validate import check_choice
    from descentlab.viz._common import FORMATS, ensure_folder, save_figure
    from descentlab.viz.animate import animate_race, ffmpeg_available
    from descentlab.viz.curves import plot_curves
    from descentlab.viz.landscape import plot_contour, plot_surface
    from descentlab.viz.seed import critical_points_figure, gradient_descent_figure

    check_choice("format", fmt, FORMATS)
    t0 = time.perf_counter()
    out = ensure_folder(out_dir)
    videos = ["gif"] + (["mp4"] if ffmpeg_available() else [])
    n_frames = ANIMATION_FRAMES + 8
    total = 7 + int(basins) + (len(videos) * n_frames if animation else 0)
    files: dict[str, Path] = {}
    with Progress(total, "demo", enabled=progress) as bar:
        L, race, diags = demo_race(progress=False)
        bar.update(1)
        figures = [
            ("gradient-descent", lambda: gradient_descent_figure()),
            ("critical-points", lambda: critical_points_figure(L)),
            (
                "contour",
                lambda: plot_contour(L, race, title=f"{L.name}: the race from starts A and B"),
            ),
            (
                "surface",
                lambda: plot_surface(
                    L,
                    race,
                    title=f"{L.name}: the race on the surface",
                    domain=_surface_box(L),
                    resolution=90,
                    elev=58.0,
                    azim=-60.0,
                    zmax=SURFACE_ZMAX,
                ),
            ),
            ("curves", lambda: plot_curves(race, landscape=L, title="loss and gradient norm")),
        ]
        for name, make in figures:
            fig = make()
            if name == "contour":
                _mark_start_names(fig, race)
            files[name] = save_figure(fig, out / f"{name}.{fmt}")
            bar.update(1)
        if basins:
            files["basins"] = _basins(L, out / f"basins.{fmt}")
            bar.update(1)
        if animation:
            for ext in videos:
                files[f"animation-{ext}"] = animate_race(
                    L,
                    race,
                    out / f"race.{ext}",
                    max_frames=ANIMATION_FRAMES,
                    progress=bar,
                    title=f"{L.name} race",
                )
        bar.update(1)
    rows = demo_rows(race, diags)
    return DemoResult(L, race, diags, rows, files, time.perf_counter() - t0)


def _surface_box(L: Landscape) -> tuple[tuple[float, float], ...]:
    """The critical points and the starts, with a margin: where the race happens."""
    pts = np.array([c.point for c in L.critical_points or []] + list(DEMO_STARTS), dtype=float)
    lo, hi = pts.min(axis=0) - 0.35, pts.max(axis=0) + 0.35
    return tuple(
        (max(d0, float(a)), min(d1, float(b)))
        for (d0, d1), a, b in zip(L.require_domain(), lo, hi, strict=True)
    )


def _mark_start_names(fig: Any, race: Any) -> None:
    ax = fig.axes[0]
    starts = next(iter(race.values())).starts
    for name, (x, y) in zip(DEMO_START_NAMES, starts, strict=True):
        ax.annotate(
            name,
            (x, y),
            xytext=(-10, -14),
            textcoords="offset points",
            fontsize=11,
            fontweight="bold",
            ha="right",
            zorder=10,
        ).set_gid(f"start-name:{name}")


def _basins(L: Landscape, path: Path) -> Path:
    from descentlab.analysis.diagnose import diagnose
    from descentlab.engine import grid_starts, run
    from descentlab.trajectory import Race
    from descentlab.viz._common import save_figure
    from descentlab.viz.basins import plot_basins

    raced = run(
        L,
        [(name, dict(hyper)) for name, hyper in DEMO_OPTIMIZERS],
        grid_starts(L, BASIN_GRID),
        steps=DEMO_STEPS,
        progress=False,
    )
    grid = Race({name: t for (name, _), t in zip(DEMO_OPTIMIZERS, raced.values(), strict=True)})
    fig = plot_basins(L, grid, diagnose(grid, L), title=f"Basins on {L.name} ({DEMO_STEPS} steps)")
    return save_figure(fig, path)
