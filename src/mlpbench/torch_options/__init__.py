"""The torch options study: torch's own optimizations measured against eager float32.

``variants`` names what is compared (no torch import); ``study`` trains each variant on the real
split and records one MLflow run per variant (``run_study``, called by ``pipelines/torch_options.py``).
"""
from mlpbench.torch_options.variants import VARIANTS, Variant, chosen

__all__ = ["VARIANTS", "Variant", "chosen"]
