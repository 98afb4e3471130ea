"""The scaling study: a training step of every backend against its own GEMM floor, across width,
batch size, depth and dtype, one axis at a time around the default point.

- ``grid``: the points a ``ScalingGrid`` (conf/scaling/) names;
- ``measure``: the timings, both backends in turn at every point (compute only);
- ``results``: the win table and the figures;
- ``study``: all of it for ``pipelines/scaling.py``, recorded as an MLflow run.
"""
