# bqlab: `make` lists the targets. The first target that needs Python creates .venv with the
# exact versions and hashes of requirements.txt (what runs the reports), and the first that needs
# the dev tools (tests, linters, git hooks) adds requirements-dev.txt; later calls reuse it.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

PYTHON  ?= python3
VENV    ?= .venv
PROFILE ?=
REPORTS ?= reports
PARAMS  ?= params
NOTEBOOKS ?= notebooks
LAB_PORT ?= 8888
LAB_ROOT ?= .
PYTEST_ARGS ?=
PYTHON_EMULATOR ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python3.13) python3.13)
EMULATOR_VENV ?= .venv-emulator
KERNEL  := bqlab

ifeq ($(BQLAB_ENV),system)
  # Inside the container the image's environment already holds every pinned package.
  BIN   := $(patsubst %/,%,$(dir $(shell command -v python)))
  STAMP :=
  DEV_STAMP :=
else
  BIN   := $(VENV)/bin
  STAMP := $(VENV)/.bqlab-installed
  DEV_STAMP := $(VENV)/.bqlab-dev
  ifneq ($(PYTHONDONTWRITEBYTECODE),)
    # Where Python writes no bytecode (PYTHONDONTWRITEBYTECODE, as on our CI machines), every kernel
    # would compile pandas and scikit-learn again (the penguins report 20 s, against 13 s), and
    # compiling the whole lock at set-up costs 11-15 s: the make targets let Python keep the
    # bytecode of what it imports, in .venv/pycache only (nothing is written in your folders).
    export PYTHONPYCACHEPREFIX ?= $(abspath $(VENV))/pycache
    export PYTHONDONTWRITEBYTECODE :=
  endif
endif
# uv, from its block of requirements-dev.txt (version and hashes), installed by pip once per
# machine under $XDG_CACHE_HOME/bqlab/uv/<checksum of that block>: every clone then uses it (pip
# takes 2.4 s here; UV_BOOTSTRAP=<folder> puts it elsewhere). Another uv block gets a folder of its own.
UV_BOOTSTRAP ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/bqlab/uv
UV_REQUIREMENT = awk '/^uv==/{on=1} on{print} on&&!/\\$$/{exit}' requirements-dev.txt
# Worked out once, the first time a recipe needs it (not on every expansion, not on make help).
UV_HOME = $(eval UV_HOME := $(UV_BOOTSTRAP)/$(shell $(UV_REQUIREMENT) | cksum | cut -d' ' -f1))$(UV_HOME)
UV = $(UV_HOME)/bin/uv
# For make lock and the emulator: after NO_UV=1 or the pip fallback, the venv's own uv.
ANY_UV = $(firstword $(wildcard $(UV) $(BIN)/uv) $(UV))
FORCE   ?=
QUIET   ?=
PROFILE_ARG := $(if $(PROFILE),--profile $(PROFILE),)
RUN_ARGS := $(PROFILE_ARG) $(if $(filter 1 yes true,$(FORCE)),--force,) $(if $(filter 1 yes true,$(QUIET)),--quiet,)

BASE    ?= real
IMAGE   ?= $(if $(filter twin,$(BASE)),bqlab:twin,bqlab:latest)
export BASE IMAGE REPORTS PARAMS NOTEBOOKS LAB_PORT PROFILE FORCE QUIET NO_CACHE PYTEST_ARGS

.PHONY: help setup setup-git report sweep baseline gate check prune publish compare doctor test test-fast format lint lab bench bench-scale bench-rows bench-split bench-wide bench-container bench-noop bench-sweep bench-clone emulator clean clean-venv lock \
	docker-build docker-build-twin docker-report docker-lab docker-test

help: ## List the targets
	@echo "Usage: make <target> [PROFILE=ci] [FORCE=1] [QUIET=1] [REPORTS=reports] [PARAMS=params]"
	@echo "  PROFILE=<name> overlays params/profiles/<name>.yaml; PARAMS=<folder> reads another params folder"
	@echo "  (relative paths in it, such as local_tables, still start at the project root)"
	@echo "  docker-*: BASE=twin uses the twin image; CONTAINER_ENGINE=docker|podman (found when unset)"
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-18s %s\n", $$1, $$2}'

ifneq ($(STAMP),)
# $(call install,LOCK): .venv holds exactly LOCK's versions, and this project (editable). uv installs
# a lock in about a second from its cache; uv itself comes from requirements-dev.txt (its block,
# hashes and all), put by pip in $(UV_HOME) the first time. The venv is made without pip (3 s
# less); where uv cannot run, pip comes in and installs it all.
define install
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "bqlab needs Python 3.11 or newer: set PYTHON=python3.11 (found " + sys.version.split()[0] + ")")'
	@echo "Setting up $(VENV) with the locked versions in $(1) (seconds with uv) ..."
	@test -x $(BIN)/python || $(PYTHON) -m venv --without-pip $(VENV)
	@# uv from pip the first time: this Python's, else the venv's own (ensurepip); into a folder of
	@# this process's, renamed into place (two clones set up at once do not mix their files). uv is
	@# one binary: no dependencies to resolve, no Python modules worth compiling.
	@uv="$(UV)"; home="$${uv%/bin/uv}"; \
	if [ -z "$(filter 1 yes true,$(NO_UV))" ] && \
	    { [ -x "$$uv" ] || \
	      { tmp="$$home.$$$$.tmp"; rm -rf "$$tmp"; mkdir -p "$$tmp" && $(UV_REQUIREMENT) > "$$tmp/uv-requirement.txt" && \
	        for pip in "$(PYTHON) -m pip" "$(BIN)/python -m pip"; do \
	          { [ "$$pip" = "$(PYTHON) -m pip" ] || $(BIN)/python -m ensurepip >/dev/null 2>&1; } && \
	          $$pip install --quiet --disable-pip-version-check --require-hashes --no-deps --no-compile --target "$$tmp" \
	            -r "$$tmp/uv-requirement.txt" 2>>$(VENV)/bootstrap.log && break; done; \
	        { [ -x "$$tmp/bin/uv" ] && [ ! -e "$$home" ] && mv "$$tmp" "$$home"; rm -rf "$$tmp"; [ -x "$$uv" ]; }; }; } && \
	    $(UV) pip sync --quiet --python $(BIN)/python --require-hashes $(1) && \
	    $(UV) pip install --quiet --python $(BIN)/python --no-deps -e . ; then :; else \
	  echo "uv was not usable here: installing with pip instead (about 2 minutes) ..."; \
	  $(BIN)/python -m ensurepip --upgrade >/dev/null 2>&1 || true; \
	  $(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --require-hashes -r $(1) && \
	  $(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e . ; fi
	@$(BIN)/python -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python ($(KERNEL))" >/dev/null
	@$(MAKE) setup-git
endef

# What runs the reports. A venv that has the dev tools keeps them (their lock holds this one).
$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	$(call install,$(if $(wildcard $(DEV_STAMP) $(BIN)/pre-commit),requirements-dev.txt,requirements.txt))
	@touch $@ $(wildcard $(DEV_STAMP))
	@echo "Environment ready: $(VENV) (Jupyter kernel '$(KERNEL)')"

# After the runtime's (make -j would otherwise sync both locks into one venv at once).
$(DEV_STAMP): requirements.txt requirements-dev.txt pyproject.toml | $(STAMP)
	$(call install,requirements-dev.txt)
	@touch $(STAMP) $@
	@echo "Environment ready: $(VENV) with the dev tools (Jupyter kernel '$(KERNEL)')"
endif

setup: $(DEV_STAMP) ## Create the virtual environment with the dev tools and the git set-up (done automatically by the other targets)

setup-git: ## In a git checkout: strip notebook outputs on commit; with the dev tools, nbdime diffs and merges, pre-commit hooks
	@if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then exit 0; fi; \
	bin="$(abspath $(BIN))"; \
	# A fresh clone's index marks the files it checked out in the same second as "maybe changed": \
	# git would hash each notebook again through the filter, 1.6 s apiece, at the first git status \
	# (the report's provenance). Before the filter exists, git hashes them as they are, in ms. \
	git config --get filter.nbstripout.clean >/dev/null || git update-index -q --refresh >/dev/null || true; \
	git config filter.nbstripout.clean "'$$bin/python' -m nbstripout" && \
	git config filter.nbstripout.smudge cat && \
	git config filter.nbstripout.required true && \
	git config filter.nbstripout.extrakeys "metadata.language_info" && \
	said="git: notebook outputs are stripped when staged (nbstripout)"; \
	if [ -x "$$bin/git-nbdiffdriver" ] && [ -x "$$bin/pre-commit" ]; then \
	  git config diff.jupyternotebook.command "'$$bin/git-nbdiffdriver' diff --ignore-outputs --ignore-id --ignore-details" && \
	  git config merge.jupyternotebook.driver "'$$bin/git-nbmergedriver' merge %O %A %B %L %P" && \
	  git config merge.jupyternotebook.name "jupyter notebook merge driver" && \
	  "$$bin/pre-commit" install >/dev/null && \
	  said="$$said, notebooks diff and merge with nbdime, pre-commit hooks on"; \
	else \
	  for key in diff.jupyternotebook.command merge.jupyternotebook.driver merge.jupyternotebook.name; do \
	    git config --unset "$$key" || true; done; \
	  hook="$$(git rev-parse --git-path hooks/pre-commit)"; \
	  if grep -qs "pre-commit" "$$hook"; then rm -f "$$hook"; fi; \
	  said="$$said (nbdime diffs and pre-commit hooks come with the dev tools: make setup)"; fi; \
	echo "$$said"

report: $(STAMP) ## Bring the HTML reports in reports/ up to date (PROFILE=ci fast, FORCE=1 re-run all, QUIET=1, NO_CACHE=1)
	@$(if $(filter 1 yes true,$(NO_CACHE)),BQLAB_QUERY_CACHE=off,) $(BIN)/python -m bqlab report $(RUN_ARGS) --reports-dir $(REPORTS) --params-dir $(PARAMS) --notebooks-dir $(NOTEBOOKS)

sweep: $(STAMP) ## Run every point of params/sweeps/$(NAME).yaml as a run, side by side, sharing unchanged stages (NAME=..., PROFILE=, YES=1 past max_points, FORECAST=1: BigQuery cost only; POINT=N one point, EMIT=k8s|cloud-run the cloud job, COLLECT=1 the leaderboard of a run store)
	@$(BIN)/python -m bqlab sweep $(NAME) $(PROFILE_ARG) $(if $(filter 1 yes true,$(YES)),--yes,) $(if $(filter 1 yes true,$(FORECAST)),--forecast,) $(if $(POINT),--point $(POINT),) $(if $(EMIT),--emit $(EMIT),) $(if $(filter 1 yes true,$(COLLECT)),--collect,) $(if $(filter 1 yes true,$(FORCE)),--force,) $(if $(filter 1 yes true,$(QUIET)),--quiet,) --reports-dir $(REPORTS) --params-dir $(PARAMS) --notebooks-dir $(NOTEBOOKS)

baseline: $(STAMP) ## Tag a run as the gate's baseline, kept by retention (RUN=<run id>; default the latest)
	@$(BIN)/python -m bqlab baseline $(RUN) $(PROFILE_ARG) --reports-dir $(REPORTS) --params-dir $(PARAMS)

gate: $(STAMP) ## Exit 1 when the newest run's scores got worse than a baseline's (BASELINE=<run id>; default the tagged baseline, else the previous comparable run)
	@$(BIN)/python -m bqlab compare --fail-on-regression $(PROFILE_ARG) --reports-dir $(REPORTS) --params-dir $(PARAMS) $(if $(BASELINE),--a $(BASELINE),)

check: $(STAMP) ## Validate params and check the table without running anything
	@$(BIN)/python -m bqlab check $(PROFILE_ARG) --params-dir $(PARAMS) --notebooks-dir $(NOTEBOOKS)

prune: $(STAMP) ## Remove runs beyond keep_runs in params/runner.yaml (never latest, nor a run a kept one reuses)
	@$(BIN)/python -m bqlab prune $(PROFILE_ARG) --reports-dir $(REPORTS) --params-dir $(PARAMS)

publish: $(STAMP) ## Copy the reports to a bucket or shared folder, runs first and the index last (TO=gs://<bucket>/<folder> or a folder; AUDIENCE=readers: findings and figures only)
	@$(BIN)/python -m bqlab publish $(PROFILE_ARG) --reports-dir $(REPORTS) --params-dir $(PARAMS) $(if $(TO),--to "$(TO)") $(if $(AUDIENCE),--audience $(AUDIENCE))

compare: $(STAMP) ## Compare two runs: params, data, code, metrics, figures (default the two newest; A=<run id> B=<run id>)
	@$(BIN)/python -m bqlab compare $(PROFILE_ARG) --reports-dir $(REPORTS) --params-dir $(PARAMS) $(if $(A),--a $(A)) $(if $(B),--b $(B))

doctor: $(STAMP) ## Check the set-up: Python, kernel, Docker or podman, params, credentials, table (PROFILE=bigquery)
	@$(BIN)/python -m bqlab doctor $(PROFILE_ARG) --params-dir $(PARAMS) --notebooks-dir $(NOTEBOOKS)

test: $(DEV_STAMP) emulator ## Run the test suite
	@$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: $(DEV_STAMP) ## Run the unit tests only: no notebook, kernel or browser (about a minute)
	@$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

emulator: ## Install the local BigQuery emulator the tests use (Python 3.13; skipped if absent)
	@if [ -x $(EMULATOR_VENV)/.installed ] || [ -f $(EMULATOR_VENV)/.installed ]; then exit 0; fi; \
	if ! $(PYTHON_EMULATOR) -c 'import sys; assert sys.version_info >= (3, 13)' >/dev/null 2>&1; then \
		echo "note: $(PYTHON_EMULATOR) not found: the BigQuery emulator tests will be skipped (set PYTHON_EMULATOR=...)"; \
		[ -z "$${CI:-}" ] || exit 1; exit 0; fi; \
	echo "Setting up the BigQuery emulator in $(EMULATOR_VENV) (first run only) ..."; \
	$(PYTHON_EMULATOR) -m venv $(EMULATOR_VENV) && \
	{ { [ -x $(ANY_UV) ] && $(ANY_UV) pip install --quiet --python $(EMULATOR_VENV)/bin/python -r tests/emulator-requirements.txt; } || \
	  $(EMULATOR_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r tests/emulator-requirements.txt; } && \
	mkdir -p $(EMULATOR_VENV)/home && HOME=$(CURDIR)/$(EMULATOR_VENV)/home $(EMULATOR_VENV)/bin/python -c \
		"from duckdb_extensions import extension_importer as e; [e.import_extension(n) for n in ('ducklake', 'icu', 'spatial')]" && \
	touch $(EMULATOR_VENV)/.installed

lint: $(DEV_STAMP) ## Check style and docstrings (ruff), types (mypy), and that pyproject names every import (deptry)
	@$(BIN)/ruff check src tests benchmarks
	@$(BIN)/ruff format --check src tests benchmarks
	@$(BIN)/deptry src --no-ansi
	@$(BIN)/mypy
	@echo "lint OK"

format: $(STAMP) ## Format the code and fix what ruff can (ruff), strip notebook outputs (nbstripout)
	@$(BIN)/ruff check --fix --quiet src tests benchmarks
	@$(BIN)/ruff format --quiet src tests benchmarks
	@$(BIN)/nbstripout --extra-keys metadata.language_info $(NOTEBOOKS)/*.ipynb
	@echo "formatted src/, tests/, benchmarks/ and $(NOTEBOOKS)/"

bench: $(STAMP) ## Benchmark the runner against the naive chain and the bare computation (several minutes)
	@$(BIN)/python benchmarks/runner.py --repeat $(or $(REPEAT),3)

bench-scale: $(STAMP) ## Time and peak memory of the report at 344 rows, 1M and 10M synthetic rows (several minutes)
	@$(BIN)/python benchmarks/scale.py $(if $(ROWS),--rows $(ROWS),)

bench-rows: $(STAMP) ## Time, memory, run size and score of the report at 5k, 54k, 100k and 1M generated rows, and under the former defaults (LABEL=cut: classes)
	@$(BIN)/python benchmarks/rows.py $(if $(ROWS),--rows $(ROWS),) $(if $(LABEL),--label $(LABEL),)

bench-split: $(STAMP) ## Time and peak memory of the train/test split at 10M rows against the former hash split
	@$(BIN)/python benchmarks/split.py $(if $(ROWS),--rows $(ROWS),)

bench-wide: $(STAMP) ## Time, memory and report size of the report on 30- and 300-feature tables against penguins
	@$(BIN)/python benchmarks/wide.py

bench-container: $(STAMP) ## Twin image: build and rebuild time, size, each docker-* target against make report (podman, root)
	@$(BIN)/python benchmarks/container.py $(if $(WARM),--warm,)

bench-sweep: $(STAMP) ## A 6-point sweep against 6 separate make report calls and a plain papermill loop (a few minutes)
	@$(BIN)/python benchmarks/sweep.py

bench-noop: $(STAMP) ## Time and memory of a no-op make report with a 1 GiB local table, against a small one
	@$(BIN)/python benchmarks/noop.py

bench-clone: ## A fresh clone's make report, set-up included: package caches warm, empty, and a new machine (AGAINST=<commit>)
	@$(PYTHON) benchmarks/clone.py $(if $(AGAINST),--against $(AGAINST),) $(if $(REPEAT),--repeat $(REPEAT),)

lab: $(STAMP) ## JupyterLab on 127.0.0.1, opened on notebooks/ with the project kernel (PROFILE=ci: by-hand runs use it)
	@$(if $(STAMP),mkdir -p $(VENV)/share/jupyter/lab/settings && cp docker/lab-overrides.json $(VENV)/share/jupyter/lab/settings/overrides.json,true)
	@BQLAB_PROFILE=$(PROFILE) $(BIN)/jupyter lab --ip=127.0.0.1 --port=$(LAB_PORT) --ServerApp.root_dir=$(LAB_ROOT) \
		--LabApp.default_url=/lab/tree/notebooks --ServerApp.open_browser=False \
		--ContentsManager.pre_save_hook=bqlab.lab_save.keep_source_clean \
		--MultiKernelManager.default_kernel_name=$(KERNEL) \
		$(if $(filter 0,$(shell id -u)),--allow-root,)

clean: ## Remove generated reports and caches (keeps the environment)
	@rm -rf $(REPORTS) .pytest_cache .ruff_cache
	@find . -name __pycache__ -type d -not -path './$(VENV)/*' -prune -exec rm -rf {} +
	@echo "removed $(REPORTS)/ and caches"

clean-venv: ## Remove the virtual environments too
	@rm -rf $(VENV) $(EMULATOR_VENV)
	@echo "removed $(VENV)/ and $(EMULATOR_VENV)/"

# uv resolves for every platform (markers for macOS- or Windows-only packages) from Python 3.11
# on, and keeps the versions already locked unless UPGRADE=1.
UV_COMPILE = $(ANY_UV) pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes \
	--custom-compile-command "make lock" --quiet $(if $(UPGRADE),--upgrade)

lock: $(STAMP) ## Resolve requirements*.txt from pyproject.toml with uv, with hashes (UPGRADE=1: newer versions)
	@# Each lock is resolved in a copy (uv keeps the versions it holds) and replaces the file only
	@# when it changed: an unchanged lock keeps its time, so the venv is not reinstalled.
	@cp requirements.txt .lock.tmp && $(UV_COMPILE) --extra test -o .lock.tmp
	@cmp -s .lock.tmp requirements.txt && rm .lock.tmp || mv .lock.tmp requirements.txt
	@cp requirements-dev.txt .lock.tmp && $(UV_COMPILE) --extra dev -c requirements.txt -o .lock.tmp
	@cmp -s .lock.tmp requirements-dev.txt && rm .lock.tmp || mv .lock.tmp requirements-dev.txt
	@echo "requirements.txt (the image) and requirements-dev.txt (your venv) resolved; review the diff"

docker-build: ## Build the image (Docker or podman, a registry and conda-forge; IMAGE=bqlab:latest)
	@docker/run.sh build

docker-build-twin: ## Build the twin bqlab:twin: same Dockerfile on a Debian base made here, PyPI only
	@BASE=twin IMAGE=$(if $(filter file,$(origin IMAGE)),bqlab:twin,$(IMAGE)) docker/run.sh build

docker-report: ## make report inside the image (BASE=twin: the twin): your reports/, params/, notebooks/, user; ADC read-only
	@docker/run.sh report

docker-lab: ## JupyterLab from the image on 127.0.0.1:LAB_PORT with a token; notebooks/ and params/ mounted
	@docker/run.sh lab

docker-test: ## The fast test suite inside the image
	@docker/run.sh test
