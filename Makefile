# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test test-quick lint install clean

$(BIN)/agentdesk: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,implement]'
	@touch $@

install: $(BIN)/agentdesk

## run: start agentdesk (Slack when configured, and the local shell in a terminal)
run: install
	$(BIN)/agentdesk run

## test: the whole test suite, on every core
test: install
	$(BIN)/python -m pytest -n auto

## test-quick: the suite without the tests that start agentdesk as its own process
test-quick: install
	$(BIN)/python -m pytest -n auto -m "not slow"

## lint: what CI checks besides the tests
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict bot/

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
