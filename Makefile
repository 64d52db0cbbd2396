# Two commands do all the set-up on a fresh machine:
#   make demo   creates .venv, installs the project, runs the greetings demo
#   make test   creates .venv, installs .[dev,docs], runs ruff, mypy --strict,
#               mkdocs build --strict, the quick benchmark, the stress slice and pytest
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test install-dev lint typecheck pytest properties thorough thorough-all stress stress-ci mutants check-prefect2 docs serve-docs bench bench-quick bench-parallel clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[progress]'
	touch $@

$(VENV)/.installed-dev: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev,docs]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/python -m trio_runners --runner sequential
	$(BIN)/python -m trio_runners --runner concurrent
	$(BIN)/python -m trio_runners --runner concurrent --progress --calls 300

install-dev: $(VENV)/.installed-dev

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install-dev
	$(BIN)/mypy --strict trio_runners
	$(BIN)/mypy --strict examples/typed_flow.py

# pytest exits 5 when it collects nothing: that is a failure here too (make stops on any non-zero).
pytest: install-dev
	$(BIN)/python -m pytest

# The property suite alone, with Hypothesis's statistics; and the 10,000-example profile.
properties: install-dev
	$(BIN)/python -m pytest property_tests --hypothesis-show-statistics

# thorough: 10,000 examples of every property for the Sequential, Concurrent (unbounded and
# max_workers=3) and ThreadPool (async calls on a MockClock, sync calls in threads) classes of
# the kit, on two pytest-xdist workers: under 30 minutes on two idle cores (docs/conformance.md).
# thorough-all: every property file at 10,000 examples (hours).
THOROUGH_CLASSES = $(addprefix property_tests/test_our_runners.py::,TestSequential \
	TestConcurrentUnbounded TestConcurrentThreeWorkers TestThreadPoolAsyncCalls TestThreadPoolSyncCalls)
thorough: install-dev
	$(BIN)/python -m pytest -n 2 $(THOROUGH_CLASSES) --hypothesis-profile thorough

thorough-all: install-dev
	$(BIN)/python -m pytest -n 2 property_tests --hypothesis-profile thorough

# The process and Dask conformance properties and the flows tests while a busy loop per CPU
# competes with them (tools/stress.py). STRESS_ARGS=--ci: the bounded slice CI runs;
# STRESS_ARGS="--repeat 3": three runs in a row.
stress: install-dev
	$(BIN)/python tools/stress.py $(STRESS_ARGS)

# The bounded slice of the stress mode that make test (so CI) runs: a few minutes.
stress-ci: install-dev
	$(BIN)/python tools/stress.py --ci

# Plants each realistic bug of tools/mutants/catalogue.py in a temporary copy of the repo, one at
# a time, and runs the property suite alone against it; prints which were caught, and fails below
# 90%. Slow (tens of minutes): not part of `make test` nor CI. Options: MUTANTS_ARGS='--help'.
mutants: install-dev
	$(BIN)/python -m tools.mutants $(MUTANTS_ARGS)

# The documentation site, built offline; --strict fails on broken links or references.
docs: install-dev
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

serve-docs: install-dev
	$(BIN)/mkdocs serve

# The benchmark suite in --quick mode keeps it working (no figure is asserted).
bench-quick: install-dev
	$(BIN)/python -m benchmarks --quick --no-plots --results $(VENV)/benchmarks-quick

# pytest last, so its summary closes the output.
test: lint typecheck docs bench-quick stress-ci pytest

bench: install-dev
	$(BIN)/python -m benchmarks

bench-parallel: install-dev
	$(BIN)/python benchmarks/parallel.py

# The conformance kit on Prefect 2.3.0's own task runners (docs/conformance.md, "Checking a
# runner you did not write"). Not part of `make test`: it needs the network and its own
# virtualenv (.venv/prefect2). The kit is expected to report violations: the target prints
# them and succeeds.
PREFECT2_VENV := $(VENV)/prefect2
check-prefect2:
	$(PYTHON) -m venv $(PREFECT2_VENV)
	$(PREFECT2_VENV)/bin/python -m pip install --quiet 'prefect==2.3.0' -c examples/prefect2-constraints.txt
	$(PREFECT2_VENV)/bin/python -m pip install --quiet -e '.[testing]' pytest-trio -c examples/prefect2-constraints.txt
	PYTHONPATH=examples $(PREFECT2_VENV)/bin/python -m pytest examples/prefect2_conformance.py \
		-p no:cacheprovider -W ignore -rfs --tb=short \
		|| echo "check-prefect2: the kit reported the violations above (expected, see docs/conformance.md)"

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis site
