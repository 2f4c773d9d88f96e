"""Figures that tell their story, read back from what was drawn: the stall at the saddle on top
and ringed, paths cut where they leave the frame, legends inside the frame, readable GIFs,
diverged runs clipped in the curves, 3-D paths on the surface, and the figure command's
default starts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from descentlab.engine import run
from descentlab.landscapes import Landscape, get_landscape
from descentlab.viz.animate import animate_race
from descentlab.viz.curves import plot_curves
from descentlab.viz.demo import DEMO_OPTIMIZERS, DEMO_STARTS, demo_race
from descentlab.viz.landscape import plot_contour, plot_surface

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def demo():
    return demo_race(progress=False)


def _gid(a) -> str:
    return str(a.get_gid())


def _saddle(L: Landscape) -> np.ndarray:
    (s,) = [c for c in L.critical_points if c.kind == "saddle"]
    return np.asarray(s.point, dtype=float)


def test_gd_stalled_at_the_saddle_is_drawn_on_top_of_perturbed_gd(demo) -> None:
    L, race, _ = demo
    ax = plot_contour(L, race).axes[0]
    lines = {_gid(ln): ln for ln in ax.lines}
    gd, pgd = lines["path:gd:0"], lines["path:perturbed_gd:0"]
    # same start, same first steps: the short one (stalled) above the long one (kicked on)
    np.testing.assert_allclose(gd.get_xydata()[:20], pgd.get_xydata()[:20], atol=1e-12)
    assert gd.get_zorder() > pgd.get_zorder()
    assert gd.get_linewidth() < pgd.get_linewidth()  # the one below shows at its edges
    assert gd.get_path_effects()  # and the one on top has a casing


def test_stalls_at_the_saddle_are_ringed_and_named(demo) -> None:
    L, race, diags = demo
    ax = plot_contour(L, race).axes[0]
    rings = {_gid(c).rsplit(":", 1)[0]: c for c in ax.collections if _gid(c).startswith("stall:")}
    # oracle: the diagnosis says which runs from A ended at the saddle (gd stalled, newton drawn)
    at_saddle = {
        f"stall:{lab}:{i}" for lab in race for i in range(2) if diags[lab][i].kind == "saddle"
    }
    assert at_saddle == {"stall:gd:0", "stall:newton:0"}
    assert set(rings) == at_saddle
    for ring in rings.values():
        np.testing.assert_allclose(ring.get_offsets()[0], _saddle(L), atol=2e-3)
    (note,) = [t for t in ax.texts if _gid(t) == "stall-label"]
    assert "gd" in note.get_text() and "newton" in note.get_text()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "stopped at a saddle" in labels


def test_paths_leaving_the_frame_are_cut_and_marked() -> None:
    bowl = Landscape(lambda P: (P**2).sum(-1), 2, name="bowl", domain=(-1, 1))
    # gd with lr = 1.1 on |x|^2: x <- -1.2 x, out of the box after a few steps
    tr = run(bowl, ("gd", {"lr": 1.1}), np.array([[0.3, 0.1]]), steps=12)
    ax = plot_contour(bowl, tr).axes[0]
    (ln,) = [ln for ln in ax.lines if _gid(ln).startswith("path:")]
    xy = ln.get_xydata()
    finite = np.isfinite(xy).all(axis=1)
    assert (~finite).any() and (np.abs(xy[finite]) <= 1 + 1e-12).all()
    (mark,) = [c for c in ax.collections if _gid(c).startswith("exit:")]
    ex = mark.get_offsets()[0]
    assert np.isclose(np.abs(ex).max(), 1.0)  # on the frame's edge
    path = np.asarray(tr.path(0))
    k = int(np.argmax(np.abs(path).max(axis=1) > 1))
    a, b = path[k - 1], path[k]
    d, e = b - a, ex - a
    cross = d[0] * e[1] - d[1] * e[0]  # the marker lies on the step that left the frame
    assert abs(cross) < 1e-9
    assert "left the frame" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_legend_fits_in_the_animation_frame_and_gif_is_readable(tmp_path) -> None:
    L = get_landscape("tilted_double_well")
    race = run(L, [("momentum", {"lr": 0.05, "momentum": 0.9}), ("adam", {"lr": 0.05})],
               np.asarray(DEMO_STARTS), steps=30)  # fmt: skip
    fig = plot_contour(L, race)
    fig.canvas.draw()
    leg = fig.axes[0].get_legend().get_window_extent()
    assert leg.x1 <= fig.get_figwidth() * fig.dpi  # the long label is inside the canvas
    path = animate_race(L, race, tmp_path / "race.gif", max_frames=4, hold_frames=0)
    with Image.open(path) as im:
        assert im.size[0] >= 900 and im.size[1] >= 600  # 110 dpi by default (was 672 x 448)
        im.seek(im.n_frames - 1)
        rgb = np.asarray(im.convert("RGB")).astype(int)
    # read back: the right-most columns are the figure's background, not a cut legend
    assert (rgb[:, -3:, :] >= 245).all()


def test_diverged_runs_are_clipped_and_marked_in_the_curves() -> None:
    L = get_landscape("tilted_double_well")
    race = run(L, [("gd", {"lr": 0.03}), ("gd", {"lr": 0.6})], np.asarray(DEMO_STARTS), 200)
    good, bad = race.labels
    assert set(race[bad].stop_reason) == {"diverged"}
    assert np.nanmax(race[bad].losses) > 1e10
    fig = plot_curves(race, landscape=L)
    ax_l = fig.axes[0]
    top = ax_l.get_ylim()[1]
    kept_max = float(np.nanmax(race[good].losses) - L.global_min_value)
    assert top < 10 * max(kept_max, float(np.max(race[bad].losses[0]) - L.global_min_value))
    for ln in ax_l.lines:
        if _gid(ln).startswith(f"loss:{bad}:"):
            assert np.nanmax(ln.get_ydata()) <= top * (1 + 1e-12)
            assert ln.get_linestyle() == "--"
    marks = [c for c in ax_l.collections if _gid(c).startswith(f"clipped:loss:{bad}:")]
    assert len(marks) == 2
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "diverged: line cut at the frame" in texts


def test_surface_paths_lie_on_the_surface(demo) -> None:
    L, race, _ = demo
    fig = plot_surface(L, race)
    ax = fig.axes[0]
    lines = [ln for ln in ax.lines if _gid(ln).startswith("path:")]
    assert lines
    lifts = []
    for ln in lines:
        x, y, z = (np.asarray(v, dtype=float) for v in ln.get_data_3d())
        ok = np.isfinite(x) & np.isfinite(y) & np.isfinite(z)
        f = L.value(torch.as_tensor(np.stack([x[ok], y[ok]], 1))).numpy()
        lifts.append(z[ok] - f)
        gaps = np.hypot(np.diff(x[ok]), np.diff(y[ok]))
        (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
        assert gaps.max() <= np.hypot(x1 - x0, y1 - y0) / 160 + 1e-9, _gid(ln)
    lift = np.concatenate(lifts)
    np.testing.assert_allclose(lift, lift[0], atol=1e-9)  # every drawn point at f + one lift


def test_figure_contour_defaults_to_the_demo_starts(tmp_path) -> None:
    from descentlab.cli import build_parser
    from descentlab.cli.cmd_figure import _landscape, _starts

    for kind in ("contour", "animation", "surface", "curves"):
        args = build_parser().parse_args(["figure", kind, "--out", str(tmp_path)])
        starts = np.asarray(_starts(args, _landscape(args)), dtype=float)
        np.testing.assert_array_equal(starts, np.asarray(DEMO_STARTS))
    args = build_parser().parse_args(["figure", "contour", "--landscape", "himmelblau"])
    assert np.asarray(_starts(args, _landscape(args))).shape == (4, 2)  # random:4 elsewhere
    assert len(DEMO_OPTIMIZERS) == 5
