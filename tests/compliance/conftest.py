"""Fixtures of the compliance tests: the side virtualenvs of terraform-compliance and checkov (created with
their Makefile rules when missing), and offline plans of the examples and of a configuration with a KMS key.

Every plan is made in a temporary copy of the module (`tools.compliance.Workspace`): nothing is written
into the repository.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tools import compliance, tfcli

REPO_ROOT = tfcli.REPO_ROOT

# A configuration that gives the module a KMS key for its log group, and has it create its SNS topic
# (written into the copy, next to the examples, so that the module is at ../../).
KMS_CONFIG_DIR = Path("examples") / "compliance-kms-test"
KMS_KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
KMS_CONFIG_TF = f"""
provider "aws" {{
  region = "us-east-1"
}}

module "ec2_isolation" {{
  source = "../../"

  log_kms_key_arn  = "{KMS_KEY_ARN}"
  create_sns_topic = true
  tags             = {{ Team = "incident-response" }}
}}
"""


def make_side_venv(venv: str, executable: str) -> Path:
    """Run ``make <venv>/.installed`` (a no-op when up to date) and return ``<venv>/bin/<executable>``."""
    result = subprocess.run(
        ["make", "--no-print-directory", f"{venv}/.installed"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(
            f"`make {venv}/.installed` exited {result.returncode}\n{result.stdout}\n{result.stderr}",
            pytrace=False,
        )
    path = REPO_ROOT / venv / "bin" / executable
    assert path.is_file(), f"{path} is missing after `make {venv}/.installed`"
    return path


@pytest.fixture(scope="session")
def terraform_compliance_bin() -> Path:
    """terraform-compliance of .venv-compliance (created when missing)."""
    return make_side_venv(".venv-compliance", "terraform-compliance")


@pytest.fixture(scope="session")
def checkov_bin() -> Path:
    """checkov of .venv-checkov (created when missing)."""
    return make_side_venv(".venv-checkov", "checkov")


@pytest.fixture(scope="session")
def compliance_workspace(tmp_path_factory: pytest.TempPathFactory) -> compliance.Workspace:
    """A temporary copy of the module and a hermetic terraform environment (fails without terraform)."""
    try:
        tfcli.terraform_binary()
    except tfcli.TerraformNotFoundError as error:
        pytest.fail(f"{error}. The compliance tests plan the examples with it.", pytrace=False)
    return compliance.Workspace.create(tmp_path_factory.mktemp("compliance"))


def make_compliance(*args: str) -> subprocess.CompletedProcess[str]:
    """``make compliance`` with ``args`` (variables such as ``PLAN=...``), from this repository."""
    # `-o .venv/.installed`: this test runs from .venv; never reinstall it under the running session.
    return subprocess.run(
        ["make", "--no-print-directory", "-o", ".venv/.installed", "compliance", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


@dataclass(frozen=True)
class MakeComplianceRun:
    """One ``make compliance`` of every example, and the JSON plans it kept."""

    result: subprocess.CompletedProcess[str]
    plans_dir: Path


@pytest.fixture(scope="session")
def make_compliance_run(
    terraform_compliance_bin: Path, tmp_path_factory: pytest.TempPathFactory
) -> MakeComplianceRun:
    """``make compliance`` as a user runs it (every example planned offline, every feature), once per
    session; it keeps its plans (``KEEP_PLANS``), which the other compliance tests check further."""
    plans_dir = tmp_path_factory.mktemp("example-plans")
    return MakeComplianceRun(make_compliance(f"KEEP_PLANS={plans_dir}"), plans_dir)


@pytest.fixture(scope="session")
def example_plans(make_compliance_run: MakeComplianceRun) -> dict[str, Path]:
    """The JSON plan of every example (offline), by example name: the plans `make compliance` made."""
    plans = {
        example.name: make_compliance_run.plans_dir / f"{example.name}.json"
        for example in compliance.example_dirs()
    }
    missing = sorted(name for name, path in plans.items() if not path.is_file())
    run = make_compliance_run.result
    assert not missing, f"make compliance planned no {missing}:\n{run.stdout}\n{run.stderr}"
    assert "basic" in plans
    return plans


@pytest.fixture(scope="session")
def kms_plan(compliance_workspace: compliance.Workspace, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The JSON plan of a configuration that gives the module a KMS key (a literal ARN) and creates the
    SNS topic."""
    directory = compliance_workspace.root / KMS_CONFIG_DIR
    directory.mkdir()
    (directory / "main.tf").write_text(KMS_CONFIG_TF, encoding="utf-8")
    return compliance_workspace.plan(KMS_CONFIG_DIR, tmp_path_factory.mktemp("kms-plan") / "kms.json")
