# The bundle's commands. Each creates and fills .venv on first use; nothing else needs installing.
#   make smoke   run the smoke profile on the embedded stack and gate it (exit code = verdict)
#   make test    run the test suite
#   make run PROFILE=load ARGS="--scale 0.1"    any profile, with runner options
#   make baseline PROFILE=smoke RUNS=3          record baselines/<profile>.json from fresh runs

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
PROFILE ?= smoke
RUNS ?= 3
ARGS ?=

.PHONY: venv smoke run test baseline lint clean

$(INSTALLED): pyproject.toml requirements-nodeps.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "make: Python 3.11 or newer is needed (found $$($(PYTHON) --version 2>&1)); set PYTHON=python3.11"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -r requirements-nodeps.txt
	@touch $@

venv: $(INSTALLED)

smoke: $(INSTALLED)
	$(PY) -m scripts.run smoke $(ARGS)

run: $(INSTALLED)
	$(PY) -m scripts.run $(PROFILE) $(ARGS)

test: $(INSTALLED)
	$(PY) -m pytest

baseline: $(INSTALLED)
	$(PY) -m scripts.baseline $(PROFILE) --runs $(RUNS) $(ARGS)

lint: $(INSTALLED)
	$(PY) -m ruff check gate stack scripts benchmarks locust tests

clean:
	rm -rf results .pytest_cache .hypothesis
