"""The typed schema of every config section: dataclasses that Hydra and OmegaConf check values against.

The values themselves live in ``conf/`` (the one place defaults live): every field here is
``MISSING`` except an option's ``name``. Hydra merges ``conf/`` into these classes
(``register_configs``), so an unknown key or a wrong type fails composition with the key named;
``config.load`` does the same for an already composed dict such as ``params.yaml``.

Optimizers and schedules have one class per option holding only that option's keys; the
``OPTIMIZERS`` and ``SCHEDULES`` registries map each ``name`` to its class.

The classes are not frozen: OmegaConf makes the nodes of frozen dataclasses read-only, and Hydra
could not merge ``conf/`` into them. Treat the instances ``config.load`` returns as values.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from omegaconf import MISSING

from mlpbench.config import checks
from mlpbench.registry import Registry

OPTIMIZERS: Registry[type] = Registry("optimizer")
SCHEDULES: Registry[type] = Registry("schedule")


@dataclass(frozen=True)
class Pattern:
    """What a string setting may hold: ``regex`` (matched whole) and, for the error, what that means."""

    regex: str
    means: str


# Names that become folder names (experiments, presets, data sets): no separators, no shell syntax.
NAME = Pattern(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}", "letters, digits, _ . - (at most 128, starting with a "
               "letter or digit), e.g. mlpbench")
# File and folder paths: spaces and any letters, but no control characters and nothing a shell expands or
# splits on ($ ` ; | & < > ( ) { } [ ] * ? ! ' " \), so that no path can turn into a command.
PATH = Pattern(r"[^\x00-\x1f\x7f$`;|&<>(){}\[\]*?!'\"\\]+", "a file or folder path without control characters "
               "or any of $ ` ; | & < > ( ) { } [ ] * ? ! ' \" \\")


def matching(pattern: Pattern) -> Any:
    """A required string field whose value must match ``pattern`` (``config.load`` checks it)."""
    return field(default=MISSING, metadata={"pattern": pattern})


def _option(registry: Registry[type]):
    """Register a dataclass under the default of its ``name`` field."""
    def register(cls: type) -> type:
        return registry.register(cls.name, cls)
    return register


@dataclass
class ModelConfig:
    """The MLP: in_features -> hidden_sizes -> num_classes logits."""

    hidden_sizes: List[int] = MISSING
    activation: str = MISSING  # a name in model_options.ACTIVATIONS
    init: str = MISSING  # "auto" (the activation's own scheme) or a name in model_options.INIT_SCHEMES
    init_scale: float = MISSING  # half-width of the "uniform" init: U(-scale, scale)
    dropout: float = MISSING  # drop probability after each hidden activation
    leaky_slope: float = MISSING  # leaky_relu only
    input_dropout: float = MISSING  # drop probability of each input pixel; 0: none
    max_norm: Optional[float] = MISSING  # bound on each hidden unit's incoming weight norm; null or 0: off

    def max_norm_bound(self) -> float | None:
        """The max-norm bound in force: ``max_norm``, or None when it is off (null or 0)."""
        return self.max_norm or None


# --- Optimizers: one class per option, only its own keys ---


@dataclass
class OptimConfig:
    name: str = MISSING
    lr: float = MISSING
    weight_decay: float = MISSING  # L2 added to the gradient; decoupled for adamw

    def check(self) -> None:
        """Range checks of this option's keys (``ConfigError`` naming the key)."""
        checks.positive("optim.lr", self.lr)
        checks.non_negative("optim.weight_decay", self.weight_decay)

    def state_slots(self) -> int:
        """How many buffers the size of the weights this optimizer keeps (for the memory estimate)."""
        return 0


@_option(OPTIMIZERS)
@dataclass
class SGDConfig(OptimConfig):
    name: str = "sgd"
    momentum: float = MISSING
    nesterov: bool = MISSING  # needs momentum > 0

    def check(self) -> None:
        super().check()
        checks.unit_interval("optim.momentum", self.momentum)
        if self.nesterov and self.momentum == 0:
            raise checks.ConfigError("optim.nesterov=true needs optim.momentum > 0 (e.g. 0.9), "
                                     "or set optim.nesterov=false")

    def state_slots(self) -> int:
        return 1 if self.momentum else 0  # the velocity


@_option(OPTIMIZERS)
@dataclass
class AdamConfig(OptimConfig):
    name: str = "adam"
    beta1: float = MISSING
    beta2: float = MISSING
    eps: float = MISSING

    def check(self) -> None:
        super().check()
        checks.unit_interval("optim.beta1", self.beta1)
        checks.unit_interval("optim.beta2", self.beta2)
        checks.positive("optim.eps", self.eps)

    def state_slots(self) -> int:
        return 2  # the first and second moments


@_option(OPTIMIZERS)
@dataclass
class AdamWConfig(AdamConfig):
    name: str = "adamw"


@_option(OPTIMIZERS)
@dataclass
class RMSpropConfig(OptimConfig):
    name: str = "rmsprop"
    alpha: float = MISSING  # smoothing constant of the squared-gradient average
    eps: float = MISSING
    momentum: float = MISSING
    centered: bool = MISSING  # divide by the gradient's estimated variance instead

    def check(self) -> None:
        super().check()
        checks.unit_interval("optim.alpha", self.alpha)
        checks.positive("optim.eps", self.eps)
        checks.unit_interval("optim.momentum", self.momentum)

    def state_slots(self) -> int:
        return 1 + bool(self.momentum) + bool(self.centered)  # squares, then the momentum and mean gradient


# --- Learning-rate schedules, stepped once per epoch ---


@dataclass
class ScheduleConfig:
    name: str = MISSING

    def check(self, lr: float) -> None:
        """Range checks of this option's keys; ``lr`` is the optimizer's initial learning rate."""


@_option(SCHEDULES)
@dataclass
class ConstantSchedule(ScheduleConfig):
    name: str = "constant"


@_option(SCHEDULES)
@dataclass
class StepSchedule(ScheduleConfig):
    name: str = "step"
    step_size: int = MISSING  # multiply the lr by gamma every step_size epochs
    gamma: float = MISSING

    def check(self, lr: float) -> None:
        checks.positive("schedule.step_size", self.step_size)
        checks.positive("schedule.gamma", self.gamma)


@_option(SCHEDULES)
@dataclass
class CosineSchedule(ScheduleConfig):
    name: str = "cosine"
    min_lr: float = MISSING  # floor of the annealing over train.epochs

    def check(self, lr: float) -> None:
        checks.non_negative("schedule.min_lr", self.min_lr)
        if self.min_lr > lr:
            raise checks.ConfigError(f"schedule.min_lr={self.min_lr!r} is above optim.lr={lr!r}; the cosine "
                                     "schedule anneals down to min_lr: set it below the learning rate (e.g. 0)")


# --- Torch's own optimizations (backend=torch only) ---

AUTOCAST_DTYPES = ("bfloat16",)  # torch.autocast's lower precision for matmuls; null: no autocast
# How torch.optim runs the update: "default" lets torch pick (the for-loop on the CPU, foreach on CUDA),
# "single_tensor" forces the for-loop, "foreach" the multi-tensor kernels, "fused" one fused kernel.
OPTIMIZER_IMPLS = ("default", "single_tensor", "foreach", "fused")


@dataclass
class TorchConfig:
    """Options of the torch backend; their defaults (eager, float32, torch's own pick) change nothing."""

    compile: bool = MISSING  # torch.compile the model (the saved and logged model stays the plain module)
    autocast: Optional[str] = MISSING  # null | bfloat16: forward passes under torch.autocast
    optimizer_impl: str = MISSING  # a name in OPTIMIZER_IMPLS

    def changed(self) -> dict[str, object]:
        """The options set away from their defaults, as ``{"compile": True, ...}``."""
        defaults = {"compile": False, "autocast": None, "optimizer_impl": "default"}
        return {k: getattr(self, k) for k, v in defaults.items() if getattr(self, k) != v}

    def check(self, backend: str, dtype: str) -> None:
        """Range checks, and that the options fit the backend and dtype (``ConfigError``)."""
        if self.autocast is not None:
            checks.choice("torch.autocast", self.autocast, ("null", *AUTOCAST_DTYPES))
        checks.choice("torch.optimizer_impl", self.optimizer_impl, OPTIMIZER_IMPLS)
        changed = self.changed()
        if backend != "torch" and changed:
            key, value = next(iter(changed.items()))
            raise checks.ConfigError(f"torch.{key}={_text(value)} applies to backend=torch only; set backend=torch "
                                     f"or drop the option (backend={backend} runs without it)")
        if self.autocast is not None and dtype != "float32":
            raise checks.ConfigError(f"torch.autocast={self.autocast} needs train.dtype=float32 (autocast leaves "
                                     f"{dtype} alone); set train.dtype=float32 or torch.autocast=null")


def _text(value: object) -> str:
    """A value as written on the command line: true, null, bfloat16."""
    return {True: "true", False: "false", None: "null"}.get(value, str(value)) if not isinstance(value, str) else value


@dataclass
class TrainConfig:
    epochs: int = MISSING
    batch_size: int = MISSING
    seed: int = MISSING
    seeds: int = MISSING  # how many runs, with seeds seed, seed+1, ...: a seed group when above 1
    dtype: str = MISSING  # float32 | float64
    eval_batch_size: int = MISSING
    early_stopping_patience: int = MISSING  # 0 disables early stopping
    device: str = MISSING  # torch only: auto | cpu | cuda
    threads: int = MISSING  # 0: the library default
    augment_shift: int = MISSING  # training images moved by up to this many pixels each epoch; 0: off


# --- Data: one IDX dataset per conf/data/<name>.yaml ---


@dataclass
class DataFile:
    """A file to fetch from a mirror and the size and sha256 it must have."""

    name: str = MISSING
    size: int = MISSING
    sha256: str = MISSING


@dataclass
class DataFiles:
    train_images: DataFile = MISSING
    train_labels: DataFile = MISSING
    test_images: DataFile = MISSING
    test_labels: DataFile = MISSING


@dataclass
class DownloadConfig:
    mirrors: List[str] = MISSING
    offline_mirror: Optional[str] = matching(PATH)
    timeout: float = MISSING


@dataclass
class PathsConfig:
    raw: str = matching(PATH)
    processed: str = matching(PATH)
    split: str = matching(PATH)


@dataclass
class SplitConfig:
    val_fraction: float = MISSING
    seed: int = MISSING


@dataclass
class DataConfig:
    name: str = matching(NAME)  # tags every run; names the report
    title: str = MISSING
    files: DataFiles = MISSING
    image_shape: List[int] = MISSING  # (rows, cols) of every image
    num_classes: int = MISSING  # labels are 0 .. num_classes - 1
    download: DownloadConfig = MISSING
    paths: PathsConfig = MISSING
    split: SplitConfig = MISSING


@dataclass
class TrackingConfig:
    uri: Optional[str] = MISSING  # null: mlflow.db at the project root
    experiment: str = matching(NAME)  # also the folder of its artifacts in a local store
    ui_url: Optional[str] = MISSING
    registry_alias: Optional[str] = MISSING  # null: the model is logged, not registered
    server: bool = MISSING  # true (tracking=server): runs must go to an MLflow server (http/https)


@dataclass
class OutputsConfig:
    model_dir: Optional[str] = matching(PATH)  # null: inside the Hydra run folder
    metrics_file: Optional[str] = matching(PATH)
    history_file: Optional[str] = matching(PATH)
    run_file: Optional[str] = matching(PATH)  # which MLflow run wrote the outputs (the report reads it)
    export_dir: Optional[str] = matching(PATH)  # the run's portable export (tracking.portable); null: none


@dataclass
class ScalingGrid:
    """The points of the scaling study: each axis varied alone around the default point, in each dtype."""

    widths: List[int] = MISSING  # of the first hidden layer; the others keep their ratio to it
    batch_sizes: List[int] = MISSING
    depths: List[int] = MISSING  # hidden layers
    dtypes: List[str] = MISSING
    repeats: int = MISSING  # timings of each backend's step and GEMMs per point, taken in turn
    min_time_s: float = MISSING  # a timing repeats a fast call until it lasts this long


@dataclass
class ScalingConfig:
    grid: str = MISSING  # a name in grids
    grids: Dict[str, ScalingGrid] = MISSING
    experiment: str = matching(NAME)  # MLflow experiment of the study's runs
    out_dir: str = matching(PATH)

    def check(self, dtypes: tuple[str, ...]) -> None:
        """Range checks (``ConfigError`` naming the key); ``dtypes``: those training allows."""
        if self.grid not in self.grids:
            raise checks.ConfigError(f"scaling.grid={self.grid!r} is not a grid; choose one of: "
                                     f"{', '.join(self.grids)} (or add it under scaling.grids in conf/scaling/)")
        for name, grid in self.grids.items():
            key = f"scaling.grids.{name}"
            for axis in ("widths", "batch_sizes", "depths"):
                values = getattr(grid, axis)
                if not values or min(values) < 1:
                    raise checks.ConfigError(f"{key}.{axis}={list(values)} is invalid; give integers >= 1")
            for dtype in grid.dtypes:
                checks.choice(f"{key}.dtypes[]", dtype, dtypes)
            checks.positive(f"{key}.repeats", grid.repeats)
            checks.non_negative(f"{key}.min_time_s", grid.min_time_s)


@dataclass
class TorchOptionsSetting:
    epochs: int = MISSING  # 0: train.epochs; else at least 2 (the first epoch holds one-off costs)
    seeds: int = MISSING  # every variant trains these seeds (train.seed, +1, ...), paired with eager's


@dataclass
class TorchOptionsConfig:
    """The torch options study (DVC stage ``torch_options``): each variant against eager float32."""

    setting: str = MISSING  # a name in settings
    settings: Dict[str, TorchOptionsSetting] = MISSING
    variants: List[str] = MISSING  # names in mlpbench.torch_options.VARIANTS; eager float32 always runs
    experiment: str = matching(NAME)  # MLflow experiment of the study's runs

    def check(self, variants) -> None:
        """Range checks (``ConfigError`` naming the key); ``variants``: the registered names."""
        if self.setting not in self.settings:
            raise checks.ConfigError(f"torch_options.setting={self.setting!r} is not a setting; choose one of: "
                                     f"{', '.join(self.settings)} (or add it under torch_options.settings)")
        for name, setting in self.settings.items():
            if setting.epochs == 1 or setting.epochs < 0:
                raise checks.ConfigError(f"torch_options.settings.{name}.epochs={setting.epochs} is invalid; give 2 "
                                         "or more (the first epoch holds one-off costs such as compilation, the "
                                         "later ones give the steady epoch time), or 0 for train.epochs")
            checks.positive(f"torch_options.settings.{name}.seeds", setting.seeds)
        for name in self.variants:
            checks.choice("torch_options.variants[]", name, variants)


@dataclass
class Config:
    """The whole composed configuration (``conf/config.yaml``), as typed values."""

    backend: str = MISSING
    preset: str = matching(NAME)  # "default" or the experiment preset that set it
    model: ModelConfig = MISSING
    optim: OptimConfig = MISSING
    schedule: ScheduleConfig = MISSING
    train: TrainConfig = MISSING
    data: DataConfig = MISSING
    tracking: TrackingConfig = MISSING
    outputs: OutputsConfig = MISSING
    scaling: ScalingConfig = MISSING
    torch: TorchConfig = MISSING
    torch_options: TorchOptionsConfig = MISSING
    # The backends dvc.yaml's train/tutorial matrix trains (through params.yaml): every registered
    # one, filled in by config.store.register_configs.
    backends: List[str] = field(default_factory=list)
