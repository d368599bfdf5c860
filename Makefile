# Two commands on a fresh machine with only python3 and make: `make demo`, `make test`.
# Installs are reproducible: the venv gets exactly the pinned, hash-checked versions of
# requirements.lock.txt, then journeyctl itself (editable, no dependencies of its own choosing).
# `make lock` writes that file again from pyproject.toml and requirements.in (README: "Reproducible installs").
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements.lock.txt
# the lock's tool, in a venv of its own: only `make lock` needs it
UV_VERSION := 0.13.8
LOCK_VENV := .venv-lock
UV := $(LOCK_VENV)/bin/uv
UV_STAMP := $(LOCK_VENV)/.uv-$(UV_VERSION)

.PHONY: demo test install validate cases typecheck architecture lock clean screenshots fast pure test-compiled

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(STAMP): $(BIN)/python $(LOCK) pyproject.toml
	$(BIN)/pip install -q --require-hashes -r $(LOCK)
	$(BIN)/pip install -q --no-deps --no-build-isolation -e .
	@$(BIN)/pip check || { echo "make: $(LOCK) does not pin every dependency in pyproject.toml: run make lock"; exit 1; }
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/journeyctl demo

validate: $(STAMP)
	$(BIN)/journeyctl validate journeys/ examples/

# the conformance cases in tests/cases/ (the language contract's own among them), through simulate
cases: $(STAMP)
	$(BIN)/python -m pytest -q tests/test_cases.py

# mypy over the packages named in pyproject.toml's [tool.mypy] (scripts/typecheck.py says how it finds them)
typecheck: $(STAMP)
	$(BIN)/python scripts/typecheck.py

# Four pytest workers on two cores: most of the suite's time is spent waiting (a group join, a broker
# restart, a kill -9 takeover), so four overlap those waits (the pytest step: 3 min 42 s on this
# 2-core machine); the slow tests are started first (tests/conftest.py) so none is left for the end.
test: $(STAMP)
	$(BIN)/journeyctl validate journeys/ examples/
	$(BIN)/python scripts/typecheck.py
	$(BIN)/journeyctl test journeys/
	-scripts/ensure-postgres
	-scripts/ensure-chromium
	$(BIN)/python -m pytest -q -n 4 -rs --hypothesis-profile=ci tests
	$(MAKE) --no-print-directory test-compiled

# The compiled build (README "A compiled build"): the engine's hot modules compiled from the same source
# with Cython. Pure Python stays the default and the reference; `make fast` compiles in place when a C
# compiler is present (and says in one line when it is not), `make pure` goes back.
fast: $(STAMP)
	$(BIN)/python scripts/build_fast.py

pure: $(STAMP)
	$(BIN)/python scripts/build_fast.py --clean

# CI's check of the compiled build: compiled into a folder of its own (the source tree stays pure), then the
# conformance cases, the engine's properties, the pure-against-compiled comparison and simulate --jobs run
# with it first on the path. Without a C compiler, build_fast.py says so in one line and nothing more runs.
COMPILED := build/compiled-test
test-compiled: $(STAMP)
	@rm -rf $(COMPILED)
	@$(BIN)/python scripts/build_fast.py --out $(COMPILED) --quick
	@if [ -d $(COMPILED)/journeyctl ]; then \
		PYTHONPATH=$(CURDIR)/$(COMPILED) JOURNEYCTL_COMPILED=$(CURDIR)/$(COMPILED) $(BIN)/python -m pytest -q -n 2 -rs -p no:cacheprovider \
			--hypothesis-profile=ci tests/test_cases.py tests/test_engine_properties.py tests/test_builds.py tests/test_glance.py \
			tests/test_events.py tests/test_hostile_events.py tests/test_stats_series.py \
			tests/test_simulate_jobs.py tests/test_merge_runs.py; \
	fi

# docs/architecture.svg (the README's picture of the rooms and their imports), drawn again from the code and
# the rules table in scripts/architecture.py; tests/test_architecture.py fails while it is out of date
architecture:
	$(PY) scripts/architecture.py draw docs/architecture.svg

# the committed pictures of the web UI's pages (docs/ui/*.png, linked from the README), made again
screenshots: $(STAMP)
	-scripts/ensure-chromium
	$(BIN)/python scripts/ui-screenshots.py docs/ui

# Pins every dependency (runtime, test extra, build backend) for every platform and Python >= 3.11,
# with the hashes of their files. Pins already in the lock are kept, so running it again changes
# nothing until pyproject.toml or requirements.in does; `make lock UPGRADE=1` moves every pin to the
# newest version allowed.
lock: $(UV_STAMP)
	$(UV) pip compile pyproject.toml requirements.in --extra test --universal --python-version 3.11 \
		--generate-hashes --custom-compile-command "make lock" --quiet $(if $(UPGRADE),--upgrade) -o $(LOCK)

$(UV_STAMP):
	rm -rf $(LOCK_VENV)
	$(PY) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install -q uv==$(UV_VERSION)
	touch $(UV_STAMP)

clean:
	$(PY) scripts/build_fast.py --clean
	rm -rf $(VENV) $(LOCK_VENV) build *.egg-info
