"""Typed configuration: the schema of ``conf/`` and the boundary where composed configs become values.

    from mlpbench.config.load import load
    cfg = load(values)          # values: Hydra's cfg or params.yaml as a dict -> Config
    cfg.optim.lr, cfg.train.epochs

``schema`` holds the dataclasses (registered in Hydra's ConfigStore by ``store.register_configs``),
``load`` turns a composed config into a validated ``Config``, ``sections`` does the same but for the
checks that read the registry of backends (what the torch options study uses), ``data.load_data``
checks the ``data`` section alone (what the data stages read), ``checks`` holds the range checks.

``load`` is not imported here: it reads the registries (``mlpbench.options``), and importing this
package (for ``ConfigError`` or the schema) must not, so that what the data stages import stays apart
from the backends' registry (dvc.yaml's deps follow the imports).
"""
from mlpbench.config.checks import ConfigError
from mlpbench.config.schema import (OPTIMIZERS, SCHEDULES, AdamConfig, AdamWConfig, Config, ConstantSchedule,
                                    CosineSchedule, DataConfig, DataFile, ModelConfig, OptimConfig,
                                    RMSpropConfig, ScheduleConfig, SGDConfig, StepSchedule, TrackingConfig,
                                    TrainConfig)

__all__ = [
    "ConfigError", "OPTIMIZERS", "SCHEDULES",
    "Config", "ModelConfig", "OptimConfig", "SGDConfig", "AdamConfig", "AdamWConfig", "RMSpropConfig",
    "ScheduleConfig", "ConstantSchedule", "StepSchedule", "CosineSchedule", "TrainConfig", "DataConfig",
    "DataFile", "TrackingConfig",
]
