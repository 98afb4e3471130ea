"""Which data set a report's runs trained on: each report covers one, names it, and never mixes two.

A training run records its data set as the tags ``dataset`` (the name, e.g. ``mnist``) and
``dataset_title`` (e.g. ``MNIST``), and the name as the param ``data.name``; a run without any of
them counts as ``UNRECORDED``.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from mlpbench.report.runs import ReportError, column

NAME, TITLE, PARAM = "tags.dataset", "tags.dataset_title", "params.data.name"
UNRECORDED = "unrecorded"  # a run that records no data set
UNKNOWN_TITLE = "the data set"  # the title of runs that record no data set


class MixedDatasetsError(ReportError):
    """A report's runs trained on more than one data set."""


@dataclass(frozen=True)
class DataSet:
    """The one data set of a report's runs: ``name`` (None when the runs record none) and ``title``."""

    name: str | None
    title: str


def names(runs: pd.DataFrame) -> pd.Series:
    """Each run's data set name: the tag ``dataset``, else the param ``data.name``, else ``UNRECORDED``."""
    return column(runs, NAME).fillna(column(runs, PARAM)).fillna(UNRECORDED).astype(str)


def by_name(runs: pd.DataFrame, max_names: int = 3) -> str:
    """``mnist (2 runs: a, b); digits (1 run: c)`` in order of first appearance; runs named while few."""
    groups: dict[str, list[str]] = {}
    run_names = column(runs, "name").fillna(column(runs, "run_id")).astype(str)
    for data, name in zip(names(runs), run_names):
        groups.setdefault(data, []).append(name)
    return "; ".join(f"{data} ({len(found)} run{'s' if len(found) != 1 else ''}"
                     + (f": {', '.join(found)})" if len(found) <= max_names else ")")
                     for data, found in groups.items())


def of(runs: pd.DataFrame, fix: str) -> DataSet:
    """The one data set of ``runs``; ``MixedDatasetsError`` naming each data set, its runs and ``fix`` otherwise.

    fix: what to do about it, e.g. "select the runs of one data set with --filter ...".
    """
    found = list(dict.fromkeys(names(runs)))
    if len(found) > 1:
        raise MixedDatasetsError(f"the runs are of {len(found)} data sets, which one report never mixes: "
                                 f"{by_name(runs)}; {fix}")
    if not found or found[0] == UNRECORDED:
        return DataSet(None, UNKNOWN_TITLE)
    titles = column(runs, TITLE).dropna()
    return DataSet(found[0], str(titles.iloc[0]) if len(titles) else found[0])


def filter_fix(runs: pd.DataFrame) -> str:
    """The fix for a sweep selection of several data sets: a filter on one of them."""
    recorded = [n for n in dict.fromkeys(names(runs)) if n != UNRECORDED]
    example = recorded[0] if recorded else "mnist"
    return (f"report one data set at a time: narrow the selection with --filter \"tags.dataset = '{example}'\" "
            "(joined with `and` to a filter you already pass)")
