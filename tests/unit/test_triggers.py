"""Specification of the finding triggers: a GuardDuty finding about an instance, or Security
Hub findings sent to the module's custom action, isolate through the same path as the analyst's tag, with
the same record; the record's attempt and the result say which trigger it was."""

from __future__ import annotations

import dataclasses
from typing import Any

import boto3
import pytest

from ec2_isolation.clients import AwsClients
from ec2_isolation.config import Settings
from ec2_isolation.errors import ConfigurationError, InvalidEvent
from ec2_isolation.steps.record import read_record
from tests.fixtures.events import (
    REGION,
    SECURITY_HUB_ACTION_ARN,
    guardduty_finding_event,
    load_event,
    security_hub_action_event,
)
from tests.fixtures.faults import record_calls
from tests.unit.conftest import RECORD_TABLE, Invoke, Launch, eni_groups, groups_named, tags_of

GUARDDUTY_FINDING_ID = "16afba5c5c43e07c9e3e5e2e544e95df"


@pytest.fixture
def triggers(settings: Settings) -> Settings:
    """Both finding triggers on, as the module configures them when enabled."""
    return dataclasses.replace(
        settings,
        guardduty_trigger=True,
        guardduty_minimum_severity=7.0,
        guardduty_finding_types=("UnauthorizedAccess:EC2/SSHBruteForce", "Backdoor:EC2/C&CActivity.B!DNS"),
        security_hub_action_arn=SECURITY_HUB_ACTION_ARN,
    )


def record(instance_id: str) -> dict[str, Any]:
    found = read_record(boto3.client("dynamodb", region_name=REGION), RECORD_TABLE, instance_id)
    assert found is not None, f"no record of {instance_id}"
    return found


def assert_isolated(ec2: Any, instance_id: str, vpc_id: str) -> None:
    (isolation_group,) = groups_named(ec2, "ec2-isolation-isolation", vpc_id)
    assert set(map(tuple, eni_groups(ec2, instance_id).values())) == {(isolation_group["GroupId"],)}
    assert tags_of(ec2, instance_id)["SecurityIsolation:Status"] == "Isolated"
    assert record(instance_id)["status"] == "isolated"


class TestGuardDuty:
    def test_a_finding_about_an_instance_isolates_it_and_the_record_names_the_finding(
        self, invoke: Invoke, launch: Launch, ec2: Any, network: Any, triggers: Settings
    ) -> None:
        # Given a running instance and the GuardDuty sample finding about it (SSH brute force, severity 8)
        instance_id = launch()
        event = guardduty_finding_event(instance_id)
        # When the finding's event reaches the function
        summary = invoke(event, triggers)
        # Then the instance is isolated, exactly as by the tag
        assert_isolated(ec2, instance_id, network.vpc_id)
        trigger = {
            "type": "guardduty",
            "finding_id": GUARDDUTY_FINDING_ID,
            "finding_type": "UnauthorizedAccess:EC2/SSHBruteForce",
            "severity": "8.0",
        }
        assert summary["action"] == "isolate"
        assert summary["trigger"] == trigger
        assert [(r["instance_id"], r["status"], r["trigger"]) for r in summary["instances"]] == [
            (instance_id, "isolated", trigger)
        ]
        # and the record's attempt says the finding asked for it, under the EventBridge event id
        saved = record(instance_id)
        assert saved["isolation_event_id"] == event["id"]
        assert [a["trigger"] for a in saved["attempts"]] == [trigger]

    def test_a_finding_isolates_an_instance_whose_tag_still_says_release(
        self, invoke: Invoke, launch: Launch, ec2: Any, network: Any, triggers: Settings
    ) -> None:
        # Given an instance released earlier (its tag still says Release)
        instance_id = launch(tags={"Name": "web-01", "SecurityIsolation": "Release"})
        # When a new finding about it arrives, Then it is isolated (a finding is not superseded by an old tag)
        invoke(guardduty_finding_event(instance_id), triggers)
        assert_isolated(ec2, instance_id, network.vpc_id)

    @pytest.mark.parametrize(
        ("case", "event", "reason"),
        [
            ("below the minimum severity", dict(severity=5.0), "below the minimum 7.0"),
            ("another type", dict(finding_type="Recon:EC2/PortProbeUnprotectedPort"), "not among"),
            ("not about an instance", dict(instance_id=None), "is about a AccessKey"),
        ],
        ids=lambda value: value if isinstance(value, str) and " " in value else "",
    )
    def test_a_finding_the_filter_does_not_match_is_a_no_op_without_an_aws_call(
        self,
        case: str,
        event: dict[str, Any],
        reason: str,
        invoke: Invoke,
        clients: AwsClients,
        triggers: Settings,
    ) -> None:
        # Given a finding the rule would not have matched (severity, type, resource)
        arguments: dict[str, Any] = {"instance_id": "i-0123456789abcdef0", **event}
        finding = guardduty_finding_event(arguments.pop("instance_id"), **arguments)
        calls = record_calls(clients.ec2, clients.dynamodb, clients.iam, clients.autoscaling)
        # When it reaches the function, Then nothing is done, nothing is called, and the reason is given
        summary = invoke(finding, triggers)
        assert (summary["action"], summary["instances"]) == ("none", []), case
        assert reason in summary["reason"]
        assert calls.calls == []

    def test_a_finding_is_a_no_op_while_the_guardduty_trigger_is_off(
        self, invoke: Invoke, clients: AwsClients, settings: Settings
    ) -> None:
        calls = record_calls(clients.ec2, clients.dynamodb)
        summary = invoke(guardduty_finding_event("i-0123456789abcdef0"), settings)
        assert summary["reason"] == "the GuardDuty trigger is not enabled"
        assert calls.calls == []

    @pytest.mark.parametrize(
        ("mutate", "message"),
        [
            (lambda e: e.update(account="210987654321"), "event is from account 210987654321"),
            (lambda e: e["detail"].update(accountId="210987654321"), "is about account 210987654321"),
            (lambda e: e["detail"].update(region="eu-west-1"), "in eu-west-1"),
            (lambda e: e["detail"].update(severity="8"), "detail.severity must be a number"),
            (
                lambda e: e["detail"]["resource"]["instanceDetails"].update(instanceId="i-XYZ"),
                "not an instance",
            ),
            (lambda e: e["detail"]["resource"].pop("instanceDetails"), "has no 'instanceDetails'"),
            (lambda e: e.update({"detail-type": "Tag Change on Resource"}), "expected 'GuardDuty Finding'"),
        ],
    )
    def test_a_foreign_or_malformed_finding_is_refused_before_any_aws_call(
        self, mutate: Any, message: str, invoke: Invoke, clients: AwsClients, triggers: Settings
    ) -> None:
        # Given the sample finding from another account (a GuardDuty administrator's bus carries its
        # members' findings) or broken in one way
        event = guardduty_finding_event("i-0123456789abcdef0")
        mutate(event)
        calls = record_calls(clients.ec2, clients.dynamodb)
        # When / Then it is refused (the failure path), before anything is called
        with pytest.raises(InvalidEvent, match=message):
            invoke(event, triggers)
        assert calls.calls == []


class TestSecurityHub:
    def test_the_instances_of_the_findings_are_isolated_and_the_s3_bucket_reported_as_skipped(
        self, invoke: Invoke, launch: Launch, ec2: Any, network: Any, triggers: Settings
    ) -> None:
        # Given two instances, and an analyst sending three findings to the custom action: one about each
        # instance and one about an S3 bucket
        first, second = launch(), launch()
        event = security_hub_action_event([first, second])
        finding_ids = [f["Id"] for f in event["detail"]["findings"]]
        # When the custom action's event reaches the function
        summary = invoke(event, triggers)
        # Then both instances are isolated, each result naming the finding about it
        assert_isolated(ec2, first, network.vpc_id)
        assert_isolated(ec2, second, network.vpc_id)
        assert [
            (r["instance_id"], r["status"], r["trigger"]["finding_ids"]) for r in summary["instances"]
        ] == [
            (first, "isolated", [finding_ids[0]]),
            (second, "isolated", [finding_ids[1]]),
        ]
        assert record(first)["attempts"][0]["trigger"] == {
            "type": "securityhub",
            "action": "Isolate instance",
            "finding_ids": [finding_ids[0]],
        }
        # and the bucket is reported as skipped, not silently ignored
        assert summary["skipped"] == [
            {
                "finding_id": finding_ids[2],
                "resource_type": "AwsS3Bucket",
                "resource_id": "arn:aws:s3:::web-assets-123456789012",
                "reason": "not an EC2 instance",
            }
        ]
        assert summary["trigger"]["finding_ids"] == finding_ids

    def test_the_documented_sample_names_two_instances_and_a_bucket(
        self, invoke: Invoke, triggers: Settings
    ) -> None:
        from ec2_isolation.events import FunctionIdentity, SecurityHubActionEvent, parse_event

        parsed = parse_event(
            load_event("securityhub_custom_action.json"), FunctionIdentity("aws", REGION, "123456789012")
        )
        assert isinstance(parsed, SecurityHubActionEvent)
        assert parsed.instance_ids == ("i-0123456789abcdef0", "i-0fedcba9876543210")
        assert [s["resource_type"] for s in parsed.skipped] == ["AwsS3Bucket"]
        assert parsed.decide(triggers) == ("isolate", "Security Hub custom action 'Isolate instance'")

    def test_findings_without_an_instance_are_a_no_op_that_reports_what_was_skipped(
        self, invoke: Invoke, clients: AwsClients, triggers: Settings
    ) -> None:
        event = security_hub_action_event([])
        calls = record_calls(clients.ec2, clients.dynamodb)
        summary = invoke(event, triggers)
        assert summary["action"] == "none"
        assert [s["resource_type"] for s in summary["skipped"]] == ["AwsS3Bucket"]
        assert calls.calls == []

    def test_another_custom_action_or_the_trigger_off_is_a_no_op(
        self, invoke: Invoke, clients: AwsClients, triggers: Settings, settings: Settings
    ) -> None:
        event = security_hub_action_event(["i-0123456789abcdef0"])
        calls = record_calls(clients.ec2, clients.dynamodb)
        assert invoke(event, settings)["reason"] == "the Security Hub custom action trigger is not enabled"
        event["resources"] = [SECURITY_HUB_ACTION_ARN.replace("IsolateInstance", "SendToTicket")]
        assert "is not from the custom action" in invoke(event, triggers)["reason"]
        assert calls.calls == []

    @pytest.mark.parametrize(
        ("event", "message"),
        [
            (
                security_hub_action_event(["i-0123456789abcdef0"], account="210987654321"),
                "outside this function",
            ),
            (
                {**security_hub_action_event(["i-0123456789abcdef0"]), "account": "210987654321"},
                "from account",
            ),
        ],
        ids=["an instance of another account", "an event of another account"],
    )
    def test_a_foreign_account_is_refused_before_any_aws_call(
        self, event: dict[str, Any], message: str, invoke: Invoke, clients: AwsClients, triggers: Settings
    ) -> None:
        calls = record_calls(clients.ec2, clients.dynamodb)
        with pytest.raises(InvalidEvent, match=message):
            invoke(event, triggers)
        assert calls.calls == []


class TestTheTagTrigger:
    def test_a_tag_isolation_says_so_in_the_result_and_the_record(
        self, invoke: Invoke, launch: Launch, ec2: Any
    ) -> None:
        from tests.fixtures.events import tag_change_event

        instance_id = launch()
        summary = invoke(tag_change_event([instance_id], tags={"SecurityIsolation": "Isolate"}))
        assert summary["trigger"] == summary["instances"][0]["trigger"] == {"type": "tag"}
        assert record(instance_id)["attempts"][0]["trigger"] == {"type": "tag"}


class TestSettings:
    def test_the_filter_comes_from_the_environment(self, function_env: dict[str, str]) -> None:
        settings = Settings.from_env(
            {
                **function_env,
                "GUARDDUTY_TRIGGER": "true",
                "GUARDDUTY_MINIMUM_SEVERITY": "4.5",
                "GUARDDUTY_FINDING_TYPES": '["UnauthorizedAccess:EC2/SSHBruteForce"]',
                "SECURITY_HUB_ACTION_ARN": SECURITY_HUB_ACTION_ARN,
            }
        )
        assert (
            settings.guardduty_trigger,
            settings.guardduty_minimum_severity,
            settings.guardduty_finding_types,
            settings.security_hub_action_arn,
        ) == (True, 4.5, ("UnauthorizedAccess:EC2/SSHBruteForce",), SECURITY_HUB_ACTION_ARN)
        # and an older module's environment (none of them) leaves both triggers off
        older = Settings.from_env(function_env)
        assert (older.guardduty_trigger, older.security_hub_action_arn) == (False, "")

    @pytest.mark.parametrize(
        ("name", "value"),
        [
            ("GUARDDUTY_MINIMUM_SEVERITY", "0.5"),
            ("GUARDDUTY_MINIMUM_SEVERITY", "high"),
            ("GUARDDUTY_FINDING_TYPES", "UnauthorizedAccess:EC2/SSHBruteForce"),
            ("GUARDDUTY_FINDING_TYPES", "[1]"),
            ("SECURITY_HUB_ACTION_ARN", "arn:aws:securityhub:us-east-1:123456789012:action/custom/not-alnum"),
        ],
    )
    def test_an_invalid_filter_is_a_configuration_error(
        self, name: str, value: str, function_env: dict[str, str]
    ) -> None:
        with pytest.raises(ConfigurationError, match=name):
            Settings.from_env({**function_env, name: value})
