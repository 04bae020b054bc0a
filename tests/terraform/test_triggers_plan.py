"""The finding triggers in the offline plans (triggers.tf): absent by default; when enabled, a GuardDuty
rule and a Security Hub custom action with its rule, each targeting the function with the tag rule's
retry policy and dead-letter queue, allowed to invoke it, and allowed by the queue's policy. The planned
patterns are evaluated with moto's EventPattern (a faithful port of EventBridge matching) against the
real event shapes. The GuardDuty rule matches only the findings of the accounts the function serves, when
that is known at plan time (alone; with member accounts, examples/complete; with only an organization, a
second module call in the triggers configuration)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import pytest
from moto.events.models import EventPattern

from tests.fixtures.events import guardduty_finding_event, load_event, security_hub_action_event
from tests.terraform.conftest import plan_on_the_binary
from tests.terraform.plan import Plan
from tools import tfcli

pytestmark = pytest.mark.terraform

ACCOUNT = tfcli.FAKE_ACCOUNT_ID
INSTANCE = "i-0123456789abcdef0"
ACTION_ARN = f"arn:aws:securityhub:us-east-1:{ACCOUNT}:action/custom/IsolateInstance"
TRIGGERS_TF = """
provider "aws" {
  region = "us-east-1"
}

module "ec2_isolation" {
  source = "../../"

  guardduty_trigger_enabled  = true
  guardduty_minimum_severity = 7
  guardduty_finding_types    = ["UnauthorizedAccess:EC2/SSHBruteForce", "Backdoor:EC2/C&CActivity.B!DNS"]

  security_hub_action_enabled = true
}

# The GuardDuty trigger of a deployment that serves an organization without a member list (planned with
# the first: a second plan would cost more).
module "organization_only" {
  source = "../../"

  name                      = "ec2-isolation-org"
  guardduty_trigger_enabled = true
  organization_id           = "o-a1b2c3d4e5"
}
"""
MEMBERS = ["210987654321", "310987654321"]  # examples/complete
STRANGER = "111122223333"
TRIGGER_RESOURCES = {
    "aws_cloudwatch_event_rule.guardduty[0]",
    "aws_cloudwatch_event_target.guardduty[0]",
    "aws_lambda_permission.guardduty[0]",
    "aws_securityhub_action_target.this[0]",
    "aws_cloudwatch_event_rule.security_hub[0]",
    "aws_cloudwatch_event_target.security_hub[0]",
    "aws_lambda_permission.security_hub[0]",
}


@pytest.fixture(scope="session")
def triggers_plan(
    tmp_path_factory: pytest.TempPathFactory, terraform_env: dict[str, str], lambda_package: Path
) -> Plan:
    """The triggers configuration, planned once on the terraform binary: the module as a whole is planned
    on every core by the example and custom plans; the triggers add resources, not core features."""
    return plan_on_the_binary(
        tmp_path_factory, terraform_env, "triggers", Path("examples") / "triggers-inputs-test", TRIGGERS_TF
    )


def event_pattern(plan: Plan, rule: str, module: str = "ec2_isolation") -> str:
    change = plan.resource_changes[f"module.{module}.aws_cloudwatch_event_rule.{rule}[0]"]
    pattern: str = change["change"]["after"]["event_pattern"]
    return pattern


def matches(plan: Plan, rule: str, event: dict[str, Any], module: str = "ec2_isolation") -> bool:
    pattern = EventPattern.load(event_pattern(plan, rule, module))
    return bool(pattern.matches_event(cast(Any, event)))


def aimed_here(event: dict[str, Any]) -> dict[str, Any]:
    """The sample re-aimed at the plan's (fake) account."""
    text = json.dumps(event).replace("123456789012", ACCOUNT)
    aimed: dict[str, Any] = json.loads(text)
    return aimed


def test_no_trigger_rule_is_planned_by_default(example_plan: Plan, custom_plan: Plan) -> None:
    for plan in (example_plan, custom_plan):
        planned = {address.removeprefix("module.ec2_isolation.") for address in plan.resource_changes}
        assert planned.isdisjoint(TRIGGER_RESOURCES)
        assert not any(
            name.startswith(("GUARDDUTY_", "SECURITY_HUB_"))
            for name in plan.after("aws_lambda_function.this")["environment"][0]["variables"]
        )


def test_enabled_triggers_plan_their_rules_targets_permissions_and_action(triggers_plan: Plan) -> None:
    planned = {address.removeprefix("module.ec2_isolation.") for address in triggers_plan.resource_changes}
    assert planned >= TRIGGER_RESOURCES
    action = triggers_plan.after("aws_securityhub_action_target.this[0]")
    assert (action["name"], action["identifier"]) == ("Isolate instance", "IsolateInstance")
    assert (
        triggers_plan.after("aws_cloudwatch_event_rule.guardduty[0]")["name"]
        == "ec2-isolation-on-guardduty-finding"
    )
    assert triggers_plan.after("aws_cloudwatch_event_rule.security_hub[0]")["name"] == (
        "ec2-isolation-on-security-hub-action"
    )


@pytest.mark.parametrize("rule", ["guardduty", "security_hub"])
def test_each_rule_targets_the_function_with_retries_and_the_dead_letter_queue(
    triggers_plan: Plan, rule: str
) -> None:
    target = triggers_plan.after(f"aws_cloudwatch_event_target.{rule}[0]")
    tag_target = triggers_plan.after("aws_cloudwatch_event_target.this")
    assert target["retry_policy"] == tag_target["retry_policy"]
    assert triggers_plan.references(f"aws_cloudwatch_event_target.{rule}", "arn") == [
        "aws_lambda_function.this.arn",
        "aws_lambda_function.this",
    ]
    assert "aws_sqs_queue.dead_letter.arn" in triggers_plan.references(
        f"aws_cloudwatch_event_target.{rule}", "dead_letter_config", "arn"
    )
    permission = triggers_plan.after(f"aws_lambda_permission.{rule}[0]")
    assert (permission["action"], permission["principal"]) == (
        "lambda:InvokeFunction",
        "events.amazonaws.com",
    )
    assert f"aws_cloudwatch_event_rule.{rule}[0].arn" in triggers_plan.references(
        f"aws_lambda_permission.{rule}", "source_arn"
    )


def test_the_queue_accepts_undelivered_events_from_the_three_rules(
    triggers_plan: Plan, example_plan: Plan
) -> None:
    rule = f"arn:aws:events:us-east-1:{ACCOUNT}:rule/ec2-isolation-"
    (statement,) = json.loads(triggers_plan.after("aws_sqs_queue.dead_letter")["policy"])["Statement"]
    # and the reconciler's (reconcile.tf), on by default
    reconciler = {f"{rule}reconcile", f"{rule}reconcile-full", f"{rule}on-api-call"}
    assert set(statement["Condition"]["ArnEquals"]["aws:SourceArn"]) == {
        f"{rule}on-isolation-tag",
        f"{rule}on-guardduty-finding",
        f"{rule}on-security-hub-action",
        *reconciler,
    }
    (default,) = json.loads(example_plan.after("aws_sqs_queue.dead_letter")["policy"])["Statement"]
    assert set(default["Condition"]["ArnEquals"]["aws:SourceArn"]) == {f"{rule}on-isolation-tag", *reconciler}


def test_the_function_is_given_the_filter(triggers_plan: Plan) -> None:
    variables = dict(triggers_plan.after("aws_lambda_function.this")["environment"][0]["variables"])
    # JSON (Terraform's jsonencode writes "&" as \u0026)
    assert json.loads(variables.pop("GUARDDUTY_FINDING_TYPES")) == [
        "UnauthorizedAccess:EC2/SSHBruteForce",
        "Backdoor:EC2/C&CActivity.B!DNS",
    ]
    assert {
        name: value for name, value in variables.items() if name.startswith(("GUARDDUTY_", "SECURITY_HUB_"))
    } == {
        "GUARDDUTY_TRIGGER": "true",
        "GUARDDUTY_MINIMUM_SEVERITY": "7",
        "SECURITY_HUB_ACTION_ARN": ACTION_ARN,
    }


def test_the_guardduty_pattern_matches_a_real_instance_finding_and_not_others(triggers_plan: Plan) -> None:
    assert matches(triggers_plan, "guardduty", aimed_here(load_event("guardduty_finding_ec2.json")))
    assert matches(triggers_plan, "guardduty", guardduty_finding_event(INSTANCE, severity=7))
    assert matches(
        triggers_plan,
        "guardduty",
        guardduty_finding_event(INSTANCE, finding_type="Backdoor:EC2/C&CActivity.B!DNS"),
    )
    assert not matches(triggers_plan, "guardduty", guardduty_finding_event(INSTANCE, severity=6.9))
    assert not matches(
        triggers_plan,
        "guardduty",
        guardduty_finding_event(INSTANCE, finding_type="Recon:EC2/PortProbeUnprotectedPort"),
    )
    assert not matches(triggers_plan, "guardduty", guardduty_finding_event(None))
    assert not matches(triggers_plan, "guardduty", security_hub_action_event([INSTANCE]))
    assert not matches_tag_rule(triggers_plan, guardduty_finding_event(INSTANCE))


def test_the_security_hub_pattern_matches_only_its_custom_action(triggers_plan: Plan) -> None:
    event = aimed_here(load_event("securityhub_custom_action.json"))
    assert matches(triggers_plan, "security_hub", event)
    event["resources"] = [ACTION_ARN.replace("IsolateInstance", "SendToTicket")]
    assert not matches(triggers_plan, "security_hub", event)
    assert not matches(triggers_plan, "security_hub", aimed_here(load_event("guardduty_finding_ec2.json")))
    assert not matches_tag_rule(triggers_plan, aimed_here(load_event("securityhub_custom_action.json")))


def matches_tag_rule(plan: Plan, event: dict[str, Any]) -> bool:
    pattern = EventPattern.load(plan.after("aws_cloudwatch_event_rule.this")["event_pattern"])
    return bool(pattern.matches_event(cast(Any, event)))


def finding_of(account: str) -> dict[str, Any]:
    """The sample finding on this (administrator) account's bus, about an instance of ``account``."""
    return guardduty_finding_event(INSTANCE, finding_account=account)


def test_a_single_account_guardduty_rule_matches_only_this_accounts_findings(triggers_plan: Plan) -> None:
    # Given no member accounts and no organization, Then the rule filters on this account's findings
    assert json.loads(event_pattern(triggers_plan, "guardduty"))["detail"]["accountId"] == [ACCOUNT]
    # and a member's finding on this bus (an administrator account's) does not invoke the function,
    # which would refuse it
    assert matches(triggers_plan, "guardduty", finding_of(ACCOUNT))
    assert not matches(triggers_plan, "guardduty", finding_of(MEMBERS[0]))


def test_with_member_accounts_the_guardduty_rule_matches_this_and_the_members_findings(
    complete_plan: Plan,
) -> None:
    # Given examples/complete: member accounts listed (and an organization)
    pattern = json.loads(event_pattern(complete_plan, "guardduty"))
    # Then the rule filters on this account and the members, once each
    assert pattern["detail"]["accountId"] == [ACCOUNT, *MEMBERS]
    for account in (ACCOUNT, *MEMBERS):
        assert matches(complete_plan, "guardduty", finding_of(account)), account
    assert not matches(complete_plan, "guardduty", finding_of(STRANGER))


def test_with_only_an_organization_the_guardduty_rule_does_not_filter_on_the_account(
    triggers_plan: Plan,
) -> None:
    # Given an organization and no member list: every account of it is served, unknown at plan time
    pattern = json.loads(event_pattern(triggers_plan, "guardduty", "organization_only"))
    # Then the rule has no account filter (the function checks the account), the rest of the filter stays
    assert "accountId" not in pattern["detail"]
    assert pattern["detail"]["resource"] == {"resourceType": ["Instance"]}
    assert matches(triggers_plan, "guardduty", finding_of(STRANGER), "organization_only")
