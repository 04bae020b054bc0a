"""Specification of the release: the same tag, set to the release value, puts back exactly what the record
says the instance had; a release without a record, a repeated release and a stale event change nothing."""

from __future__ import annotations

import dataclasses
from typing import Any

import boto3
import pytest

from ec2_isolation.clients import AwsClients
from ec2_isolation.config import Settings
from ec2_isolation.errors import EventIsolationFailed
from ec2_isolation.steps.record import _to_item, read_record
from tests.fixtures.events import REGION, tag_change_event
from tests.fixtures.faults import Fault, inject, record_calls
from tests.unit.analyst import MUTATING, RELEASE, live_state, request_isolation, request_release
from tests.unit.conftest import (
    FIXED_NOW,
    Invoke,
    Launch,
    Network,
    desired_capacity,
    eni_groups,
    profile_arns,
    tags_of,
    targets,
)


def the_record(instance_id: str, table: str = "ec2-isolation-records") -> dict[str, Any]:
    found = read_record(boto3.client("dynamodb", region_name=REGION), table, instance_id)
    assert found is not None
    return found


def mutations(calls: Any) -> list[str]:
    return [op for op in calls.operations() if op.startswith(MUTATING) and op != "UpdateItem"]


class TestRoundTrip:
    def test_release_puts_back_every_recorded_attribute(
        self, ec2: Any, iam: Any, network: Network, launch: Launch, invoke: Invoke, app_profile_arn: str
    ) -> None:
        # Given a two-ENI instance with a profile, two volumes and an Elastic IP, isolated
        instance_id = launch(
            enis=[[network.app_group_id], [network.db_group_id, network.app_group_id]],
            profile_arn=app_profile_arn,
            extra_volumes=1,
        )
        before = live_state(ec2, instance_id)
        invoke(request_isolation(ec2, instance_id, "evt-isolate"))
        assert live_state(ec2, instance_id) != before
        # When the analyst sets the same tag to Release
        summary = invoke(request_release(ec2, instance_id))
        # Then every recorded attribute is back to its value before the isolation
        [result] = summary["instances"]
        assert summary["action"] == "release"
        assert result["status"] == "released", result
        assert live_state(ec2, instance_id) == before
        assert result["steps"] == {
            "network_interfaces": "ok",
            "instance_profile": "ok",
            "termination_protection": "ok",
            "status_tags": "ok",
        }
        assert f"re-associated instance profile {app_profile_arn}" in result["changes"]
        # and the credential revocation stays (it only denies credentials issued before the isolation)
        assert iam.list_role_policies(RoleName="web-app")["PolicyNames"] == [
            f"ec2-isolation-revoke-{instance_id}"
        ]
        assert any("stays on the original role" in note for note in result["notes"])

    def test_the_status_tags_and_the_record_say_released_and_by_which_event(
        self, ec2: Any, launch: Launch, invoke: Invoke, record_table: str
    ) -> None:
        instance_id = launch()
        invoke(request_isolation(ec2, instance_id, "evt-isolate"))
        invoke(request_release(ec2, instance_id, "evt-release"))
        tags = tags_of(ec2, instance_id)
        assert {k: v for k, v in tags.items() if k.startswith("SecurityIsolation:")} == {
            "SecurityIsolation:Status": "Released",
            "SecurityIsolation:ReleasedAt": FIXED_NOW,
            "SecurityIsolation:ReleaseEventId": "evt-release",
        }
        assert tags["SecurityIsolation"] == "Release", "the analyst's tag is never rewritten"
        record = the_record(instance_id, record_table)
        assert record["status"] == "released"
        assert record["release_event_id"] == "evt-release"
        assert record["released_at"] == FIXED_NOW
        assert [(a["action"], a["event_id"], a["status"]) for a in record["attempts"]] == [
            ("isolate", "evt-isolate", "isolated"),
            ("release", "evt-release", "released"),
        ]
        assert "lock_event_id" not in record

    def test_an_instance_that_had_no_profile_loses_the_isolation_profile(
        self, ec2: Any, launch: Launch, invoke: Invoke
    ) -> None:
        instance_id = launch()
        invoke(request_isolation(ec2, instance_id, "evt-isolate"))
        [result] = invoke(request_release(ec2, instance_id))["instances"]
        assert profile_arns(ec2, instance_id) == []
        assert "removed the isolation profile" in result["changes"]

    def test_the_served_instance_goes_back_into_its_group_and_target_groups(
        self, ec2: Any, invoke: Invoke, fleet: dict[str, Any]
    ) -> None:
        instance_id = fleet["instance_id"]
        by_ip_before = targets(fleet, "by_ip")
        invoke(request_isolation(ec2, instance_id, "evt-isolate"))
        assert targets(fleet, "by_instance") == set()
        [result] = invoke(request_release(ec2, instance_id))["instances"]
        assert result["status"] == "released", result
        members = fleet["autoscaling"].describe_auto_scaling_instances(InstanceIds=[instance_id])
        assert [
            (m["AutoScalingGroupName"], m["LifecycleState"]) for m in members["AutoScalingInstances"]
        ] == [("web", "InService")]
        assert targets(fleet, "by_instance") == {instance_id}
        assert targets(fleet, "by_ip") == by_ip_before
        assert "re-attached to Auto Scaling group web" in result["changes"]

    def test_an_instance_in_standby_comes_out_of_standby(
        self, ec2: Any, invoke: Invoke, settings: Settings, fleet: dict[str, Any]
    ) -> None:
        standby = dataclasses.replace(settings, auto_scaling_action="standby")
        instance_id = fleet["instance_id"]
        capacity = desired_capacity(fleet)
        invoke(request_isolation(ec2, instance_id, "evt-isolate"), standby)
        [result] = invoke(request_release(ec2, instance_id), standby)["instances"]
        members = fleet["autoscaling"].describe_auto_scaling_instances(InstanceIds=[instance_id])
        assert members["AutoScalingInstances"][0]["LifecycleState"] == "InService"
        # the group launched a replacement at the isolation (capacity kept); ExitStandby adds this one back
        # on top, as AWS documents: the group's own scaling policies settle it
        assert desired_capacity(fleet) == capacity + 1
        assert "took out of standby in Auto Scaling group web" in result["changes"]

    def test_elastic_ips_are_associated_again(
        self, ec2: Any, launch: Launch, invoke: Invoke, settings: Settings
    ) -> None:
        with_eips = dataclasses.replace(settings, disassociate_elastic_ips=True)
        instance_id = launch()
        allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
        ec2.associate_address(AllocationId=allocation, InstanceId=instance_id)
        before = live_state(ec2, instance_id)["elastic_ips"]
        invoke(request_isolation(ec2, instance_id, "evt-isolate"), with_eips)
        assert live_state(ec2, instance_id)["elastic_ips"] == []
        invoke(request_release(ec2, instance_id), with_eips)
        assert live_state(ec2, instance_id)["elastic_ips"] == before

    def test_a_changed_shutdown_behaviour_is_set_back(
        self, ec2: Any, launch: Launch, invoke: Invoke, clients: AwsClients, record_table: str
    ) -> None:
        # moto accepts but never applies InstanceInitiatedShutdownBehavior: the record says "terminate"
        # (as AWS would have read it), and the release must ask EC2 for exactly that value.
        instance_id = launch()
        invoke(request_isolation(ec2, instance_id, "evt-isolate"))
        boto3.client("dynamodb", region_name=REGION).update_item(
            TableName=record_table,
            Key=_to_item({"instance_id": instance_id}),
            UpdateExpression="SET #prior.shutdown_behaviour = :terminate",
            ExpressionAttributeNames={"#prior": "prior"},
            ExpressionAttributeValues=_to_item({":terminate": "terminate"}),
        )
        calls = record_calls(clients.ec2)
        [result] = invoke(request_release(ec2, instance_id))["instances"]
        assert {
            p["InstanceInitiatedShutdownBehavior.Value"]
            for p in calls.sent("ModifyInstanceAttribute")
            if "InstanceInitiatedShutdownBehavior.Value" in p
        } == {"terminate"}
        assert "set shutdown behaviour back to terminate" in result["changes"]


class TestNothingToRelease:
    def test_an_instance_never_isolated_is_a_clear_no_op(
        self, ec2: Any, launch: Launch, invoke: Invoke, clients: AwsClients, record_table: str
    ) -> None:
        instance_id = launch()
        before = live_state(ec2, instance_id)
        calls = record_calls(clients.ec2, clients.dynamodb)
        [result] = invoke(request_release(ec2, instance_id))["instances"]
        assert result["status"] == "not_isolated"
        assert "never isolated" in result["reason"]
        assert mutations(calls) == [] and calls.sent("UpdateItem") == []
        assert live_state(ec2, instance_id) == before
        assert read_record(clients.dynamodb, record_table, instance_id) is None

    def test_a_repeated_release_changes_nothing(
        self, ec2: Any, launch: Launch, invoke: Invoke, clients: AwsClients
    ) -> None:
        instance_id = launch()
        invoke(request_isolation(ec2, instance_id, "evt-isolate"))
        invoke(request_release(ec2, instance_id, "evt-release"))
        calls = record_calls(clients.ec2, clients.dynamodb)
        [result] = invoke(tag_change_event([instance_id], tags=RELEASE, event_id="evt-release"))["instances"]
        assert result["status"] == "already_released"
        assert "evt-release" in result["reason"]
        assert mutations(calls) == [] and calls.sent("UpdateItem") == []

    def test_a_release_superseded_by_a_new_isolation_request_does_nothing(
        self, ec2: Any, launch: Launch, invoke: Invoke, clients: AwsClients
    ) -> None:
        # Given an isolated instance whose tag went to Release and back to Isolate before the release ran
        instance_id = launch()
        invoke(request_isolation(ec2, instance_id, "evt-isolate"))
        isolated = live_state(ec2, instance_id)
        stale_release = request_release(ec2, instance_id)
        ec2.create_tags(Resources=[instance_id], Tags=[{"Key": "SecurityIsolation", "Value": "Isolate"}])
        # When the release event arrives, then it stands down: the newer request wins
        calls = record_calls(clients.ec2, clients.dynamodb)
        [result] = invoke(stale_release)["instances"]
        assert result["status"] == "skipped"
        assert "superseded" in result["reason"]
        assert mutations(calls) == [] and calls.sent("UpdateItem") == []
        assert live_state(ec2, instance_id) == isolated


class TestIsolationAfterRelease:
    def test_a_new_isolation_records_a_fresh_prior_state_and_keeps_the_history(
        self, ec2: Any, network: Network, launch: Launch, invoke: Invoke, record_table: str
    ) -> None:
        instance_id = launch()
        invoke(request_isolation(ec2, instance_id, "evt-1"))
        invoke(request_release(ec2, instance_id, "evt-2"))
        # the instance changes while it is in service again
        [eni] = eni_groups(ec2, instance_id)
        ec2.modify_network_interface_attribute(NetworkInterfaceId=eni, Groups=[network.db_group_id])
        changed = live_state(ec2, instance_id)
        [result] = invoke(request_isolation(ec2, instance_id, "evt-3"))["instances"]
        assert result["status"] == "isolated", result
        record = the_record(instance_id, record_table)
        assert record["isolation_event_id"] == "evt-3"
        assert record["prior"]["security_groups"] == {eni: [network.db_group_id]}
        assert [a["event_id"] for a in record["attempts"]] == ["evt-3"]
        [cycle] = record["history"]
        assert (cycle["isolation_event_id"], cycle["release_event_id"], cycle["status"]) == (
            "evt-1",
            "evt-2",
            "released",
        )
        assert cycle["prior"]["security_groups"] == {eni: [network.app_group_id]}
        # the release tags are gone, the isolation tags are new; and a release restores the new prior
        tags = tags_of(ec2, instance_id)
        assert "SecurityIsolation:ReleasedAt" not in tags
        assert tags["SecurityIsolation:EventId"] == "evt-3"
        invoke(request_release(ec2, instance_id, "evt-4"))
        assert live_state(ec2, instance_id) == changed

    def test_a_late_copy_of_the_released_isolation_event_does_not_isolate_again(
        self, ec2: Any, launch: Launch, invoke: Invoke, clients: AwsClients
    ) -> None:
        instance_id = launch()
        first = request_isolation(ec2, instance_id, "evt-1")
        invoke(first)
        invoke(request_release(ec2, instance_id, "evt-2"))
        released = live_state(ec2, instance_id)
        # EventBridge delivers at least once: the same isolation event again, after the release; and the
        # tag was set back to Isolate meanwhile by someone else, so only the record can tell
        ec2.create_tags(Resources=[instance_id], Tags=[{"Key": "SecurityIsolation", "Value": "Isolate"}])
        calls = record_calls(clients.ec2)
        [result] = invoke(first)["instances"]
        assert result["status"] == "skipped"
        assert "released by event evt-2" in result["reason"]
        assert mutations(calls) == []
        assert live_state(ec2, instance_id) == released

    def test_an_isolation_request_superseded_by_a_release_does_nothing(
        self, ec2: Any, launch: Launch, invoke: Invoke, clients: AwsClients
    ) -> None:
        instance_id = launch()
        stale = request_isolation(ec2, instance_id, "evt-1")
        ec2.create_tags(Resources=[instance_id], Tags=[{"Key": "SecurityIsolation", "Value": "Release"}])
        calls = record_calls(clients.ec2, clients.dynamodb)
        [result] = invoke(stale)["instances"]
        assert result["status"] == "skipped" and "superseded" in result["reason"]
        assert mutations(calls) == [] and calls.sent("PutItem") == []


class TestPartialRelease:
    def test_a_profile_changed_by_hand_is_left_and_fails_the_release_after_the_rest(
        self, ec2: Any, iam: Any, launch: Launch, invoke: Invoke, app_profile_arn: str, record_table: str
    ) -> None:
        # Given an isolated instance whose profile someone replaced by hand since
        from tools.fleet import create_instance_profile

        instance_id = launch(profile_arn=app_profile_arn)
        before = live_state(ec2, instance_id)
        invoke(request_isolation(ec2, instance_id, "evt-isolate"))
        forensic = create_instance_profile(iam, "forensics")
        [association] = ec2.describe_iam_instance_profile_associations(
            Filters=[{"Name": "instance-id", "Values": [instance_id]}]
        )["IamInstanceProfileAssociations"]
        ec2.replace_iam_instance_profile_association(
            IamInstanceProfile={"Arn": forensic}, AssociationId=association["AssociationId"]
        )
        # When it is released
        with pytest.raises(EventIsolationFailed) as failed:
            invoke(request_release(ec2, instance_id))
        # Then the rest is restored, the profile is left as the person set it, and nobody is told "released"
        [result] = failed.value.summary["instances"]
        assert result["status"] == "failed"
        assert "changed after the isolation" in result["failures"]["instance_profile"]
        assert result["steps"]["network_interfaces"] == "ok"
        assert live_state(ec2, instance_id)["groups"] == before["groups"]
        assert profile_arns(ec2, instance_id) == [forensic]
        assert tags_of(ec2, instance_id).get("SecurityIsolation:Status") == "Isolated"
        record = the_record(instance_id, record_table)
        assert record["status"] == "release_failed"
        assert record["attempts"][-1]["failures"] == result["failures"]
        assert "lock_event_id" not in record

    def test_an_interface_that_refuses_is_reported_and_a_retry_completes(
        self, ec2: Any, network: Network, launch: Launch, invoke: Invoke, clients: AwsClients
    ) -> None:
        instance_id = launch(enis=[[network.app_group_id], [network.db_group_id]])
        before = live_state(ec2, instance_id)
        invoke(request_isolation(ec2, instance_id, "evt-isolate"))
        secondary = sorted(before["groups"], key=lambda eni: before["groups"][eni] != [network.db_group_id])[
            0
        ]
        fault = inject(
            clients.ec2,
            Fault(
                "ModifyNetworkInterfaceAttribute",
                "InvalidGroup.NotFound",
                "The security group does not exist",
                when=lambda p: p.get("NetworkInterfaceId") == secondary,
                times=1,
            ),
        )
        with pytest.raises(EventIsolationFailed) as failed:
            invoke(request_release(ec2, instance_id, "evt-release"))
        [result] = failed.value.summary["instances"]
        assert secondary in result["failures"]["network_interfaces"]
        assert len(fault.hits) == 1
        # the other ENI is back; the retry of the same event finishes the job
        groups = live_state(ec2, instance_id)["groups"]
        assert [eni for eni in groups if groups[eni] == before["groups"][eni]] != []
        [retried] = invoke(tag_change_event([instance_id], tags=RELEASE, event_id="evt-release"))["instances"]
        assert retried["status"] == "released"
        assert live_state(ec2, instance_id) == before


class TestTheLock:
    def test_a_release_during_a_live_isolation_is_retried_later(
        self, ec2: Any, launch: Launch, invoke: Invoke, clients: AwsClients, record_table: str
    ) -> None:
        instance_id = launch()
        invoke(request_isolation(ec2, instance_id, "evt-isolate"))
        # another invocation holds the record (an isolation in progress)
        boto3.client("dynamodb", region_name=REGION).update_item(
            TableName=record_table,
            Key=_to_item({"instance_id": instance_id}),
            UpdateExpression="SET #s = :isolating, lock_event_id = :other, lock_expires_at = :later",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues=_to_item(
                {":isolating": "isolating", ":other": "evt-other", ":later": 4_102_444_800}
            ),
        )
        calls = record_calls(clients.ec2)
        with pytest.raises(EventIsolationFailed) as failed:
            invoke(request_release(ec2, instance_id))
        [result] = failed.value.summary["instances"]
        assert "RecordBusy" in result["failures"]["release"]
        assert "evt-other" in result["failures"]["release"]
        assert mutations(calls) == []
