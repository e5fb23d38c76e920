# The project's verbs. Every target installs what it needs into .venv first (Python 3.13).
PYTHON ?= $(shell command -v python3.13 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
# checkov lives in a virtualenv of its own: its pinned dependencies clash with requirements-dev.txt.
CHECKOV_VERSION := 3.3.30
CHECKOV_VENV    := .venv-checkov
CHECKOV_STAMP   := $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION)
export PYTHONPATH := $(CURDIR)/layers/handoff:$(CURDIR)/tools:$(CURDIR)/local

.PHONY: demo test lint checkov typecheck validate build local seed token bench bench-scale chaos deploy clean generate

$(STAMP): requirements-dev.txt layers/handoff/requirements.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] >= (3, 13), "Python 3.13 is needed (see .python-version)"'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

$(CHECKOV_STAMP):
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet checkov==$(CHECKOV_VERSION)
	@touch $@

demo: $(STAMP)
	$(PY) -m handoff_local.demo

test: $(STAMP)
	$(PY) -m pytest

lint: $(STAMP) checkov
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# template.yaml against checkov's CloudFormation checks (.checkov.yaml); a finding that
# .checkov.baseline does not accept, with its reason, fails
checkov: $(CHECKOV_STAMP)
	PYTHONPATH= $(CHECKOV_VENV)/bin/checkov --config-file .checkov.yaml

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
	$(PY) -m handoff_tools.tokens $(or $(TENANT),acme) $(or $(AGENT),agent-1) $(if $(SEATS),--seats $(SEATS)) $(if $(AGENT_NAME),--name "$(AGENT_NAME)")

# the committed artefacts generated from the code: OpenAPI descriptions, the config's JSON Schema and
# reference (tests fail when they are stale)
generate: $(STAMP)
	$(PY) -m handoff_tools.openapi
	$(PY) -m handoff_tools.config schema

# requests, DynamoDB capacity units and the cost per 1,000 messages; the console (its figures also
# in test-artifacts/, for the next step); the wake pass and Live's list at 10,000 waiting, and the
# console's cost per agent-hour; last, the handlers' import times in .venv-layer, a venv of the
# layer's requirements alone (built, and rebuilt when layers/handoff/requirements.txt changes)
bench: $(STAMP)
	$(PY) -m bench.throughput
	@mkdir -p test-artifacts
	$(PY) -m bench.console_push --json test-artifacts/console_push.json
	$(PY) -m bench.wake_pass --console-json test-artifacts/console_push.json
	$(PY) -m bench.imports

# waiting users told at scale against Meta's rate: a simulation of 10,000 and 100,000 driving the
# pacing and backoff code, before and after, then a real run of 1,000 on the embedded stack
bench-scale: $(STAMP)
	$(PY) -m bench.scale

chaos: $(STAMP)
	$(PY) -m bench.chaos

deploy: build
	$(VENV)/bin/sam deploy --guided

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .venv-layer .aws-sam .pytest_cache .mypy_cache .ruff_cache .hypothesis test-artifacts
