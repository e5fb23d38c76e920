# The project's verbs. Every target installs what it needs into .venv first (Python 3.13).
PYTHON ?= $(shell command -v python3.13 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
export PYTHONPATH := $(CURDIR)/layers/handoff:$(CURDIR)/tools:$(CURDIR)/local

.PHONY: demo test lint typecheck validate build local seed token bench chaos deploy clean generate

$(STAMP): requirements-dev.txt layers/handoff/requirements.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] >= (3, 13), "Python 3.13 is needed (see .python-version)"'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

demo: $(STAMP)
	$(PY) -m handoff_local.demo

test: $(STAMP)
	$(PY) -m pytest

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# mypy over the layer, tools/, local/ and every functions/<name>/app.py (the files in pyproject's [tool.mypy])
typecheck: $(STAMP)
	$(PY) -m mypy

validate: $(STAMP)
	$(VENV)/bin/sam validate --lint

build: $(STAMP)
	$(VENV)/bin/sam build

local: $(STAMP)
	$(PY) -m handoff_local.server

seed: $(STAMP)
	$(PY) -m handoff_tools.seed $(or $(HANDOFF_CONFIG),examples/config.yaml) --stack $(or $(STACK),async-handoff)

token: $(STAMP)
	$(PY) -m handoff_tools.tokens $(or $(TENANT),acme) $(or $(AGENT),agent-1) $(if $(SEATS),--seats $(SEATS))

# the committed artefacts generated from the code: OpenAPI descriptions, the config's JSON Schema and
# reference (tests fail when they are stale)
generate: $(STAMP)
	$(PY) -m handoff_tools.openapi
	$(PY) -m handoff_tools.config schema

bench: $(STAMP)
	$(PY) -m bench.throughput

chaos: $(STAMP)
	$(PY) -m bench.chaos

deploy: build
	$(VENV)/bin/sam deploy --guided

clean:
	rm -rf $(VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache .hypothesis test-artifacts
