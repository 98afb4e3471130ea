"""What the report figures show: a backend's colour in every figure, accuracy in percent, both backends' curves
overlaid as the mean over seeds with their spread, widths that `dvc plots show` does not clip."""
from __future__ import annotations

import matplotlib.image
import numpy as np
import pytest
from matplotlib.colors import to_hex
from mlflow.tracking import MlflowClient

from mlpbench import figures
from mlpbench.options import BACKENDS, colour
from mlpbench.report import build_comparison, read_run_ids
from mlpbench.report.runs import seed_run_ids, tidy
from mlpbench.tracking import queries
from mlpbench.tracking.tags import GROUP_TAG

from .helpers import MAX_WIDTH_PX


def line_colours(fig) -> set[str]:
    return {to_hex(line.get_color()) for ax in fig.axes for line in ax.get_lines()}


def test_each_backend_has_its_registry_colour():
    names = list(dict(BACKENDS.items()))
    assert [colour(n) for n in names] == [f"C{i}" for i in range(len(names))]
    assert colour("PyTorch") == colour("torch") == colour("PyTorch") and colour("NumPy (from scratch)") == "C0"
    assert colour("jax") not in {colour(n) for n in names}


@pytest.fixture
def comparison(store, tmp_path, drawn):
    files = build_comparison(store.uri, read_run_ids(list(store.run_files.values())), tmp_path, log_to_mlflow=False)
    return files, drawn


def test_a_backend_keeps_its_colour_in_every_comparison_figure(comparison):
    _, drawn = comparison
    numpy, torch = to_hex(colour("numpy")), to_hex(colour("torch"))
    assert line_colours(drawn["curves_numpy.png"]) == {numpy}  # configurations differ by marker, not colour
    assert line_colours(drawn["curves_torch.png"]) == {torch}
    markers = [{line.get_marker() for line in drawn[f"curves_{b}.png"].axes[0].get_lines()} for b in ("numpy", "torch")]
    assert markers[0] == markers[1] and len(markers[0]) == 2  # tutorial rerun and default, the same in both
    bars = {to_hex(c.patches[0].get_facecolor()): c.get_label() for c in drawn["compared.png"].axes[0].containers}
    assert bars == {numpy: "NumPy", torch: "PyTorch"}
    assert line_colours(drawn["curves_compared.png"]) == {numpy, torch}


def test_accuracy_axes_are_in_percent(comparison):
    _, drawn = comparison
    for name in ("curves_numpy.png", "curves_compared.png"):
        for ax in drawn[name].axes[-1:]:
            assert ax.get_ylabel() == "accuracy (%)"
            values = np.concatenate([line.get_ydata() for line in ax.get_lines()])
            assert 50 < values.min() and values.max() <= 100


def test_every_comparison_figure_fits_1000_px(comparison):
    files, _ = comparison
    assert len(files.figures) == 4
    for path in files.figures:
        assert matplotlib.image.imread(path).shape[1] <= MAX_WIDTH_PX, path.name


def test_the_seed_band_is_the_mean_and_the_spread_over_the_seeds():
    seeds = [{"epoch": [1, 2, 3], "val/acc": [0.5, 0.6, 0.7]}, {"epoch": [1, 2], "val/acc": [0.7, 0.9]}]
    epochs, mean, low, high = figures.seed_band(seeds, "val/acc")
    assert epochs.tolist() == [1, 2]  # the epochs every seed has
    assert mean == pytest.approx([0.6, 0.75]) and low.tolist() == [0.5, 0.6] and high.tolist() == [0.7, 0.9]


def test_the_overlay_draws_both_backends_over_the_seeds_in_each_configuration(tmp_path, drawn):
    def seed(shift: float) -> dict:
        return {"epoch": [1, 2], "train/acc": [0.8 + shift, 0.9 + shift], "val/acc": [0.85 + shift, 0.95 + shift]}

    panels = {"tutorial rerun": {"numpy": [seed(0), seed(0.02)], "torch": [seed(0.01)]},
              "default": {"numpy": [seed(0.03)], "torch": [seed(0.03), seed(0.01)]}}
    figures.backend_curves(panels, tmp_path / "overlay.png")
    axes = drawn["overlay.png"].axes
    assert [ax.get_title() for ax in axes] == ["tutorial rerun", "default"]
    val = {line.get_label(): line.get_ydata() for line in axes[0].get_lines()}
    assert val["NumPy validation (2 seeds)"] == pytest.approx([86.0, 96.0])
    assert val["PyTorch train (1 seed)"] == pytest.approx([81.0, 91.0])
    bands = axes[1].collections
    assert len(bands) == 4 and {to_hex(b.get_facecolor()[0][:3]) for b in bands} == {
        to_hex(colour("numpy")), to_hex(colour("torch"))}


def test_a_seed_runs_group_is_found_in_the_store(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    exp = client.create_experiment("seeds")
    parent = client.create_run(exp, tags={GROUP_TAG: "group"}).info.run_id
    kids = [client.create_run(exp, tags={GROUP_TAG: "seed", "mlflow.parentRunId": parent}).info.run_id
            for _ in range(3)]
    for kid in kids[:2]:
        client.set_terminated(kid)
    client.set_terminated(kids[2], "FAILED")
    lone = client.create_run(exp).info.run_id
    runs = tidy(queries.search_runs(uri, run_ids=[kids[1], lone])).set_index("run_id", drop=False)
    assert seed_run_ids(uri, runs.loc[kids[1]]) == [kids[1], kids[0]]  # finished seeds only, its own first
    assert seed_run_ids(uri, runs.loc[lone]) == [lone]


def test_one_backend_gets_no_overlay(store, tmp_path):
    files = build_comparison(store.uri, [store.run_ids["numpy"]], tmp_path, log_to_mlflow=False)
    assert [p.name for p in files.figures] == ["compared.png", "curves_numpy.png"]
