"""Figures: files are valid, and what was drawn is what the landscape and the runs say.

Oracles: the catalogue's closed-form critical points, the engine's recorded positions
(``Trajectory.path``), gradient descent's closed form on ``x^4 - 3x^2 + x``, the sign of the
start's ``x`` on the double well, and GD's divergence threshold ``lr > 2`` on ``|x|^2 / 2``.
"""

from __future__ import annotations

import itertools
import warnings
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import torch
from PIL import Image

from descentlab.engine import grid_starts, run
from descentlab.errors import DimensionError, InvalidParameterError, UnknownNameError
from descentlab.landscapes import Landscape, get_landscape
from descentlab.viz import style
from descentlab.viz._common import place_labels, save_figure
from descentlab.viz.animate import _partial_path, animate_race, ffmpeg_available, frame_steps
from descentlab.viz.basins import plot_basins
from descentlab.viz.curves import FLOOR, plot_curves
from descentlab.viz.landscape import plot_contour, plot_surface
from descentlab.viz.seed import critical_points_figure, gradient_descent_figure
from descentlab.viz.sweep import plot_lr_sweep

torch.set_num_threads(1)
warnings.filterwarnings("ignore", message="Using backward\\(\\) with create_graph=True")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SHORT = {
    "global_minimum": "global min",
    "local_minimum": "local min",
    "saddle": "saddle",
    "maximum": "max",
    "degenerate": "degenerate",
}


@pytest.fixture(scope="module")
def tdw() -> Landscape:
    return get_landscape("tilted_double_well")


@pytest.fixture(scope="module")
def race(tdw):
    starts = np.array([[0.19, -0.5], [1.5, 0.0], [-1.8, 2.5]])
    return run(tdw, [("gd", {"lr": 0.03}), ("momentum", {"lr": 0.05, "momentum": 0.9})], starts, 60)


def _gid(artist) -> str:
    return str(artist.get_gid())


def _by_kind(cps):
    out: dict[str, list] = {}
    for c in cps:
        out.setdefault(style.critical_kind_key(c.kind, c.is_global), []).append(c)
    return out


# ----------------------------------------------------------------------------- style
def test_style_kinds_have_distinct_markers_and_colours():
    markers = [s.marker for s in style.KIND_STYLES.values()]
    colors = [s.color for s in style.KIND_STYLES.values()]
    assert len(set(markers)) == len(markers) == 5
    assert len(set(colors)) == 5
    assert style.kind_style("minimum", is_global=True) is style.KIND_STYLES["global_minimum"]
    assert style.kind_style("minimum") is style.KIND_STYLES["local_minimum"]
    with pytest.raises(UnknownNameError, match=r"valid: .*saddle"):
        style.kind_style("ridge")
    with pytest.raises(UnknownNameError):
        style.outcome_color("lost")


def test_optimizer_colors_are_stable_and_distinct():
    labels = ["adam(lr=0.1)", "gd", "adam(lr=0.01)", "newton", "x1", "x2", "x3", "x4", "x5", "x6"]
    cols = style.optimizer_colors(labels)
    assert len(set(cols.values())) == len(labels)
    assert cols["gd"] == style.optimizer_colors(["gd"])["gd"]
    assert style.optimizer_base_name("adam(lr=0.1)") == "adam"


# ----------------------------------------------------------------------------- contour
def test_contour_markers_sit_at_the_critical_points_and_labels_name_their_kind(tdw, race):
    fig = plot_contour(tdw, race)
    ax = fig.axes[0]
    expected = _by_kind(tdw.critical_points)
    drawn = {_gid(c).split(":", 1)[1]: c for c in ax.collections if _gid(c).startswith("critical:")}
    assert set(drawn) == set(expected) == {"global_minimum", "local_minimum", "saddle"}
    for key, coll in drawn.items():
        want = np.array(sorted(c.point for c in expected[key]))
        got = np.array(sorted(map(tuple, coll.get_offsets())))
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
        assert coll.get_paths()  # a visible marker
    labels = [t for t in ax.texts if _gid(t).startswith("critical-label:")]
    assert len(labels) == 3
    words = sorted(t.get_text().split("  ")[0] for t in labels)
    assert words == ["global min", "local min", "saddle"]
    # each label is anchored at its own point, and its kind is that point's kind
    for t in labels:
        x, y = t.xy
        (c,) = [c for c in tdw.critical_points if np.allclose(c.point, (x, y), atol=1e-12)]
        assert t.get_text().startswith(SHORT[style.critical_kind_key(c.kind, c.is_global)])
        assert f"f={c.value:.3g}" in t.get_text()
    # labels do not overlap each other
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in labels]
    for a, b in itertools.combinations(boxes, 2):
        assert not a.overlaps(b)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[:2] == list(race)
    assert {"start", "end", "global minimum", "local minimum", "saddle"} <= set(legend)


def test_contour_paths_are_the_recorded_positions(tdw, race):
    fig = plot_contour(tdw, race)
    lines = {_gid(ln): ln for ln in fig.axes[0].lines}
    for label, traj in race.items():
        for row in range(traj.n_starts):
            ln = lines[f"path:{label}:{row}"]
            np.testing.assert_array_equal(np.asarray(ln.get_xydata()), traj.path(row))
            assert ln.get_color() == style.optimizer_colors(list(race))[label]
        starts = next(c for c in fig.axes[0].collections if _gid(c) == f"start:{label}")
        ends = next(c for c in fig.axes[0].collections if _gid(c) == f"end:{label}")
        np.testing.assert_array_equal(starts.get_offsets(), traj.starts)
        np.testing.assert_array_equal(ends.get_offsets(), traj.final_points)


def test_contour_refuses_other_dimensions_and_bad_input(tdw):
    with pytest.raises(DimensionError, match="2-D"):
        plot_contour(get_landscape("nonconvex_curve"))
    with pytest.raises(InvalidParameterError, match="resolution"):
        plot_contour(tdw, resolution=3)
    with pytest.raises(InvalidParameterError, match="Trajectory"):
        plot_contour(tdw, 42)
    with pytest.raises(InvalidParameterError, match="domain"):
        plot_contour(tdw, domain=((1, 0), (0, 1)))


def test_many_critical_points_only_global_minima_labelled():
    L = get_landscape("rastrigin")
    fig = plot_contour(L, resolution=60)
    ax = fig.axes[0]
    labels = [t for t in ax.texts if _gid(t).startswith("critical-label:")]
    n_glob = sum(c.is_global for c in L.critical_points)
    assert len(labels) == n_glob >= 1
    assert all(t.get_text().startswith("global min") for t in labels)
    n_drawn = sum(len(c.get_offsets()) for c in ax.collections if _gid(c).startswith("critical:"))
    (x0, x1), (y0, y1) = L.domain
    inside = [c for c in L.critical_points if x0 <= c.point[0] <= x1 and y0 <= c.point[1] <= y1]
    assert n_drawn == len(inside) > 12


def test_place_labels_avoids_overlaps_on_close_points():
    fig = plot_contour(get_landscape("quadratic_bowl"), resolution=20, show_critical_points=False)
    ax = fig.axes[0]
    pts = [(0.0, 0.0), (0.15, 0.0), (0.0, 0.15), (0.15, 0.15), (-0.15, 0.0)]
    arts = place_labels(ax, pts, [f"label number {i}" for i in range(5)], fontsize=8)
    r = fig.canvas.get_renderer()
    boxes = [a.get_window_extent(r) for a in arts]
    for a, b in itertools.combinations(boxes, 2):
        assert not a.overlaps(b)


# ----------------------------------------------------------------------------- files
def test_png_and_svg_are_valid_and_written_atomically(tmp_path, tdw, race):
    fig = plot_contour(tdw, race, resolution=60)
    png = save_figure(fig, tmp_path / "c.png")
    svg = save_figure(fig, tmp_path / "c", fmt="svg")
    assert png.read_bytes()[:8] == PNG_MAGIC
    with Image.open(png) as im:
        assert im.format == "PNG" and im.size[0] > 600 and im.size[1] > 400
    assert svg.name == "c.svg"
    root = ET.parse(svg).getroot()
    assert root.tag.endswith("svg")
    text = svg.read_text()
    assert 'id="critical:saddle"' in text and "saddle  f=1.03" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.png", "c.svg"]  # no temp files
    with pytest.raises(InvalidParameterError, match="png, svg"):
        save_figure(fig, tmp_path / "c.bmp")
    (tmp_path / "file").write_text("x")
    with pytest.raises(InvalidParameterError, match="is a file"):
        save_figure(fig, tmp_path / "file" / "c.png")


# ----------------------------------------------------------------------------- surface
def test_surface_marks_critical_points_at_their_height(tdw, race):
    fig = plot_surface(tdw, race, resolution=25)
    ax = fig.axes[0]
    assert ax.name == "3d"
    by = _by_kind(tdw.critical_points)
    lifts = []
    for coll in ax.collections:
        if not _gid(coll).startswith("critical:"):
            continue
        xs, ys, zs = (np.asarray(v, dtype=float) for v in coll._offsets3d)
        (c,) = by[_gid(coll).split(":", 1)[1]]
        np.testing.assert_allclose([xs[0], ys[0]], c.point, atol=1e-12)
        lifts.append(zs[0] - c.value)
    assert len(lifts) == 3 and np.ptp(lifts) < 1e-12 and 0 <= lifts[0] < 1.0
    labels = sorted(t.get_text().split("  ")[0] for t in ax.texts)
    assert labels == ["global min", "local min", "saddle"]
    for label, traj in race.items():
        ln = next(ln for ln in ax.lines if _gid(ln) == f"path:{label}:1")
        x, y, z = (np.asarray(v, dtype=float) for v in ln.get_data_3d())
        path = traj.path(1)
        drawn = np.c_[x, y]
        # every recorded position is a drawn vertex, in order; points added between them keep
        # long steps on the surface (test_viz_story)
        idx = [int(np.argmin(np.abs(drawn - p).sum(axis=1))) for p in path]
        np.testing.assert_allclose(drawn[idx], path, atol=1e-12)
        assert np.all(np.diff(idx) > 0)
        want = tdw.value(drawn).numpy()
        np.testing.assert_allclose(z - want, lifts[0], atol=1e-12)


# ----------------------------------------------------------------------------- curves
def test_curves_plot_loss_above_the_global_value_and_gradient_norms(tdw, race):
    fig = plot_curves(race, landscape=tdw)
    ax_l, ax_g = fig.axes[:2]
    assert ax_l.get_yscale() == ax_g.get_yscale() == "log"
    f_star = tdw.global_min_value
    for label, traj in race.items():
        for row in range(traj.n_starts):
            (ll,) = [ln for ln in ax_l.lines if _gid(ln) == f"loss:{label}:{row}"]
            (lg,) = [ln for ln in ax_g.lines if _gid(ln) == f"gradnorm:{label}:{row}"]
            keep = traj.record_steps <= traj.stop_step[row]
            np.testing.assert_array_equal(ll.get_xdata(), traj.record_steps[keep])
            np.testing.assert_allclose(
                ll.get_ydata(), np.maximum(traj.losses[keep, row] - f_star, FLOOR), rtol=1e-15
            )
            np.testing.assert_allclose(
                lg.get_ydata(), np.maximum(traj.grad_norms[keep, row], FLOOR)
            )
    (saddle,) = [c for c in tdw.critical_points if c.kind == "saddle"]
    (lvl,) = [ln for ln in ax_l.lines if _gid(ln) == "level:saddle"]
    assert lvl.get_ydata()[0] == pytest.approx(saddle.value - f_star, rel=1e-14)


# ----------------------------------------------------------------------------- basins
def test_basin_map_matches_the_sign_of_x_on_the_double_well():
    L = get_landscape("double_well")
    S = grid_starts(L, 5)  # x in {-2, -1, 0, 1, 2}
    race = run(L, [("gd", {"lr": 0.05})], S, steps=400)
    fig = plot_basins(L, race)
    cats = fig.basin_categories
    (im,) = [im for im in fig.axes[0].images if _gid(im) == f"basin:{race.labels[0]}"]
    img = np.asarray(im.get_array())
    xs = np.unique(S[:, 0])
    for j, x in enumerate(xs):
        for i in range(img.shape[0]):
            c = cats[img[i, j]]
            if x == 0:
                assert (c.kind, c.point) == ("saddle", (0.0, 0.0))
            else:
                assert c.kind == "global_minimum"
                assert c.point == (float(np.sign(x)), 0.0)
    assert "80% of starts reach a global minimum" in fig.axes[0].get_title()


def test_basin_map_needs_a_full_grid():
    L = get_landscape("double_well")
    tr = run(L, "gd", [[0.5, 0.5], [1.0, 0.2]], steps=5)
    with pytest.raises(InvalidParameterError, match="full grid"):
        plot_basins(L, tr)


# ----------------------------------------------------------------------------- lr sweep
def test_lr_sweep_shares_follow_the_divergence_threshold():
    bowl = get_landscape("quadratic_bowl")  # |x|^2 / 2: x <- (1 - lr) x diverges iff lr > 2
    tr = run(bowl, "gd", grid_starts(bowl, 4), steps=300, lrs=[0.1, 1.5, 2.5])
    fig = plot_lr_sweep(bowl, tr)
    tab = fig.sweep
    np.testing.assert_allclose(tab["lrs"], [0.1, 1.5, 2.5])
    assert tab["n"].tolist() == [16, 16, 16]
    assert tab["counts"]["global_minimum"].tolist() == [16, 16, 0]
    assert tab["counts"]["diverged"].tolist() == [0, 0, 16]
    ax = fig.axes[0]
    heights = {}
    for p in ax.patches:
        heights.setdefault(_gid(p), []).append(p.get_height())
    assert heights["share:global_minimum"] == [1.0, 1.0, 0.0]
    assert heights["share:diverged"] == [0.0, 0.0, 1.0]


def test_lr_sweep_needs_a_rate_grid():
    bowl = get_landscape("quadratic_bowl")
    tr = run(bowl, "gd", [[1.0, 1.0]], steps=2, lr=0.1)
    with pytest.raises(InvalidParameterError, match="at least two rates"):
        plot_lr_sweep(bowl, tr)


# ----------------------------------------------------------------------------- animation
def test_animation_gif_frames_timing_and_partial_paths(tmp_path, tdw, race):
    path = animate_race(
        tdw, race, tmp_path / "race.gif", max_frames=12, hold_frames=3, dpi=40, fps=10
    )
    steps = frame_steps(dict(race), 12)
    assert steps[0] == 0 and steps[-1] == 60 and np.all(np.diff(steps) > 0)
    with Image.open(path) as im:
        assert im.format == "GIF"
        assert im.n_frames == len(steps)
        # the height is the style's; the width grows to fit the legend (see test_viz_story)
        assert im.size[1] == int(style.FIGSIZE_CONTOUR[1] * 40)
        assert im.size[0] >= int(style.FIGSIZE_CONTOUR[0] * 40)
        durations = []
        for k in range(im.n_frames):
            im.seek(k)
            durations.append(im.info["duration"])
    assert durations == [100] * (len(steps) - 1) + [400]
    assert [p.name for p in tmp_path.iterdir()] == ["race.gif"]
    traj = race[race.labels[0]]
    for s in (0, 7, 60):
        np.testing.assert_array_equal(
            _partial_path(traj, 1, s), traj.positions[traj.record_steps <= s, 1]
        )


@pytest.mark.skipif(not ffmpeg_available(), reason="MP4 needs ffmpeg on PATH")
def test_animation_mp4_has_every_frame_and_the_hold(tmp_path, tdw, race):
    import json
    import shutil
    import subprocess

    path = animate_race(tdw, race, tmp_path / "race.mp4", max_frames=12, hold_frames=3, dpi=41)
    n = len(frame_steps(dict(race), 12))
    probe = shutil.which("ffprobe")
    if probe is None:
        pytest.skip("ffprobe not on PATH")
    info = subprocess.run(
        [probe, "-v", "error", "-count_frames", "-show_entries",
         "stream=codec_name,width,height,nb_read_frames,pix_fmt", "-of", "json", str(path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    (stream,) = json.loads(info.stdout)["streams"]
    assert stream["codec_name"] == "h264" and stream["pix_fmt"] == "yuv420p"
    assert int(stream["nb_read_frames"]) == n + 3
    h = int(style.FIGSIZE_CONTOUR[1] * 41)
    assert stream["height"] == h + h % 2 and stream["width"] % 2 == 0  # padded to even


def test_animation_refuses_bad_formats(tmp_path, tdw, race, monkeypatch):
    with pytest.raises(InvalidParameterError, match="gif, mp4"):
        animate_race(tdw, race, tmp_path / "race.avi")
    monkeypatch.setattr("descentlab.viz.animate.shutil.which", lambda name: None)
    with pytest.raises(InvalidParameterError, match="ffmpeg"):
        animate_race(tdw, race, tmp_path / "race.mp4")
    with pytest.raises(InvalidParameterError, match="fps"):
        animate_race(tdw, race, tmp_path / "race.gif", fps=0)


# ----------------------------------------------------------------------------- seed figures
def test_gradient_descent_figure_draws_the_closed_form_steps():
    L = get_landscape("nonconvex_curve")
    lr, w = 0.05, -0.1
    fig = gradient_descent_figure(L, start=w, lr=lr, steps=8)
    ax = fig.axes[0]
    arrows = sorted(
        (t for t in ax.texts if _gid(t).startswith("gd-step:")), key=lambda t: int(_gid(t)[8:])
    )
    assert len(arrows) == 8
    f = lambda v: v**4 - 3 * v**2 + v  # noqa: E731
    for a in arrows:
        w_next = w - lr * (4 * w**3 - 6 * w + 1)
        np.testing.assert_allclose(a.xyann, (w, f(w)), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(a.xy, (w_next, f(w_next)), rtol=1e-12, atol=1e-12)
        w = w_next
    assert "w \\leftarrow w - \\eta" in ax.get_title() and "0.05" in ax.get_title()
    kinds = {_gid(c).split(":", 1)[1]: c for c in ax.collections if _gid(c).startswith("critical:")}
    assert set(kinds) == {"global_minimum", "local_minimum", "maximum"}
    for key, coll in kinds.items():
        (c,) = _by_kind(L.critical_points)[key]
        np.testing.assert_allclose(coll.get_offsets()[0], (c.point[0], c.value), atol=1e-12)
    with pytest.raises(InvalidParameterError, match="domain"):
        gradient_descent_figure(L, start=3.0)
    with pytest.raises(DimensionError):
        gradient_descent_figure("double_well")
    with pytest.raises(InvalidParameterError, match="lr"):
        gradient_descent_figure(L, lr=-1.0)


def test_critical_points_figure_has_one_global_one_local_one_saddle():
    fig = critical_points_figure()
    ax = fig.axes[0]
    counts = {
        _gid(c).split(":", 1)[1]: len(c._offsets3d[0])
        for c in ax.collections
        if _gid(c).startswith("critical:")
    }
    assert counts == {"global_minimum": 1, "local_minimum": 1, "saddle": 1}
    assert sorted(t.get_text().split("  ")[0] for t in ax.texts) == [
        "global min",
        "local min",
        "saddle",
    ]
    assert ax.get_title().endswith("1 global minimum, 1 local minimum, 1 saddle")
