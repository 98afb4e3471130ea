"""Facts about the machine and code a run was made with, recorded as MLflow tags."""
from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
from pathlib import Path


def git_commit(root: Path) -> str:
    """HEAD's hash, with "-dirty" when tracked files differ from it; "unknown" outside git."""
    try:
        run = lambda *a: subprocess.run(["git", *a], cwd=root, capture_output=True, text=True, timeout=10)  # noqa: E731
        head = run("rev-parse", "HEAD")
        if head.returncode != 0:
            return "unknown"
        dirty = run("status", "--porcelain", "--untracked-files=no").stdout.strip()
        return head.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


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


def blas_info() -> str:
    """The BLAS NumPy calls, e.g. "openblas 0.3.29 (Haswell, 2 threads)"."""
    from threadpoolctl import threadpool_info

    for pool in threadpool_info():
        if pool.get("user_api") == "blas":
            return f"{pool.get('internal_api')} {pool.get('version')} ({pool.get('architecture')}, {pool.get('num_threads')} threads)"
    return "unknown"


def environment_tags(root: Path, processed_dir: Path, split_dir: Path) -> dict[str, str]:
    import numpy
    import torch

    return {
        "git_commit": git_commit(root),
        "data_sha256": data_sha256(processed_dir, split_dir),
        "numpy_version": numpy.__version__,
        "torch_version": torch.__version__,
        "blas": blas_info(),
        "python_version": platform.python_version(),
        "cpu": cpu_model(),
        "cpu_count": str(os.cpu_count()),
    }
