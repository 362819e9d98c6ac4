# nnjobs: `make test` and `make run` work on a fresh clone with Python 3.11+ and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
BENCH_STAMP := $(VENV)/.bench-stamp

.PHONY: install test lint format run bench screenshot docs clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "nnjobs needs Python 3.11 or newer (try: make PYTHON=python3.12 ...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[local,test]'
	@touch $(STAMP)

install: $(STAMP)

# the import contracts (layers) are in pyproject.toml's [tool.importlinter]
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Two test processes (pytest-xdist): most tests wait on the servers, workers and commands
# they start, so two keep two cores busy. A file's tests run in one process, in order, and
# share its module fixtures; `make test TEST_WORKERS=0` runs the suite in one process.
TEST_WORKERS ?= 2
test: lint
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

# PyTorch is a benchmark-only extra, installed on the first `make bench`
$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	@touch $(BENCH_STAMP)

# `make bench BENCH_ARGS=--quick` for a run of a few minutes in all, `--json` for records
BENCH_ARGS ?=
bench: $(BENCH_STAMP)
	$(BIN)/python bench/train_speed.py $(BENCH_ARGS)
	$(BIN)/python bench/train_torch.py $(if $(findstring --quick,$(BENCH_ARGS)),,--repeat 5) $(BENCH_ARGS)
	$(BIN)/python bench/serve.py $(BENCH_ARGS)
	$(BIN)/python bench/jobs.py $(BENCH_ARGS)
	$(BIN)/python bench/diagnostics.py $(BENCH_ARGS)
	$(BIN)/python bench/long_polls.py $(BENCH_ARGS)
	$(BIN)/python bench/peers.py $(BENCH_ARGS)
	$(BIN)/python bench/uploads.py $(BENCH_ARGS)

# Redis (started here when none answers at REDIS_URL), a worker and the API on PORT;
# Ctrl-C stops them all. See scripts/run.py.
run: install
	$(BIN)/python scripts/run.py

# docs/playground.png: the playground after a training job and a sweep, taken by its
# browser test (needs /usr/bin/chromium)
screenshot: install
	NNJOBS_PLAYGROUND_SCREENSHOT=docs/playground.png $(BIN)/python -m pytest -q \
		tests/test_playground.py -k sweep

# docs/configuration.md, written from the settings table (a test checks it is current)
docs: install
	$(BIN)/python -m registry.settings --markdown > docs/configuration.md

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info

# the example dataset of the README and the tests (kept in the repository)
examples/iris.csv: scripts/iris_csv.py
	$(BIN)/python scripts/iris_csv.py $@
