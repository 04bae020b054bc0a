# terraform-aws-ec2-isolation — developer entry points. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# Side virtualenvs: terraform-compliance and checkov pin libraries that clash with the dev dependencies.
COMPLIANCE_VENV ?= .venv-compliance
CHECKOV_VENV ?= .venv-checkov
# The botocore floor: boto3/botocore as old as the Lambda runtime's (pyproject's botocore-floor group).
FLOOR_VENV ?= .venv-botocore-floor
# `make bench BENCH_ARGS="--burst 1000"`: options of tools/bench.py (`python -m tools.bench --help`).
# The default burst is 200 instances: 1000 need at least 560 s of EC2 throttling alone (and moto on two
# cores cannot keep up with 50 workers). With the reconciler's scenarios (--no-reconcile leaves them out,
# --reconcile-only keeps them alone), `make bench` takes about a quarter of an hour.
BENCH_ARGS ?= --burst 200
# `make compliance PLAN=plan.json`: a `terraform show -json` plan to check (default: every example).
PLAN ?=
# `make compliance KEEP_PLANS=dir`: keep the examples' JSON plans in dir (the tests check them further).
KEEP_PLANS ?=
# Test processes of `make test` (pytest-xdist): one more than the 2 cores of the machines here, since the
# end-to-end modules mostly wait on the provider's waiters (each SQS queue takes 25 s) while the plans and
# the unit tests use the cores. `make check` and the botocore-floor run (unit tests only, CPU-bound): one
# per core.
PYTEST_WORKERS ?= 3
UNIT_WORKERS ?= 2
# `make test` records the handler's AWS calls here, in parts (one per test process), for the policy
# coverage test of its second run.
RECORDED_CALLS := build/recorded-calls
# `make test` keeps the offline plans it makes here, by their content, so that every process of the run
# (workers, the second run, `make compliance`) plans each configuration once (tools/tfcli.py plan_key).
PLAN_CACHE := build/plan-cache
export CHECKPOINT_DISABLE := 1
export PYTHONDONTWRITEBYTECODE := 1

.DEFAULT_GOAL := help
.PHONY: help venv test check unit terraform-test lint typecheck fmt package package-check docs clean compliance checkov demo bench

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-16s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml tools/deps.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check $$($(PYTHON) tools/deps.py dev)
	touch $@

venv: $(VENV)/.installed ## Create .venv with the pinned development dependencies

# Two runs: every test but the policy coverage one, in parallel (a group of tests that share fixtures
# stays in one process: see tests/conftest.py), recording the handler's calls; then the coverage test,
# which reads that record. Then the unit tests again on the oldest botocore supported.
test: lint typecheck ## Everything CI checks, offline: lint, types, unit (twice: also on the botocore floor), Terraform plan/test, compliance, checkov, e2e
	rm -rf $(RECORDED_CALLS) $(PLAN_CACHE) && mkdir -p $(RECORDED_CALLS) $(PLAN_CACHE)
	EC2_ISOLATION_RECORD_CALLS_DIR=$(RECORDED_CALLS) EC2_ISOLATION_PLAN_CACHE=$(abspath $(PLAN_CACHE)) \
	  $(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadgroup -m "not after_unit_tests" --durations=25
	EC2_ISOLATION_RECORD_CALLS_DIR=$(RECORDED_CALLS) EC2_ISOLATION_PLAN_CACHE=$(abspath $(PLAN_CACHE)) \
	  $(PY) -m pytest -m after_unit_tests
	$(MAKE) --no-print-directory unit-botocore-floor

check: lint typecheck ## The inner loop, under two minutes: lint, types, unit tests (a tenth of the property-based examples)
	EC2_ISOLATION_HYPOTHESIS_SCALE=0.1 $(PY) -m pytest tests/unit -n $(UNIT_WORKERS) -q -p no:cacheprovider

unit: $(VENV)/.installed ## Handler unit tests only (moto)
	$(PY) -m pytest tests/unit

terraform-test: $(VENV)/.installed ## Terraform tests only: fmt/validate/plan, terraform test, compliance, checkov (offline)
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

$(COMPLIANCE_VENV)/.installed: pyproject.toml tools/deps.py
	$(PYTHON) -m venv $(COMPLIANCE_VENV)
	$(COMPLIANCE_VENV)/bin/python -m pip install --quiet --disable-pip-version-check $$($(PYTHON) tools/deps.py compliance)
	touch $@

$(CHECKOV_VENV)/.installed: pyproject.toml tools/deps.py
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check $$($(PYTHON) tools/deps.py checkov)
	touch $@

compliance: $(VENV)/.installed $(COMPLIANCE_VENV)/.installed ## terraform-compliance features on PLAN=plan.json, or on every example planned offline
	$(PY) -m tools.compliance --terraform-compliance $(COMPLIANCE_VENV)/bin/terraform-compliance $(if $(PLAN),--plan $(PLAN)) $(if $(KEEP_PLANS),--keep-plans $(KEEP_PLANS))

checkov: $(CHECKOV_VENV)/.installed ## Static security scan (checkov, offline) of the module and examples
	$(PYTHON) -m tools.security_scan --checkov $(CHECKOV_VENV)/bin/checkov

$(FLOOR_VENV)/.installed: pyproject.toml tools/deps.py
	$(PYTHON) -m venv $(FLOOR_VENV)
	$(FLOOR_VENV)/bin/python -m pip install --quiet --disable-pip-version-check $$($(PYTHON) tools/deps.py botocore-floor)
	touch $@

# The expected botocore comes from the group's own pin (one place); tests/unit/test_botocore_floor.py
# fails when the virtualenv's botocore is not it. Fails on any failing test, and on none collected (exit 5).
.PHONY: unit-botocore-floor
unit-botocore-floor: $(FLOOR_VENV)/.installed ## Handler unit tests on the oldest botocore supported (the Lambda runtime's)
	expected=$$($(PYTHON) tools/deps.py botocore-floor | sed -n 's/^botocore==//p'); \
	if [ -z "$$expected" ]; then echo "unit-botocore-floor: the botocore-floor group pins no botocore==" >&2; exit 2; fi; \
	EC2_ISOLATION_HYPOTHESIS_SCALE=0.1 EC2_ISOLATION_EXPECT_BOTOCORE=$$expected \
	$(FLOOR_VENV)/bin/python -m pytest tests/unit -p no:cacheprovider -n $(UNIT_WORKERS)

docs: $(VENV)/.installed ## Regenerate the README's inputs/outputs tables from variables.tf and outputs.tf
	$(PY) tools/docs.py

demo: $(VENV)/.installed ## Tag an instance and watch it get isolated, on a local AWS emulator (no AWS account)
	$(PY) tools/demo.py

bench: $(VENV)/.installed ## Benchmark the handler on moto: latency, EC2 throttling, a burst (table + build/bench.json)
	PYTHONPATH=lambda:. $(PY) -m tools.bench $(BENCH_ARGS)

clean: ## Remove the virtualenvs, caches and Terraform working directories
	rm -rf $(VENV) $(COMPLIANCE_VENV) $(CHECKOV_VENV) $(FLOOR_VENV) .pytest_cache .mypy_cache .ruff_cache
	find . -name .terraform -type d -prune -exec rm -rf {} +
	find . -name .terraform.lock.hcl -delete
