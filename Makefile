# `make test` and `make demo` set up everything they need on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
INSTALLED := $(VENV)/.installed

.PHONY: test demo clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[test]'
	touch $@

# Builds kube-apiserver, etcd, kubectl and helm from Go modules the first time
# (minutes, cached outside the repository), then runs every tier.
test: $(INSTALLED)
	scripts/control-plane-binaries --if-go >/dev/null
	$(VENV)/bin/python -m pytest

demo: $(INSTALLED)
	scripts/control-plane-binaries >/dev/null
	$(VENV)/bin/agreement-operator demo

clean:
	rm -rf $(VENV) build *.egg-info operator/*.egg-info .pytest_cache
