# scalable_agent_tf2 — every target that runs Python depends on the virtualenv,
# so on a fresh machine `make test` alone installs everything and runs the tests.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv test test-fast bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# The README's test command: unit tests plus the end-to-end tests (real
# processes, real ALE, a real TF cluster on localhost).
test: $(STAMP)
	$(PY) -m pytest -q -rs tests

# Unit tests only (no end-to-end runs).
test-fast: $(STAMP)
	$(PY) -m pytest -q -m 'not e2e' tests

# Benchmarks write numbers to bench/results/*.json; never run in CI.
bench: $(STAMP)
	$(PY) -m bench.run --out bench/results/bench.json

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
