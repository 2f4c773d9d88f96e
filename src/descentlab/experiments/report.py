"""One self-contained report (HTML with embedded figures, and Markdown) from the experiments."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path

from descentlab.experiments.base import ExperimentResult
from descentlab.formatting import format_cell
from descentlab.io import write_text

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:60rem;
margin:2rem auto;
padding:0 1rem;color:#1d1d1f;line-height:1.5}
h1{font-size:1.8rem}h2{margin-top:2.5rem;border-bottom:1px solid #ddd;padding-bottom:.3rem}
.verdict{display:inline-block;padding:.1rem .6rem;border-radius:.8rem;color:#fff;font-size:.9rem;
margin-left:.5rem;vertical-align:middle}
.supported{background:#2e7d32}.qualified{background:#ef6c00}.refuted{background:#c62828}
table{border-collapse:collapse;margin:1rem 0;font-size:.9rem}
td,th{border:1px solid #ccc;padding:.25rem .6rem;text-align:right}th{background:#f4f4f4}
td:first-child,th:first-child{text-align:left}
img{max-width:100%;border:1px solid #eee;margin:.5rem 0}
.claim{font-style:italic;color:#444}.meta{color:#777;font-size:.85rem}
"""


def _fmt(c: object) -> str:
    return html.escape(format_cell(c))


def _img_tag(path: Path) -> str:
    path = Path(path)
    if not path.exists():
        return f"<p class='meta'>(figure {html.escape(path.name)} missing)</p>"
    data = path.read_bytes()
    if path.suffix.lower() == ".svg":
        mime = "image/svg+xml"
    elif path.suffix.lower() == ".gif":
        mime = "image/gif"
    else:
        mime = "image/png"
    b64 = base64.b64encode(data).decode("ascii")
    return f"<img alt='{html.escape(path.stem)}' src='data:{mime};base64,{b64}'>"


def render_html(results: Sequence[ExperimentResult], title: str = "descentlab report") -> str:
    """A single HTML page with every figure embedded (no external files)."""
    out = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        "<p>Each section reproduces one claim about gradient descent on non-convex losses, "
        "with the numbers measured in this run and what the verdict rests on.</p>",
        "<ul>",
    ]
    for r in results:
        out.append(
            f"<li><a href='#{r.name}'>{html.escape(r.name)}</a>: "
            f"<span class='verdict {r.verdict}'>{r.verdict}</span></li>"
        )
    out.append("</ul>")
    for r in results:
        out += [
            f"<h2 id='{r.name}'>{html.escape(r.name)}"
            f"<span class='verdict {r.verdict}'>{r.verdict}</span></h2>",
            f"<p class='claim'>Claim: {html.escape(r.claim)}</p>",
            f"<p>{html.escape(r.summary)}</p>",
            "<p><b>The verdict rests on:</b></p><ul>",
            *[f"<li>{html.escape(x)}</li>" for x in r.rests_on],
            "</ul>",
        ]
        for t in r.tables:
            out.append(f"<table><caption>{html.escape(t.title)}</caption><tr>")
            out += [f"<th>{html.escape(c)}</th>" for c in t.columns]
            out.append("</tr>")
            for row in t.rows:
                out.append("<tr>" + "".join(f"<td>{_fmt(c)}</td>" for c in row) + "</tr>")
            out.append("</table>")
        for path in r.figures.values():
            out.append(_img_tag(Path(path)))
        mode = "quick" if r.quick else "full"
        out.append(f"<p class='meta'>{mode} run, {r.seconds:.1f} s</p>")
    out.append("</body></html>")
    return "\n".join(out)


def render_markdown(results: Sequence[ExperimentResult], title: str = "descentlab report") -> str:
    parts = [f"# {title}", ""]
    parts += [f"- **{r.name}**: {r.verdict}" for r in results]
    parts.append("")
    parts += [r.to_markdown() for r in results]
    return "\n".join(parts)


def write_report(results: Sequence[ExperimentResult], out: str | Path) -> dict[str, Path]:
    """Write ``report.html`` (self-contained) and ``report.md`` into ``out``; return the paths."""
    out = Path(out)
    html_path = write_text(out / "report.html", render_html(results))
    md_path = write_text(out / "report.md", render_markdown(results))
    return {"html": html_path, "markdown": md_path}
