# `make test` and `make demo` set up everything they need on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
INSTALLED := $(VENV)/.installed
# A second venv with every runtime dependency at the floor pyproject.toml allows.
LOWEST_VENV ?= .venv-lowest
LOWEST := $(LOWEST_VENV)/.installed
LINTED := operator tests benchmarks scripts/lowest-constraints scripts/stamp-crd scripts/reference
# The unit tier: every folder of tests/ but the end-to-end tier and the test data, and the top-level tests.
UNIT_TESTS := $(filter-out tests/e2e/ tests/data/,$(wildcard tests/*/)) $(wildcard tests/test_*.py)

.PHONY: test lint demo image docs clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[test]'
	touch $@

$(LOWEST): pyproject.toml scripts/lowest-constraints
	rm -rf $(LOWEST_VENV)
	$(PYTHON) -m venv $(LOWEST_VENV)
	scripts/lowest-constraints > $(LOWEST_VENV)/constraints.txt
	$(LOWEST_VENV)/bin/python -m pip install --quiet -c $(LOWEST_VENV)/constraints.txt -e '.[test]'
	touch $@

lint: $(INSTALLED)
	$(VENV)/bin/ruff check $(LINTED)
	$(VENV)/bin/mypy

# Builds kube-apiserver, etcd, kubectl, helm, a node, Flux's controllers and Argo CD's health code
# from Go modules the first time
# (minutes, cached outside the repository), then lints and runs every tier, and
# the unit tier once more with the lowest dependency versions allowed (plus one end-to-end
# test: the operator at its floors logs in to the apiserver and deploys a metric).
test: lint $(LOWEST)
	scripts/control-plane-binaries --if-go >/dev/null
	scripts/node-binaries --if-go >/dev/null
	scripts/flux-binaries --if-go >/dev/null
	scripts/argocd-health --if-go >/dev/null
	scripts/label-studio >/dev/null
	$(VENV)/bin/python -m pytest
	@echo "unit tier (and one e2e test) with the lowest allowed dependencies: $$(tr '\n' ' ' < $(LOWEST_VENV)/constraints.txt)"
	$(LOWEST_VENV)/bin/python -m pytest -q -p no:cacheprovider $(UNIT_TESTS) \
		tests/e2e/test_lifecycle.py::test_apply_until_ready_creates_the_function

# The operator image from the Dockerfile, built with podman (a local Debian base stands in for
# python:3.12-slim when no registry answers; cached outside the repository).
image:
	scripts/build-image

demo: $(INSTALLED)
	scripts/control-plane-binaries >/dev/null
	$(VENV)/bin/agreement-operator demo

# The documentation site, into build/site: MkDocs with the Material theme, in a venv of its own
# (scripts/docs-venv, cached outside the repository), strict (tests/docs/test_site.py builds it too).
docs:
	NO_MKDOCS_2_WARNING=1 $$(scripts/docs-venv) build --strict

clean:
	rm -rf $(VENV) $(LOWEST_VENV) build *.egg-info operator/*.egg-info .pytest_cache .mypy_cache .ruff_cache
