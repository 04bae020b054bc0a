"""The terraform-compliance features of tests/compliance: they pass on the plan of every example, and each
one fails when its subject is broken in a copy of that plan (one mutation, or more, per feature).

terraform-compliance runs from its own virtualenv (.venv-compliance, created by its Makefile rule when
missing), through `tools.compliance.run_features`, which also reads its cucumber report: each test
asserts which features failed, not only the exit code.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.compliance.conftest import MakeComplianceRun, make_compliance
from tools import compliance

pytestmark = pytest.mark.terraform

FEATURES = {path.name for path in compliance.FEATURES_DIR.glob("*.feature")}
RETENTION = "log_retention.feature"
ENCRYPTION = "log_encryption.feature"
NOT_PUBLIC = "lambda_not_public.feature"
SOURCE_ARN = "lambda_permission_source_arn.feature"
ISOLATION = "isolation_role_denies_everything.feature"
NO_WILDCARD = "iam_no_wildcard_allow.feature"
TAGS = "tags.feature"
SNS_ENCRYPTION = "sns_encryption.feature"
SQS_ENCRYPTION = "sqs_encryption.feature"
ALARM_ACTIONS = "alarm_actions.feature"

# Scenarios that find nothing to check in the module's plans, so are skipped: the module has no function
# URL, no IAM user or group policy (rows 2 and 3 of the outlines' examples: aws_iam_user_policy,
# aws_iam_group_policy; row 0 is aws_iam_role_policy, row 1 aws_iam_policy, the evidence policy of every
# plan, which locks its evidence by default), and its dead-letter queue has SQS managed encryption on.
SKIPPED_ON_THE_MODULE = {
    (NOT_PUBLIC, "Every Lambda function URL requires IAM authentication"),
    (SQS_ENCRYPTION, "Every SQS queue without SQS managed encryption has a KMS key"),
    *(
        (NO_WILDCARD, f"No Allow statement of a <policy_type> {check} - row {row}")
        for row in (2, 3)
        for check in ("has a wildcard in its actions", "uses NotAction")
    ),
}
# examples/basic creates no SNS topic (the KMS configuration does), so its alarms need no action.
SKIPPED_ON_THE_EXAMPLES = SKIPPED_ON_THE_MODULE | {
    (SNS_ENCRYPTION, "Every SNS topic has a KMS key"),
    (ALARM_ACTIONS, "Every CloudWatch alarm has an alarm action"),
}


def test_every_property_has_a_feature() -> None:
    assert {
        RETENTION,
        ENCRYPTION,
        NOT_PUBLIC,
        SOURCE_ARN,
        ISOLATION,
        NO_WILDCARD,
        TAGS,
        SNS_ENCRYPTION,
        SQS_ENCRYPTION,
        ALARM_ACTIONS,
    } == FEATURES


def run(plan: dict[str, Any] | Path, tool: Path, tmp_path: Path) -> compliance.ComplianceRun:
    """Run the features against ``plan`` (a plan document, or the path of a JSON plan)."""
    if isinstance(plan, dict):
        plan = compliance.write_plan(plan, tmp_path / "mutated-plan.json")
    return compliance.run_features(plan, tool, workdir=tmp_path / "run")


def statuses(result: compliance.ComplianceRun) -> dict[tuple[str, str], str]:
    by_scenario = {(scenario.feature, scenario.name): scenario.status for scenario in result.scenarios}
    assert len(by_scenario) == len(result.scenarios), "scenario names must be unique"
    return by_scenario


# --------------------------------------------------------------------------------------------------
# The module's plans pass
# --------------------------------------------------------------------------------------------------


def test_every_example_passes_every_feature(
    example_plans: dict[str, Path], terraform_compliance_bin: Path, tmp_path: Path
) -> None:
    """Given the offline plan of each example, then every scenario that applies passes: on examples/basic and
    examples/organization (no KMS key given) the KMS scenario is left out; examples/complete (every input
    set: KMS keys, a topic, alarm actions) runs every feature, and skips only what the module has nothing to
    check for."""
    assert set(example_plans) == {"basic", "complete", "organization"}
    for name, plan in example_plans.items():
        result = run(plan, terraform_compliance_bin, tmp_path / name)

        assert result.ok, f"examples/{name}: {result.summary()}\n{result.output}"
        by_scenario = statuses(result)
        skipped = {key for key, status in by_scenario.items() if status != compliance.PASSED}
        if name == "organization":
            # the central module and the member modules: no KMS key given, every other feature passes
            assert result.excluded_tags == [compliance.KMS_TAG]
            assert {feature for feature, _ in by_scenario} == FEATURES - {ENCRYPTION}
            assert skipped == SKIPPED_ON_THE_EXAMPLES, result.output
        elif name == "complete":
            assert result.excluded_tags == []
            assert {feature for feature, _ in by_scenario} == FEATURES
            assert skipped == SKIPPED_ON_THE_MODULE, result.output
        else:
            assert result.excluded_tags == [compliance.KMS_TAG]
            assert {feature for feature, _ in by_scenario} == FEATURES - {ENCRYPTION}
            assert skipped == SKIPPED_ON_THE_EXAMPLES, result.output


def test_a_plan_with_a_kms_key_passes_every_feature(
    kms_plan: Path, terraform_compliance_bin: Path, tmp_path: Path
) -> None:
    """Given a configuration that gives the module a KMS key, then the KMS scenario runs too, and passes."""
    result = run(kms_plan, terraform_compliance_bin, tmp_path)

    assert result.ok, f"{result.summary()}\n{result.output}"
    assert result.excluded_tags == []
    by_scenario = statuses(result)
    assert by_scenario[(ENCRYPTION, "Every log group is encrypted with a KMS key")] == compliance.PASSED
    assert by_scenario[(SNS_ENCRYPTION, "Every SNS topic has a KMS key")] == compliance.PASSED
    assert by_scenario[(ALARM_ACTIONS, "Every CloudWatch alarm has an alarm action")] == compliance.PASSED
    assert {
        key for key, status in by_scenario.items() if status != compliance.PASSED
    } == SKIPPED_ON_THE_MODULE


# --------------------------------------------------------------------------------------------------
# Mutated plans fail the right feature
# --------------------------------------------------------------------------------------------------

Values = dict[str, Any]


def _planned_resources(module: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from module.get("resources", [])
    for child in module.get("child_modules", []):
        yield from _planned_resources(child)


def _configured_resources(module: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    for resource in module.get("resources", []):
        yield prefix + resource["address"], resource
    for name, call in module.get("module_calls", {}).items():
        yield from _configured_resources(call.get("module", {}), f"{prefix}module.{name}.")


def edit(plan: dict[str, Any], suffix: str, change: Callable[[Values, Values], None]) -> None:
    """Apply ``change(values, unknown)`` to the planned values of every resource whose address ends with
    ``suffix``, in ``resource_changes`` (after, after_unknown) and in ``planned_values``."""
    matched = 0
    for resource_change in plan["resource_changes"]:
        if resource_change["address"].endswith(suffix):
            change(resource_change["change"]["after"], resource_change["change"]["after_unknown"])
            matched += 1
    for resource in _planned_resources(plan["planned_values"]["root_module"]):
        if resource["address"].endswith(suffix):
            change(resource["values"], {})
    assert matched, f"no resource change ends with {suffix}"


def drop_attribute(plan: dict[str, Any], suffix: str, attribute: str) -> None:
    """Remove ``attribute`` from a resource as if its argument were deleted from the configuration."""

    def drop(values: Values, unknown: Values) -> None:
        values.pop(attribute, None)
        unknown.pop(attribute, None)

    edit(plan, suffix, drop)
    for address, resource in _configured_resources(plan["configuration"]["root_module"]):
        if address.endswith(suffix):
            resource.get("expressions", {}).pop(attribute, None)


def edit_policy(plan: dict[str, Any], suffix: str, change: Callable[[dict[str, Any]], None]) -> None:
    """Apply ``change`` to the parsed JSON policy of the IAM role policy whose address ends with ``suffix``."""

    def change_policy(values: Values, _unknown: Values) -> None:
        policy = json.loads(values["policy"])
        change(policy)
        values["policy"] = json.dumps(policy)

    edit(plan, suffix, change_policy)


def delete_resource(plan: dict[str, Any], suffix: str) -> None:
    plan["resource_changes"] = [rc for rc in plan["resource_changes"] if not rc["address"].endswith(suffix)]

    def prune(module: dict[str, Any]) -> None:
        module["resources"] = [r for r in module.get("resources", []) if not r["address"].endswith(suffix)]
        for child in module.get("child_modules", []):
            prune(child)

    prune(plan["planned_values"]["root_module"])
    for call in plan["configuration"]["root_module"].get("module_calls", {}).values():
        module = call.get("module", {})
        module["resources"] = [r for r in module.get("resources", []) if not suffix.endswith(r["address"])]


def set_value(suffix: str, attribute: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda plan: edit(plan, suffix, lambda values, _unknown: values.__setitem__(attribute, value))


def add_public_function_url(plan: dict[str, Any]) -> None:
    """A function URL without authentication: anyone on the internet can invoke the function."""
    after: dict[str, Any] = {
        "authorization_type": "NONE",
        "cors": [],
        "function_name": "ec2-isolation",
        "invoke_mode": "BUFFERED",
        "qualifier": None,
        "timeouts": None,
    }
    plan["resource_changes"].append(
        {
            "address": "module.ec2_isolation.aws_lambda_function_url.public",
            "module_address": "module.ec2_isolation",
            "mode": "managed",
            "type": "aws_lambda_function_url",
            "name": "public",
            "provider_name": "registry.terraform.io/hashicorp/aws",
            "change": {
                "actions": ["create"],
                "before": None,
                "after": after,
                "after_unknown": {"function_arn": True, "function_url": True, "id": True, "url_id": True},
                "before_sensitive": False,
                "after_sensitive": {"cors": []},
            },
        }
    )


def remove_all_tags(plan: dict[str, Any]) -> None:
    def untag(values: Values, unknown: Values) -> None:
        if "tags" in values:
            values["tags"] = None
            values["tags_all"] = {}
            unknown.pop("tags_all", None)

    edit(plan, "", untag)


def append_statement(statement: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    return lambda plan: edit_policy(
        plan, "aws_iam_role_policy.lambda", lambda policy: policy["Statement"].append(statement)
    )


def edit_deny_all(change: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    return lambda plan: edit_policy(plan, "aws_iam_role_policy.isolation", change)


def _set_first_statement(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda policy: policy["Statement"][0].__setitem__(key, value)


@dataclass(frozen=True)
class Mutation:
    name: str
    change: Callable[[dict[str, Any]], None]
    failing: frozenset[str]
    base: str = "basic"
    """``basic`` (examples/basic) or ``kms`` (a configuration that gives the module a KMS key)."""


MUTATIONS = [
    # Retention: 0 is what Terraform plans when retention_in_days is left out.
    Mutation(
        "retention 0 (argument left out)",
        set_value("log_group.this", "retention_in_days", 0),
        frozenset({RETENTION}),
    ),
    Mutation(
        "retention 30 days", set_value("log_group.this", "retention_in_days", 30), frozenset({RETENTION})
    ),
    Mutation(
        "retention removed",
        lambda plan: drop_attribute(plan, "aws_cloudwatch_log_group.this", "retention_in_days"),
        frozenset({RETENTION}),
    ),
    # Encryption: a KMS key is given to the module, but the log group does not get it.
    Mutation(
        "KMS key dropped", set_value("log_group.this", "kms_key_id", None), frozenset({ENCRYPTION}), "kms"
    ),
    # The SNS topic (created by the KMS configuration) loses its key.
    Mutation(
        "SNS topic key removed",
        set_value("aws_sns_topic.this[0]", "kms_master_key_id", None),
        frozenset({SNS_ENCRYPTION}),
        "kms",
    ),
    # The dead-letter queue's SQS managed encryption turned off, with no KMS key.
    Mutation(
        "SQS managed encryption off",
        set_value("aws_sqs_queue.dead_letter", "sqs_managed_sse_enabled", False),
        frozenset({SQS_ENCRYPTION}),
    ),
    # An alarm that notifies nobody although the plan has a topic (the KMS configuration creates one).
    Mutation(
        "alarm without actions",
        set_value('aws_cloudwatch_metric_alarm.this["dead_letters"]', "alarm_actions", None),
        frozenset({ALARM_ACTIONS}),
        "kms",
    ),
    # Not public.
    Mutation(
        "permission principal *",
        set_value("lambda_permission.events", "principal", "*"),
        frozenset({NOT_PUBLIC}),
    ),
    Mutation("function URL without auth", add_public_function_url, frozenset({NOT_PUBLIC})),
    # Scoped by source ARN.
    Mutation(
        "permission source_arn removed",
        lambda plan: drop_attribute(plan, "aws_lambda_permission.events", "source_arn"),
        frozenset({SOURCE_ARN}),
    ),
    # No wildcard Allow.
    Mutation(
        "Allow * statement added",
        append_statement({"Sid": "AllowAll", "Effect": "Allow", "Action": "*", "Resource": "*"}),
        frozenset({NO_WILDCARD}),
    ),
    Mutation(
        "Allow ec2:* statement added",
        append_statement({"Sid": "AllowEc2", "Effect": "Allow", "Action": ["ec2:*"], "Resource": "*"}),
        frozenset({NO_WILDCARD}),
    ),
    Mutation(
        "Allow NotAction statement added",
        append_statement({"Sid": "AllowAllButIam", "Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}),
        frozenset({NO_WILDCARD}),
    ),
    # The isolation role denies everything.
    Mutation(
        "isolation Deny statement removed",
        edit_deny_all(
            lambda policy: policy.__setitem__(
                "Statement",
                [{"Sid": "Describe", "Effect": "Allow", "Action": "ec2:DescribeInstances", "Resource": "*"}],
            )
        ),
        frozenset({ISOLATION}),
    ),
    Mutation(
        "isolation Deny narrowed to s3:*",
        edit_deny_all(_set_first_statement("Action", "s3:*")),
        frozenset({ISOLATION}),
    ),
    Mutation(
        "isolation Deny made conditional",
        edit_deny_all(_set_first_statement("Condition", {"Bool": {"aws:ViaAWSService": "false"}})),
        frozenset({ISOLATION}),
    ),
    Mutation(
        "isolation policy deleted",
        lambda plan: delete_resource(plan, "aws_iam_role_policy.isolation"),
        frozenset({ISOLATION}),
    ),
    # Deny * turned into Allow *: the one wildcard the module has becomes a grant.
    Mutation(
        "isolation Deny * turned into Allow *",
        edit_deny_all(_set_first_statement("Effect", "Allow")),
        frozenset({ISOLATION, NO_WILDCARD}),
    ),
    # Tags.
    Mutation("tags removed", remove_all_tags, frozenset({TAGS})),
    Mutation(
        "tags removed from the function only",
        lambda plan: edit(
            plan, "aws_lambda_function.this", lambda values, _u: values.update(tags=None, tags_all={})
        ),
        frozenset({TAGS}),
    ),
]


def test_every_feature_has_a_mutation() -> None:
    assert set().union(*(mutation.failing for mutation in MUTATIONS)) == FEATURES


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[mutation.name for mutation in MUTATIONS])
def test_a_mutation_fails_its_feature(
    mutation: Mutation,
    example_plans: dict[str, Path],
    kms_plan: Path,
    terraform_compliance_bin: Path,
    tmp_path: Path,
) -> None:
    """Given a copy of a passing plan with one property broken, then exactly that property's feature fails
    (and terraform-compliance exits non-zero)."""
    base = kms_plan if mutation.base == "kms" else example_plans["basic"]
    plan = copy.deepcopy(compliance.load_plan(base))
    mutation.change(plan)

    result = run(plan, terraform_compliance_bin, tmp_path)

    assert result.returncode != 0, result.output
    assert not result.ok
    assert result.report_error is None, result.summary()
    assert result.failed_features == mutation.failing, f"{result.summary()}\n{result.output}"


# --------------------------------------------------------------------------------------------------
# `make compliance` and the runner
# --------------------------------------------------------------------------------------------------


def test_make_compliance_plans_every_example_and_passes(make_compliance_run: MakeComplianceRun) -> None:
    result = make_compliance_run.result

    assert result.returncode == 0, result.stdout + result.stderr
    for example in compliance.example_dirs():
        assert f"OK   examples/{example.name}: " in result.stdout, result.stdout
        # and it kept the plan it checked (KEEP_PLANS): the plan of that example
        kept = compliance.load_plan(make_compliance_run.plans_dir / f"{example.name}.json")
        assert "ec2_isolation" in kept["configuration"]["root_module"]["module_calls"], example.name


def test_make_compliance_checks_the_given_plan_and_fails_on_a_failed_scenario(
    example_plans: dict[str, Path], terraform_compliance_bin: Path, tmp_path: Path
) -> None:
    """Given PLAN=<a plan>, then `make compliance` checks that plan: exit 0 when it passes, non-zero when a
    scenario fails (here: the permission's source_arn removed). The given file is left untouched."""
    plan = copy.deepcopy(compliance.load_plan(example_plans["basic"]))
    drop_attribute(plan, "aws_lambda_permission.events", "source_arn")
    bad = tmp_path / "bad-plan.json"
    bad.write_text(json.dumps(plan, indent=2), encoding="utf-8")  # multi-line: the runner copies it
    before = bad.read_text(encoding="utf-8")

    passing = make_compliance(f"PLAN={example_plans['basic']}")
    failing = make_compliance(f"PLAN={bad}")

    assert passing.returncode == 0, passing.stdout + passing.stderr
    assert failing.returncode != 0, failing.stdout
    assert f"FAIL {bad}: " in failing.stdout
    assert f"failed: {SOURCE_ARN}" in failing.stdout
    assert bad.read_text(encoding="utf-8") == before


def test_a_run_without_a_report_is_a_failure_even_with_exit_code_0(
    example_plans: dict[str, Path], tmp_path: Path
) -> None:
    """terraform-compliance exits 0 on some errors; the runner does not trust the exit code alone."""
    fake = tmp_path / "terraform-compliance"
    fake.write_text("#!/bin/sh\necho 'FATAL ERROR: It looks like there is a syntax error'\nexit 0\n")
    fake.chmod(0o755)

    result = compliance.run_features(example_plans["basic"], fake, workdir=tmp_path / "run")

    assert result.returncode == 0
    assert result.report_error is not None
    assert not result.ok


def test_a_file_that_is_not_a_json_plan_is_refused(tmp_path: Path) -> None:
    binary_plan = tmp_path / "plan.tfplan"
    binary_plan.write_bytes(b"PK\x03\x04 not json")

    with pytest.raises(compliance.ComplianceError, match="terraform show -json"):
        compliance.run_features(binary_plan, "terraform-compliance", workdir=tmp_path / "run")


# --------------------------------------------------------------------------------------------------
# When is a KMS key given?
# --------------------------------------------------------------------------------------------------


def plan_with_input(
    expression: dict[str, Any] | None, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    expressions = {} if expression is None else {"log_kms_key_arn": expression}
    return {
        "format_version": "1.2",
        "variables": variables or {},
        "configuration": {"root_module": {"module_calls": {"ec2_isolation": {"expressions": expressions}}}},
    }


@pytest.mark.parametrize(
    ("expression", "variables", "given"),
    [
        (None, None, False),
        ({"constant_value": None}, None, False),
        ({}, None, False),
        ({"constant_value": "arn:aws:kms:us-east-1:123456789012:key/k"}, None, True),
        ({"references": ["aws_kms_key.logs.arn", "aws_kms_key.logs"]}, None, True),
        ({"references": ["var.log_key"]}, {"log_key": {"value": None}}, False),
        ({"references": ["var.log_key"]}, {"log_key": {"value": "arn:aws:kms:us-east-1:1:key/k"}}, True),
        ({"references": ["var.keys", "var.keys[0]"]}, {"keys": {"value": ["arn"]}}, True),
        ({"references": ["var.undeclared"]}, {}, False),
        ({"references": ["local.key"]}, None, True),
    ],
)
def test_kms_key_given_reads_the_module_call(
    expression: dict[str, Any] | None, variables: dict[str, Any] | None, given: bool
) -> None:
    assert compliance.kms_key_given(plan_with_input(expression, variables)) is given


def test_kms_key_given_in_a_nested_module_call() -> None:
    """A wrapper module passing its own variable through: the reference cannot be resolved, so it counts."""
    plan = plan_with_input(None)
    plan["configuration"]["root_module"]["module_calls"]["ec2_isolation"]["module"] = {
        "module_calls": {"inner": {"expressions": {"log_kms_key_arn": {"references": ["var.kms"]}}}}
    }

    assert compliance.kms_key_given(plan) is True


def test_kms_key_given_on_the_real_plans(example_plans: dict[str, Path], kms_plan: Path) -> None:
    assert compliance.kms_key_given(compliance.load_plan(kms_plan)) is True
    assert compliance.kms_key_given(compliance.load_plan(example_plans["basic"])) is False
