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


def estimate_pct(e: object) -> str:
    """A mean accuracy with its interval's half-width: ``98.21 ± 0.05 %``; the mean alone for one seed."""
    if e is None or not _ok(getattr(e, "mean", None)):
        return MISSING
    return pct(e.mean) if not _ok(e.low) else f"{e.mean * 100:.2f} ± {(e.high - e.low) * 50:.2f} %"


def estimate_seconds(e: object) -> str:
    """A mean time with its interval: ``0.81 s [0.79, 0.84]``; the mean alone for one seed."""
    if e is None or not _ok(getattr(e, "mean", None)):
        return MISSING
    return seconds(e.mean) if not _ok(e.low) else f"{seconds(e.mean)} [{seconds(e.low)}, {seconds(e.high)}]"


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
