"""The report: one self-contained HTML page and a Markdown file from the experiments' results.

Layout, for a learner first: the run mode (quick or full), the seed's two pictures (gradient
descent's steps on a curve; a surface with a global minimum, a local minimum and a saddle), then
one section per claim that opens with two plain sentences (from the message catalogue, in
English or Korean), the claim, a one-line takeaway from the verdict, and only then the numbers,
what the verdict rests on, the tables and the figures.

Links resolve wherever the report is opened: the HTML embeds every figure as a data URI; the
Markdown links each figure by its path relative to the Markdown file's folder.
"""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Sequence
from pathlib import Path

from descentlab.experiments.base import ExperimentResult
from descentlab.formatting import format_cell
from descentlab.i18n import current_lang, has, t
from descentlab.io import write_text

SEED_FIGURES = ("gradient_descent", "critical_points")

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,"Noto Sans KR",sans-serif;
max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1d1d1f;line-height:1.55}
h1{font-size:1.8rem}h2{margin-top:2.5rem;border-bottom:1px solid #ddd;padding-bottom:.3rem}
.verdict{display:inline-block;padding:.1rem .6rem;border-radius:.8rem;color:#fff;font-size:.9rem;
margin-left:.5rem;vertical-align:middle}
.supported{background:#2e7d32}.qualified{background:#ef6c00}.refuted{background:#c62828}
.mode{background:#fff8e1;border-left:4px solid #ef6c00;padding:.5rem .8rem}
.mode.full{background:#e8f5e9;border-color:#2e7d32}
.plain{font-size:1.05rem}.takeaway{font-weight:600}
table{border-collapse:collapse;margin:1rem 0;font-size:.9rem}
td,th{border:1px solid #ccc;padding:.25rem .6rem;text-align:right}th{background:#f4f4f4}
td:first-child,th:first-child{text-align:left}
figure{margin:1rem 0}figcaption{color:#444;font-size:.95rem}
img{max-width:100%;border:1px solid #eee;margin:.5rem 0}
.claim{font-style:italic;color:#444}.meta{color:#777;font-size:.85rem}
"""


def _fmt(c: object) -> str:
    return html.escape(format_cell(c))


def _img_tag(path: Path, lang: str) -> str:
    path = Path(path)
    if not path.exists():
        return (
            f"<p class='meta'>{html.escape(t('report.figure_missing', lang, name=path.name))}</p>"
        )
    data = path.read_bytes()
    mime = {".svg": "image/svg+xml", ".gif": "image/gif"}.get(path.suffix.lower(), "image/png")
    b64 = base64.b64encode(data).decode("ascii")
    return f"<img alt='{html.escape(path.stem)}' src='data:{mime};base64,{b64}'>"


def write_seed_figures(out: str | Path, fmt: str = "png") -> dict[str, Path]:
    """The seed's two pictures into ``out``: ``gradient_descent`` and ``critical_points``."""
    from descentlab.viz import critical_points_figure, gradient_descent_figure, save_figure

    out = Path(out)
    return {
        "gradient_descent": save_figure(gradient_descent_figure(), out / f"gradient_descent.{fmt}"),
        "critical_points": save_figure(critical_points_figure(), out / f"critical_points.{fmt}"),
    }


def claim_text(r: ExperimentResult, lang: str) -> str:
    key = f"experiments.{r.name}.claim"
    return t(key, lang) if lang != "en" and has(key) else r.claim


def section_title(r: ExperimentResult, lang: str) -> str:
    key = f"experiments.{r.name}.title"
    return f"{t(key, lang)} ({r.name})" if has(key) else r.name


def plain_intro(r: ExperimentResult, lang: str) -> str | None:
    """The two plain sentences a learner reads before the numbers (``None`` if none written)."""
    key = f"experiments.{r.name}.intro"
    return t(key, lang) if has(key) else None


def _badge(r: ExperimentResult, lang: str) -> str:
    word = html.escape(t(f"report.verdict_{r.verdict}", lang))
    return f"<span class='verdict {r.verdict}'>{word}</span>"


def _mode_line(quick: bool, lang: str) -> str:
    return t("report.mode_quick" if quick else "report.mode_full", lang)


def _meta(r: ExperimentResult, lang: str) -> str:
    mode = t("report.mode_word_quick" if r.quick else "report.mode_word_full", lang)
    return t("report.meta", lang, mode=mode, seconds=r.seconds)


def render_html(
    results: Sequence[ExperimentResult],
    title: str | None = None,
    *,
    seed_figures: dict[str, Path] | None = None,
    lang: str | None = None,
) -> str:
    """A single HTML page with every figure embedded (no external files)."""
    lang = current_lang(lang)
    title = title or t("report.title", lang)
    quick = any(r.quick for r in results)
    out = [
        f"<!doctype html><html lang='{lang}'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width,initial-scale=1'>",
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p class='mode {'quick' if quick else 'full'}' id='run-mode'>"
        f"{html.escape(_mode_line(quick, lang))}</p>",
        f"<p>{html.escape(t('report.lead', lang))}</p>",
    ]
    if seed_figures:
        out.append(f"<h2 id='seed'>{html.escape(t('report.seed_heading', lang))}</h2>")
        for key in SEED_FIGURES:
            if key in seed_figures:
                caption = t(
                    f"report.seed_{'gd' if key == 'gradient_descent' else 'cp'}_caption", lang
                )
                out.append(
                    f"<figure id='seed-{key}'>{_img_tag(Path(seed_figures[key]), lang)}"
                    f"<figcaption>{html.escape(caption)}</figcaption></figure>"
                )
    out += [f"<h2>{html.escape(t('report.contents', lang))}</h2>", "<ul>"]
    for r in results:
        out.append(
            f"<li><a href='#{r.name}'>{html.escape(section_title(r, lang))}</a>: "
            f"{_badge(r, lang)}</li>"
        )
    out.append("</ul>")
    note = t("report.numbers_language_note", lang)
    for r in results:
        out.append(f"<h2 id='{r.name}'>{html.escape(section_title(r, lang))}{_badge(r, lang)}</h2>")
        intro = plain_intro(r, lang)
        if intro:
            out.append(f"<p class='plain'>{html.escape(intro)}</p>")
        out += [
            f"<p class='claim'>{html.escape(t('report.claim', lang))}: "
            f"{html.escape(claim_text(r, lang))}</p>",
            f"<p class='takeaway'>{html.escape(t(f'report.takeaway_{r.verdict}', lang))}</p>",
            f"<h3>{html.escape(t('report.numbers', lang))}</h3>",
        ]
        if note:
            out.append(f"<p class='meta'>{html.escape(note)}</p>")
        out += [
            f"<p>{html.escape(r.summary)}</p>",
            f"<p><b>{html.escape(t('report.rests_on', lang))}</b></p><ul>",
            *[f"<li>{html.escape(x)}</li>" for x in r.rests_on],
            "</ul>",
        ]
        for tab in r.tables:
            out.append(f"<table><caption>{html.escape(tab.title)}</caption><tr>")
            out += [f"<th>{html.escape(c)}</th>" for c in tab.columns]
            out.append("</tr>")
            for row in tab.rows:
                out.append("<tr>" + "".join(f"<td>{_fmt(c)}</td>" for c in row) + "</tr>")
            out.append("</table>")
        for path in r.figures.values():
            out.append(_img_tag(Path(path), lang))
        out.append(f"<p class='meta'>{html.escape(_meta(r, lang))}</p>")
    total = sum(r.seconds for r in results)
    out.append(
        f"<p class='meta'>{html.escape(t('report.total', lang, n=len(results), seconds=total))}</p>"
    )
    out.append("</body></html>")
    return "\n".join(out)


def _link(path: str | os.PathLike[str], link_base: str | os.PathLike[str] | None) -> str:
    """``path`` as a Markdown link target relative to ``link_base`` (as given when ``None``)."""
    p = Path(path)
    if link_base is not None:
        p = Path(os.path.relpath(p.resolve(), Path(link_base).resolve()))
    return p.as_posix().replace(" ", "%20")


def experiment_markdown(
    r: ExperimentResult,
    *,
    link_base: str | os.PathLike[str] | None = None,
    lang: str | None = None,
    heading: str = "##",
) -> str:
    """One claim in Markdown: plain sentences, claim, takeaway, then the numbers and figures.

    Figure links are relative to ``link_base`` (the folder of the file the text goes into);
    ``None`` keeps the paths as written (relative to the working folder for printed text).
    """
    lang = current_lang(lang)
    verdict = t(f"report.verdict_{r.verdict}", lang)
    parts = [f"{heading} {section_title(r, lang)}: {verdict.upper()}", ""]
    intro = plain_intro(r, lang)
    if intro:
        parts += [intro, ""]
    parts += [
        f"*{t('report.claim', lang)}:* {claim_text(r, lang)}",
        "",
        f"**{t(f'report.takeaway_{r.verdict}', lang)}**",
        "",
        f"{heading}# {t('report.numbers', lang)}",
        "",
    ]
    note = t("report.numbers_language_note", lang)
    if note:
        parts += [f"_{note}_", ""]
    parts += [
        r.summary,
        "",
        f"*{t('report.rests_on', lang)}*",
        "",
        *[f"- {x}" for x in r.rests_on],
    ]
    for tab in r.tables:
        parts += ["", tab.to_markdown()]
    for key, path in r.figures.items():
        parts += ["", f"![{key}]({_link(path, link_base)})"]
    parts += ["", f"_{_meta(r, lang)}_"]
    return "\n".join(parts) + "\n"


def render_markdown(
    results: Sequence[ExperimentResult],
    title: str | None = None,
    *,
    link_base: str | os.PathLike[str] | None = None,
    seed_figures: dict[str, Path] | None = None,
    lang: str | None = None,
) -> str:
    """The report in Markdown; figure links relative to ``link_base`` (the file's folder)."""
    lang = current_lang(lang)
    quick = any(r.quick for r in results)
    parts = [f"# {title or t('report.title', lang)}", "", f"> {_mode_line(quick, lang)}", ""]
    parts += [t("report.lead", lang), ""]
    if seed_figures:
        parts += [f"## {t('report.seed_heading', lang)}", ""]
        for key in SEED_FIGURES:
            if key in seed_figures:
                caption = t(
                    f"report.seed_{'gd' if key == 'gradient_descent' else 'cp'}_caption", lang
                )
                parts += [f"![{key}]({_link(seed_figures[key], link_base)})", "", caption, ""]
    parts += [f"## {t('report.contents', lang)}", ""]
    parts += [
        f"- [{section_title(r, lang)}](#{r.name}): {t(f'report.verdict_{r.verdict}', lang)}"
        for r in results
    ]
    parts.append("")
    for r in results:
        parts += [
            f'<a id="{r.name}"></a>',
            "",
            experiment_markdown(r, link_base=link_base, lang=lang),
        ]
    return "\n".join(parts)


def write_report(
    results: Sequence[ExperimentResult],
    out: str | Path,
    *,
    lang: str | None = None,
    seed_figures: bool = True,
) -> dict[str, Path]:
    """Write ``report.html`` (self-contained) and ``report.md`` (links relative to ``out``) into
    ``out``, with the seed's two pictures first; return the paths."""
    out = Path(out)
    seeds = write_seed_figures(out) if seed_figures else None
    html_path = write_text(out / "report.html", render_html(results, seed_figures=seeds, lang=lang))
    md_path = write_text(
        out / "report.md",
        render_markdown(results, link_base=out, seed_figures=seeds, lang=lang),
    )
    paths = {"html": html_path, "markdown": md_path}
    if seeds:
        paths.update({f"figure_{k}": v for k, v in seeds.items()})
    return paths
