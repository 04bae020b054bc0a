"""Specification of the faults the handler survives.

Each fault is injected where AWS would produce it: at botocore's HTTP layer (``SendFault``: inside
botocore's retry loop, so its standard retries see a throttling or 5xx answer as they would see AWS's;
``Fault``: an answer botocore does not retry), or by changing the emulator's state in the middle of a run
(``Hook``). For each, the outcome is one of two: the instance ends fully isolated, or the invocation fails
with a record that says what was done and what was not, and a retry of the same event completes it.
Nothing is lost.
"""

from __future__ import annotations

import dataclasses
import types
from typing import Any

import boto3
import botocore.endpoint
import pytest

from ec2_isolation.clients import MAX_ATTEMPTS, AwsClients
from ec2_isolation.config import Settings
from ec2_isolation.errors import EventIsolationFailed
from ec2_isolation.retry import GROUP_ATTEMPTS, PROFILE_ATTEMPTS
from ec2_isolation.steps.record import read_record
from tests.fixtures.events import REGION, tag_change_event
from tests.fixtures.faults import (
    Fault,
    Hook,
    inject,
    on_call,
    record_calls,
    request_params,
    respond,
    server_error,
    throttling,
)
from tests.unit.analyst import MUTATING, live_state, request_release
from tests.unit.conftest import (
    RECORD_TABLE,
    Invoke,
    Launch,
    Network,
    eni_groups,
    group_rules,
    groups_named,
    profile_arns,
    tags_of,
    targets,
)

EVENT = "evt-fault"
ISOLATION_GROUP = "ec2-isolation-isolation"
TRANSITION_GROUP = "ec2-isolation-isolation-untrack"


@pytest.fixture(autouse=True)
def backoffs(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """botocore's retry backoffs (standard mode), recorded instead of slept."""
    slept: list[float] = []
    monkeypatch.setattr(botocore.endpoint, "time", types.SimpleNamespace(sleep=slept.append))
    return slept


def isolate(invoke: Invoke, instance_id: str, settings: Settings | None = None) -> dict[str, Any]:
    """The analyst's event (always the same id: a retry is the same event) for ``instance_id``."""
    event = tag_change_event([instance_id], event_id=EVENT)
    summary = invoke(event) if settings is None else invoke(event, settings)
    [result] = summary["instances"]
    outcome: dict[str, Any] = result
    return outcome


def isolate_fails(invoke: Invoke, instance_id: str, settings: Settings | None = None) -> dict[str, Any]:
    with pytest.raises(EventIsolationFailed) as failed:
        isolate(invoke, instance_id, settings)
    [result] = failed.value.summary["instances"]
    assert result["status"] == "failed"
    outcome: dict[str, Any] = result
    return outcome


def record_of(instance_id: str) -> dict[str, Any]:
    record = read_record(boto3.client("dynamodb", region_name=REGION), RECORD_TABLE, instance_id)
    assert record is not None
    return record


def the_group(ec2: Any, vpc_id: str, name: str = "ec2-isolation-isolation") -> str:
    [group] = groups_named(ec2, name, vpc_id)
    group_id: str = group["GroupId"]
    return group_id


def assert_fully_isolated(ec2: Any, instance_id: str, vpc_id: str, isolation_profile_arn: str) -> None:
    """Every ENI on exactly the isolation group, the deny-all profile, protected, tagged, recorded."""
    isolation = the_group(ec2, vpc_id)
    assert set(map(tuple, eni_groups(ec2, instance_id).values())) == {(isolation,)}
    assert profile_arns(ec2, instance_id) == [isolation_profile_arn]
    protection = ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="disableApiTermination")
    assert protection["DisableApiTermination"]["Value"] is True
    assert tags_of(ec2, instance_id)["SecurityIsolation:Status"] == "Isolated"
    assert record_of(instance_id)["status"] == "isolated"


def assert_retry_completes(
    ec2: Any, invoke: Invoke, instance_id: str, vpc_id: str, isolation_profile_arn: str
) -> dict[str, Any]:
    """The Lambda's retry of the same event completes the isolation, and the record keeps both attempts."""
    retried = isolate(invoke, instance_id)
    assert retried["status"] == "isolated", retried
    assert_fully_isolated(ec2, instance_id, vpc_id, isolation_profile_arn)
    attempts = record_of(instance_id)["attempts"]
    assert [(a["event_id"], a["status"]) for a in attempts] == [(EVENT, "failed"), (EVENT, "isolated")]
    return retried


def failed_steps(result: dict[str, Any]) -> dict[str, str]:
    return {step: state for step, state in result["steps"].items() if state == "failed"}


def clients_of(clients: AwsClients) -> dict[str, Any]:
    return {
        "ec2": clients.ec2,
        "iam": clients.iam,
        "autoscaling": clients.autoscaling,
        "elbv2": clients.elbv2,
        "dynamodb": clients.dynamodb,
    }


# ---- throttling and 5xx: botocore's standard retries --------------------------------------------------

#: every mutating call of an isolation, by client
MUTATING_CALLS = [
    ("autoscaling", "DetachInstances"),
    ("ec2", "ModifyInstanceAttribute"),
    ("ec2", "CreateSecurityGroup"),
    ("ec2", "RevokeSecurityGroupEgress"),
    ("ec2", "AuthorizeSecurityGroupIngress"),
    ("ec2", "AuthorizeSecurityGroupEgress"),
    ("ec2", "ModifyNetworkInterfaceAttribute"),
    ("ec2", "CreateTags"),
    ("ec2", "ReplaceIamInstanceProfileAssociation"),
    ("iam", "PutRolePolicy"),
    ("elbv2", "DeregisterTargets"),
    ("ec2", "CreateSnapshots"),
    ("dynamodb", "PutItem"),
    ("dynamodb", "UpdateItem"),
]


class TestThrottlingAndServerErrors:
    @pytest.mark.parametrize(("service", "operation"), MUTATING_CALLS, ids=[op for _, op in MUTATING_CALLS])
    def test_a_throttled_mutating_call_is_retried_and_the_isolation_completes(
        self,
        ec2: Any,
        network: Network,
        invoke: Invoke,
        clients: AwsClients,
        fleet: dict[str, Any],
        isolation_profile_arn: str,
        backoffs: list[float],
        service: str,
        operation: str,
    ) -> None:
        # Given AWS throttles the call twice (EC2 RequestLimitExceeded, query Throttling, JSON ThrottlingException)
        throttled = throttling(clients_of(clients)[service], operation, times=2)
        # When the served instance is isolated
        result = isolate(invoke, fleet["instance_id"])
        # Then botocore retried the call with backoff, and one invocation isolated it fully
        assert len(throttled.hits) == 2 and throttled.passed >= 1
        assert len(backoffs) >= 2
        assert result["status"] == "isolated", result["failures"]
        assert_fully_isolated(ec2, fleet["instance_id"], network.vpc_id, isolation_profile_arn)
        assert targets(fleet, "by_instance") == set()

    def test_throttling_beyond_the_attempts_fails_the_step_and_a_retry_completes(
        self,
        ec2: Any,
        network: Network,
        invoke: Invoke,
        clients: AwsClients,
        fleet: dict[str, Any],
        isolation_profile_arn: str,
    ) -> None:
        # Given CreateSnapshots is throttled on every one of botocore's attempts
        throttled = throttling(clients.ec2, "CreateSnapshots", times=MAX_ATTEMPTS)
        # When the instance is isolated
        result = isolate_fails(invoke, fleet["instance_id"])
        # Then botocore gave up after its attempts: the snapshot step failed, every other step was done
        assert len(throttled.hits) == MAX_ATTEMPTS
        assert failed_steps(result) == {"snapshots": "failed"}
        assert "RequestLimitExceeded" in result["failures"]["snapshots"]
        isolation = the_group(ec2, network.vpc_id)
        assert set(map(tuple, eni_groups(ec2, fleet["instance_id"]).values())) == {(isolation,)}
        # and the record says what was done and what was not
        record = record_of(fleet["instance_id"])
        assert record["status"] == "failed"
        [attempt] = record["attempts"]
        assert attempt["steps"]["snapshots"] == "failed" and attempt["steps"]["network_interfaces"] == "ok"
        assert "SecurityIsolation:Status" not in tags_of(ec2, fleet["instance_id"])
        # When the event is retried, it completes
        assert_retry_completes(ec2, invoke, fleet["instance_id"], network.vpc_id, isolation_profile_arn)

    @pytest.mark.parametrize(
        ("service", "operation", "status"),
        [
            ("ec2", "ModifyNetworkInterfaceAttribute", 503),
            ("ec2", "ReplaceIamInstanceProfileAssociation", 500),
            ("iam", "PutRolePolicy", 500),
            ("dynamodb", "UpdateItem", 500),
        ],
    )
    def test_a_5xx_answer_is_retried_and_the_isolation_completes(
        self,
        ec2: Any,
        network: Network,
        launch: Launch,
        invoke: Invoke,
        clients: AwsClients,
        app_profile_arn: str,
        isolation_profile_arn: str,
        service: str,
        operation: str,
        status: int,
    ) -> None:
        instance_id = launch(
            enis=[[network.app_group_id], [network.db_group_id]], profile_arn=app_profile_arn
        )
        failing = server_error(clients_of(clients)[service], operation, times=2, status=status)
        result = isolate(invoke, instance_id)
        assert len(failing.hits) == 2
        assert result["status"] == "isolated", result["failures"]
        assert_fully_isolated(ec2, instance_id, network.vpc_id, isolation_profile_arn)


# ---- eventual consistency: bounded retries in the handler --------------------------------------------

GROUP_NOT_FOUND = "The security group '{group}' does not exist"


class TestEventualConsistency:
    @pytest.mark.parametrize(
        "operation",
        ["RevokeSecurityGroupEgress", "AuthorizeSecurityGroupIngress", "ModifyNetworkInterfaceAttribute"],
    )
    def test_a_group_just_created_and_not_yet_visible_is_waited_for(
        self,
        ec2: Any,
        network: Network,
        launch: Launch,
        invoke: Invoke,
        clients: AwsClients,
        sleeps: list[float],
        isolation_profile_arn: str,
        operation: str,
    ) -> None:
        # Given EC2 does not know the group it just created yet, twice (one ENI: with several, each ENI
        # is moved at the same time and waits on its own)
        instance_id = launch(enis=[[network.app_group_id]])
        missing = inject(
            clients.ec2,
            Fault(operation, "InvalidGroup.NotFound", GROUP_NOT_FOUND.format(group="sg-new"), times=2),
        )
        # When the instance is isolated
        result = isolate(invoke, instance_id)
        # Then the handler waited (0.5 s, then 1 s: bounded, growing) and one invocation isolated it
        assert len(missing.hits) == 2
        assert sleeps[:2] == [0.5, 1.0]
        assert result["status"] == "isolated", result["failures"]
        assert_fully_isolated(ec2, instance_id, network.vpc_id, isolation_profile_arn)

    def test_a_group_that_stays_invisible_fails_its_step_after_bounded_attempts_and_a_retry_completes(
        self,
        ec2: Any,
        network: Network,
        launch: Launch,
        invoke: Invoke,
        clients: AwsClients,
        sleeps: list[float],
        isolation_profile_arn: str,
    ) -> None:
        instance_id = launch(enis=[[network.app_group_id], [network.db_group_id]])
        missing = inject(
            clients.ec2,
            Fault(
                "AuthorizeSecurityGroupIngress",
                "InvalidGroup.NotFound",
                GROUP_NOT_FOUND.format(group="sg-new"),
                times=GROUP_ATTEMPTS,
            ),
        )
        result = isolate_fails(invoke, instance_id)
        # Then it gave up after its attempts: the transition group failed, and the cut still happened
        assert len(missing.hits) == GROUP_ATTEMPTS
        assert sleeps[: GROUP_ATTEMPTS - 1] == [0.5, 1.0, 2.0, 4.0]
        assert failed_steps(result) == {"transition_group": "failed"}
        isolation = the_group(ec2, network.vpc_id)
        assert set(map(tuple, eni_groups(ec2, instance_id).values())) == {(isolation,)}
        assert_retry_completes(ec2, invoke, instance_id, network.vpc_id, isolation_profile_arn)

    @pytest.mark.parametrize(
        ("with_profile", "message"),
        [
            (
                True,
                "Value (arn:aws:iam::123456789012:instance-profile/ec2-isolation-isolation) for parameter "
                "iamInstanceProfile.arn is invalid. Invalid IAM Instance Profile ARN",
            ),
            (
                False,
                "Value (ec2-isolation-isolation) for parameter iamInstanceProfile.name is invalid. "
                "Invalid IAM Instance Profile name",
            ),
            (False, "Instance profile ec2-isolation-isolation has no associated IAM Roles"),
        ],
        ids=["replace-arn", "associate-name", "role-not-propagated"],
    )
    def test_an_instance_profile_iam_has_not_propagated_yet_is_waited_for(
        self,
        ec2: Any,
        network: Network,
        launch: Launch,
        invoke: Invoke,
        clients: AwsClients,
        sleeps: list[float],
        app_profile_arn: str,
        isolation_profile_arn: str,
        with_profile: bool,
        message: str,
    ) -> None:
        instance_id = launch(profile_arn=app_profile_arn if with_profile else None)
        operation = "ReplaceIamInstanceProfileAssociation" if with_profile else "AssociateIamInstanceProfile"
        refused = inject(clients.ec2, Fault(operation, "InvalidParameterValue", message, times=2))
        result = isolate(invoke, instance_id)
        assert len(refused.hits) == 2
        assert sleeps[:2] == [1.0, 2.0]
        assert result["status"] == "isolated", result["failures"]
        assert_fully_isolated(ec2, instance_id, network.vpc_id, isolation_profile_arn)

    def test_a_profile_that_never_propagates_fails_the_swap_after_bounded_attempts_and_a_retry_completes(
        self,
        ec2: Any,
        network: Network,
        launch: Launch,
        invoke: Invoke,
        clients: AwsClients,
        app_profile_arn: str,
        isolation_profile_arn: str,
    ) -> None:
        instance_id = launch(profile_arn=app_profile_arn)
        refused = inject(
            clients.ec2,
            Fault(
                "ReplaceIamInstanceProfileAssociation",
                "InvalidParameterValue",
                "Value (arn) for parameter iamInstanceProfile.arn is invalid. Invalid IAM Instance Profile ARN",
                times=PROFILE_ATTEMPTS,
            ),
        )
        result = isolate_fails(invoke, instance_id)
        assert len(refused.hits) == PROFILE_ATTEMPTS
        assert result["steps"]["instance_profile"] == "failed"
        assert profile_arns(ec2, instance_id) == [app_profile_arn]
        # the network cut is not held up by the profile
        isolation = the_group(ec2, network.vpc_id)
        assert set(map(tuple, eni_groups(ec2, instance_id).values())) == {(isolation,)}
        assert_retry_completes(ec2, invoke, instance_id, network.vpc_id, isolation_profile_arn)

    def test_another_invalid_parameter_is_not_retried(
        self, network: Network, launch: Launch, invoke: Invoke, clients: AwsClients, app_profile_arn: str
    ) -> None:
        instance_id = launch(profile_arn=app_profile_arn)
        refused = inject(
            clients.ec2,
            Fault("ReplaceIamInstanceProfileAssociation", "InvalidParameterValue", "Invalid association id"),
        )
        result = isolate_fails(invoke, instance_id)
        assert len(refused.hits) == 1
        assert "InvalidParameterValue" in result["failures"]["instance_profile"]


# ---- a step denied, quotas -------------------------------------------------------------------------


class NoRulesYet:
    """DescribeSecurityGroupRules as EC2 may answer right after CreateSecurityGroup: the new group's default
    egress rule not visible yet (an empty, well-formed answer), ``times`` times for the isolation group."""

    def __init__(self, times: int) -> None:
        self.times, self.hits = times, 0
        self.group_id: str | None = None

    def __call__(self, model: Any, params: dict[str, Any], **_: Any) -> Any:
        if model.name == "CreateSecurityGroup" or model.name != "DescribeSecurityGroupRules":
            return None
        group = request_params(params).get("Filter.1.Value.1")
        if self.group_id is None or group != self.group_id or self.hits >= self.times:
            return None
        self.hits += 1
        empty = (
            '<DescribeSecurityGroupRulesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">'
            "<requestId>injected</requestId><securityGroupRuleSet/></DescribeSecurityGroupRulesResponse>"
        )
        return respond(model, 200, empty)


def watch_isolation_group(clients: AwsClients, fault: NoRulesYet) -> None:
    """Point ``fault`` at the isolation group as soon as EC2 has created it (the transition group, created
    at the same time, is not the one watched)."""
    emulator = boto3.client("ec2", region_name=REGION)

    def created(http_response: Any, parsed: Any, model: Any, **_: Any) -> None:
        if model.name != "CreateSecurityGroup" or fault.group_id is not None or "GroupId" not in parsed:
            return
        [group] = emulator.describe_security_groups(GroupIds=[parsed["GroupId"]])["SecurityGroups"]
        if group["GroupName"] == ISOLATION_GROUP:
            fault.group_id = parsed["GroupId"]

    clients.ec2.meta.events.register("after-call.ec2.CreateSecurityGroup", created)
    inject(clients.ec2, fault)


class TestNewGroupRules:
    def test_the_default_egress_rule_of_a_new_group_is_awaited_then_revoked(
        self,
        ec2: Any,
        network: Network,
        launch: Launch,
        invoke: Invoke,
        clients: AwsClients,
        sleeps: list[float],
        isolation_profile_arn: str,
    ) -> None:
        # Given EC2 does not show the new isolation group's allow-all egress rule on the first two reads
        instance_id = launch()
        fault = NoRulesYet(times=2)
        watch_isolation_group(clients, fault)
        # When the instance is isolated
        result = isolate(invoke, instance_id)
        # Then the handler read again until it saw the rule (0.5 s, 1 s), revoked it, and isolated
        assert fault.hits == 2
        assert sleeps[:2] == [0.5, 1.0]
        assert result["status"] == "isolated", result["failures"]
        assert group_rules(ec2, the_group(ec2, network.vpc_id)) == []
        assert_fully_isolated(ec2, instance_id, network.vpc_id, isolation_profile_arn)

    def test_a_default_rule_that_never_shows_fails_the_group_and_no_instance_is_cut_onto_it(
        self,
        ec2: Any,
        network: Network,
        launch: Launch,
        invoke: Invoke,
        clients: AwsClients,
        isolation_profile_arn: str,
    ) -> None:
        # Given the new group's rules never show (within the bounded reads)
        instance_id = launch()
        before = eni_groups(ec2, instance_id)
        fault = NoRulesYet(times=GROUP_ATTEMPTS)
        watch_isolation_group(clients, fault)
        # When the instance is isolated, then the group is not trusted: no ENI is cut onto it
        result = isolate_fails(invoke, instance_id)
        assert "cannot be confirmed revoked" in result["failures"]["isolation_group"]
        assert result["failures"]["network_interfaces"] == "not attempted: no isolation group"
        assert eni_groups(ec2, instance_id) == before
        # and the retry, which finds the group, reads and revokes its rule and completes the isolation
        assert_retry_completes(ec2, invoke, instance_id, network.vpc_id, isolation_profile_arn)
        assert group_rules(ec2, the_group(ec2, network.vpc_id)) == []


class TestDeniedAndQuotas:
    def test_an_access_denied_step_leaves_the_others_done_and_a_retry_completes(
        self,
        ec2: Any,
        network: Network,
        invoke: Invoke,
        clients: AwsClients,
        fleet: dict[str, Any],
        isolation_profile_arn: str,
    ) -> None:
        # Given the role may not write the revocation policy (until the grant is fixed)
        inject(
            clients.iam,
            Fault(
                "PutRolePolicy",
                "AccessDenied",
                "User: arn:aws:sts::123456789012:assumed-role/ec2-isolation/ec2-isolation is not authorized "
                "to perform: iam:PutRolePolicy",
                status=403,
                times=1,
            ),
        )
        result = isolate_fails(invoke, fleet["instance_id"])
        assert failed_steps(result) == {"credential_revocation": "failed"}
        assert "AccessDenied" in result["failures"]["credential_revocation"]
        record = record_of(fleet["instance_id"])
        assert record["status"] == "failed"
        assert record["attempts"][0]["failures"] == result["failures"]
        assert_retry_completes(ec2, invoke, fleet["instance_id"], network.vpc_id, isolation_profile_arn)

    def test_no_isolation_group_can_be_created_the_rest_is_done_and_a_retry_completes(
        self,
        ec2: Any,
        network: Network,
        invoke: Invoke,
        clients: AwsClients,
        fleet: dict[str, Any],
        isolation_profile_arn: str,
    ) -> None:
        # Given the VPC is at its security group quota (until one is freed) when the isolation group is made
        inject(
            clients.ec2,
            Fault(
                "CreateSecurityGroup",
                "SecurityGroupLimitExceeded",
                "The maximum number of security groups for VPC 'vpc-1' has been reached.",
                when=lambda params: params["GroupName"] == ISOLATION_GROUP,
                times=1,
            ),
        )
        result = isolate_fails(invoke, fleet["instance_id"])
        # Then no cut is possible without the group, and the result says so; every other step was done
        assert "SecurityGroupLimitExceeded" in result["failures"]["isolation_group"]
        assert result["failures"]["network_interfaces"] == "not attempted: no isolation group"
        assert failed_steps(result) == {"isolation_group": "failed", "network_interfaces": "failed"}
        assert profile_arns(ec2, fleet["instance_id"]) == [isolation_profile_arn]
        assert targets(fleet, "by_instance") == set()
        # and no ENI went onto the transition group (created at the same time as the isolation group, it
        # is only moved onto when there is an isolation group to cut onto)
        [transition] = groups_named(ec2, TRANSITION_GROUP, network.vpc_id)
        assert not [
            eni
            for eni, groups in eni_groups(ec2, fleet["instance_id"]).items()
            if transition["GroupId"] in groups
        ]
        assert record_of(fleet["instance_id"])["attempts"][0]["steps"]["isolation_group"] == "failed"
        assert_retry_completes(ec2, invoke, fleet["instance_id"], network.vpc_id, isolation_profile_arn)

    def test_no_transition_group_can_be_created_the_cut_still_happens_and_a_retry_completes(
        self,
        ec2: Any,
        network: Network,
        launch: Launch,
        invoke: Invoke,
        clients: AwsClients,
        isolation_profile_arn: str,
    ) -> None:
        instance_id = launch(enis=[[network.app_group_id], [network.db_group_id]])
        inject(
            clients.ec2,
            Fault(
                "CreateSecurityGroup",
                "SecurityGroupLimitExceeded",
                "The maximum number of security groups for VPC 'vpc-1' has been reached.",
                when=lambda params: params["GroupName"] == TRANSITION_GROUP,
                times=1,
            ),
        )
        result = isolate_fails(invoke, instance_id)
        assert failed_steps(result) == {"transition_group": "failed"}
        # the cut does not wait for the transition: every ENI is on the isolation group
        isolation = the_group(ec2, network.vpc_id)
        assert set(map(tuple, eni_groups(ec2, instance_id).values())) == {(isolation,)}
        assert_retry_completes(ec2, invoke, instance_id, network.vpc_id, isolation_profile_arn)

    def test_the_snapshot_quota_fails_the_evidence_step_only_and_a_retry_takes_them(
        self,
        ec2: Any,
        network: Network,
        launch: Launch,
        invoke: Invoke,
        clients: AwsClients,
        isolation_profile_arn: str,
    ) -> None:
        instance_id = launch(extra_volumes=1)
        inject(
            clients.ec2,
            Fault(
                "CreateSnapshots",
                "SnapshotLimitExceeded",
                "The maximum number of snapshots has been reached.",
                times=1,
            ),
        )
        result = isolate_fails(invoke, instance_id)
        assert failed_steps(result) == {"snapshots": "failed"}
        assert "SnapshotLimitExceeded" in result["failures"]["snapshots"]
        isolation = the_group(ec2, network.vpc_id)
        assert set(map(tuple, eni_groups(ec2, instance_id).values())) == {(isolation,)}
        retried = assert_retry_completes(ec2, invoke, instance_id, network.vpc_id, isolation_profile_arn)
        assert retried["snapshot_ids"] and retried["steps"]["snapshots"] == "ok"


# ---- the world changes mid-run ----------------------------------------------------------------------


class TestChangesMidRun:
    def test_an_instance_that_already_left_its_auto_scaling_group_is_not_a_failure(
        self,
        ec2: Any,
        network: Network,
        invoke: Invoke,
        clients: AwsClients,
        fleet: dict[str, Any],
        isolation_profile_arn: str,
    ) -> None:
        instance_id = fleet["instance_id"]

        def someone_detaches_it(_params: dict[str, str]) -> None:
            fleet["autoscaling"].detach_instances(
                InstanceIds=[instance_id], AutoScalingGroupName="web", ShouldDecrementDesiredCapacity=False
            )

        # Given the instance leaves its group between the membership read and the detach (as AWS answers)
        inject(
            clients.autoscaling,
            Fault(
                "DetachInstances",
                "ValidationError",
                f"The instance {instance_id} is not part of Auto Scaling group web.",
                before=someone_detaches_it,
            ),
        )
        result = isolate(invoke, instance_id)
        # Then the step is done (the group can no longer act on the instance), and it is isolated
        assert result["status"] == "isolated"
        assert result["steps"]["auto_scaling"] == "ok"
        assert result["auto_scaling"]["changed"] is False and "already out" in result["auto_scaling"]["note"]
        assert (
            fleet["autoscaling"].describe_auto_scaling_instances(InstanceIds=[instance_id])[
                "AutoScalingInstances"
            ]
            == []
        )
        assert_fully_isolated(ec2, instance_id, network.vpc_id, isolation_profile_arn)

    def test_an_eni_detached_mid_run_goes_back_on_its_groups_and_the_instance_is_isolated(
        self,
        ec2: Any,
        network: Network,
        launch: Launch,
        invoke: Invoke,
        clients: AwsClients,
        isolation_profile_arn: str,
    ) -> None:
        instance_id = launch(enis=[[network.app_group_id], [network.db_group_id]])
        instance = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
        secondary = next(n for n in instance["NetworkInterfaces"] if n["Attachment"]["DeviceIndex"] == 1)

        def detach(_params: dict[str, str]) -> None:
            ec2.detach_network_interface(AttachmentId=secondary["Attachment"]["AttachmentId"])

        # Given the secondary ENI is detached while the isolation runs (after it went to the transition group)
        on_call(clients.ec2, Hook("CreateSnapshots", detach))
        result = isolate(invoke, instance_id)
        # Then every ENI the instance still has is cut, and the detached one is back on its own groups,
        # never left on the all-traffic transition group; the result names it
        eni = secondary["NetworkInterfaceId"]
        assert result["status"] == "isolated"
        assert result["detached_interfaces"] == [eni]
        assert any(eni in c and "detached" in c for c in result["changes"])
        [now] = ec2.describe_network_interfaces(NetworkInterfaceIds=[eni])["NetworkInterfaces"]
        assert [g["GroupId"] for g in now["Groups"]] == [network.db_group_id]
        assert_fully_isolated(ec2, instance_id, network.vpc_id, isolation_profile_arn)

    def test_an_instance_terminated_mid_run_is_said_plainly_and_the_retry_stands_down(
        self,
        ec2: Any,
        network: Network,
        launch: Launch,
        invoke: Invoke,
        clients: AwsClients,
    ) -> None:
        instance_id = launch(enis=[[network.app_group_id], [network.db_group_id]], extra_volumes=1)
        terminated: list[bool] = []

        def terminate(_params: dict[str, str]) -> None:
            ec2.terminate_instances(InstanceIds=[instance_id])
            terminated.append(True)

        # Given the instance is terminated right after the record is written (before it is protected);
        # EC2 then refuses every change to it (moto would accept them: the answers are AWS's)
        on_call(clients.dynamodb, Hook("PutItem", terminate))
        gone = f"The instance '{instance_id}' is not in a state from which it can be modified."
        for operation in (
            "ModifyInstanceAttribute",
            "ModifyNetworkInterfaceAttribute",
            "AssociateIamInstanceProfile",
            "CreateSnapshots",
        ):
            inject(
                clients.ec2,
                Fault(operation, "IncorrectInstanceState", gone, when=lambda _p: bool(terminated)),
            )
        result = isolate_fails(invoke, instance_id)
        # Then the result says first that the instance was terminated, then what failed because of it
        assert next(iter(result["failures"])) == "instance"
        assert "terminated during the isolation" in result["failures"]["instance"]
        assert result["reason"] == result["failures"]["instance"]
        assert result["state"] in ("shutting-down", "terminated")
        # and no interface is left on the all-traffic transition group
        [transition] = groups_named(ec2, TRANSITION_GROUP, network.vpc_id)
        assert not {
            e
            for e in eni_groups(ec2, instance_id)
            if transition["GroupId"] in eni_groups(ec2, instance_id)[e]
        }
        record = record_of(instance_id)
        assert record["status"] == "failed" and "instance" in record["attempts"][0]["failures"]
        # When the event is retried, there is nothing left to contain: it stands down, clearly
        retried = isolate(invoke, instance_id)
        assert retried["status"] == "skipped" and "terminated" in retried["reason"]


# ---- the record: a concurrent writer ----------------------------------------------------------------


class TestRecordConflicts:
    def test_a_concurrent_writer_that_wins_the_takeover_makes_this_invocation_stand_down(
        self,
        ec2: Any,
        network: Network,
        launch: Launch,
        invoke: Invoke,
        clients: AwsClients,
        app_profile_arn: str,
    ) -> None:
        instance_id = launch(profile_arn=app_profile_arn)
        # Given a first attempt failed (its record is there, unlocked)
        inject(clients.iam, Fault("PutRolePolicy", "AccessDenied", "not authorized", status=403, times=1))
        isolate_fails(invoke, instance_id)
        dynamodb = boto3.client("dynamodb", region_name=REGION)

        def another_invocation_takes_it(_params: dict[str, str]) -> None:
            dynamodb.update_item(
                TableName=RECORD_TABLE,
                Key={"instance_id": {"S": instance_id}},
                UpdateExpression="SET lock_event_id = :e, lock_expires_at = :x, version = version + :one",
                ExpressionAttributeValues={
                    ":e": {"S": "evt-other"},
                    ":x": {"N": "4102444800"},
                    ":one": {"N": "1"},
                },
            )

        # When the retry's conditional takeover loses to a concurrent writer
        lost = inject(
            clients.dynamodb,
            Fault(
                "UpdateItem",
                "ConditionalCheckFailedException",
                "The conditional request failed",
                when=lambda params: "#status = :isolating" in params.get("UpdateExpression", ""),
                before=another_invocation_takes_it,
                times=1,
            ),
        )
        calls = record_calls(clients.ec2, clients.iam, clients.autoscaling, clients.elbv2)
        result = isolate(invoke, instance_id)
        # Then it stands down (not a failure: the winner is isolating) and changes nothing
        assert len(lost.hits) == 1
        assert result["status"] == "in_progress"
        assert not [op for op in calls.operations() if op.startswith(MUTATING)]
        assert record_of(instance_id)["lock_event_id"] == "evt-other"

    def test_an_attempt_whose_lock_was_taken_over_fails_plainly_and_nothing_is_done_twice(
        self,
        ec2: Any,
        network: Network,
        launch: Launch,
        invoke: Invoke,
        clients: AwsClients,
        isolation_profile_arn: str,
    ) -> None:
        instance_id = launch()
        dynamodb = boto3.client("dynamodb", region_name=REGION)

        def lock(event: str) -> None:
            dynamodb.update_item(
                TableName=RECORD_TABLE,
                Key={"instance_id": {"S": instance_id}},
                UpdateExpression="SET lock_event_id = :e",
                ExpressionAttributeValues={":e": {"S": event}},
            )

        # Given another invocation takes the record over just before this one appends its outcome
        inject(
            clients.dynamodb,
            Fault(
                "UpdateItem",
                "ConditionalCheckFailedException",
                "The conditional request failed",
                when=lambda params: "REMOVE lock_event_id" in params.get("UpdateExpression", ""),
                before=lambda _params: lock("evt-other"),
                times=1,
            ),
        )
        with pytest.raises(EventIsolationFailed) as failed:
            isolate(invoke, instance_id)
        # Then the invocation fails and says why; the isolation itself stands
        [result] = failed.value.summary["instances"]
        assert "RecordBusy" in result["failures"]["isolation"]
        assert "taken over by another invocation" in result["failures"]["isolation"]
        isolation = the_group(ec2, network.vpc_id)
        assert set(map(tuple, eni_groups(ec2, instance_id).values())) == {(isolation,)}
        # When the other invocation has finished and the event is retried, nothing is done twice
        dynamodb.update_item(
            TableName=RECORD_TABLE,
            Key={"instance_id": {"S": instance_id}},
            UpdateExpression="REMOVE lock_event_id, lock_expires_at",
        )
        calls = record_calls(clients.ec2, clients.iam)
        retried = isolate(invoke, instance_id)
        assert retried["status"] == "already_isolated"
        assert not [op for op in calls.operations() if op.startswith(MUTATING)]
        assert_fully_isolated(ec2, instance_id, network.vpc_id, isolation_profile_arn)
        assert [a["status"] for a in record_of(instance_id)["attempts"]] == ["already_isolated"]


# ---- announcements ----------------------------------------------------------------------------------


class TestAnnouncements:
    def test_with_sns_down_the_isolation_stands_the_invocation_fails_and_the_retry_announces_it(
        self,
        ec2: Any,
        network: Network,
        launch: Launch,
        invoke: Invoke,
        settings: Settings,
        clients: AwsClients,
        isolation_profile_arn: str,
    ) -> None:
        topic_arn = boto3.client("sns", region_name=REGION).create_topic(Name="ec2-isolation")["TopicArn"]
        announcing = dataclasses.replace(settings, sns_topic_arn=topic_arn)
        instance_id = launch()
        # Given SNS answers 500 to every one of botocore's attempts
        down = server_error(clients.sns, "Publish", times=MAX_ATTEMPTS, status=500)
        event = tag_change_event([instance_id], event_id=EVENT)
        with pytest.raises(EventIsolationFailed) as failed:
            invoke(event, announcing)
        # Then the isolation stands, and the invocation fails because it was not announced
        summary = failed.value.summary
        assert len(down.hits) == MAX_ATTEMPTS
        assert summary["instances"][0]["status"] == "isolated"
        assert "SNS summary" in summary["notification_failures"][instance_id]
        assert_fully_isolated(ec2, instance_id, network.vpc_id, isolation_profile_arn)
        # When the event is retried, the outcome is announced (and nothing changes)
        [retried] = invoke(event, announcing)["instances"]
        assert retried["status"] == "already_isolated"
        assert "sns_message_id" in retried["announced"]


# ---- release ----------------------------------------------------------------------------------------


class TestReleaseFaults:
    def test_a_throttled_release_is_retried_by_botocore_and_completes(
        self,
        ec2: Any,
        network: Network,
        launch: Launch,
        invoke: Invoke,
        clients: AwsClients,
        app_profile_arn: str,
    ) -> None:
        instance_id = launch(
            enis=[[network.app_group_id], [network.db_group_id]], profile_arn=app_profile_arn
        )
        before = live_state(ec2, instance_id)
        isolate(invoke, instance_id)
        throttled = throttling(clients.ec2, "ModifyNetworkInterfaceAttribute", times=2)
        [released] = invoke(request_release(ec2, instance_id))["instances"]
        assert len(throttled.hits) == 2
        assert released["status"] == "released"
        assert live_state(ec2, instance_id) == before

    def test_a_release_step_that_stays_throttled_fails_and_a_retry_completes_the_release(
        self,
        ec2: Any,
        network: Network,
        launch: Launch,
        invoke: Invoke,
        clients: AwsClients,
        app_profile_arn: str,
    ) -> None:
        instance_id = launch(
            enis=[[network.app_group_id], [network.db_group_id]], profile_arn=app_profile_arn
        )
        before = live_state(ec2, instance_id)
        isolate(invoke, instance_id)
        throttling(clients.ec2, "ReplaceIamInstanceProfileAssociation", times=MAX_ATTEMPTS)
        event = request_release(ec2, instance_id)
        with pytest.raises(EventIsolationFailed) as failed:
            invoke(event)
        [result] = failed.value.summary["instances"]
        assert {s for s, state in result["steps"].items() if state == "failed"} == {"instance_profile"}
        assert record_of(instance_id)["status"] == "release_failed"
        # the network part of the release is done already
        assert eni_groups(ec2, instance_id) == before["groups"]
        [retried] = invoke(event)["instances"]
        assert retried["status"] == "released"
        assert live_state(ec2, instance_id) == before
        assert record_of(instance_id)["status"] == "released"
