"""How numbers and run ids appear in the report: fixed formats, so regenerating is byte-stable."""
from __future__ import annotations

import math
from typing import Mapping

from mlpbench.report.document import Code, Inline, Link

MISSING = "—"


def _ok(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def pct(value: float | None) -> str:
    """0.9065 -> '90.65 %'."""
    return f"{100 * value:.2f} %" if _ok(value) else MISSING


def points(value: float | None) -> str:
    """A difference of two fractions in percentage points, signed: 0.0652 -> '+6.52 points'."""
    return f"{100 * value:+.2f} points" if _ok(value) else MISSING


def loss(value: float | None) -> str:
    return f"{value:.4f}" if _ok(value) else MISSING


def seconds(value: float | None) -> str:
    if not _ok(value):
        return MISSING
    return f"{value:.1f} s" if value >= 10 else f"{value:.2f} s" if value >= 0.1 else f"{value * 1000:.1f} ms"


def ratio(value: float | None) -> str:
    return f"{value:.2f}×" if _ok(value) else MISSING


def count(value: float | None) -> str:
    return f"{value:,.0f}" if _ok(value) else MISSING


def megabytes(value: float | None) -> str:
    return f"{value:,.0f} MB" if _ok(value) else MISSING


def run_url(ui_url: str | None, experiment_id: str, run_id: str) -> str | None:
    """``{ui_url}/#/experiments/{experiment_id}/runs/{run_id}``, or None without a UI URL."""
    return f"{ui_url.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}" if ui_url else None


def run_ref(ui_url: str | None, experiment_id: str, run_id: str) -> Inline:
    """The run id as code, linked to the MLflow UI when ``ui_url`` is set."""
    url = run_url(ui_url, experiment_id, run_id)
    return Link(run_id, url) if url else Code(run_id)


def param_value(params: Mapping[str, str], key: str) -> str:
    return params.get(key, MISSING)


def number(text: str) -> float | int | str:
    """A param string as a number when it is one (for sorting and plotting), else unchanged."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        return text
    return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value
