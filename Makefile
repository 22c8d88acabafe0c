# Two commands: `make run` (set up, then run the workflow) and `make test` (set up, then test).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORES ?= 2
SIZES ?= 1000 10000 100000
CONFIG ?=
SNAKEMAKE_ARGS ?=
CONFIG_ARG := $(if $(CONFIG),--configfile=$(CONFIG),)
# Python's bytecode cache (__pycache__/, ignored by git) is kept even where the environment turns it off
# (PYTHONDONTWRITEBYTECODE, set in some container images): every job of a run is a new Python process that
# would compile the package's modules again, and every test worker its test files (collecting the tests
# took 22 s without the cache and 14 s with it, 2026-12-05).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: setup browser run test test-fast test-slurm lint report reproduce notebooks lab bench check-dimensions check-invariance check-dynamics check-early-warning check-pooling share pool clean lock

setup: $(STAMP)

# The environment is rebuilt whenever the lock file or the package metadata change.
$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

## browser: headless Chromium for the report test, from the distribution's packages where missing
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  echo "Installing Chromium (the report is checked in a headless browser)"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq \
	    --no-install-recommends chromium fonts-dejavu-core >/dev/null; }

## run: the whole workflow (default: the synthetic cohort); CONFIG=my.yaml merges over config.yaml
run: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) $(CONFIG_ARG) $(SNAKEMAKE_ARGS)
	@echo "Report: results/report.html   Effects: results/effects.csv"

## report: Snakemake's own report of the last run, as a zip
report: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) $(CONFIG_ARG) --report results/snakemake-report.zip

## reproduce: re-run from a clean results/ and check every output is byte-identical to the last run
reproduce: $(STAMP)
	$(BIN)/python -m alliance.runtime.reproduce --cores $(CORES) $(if $(CONFIG),--configfile $(CONFIG),)

## notebooks: pair every notebooks/*.py with a Jupyter .ipynb (jupytext; the .py files are the source)
notebooks: $(STAMP)
	$(BIN)/jupytext --quiet --sync notebooks/*.py

## lab: JupyterLab on notebooks/ (bound to 127.0.0.1), the notebooks paired first and opened with the
## project's kernel; they read ALLIANCE_RESULTS (default results/). NO_BROWSER=1 prints the URL only;
## --allow-root is added only when run as root (containers, CI machines).
## Example: make lab ALLIANCE_RESULTS=/secure/run2/results NO_BROWSER=1 LAB_PORT=8890
KERNEL := alliance
LAB_PORT ?= 8888
NO_BROWSER ?=
ALLIANCE_RESULTS ?= results
lab: $(STAMP)
	$(BIN)/jupytext --quiet --sync notebooks/*.py
	$(BIN)/python -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "$(KERNEL) (project .venv)"
	$(BIN)/jupytext-config --settings-file $(VENV)/etc/jupyter/labconfig/default_setting_overrides.json \
	  set-default-viewer python
	@echo "JupyterLab on notebooks/ with kernel '$(KERNEL)', reading $(abspath $(ALLIANCE_RESULTS));" \
	  "open the http://127.0.0.1 URL below (Ctrl-C twice stops it)"
	ALLIANCE_RESULTS="$(abspath $(ALLIANCE_RESULTS))" $(BIN)/jupyter lab --ServerApp.root_dir=notebooks \
	  --ServerApp.ip=127.0.0.1 --ServerApp.port=$(LAB_PORT) $(if $(NO_BROWSER),--no-browser) \
	  $(if $(filter 0,$(shell id -u)),--allow-root)

## test: lint, then every test (the workflow tests included) on $(CORES) workers, each file whole on one worker,
## handed out in the order of tests/conftest.py (the longest files first; xdist's own reordering, by number
## of tests, is turned off)
test: $(STAMP) browser lint
	$(BIN)/pytest -n $(CORES) --dist loadfile --no-loadscope-reorder

## test-fast: the unit tests only
test-fast: $(STAMP)
	$(BIN)/pytest -m "not slow"

## test-slurm: the simulation study on a real one-node SLURM cluster on this machine, byte-identical to a
## local run (installs SLURM and munge with apt-get where missing, as root or with sudo; 3-5 minutes on
## 2 cores, hard timeout 20 minutes; not part of `make test`). See docs/running-at-scale.md.
test-slurm: $(STAMP)
	bash tests/slurm/run.sh

## bench: the whole workflow on cohorts of 1k, 10k and 100k patients (7-12 minutes on 2 cores), then
## the simulation study's acceptance run (REPLICATIONS=500 of 400 patients and 32 therapists; target 10
## minutes), then H4c's RI-CLPM alone at 4,000 patients x 8 sessions (target 2 minutes), then the
## early-warning analysis alone at 10,000 patients (target 30 s); per-rule time and memory in
## results/bench/bench.csv, the simulation run in results/bench/bench_simulation.csv, the RI-CLPM in
## bench_riclpm.csv, the early warning in bench_early_warning.csv, summary and targets in results/bench/bench.md.
## Other sizes: make bench SIZES="1000 50000" REPLICATIONS=100 (REPLICATIONS=0: no simulation run;
## SIZES= : no cohort's run, so no pooling step; the simulation, the RI-CLPM and the early warning still run)
REPLICATIONS ?= 500
bench: $(STAMP)
	$(BIN)/python -m alliance.runtime.bench --cores $(CORES) --sizes $(SIZES) --replications $(REPLICATIONS)

## check-dimensions: how often H5's planned contrast (goals and tasks over the bond) and a dimension-specific
## latent effect (H5d) are declared, under the configured generator and under one without dimension-specific
## effects (COHORTS cohorts each, about 2 s a cohort per outcome on one core; issue 16's targets);
## results/validation/dimension_check.csv and .md, each replication in dimension_check_replications.csv
## (SEED: the first cohort's seed)
COHORTS ?= 100
SEED ?= 1000
check-dimensions: $(STAMP)
	$(BIN)/python -m alliance.simulation.dimension_check --replications $(COHORTS) --seed $(SEED) $(if $(CONFIG),--config $(CONFIG),)

## check-invariance: how often measurement invariance across disciplines is rejected with a planted
## non-invariant discipline (item 7's intercept +0.5 in physiotherapy) and retained without one (COHORTS
## cohorts each, about 0.7 s a cohort; issue 17's targets); results/validation/invariance_check.csv and .md
INVARIANCE_SEED ?= 2000
check-invariance: $(STAMP)
	$(BIN)/python -m alliance.simulation.invariance_check --replications $(COHORTS) --seed $(INVARIANCE_SEED) $(if $(CONFIG),--config $(CONFIG),)

## check-dynamics: how well H4c's RI-CLPM recovers planted reciprocal dynamics (synthetic.symptoms.process:
## joint, both cross-lags planted; COHORTS cohorts of 400 patients, about 3 s a cohort, plus the estimand on
## 20,000 patients; issue 17's target); results/validation/dynamics_check.csv and .md
DYNAMICS_SEED ?= 3000
check-dynamics: $(STAMP)
	$(BIN)/python -m alliance.simulation.dynamics_check --replications $(COHORTS) --seed $(DYNAMICS_SEED) $(if $(CONFIG),--config $(CONFIG),)

## check-pooling: pooling across sites, and the one-stage analysis from the sites' aggregates, against the
## one-stage analysis of the combined data, on 10-site cohorts without between-site variance, and recovery of
## a planted between-site SD (COHORTS cohorts each, about 3 s a cohort per condition on one core: 10 minutes
## for COHORTS=100; issue 19's targets); CASELOADS=unequal: each therapist keeps a random 10-100% of their patients;
## results/validation/pooling_check.csv and .md, each cohort in pooling_check_replications.csv
POOLING_SEED ?= 3000
CASELOADS ?= equal
check-pooling: $(STAMP)
	$(BIN)/python -m alliance.simulation.pooling_check --replications $(COHORTS) --seed $(POOLING_SEED) \
		--caseloads $(CASELOADS) $(if $(CONFIG),--config $(CONFIG),)

## share: this site's bundle of aggregates, results/share/<site>.zip, and what leaves the site in words beside it
## (checks the label, then runs the workflow: nothing is re-run when the results are up to date). The label is network.site
## of the config, or SITE=clinic_a. ONE_STAGE=1 (or network.one_stage: true) also sends the one-stage sums, off by
## default (read what they tell first). Example: make share CONFIG=my.yaml SITE=clinic_a
SITE ?=
ONE_STAGE ?=
share: $(STAMP)
	$(BIN)/python -m alliance.network.share --check-site $(if $(CONFIG),--config $(CONFIG),) $(if $(SITE),--site $(SITE),)
	$(BIN)/snakemake --cores $(CORES) $(CONFIG_ARG) $(SNAKEMAKE_ARGS)
	$(BIN)/python -m alliance.network.share $(if $(SITE),--site $(SITE),) $(if $(filter 1 true yes,$(ONE_STAGE)),--one-stage,)

## pool: the coordinator pools the sites' bundles into results/pooled/ (effects.csv, sites.csv, benchmarks.csv,
## one_stage.csv, report.html, in POOL_LANGUAGE: en, es or ca); incompatible bundles are refused.
## Example: make pool BUNDLES="a.zip b.zip c.zip" POOL_LANGUAGE=es
BUNDLES ?=
POOL_LANGUAGE ?= en
pool: $(STAMP)
	$(BIN)/python -m alliance.network.pool $(BUNDLES) --language $(POOL_LANGUAGE)

## check-early-warning: the early-warning models against the generator's known dropout mechanism (issue 18's
## targets): COHORTS null cohorts (no alliance effect on dropout; the alliance model's AUC CI should cover
## .5 in at least 90%) and ORACLE_COHORTS cohorts of the generator (the out-of-sample AUC beside the
## oracle's, of ORACLE_PATIENTS patients; about 1 s a cohort); results/validation/early_warning_check.csv and .md
EARLY_WARNING_SEED ?= 3000
ORACLE_COHORTS ?= 20
ORACLE_PATIENTS ?= 2000
check-early-warning: $(STAMP)
	$(BIN)/python -m alliance.simulation.early_warning_check --replications $(COHORTS) \
	  --oracle-replications $(ORACLE_COHORTS) --oracle-patients $(ORACLE_PATIENTS) \
	  --seed $(EARLY_WARNING_SEED) $(if $(CONFIG),--config $(CONFIG),)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/snakemake --lint --cores 1

## lock: re-resolve the dependency closure from pyproject.toml into requirements.lock
lock:
	rm -rf /tmp/alliance-lock && $(PYTHON) -m venv /tmp/alliance-lock
	/tmp/alliance-lock/bin/pip install --quiet ".[dev,slurm,lab]" setuptools
	{ head -n 2 requirements.lock; /tmp/alliance-lock/bin/pip freeze --all --exclude-editable \
	  | grep -v -E '^(pip|alliance)==' | sort -f; } > requirements.lock.new
	mv requirements.lock.new requirements.lock

clean:
	rm -rf results/* .snakemake
