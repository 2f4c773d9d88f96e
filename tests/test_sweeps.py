"""Sweeps: spec validation, known outcomes, exact steps to target, the store, resume, analysis."""

from __future__ import annotations

import json
import math
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from descentlab.cli import main
from descentlab.sweeps import (
    SpecError,
    StoreError,
    SweepData,
    SweepSpec,
    SweepStore,
    ecdf,
    ert,
    run_sweep,
    steps_to_targets,
    summarize,
    tuned_best,
)
from descentlab.sweeps.store import TIMING_COLUMNS

ROOT = Path(__file__).resolve().parents[1]
TILTED = "(x**2-1)**2 + 0.3*x + y**2"  # separable: global minimum at x < 0, local at x > 0


def _spec(**kw):
    d = {
        "steps": 200,
        "starts": 6,
        "seeds": 2,
        "landscapes": [{"name": "double_well"}, {"name": "quadratic_bowl"}],
        "optimizers": [
            {"name": "gd", "search": {"lr": [0.01, 0.1]}},
            {"name": "adam", "search": {"lr": [0.01, 0.1]}},
        ],
    }
    d.update(kw)
    return d


def _tables(path):
    """Both tables without the timing columns, in a fixed order (what must be reproducible)."""
    with SweepStore(path, read_only=True) as st:
        cells = [{k: v for k, v in c.items() if k not in TIMING_COLUMNS} for c in st.cells_table()]
        return cells, st.runs_table()


# ------------------------------------------------------------------------------ the spec
def test_spec_cells_and_identity():
    spec = SweepSpec.from_dict(_spec())
    cells = spec.cells()
    assert len(cells) == 2 * 2 * 2 * 2
    assert len({c.cell_id for c in cells}) == len(cells)
    # the id is a content hash: the same cell in a larger spec has the same id
    bigger = SweepSpec.from_dict(_spec(seeds=[0, 1, 2]))
    assert {c.cell_id for c in cells} <= {c.cell_id for c in bigger.cells()}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"colour": 1}, "unknown key 'colour'"),
        ({"landscapes": []}, "landscapes"),
        ({"landscapes": [{"name": "nope"}]}, "unknown landscape 'nope'"),
        ({"landscapes": [{"name": "himmelblau", "formula": "x"}]}, "exactly one"),
        ({"landscapes": [{"formula": "x+"}]}, "landscapes[0]"),
        ({"optimizers": [{"name": "gd", "search": {"lrr": [0.1]}}]}, "no hyper-parameter 'lrr'"),
        ({"optimizers": [{"name": "sgdx"}]}, "unknown optimizer"),
        (
            {
                "optimizers": [
                    {"name": "gd", "search": {"lr": [0.1, 0.2]}},
                    {"name": "adam", "search": {"lr": [0.1]}},
                ]
            },
            "unequal tuning budgets (gd: 2, adam: 1",
        ),
        ({"tuning": {"trials": 3}}, "grid has 2 points but tuning.trials = 3"),
        (
            {"optimizers": [{"name": "gd", "search": {"lr": {"log_uniform": [0.1, 0.01]}}}]},
            "lo < hi",
        ),
        (
            {"optimizers": [{"name": "gd", "search": {"lr": {"log_uniform": [0.01, 0.1]}}}]},
            "distributions need tuning.method = 'random'",
        ),
        ({"steps": 0}, "steps"),
        ({"targets": [0.1, -1]}, "targets[1]"),
        ({"seeds": [1, 1]}, "seed is listed twice"),
        ({"starts": 10**6, "steps": 10**6}, "record_every >="),
    ],
)
def test_spec_errors_name_the_field(change, message):
    with pytest.raises(SpecError) as exc:
        SweepSpec.from_dict(_spec(**change))
    assert message in str(exc.value)


def test_spec_toml_errors():
    with pytest.raises(SpecError, match="not valid TOML"):
        SweepSpec.from_toml("steps = [")


def test_random_search_equal_budget_and_stable_draws():
    opt = [
        {"name": "gd", "search": {"lr": {"log_uniform": [1e-3, 1e-1]}}},
        {
            "name": "momentum",
            "search": {"lr": {"log_uniform": [1e-3, 1e-1]}, "momentum": [0.5, 0.9]},
        },
    ]
    spec = SweepSpec.from_dict(_spec(optimizers=opt, tuning={"method": "random", "trials": 5}))
    for o in spec.optimizers:
        cfgs = spec.configs(o)
        assert len(cfgs) == 5
        assert all(1e-3 <= c["lr"] <= 1e-1 for c in cfgs)
    # adding an optimizer leaves the others' draws alone; the same seed draws the same
    more = SweepSpec.from_dict(
        _spec(
            optimizers=[*opt, {"name": "adam", "search": {"lr": [0.1, 0.01]}}],
            tuning={"method": "random", "trials": 5},
        )
    )
    assert more.configs(more.optimizers[0]) == spec.configs(spec.optimizers[0])
    other = SweepSpec.from_dict(
        _spec(optimizers=opt, tuning={"method": "random", "trials": 5, "seed": 1})
    )
    assert other.configs(other.optimizers[0]) != spec.configs(spec.optimizers[0])


# ------------------------------------------------------------------------------ cells
def test_steps_to_targets_first_hit():
    losses = np.array([[5.0, 1.0], [0.5, np.nan], [0.05, 0.2], [0.001, 0.2]])
    out = steps_to_targets(losses, np.array([0, 2, 4, 6]), 0.0, [1.0, 0.1, 0.01])
    assert out == [[2, 4, 6], [0, None, None]]
    assert steps_to_targets(losses, np.arange(4), None, [1.0]) == [[None], [None]]


def test_known_outcomes_and_exact_steps_to_target(tmp_path):
    """Oracles: on the separable tilted double well, GD with lr = 0.01 < 1/max f'' stays in its
    start's basin: x0 left of the local maximum x_m -> global minimum, right -> local minimum.
    Newton (lr = 1) on the quadratic saddle x^2 - y^2 lands on the saddle in one step; GD
    there diverges in y. On the bowl f = |x|^2/2, GD gives f_k = (1 - lr)^(2k) f_0, so the
    steps to target t are ceil(log(t / f_0) / (2 log(1 - lr)))."""
    spec = SweepSpec.from_dict(
        {
            "steps": 3000,
            "starts": 12,
            "seeds": 2,
            "targets": [1e-1, 1e-3, 1e-6],
            "landscapes": [
                {"formula": TILTED, "domain": [-2, 2, -2, 2]},
                {"formula": "x**2 - y**2", "domain": [-2, 2, -2, 2]},
                {"name": "quadratic_bowl"},
            ],
            "optimizers": [
                {"name": "gd", "search": {"lr": [0.01]}},
                {"name": "newton", "search": {"lr": [1.0]}},
            ],
        }
    )
    with SweepStore(tmp_path / "s.duckdb") as st:
        run_sweep(spec, st, quiet=True)
        runs = SweepData.from_store(st).runs
    roots = np.sort(np.roots([4.0, 0.0, -4.0, 0.3]).real)  # f'(x) = 4x^3 - 4x + 0.3
    x_m = roots[1]
    n = 0
    for r in runs:
        x0 = np.array(r["x0"])
        if r["landscape"] == f"formula:{TILTED}" and r["optimizer"] == "gd":
            want = "global_minimum" if x0[0] < x_m else "local_minimum"
            assert r["outcome"] == want, (x0, r["outcome"])
            n += 1
        elif r["landscape"] == "formula:x**2 - y**2":
            want = "saddle" if r["optimizer"] == "newton" else "diverged"
            assert r["outcome"] == want, (r["optimizer"], x0, r["outcome"])
            n += 1
        elif r["landscape"] == "quadratic_bowl" and r["optimizer"] == "gd":
            f0 = 0.5 * float(x0 @ x0)
            want = [
                0 if f0 <= t else math.ceil(math.log(t / f0) / (2 * math.log(0.99)))
                for t in (1e-1, 1e-3, 1e-6)
            ]
            assert r["steps_to_target"] == want
            n += 1
    assert n == 12 * 2 + 2 * 12 * 2 + 12 * 2


# ------------------------------------------------------------------------------ store
def test_store_writes_a_cell_all_or_nothing(tmp_path):
    spec = SweepSpec.from_dict(_spec(seeds=1))
    with SweepStore(tmp_path / "s.duckdb") as st:
        st.attach_spec(spec, resume=False)
        from descentlab.sweeps.cells import CellTask, run_cell

        result = run_cell(CellTask.from_cell(spec.cells()[0], spec))
        bad = {
            "cell": result["cell"],
            "runs": [*result["runs"][:-1], {**result["runs"][-1], "start": "x"}],
        }
        with pytest.raises(Exception):  # noqa: B017 - any failure inside must roll back
            st.write_cell(bad)
        assert st.finished_ids() == set()
        assert st.query("SELECT count(*) FROM runs") == [(0,)]
        with pytest.raises(KeyboardInterrupt), st._transaction():
            st.con.execute("INSERT INTO spec VALUES ('half', 'written')")
            raise KeyboardInterrupt
        assert st.get("half") is None
        st.write_cell(result)
        assert st.finished_ids() == {result["cell"]["cell_id"]}
        assert st.query("SELECT count(*) FROM runs") == [(6,)]


def test_resume_refuses_incompatible_specs(tmp_path):
    path = tmp_path / "s.duckdb"
    with SweepStore(path) as st:
        run_sweep(SweepSpec.from_dict(_spec(seeds=1)), st, quiet=True)
    with SweepStore(path) as st, pytest.raises(StoreError, match="--resume"):
        run_sweep(SweepSpec.from_dict(_spec(seeds=1)), st, quiet=True)
    with SweepStore(path) as st, pytest.raises(StoreError, match="steps: store 200, spec 300"):
        run_sweep(SweepSpec.from_dict(_spec(seeds=1, steps=300)), st, resume=True, quiet=True)
    fewer = _spec(seeds=1)
    fewer["optimizers"] = fewer["optimizers"][:1]
    with SweepStore(path) as st, pytest.raises(StoreError, match="does not produce"):
        run_sweep(SweepSpec.from_dict(fewer), st, resume=True, quiet=True)
    # adding a seed is compatible: only the new cells run
    with SweepStore(path) as st:
        rep = run_sweep(SweepSpec.from_dict(_spec(seeds=2)), st, resume=True, quiet=True)
    assert (rep.skipped, rep.ran) == (8, 8)


def test_interrupt_between_cells_keeps_whole_cells(tmp_path):
    """Ctrl-C (KeyboardInterrupt) after the third cell: exactly three cells, all their runs."""
    seen = []

    def stop(result):
        seen.append(result)
        if len(seen) == 3:
            raise KeyboardInterrupt

    with SweepStore(tmp_path / "s.duckdb") as st:
        with pytest.raises(KeyboardInterrupt):
            run_sweep(SweepSpec.from_dict(_spec()), st, quiet=True, on_cell=stop)
        assert len(st.finished_ids()) == 3
        assert st.query("SELECT count(*) FROM runs") == [(18,)]


def _spec_file(tmp_path):
    p = tmp_path / "spec.toml"
    p.write_text(
        'name = "kill"\nsteps = 300\nstarts = 8\nseeds = 3\n'
        '[[landscapes]]\nname = "himmelblau"\n[[landscapes]]\nname = "styblinski_tang"\n'
        "params = { dim = 3 }\n"
        '[[optimizers]]\nname = "gd"\nsearch = { lr = [0.002, 0.01] }\n'
        '[[optimizers]]\nname = "momentum"\nsearch = { lr = [0.002, 0.01] }\n'
    )
    return p


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_killed_sweep_resumes_to_the_uninterrupted_store(tmp_path, sig):
    """Kill the CLI at a random moment after a random number of finished cells, resume it:
    the final store equals the store of an uninterrupted run (timings aside)."""
    spec_path = _spec_file(tmp_path)
    ref = tmp_path / "ref.duckdb"
    with SweepStore(ref) as st:
        run_sweep(SweepSpec.from_toml(spec_path.read_text()), st, quiet=True)
    store = tmp_path / "killed.duckdb"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    cmd = [sys.executable, "-m", "descentlab", "sweep", str(spec_path), "--store", str(store)]
    rng = random.Random(int(sig))
    after = rng.randint(1, 12)
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
    lines = 0
    for line in proc.stderr:
        lines += line.startswith("[")
        if lines == after:
            time.sleep(rng.uniform(0.0, 0.05))
            proc.send_signal(sig)
            break
    proc.stderr.read()
    rc = proc.wait(timeout=60)
    assert rc == (-signal.SIGKILL if sig == signal.SIGKILL else 130)
    with SweepStore(store, read_only=True) as st:
        n_done = len(st.finished_ids())
        counts = st.query("SELECT cell_id, count(*) FROM runs GROUP BY cell_id")
    assert after <= n_done < 24
    assert all(c == 8 for _, c in counts) and len(counts) == n_done  # no half-written cell
    out = subprocess.run([*cmd, "--resume", "--quiet"], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert f"{24 - n_done} cells run, {n_done} already finished" in out.stderr
    assert _tables(store) == _tables(ref)


# ------------------------------------------------------------------------------ analysis
def test_ert_by_hand():
    # 4 runs: two reach t after 10 and 30 steps; two stop without it after 100 and 50 steps
    assert ert([10, None, 30, None], [40, 100, 60, 50]) == (10 + 100 + 30 + 50) / 2
    assert ert([None, None], [5, 5]) == math.inf
    assert ert([7], [7]) == 7


def test_ecdf_by_hand():
    R = np.array([[1.0, 10.0], [np.inf, np.inf], [3.0, np.nan]])
    e = ecdf(R, np.array([0, 1, 3, 10, 100]), n_boot=0)
    # 6 (unit, target) pairs: solved within b: {1}:1, {1,3}:2, {1,3,10}:3
    assert e["fraction"].tolist() == [0, 1 / 6, 2 / 6, 3 / 6, 3 / 6]
    b = ecdf(R, np.array([3.0, 10.0]), n_boot=500, seed=1)
    assert np.all(b["lo"] <= b["fraction"]) and np.all(b["fraction"] <= b["hi"])
    # the band comes from resampling units: it spans the unit shares' possible means
    assert b["lo"][1] >= 0.0 and b["hi"][1] <= 1.0 and b["hi"][1] > b["lo"][1]


def test_tuned_best_and_summary(tmp_path):
    with SweepStore(tmp_path / "s.duckdb") as st:
        run_sweep(SweepSpec.from_dict(_spec()), st, quiet=True)
        data = SweepData.from_store(st)
    best = tuned_best(data)
    # recompute the success rate of every configuration by hand
    for opt, b in best.items():
        rates = {}
        for r in data.runs:
            if r["optimizer"] == opt:
                rates.setdefault(r["config_index"], []).append(r["outcome"] == "global_minimum")
        means = {j: float(np.mean(v)) for j, v in rates.items()}
        assert b["success_rate"] == max(means.values())
        assert b["trials"] == 2 and b["runs"] == 2 * 2 * 6
    s = summarize(data, n_boot=50)
    assert s["cells"] == 16 and s["runs"] == 96
    total = sum(sum(c.values()) for c in s["outcomes"].values())
    assert total == 96
    # the heat map is the success share per (lr, optimizer), from the same runs
    hm = s["heatmap"]
    for i, lr in enumerate(hm["lrs"]):
        for j, o in enumerate(hm["optimizers"]):
            sel = [r for r in data.runs if r["optimizer"] == o and r["lr"] == lr]
            assert hm["success"][i][j] == pytest.approx(
                np.mean([r["outcome"] == "global_minimum" for r in sel])
            )


# ------------------------------------------------------------------------------ CLI
def test_cli_run_show_json_html_parquet(tmp_path, capsys):
    spec = tmp_path / "s.toml"
    spec.write_text(
        'steps = 100\nstarts = 4\n[[landscapes]]\nname = "double_well"\n'
        '[[optimizers]]\nname = "gd"\nsearch = { lr = [0.05] }\n'
        '[[optimizers]]\nname = "adam"\nsearch = { lr = [0.05] }\n'
    )
    assert main(["sweep", str(spec), "--html", str(tmp_path / "rep")]) == 0
    err = capsys.readouterr().err
    assert "[2/2" in err and "2 cells run" in err
    assert (
        main(
            [
                "sweep",
                "show",
                str(tmp_path / "s.duckdb"),
                "--json",
                "--parquet",
                str(tmp_path / "pq"),
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["cells"] == 2 and out["runs"] == 8
    assert json.loads((tmp_path / "rep" / "summary.json").read_text())["runs"] == 8
    assert "<img" in (tmp_path / "rep" / "summary.html").read_text()
    import duckdb

    con = duckdb.connect()
    assert con.execute(f"SELECT count(*) FROM '{tmp_path / 'pq' / 'runs.parquet'}'").fetchall() == [
        (8,)
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["sweep", "missing.toml"], "no such file"),
        (["sweep", "show"], "usage"),
        (["sweep", "show", "nothing.duckdb"], "no sweep store"),
        (["sweep", "a.toml", "b.toml"], "usage"),
    ],
)
def test_cli_errors_are_one_line(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_example_spec_is_valid_and_fair():
    spec = SweepSpec.from_toml((ROOT / "examples" / "saddle_sweep.toml").read_text())
    assert len(spec.cells()) == 3 * 5 * 3 * 2
    assert {len(spec.configs(o)) for o in spec.optimizers} == {3}
    assert [o.name for o in spec.optimizers] == ["gd", "momentum", "adam", "newton", "perturbed_gd"]


def test_sweep_figures_draw_the_summary_numbers(tmp_path):
    from descentlab.viz.sweep import plot_ecdf, plot_outcome_bars, plot_success_heatmap

    with SweepStore(tmp_path / "s.duckdb") as st:
        run_sweep(SweepSpec.from_dict(_spec(seeds=1)), st, quiet=True)
        s = summarize(SweepData.from_store(st), n_boot=20)
    fig = plot_outcome_bars(s)
    heights = {}
    for p in fig.axes[0].patches:
        heights[p.get_x()] = heights.get(p.get_x(), 0.0) + p.get_height()
    assert len(heights) == len(s["outcome_bars"])
    assert all(h == pytest.approx(1.0) for h in heights.values())  # shares of each bar sum to 1
    ecdf_fig = plot_ecdf(s)
    lines = {ln.get_gid(): ln for ln in ecdf_fig.axes[0].lines}
    for label, cur in s["ecdf"]["curves"].items():
        assert list(lines[f"ecdf:{label}"].get_ydata()) == cur["fraction"]
    hm = plot_success_heatmap(s)
    img = hm.axes[0].images[0].get_array()
    assert np.allclose(np.asarray(img), np.array(s["heatmap"]["success"]))


def test_generator_landscapes_newton_lands_on_the_planted_saddle(tmp_path):
    """A random quadratic with one negative eigenvalue has one critical point, a saddle of
    index 1; Newton with lr = 1 reaches it from every start in one step."""
    spec = SweepSpec.from_dict(
        {
            "steps": 20,
            "starts": 5,
            "landscapes": [
                {"generator": "random_quadratic_saddle", "params": {"dim": 4, "index": 1}}
            ],
            "optimizers": [{"name": "newton", "search": {"lr": [1.0]}}],
        }
    )
    with SweepStore(tmp_path / "s.duckdb") as st:
        run_sweep(spec, st, quiet=True)
        runs = st.runs_table()
    assert [(r["outcome"], r["saddle_index"]) for r in runs] == [("saddle", 1)] * 5
    assert all(r["stop_step"] <= 2 for r in runs)
    with pytest.raises(SpecError, match="unknown landscape generator"):
        SweepSpec.from_dict({**_spec(), "landscapes": [{"generator": "os.system"}]})
