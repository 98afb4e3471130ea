"""How values appear in a report: fixed formats, so the same runs give the same bytes.

A report's text is Markdown with two kinds of markup only, code spans and links; ``html`` turns
exactly those into HTML, so one string serves both files.
"""
from __future__ import annotations

import math
import re
from typing import Callable

from markupsafe import Markup, escape

MISSING = "—"
UNIT = re.compile(r"(\d) (%|s|ms|MB|points)(?![\w])")


def _ok(value: object) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _number(spec: str, scale: float = 1.0) -> Callable[[object], str]:
    """A formatter: ``spec.format(scale * value)``, or ``MISSING`` for a missing or NaN value. A value that
    rounds to zero shows as zero, never "-0.00"."""
    digits = int(m.group(1)) if (m := re.search(r"\.(\d)f", spec)) else None
    return lambda value: spec.format(zeroed(scale * value, digits)) if _ok(value) else MISSING


def zeroed(value: float, digits: int | None) -> float:
    """``value``, or 0.0 where it rounds to zero at ``digits`` decimals (so no "-0.00")."""
    return 0.0 if digits is not None and round(value, digits) == 0 else value


pct = _number("{:.2f} %", 100)  # 0.9065 -> '90.65 %'
points = _number("{:+.2f} points", 100)  # a difference of fractions: 0.0652 -> '+6.52 points'
loss = _number("{:.4f}")
ratio = _number("{:.2f}×")
count = _number("{:,.0f}")
megabytes = _number("{:,.0f} MB")


points_abs = _number("{:.2f} points", 100)  # a spread of fractions: 0.0008 -> '0.08 points'


share = _number("{:.0f} %", 100)  # a part of a whole, not a measured accuracy: 0.7429 -> '74 %'


def supported_digits(half_width: float, most: int = 2) -> int:
    """Decimals that show ``half_width`` (in display units) to 2 significant digits, from 0 to ``most``: a
    mean is given no more digits than its interval supports."""
    if not _ok(half_width) or half_width <= 0:
        return most
    return min(most, max(0, 1 - math.floor(math.log10(half_width))))


def estimate_pct(e: object) -> str:
    """A mean accuracy with its interval's half-width, both to the digits the half-width supports
    (``98.21 ± 0.05 %``, ``84.6 ± 1.3 %``); the mean alone for one seed."""
    if e is None or not _ok(getattr(e, "mean", None)):
        return MISSING
    if not _ok(e.low):
        return pct(e.mean)
    half = (e.high - e.low) * 50
    digits = supported_digits(half)
    return f"{zeroed(e.mean * 100, digits):.{digits}f} ± {half:.{digits}f} %"


def time_unit(values: list[object]) -> tuple[float, str, int]:
    """(scale, unit, decimals) for showing ``values`` (seconds) in one unit: ms when all are under 1 s, else s;
    decimals that give the smallest non-zero value 3 significant digits (at most 3)."""
    found = [abs(v) for v in values if _ok(v)]
    scale, unit = (1000.0, "ms") if found and max(found) < 1 else (1.0, "s")
    smallest = min((v * scale for v in found if v), default=1.0)
    return scale, unit, min(3, max(0, 2 - math.floor(math.log10(smallest))))


def whole_column(f: Callable[[list[object]], list[str]]) -> Callable[[list[object]], list[str]]:
    """Mark ``f`` as formatting a table's whole column at once (``tables.table``), for one unit per column."""
    f.whole_column = True  # type: ignore[attr-defined]
    return f


@whole_column
def seconds_column(values: list[object]) -> list[str]:
    """Times in seconds, all in the unit ``time_unit`` picks for the column (``0.13 s`` never beside ``77.9 ms``)."""
    scale, unit, digits = time_unit(values)
    return [f"{zeroed(v * scale, digits):.{digits}f} {unit}" if _ok(v) else MISSING for v in values]


@whole_column
def estimate_seconds_column(estimates: list[object]) -> list[str]:
    """``estimate_seconds`` for a column, in one unit for all its cells."""
    found = [e for e in estimates if e is not None and _ok(getattr(e, "mean", None))]
    scale, unit, digits = time_unit([v for e in found for v in (e.mean, e.low, e.high)])
    halves = [(e.high - e.low) * scale / 2 for e in found if _ok(e.low) and _ok(e.high)]
    digits = supported_digits(min(halves), most=3) if halves else digits  # no digit the intervals do not support
    return [estimate_seconds(e, (scale, unit, digits)) for e in estimates]


def estimate_seconds(e: object, unit: tuple[float, str, int] | None = None) -> str:
    """A mean time with its interval in one unit: ``0.81 [0.79, 0.84] s``; the mean alone for one seed.
    unit: (scale, unit, decimals), e.g. ``time_unit``'s for a whole column (default: the mean's own)."""
    if e is None or not _ok(getattr(e, "mean", None)):
        return MISSING
    if unit is None:  # a cell alone: its mean's unit, as ``seconds`` would show it
        scale, name = (1000.0, "ms") if abs(e.mean) < 0.1 else (1.0, "s")
        unit = (scale, name, 1 if abs(e.mean) * scale >= 10 else 2)
    scale, name, digits = unit
    shown = [f"{zeroed(v * scale, digits):.{digits}f}" for v in (e.mean, e.low, e.high) if _ok(v)]
    return f"{shown[0]} {name}" if len(shown) < 3 else f"{shown[0]} [{shown[1]}, {shown[2]}] {name}"


def times(r: float, low: float | None = None, high: float | None = None) -> str:
    """A ratio of at least 1 with its interval where given: ``1.42× [1.32, 1.52]``."""
    return f"{r:.2f}×" + (f" [{low:.2f}, {high:.2f}]" if low is not None and high is not None else "")


def seconds(value: object) -> str:
    if not _ok(value):
        return MISSING
    return f"{value:.1f} s" if value >= 10 else f"{value:.2f} s" if value >= 0.1 else f"{value * 1000:.1f} ms"


def text(value: object) -> str:
    """A param or tag as recorded; ``MISSING`` where the run has none (NaN or None in a frame)."""
    return value if isinstance(value, str) else MISSING


def code(value: str) -> str:
    return f"`{value}`"


def run_ref(ui_url: str | None, experiment_id: str, run_id: str) -> str:
    """The run id as code, or linked to ``{ui_url}/#/experiments/{experiment_id}/runs/{run_id}``."""
    if not ui_url:
        return code(run_id)
    return f"[{run_id}]({ui_url.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id})"


def html(value: str) -> Markup:
    """Report text as HTML: escaped, then its code spans and links marked up."""
    out = re.sub(r"`([^`]*)`", r"<code>\1</code>", str(escape(value)))
    out = UNIT.sub("\\1&nbsp;\\2", out)  # "97.20 %" never wraps between the value and its unit
    return Markup(re.sub(r"\[([^\]]*)\]\(([^)\s]*)\)", r'<a href="\2">\1</a>', out))
