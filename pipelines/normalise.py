"""DVC stage `normalise`: IDX files -> float32 pixels in [0, 1] and int64 labels (.npy)."""
import sys
from pathlib import Path

from mlpbench.config import ConfigError
from mlpbench.config.data import load_data
from mlpbench.data.idx import IDXFormatError
from mlpbench.data.normalise import ARRAYS, normalise
from mlpbench.params import load_params, resolve

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    data = load_data(load_params(ROOT / "params.yaml"))
    manifest = normalise(resolve(ROOT, data.paths.raw), resolve(ROOT, data.paths.processed), data)
    print(f"{data.title} ({data.name}), images {'x'.join(map(str, data.image_shape))}, {data.num_classes} classes")
    for name in ARRAYS:
        print(f"{name}: shape {tuple(manifest[name]['shape'])} sha256 {manifest[name]['sha256'][:12]}")


if __name__ == "__main__":
    try:
        main()
    except (IDXFormatError, FileNotFoundError, ConfigError) as err:
        sys.exit(f"normalise failed: {err}")
