"""End to end on a local AWS emulator: Terraform deploys examples/basic, an analyst tags an instance,
the event goes through the deployed rule to the deployed function's code, the instance is isolated, and
`terraform destroy` removes the module again.

The tests share one deployment and one application (module-scoped fixtures) and run in file order:
the last one destroys the deployment.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from tests.e2e.conftest import (
    App,
    associations,
    eni_groups,
    enis_on_group,
    group_rule_ids,
    groups_named,
    tags_of,
)
from tests.fixtures.events import load_event, tag_change_event
from tools import deliver as eventbridge
from tools.deliver import Delivery, DeployedCodeUnavailable, code_sha256, fetch_code
from tools.emulator import Deployment, Emulator

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

pytestmark = pytest.mark.e2e

KEY, VALUE = "SecurityIsolation", "Isolate"
STATUS_KEYS = ("SecurityIsolation:Status", "SecurityIsolation:IsolatedAt", "SecurityIsolation:EventId",
               "SecurityIsolation:IsolationGroup", "SecurityIsolation:OriginalInstanceProfile")  # fmt: skip


def analyst_event(ec2: EC2Client, instance_id: str) -> dict[str, Any]:
    """The event EventBridge emits after the analyst's CreateTags: every tag the instance now has, and
    the isolation key as the changed key (the committed sample event, re-aimed at the instance)."""
    return tag_change_event([instance_id], tags=tags_of(ec2, instance_id), changed_keys=[KEY])


@dataclass(frozen=True)
class Isolation:
    """What the first delivery did, and the state before it."""

    event: dict[str, Any]
    delivery: Delivery
    groups_before: dict[str, list[str]]
    sibling_groups_before: dict[str, list[str]]
    sibling_tags_before: dict[str, str]
    tags_before_delivery: dict[str, str]


@pytest.fixture(scope="module")
def isolation(session: boto3.session.Session, ec2: EC2Client, app: App) -> Isolation:
    """When the analyst tags web-01 and EventBridge delivers the tag-change event."""
    groups_before = eni_groups(ec2, app.instance_id)
    sibling_groups_before = eni_groups(ec2, app.sibling_id)
    sibling_tags_before = tags_of(ec2, app.sibling_id)
    ec2.create_tags(Resources=[app.instance_id], Tags=[{"Key": KEY, "Value": VALUE}])
    tags_before_delivery = tags_of(ec2, app.instance_id)
    event = analyst_event(ec2, app.instance_id)
    delivery = eventbridge.deliver(session, event)
    return Isolation(
        event, delivery, groups_before, sibling_groups_before, sibling_tags_before, tags_before_delivery
    )


def isolation_group_id(ec2: EC2Client, app: App, outputs: dict[str, Any]) -> str:
    groups = groups_named(ec2, outputs["isolation_security_group_name"], app.vpc_id)
    assert len(groups) == 1, f"expected one isolation group in {app.vpc_id}, found {groups}"
    group_id: str = groups[0]["GroupId"]
    return group_id


# ---- routing -----------------------------------------------------------------------------------------


def test_the_deployed_rule_routes_the_analysts_tag_event_to_the_deployed_function(
    session: boto3.session.Session, ec2: EC2Client, app: App, outputs: dict[str, Any]
) -> None:
    # Given the rule as the emulator holds it (pattern read back with DescribeRule)
    # When the analyst's tag-change event is matched against every rule of the default bus
    event = tag_change_event([app.instance_id], tags={"Name": "web-01", KEY: VALUE}, changed_keys=[KEY])
    matched = eventbridge.matching_rules(session, event)
    # Then exactly the module's rule matches, and it targets the module's function
    assert [rule.name for rule in matched] == [outputs["event_rule_name"]]
    assert matched[0].arn == outputs["event_rule_arn"]
    routes = eventbridge.routes_of(session.client("events"), matched[0])
    assert [route.target_arn for route in routes] == [outputs["lambda_function_arn"]]
    # and the function's resource policy lets EventBridge invoke it from that rule (and only that one)
    statement = eventbridge.check_invoke_permission(
        session.client("lambda"), outputs["lambda_function_name"], matched[0]
    )
    assert statement == "AllowInvokeFromIsolationTagRule"
    other_rule = eventbridge.Rule("other", matched[0].arn + "-other", "default", "ENABLED", None)
    with pytest.raises(eventbridge.DeliveryError):
        eventbridge.check_invoke_permission(
            session.client("lambda"), outputs["lambda_function_name"], other_rule
        )


@pytest.mark.parametrize(
    ("case", "tags", "changed"),
    [
        (
            "the function's own status tags (the trigger tag still says Isolate)",
            {
                "Name": "web-01",
                KEY: VALUE,
                **dict.fromkeys(STATUS_KEYS, "x"),
                "SecurityIsolation:Status": "Isolated",
            },
            list(STATUS_KEYS),
        ),
        ("another value of the isolation tag", {"Name": "web-01", KEY: "Quarantine"}, [KEY]),
        ("the release value in another case", {"Name": "web-01", KEY: "release"}, [KEY]),
        ("the value in another case", {"Name": "web-01", KEY: "isolate"}, [KEY]),
        ("the isolation tag removed", {"Name": "web-01"}, [KEY]),
    ],
    ids=["status-tags", "other-value", "release-other-case", "other-case", "removed"],
)
def test_the_deployed_rule_does_not_route_other_tag_events(
    session: boto3.session.Session, app: App, case: str, tags: dict[str, str], changed: list[str]
) -> None:
    # Given the deployed rule; When a tag change that does not ask for isolation is delivered
    event = tag_change_event([app.sibling_id], tags=tags, changed_keys=changed)
    delivery = eventbridge.deliver(session, event)
    # Then no rule matches and no function runs
    assert delivery.rules, "the default bus has the module's rule"
    assert delivery.matched == (), case
    assert delivery.invocations == (), case


def test_the_event_builder_has_the_shape_eventbridge_sends() -> None:
    # The demo builds its events with tools.deliver.tag_change_event: same shape as the AWS sample.
    sample = load_event("aws_docs_tag_change_on_resource.json")
    built = eventbridge.tag_change_event(
        resource_arns=sample["resources"],
        tags=sample["detail"]["tags"],
        changed_tag_keys=sample["detail"]["changed-tag-keys"],
        account=sample["account"],
        region=sample["region"],
        tag_version=sample["detail"]["version"],
        event_id=sample["id"],
        time_=datetime.fromisoformat(sample["time"]),
    )
    assert built == sample


# ---- isolation ---------------------------------------------------------------------------------------


def test_tagging_the_instance_isolates_it(
    ec2: EC2Client, app: App, outputs: dict[str, Any], isolation: Isolation
) -> None:
    # Given web-01 with two ENIs (app, mgmt) and the web-app profile; When the tag event is delivered
    assert len(isolation.groups_before) == 2
    assert sorted(isolation.groups_before.values()) == sorted([[app.app_group_id], [app.mgmt_group_id]])
    [invocation] = isolation.delivery.invocations
    assert invocation.ok, invocation.payload
    [result] = invocation.payload["instances"]
    assert result["instance_id"] == app.instance_id
    assert result["status"] == "isolated"

    # Then (read from the emulator, not from the result) both ENIs are on exactly the isolation group
    group_id = isolation_group_id(ec2, app, outputs)
    assert enis_on_group(ec2, group_id) == set(isolation.groups_before)
    assert eni_groups(ec2, app.instance_id) == {eni: [group_id] for eni in isolation.groups_before}
    assert not enis_on_group(ec2, app.app_group_id) & set(isolation.groups_before)
    assert not enis_on_group(ec2, app.mgmt_group_id) & set(isolation.groups_before)
    # the group has no rule at all (AWS's default allow-all egress rule was revoked)
    assert group_rule_ids(ec2, group_id) == []
    [group] = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
    assert group.get("IpPermissions", []) == [] and group.get("IpPermissionsEgress", []) == []
    group_tags = {tag["Key"]: tag["Value"] for tag in group.get("Tags", [])}
    assert group_tags["SecurityIsolation:ManagedBy"] == outputs["lambda_function_name"]
    assert group_tags["Project"] == "ec2-isolation", "the module's tags are put on the group"
    # the instance profile is the module's deny-all isolation profile
    assert [arn for _, arn in associations(ec2, app.instance_id)] == [
        outputs["isolation_instance_profile_arn"]
    ]
    # and the status tags say so, next to the untouched trigger tag
    tags = tags_of(ec2, app.instance_id)
    assert tags[KEY] == VALUE
    assert tags["SecurityIsolation:Status"] == "Isolated"
    assert tags["SecurityIsolation:IsolationGroup"] == group_id
    assert tags["SecurityIsolation:EventId"] == isolation.event["id"]
    assert datetime.fromisoformat(tags["SecurityIsolation:IsolatedAt"]).tzinfo is not None


def test_only_the_tagged_instance_changes(ec2: EC2Client, app: App, isolation: Isolation) -> None:
    # Given worker-01 in the same VPC and subnet, never tagged; When web-01 is isolated
    # Then worker-01 keeps its groups, has no profile and no status tag
    assert isolation.delivery.invocations[0].ok
    assert eni_groups(ec2, app.sibling_id) == isolation.sibling_groups_before
    assert associations(ec2, app.sibling_id) == []
    assert tags_of(ec2, app.sibling_id) == isolation.sibling_tags_before


def test_the_delivery_ran_the_deployed_code_with_the_deployed_settings(
    session: boto3.session.Session, ec2: EC2Client, app: App, outputs: dict[str, Any], isolation: Isolation
) -> None:
    [invocation] = isolation.delivery.invocations
    configuration = session.client("lambda").get_function_configuration(
        FunctionName=outputs["lambda_function_name"]
    )
    # the code: the bytes the emulator holds (sha256 as it reports it), imported from the extracted zip
    assert invocation.code.sha256 == configuration["CodeSha256"] == code_sha256(invocation.code.data)
    assert invocation.imported_from == "ec2_isolation/handler.py"
    assert invocation.handler == configuration["Handler"] == "ec2_isolation.handler.lambda_handler"
    assert invocation.function_arn == outputs["lambda_function_arn"]
    # the settings: the function's environment, as Terraform set it (the group name, the profile)
    lines = invocation.json_log_lines()
    assert lines, invocation.log_lines
    assert {line["event_id"] for line in lines} == {isolation.event["id"]}
    messages = [line["message"] for line in lines]
    group_id = isolation_group_id(ec2, app, outputs)
    cut = [line for line in lines if line["message"] == "moved interface" and line["group_id"] == group_id]
    assert len(cut) == 2
    assert "swapped instance profile" in messages
    assert messages[-1] == "event handled"


def test_code_whose_sha256_is_not_the_deployed_one_is_never_run(
    session: boto3.session.Session, outputs: dict[str, Any], tmp_path: Path
) -> None:
    # Given a local zip that is not the deployed package (a stale or foreign build)
    other = tmp_path / "ec2_isolation.zip"
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("ec2_isolation/__init__.py", "")
    # When the deployed code is looked for there only, Then it is refused, not run
    with pytest.raises(DeployedCodeUnavailable, match="CodeSha256"):
        fetch_code(session.client("lambda"), outputs["lambda_function_name"], local_packages=[other])


def test_a_failing_invocation_is_reported_as_lambda_would(session: boto3.session.Session) -> None:
    # Given an isolation request for an instance that does not exist
    event = tag_change_event(["i-0000000000000000a"], tags={KEY: VALUE}, changed_keys=[KEY])
    # When it is delivered
    [invocation] = eventbridge.deliver(session, event).invocations
    # Then the invocation fails (EventBridge would retry it) with the handler's error
    assert invocation.function_error == "Unhandled"
    assert invocation.payload["errorType"] == "EventIsolationFailed"
    assert "i-0000000000000000a" in invocation.payload["errorMessage"]
    assert any(line.get("level") == "ERROR" for line in invocation.json_log_lines())


def test_the_functions_own_status_tags_do_not_trigger_it_again(
    session: boto3.session.Session, ec2: EC2Client, app: App, isolation: Isolation
) -> None:
    # Given the tags the function wrote (read from the emulator)
    tags_now = tags_of(ec2, app.instance_id)
    written = sorted(key for key in tags_now if tags_now[key] != isolation.tags_before_delivery.get(key))
    assert written == sorted(STATUS_KEYS)
    # When EventBridge emits the tag-change event of that CreateTags call
    event = tag_change_event([app.instance_id], tags=tags_now, changed_keys=written)
    # Then no rule matches it: no event loop
    assert eventbridge.matching_rules(session, event) == []


def test_a_second_delivery_changes_nothing(
    session: boto3.session.Session, ec2: EC2Client, app: App, isolation: Isolation
) -> None:
    # Given the isolated instance
    assert isolation.delivery.invocations[0].ok
    groups, profiles, tags = (
        eni_groups(ec2, app.instance_id),
        associations(ec2, app.instance_id),
        tags_of(ec2, app.instance_id),
    )
    # When the same tag event is delivered again (EventBridge delivers at least once)
    delivery = eventbridge.deliver(session, isolation.event)
    # Then the function reports it already isolated and nothing changed in the emulator
    [invocation] = delivery.invocations
    assert invocation.ok, invocation.payload
    [result] = invocation.payload["instances"]
    assert result["status"] == "already_isolated"
    assert result["changes"] == []
    assert eni_groups(ec2, app.instance_id) == groups
    assert associations(ec2, app.instance_id) == profiles
    assert tags_of(ec2, app.instance_id) == tags


# ---- destroy (keep last) -----------------------------------------------------------------------------


def test_destroy_removes_everything_of_the_module_but_the_isolation_group(
    emulator: Emulator,
    session: boto3.session.Session,
    ec2: EC2Client,
    app: App,
    deployment: Deployment,
    outputs: dict[str, Any],
    isolation: Isolation,
) -> None:
    # Given the deployed module, which has isolated an instance (so the isolation group exists)
    group_id = isolation_group_id(ec2, app, outputs)
    name = outputs["lambda_function_name"]
    # When it is destroyed
    deployment.destroy()
    # Then Terraform's state is empty
    assert deployment.state_addresses() == []
    # and nothing of the module is left in the emulator
    functions = session.client("lambda").list_functions()["Functions"]
    assert [f["FunctionName"] for f in functions if f["FunctionName"].startswith(name)] == []
    iam = session.client("iam")
    roles = [
        role["RoleName"] for page in iam.get_paginator("list_roles").paginate() for role in page["Roles"]
    ]
    assert [role for role in roles if role.startswith(name)] == []
    profiles = [
        profile["InstanceProfileName"]
        for page in iam.get_paginator("list_instance_profiles").paginate()
        for profile in page["InstanceProfiles"]
    ]
    assert [profile for profile in profiles if profile.startswith(name)] == []
    assert "web-app" in profiles, "the application's own profile is not the module's to remove"
    assert session.client("events").list_rules(NamePrefix=name)["Rules"] == []
    log_groups = session.client("logs").describe_log_groups(logGroupNamePrefix=outputs["log_group_name"])
    assert log_groups["logGroups"] == []
    # the failure path: the dead-letter queue and the alarms
    assert outputs["alarm_names"] and outputs["dead_letter_queue_url"]
    assert session.client("sqs").list_queues(QueueNamePrefix=name).get("QueueUrls", []) == []
    assert session.client("cloudwatch").describe_alarms(AlarmNamePrefix=name)["MetricAlarms"] == []
    # but the isolation group stays: the function created it at run time, Terraform never knew it, and
    # it still holds the isolated instance's ENIs (deleting it is the responders' call, after release)
    assert enis_on_group(ec2, group_id) == set(isolation.groups_before)
    [group] = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
    assert {tag["Key"]: tag["Value"] for tag in group.get("Tags", [])}["SecurityIsolation:ManagedBy"] == name
    assert emulator.running
