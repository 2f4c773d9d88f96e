"""A race as an animation: the optimizers' paths growing on the contour map, step by step.

GIF through Pillow (always available with matplotlib); MP4 (H.264) through ffmpeg when it is on
PATH. Frames are rendered by blitting onto a once-drawn contour map, with a progress bar
(``descentlab.progress``), and the file is written atomically.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

from descentlab.errors import DescentlabError, InvalidParameterError
from descentlab.io import atomic_path
from descentlab.landscapes.base import Landscape
from descentlab.progress import Progress
from descentlab.validate import check_int
from descentlab.viz import style
from descentlab.viz._common import as_runs, ensure_folder, pick_rows
from descentlab.viz.landscape import _mask_outside, plot_contour

ANIMATION_FORMATS = ("gif", "mp4")


def ffmpeg_available() -> bool:
    """True when an ``ffmpeg`` executable is on PATH (needed for MP4)."""
    return shutil.which("ffmpeg") is not None


def frame_steps(runs: dict[str, Any], max_frames: int) -> np.ndarray:
    """The step shown by each frame: up to ``max_frames`` steps from 0 to the last recorded one,
    denser at the start (where paths move most), ending on the last step."""
    last = max(int(np.asarray(t.record_steps)[-1]) for t in runs.values())
    if last <= 0:
        return np.array([0])
    n = min(max_frames, last + 1)
    # square-root spacing: early steps are shown one by one, later ones sampled
    s = np.unique(np.rint(np.linspace(0.0, 1.0, n) ** 2 * last).astype(int))
    return s


def _partial_path(traj: Any, row: int, step: int) -> np.ndarray:
    steps = np.asarray(traj.record_steps)
    pos = np.asarray(traj.positions)[steps <= step, row, :]
    finite = np.all(np.isfinite(pos), axis=1)
    if not finite.all():
        pos = pos[: int(np.argmin(finite))]
    return pos


def animate_race(
    landscape: Landscape,
    runs: Any,
    path: str | os.PathLike[str],
    *,
    fps: int = 10,
    max_frames: int = 48,
    max_paths: int | None = 12,
    dpi: int = 110,
    hold_frames: int = 8,
    progress: bool | Progress | None = None,
    title: str | None = None,
) -> Path:
    """Write an animation of ``runs`` on ``landscape``'s contour map to ``path`` (.gif or .mp4).

    Each frame shows every drawn row's path up to that step (one colour per optimizer, a moving
    square at its head) with the step number in the title; the last frame is held for
    ``hold_frames`` frames. Critical points are drawn and labelled as in :func:`plot_contour`.

    Args:
        landscape: a 2-D landscape with a domain.
        runs: a ``Trajectory``, a ``Race`` or a mapping ``label -> Trajectory``.
        path: output file; its suffix picks the format (``.gif``: Pillow; ``.mp4``: ffmpeg).
        fps: frames per second.
        max_frames: at most this many distinct steps shown (square-root spaced).
        max_paths: at most this many rows per optimizer.
        dpi: resolution of the frames.
        hold_frames: the last frame is shown this many frame-times longer (a GIF stores it
            once with a longer duration; an MP4 repeats it).
        progress: show a progress bar (default: when stderr is a terminal), or a
            :class:`~descentlab.progress.Progress` to advance by one per frame.
        title: title prefix (default: the landscape's name).

    Returns:
        The written path.

    Example:
        >>> from descentlab.engine import run  # doctest: +SKIP
        >>> race = run(landscape, ["gd", "adam"], starts, steps=200)  # doctest: +SKIP
        >>> animate_race(landscape, race, "race.gif")  # doctest: +SKIP
    """
    target = Path(path)
    fmt = target.suffix.lower().lstrip(".")
    if fmt not in ANIMATION_FORMATS:
        raise InvalidParameterError(
            f"animation format must be one of {', '.join(ANIMATION_FORMATS)} (from the file "
            f"suffix), got {target.name!r}"
        )
    if fmt == "mp4" and not ffmpeg_available():
        raise InvalidParameterError("MP4 needs ffmpeg on PATH; write a .gif instead")
    for name, v, lo in (("fps", fps, 1), ("max_frames", max_frames, 2), ("dpi", dpi, 20)):
        check_int(name, v, lo=lo)
    check_int("hold_frames", hold_frames, lo=0)
    runs = as_runs(runs)
    if not runs:
        raise InvalidParameterError("animate_race needs at least one run")
    ensure_folder(target.parent)
    name = landscape.name if title is None else title
    with style.context():
        fig = plot_contour(landscape, runs, max_paths=max_paths, resolution=140, title=name)
        ax = fig.axes[0]
        # the static figure drew full paths: keep their styling, animate their data
        lines: list[tuple[Any, Any, int]] = []
        heads: dict[str, Any] = {}
        colors = style.optimizer_colors(list(runs))
        for label, traj in runs.items():
            for row in pick_rows(np.asarray(traj.positions).shape[1], max_paths):
                for ln in ax.lines:
                    if ln.get_gid() == f"path:{label}:{row}":
                        lines.append((ln, traj, row))
            for coll in ax.collections:
                if coll.get_gid() == f"end:{label}":
                    coll.set_visible(False)
        # the static figure's after-the-fact marks (stalls, exits) would give the ending away:
        # they appear on the last frame, which is held
        finale = [
            a
            for a in [*ax.collections, *ax.texts]
            if str(a.get_gid()).startswith(("stall:", "stall-label", "exit:"))
        ]
        box = (ax.get_xlim(), ax.get_ylim())
        for label in runs:
            (heads[label],) = ax.plot(
                [], [], "s", color=colors[label], mec="white", mew=0.9, ms=6.5, zorder=7
            )
        steps = frame_steps(runs, max_frames)
        frames = [*range(len(steps)), *([len(steps) - 1] * hold_frames)]

        def draw(i: int) -> list[Any]:
            s = int(steps[i])
            head_pts: dict[str, list[np.ndarray]] = {k: [] for k in runs}
            for ln, traj, row in lines:
                p = _partial_path(traj, row, s)
                shown = _mask_outside(p, box)
                ln.set_data(shown[:, 0], shown[:, 1])
                if len(p):
                    head_pts[_label_of(ln)].append(p[-1])
            for label, pts in head_pts.items():
                arr = np.asarray(pts) if pts else np.zeros((0, 2))
                heads[label].set_data(arr[:, 0], arr[:, 1])
            ax.set_title(f"{name}   step {s}")
            for a in finale:
                a.set_visible(i == len(steps) - 1)
            # in z-order, as the static figure: a short path stays on top of a long one
            moving = [ln for ln, _, _ in lines] + list(heads.values()) + finale
            return sorted(moving, key=lambda a: a.get_zorder())

        own = not isinstance(progress, Progress)
        bar = (
            Progress(len(frames), f"animating {target.name}", enabled=progress)  # type: ignore[arg-type]
            if own
            else progress
        )
        try:
            frames_rgb = _blit_frames(fig, ax, draw, len(steps), dpi, bar)
            with atomic_path(target) as tmp:
                if fmt == "gif":
                    _write_gif(frames_rgb, hold_frames, tmp, fps)
                else:
                    _write_mp4(frames_rgb, hold_frames, tmp, fps)
            bar.update(hold_frames)
        finally:
            if own:
                bar.close()
    return target


def _blit_frames(fig: Any, ax: Any, draw: Any, n: int, dpi: int, bar: Any) -> list[np.ndarray]:
    """Render ``n`` frames as ``(H, W, 3)`` uint8 arrays by blitting: the static contour map is
    drawn once; per frame only the moving artists (and, on top of them, the critical points and
    their labels) are redrawn onto a copy of it."""
    fig.set_dpi(dpi)
    canvas = fig.canvas
    moving = draw(0)
    overlay = [
        a
        for a in [*ax.collections, *ax.texts]
        if str(a.get_gid()).startswith(("critical:", "critical-label:"))
    ]
    title = ax.title
    for a in [*moving, *overlay, title]:
        a.set_animated(True)
    canvas.draw()
    background = canvas.copy_from_bbox(fig.bbox)
    frames = []
    for i in range(n):
        moving = draw(i)
        canvas.restore_region(background)
        for a in [*moving, *overlay, title]:
            ax.draw_artist(a)
        frames.append(np.asarray(canvas.buffer_rgba())[..., :3].copy())
        bar.update(1)
    return frames


def _write_gif(frames: list[np.ndarray], hold: int, path: Path, fps: int) -> None:
    """A looping GIF (Pillow), the last frame held ``hold`` frame-times longer."""
    from PIL import Image

    # one palette for every frame, from the last (it holds every colour drawn): frames then
    # differ only where the paths grew, which the GIF stores as small deltas
    palette = Image.fromarray(frames[-1]).quantize(255, method=Image.Quantize.MEDIANCUT)
    images = [
        Image.fromarray(f).quantize(palette=palette, dither=Image.Dither.NONE) for f in frames
    ]
    frame_ms = max(round(1000 / fps), 20)
    images[0].save(
        path,
        format="GIF",
        save_all=True,
        append_images=images[1:],
        duration=[frame_ms] * (len(images) - 1) + [frame_ms * (1 + hold)],
        loop=0,
        optimize=False,
    )


def _write_mp4(frames: list[np.ndarray], hold: int, path: Path, fps: int) -> None:
    """An H.264 MP4: raw RGB frames piped to ffmpeg (the last one repeated ``hold`` times),
    padded to even sizes as yuv420p needs."""
    h, w, _ = frames[0].shape
    cmd = [
        shutil.which("ffmpeg") or "ffmpeg",
        "-v", "error", "-y",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", str(fps), "-i", "-",
        "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2",
        "-c:v", "libx264", "-pix_fmt", "yuv420p", "-f", "mp4", str(path),
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdin is not None
    try:
        for f in [*frames, *([frames[-1]] * hold)]:
            proc.stdin.write(np.ascontiguousarray(f).tobytes())
        proc.stdin.close()
    except BrokenPipeError:
        pass
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.wait() != 0:
        raise DescentlabError(f"ffmpeg failed writing {path.name}: {err.strip()[:300]}")


def _label_of(line: Any) -> str:
    # gid is "path:<label>:<row>"; labels may contain ':' so split from the right
    return str(line.get_gid()).split(":", 1)[1].rsplit(":", 1)[0]
