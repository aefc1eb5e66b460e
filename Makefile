# The two commands of the README: `make demo` and `make test`.
# Both create .venv when missing and install what they need (idempotent, stamp files).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# llama-cpp-python compiles from source (6-10 min on 2 cores, once; pip caches the wheel).
# The native build dies with "Illegal instruction" on these VMs: build for AVX2 instead.
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: demo test test-fast install dev browser sandbox lint typecheck bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/python -m pip install --quiet -e '.[local]'
	touch $@

$(VENV)/.dev-installed: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[local,dev]'
	touch $@

install: $(VENV)/.installed $(VENV)/.bwrap

dev: $(VENV)/.dev-installed

# The viewer's end-to-end test drives Debian's chromium through Playwright (never
# `playwright install`). Installed once when missing; sudo only when not root. Without
# apt-get the test skips (and fails in CI, where it must run).
$(VENV)/.browser: | $(BIN)/python
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; \
	else echo "warning: no chromium and no apt-get: the browser test will skip"; fi
	touch $@

browser: $(VENV)/.browser

# Agent-written code runs under bubblewrap (palaestra.sandbox, docs/sandbox.md); util-linux
# (unshare, nsenter, mount) is in every Debian base system. Installed once when missing;
# sudo only when not root. Without it, running agent code is refused with an error that
# says how to enable it (never a silent downgrade).
$(VENV)/.bwrap: | $(BIN)/python
	@if command -v bwrap >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y bubblewrap; \
	else echo "warning: no bwrap and no apt-get: agent code cannot run (install bubblewrap)"; fi
	touch $@

sandbox: $(VENV)/.bwrap

demo: install
	$(BIN)/palaestra run examples/demo.yaml

test: dev $(VENV)/.browser $(VENV)/.bwrap
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -p no:cacheprovider

# The edit loop: the suite without the slow, embedded-model and browser tests (make test,
# and CI, run everything).
test-fast: dev $(VENV)/.bwrap
	$(BIN)/python -m pytest -q -p no:cacheprovider -m "not slow and not llm and not browser"

lint: dev
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples

typecheck: dev
	$(BIN)/mypy

bench: dev
	$(BIN)/python benchmarks/overhead.py
	$(BIN)/python benchmarks/store.py
	$(BIN)/python benchmarks/concurrency.py
	$(BIN)/python benchmarks/sandbox.py
	$(BIN)/python benchmarks/topologies.py
	$(BIN)/python benchmarks/viewer.py
	$(BIN)/python benchmarks/assurance.py
	$(BIN)/python benchmarks/trajectories.py

clean:
	rm -rf $(VENV) runs .pytest_cache
