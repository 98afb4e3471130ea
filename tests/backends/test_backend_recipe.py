"""The README's recipe for adding a backend, followed: a NumPy variant defined here, registered under a
test-only name (and removed afterwards), is taken by config validation, the DVC matrix, training, the
comparison report, the scaling study and the ablation wiring, with no project file changed; and the
stages whose deps the recipe's two files (its register line in options.py, its module under backends/)
fall in are those that take it, and no others.
"""
from __future__ import annotations

import dataclasses

import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient

from mlpbench import config
from mlpbench.backends import Backend
from mlpbench.backends.numpy_backend import NumpyBackend
from mlpbench.compose import compose
from mlpbench.config import ConfigError
from mlpbench.config.load import load
from mlpbench.options import BACKENDS, BackendSpec
from mlpbench.params import sweep_values
from mlpbench.report import build_comparison
from mlpbench.report.ablation import expected
from mlpbench.run.seeds import train_and_track
from mlpbench.scaling.grid import points
from mlpbench.scaling.measure import measure

from imports import SRC, module_file
from support import PROJECT_ROOT, tiny_config
from test_dvc_deps import STAGES, covered, declared, reachable_files, stage_scripts

NAME = "numpy_variant"
LABEL = "NumPy variant (test)"
# The files registering a backend changes: its register line's and its new module's.
REGISTRY = SRC / "mlpbench" / "options.py"
NEW_MODULE = SRC / "mlpbench" / "backends" / f"{NAME}.py"
# The stages that read the registry: they rerun once after a backend is registered (README, "A backend").
TAKE_IT = {"train": True, "tutorial": True, "report": False, "scaling": True}  # stage -> builds backends
RUN_BY_NAME = {"torch_options": {"torch", "numpy"}}  # a stage that builds the backends it names itself
# A stage that reaches the registry without building every backend: torch_options times the NumPy backend's step
# beside its variants, and numpy_backend reads what its spec declares unsupported. It reruns when a backend is
# registered, but its folder gains no module.
READS_REGISTRY = {"torch_options"}


class NumpyVariant(NumpyBackend):
    """The NumPy backend under another name: CPU only, and without RMSprop (declared in its spec)."""

    name = NAME

    @classmethod
    def check(cls, cfg: config.Config) -> None:
        if cfg.train.device == "cuda":
            raise ConfigError(f"backend={NAME} runs on the CPU only; use train.device=cpu or auto")


SPEC = BackendSpec(LABEL, "NumPy variant", __name__, "NumpyVariant", "numpy",
                   unsupported={"optim.name": ("rmsprop",)})


@pytest.fixture
def registered():
    """The recipe's register line, undone after the test."""
    BACKENDS.register(NAME, SPEC)
    try:
        yield NAME
    finally:
        BACKENDS.unregister(NAME)


def test_config_validation_takes_it_and_refuses_what_it_declares_unsupported(registered, tmp_path):
    assert load(tiny_config(tmp_path, [f"backend={NAME}", "optim=adam"])).backend == NAME
    with pytest.raises(ConfigError) as err:
        load(tiny_config(tmp_path, [f"backend={NAME}", "optim=rmsprop"]))
    assert str(err.value) == (f"backend={NAME} does not implement optim.name=rmsprop; choose another with "
                              "optim=NAME, or another backend")
    load(tiny_config(tmp_path, ["backend=numpy", "optim=rmsprop"]))  # the other backends keep it


def test_the_dvc_matrix_and_the_ablation_sweep_take_it(registered, tmp_path):
    values = compose(PROJECT_ROOT)
    assert values["backends"] == [*BACKENDS] and values["backends"][-1] == NAME
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(values, sort_keys=False))
    swept = sweep_values(params, "backends")
    makefile = (PROJECT_ROOT / "Makefile").read_text()  # `make ablation` sweeps `backend=` over them
    assert "backends=$$(python -m mlpbench.params backends)" in makefile and " backend=$$backends " in makefile
    overrides = f"experiment=ablation/ablation_01_init backend={swept}"
    runs = pd.DataFrame({"preset": ["ablation_01_init"], "backend": ["numpy"]})
    assert expected({"tags": {"sweep_overrides": overrides}}, runs)[1] == list(BACKENDS)


def test_a_run_trains_and_the_comparison_report_names_it(registered, tiny_root):
    values = tiny_config(tiny_root, [f"backend={NAME}"])
    summary = train_and_track(values, tiny_root, tiny_root / "out", progress=False)
    tags = MlflowClient(values["tracking"]["uri"]).get_run(summary["run_id"]).data.tags
    assert tags["backend"] == NAME and tags["numpy_version"] and "torch_version" not in tags  # its library's
    files = build_comparison(values["tracking"]["uri"], [summary["run_id"]], tiny_root / "report",
                             log_to_mlflow=False)
    md = files.markdown.read_text()
    assert md.startswith(f"# mlpbench: {LABEL} on MNIST") and f"| {NAME} " in md
    assert {p.name for p in files.figures} == {"compared.png", "step_attribution.png", f"curves_{NAME}.png"}


def test_its_own_check_runs_before_any_mlflow_run(registered, tiny_root):
    with pytest.raises(ConfigError, match=f"backend={NAME} runs on the CPU only"):
        train_and_track(tiny_config(tiny_root, [f"backend={NAME}", "train.device=cuda"]), tiny_root,
                        tiny_root / "out", progress=False)
    assert not (tiny_root / "mlflow.db").exists()


def test_the_scaling_study_times_it_in_its_own_worker(registered):
    grid_keys = "scaling.grids.quick"
    cfg = load(compose(PROJECT_ROOT, [
        f"backends=[numpy,{NAME}]", "model.hidden_sizes=[16]", "train.batch_size=8", f"{grid_keys}.widths=[16]",
        f"{grid_keys}.batch_sizes=[8]", f"{grid_keys}.depths=[1]", f"{grid_keys}.dtypes=[float32]",
        f"{grid_keys}.repeats=1", f"{grid_keys}.min_time_s=0"]))
    grid = cfg.scaling.grids["quick"]
    frame, info = measure(cfg, points(grid, cfg.model.hidden_sizes, cfg.train.batch_size), grid)
    assert set(frame["backend"]) == {"numpy", NAME} and (frame["step_s"] > 0).all()
    assert info[NAME]["dtype"] == "float32"


def test_the_readme_recipe_names_everything_a_backend_needs():
    readme = (PROJECT_ROOT / "README.md").read_text()
    recipe = readme[readme.index("- **A backend**"):readme.index("- **An IDX data set**")]
    members = [*Backend.__annotations__, *(m for m in vars(Backend) if not m.startswith("_"))]
    assert {"check", "load", "lr", "gemm_step", "info", "log_model"} <= set(members)
    assert [m for m in members if f"`{m}`" not in recipe and f"`{m}(" not in recipe] == []
    spec_fields = [f.name for f in dataclasses.fields(BackendSpec)]
    assert [f for f in spec_fields if f not in recipe] == []
    assert "`pyproject.toml`" in recipe and "`make params`" in recipe


@pytest.mark.parametrize("stage", sorted(set(STAGES) - set(TAKE_IT)))
def test_registering_it_reruns_no_stage_that_does_not_take_it(stage):
    """The data stages reach neither the registry nor ``backends.build`` (which imports every registered
    backend), torch_options only the registry (``READS_REGISTRY``), and none lists a folder the new backend's
    module would be added to."""
    files = {f for script in stage_scripts(STAGES[stage]) for f in reachable_files(script)}
    assert (REGISTRY in files) == (stage in READS_REGISTRY) and SRC / "mlpbench" / "backends" / "build.py" not in files
    backends = {name for name, spec in BACKENDS.items() if module_file(spec.module) in files}
    assert backends <= RUN_BY_NAME.get(stage, set())
    deps = declared(STAGES[stage])
    assert covered(REGISTRY, deps) == (stage in READS_REGISTRY) and not covered(NEW_MODULE, deps)


@pytest.mark.parametrize("stage", sorted(TAKE_IT))
def test_the_stages_that_take_it_depend_on_its_registration(stage):
    deps = declared(STAGES[stage])
    assert covered(REGISTRY, deps) and covered(NEW_MODULE, deps) == TAKE_IT[stage]
