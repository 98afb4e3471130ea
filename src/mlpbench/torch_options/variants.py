"""The variants of the torch options study: each a device and a set of ``torch.*`` options.

``VARIANTS`` names them once: ``torch_options.variants`` in conf/ picks from it, the study runs them
and the report labels them. Importing this module does not import torch.
"""
from __future__ import annotations

from dataclasses import dataclass

from mlpbench.registry import Registry


@dataclass(frozen=True)
class Variant:
    """One way of running the torch backend; ``baseline`` is eager float32 on the same device."""

    label: str  # e.g. "bf16 autocast", for the report
    device: str = "cpu"  # cpu | cuda
    compile: bool = False
    autocast: str | None = None
    optimizer_impl: str = "default"
    tuned: bool = False  # the hand-written step of torch_options.tuned instead of TorchBackend's

    def torch_options(self) -> dict[str, object]:
        """The ``torch`` config section of this variant."""
        return {"compile": self.compile, "autocast": self.autocast, "optimizer_impl": self.optimizer_impl}

    @property
    def baseline(self) -> str:
        """The name of the variant this one is compared with."""
        return BASELINES[self.device]


VARIANTS: Registry[Variant] = Registry("torch options variant")
VARIANTS.register("eager", Variant("eager float32"))
VARIANTS.register("bf16_autocast", Variant("bf16 autocast", autocast="bfloat16"))
VARIANTS.register("compile", Variant("torch.compile", compile=True))
VARIANTS.register("foreach", Variant("foreach optimizer", optimizer_impl="foreach"))
VARIANTS.register("fused", Variant("fused optimizer", optimizer_impl="fused"))
VARIANTS.register("tuned", Variant("PyTorch tuned", optimizer_impl="fused", tuned=True))
VARIANTS.register("eager_cuda", Variant("eager float32", device="cuda"))
VARIANTS.register("bf16_autocast_cuda", Variant("bf16 autocast", device="cuda", autocast="bfloat16"))
BASELINES = {"cpu": "eager", "cuda": "eager_cuda"}
# The study's own metrics beside a training run's: the steady epoch time, the first epoch's one-off
# extra, a step's median (min, max) timed in turn with the other variants, and the machine's 1-minute
# load average as the variant's training ended.
STEADY, FIRST_EXTRA = "time/epoch_steady_s", "time/first_epoch_extra_s"
STEP, STEP_MIN, STEP_MAX = "time/step_interleaved_s", "time/step_interleaved_min_s", "time/step_interleaved_max_s"
STEP_RATIO = "time/step_interleaved_ratio"  # over the baseline's, the geometric mean of the rounds' ratios
# The NumPy backend's step on the same rows, timed in turn with the variants (a reference, not a variant), and
# each variant's step over it.
NUMPY_STEP, NUMPY_RATIO = "time/step_interleaved_numpy_s", "time/step_interleaved_over_numpy"


def chosen(names: list[str] | tuple[str, ...], cuda: bool) -> tuple[list[str], dict[str, str]]:
    """(the variants to run, baselines first; the skipped ones with the reason) for ``names``.

    A device's baseline runs whenever one of its variants does; cuda variants need ``cuda``.
    """
    skipped = {n: "no CUDA device here" for n in names if VARIANTS[n].device == "cuda" and not cuda}
    wanted = [n for n in names if n not in skipped]
    devices = dict.fromkeys(["cpu", *(VARIANTS[n].device for n in wanted)])
    baselines = [BASELINES[d] for d in devices]
    return baselines + [n for n in dict.fromkeys(wanted) if n not in baselines], skipped
