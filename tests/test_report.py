"""The report: links that resolve from the file's folder, the run mode stated, the seed's two
pictures first, plain sentences before the numbers, and the same in Korean."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from descentlab.experiments.base import ExperimentResult, Table
from descentlab.experiments.report import (
    experiment_markdown,
    render_html,
    render_markdown,
    write_report,
)
from descentlab.i18n import catalogue

PNG = b"\x89PNG\r\n\x1a\n" + b"0" * 64


def _result(tmp: Path, name: str = "newton-vs-gd", quick: bool = True) -> ExperimentResult:
    folder = tmp / "out" / name
    folder.mkdir(parents=True, exist_ok=True)
    figures = {}
    for key in ("cost", "outcomes"):
        (folder / f"{key}.png").write_bytes(PNG)
        figures[key] = folder / f"{key}.png"
    return ExperimentResult(
        name=name,
        claim="Deep learning uses gradient descent rather than Newton's method.",
        verdict="qualified",
        summary="Cost: GL(p) 0.93 [0.90, 0.95] at n = 1201.",
        rests_on=["exponent 2.01"],
        tables=[Table("t", ["a", "b"], [[1, 2.5]])],
        figures=figures,
        quick=quick,
        seconds=1.5,
    )


def _links(md: str) -> list[str]:
    return re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)


def test_markdown_links_resolve_from_the_report_folder(tmp_path, monkeypatch) -> None:
    r = _result(tmp_path)
    out = tmp_path / "out"
    paths = write_report([r], out)
    md = paths["markdown"].read_text(encoding="utf-8")
    links = _links(md)
    assert len(links) == 4  # the two seed pictures and the experiment's two figures
    for link in links:
        assert (out / link).is_file(), link  # relative to report.md's folder
    assert "newton-vs-gd/cost.png" in links
    # and from anywhere else: a moved copy of the whole folder still resolves
    monkeypatch.chdir(tmp_path)
    moved = tmp_path / "moved"
    out.rename(moved)
    for link in links:
        assert (moved / link).is_file(), link


def test_printed_experiment_markdown_links_resolve_from_the_working_folder(
    tmp_path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    r = _result(Path("."))  # figures as the CLI names them: relative to where it runs
    for link in _links(experiment_markdown(r)):
        assert Path(link).is_file(), link
    folder = Path("out/newton-vs-gd")
    for link in _links(experiment_markdown(r, link_base=folder)):
        assert (folder / link).is_file(), link


@pytest.mark.parametrize("quick", [True, False])
def test_html_states_the_run_mode_and_shows_the_seed_pictures_first(tmp_path, quick) -> None:
    r = _result(tmp_path, quick=quick)
    paths = write_report([r], tmp_path / "out", lang="en")
    page = paths["html"].read_text(encoding="utf-8")
    mode = catalogue("en", "report")["mode_quick" if quick else "mode_full"]
    assert mode.split(":")[0] in page
    seed_gd, seed_cp = (
        page.index("id='seed-gradient_descent'"),
        page.index("id='seed-critical_points'"),
    )
    first_claim = page.index("id='newton-vs-gd'")
    assert seed_gd < seed_cp < first_claim
    assert page.count("<img ") == 4 and "src='data:image/png;base64," in page  # embedded
    assert (tmp_path / "out" / "gradient_descent.png").read_bytes()[:4] == b"\x89PNG"


def test_plain_sentences_come_before_the_numbers(tmp_path) -> None:
    r = _result(tmp_path)
    intro = catalogue("en", "experiments")["newton-vs-gd.intro"]
    for text in (html.unescape(render_html([r], lang="en")), render_markdown([r], lang="en")):
        i, n = text.index(intro.split(".")[0]), text.index("GL(p)")
        assert i < n
        assert text.index("The numbers") < n
        assert len(re.findall(r"[.!?](\s|$)", intro)) >= 2  # two plain sentences at least


def test_korean_report(tmp_path) -> None:
    r = _result(tmp_path)
    ko = catalogue("ko", "experiments")
    page = html.unescape(render_html([r], lang="ko"))
    md = render_markdown([r], lang="ko")
    for text in (page, md):
        assert ko["newton-vs-gd.intro"][:20] in text
        assert ko["newton-vs-gd.claim"] in text
        assert catalogue("ko", "report")["mode_quick"][:10] in text
        assert "GL(p)" in text  # the measured numbers are kept
    assert "<html lang='ko'>" in page


def test_unknown_experiment_has_no_intro_but_renders(tmp_path) -> None:
    r = _result(tmp_path, name="my-claim")
    md = render_markdown([r], lang="ko")
    assert "my-claim" in md and "GL(p)" in md
