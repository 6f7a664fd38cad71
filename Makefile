# The two commands a new user runs: `make demo` and `make test`. Both set everything up.
# GPU users: make TORCH_SPEC="torch" (or any pip requirement/index you need) before the first run.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
EXTRAS ?= train,eval,dev
PY := $(VENV)/bin/python
OUT ?= runs/quickstart

.PHONY: demo test install lint clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q $(TORCH_SPEC)
	$(PY) -m pip install -q -e ".[$(EXTRAS)]"
	touch $@

install: $(VENV)/.installed

# Until `seqit quickstart` lands this runs the most complete real pipeline that exists:
# validate and convert the bundled sample dataset.
demo: install
	$(VENV)/bin/seqit validate src/seqit/data/sample_alpaca.jsonl
	$(VENV)/bin/seqit convert src/seqit/data/sample_alpaca.jsonl runs/demo/records.jsonl
	@echo "demo output: runs/demo/records.jsonl (manifest: runs/demo/manifest.json)"

test: install
	$(PY) -m pytest -q -p no:cacheprovider

lint: install
	$(VENV)/bin/ruff check src tests

clean:
	rm -rf $(VENV) runs
