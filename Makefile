# Two commands for a newcomer: `make run` and `make test`. Both create .venv and install into it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SIMULATED_MODULES ?= 5

.PHONY: install run test lint format bench bench-smoke openapi clean web web-check

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

run: install
	$(BIN)/sensorhub serve --simulate $(SIMULATED_MODULES)

test: install
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install
	$(BIN)/python -m bench all

openapi: install
	$(BIN)/sensorhub openapi -o openapi.json

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

bench-smoke: install
	$(BIN)/python -m bench smoke

# The dashboard (web/): regenerate the typed client from the schema, then build into the package.
# Needs Node 20 + npm; `make run` and `make test` use the committed build and need no Node.
web: install
	$(BIN)/sensorhub openapi -o web/openapi.json
	cd web && npm ci --no-audit --no-fund && npx openapi-ts && npm run build

# CI: the committed client and build must be what the sources produce.
web-check: web
	git diff --exit-code -- web src/sensorhub/web
	test -z "$$(git status --porcelain -- web src/sensorhub/web)"
