"""The loop's layout helpers and its stop-rule screen against their definitions."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from descentlab.loop.layout import column_major_repeat, dense, row_sq_norms
from descentlab.loop.watches import CONVERGED, DIVERGED, RUNNING, StopRules


@pytest.mark.parametrize("d", [1, 2, 3, 9, 12])
@pytest.mark.parametrize("B", [1, 2, 37])
def test_row_sq_norms_equal_the_definition_in_both_layouts(B, d):
    g = torch.randn(B, d, dtype=torch.float64, generator=torch.Generator().manual_seed(B * d))
    ref = (g * g).sum(-1)
    for layout in (g, g.t().contiguous().t()):
        torch.testing.assert_close(row_sq_norms(layout), ref, rtol=1e-15, atol=0)


def test_column_major_repeat_and_dense_view():
    X = torch.arange(6.0, dtype=torch.float64).reshape(3, 2)
    Y = column_major_repeat(X, 2)
    assert torch.equal(Y, X.repeat(2, 1)) and Y.stride() == (1, 6)
    assert dense(Y).is_contiguous() and torch.equal(dense(Y), Y.t())
    assert dense(X) is X
    part = Y[1:4]  # rows of a column-major block: no dense view exists
    assert dense(part) is part


def _rules(B: int, d: int, tol: float, bound: float) -> StopRules:
    return StopRules(torch.zeros(B, d, dtype=torch.float64), 10, tol, bound)


@pytest.mark.parametrize("tol", [0.0, 1e-3])
@pytest.mark.parametrize("B", [3, 400])  # the numpy path for small batches, torch above
def test_the_screen_passes_only_when_no_row_stops(tol, B):
    # the screen is a sufficient test: whenever it says "nobody stops", the exact rules agree
    gen = np.random.default_rng(B + int(tol * 1e3))
    d, bound = 2, 5.0
    specials = [math.nan, math.inf, -math.inf, 1e300, 0.0, 1e-5]
    passed = 0
    for trial in range(300):
        x = gen.uniform(-3.5, 3.5, size=(B, d))  # inside the bound unless made to leave
        v = gen.normal(size=B)
        g = gen.normal(size=(B, d)) + np.sign(gen.normal(size=(B, d)))  # |g| > 0.1 here
        for _ in range(gen.integers(0, 3)):  # a few rows made to stop (or nearly)
            i = gen.integers(B)
            what = gen.integers(3)
            if what == 0:
                v[i] = gen.choice(specials)
            elif what == 1:
                g[i] = gen.choice(specials)
            else:
                x[i] = gen.choice([bound, 2 * bound, math.inf])
        X = torch.tensor(x)
        V = torch.tensor(v)
        gsq = row_sq_norms(torch.tensor(g))
        screen = _rules(B, d, tol, bound)
        if screen.small:
            with np.errstate(all="ignore"):  # as in the loop
                passes = screen._nobody_stops_small(X.numpy(), V.numpy(), gsq.numpy())
        else:
            passes = screen._nobody_stops(X, V, gsq, None)
        exact = _rules(B, d, tol, bound)
        exact.observe(1, X, V, gsq)
        nobody = bool((exact.status == RUNNING).all())
        if passes:
            assert nobody, trial
            passed += 1
        stopped = exact.status[exact.status != RUNNING]
        assert set(stopped.tolist()) <= {CONVERGED, DIVERGED}
        # a row with a non-finite value or gradient, or outside the bound, has diverged
        with np.errstate(all="ignore"):
            bad = ~np.isfinite(v) | ~np.isfinite((g * g).sum(1)) | ((x * x).sum(1) > bound**2)
        assert (exact.status.numpy()[bad] == DIVERGED).all(), trial
    assert passed > 50  # the screen is not vacuous
