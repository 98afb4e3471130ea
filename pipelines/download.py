"""DVC stage `download`: fetch the data set's four files into data.paths.raw, verified by sha256."""
import sys
from pathlib import Path

from mlpbench.config import ConfigError
from mlpbench.config.data import load_data
from mlpbench.data.download import DownloadError, fetch_all, resolve_mirrors
from mlpbench.params import load_params, resolve

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    data = load_data(load_params(ROOT / "params.yaml"))
    mirrors = resolve_mirrors(data.download.mirrors, data.download.offline_mirror)
    files = [data.files.train_images, data.files.train_labels, data.files.test_images, data.files.test_labels]
    fetch_all(resolve(ROOT, data.paths.raw), mirrors, files, timeout=data.download.timeout)


if __name__ == "__main__":
    try:
        main()
    except (DownloadError, ConfigError) as err:
        sys.exit(f"download failed: {err}")
