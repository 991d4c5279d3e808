# `make test` and `make demo` set up everything they need on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
INSTALLED := $(VENV)/.installed

.PHONY: test unit clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[test]'
	touch $@

test: $(INSTALLED)
	$(VENV)/bin/python -m pytest

clean:
	rm -rf $(VENV) build *.egg-info operator/*.egg-info .pytest_cache
