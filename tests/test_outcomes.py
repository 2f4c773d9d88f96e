"""The one outcome vocabulary: every kind diagnose can give has a label, a short label and a
colour, and the CLI, the web API/page and the figures use exactly that set."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from descentlab.analysis import outcomes
from descentlab.analysis.outcomes import (
    CRITICAL_POINT_KINDS,
    OUTCOME_COLORS,
    OUTCOME_KINDS,
    OUTCOME_LABELS,
    OUTCOME_SHORT_LABELS,
    critical_point_kind,
    outcome_kind,
)
from descentlab.errors import UnknownNameError
from descentlab.landscapes.base import KINDS as CRITICAL_POINT_CLASSES

diagnose_module = importlib.import_module("descentlab.analysis.diagnose")


def _kinds_spelled_in_diagnose() -> set[str]:
    """String constants diagnose.py gives an outcome kind: ``kind=...`` keywords, ``kind = ...``
    assignments and the first element of the tuples ``_kind_of`` returns."""
    tree = ast.parse(inspect.getsource(diagnose_module))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "kind":
            if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                found.add(node.value.value)
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "kind" for t in node.targets
        ):
            if isinstance(node.value, ast.Constant):
                found.add(node.value.value)
        if isinstance(node, ast.FunctionDef) and node.name == "_kind_of":
            for ret in ast.walk(node):
                if isinstance(ret, ast.Return) and isinstance(ret.value, ast.Tuple):
                    first = ret.value.elts[0]
                    if isinstance(first, ast.Constant):
                        found.add(first.value)
    return found


def test_every_kind_diagnose_can_give_is_in_the_vocabulary():
    spelled = _kinds_spelled_in_diagnose()
    assert {"diverged", "plateau", "max_steps", "global_minimum", "local_minimum"} <= spelled
    assert spelled <= set(OUTCOME_KINDS)
    # ``_kind_of`` also returns a critical point's own kind for non-minima
    assert {critical_point_kind(k) for k in CRITICAL_POINT_CLASSES if k != "minimum"} <= set(
        OUTCOME_KINDS
    )
    assert diagnose_module.OUTCOME_KINDS is OUTCOME_KINDS


def test_every_kind_has_a_label_short_label_and_colour():
    assert len(set(OUTCOME_KINDS)) == len(OUTCOME_KINDS) == 8
    for k in OUTCOME_KINDS:
        entry = outcome_kind(k)
        assert entry.label and entry.short and entry.meaning
        assert re.fullmatch(r"#[0-9a-f]{6}", entry.color)
    assert len(set(OUTCOME_LABELS.values())) == len(OUTCOME_KINDS)
    assert len(set(OUTCOME_SHORT_LABELS.values())) == len(OUTCOME_KINDS)
    assert len(set(OUTCOME_COLORS.values())) == len(OUTCOME_KINDS)
    assert CRITICAL_POINT_KINDS == OUTCOME_KINDS[:5]
    assert [o["name"] for o in outcomes.vocabulary()] == list(OUTCOME_KINDS)


def test_unknown_kinds_list_the_valid_ones():
    with pytest.raises(UnknownNameError, match="valid: degenerate, diverged"):
        outcome_kind("stuck")
    with pytest.raises(UnknownNameError, match="critical-point kind"):
        critical_point_kind("plateau")
    assert critical_point_kind("minimum", is_global=False) == "local_minimum"


def test_figures_read_the_vocabulary():
    from descentlab.viz import style

    assert style.OUTCOME_COLORS == OUTCOME_COLORS and style.OUTCOME_LABELS == OUTCOME_LABELS
    assert tuple(style.KIND_STYLES) == CRITICAL_POINT_KINDS
    for k, s in style.KIND_STYLES.items():
        assert (s.label, s.color) == (OUTCOME_LABELS[k], OUTCOME_COLORS[k])
    assert style.outcome_color("max_steps") == OUTCOME_COLORS["max_steps"]


def test_cli_words_cover_every_kind():
    from descentlab.cli.cmd_run import _outcome_words

    cp = SimpleNamespace(point=(1.0, -2.0))
    for k in OUTCOME_KINDS:
        o = SimpleNamespace(
            kind=k,
            critical_point=cp if outcomes.outcome_kind(k).at_critical_point else None,
            gap=0.5,
            index=1,
            step=7,
        )
        assert OUTCOME_LABELS[k] in _outcome_words(o)


def test_web_api_and_page_use_the_vocabulary():
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from descentlab.web.app import create_app

    meta = TestClient(create_app()).get("/api/meta").json()["style"]
    assert list(meta["outcome_labels"]) == list(OUTCOME_KINDS)
    assert meta["outcome_labels"] == OUTCOME_LABELS and meta["outcome_colors"] == OUTCOME_COLORS
    assert [o["name"] for o in meta["outcomes"]] == list(OUTCOME_KINDS)
    # the page spells no outcome kind outside the vocabulary
    js = (Path(outcomes.__file__).parents[1] / "web" / "static" / "app.js").read_text()
    spelled = set(re.findall(r"[\"']([a-z]+_[a-z_]+)[\"']", js))
    kindlike = {s for s in spelled if s.endswith(("_minimum", "_steps")) or s in OUTCOME_KINDS}
    assert kindlike <= set(OUTCOME_KINDS)


def test_web_basin_legend_words_are_the_short_labels():
    from descentlab.web import service

    assert not hasattr(service, "_OUTCOME_WORDS") and not hasattr(service, "_KIND_WORDS")
    from descentlab.landscapes import get_landscape

    labels = {service._cp_label(c) for c in get_landscape("tilted_double_well").critical_points}
    assert labels <= set(OUTCOME_SHORT_LABELS.values())
