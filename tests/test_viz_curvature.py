"""plot_curvature_split: writes a PNG; refuses empty or incomplete panels."""

from __future__ import annotations

import pytest

from descentlab.errors import InvalidParameterError
from descentlab.viz import plot_curvature_split


def test_writes_png(tmp_path):
    pts = [{"H": -1.0, "G": 0.0, "R": -1.2}, {"H": 0.5, "G": 0.5, "R": 0.0}]
    out = plot_curvature_split({"a": pts, "b": pts[:1]}, tmp_path / "split.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_panels():
    with pytest.raises(InvalidParameterError, match="at least one panel"):
        plot_curvature_split({}, "x.png")
    with pytest.raises(InvalidParameterError, match="no points"):
        plot_curvature_split({"a": []}, "x.png")
    with pytest.raises(InvalidParameterError, match=r"lack \['R'\]"):
        plot_curvature_split({"a": [{"H": 1.0, "G": 1.0}]}, "x.png")
