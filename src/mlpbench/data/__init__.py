"""MNIST data: download and verify the raw files, parse IDX, normalise, split."""
