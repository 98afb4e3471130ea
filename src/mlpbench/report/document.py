"""A report as a list of blocks, rendered twice: Markdown (``markdown.py``) and HTML (``html.py``).

Building the content once and rendering it twice keeps the two files saying the same thing.
Inline text is a string, a ``Link`` or a ``Code``, or a tuple of them.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Union


@dataclass(frozen=True)
class Link:
    text: str
    url: str


@dataclass(frozen=True)
class Code:
    text: str


Inline = Union[str, Link, Code, tuple]  # a tuple holds Inline parts, rendered one after another


@dataclass(frozen=True)
class Heading:
    level: int  # 1 for the title
    text: str


@dataclass(frozen=True)
class Paragraph:
    text: Inline


@dataclass(frozen=True)
class Bullets:
    items: tuple[Inline, ...]


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[Inline, ...], ...]
    align: str = ""  # one letter per column: "l" or "r"; empty: text left, the rest right


@dataclass(frozen=True)
class Figure:
    path: Path  # the PNG on disk; Markdown links it relatively, HTML embeds it
    caption: str


Block = Union[Heading, Paragraph, Bullets, Table, Figure]


def plain(text: Inline) -> str:
    """The inline text without markup (link targets dropped)."""
    if isinstance(text, tuple):
        return "".join(plain(part) for part in text)
    return text if isinstance(text, str) else text.text


def column_align(table: Table) -> str:
    """The table's alignment letters; by default the first two columns left, the rest right."""
    if table.align:
        return table.align
    return "".join("l" if i < 2 else "r" for i in range(len(table.header)))
