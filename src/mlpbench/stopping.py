"""A fit ended on purpose before its last epoch (a search trial its pruner stopped).

Raised by an epoch callback; ``tracking.TrackedRun`` ends the run FINISHED (not FAILED) with the
exception's ``tags`` and ``note`` (the run's description in the MLflow UI). Nothing else here: the
training loop and the tracking module both import it.
"""
from __future__ import annotations

from typing import Mapping


class StoppedEarly(Exception):
    """The fit stopped after ``epoch`` epochs on purpose; ``tags`` and ``note`` go on its MLflow run."""

    def __init__(self, epoch: int, note: str, tags: Mapping[str, str] | None = None):
        super().__init__(note)
        self.epoch, self.note, self.tags = epoch, note, dict(tags or {})
