# make demo  — run the stand-in, the app and the Procore-like host page; prints the URL to open.
# make test  — lint and run every test (unit, integration over HTTP, headless-browser).
# Both set themselves up: a .venv with the package and its test extras, and Debian chromium for browser tests.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test lint chromium bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $@

chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian chromium for the browser tests…"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; }

demo: $(BIN)/.installed
	$(BIN)/python -m embedded_app.demo

lint: $(BIN)/.installed
	$(BIN)/ruff check .

test: $(BIN)/.installed chromium lint
	$(BIN)/python -m pytest

bench: $(BIN)/.installed
	$(BIN)/python benchmarks/sync.py
	$(BIN)/python benchmarks/engine.py

clean:
	rm -rf $(VENV) instance test-artifacts .pytest_cache .ruff_cache
