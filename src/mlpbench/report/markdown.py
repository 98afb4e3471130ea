"""Render report blocks as GitHub-flavoured Markdown; figures are linked relative to the file."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from mlpbench.report.document import (Block, Bullets, Code, Figure, Heading, Inline, Link, Paragraph,
                                      Table, column_align)


def inline(text: Inline, in_table: bool = False) -> str:
    if isinstance(text, tuple):
        return "".join(inline(part, in_table) for part in text)
    if isinstance(text, Link):
        return f"[{_escape(text.text, in_table)}]({text.url})"
    if isinstance(text, Code):
        return f"`{text.text}`"
    return _escape(text, in_table)


def _escape(text: str, in_table: bool) -> str:
    text = text.replace("\\", "\\\\").replace("*", "\\*").replace("_", "\\_")
    return text.replace("|", "\\|") if in_table else text


def table(block: Table) -> list[str]:
    rule = {"l": "---", "r": "---:"}
    lines = ["| " + " | ".join(_escape(h, True) for h in block.header) + " |",
             "| " + " | ".join(rule[a] for a in column_align(block)) + " |"]
    lines += ["| " + " | ".join(inline(cell, True) for cell in row) + " |" for row in block.rows]
    return lines


def block_lines(block: Block, base: Path) -> list[str]:
    if isinstance(block, Heading):
        return ["#" * block.level + " " + block.text]
    if isinstance(block, Paragraph):
        return [inline(block.text)]
    if isinstance(block, Bullets):
        return [f"- {inline(item)}" for item in block.items]
    if isinstance(block, Table):
        return table(block)
    if isinstance(block, Figure):
        rel = Path(os.path.relpath(block.path, base)).as_posix()
        return [f"![{block.caption}]({rel})", "", f"*{_escape(block.caption, False)}*"]
    raise TypeError(f"cannot render {type(block).__name__} as Markdown")


def render(blocks: Sequence[Block], base: Path) -> str:
    """The Markdown text; figure links are relative to ``base`` (the Markdown file's folder)."""
    return "\n\n".join("\n".join(block_lines(b, base)) for b in blocks) + "\n"
