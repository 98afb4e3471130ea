# Two commands set up everything on a fresh machine:
#   make repro     create/reuse .venv, install the project, run the whole pipeline (dvc repro)
#   make test      create/reuse .venv, install the project, run the fast tier of the tests (under 3 minutes)
# and `make test-all` runs every tier of the tests (what CI runs).
# They are idempotent; with the environment in place the set-up step is skipped.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed-stamp
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: repro test test-all params bench ui doctor ablation best clean-env

$(STAMP): pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

repro: $(STAMP)
	dvc repro

# The fast tier: every test not marked slow (unit tests, small integration tests on tiny data); the
# summary counts what it left out. The full suite adds the slow tier (whole pipelines, sweeps, stopped
# processes, the cluster and browser tests). Both spread the tests over TEST_WORKERS pytest-xdist
# workers: many of them wait on subprocesses. On 2 cores, 12 of the slow tests took 198 s serially,
# 87 s with 2 workers and 120 s with 4. Tests that share a service carry an xdist_group and run on
# one worker, one after another. --no-loadscope-reorder hands out the groups and the other tests in
# collection order (tests/conftest.py starts the longest first) instead of the largest groups first.
# TEST_WORKERS=0: one process (pytest -n 0), e.g. to use pdb.
TEST_WORKERS ?= 2
test: $(STAMP)
	python -m pytest -m "not slow" -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder $(PYTEST_ARGS)

test-all: $(STAMP)
	python -m pytest -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder $(PYTEST_ARGS)

# Regenerate params.yaml from conf/ (the same composition `dvc exp run -S` performs).
params: $(STAMP)
	python -m mlpbench.compose

bench: $(STAMP)
	python benchmarks/bench_data.py
	python benchmarks/bench_training.py

# The store is checked first (one line when it is damaged or unreadable), then the runs of runs/ it lacks
# are imported (README, "How runs travel between clones"). Quoted: the project's path may hold spaces.
# PORT (or UI_PORT, its older name): another port, when 5000 is taken, e.g. `make ui PORT=5001`.
PORT ?= 5000
UI_PORT ?= $(PORT)
ui: $(STAMP)
	@python -m mlpbench.tracking.health --read-only "sqlite:///$(CURDIR)/mlflow.db"
	-python -m mlpbench.tracking.restore --uri "sqlite:///$(CURDIR)/mlflow.db"
	@echo "Open http://127.0.0.1:$(UI_PORT)/#/experiments (the experiments by name, mlpbench first; each opens on its training runs; see README, 'MLflow: where results land')"
	mlflow ui --backend-store-uri "sqlite:///$(CURDIR)/mlflow.db" --host 127.0.0.1 --port $(UI_PORT) --app-name mlpbench

# The ablation (README, "Which change matters"): every step of conf/experiment/ablation/ for every
# backend DVC trains (params.yaml's `backends`), one job at a time (its step times are measured), then
# reports/ablation/ablation.{md,html}.
# ABLATION_SEEDS: the seeds of every step and backend (a seed group each; the report pairs them by seed);
# ABLATION_URI: another MLflow store, e.g. sqlite:////tmp/ablation.db (default: the project's);
# ABLATION_ARGS: overrides for every step, e.g. "train.epochs=1" for a quick check of the wiring.
ABLATION_SEEDS ?= 3
export ABLATION_SEEDS  # read by the shell as a variable: its value is never shell code
ABLATION_URI ?=
ABLATION_ARGS ?=
empty :=
space := $(empty) $(empty)
comma := ,
ABLATION_STEPS = $(subst $(space),$(comma),$(patsubst conf/experiment/%.yaml,%,$(sort $(wildcard conf/experiment/ablation/*.yaml))))
ablation: $(STAMP)
	@dir=multirun/ablation/$$(date +%Y-%m-%d_%H-%M-%S)-$$$$; \
	backends=$$(python -m mlpbench.params backends) && \
	python pipelines/train.py -m hydra/launcher=joblib hydra.launcher.n_jobs=1 hydra.sweep.dir=$$dir \
		experiment=$(ABLATION_STEPS) backend=$$backends tracking.experiment=mlpbench-ablation \
		"train.seeds=$$ABLATION_SEEDS" \
		$(if $(ABLATION_URI),"tracking.uri='$(ABLATION_URI)'") $(ABLATION_ARGS) && \
	$(if $(ABLATION_URI),MLFLOW_TRACKING_URI="$(ABLATION_URI)") python pipelines/report.py \
		--ablation "$$(cat $$dir/mlflow_parent_run_id)" \
		--machine "Measured on $$(nproc) CPU cores; at the end of the sweep: $$(uptime | sed 's/^ *//')."

# The best preset (conf/experiment/best.yaml; README, "The best preset") on every backend DVC trains, one after
# the other (their step times are measured), then the report: about half an hour on 2 cores. Not a DVC stage,
# which `dvc repro` would rerun after any change to the code: commit what it writes (metrics/best_*, runs/best_*);
# the report stage reads them (it depends on metrics/) and shows them as the group "Best preset".
# The settings every run shares (data set, seed, dtype, threads, tracking, torch) come from params.yaml.
# BEST_ARGS: overrides for both runs (what they write replaces the files above). `dvc repro report` also reruns
# any stage DVC finds stale: the report reads every stage's runs.
BEST_ARGS ?=
best: $(STAMP)
	@backends=$$(python -m mlpbench.params backends) || exit 1; \
	for b in $$(echo "$$backends" | tr , ' '); do \
		python pipelines/train.py --shared-from-params \
			train.seed,train.dtype,train.device,train.threads,train.eval_batch_size,data,tracking,torch \
			experiment=best backend=$$b outputs.metrics_file=metrics/best_$$b.json \
			outputs.history_file=metrics/best_$${b}_history.csv outputs.run_file=metrics/best_$${b}_run.json \
			outputs.export_dir=runs/best_$$b $(BEST_ARGS) || exit 1; \
	done
	dvc repro report

# End RUNNING runs whose process is gone (killed with SIGKILL, a crash) as KILLED.
doctor: $(STAMP)
	python -m mlpbench.tracking.doctor

clean-env:
	rm -rf $(VENV)
