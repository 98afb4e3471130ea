"""Writing a report (Markdown, self-contained HTML, PNG figures) and recording it in MLflow."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from mlpbench import tracking
from mlpbench.io import write_text
from mlpbench.report import html, markdown
from mlpbench.report.document import Block, Figure

MAX_TAG = 5000  # MLflow tag values are limited in length


@dataclass(frozen=True)
class ReportFiles:
    """What a report build produced; ``report_run_id`` is None when it was not logged."""

    markdown: Path
    html: Path
    figures: tuple[Path, ...]
    report_run_id: str | None = None


def figure_dir(out_dir: Path, stem: str) -> Path:
    """``out_dir/<stem>_figures``, emptied of PNGs left by an earlier build."""
    folder = Path(out_dir) / f"{stem}_figures"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    return folder


def write(blocks: Sequence[Block], out_dir: Path, stem: str, title: str) -> ReportFiles:
    """Write ``out_dir/<stem>.md`` and ``out_dir/<stem>.html`` from the same blocks."""
    out_dir = Path(out_dir)
    md_path, html_path = out_dir / f"{stem}.md", out_dir / f"{stem}.html"
    write_text(md_path, markdown.render(blocks, out_dir))
    write_text(html_path, html.render(blocks, title))
    figures = tuple(b.path for b in blocks if isinstance(b, Figure))
    return ReportFiles(md_path, html_path, figures)


def log(files: ReportFiles, uri: str, experiment_id: str, run_name: str,
        tags: Mapping[str, str]) -> ReportFiles:
    """Record the report files as artifacts of a new MLflow run tagged ``report=true``.

    The figures go under the same folder name as on disk, so the Markdown's links work when the
    artifacts are downloaded.
    """
    pairs = [(files.markdown, None), (files.html, None)]
    pairs += [(f, f.parent.name) for f in files.figures]
    short = {k: v if len(v) <= MAX_TAG else v[: MAX_TAG - 3] + "..." for k, v in tags.items()}
    run_id = tracking.log_report(uri, experiment_id, pairs, short, run_name=run_name)
    return ReportFiles(files.markdown, files.html, files.figures, run_id)
