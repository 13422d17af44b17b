# The two commands a newcomer needs; each creates the virtual environment when missing.
#   make demo   - the closed loop on the embedded lab, with the operator console (TUI)
#   make test   - lint, types, layer contracts and the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ARGS ?=

.PHONY: demo test lint venv clean

$(BIN)/netpilot: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

venv: $(BIN)/netpilot

demo: $(BIN)/netpilot
	$(BIN)/netpilot demo $(ARGS)

lint: $(BIN)/netpilot
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint
	$(BIN)/pytest $(ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache
