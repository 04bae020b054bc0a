# terraform-aws-ec2-isolation — developer entry points. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export CHECKPOINT_DISABLE := 1
export PYTHONDONTWRITEBYTECODE := 1

.DEFAULT_GOAL := help
.PHONY: help venv test unit terraform-test lint typecheck fmt package package-check docs clean

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-16s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml tools/deps.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check $$($(PYTHON) tools/deps.py dev)
	touch $@

venv: $(VENV)/.installed ## Create .venv with the pinned development dependencies

test: lint typecheck ## Everything CI checks: lint, types, unit tests, package, Terraform (offline)
	$(PY) -m pytest

unit: $(VENV)/.installed ## Handler unit tests only (moto)
	$(PY) -m pytest tests/unit

terraform-test: $(VENV)/.installed ## Terraform fmt/validate/plan tests only (offline)
	$(PY) -m pytest -m terraform

lint: $(VENV)/.installed ## ruff check and ruff format --check
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: $(VENV)/.installed ## mypy --strict over lambda/, tools/ and tests/
	$(PY) -m mypy

fmt: $(VENV)/.installed ## Format Python (ruff) and Terraform (terraform fmt)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .
	terraform fmt -recursive

package: ## Rebuild the committed, reproducible Lambda zip
	$(PYTHON) lambda/build.py

package-check: ## Fail when the committed Lambda zip is stale
	$(PYTHON) lambda/build.py --check

docs: $(VENV)/.installed ## Regenerate the README's inputs/outputs tables from variables.tf and outputs.tf
	$(PY) tools/docs.py

clean: ## Remove the virtualenv, caches and Terraform working directories
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
	find . -name .terraform -type d -prune -exec rm -rf {} +
	find . -name .terraform.lock.hcl -delete
