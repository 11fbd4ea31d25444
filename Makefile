# The two commands a newcomer needs: `make demo` (main job on the demo marketplace) and
# `make test`. Each installs what is missing first: the virtualenv, the project with the
# right TensorFlow build (gpu when nvidia-smi works, cpu otherwise), and Debian's Chromium;
# `make test` also installs Debian's PostgreSQL (the catalog tests start a throwaway server).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
STAMP := $(VENV)/.carscout-installed

.PHONY: demo test lint setup chromium postgresql

demo: setup
	$(VENV)/bin/carscout run

test: setup postgresql
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/python -m pytest

lint: setup
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

setup: $(STAMP) chromium

$(STAMP): pyproject.toml
	[ -x $(VENV)/bin/python ] || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	if nvidia-smi >/dev/null 2>&1; then extra=gpu; else extra=cpu; fi; \
	  $(VENV)/bin/python -m pip install -q -e ".[$$extra,dev,postgres,dask]"
	touch $@

chromium:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
	  $(SUDO) apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q chromium chromium-driver; \
	fi

postgresql:
	@if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then \
	  $(SUDO) apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q postgresql; \
	fi
