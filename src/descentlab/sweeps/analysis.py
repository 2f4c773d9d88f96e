"""What a finished sweep says: tuned configurations, runtime ECDFs, ERT, outcome shares.

Definitions (a *run* is one start of one cell; ``k(t)`` its steps to target ``t``, see
:mod:`descentlab.sweeps.cells`; success means the run ended at a global minimum according to
:func:`descentlab.diagnose`):

* **Tuned best configuration** (equal budget: every optimizer tried the same number of
  configurations): for each optimizer, the configuration with the highest success rate over
  all landscapes, seeds and starts; ties go to the lower mean ``k`` at the finest target
  (unreached = the step budget), then to the lower configuration index.
* **Runtime ECDF** (as in COCO): for the tuned configuration, the fraction of
  (landscape, seed, start, target) quadruples with ``k(t) <= b``, for budgets ``b`` on a log
  grid; landscapes without a known global value ``f*`` are left out (said in ``notes``). The
  band is a percentile bootstrap (default 200 resamples, 95%) over the (landscape, seed, start)
  units, each carrying all its targets.
* **Expected running time with restarts** (Auger & Hansen 2005; COCO's ERT): for a landscape
  and target, ``ERT = (sum over runs of the steps each run used) / (number of runs that
  reached t)``, where a run that reached ``t`` used ``k(t)`` steps and one that did not used
  its whole run (``stop_step``: until it converged, diverged or ran out). ``inf`` when no run
  reached ``t``. It is the expected number of steps of a restart strategy that draws new
  starts until one reaches ``t``.
* **Outcome shares** per optimizer and learning rate (all configurations), and **success** per
  learning rate x optimizer (the heat map).
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from descentlab.analysis.outcomes import OUTCOME_KINDS
from descentlab.errors import InvalidParameterError
from descentlab.io import to_jsonable, write_text
from descentlab.sweeps.store import SweepStore

SUCCESS_KIND = "global_minimum"


@dataclass(frozen=True)
class SweepData:
    """A store's cells and runs, joined: one record per run with its cell's fields."""

    cells: list[dict[str, Any]]
    runs: list[dict[str, Any]]
    targets: list[float]
    steps: int
    spec: dict[str, Any]

    @classmethod
    def from_store(cls, store: SweepStore) -> SweepData:
        spec_text = store.get("spec")
        if spec_text is None:
            raise InvalidParameterError(f"{store.path} holds no sweep spec")
        spec = json.loads(spec_text)
        settings = json.loads(store.get("settings") or "{}")
        cells = store.cells_table()
        by_id = {c["cell_id"]: c for c in cells}
        runs = []
        for r in store.runs_table():
            c = by_id[r["cell_id"]]
            runs.append({**c, **r})
        return cls(cells, runs, list(settings["targets"]), int(settings["steps"]), spec)


# ------------------------------------------------------------------ numbers
def ert(steps_to_target: list[int | None], steps_used: list[int]) -> float:
    """Expected running time with restarts (see the module docstring): total steps of all runs
    (``k`` for a success, the whole run otherwise) divided by the number of successes."""
    if len(steps_to_target) != len(steps_used):
        raise InvalidParameterError("steps_to_target and steps_used must have the same length")
    hits = [k for k in steps_to_target if k is not None]
    if not hits:
        return math.inf
    total = sum(k if k is not None else u for k, u in zip(steps_to_target, steps_used, strict=True))
    return total / len(hits)


def ecdf(
    runtimes: np.ndarray,
    budgets: np.ndarray,
    *,
    n_boot: int = 200,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """COCO-style runtime ECDF with a bootstrap band.

    Args:
        runtimes: ``(U, T)`` steps to each of ``T`` targets for ``U`` units (``inf`` or ``nan``
            = never reached).
        budgets: the budgets ``b`` at which to evaluate.
        n_boot: bootstrap resamples of the units (0: no band).
        level: the band's coverage (percentile interval).

    Returns:
        ``{"fraction": (K,), "lo": (K,), "hi": (K,)}`` with ``fraction[k]`` the share of the
        ``U*T`` (unit, target) pairs with runtime ``<= budgets[k]``.
    """
    R = np.asarray(runtimes, dtype=float)
    if R.ndim != 2 or R.size == 0:
        raise InvalidParameterError("runtimes must be a non-empty (units, targets) array")
    R = np.where(np.isnan(R), np.inf, R)
    b = np.asarray(budgets, dtype=float)
    solved = (R[:, :, None] <= b[None, None, :]).mean(axis=1)  # (U, K) per-unit shares
    frac = solved.mean(axis=0)
    if n_boot <= 0:
        return {"fraction": frac, "lo": frac.copy(), "hi": frac.copy()}
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, R.shape[0], size=(n_boot, R.shape[0]))
    boots = solved[idx].mean(axis=1)  # (n_boot, K)
    a = (1.0 - level) / 2.0
    return {
        "fraction": frac,
        "lo": np.quantile(boots, a, axis=0),
        "hi": np.quantile(boots, 1.0 - a, axis=0),
    }


def _steps_vec(run: dict[str, Any], n_targets: int) -> list[int | None]:
    s = run["steps_to_target"]
    return list(s) if s is not None else [None] * n_targets


def tuned_best(data: SweepData) -> dict[str, dict[str, Any]]:
    """Per optimizer label: the best configuration under the equal budget (module docstring)."""
    groups: dict[str, dict[int, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for r in data.runs:
        groups[r["optimizer"]][r["config_index"]].append(r)
    out = {}
    T = len(data.targets)
    for opt, by_cfg in sorted(groups.items()):
        scored = []
        for j, runs in by_cfg.items():
            succ = float(np.mean([r["outcome"] == SUCCESS_KIND for r in runs]))
            finest = [_steps_vec(r, T)[-1] for r in runs]
            mean_k = float(np.mean([data.steps if k is None else k for k in finest]))
            scored.append((-succ, mean_k, j, runs))
        scored.sort(key=lambda s: (s[0], s[1], s[2]))
        neg, mean_k, j, runs = scored[0]
        out[opt] = {
            "config_index": j,
            "config": runs[0]["config"],
            "success_rate": -neg,
            "mean_steps_finest_target": mean_k,
            "trials": len(by_cfg),
            "runs": len(runs),
        }
    return out


def _units(data: SweepData, opt: str, cfg: int) -> tuple[np.ndarray, list[str]]:
    """``(U, T)`` runtimes of one configuration over landscapes with a known ``f*``."""
    T = len(data.targets)
    rows, left_out = [], set()
    for r in data.runs:
        if r["optimizer"] != opt or r["config_index"] != cfg:
            continue
        if r["f_star"] is None:
            left_out.add(r["landscape"])
            continue
        rows.append([math.inf if k is None else float(k) for k in _steps_vec(r, T)])
    return np.array(rows, dtype=float).reshape(-1, T), sorted(left_out)


def budget_grid(steps: int, n: int = 60) -> np.ndarray:
    """``0`` and ``n`` log-spaced integer budgets from 1 to ``steps``."""
    g = np.unique(np.round(np.logspace(0, math.log10(max(steps, 1)), n)).astype(int))
    return np.concatenate([[0], g]).astype(float)


def summarize(data: SweepData, *, n_boot: int = 200, seed: int = 0) -> dict[str, Any]:
    """Every number the HTML summary shows (JSON-ready)."""
    T = len(data.targets)
    best = tuned_best(data)
    notes: list[str] = [
        "success = the run ended at a global minimum (descentlab.diagnose); steps to a target "
        "t = the first step with f - f* <= t"
    ]
    # outcome counts per optimizer (all configurations) and per (optimizer, lr)
    outcome_totals: dict[str, dict[str, int]] = {}
    bars: dict[tuple[str, float | None], dict[str, int]] = {}
    for r in data.runs:
        tot = outcome_totals.setdefault(r["optimizer"], dict.fromkeys(OUTCOME_KINDS, 0))
        tot[r["outcome"]] += 1
        key = (r["optimizer"], r["lr"])
        bars.setdefault(key, dict.fromkeys(OUTCOME_KINDS, 0))[r["outcome"]] += 1
    bar_rows = [
        {"optimizer": o, "lr": lr, "counts": c, "n": sum(c.values())}
        for (o, lr), c in sorted(bars.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0.0))
    ]
    # heat map: success per learning rate x optimizer
    opts = sorted(outcome_totals)
    lrs = sorted({lr for (_, lr) in bars if lr is not None})
    heat = np.full((len(lrs), len(opts)), np.nan)
    for (o, lr), c in bars.items():
        if lr is not None:
            n = sum(c.values())
            heat[lrs.index(lr), opts.index(o)] = c[SUCCESS_KIND] / n if n else np.nan
    # ECDF of the tuned configurations
    budgets = budget_grid(data.steps)
    curves, left_out = {}, set()
    for o, b in best.items():
        R, skipped = _units(data, o, b["config_index"])
        left_out.update(skipped)
        if R.shape[0]:
            e = ecdf(R, budgets, n_boot=n_boot, seed=seed)
            curves[o] = {k: v.tolist() for k, v in e.items()} | {"units": int(R.shape[0])}
    if left_out:
        notes.append(
            "left out of the ECDF and ERT (global value unknown): " + ", ".join(sorted(left_out))
        )
    # ERT per optimizer (tuned), landscape and target
    erts: dict[str, dict[str, list[float]]] = {}
    for o, b in best.items():
        per_land: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in data.runs:
            if (
                r["optimizer"] == o
                and r["config_index"] == b["config_index"]
                and r["f_star"] is not None
            ):
                per_land[r["landscape"]].append(r)
        erts[o] = {
            land: [
                ert([_steps_vec(r, T)[j] for r in runs], [r["stop_step"] for r in runs])
                for j in range(T)
            ]
            for land, runs in sorted(per_land.items())
        }
    return to_jsonable(
        {
            "name": data.spec.get("name", "sweep"),
            "cells": len(data.cells),
            "runs": len(data.runs),
            "steps": data.steps,
            "targets": data.targets,
            "landscapes": sorted({c["landscape"] for c in data.cells}),
            "tuned_best": best,
            "outcomes": outcome_totals,
            "outcome_bars": bar_rows,
            "heatmap": {"optimizers": opts, "lrs": lrs, "success": heat.tolist()},
            "ecdf": {"budgets": budgets.tolist(), "curves": curves, "n_boot": n_boot},
            "ert": erts,
            "throughput": _throughput(data),
            "notes": notes,
        }
    )


def _throughput(data: SweepData) -> dict[str, float]:
    rs = sum(int(c["row_steps"]) for c in data.cells)
    s = sum(float(c["run_s"]) for c in data.cells)
    return {"row_steps": rs, "run_s": s, "row_steps_per_s": rs / s if s > 0 else math.nan}


# ------------------------------------------------------------------ presentation
def summary_text(summary: dict[str, Any]) -> str:
    """A plain-text report of :func:`summarize`'s numbers."""
    lines = [
        f"sweep {summary['name']!r}: {summary['cells']} cells, {summary['runs']} runs, "
        f"{summary['steps']} steps, targets {', '.join(f'{t:g}' for t in summary['targets'])}",
        f"landscapes: {', '.join(summary['landscapes'])}",
        "",
        "tuned best configuration per optimizer (equal budget):",
    ]
    for o, b in summary["tuned_best"].items():
        cfg = ", ".join(f"{k}={v}" for k, v in b["config"].items()) or "defaults"
        lines.append(
            f"  {o:16s} {cfg:30s} success {100 * b['success_rate']:5.1f}%  "
            f"({b['trials']} trials, {b['runs']} runs)"
        )
    lines += ["", "outcomes (all configurations):"]
    kinds = [k for k in OUTCOME_KINDS if any(v[k] for v in summary["outcomes"].values())]
    lines.append("  " + "optimizer".ljust(16) + "".join(k[:14].rjust(15) for k in kinds))
    for o, c in summary["outcomes"].items():
        n = max(sum(c.values()), 1)
        lines.append("  " + o.ljust(16) + "".join(f"{100 * c[k] / n:14.1f}%" for k in kinds))
    if summary["ecdf"]["curves"]:
        lines += ["", "share of (run, target) pairs solved within the budget (tuned):"]
        b = summary["ecdf"]["budgets"]
        for o, cur in summary["ecdf"]["curves"].items():
            lines.append(
                f"  {o:16s} {100 * cur['fraction'][-1]:5.1f}% at {int(b[-1])} steps "
                f"[{100 * cur['lo'][-1]:.1f}, {100 * cur['hi'][-1]:.1f}]"
            )
    if summary["ert"]:
        lines += ["", "expected running time with restarts, steps (tuned; inf = never reached):"]
        targets = summary["targets"]
        lands = sorted({land for e in summary["ert"].values() for land in e})
        for land in lands:
            lines.append(f"  {land}  (targets {', '.join(f'{t:g}' for t in targets)})")
            for o, e in summary["ert"].items():
                if land in e:
                    vals = "  ".join(f"{_ert_str(v):>9s}" for v in e[land])
                    lines.append(f"    {o:16s} {vals}")
    t = summary["throughput"]
    lines += ["", f"throughput: {t['row_steps_per_s']:.3g} state row-steps/s (engine time)"]
    lines += [f"note: {n}" for n in summary["notes"]]
    return "\n".join(lines)


def _ert_str(v: float | None) -> str:
    return "inf" if v is None or not math.isfinite(v) else f"{v:.4g}"


def write_summary(store: SweepStore, folder: str | os.PathLike[str], **kw: Any) -> dict[str, Path]:
    """Write ``summary.html`` (figures embedded) and ``summary.json`` (the same numbers) and
    the figures as PNG files into ``folder``."""
    from descentlab.viz import save_figure
    from descentlab.viz.sweep import plot_ecdf, plot_outcome_bars, plot_success_heatmap

    data = SweepData.from_store(store)
    if not data.runs:
        raise InvalidParameterError(f"{store.path} holds no finished cells yet")
    summary = summarize(data, **kw)
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    figs = {
        "outcomes": plot_outcome_bars(summary),
        "success_heatmap": plot_success_heatmap(summary),
    }
    if summary["ecdf"]["curves"]:
        figs["ecdf"] = plot_ecdf(summary)
    paths: dict[str, Path] = {}
    imgs = {}
    for name, fig in figs.items():
        paths[name] = save_figure(fig, out / f"{name}.png")
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        imgs[name] = base64.b64encode(buf.getvalue()).decode()
    paths["json"] = write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    paths["html"] = write_text(out / "summary.html", _html(summary, imgs))
    return paths


def _html(summary: dict[str, Any], imgs: dict[str, str]) -> str:
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(o)}</td><td>{e(json.dumps(b['config']))}</td>"
        f"<td>{100 * b['success_rate']:.1f}%</td><td>{b['trials']}</td><td>{b['runs']}</td></tr>"
        for o, b in summary["tuned_best"].items()
    )
    figs = "".join(
        f'<figure><img alt="{e(k)}" src="data:image/png;base64,{v}"><figcaption>{e(k)}'
        "</figcaption></figure>"
        for k, v in imgs.items()
    )
    notes = "".join(f"<li>{e(n)}</li>" for n in summary["notes"])
    head = "".join(f"<th>t = {t:g}</th>" for t in summary["targets"])
    ert_rows = "".join(
        f"<tr><td>{e(land)}</td><td>{e(o)}</td>"
        + "".join(f"<td>{_ert_str(v)}</td>" for v in vals)
        + "</tr>"
        for o, per in summary["ert"].items()
        for land, vals in per.items()
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>sweep {e(summary['name'])}</title><style>body{{font-family:sans-serif;"
        "max-width:60em;margin:2em auto}}table{border-collapse:collapse}td,th{border:1px solid "
        "#ccc;padding:.2em .6em}img{max-width:100%}</style></head><body>"
        f"<h1>Sweep {e(summary['name'])}</h1><p>{summary['cells']} cells, {summary['runs']} "
        f"runs, {summary['steps']} steps per run; landscapes: "
        f"{e(', '.join(summary['landscapes']))}.</p>"
        "<h2>Tuned best configuration (equal budget)</h2><table><tr><th>optimizer</th>"
        "<th>configuration</th><th>success</th><th>trials</th><th>runs</th></tr>"
        f"{rows}</table><h2>Figures</h2>{figs}"
        "<h2>Expected running time with restarts (steps, tuned configuration)</h2>"
        f"<table><tr><th>landscape</th><th>optimizer</th>{head}</tr>{ert_rows}</table>"
        f"<h2>Notes</h2><ul>{notes}</ul>"
        "<p>The same numbers are in summary.json.</p></body></html>\n"
    )
