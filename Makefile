# Two commands on a fresh machine with only python3 and make: `make demo`, `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install validate cases clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/journeyctl demo

validate: $(STAMP)
	$(BIN)/journeyctl validate journeys/ examples/

# the conformance cases in tests/cases/ (the language contract's own among them), through simulate
cases: $(STAMP)
	$(BIN)/python -m pytest -q tests/test_cases.py

test: $(STAMP)
	$(BIN)/journeyctl validate journeys/ examples/
	$(BIN)/journeyctl test journeys/
	-scripts/ensure-postgres
	$(BIN)/python -m pytest -q -n 2 tests

clean:
	rm -rf $(VENV) build *.egg-info
