"""DVC stage `download`: fetch the four MNIST files into data.paths.raw, verified by sha256."""
import sys
from pathlib import Path

from mlpbench.data.download import DownloadError, fetch_all, resolve_mirrors
from mlpbench.params import load_params, resolve

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    data = load_params(ROOT / "params.yaml")["data"]
    mirrors = resolve_mirrors(data["download"]["mirrors"], data["download"]["offline_mirror"])
    fetch_all(resolve(ROOT, data["paths"]["raw"]), mirrors, timeout=float(data["download"]["timeout"]))


if __name__ == "__main__":
    try:
        main()
    except DownloadError as err:
        sys.exit(f"download failed: {err}")
