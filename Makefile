# The two commands of the README: `make run` (set up, then run the pipeline on the bundled
# sample) and `make test`. Everything installs into .venv from the pinned lock.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip -q --disable-pip-version-check

.PHONY: setup run test servers clean lock
setup: $(VENV)/.installed

# _blockscan.c: the optional C extension, compiled by the editable install below.
$(VENV)/.installed: requirements.lock pyproject.toml src/danlu/curate/_blockscan.c
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip==26.3
	# torch first, pinned, with pip (the CPU build; GPU users: see README, "GPU"); then the
	# locked tree with uv, which installs it in under a minute where pip takes three.
	# --compile-bytecode: uv leaves no .pyc, and without them every `danlu` start re-parses
	# thousands of modules (a no-change `danlu run` took 39 s instead of 26 s).
	$(PIP) install torch==2.13.0 uv==0.13.9
	$(BIN)/uv pip install -q --compile-bytecode --python $(BIN)/python -r requirements.lock
	$(BIN)/uv pip install -q --python $(BIN)/python --no-deps -e .
	@touch $@

run: setup
	$(BIN)/danlu sample
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/danlu run

test: setup
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest -q

servers: setup
	PATH="$(abspath $(BIN)):$$PATH" bash infra/servers.sh

clean:
	rm -rf outputs mlflow.db mlartifacts

# Re-resolve requirements.lock from pyproject.toml (keeps existing pins unless they must move).
lock: setup
	$(PIP) install pip-tools==7.6.2
	$(BIN)/pip-compile -q --strip-extras --extra test --extra bench --extra dask --extra team --no-emit-index-url --no-emit-find-links \
	  --unsafe-package torch --annotation-style=line --no-header -o requirements.lock pyproject.toml
