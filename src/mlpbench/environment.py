"""Facts about the machine and code a run was made with, recorded as MLflow tags."""
from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path


# What a run's code and config are: a change here makes the commit "-dirty". Outputs that DVC
# deletes before a stage runs (metrics/, models/, dvc.lock) are not among them.
SOURCE_PATHS = ("src", "pipelines", "conf", "hydra_plugins", "params.yaml", "dvc.yaml", "pyproject.toml")
# The machine's 1-minute load average, a metric logged beside every epoch of a training run and as each torch
# options variant ends: what else ran beside a timing (the report's headline reads it).
LOAD_METRIC = "machine/load_1min"


def _git(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, timeout=10)


def git_state(root: Path) -> dict[str, str]:
    """``git_commit``: HEAD's hash, "-dirty" when source or config differs from it; "unknown" outside git.

    When dirty, ``git_diff_sha256`` is the sha256 of the difference (``git diff HEAD`` of
    ``SOURCE_PATHS`` plus the names and contents of their untracked, not ignored files), so two
    runs made from the same uncommitted change share it.
    """
    try:
        head = _git(root, "rev-parse", "HEAD")
        if head.returncode != 0:
            return {"git_commit": "unknown"}
        diff = _git(root, "diff", "HEAD", "--binary", "--", *SOURCE_PATHS).stdout
        untracked = _git(root, "ls-files", "--others", "--exclude-standard", "-z", "--", *SOURCE_PATHS).stdout
    except (OSError, subprocess.TimeoutExpired):
        return {"git_commit": "unknown"}
    commit = head.stdout.decode().strip()
    if not diff and not untracked:
        return {"git_commit": commit}
    digest = hashlib.sha256(diff)
    for name in sorted(filter(None, untracked.split(b"\0"))):
        digest.update(b"\0" + name + b"\0")
        path = Path(root) / name.decode()
        digest.update(path.read_bytes() if path.is_file() else b"")
    return {"git_commit": commit + "-dirty", "git_diff_sha256": digest.hexdigest()}


def data_sha256(processed_dir: Path, split_dir: Path) -> str:
    """One hash over the normalised arrays' and the split's content hashes."""
    parts = []
    for path in (Path(processed_dir) / "manifest.json", Path(split_dir) / "split.json"):
        parts.append(json.loads(path.read_text()) if path.is_file() else None)
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def numpy_blas_pools(pools: list[dict]) -> list[dict]:
    """Of threadpoolctl's BLAS ``pools``, those NumPy calls: a library NumPy's wheel ships (``numpy.libs/``,
    or inside ``numpy/``) where there is one, else every BLAS but those other wheels ship for themselves
    (SciPy's own OpenBLAS, loaded with ``mlpbench.stats``, is not NumPy's)."""
    import numpy

    home = Path(numpy.__file__).resolve().parent
    blas = [p for p in pools if p.get("user_api") == "blas"]
    own = [p for p in blas if (path := Path(p.get("filepath", "")).resolve()).parent == home.with_name("numpy.libs")
           or home in path.parents]
    return own or [p for p in blas if not Path(p.get("filepath", "")).parent.name.endswith(".libs")] or blas


def blas_info() -> str:
    """The BLAS NumPy calls, e.g. "openblas 0.3.29 (Haswell, 2 threads)"."""
    from threadpoolctl import threadpool_info

    for pool in numpy_blas_pools(threadpool_info()):
        return f"{pool.get('internal_api')} {pool.get('version')} ({pool.get('architecture')}, {pool.get('num_threads')} threads)"
    return "unknown"


def library_version(distribution: str) -> str:
    """The installed version of ``distribution`` (e.g. "torch"), read from its metadata without importing it."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def environment_tags(root: Path, processed_dir: Path, split_dir: Path, library: str) -> dict[str, str]:
    """Machine, code and data facts of a run: NumPy's version (every run's arrays are NumPy's) and
    ``<library>_version`` of ``library``, the one the run's backend computes with (``BackendSpec.library``)."""
    dvc_experiment = {"dvc_experiment": os.environ["DVC_EXP_NAME"]} if os.environ.get("DVC_EXP_NAME") else {}
    libraries = dict.fromkeys(("numpy", library))
    return {
        **git_state(root),
        **dvc_experiment,
        "data_sha256": data_sha256(processed_dir, split_dir),
        **{f"{library}_version": library_version(library) for library in libraries},
        "blas": blas_info(),
        "python_version": platform.python_version(),
        "cpu": cpu_model(),
        "cpu_count": str(os.cpu_count()),
    }
