# Two commands on a fresh machine: `make setup` then `make demo`; `make test` runs the tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: setup demo test bench reproduce-tables clean

setup: $(BIN)/repro

$(BIN)/repro: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip setuptools wheel
	# The CPU build of torch, pinned; an unpinned torch would pull GBs of CUDA wheels.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[test]"
	touch $(BIN)/repro

demo: setup
	$(BIN)/repro model build-tiny
	$(BIN)/repro train --algo gigpo --env alfworld -c benchmarks/gigpo/cpu/alfworld_gigpo_std.yaml --fresh

test: setup
	$(BIN)/python -m pytest -q

bench: setup
	for f in bench/*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

# Regenerate results/tables/*.md and plots from our own runs (resumable: finished runs are kept).
# SCALE=paper needs a GPU machine and the real checkpoints in local directories;
# ONLY=GLOB runs only the matching row files (e.g. ONLY='learning-maze/*') and merges their rows into the
# existing tables (rows it did not run keep their cells and provenance); no target deletes a committed table.
SCALE ?= cpu
ONLY  ?=
reproduce-tables: setup
	$(BIN)/python -m repro.results.reproduce --scale $(SCALE) $(if $(ONLY),--only "$(ONLY)")

# Everything generated, except results/tables/ (the committed tables and their run records).
clean:
	rm -rf $(VENV) .pytest_cache
	[ ! -d results ] || find results -mindepth 1 -maxdepth 1 ! -name tables -exec rm -rf {} +
