"""Reading a report's Markdown tables back, and formats written independently of the report's own."""
from __future__ import annotations

import re

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MAX_WIDTH_PX = 1000  # wider, `dvc plots show` clips a figure


def pct(value: float) -> str:
    return f"{100 * value:.2f} %"


def table(markdown: str, section: str) -> list[list[str]]:
    """The header and body rows (cells stripped, ``\\|`` unescaped) of the table under ``## section``."""
    text = markdown.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    lines = [ln for ln in text.splitlines() if ln.startswith("|")]
    rows = [[c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", ln)[1:-1]] for ln in lines]
    return [rows[0], *rows[2:]]


def rows_by(markdown: str, section: str, width: int = 2) -> dict[tuple[str, ...], list[str]]:
    """The body rows of a table keyed by their first ``width`` cells (the first such row wins)."""
    found: dict[tuple[str, ...], list[str]] = {}
    for row in table(markdown, section)[1:]:
        found.setdefault(tuple(row[:width]), row[width:])
    return found
