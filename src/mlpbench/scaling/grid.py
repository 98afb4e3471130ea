"""The points of the scaling study: each axis varied alone around the default point, in each dtype."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from mlpbench.config.schema import ScalingGrid

AXES = ("width", "batch_size", "depth")


@dataclass(frozen=True)
class Point:
    """One net and batch to time; ``axes``: the axes it lies on (the default point lies on all)."""

    hidden_sizes: tuple[int, ...]
    batch_size: int
    dtype: str
    axes: tuple[str, ...]

    @property
    def width(self) -> int:
        return self.hidden_sizes[0]

    @property
    def depth(self) -> int:
        return len(self.hidden_sizes)


def widened(hidden: Sequence[int], width: int) -> tuple[int, ...]:
    """``hidden`` with its first layer ``width`` wide and the others in the same ratio to it (at least 1)."""
    return tuple(max(1, round(h * width / hidden[0])) for h in hidden)


def deepened(hidden: Sequence[int], depth: int) -> tuple[int, ...]:
    """The first ``depth`` layers of ``hidden``, its last layer repeated where it has fewer."""
    return tuple([*hidden, *[hidden[-1]] * depth][:depth])


def points(grid: ScalingGrid, hidden: Sequence[int], batch_size: int) -> list[Point]:
    """Every point of ``grid`` around (``hidden``, ``batch_size``), once each, dtype by dtype.

    Axis values equal to the default give the default point, measured once and marked as lying
    on each of those axes.
    """
    out: list[Point] = []
    for dtype in grid.dtypes:
        found: dict[tuple[tuple[int, ...], int], list[str]] = {}
        for width in grid.widths:
            found.setdefault((widened(hidden, width), batch_size), []).append("width")
        for batch in grid.batch_sizes:
            found.setdefault((tuple(hidden), batch), []).append("batch_size")
        for depth in grid.depths:
            found.setdefault((deepened(hidden, depth), batch_size), []).append("depth")
        out += [Point(h, b, dtype, tuple(dict.fromkeys(axes))) for (h, b), axes in found.items()]
    return out
