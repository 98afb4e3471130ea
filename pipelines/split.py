"""DVC stage `split`: stratified, seeded train/validation index files over the training set."""
import sys
from pathlib import Path

from mlpbench.config import ConfigError
from mlpbench.config.data import load_data
from mlpbench.data.split import SplitError, split
from mlpbench.params import load_params, resolve

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    data = load_data(load_params(ROOT / "params.yaml"))
    labels = resolve(ROOT, data.paths.processed) / "train_labels.npy"
    summary = split(labels, resolve(ROOT, data.paths.split), data.split.val_fraction, data.split.seed,
                    data.num_classes, data.name)
    print(f"train {summary['sizes']['train']} / val {summary['sizes']['val']} (seed {summary['seed']})")


if __name__ == "__main__":
    try:
        main()
    except (SplitError, FileNotFoundError, ConfigError) as err:
        sys.exit(f"split failed: {err}")
