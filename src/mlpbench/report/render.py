"""Writing a report: Markdown (tables by pandas), one self-contained HTML page (a Jinja2 template,
figures embedded as base64 PNG), and the record of both as an MLflow run.

A report is a title, intro paragraphs and ``Section``s; its text follows ``format``'s markup rule.
"""
from __future__ import annotations

import base64
import contextlib
import dataclasses
import os
import re
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import jinja2
import pandas as pd

from mlpbench import tracking
from mlpbench.io import write_text
from mlpbench.report import format as fmt

MAX_TAG = 5000  # MLflow tag values are limited in length
NUMBER = re.compile(r"[+-]?[\d.,]+( ?(%|s|ms|MB|×|points))?( †)?")

JINJA = jinja2.Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
JINJA.filters.update(html=fmt.html, base64=lambda path: base64.b64encode(Path(path).read_bytes()).decode())
PAGE = JINJA.from_string("""\
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{ title }}</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 72rem; margin: 2rem auto; padding: 0 1rem;
       color: #222; line-height: 1.5; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: left; }
th { background: #f3f3f3; }
td.r { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
figure { margin: 1.5rem 0; } figure img { max-width: 100%; }
figcaption { font-style: italic; color: #555; }
code { background: #f6f6f6; padding: 0 0.2rem; }
</style>
</head>
<body>
<h1>{{ title }}</h1>
{% for p in intro %}<p>{{ p | html }}</p>
{% endfor %}
{% for s in sections %}
<h2>{{ s.heading }}</h2>
{% for p in s.text %}<p>{{ p | html }}</p>
{% endfor %}
{% if s.table is not none %}{% set a = align(s.table) %}
<table>
<thead><tr>{% for h in s.table.columns %}<th>{{ h }}</th>{% endfor %}</tr></thead>
<tbody>
{% for row in s.table.values %}
<tr>{% for cell in row %}<td class="{{ a[loop.index0] }}">{{ cell | html }}</td>{% endfor %}</tr>
{% endfor %}
</tbody>
</table>
{% endif %}
{% for p in s.notes %}<p>{{ p | html }}</p>
{% endfor %}
{% if s.bullets %}<ul>
{% for b in s.bullets %}<li>{{ b | html }}</li>
{% endfor %}</ul>
{% endif %}
{% for f in s.figures %}<figure><img alt="{{ f.caption }}" src="data:image/png;base64,{{ f.path | base64 }}">\
<figcaption>{{ f.caption }}</figcaption></figure>
{% endfor %}
{% endfor %}
</body>
</html>
""")


@dataclass(frozen=True)
class Figure:
    path: Path  # the PNG on disk; Markdown links it relatively, HTML embeds it
    caption: str


@dataclass(frozen=True, eq=False)
class Section:
    """A heading, then its paragraphs, table, notes (paragraphs), bullets and figures, in that order."""

    heading: str
    text: tuple[str, ...] = ()
    table: pd.DataFrame | None = None  # cells already formatted as report text
    notes: tuple[str, ...] = ()
    bullets: tuple[str, ...] = ()
    figures: tuple[Figure, ...] = ()


@dataclass(frozen=True)
class ReportFiles:
    """What a report build produced; ``report_run_id`` is None when it was not logged."""

    markdown: Path
    html: Path
    figures: tuple[Path, ...]
    report_run_id: str | None = None
    restored_runs: int = 0  # runs imported from run exports before the build (report.runs.restore_runs)


def align(table: pd.DataFrame) -> str:
    """One letter per column: "r" where every known value is a number (with its unit), else "l"."""
    return "".join("r" if all(NUMBER.fullmatch(v) for v in table[c] if v != fmt.MISSING) else "l"
                   for c in table.columns)


def markdown_table(table: pd.DataFrame) -> str:
    cells = table.map(lambda v: v.replace("|", "\\|")).rename(columns=lambda h: h.replace("|", "\\|"))
    side = {"l": "left", "r": "right"}
    return cells.to_markdown(index=False, colalign=[side[a] for a in align(table)], disable_numparse=True)


def markdown(title: str, intro: Sequence[str], sections: Sequence[Section], base: Path) -> str:
    """The Markdown text; figure links are relative to ``base`` (the Markdown file's folder)."""
    parts = [f"# {title}", *intro]
    for s in sections:
        parts += [f"## {s.heading}", *s.text, *([markdown_table(s.table)] if s.table is not None else []), *s.notes]
        parts += ["\n".join(f"- {b}" for b in s.bullets)] if s.bullets else []
        parts += [f"![{f.caption}]({Path(os.path.relpath(f.path, base)).as_posix()})\n\n*{f.caption}*"
                  for f in s.figures]
    return "\n\n".join(parts) + "\n"


def figure_dir(out_dir: Path, stem: str) -> Path:
    """``out_dir/<stem>_figures``, emptied of PNGs left by an earlier build."""
    folder = Path(out_dir) / f"{stem}_figures"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    return folder


@contextlib.contextmanager
def building(out_dir: Path, stem: str) -> Iterator[Path]:
    """A fresh hidden folder in ``out_dir`` to build a report in; removed when the block ends.

    Build there, then ``publish``: the report that was in ``out_dir`` stays whole until a new one
    is complete (a failed build, say for a missing run, leaves the last good report in place).
    """
    folder = Path(out_dir) / f".{stem}.building-{secrets.token_hex(4)}"
    folder.mkdir(parents=True)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def publish(files: ReportFiles, built: Path, out_dir: Path) -> ReportFiles:
    """Move everything built in ``built`` (``building``) into ``out_dir``: folders, then the Markdown, the HTML last."""
    out_dir = Path(out_dir)
    for path in sorted(built.iterdir(), key=lambda p: (not p.is_dir(), p == files.html)):
        final = out_dir / path.name
        old = final.with_name(f".{final.name}.old-{secrets.token_hex(4)}")
        if path.is_dir() and final.exists():
            os.replace(final, old)
        os.replace(path, final)
        shutil.rmtree(old, ignore_errors=True)
    return dataclasses.replace(files, markdown=out_dir / files.markdown.relative_to(built),
                               html=out_dir / files.html.relative_to(built),
                               figures=tuple(out_dir / f.relative_to(built) for f in files.figures))


def write(title: str, intro: Sequence[str], sections: Sequence[Section], out_dir: Path, stem: str) -> ReportFiles:
    """Write ``out_dir/<stem>.md`` and ``out_dir/<stem>.html`` from the same sections."""
    out_dir = Path(out_dir)
    md_path, html_path = out_dir / f"{stem}.md", out_dir / f"{stem}.html"
    write_text(md_path, markdown(title, intro, sections, out_dir))
    write_text(html_path, PAGE.render(title=title, intro=intro, sections=sections, align=align))
    return ReportFiles(md_path, html_path, tuple(f.path for s in sections for f in s.figures))


def log(files: ReportFiles, uri: str, experiment_id: str, run_name: str, tags: Mapping[str, str],
        summarised: Sequence[str]) -> ReportFiles:
    """Record the report files as a new MLflow run in the reports experiment of ``experiment_id``.

    summarised: the runs the report is built from; each gets the tag ``report_run_id``. The figures
    go under the same folder name as on disk, so the Markdown's links work when the artifacts are
    downloaded.
    """
    pairs = [(files.markdown, None), (files.html, None), *((f, f.parent.name) for f in files.figures)]
    short = {k: v if len(v) <= MAX_TAG else v[: MAX_TAG - 3] + "..." for k, v in tags.items()}
    run_id = tracking.log_report(uri, experiment_id, pairs, short, summarised, run_name=run_name)
    return dataclasses.replace(files, report_run_id=run_id)
