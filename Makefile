# The same words every day: make run, make test, make bench, make lint, make proto.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The exact versions (with their hashes) that make installs; pyproject.toml keeps the
# open ranges for library users. Regenerate with `make lock`.
LOCK := requirements.lock

.PHONY: run test bench lint proto lock model text-data clean

# The locked set first (pip, setuptools and the dev tools included), then tactful
# itself without resolving anything again; pip check fails if pyproject.toml asks for
# something the lock lacks (then run `make lock`).
$(STAMP): pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip check
	touch $(STAMP)

## run: start the service on the embedded default (./.tactful, example contract, dev keys)
run: $(STAMP)
	$(BIN)/tactful serve

## test: the whole suite (and its 25 slowest tests, to keep it well under 15 minutes)
test: $(STAMP)
	$(BIN)/python -m pytest --durations=25

## bench: benchmarks (print figures and ratios; never fail on a slow machine)
bench: $(STAMP)
	$(BIN)/python bench/segments.py
	$(BIN)/python bench/cpu_budget.py --engine both
	$(BIN)/python bench/journeys.py --engine both
	$(BIN)/python bench/scorecard.py
	$(BIN)/python bench/ingest.py --readers 8
	$(BIN)/python bench/audit_verify.py
	$(BIN)/python bench/purge.py
	$(BIN)/python bench/soak.py
	$(BIN)/python bench/servers.py
	$(BIN)/python bench/pg_ingest.py
	$(BIN)/python bench/access_log_pg.py

## lint: ruff, and mypy --strict over all of src/tactful (generated code through its stubs)
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## proto: regenerate the committed Python code from src/tactful/v1/*.proto
proto: $(STAMP)
	$(BIN)/python scripts/generate_proto.py

## lock: rewrite requirements.lock from pyproject.toml, keeping the pins that still fit
## (make lock UPGRADE=1: every package at its newest allowed version)
lock: $(STAMP)
	$(BIN)/pip-compile --quiet $(if $(UPGRADE),--upgrade) --allow-unsafe \
		--extra server --extra dev --extra otel --extra postgres \
		--generate-hashes --strip-extras --no-emit-index-url --no-emit-find-links \
		--output-file $(LOCK) pyproject.toml

## model: train the text classifier on data/text/ (scikit-learn), offline; writes
## src/tactful/language/data/intent_model.json, the weights the service reads
model: $(STAMP)
	$(BIN)/python scripts/train_text_model.py

## text-data: rebuild data/text/*.jsonl from the public datasets (make text-data
## BANKING77=DIR CLINC150=DIR, checkouts or bare clones of both repositories)
text-data:
	$(PYTHON) scripts/build_text_data.py --banking77 $(BANKING77) --clinc150 $(CLINC150)

clean:
	rm -rf $(VENV) build *.egg-info
