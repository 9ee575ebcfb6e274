# The same words every day: make run, make test, make bench, make lint, make proto.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench lint proto clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## run: start the service on the embedded default (./.tactful, example contract, dev keys)
run: $(STAMP)
	$(BIN)/tactful serve

## test: the whole suite
test: $(STAMP)
	$(BIN)/python -m pytest

## bench: benchmarks (print figures and ratios; never fail on a slow machine)
bench: $(STAMP)
	$(BIN)/python bench/segments.py
	$(BIN)/python bench/ingest.py --readers 8
	$(BIN)/python bench/audit_verify.py
	$(BIN)/python bench/purge.py

## lint: ruff and mypy --strict on the domain packages
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## proto: regenerate the committed Python code from proto/tactful/v1/*.proto
proto: $(STAMP)
	$(BIN)/python proto/generate.py

clean:
	rm -rf $(VENV) build *.egg-info
