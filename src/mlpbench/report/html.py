"""Render report blocks as one self-contained HTML page: figures embedded as base64 PNG."""
from __future__ import annotations

import base64
from html import escape
from typing import Sequence

from mlpbench.report.document import (Block, Bullets, Code, Figure, Heading, Inline, Link, Paragraph,
                                      Table, column_align)

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 72rem; margin: 2rem auto; padding: 0 1rem;
       color: #222; line-height: 1.5; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; }
th { background: #f3f3f3; }
td.r { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1.5rem 0; }
figure img { max-width: 100%; }
figcaption { font-style: italic; color: #555; }
code { background: #f6f6f6; padding: 0 0.2rem; }
"""


def inline(text: Inline) -> str:
    if isinstance(text, tuple):
        return "".join(inline(part) for part in text)
    if isinstance(text, Link):
        return f'<a href="{escape(text.url)}">{escape(text.text)}</a>'
    if isinstance(text, Code):
        return f"<code>{escape(text.text)}</code>"
    return escape(text)


def table(block: Table) -> str:
    align = column_align(block)
    head = "".join(f"<th>{escape(h)}</th>" for h in block.header)
    rows = ["<tr>" + "".join(f'<td class="{a}">{inline(c)}</td>' for a, c in zip(align, row)) + "</tr>"
            for row in block.rows]
    return "<table>\n<thead><tr>" + head + "</tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table>"


def figure(block: Figure) -> str:
    data = base64.b64encode(block.path.read_bytes()).decode("ascii")
    return (f'<figure><img alt="{escape(block.caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{escape(block.caption)}</figcaption></figure>")


def block_html(block: Block) -> str:
    if isinstance(block, Heading):
        return f"<h{block.level}>{escape(block.text)}</h{block.level}>"
    if isinstance(block, Paragraph):
        return f"<p>{inline(block.text)}</p>"
    if isinstance(block, Bullets):
        return "<ul>\n" + "\n".join(f"<li>{inline(item)}</li>" for item in block.items) + "\n</ul>"
    if isinstance(block, Table):
        return table(block)
    if isinstance(block, Figure):
        return figure(block)
    raise TypeError(f"cannot render {type(block).__name__} as HTML")


def render(blocks: Sequence[Block], title: str) -> str:
    """A complete HTML document; it references no other file."""
    body = "\n".join(block_html(b) for b in blocks)
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n")
