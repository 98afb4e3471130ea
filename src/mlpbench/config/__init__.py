"""Typed configuration: the schema of ``conf/`` and the boundary where composed configs become values.

    from mlpbench.config import load
    cfg = load(values)          # values: Hydra's cfg or params.yaml as a dict -> Config
    cfg.optim.lr, cfg.train.epochs

``schema`` holds the dataclasses (registered in Hydra's ConfigStore by ``store.register_configs``),
``load`` turns a composed config into a validated ``Config``, ``checks`` the range checks.
"""
from mlpbench.config.checks import ConfigError
from mlpbench.config.load import load, validate
from mlpbench.config.schema import (OPTIMIZERS, SCHEDULES, AdamConfig, AdamWConfig, Config, ConstantSchedule,
                                    CosineSchedule, DataConfig, DataFile, ModelConfig, OptimConfig,
                                    RMSpropConfig, ScheduleConfig, SGDConfig, StepSchedule, TrackingConfig,
                                    TrainConfig)

__all__ = [
    "ConfigError", "load", "validate", "OPTIMIZERS", "SCHEDULES",
    "Config", "ModelConfig", "OptimConfig", "SGDConfig", "AdamConfig", "AdamWConfig", "RMSpropConfig",
    "ScheduleConfig", "ConstantSchedule", "StepSchedule", "CosineSchedule", "TrainConfig", "DataConfig",
    "DataFile", "TrackingConfig",
]
