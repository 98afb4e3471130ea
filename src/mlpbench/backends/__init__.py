"""The model backends behind one ``Backend`` protocol.

A backend is one module with a class implementing ``Backend`` plus one ``register`` line in
``mlpbench.options.BACKENDS``. ``backends.build`` starts one (importing its module only then).
"""
from __future__ import annotations

from .base import Backend, init_params

__all__ = ["Backend", "init_params"]
