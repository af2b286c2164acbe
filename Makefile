# The bundle's commands. Each creates and fills .venv on first use; nothing else needs installing.
#   make smoke   run the smoke profile on the embedded stack and gate it (exit code = verdict)
#   make test    run the test suite
#   make run PROFILE=load ARGS="--scale 0.1"    any profile, with runner options
#   make baseline PROFILE=smoke RUNS=3          record baselines/<profile>.json from fresh runs
#   make ab BASE=origin/main     paired A/B: the commit BASE and this checkout measured in turn here
#   make lock    re-resolve the locks from pyproject.toml (a reviewed PR that re-records the baselines)

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
PROFILE ?= smoke
RUNS ?= 3
ARGS ?=
BASE ?= origin/main
# What a job installs, with hashes: requirements.lock (the bundle's dependencies: the action installs
# these), requirements-test.lock (the same versions plus the test tools: .venv), requirements-nodeps.lock
# (Apache Otava, whose metadata must not be resolved: see requirements-nodeps.txt). Universal locks
# (any OS, Python 3.11+), resolved from pyproject.toml's ranges by `make lock`.
LOCKS := requirements.lock requirements-test.lock requirements-nodeps.lock
PIP_INSTALL := $(PY) -m pip install --quiet --disable-pip-version-check
UV_COMPILE = $(VENV)/bin/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes \
	--custom-compile-command 'make lock' $(ARGS)
BUILD_REQUIRES = $(PY) -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"], sep="\n")'

.PHONY: venv smoke run ab test baseline lint lock clean

$(INSTALLED): pyproject.toml $(LOCKS)
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "make: Python 3.11 or newer is needed (found $$($(PYTHON) --version 2>&1)); set PYTHON=python3.11"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) --require-hashes --no-deps -r requirements-test.lock -r requirements-nodeps.lock
	$(PIP_INSTALL) --no-deps --no-build-isolation -e .
	@touch $@

venv: $(INSTALLED)

smoke: $(INSTALLED)
	$(PY) -m scripts.run smoke $(ARGS)

run: $(INSTALLED)
	$(PY) -m scripts.run $(PROFILE) $(ARGS)

ab: $(INSTALLED)
	$(PY) -m scripts.run $(PROFILE) --compare-base $(BASE) $(ARGS)

test: $(INSTALLED)
	$(PY) -m pytest

baseline: $(INSTALLED)
	$(PY) -m scripts.baseline $(PROFILE) --runs $(RUNS) $(ARGS)

# Keeps the locked versions that still fit pyproject.toml; a bump names what to move:
# make lock ARGS="--upgrade-package locust". The build backend (pyproject's build-system) is locked
# too: the bundle itself installs without build isolation.
lock: $(INSTALLED)
	$(BUILD_REQUIRES) | $(UV_COMPILE) pyproject.toml - -o requirements.lock
	$(BUILD_REQUIRES) | $(UV_COMPILE) pyproject.toml - --extra test --constraint requirements.lock \
		-o requirements-test.lock
	$(UV_COMPILE) requirements-nodeps.txt --no-deps -o requirements-nodeps.lock

lint: $(INSTALLED)
	$(PY) -m ruff check gate stack scripts benchmarks locust tests

clean:
	rm -rf results .pytest_cache .hypothesis
