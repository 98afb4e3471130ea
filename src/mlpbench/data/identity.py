"""What binds the arrays on disk to their data set, and the check every run makes before it starts.

The normalise stage writes the data set's identity into ``manifest.json`` beside the arrays: its name,
image shape, classes and the sha256 of each of its four source files. The split stage records the name
and the sha256 of the labels it split in ``split.json``. A run (and the torch options study) compares
both with the config it was given and refuses, in one line, when the arrays are another data set's,
were made from other files or with another image shape or class count, or do not say what they are.
No array is hashed here: the arrays' shapes come from their ``.npy`` headers, the labels' hash from the
two JSON files.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from mlpbench.config.schema import DataConfig
from mlpbench.data.loading import DataFileError, read_json_object
from mlpbench.params import load_params

MANIFEST = "manifest.json"
SPLIT_JSON = "split.json"
KEY = "dataset"  # the identity's key in manifest.json and split.json


class DataMismatchError(DataFileError):
    """The arrays on disk are not the data set the config names (or do not say which they are)."""


def identity(data: DataConfig) -> dict:
    """The identity of ``data`` as written into ``manifest.json``."""
    return {"name": data.name, "image_shape": [int(n) for n in data.image_shape], "num_classes": data.num_classes,
            "files": {role: f.sha256 for role, f in vars(data.files).items()}}


def build_command(name: str, root: Path, stage: str = "split") -> str:
    """The command that builds data set ``name``'s files up to ``stage`` in the project at ``root``.

    ``dvc repro <stage>`` when ``params.yaml`` already selects ``name`` (DVC builds params.yaml's data
    set); else ``dvc exp run -S data=<name> <stage>``, which selects it in params.yaml and builds it.
    """
    try:
        selected = (load_params(Path(root) / "params.yaml").get("data") or {}).get("name")
    except (OSError, ValueError, AttributeError):
        selected = None
    return f"dvc repro {stage}" if selected == name else f"dvc exp run -S data={name} {stage}"


def _images_shape(path: Path) -> tuple[int, ...] | None:
    """The shape in a ``.npy`` file's header (nothing else is read); None when it is no readable array."""
    try:
        return tuple(np.load(path, mmap_mode="r", allow_pickle=False).shape)
    except Exception:  # noqa: BLE001  (loading.load_dataset names the exact problem)
        return None


def check_identity(processed_dir: Path, split_dir: Path, data: DataConfig, root: Path) -> None:
    """Raise unless the arrays in ``processed_dir`` and the split in ``split_dir`` are ``data``'s.

    ``FileNotFoundError`` when they are missing, ``DataMismatchError`` when they belong to another data
    set, were made from other files, disagree with ``data.image_shape`` or ``data.num_classes``, or
    carry no identity; each names the command that (re)builds ``data``'s files (``root``: the project).
    """
    processed_dir, split_dir = Path(processed_dir), Path(split_dir)
    config = f"conf/data/{data.name}.yaml"
    normalise, split = build_command(data.name, root, "normalise"), build_command(data.name, root, "split")
    manifest_path, split_path = processed_dir / MANIFEST, split_dir / SPLIT_JSON
    if not manifest_path.is_file():
        raise FileNotFoundError(f"{manifest_path} not found: data set {data.name!r} has no normalised arrays in "
                                f"{processed_dir}; build its files with `{split}`")
    manifest = read_json_object(manifest_path, normalise, DataMismatchError)
    made = manifest.get(KEY)
    if not isinstance(made, dict):
        raise DataMismatchError(f"{manifest_path} does not say which data set the arrays in {processed_dir} hold "
                                f"(no {KEY!r} entry: made by an older mlpbench); remake them with `{normalise}`")
    if made.get("name") != data.name:
        raise DataMismatchError(f"{processed_dir} holds the arrays of data set {made.get('name')!r}, but data.name="
                                f"{data.name!r}; give {data.name!r} its own data.paths (by default data/<name>/...) "
                                f"and build them with `{split}`")
    if list(made.get("image_shape") or []) != list(data.image_shape):
        raise DataMismatchError(f"data.image_shape={list(data.image_shape)} but the arrays in {processed_dir} were made "
                                f"with image_shape={made.get('image_shape')} ({manifest_path}); fix image_shape in "
                                f"{config}, or remake the arrays with `{normalise}`")
    if made.get("num_classes") != data.num_classes:
        raise DataMismatchError(f"data.num_classes={data.num_classes} but the arrays in {processed_dir} were made with "
                                f"num_classes={made.get('num_classes')} ({manifest_path}); fix num_classes in {config}, "
                                f"or remake the arrays with `{normalise}`")
    files = made.get("files") or {}
    for role, expected in identity(data)["files"].items():
        if files.get(role) != expected:
            raise DataMismatchError(f"the arrays in {processed_dir} were made from another {role} file (sha256 "
                                    f"{str(files.get(role))[:12]}...) than {config} names ({expected[:12]}...); "
                                    f"remake them with `{normalise}`")
    features = math.prod(data.image_shape)
    for part in ("train", "test"):
        path = processed_dir / f"{part}_images.npy"
        shape = _images_shape(path)
        recorded = tuple((manifest.get(f"{part}_images") or {}).get("shape") or ())
        if shape is not None and (len(shape) != 2 or shape[1] != features or shape != recorded):
            raise DataMismatchError(f"{path} holds an array of shape {shape}, but {manifest_path} records {recorded} "
                                    f"and data.image_shape={list(data.image_shape)} means {features} features; "
                                    f"remake the arrays with `{normalise}`")
    if not split_path.is_file():
        raise FileNotFoundError(f"{split_path} not found: data set {data.name!r} has no train/validation split in "
                                f"{split_dir}; make it with `{split}`")
    made_split = read_json_object(split_path, split, DataMismatchError)
    if made_split.get(KEY) != data.name:
        raise DataMismatchError(f"{split_path} is the split of data set {made_split.get(KEY)!r}, not of {data.name!r}; "
                                f"remake it with `{split}`")
    labels = (manifest.get("train_labels") or {}).get("sha256")
    if (made_split.get("sha256") or {}).get("labels") != labels:
        raise DataMismatchError(f"the split in {split_dir} was made from other training labels than those in "
                                f"{processed_dir} ({manifest_path}); remake it with `{split}`")
