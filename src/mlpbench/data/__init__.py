"""The data: download and verify the raw files, parse IDX, normalise, split, load a ``Dataset``.

What a data set is (its files, sizes, checksums, image shape, classes) comes from
``conf/data/<name>.yaml``; nothing here is specific to one data set.
"""
from mlpbench.data.loading import DataFileError, Dataset, check_split, load_dataset

__all__ = ["DataFileError", "Dataset", "check_split", "load_dataset"]
