"""Specification of the containment-depth steps: connection tracking, credential revocation, evidence,
service removal, their order, their switches and what happens when one of them fails."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import boto3
import pytest

from ec2_isolation.clients import AwsClients
from ec2_isolation.config import Settings
from ec2_isolation.errors import EventIsolationFailed
from ec2_isolation.steps.network import CONNECTION_TRACKING
from tests.fixtures.events import ACCOUNT, REGION, instance_arn, tag_change_event
from tests.fixtures.faults import Fault, inject, record_calls
from tests.unit.conftest import (
    FIXED_NOW,
    Invoke,
    Launch,
    Network,
    desired_capacity,
    eni_groups,
    group_rules,
    groups_named,
    profile_arns,
    tags_of,
    targets,
)

TRANSITION_GROUP = "ec2-isolation-isolation-untrack"


def isolation_group(ec2: Any, vpc_id: str) -> str:
    [group] = groups_named(ec2, "ec2-isolation-isolation", vpc_id)
    group_id: str = group["GroupId"]
    return group_id


def evidence_snapshots(ec2: Any, instance_id: str) -> list[dict[str, Any]]:
    """Snapshots tagged as evidence of ``instance_id`` (moto also lists its AMIs' snapshots)."""
    filters = [{"Name": "tag:SecurityIsolation:SourceInstance", "Values": [instance_id]}]
    snapshots: list[dict[str, Any]] = ec2.describe_snapshots(OwnerIds=["self"], Filters=filters)["Snapshots"]
    return snapshots


def with_switches(settings: Settings, **changes: Any) -> Settings:
    return dataclasses.replace(settings, **changes)


def all_clients(clients: AwsClients) -> tuple[Any, ...]:
    return (clients.ec2, clients.iam, clients.autoscaling, clients.elbv2)


# ---- connection tracking -------------------------------------------------------------------------


class TestConnectionTracking:
    def test_enis_go_through_an_all_traffic_group_before_the_cut(
        self,
        ec2: Any,
        network: Network,
        launch: Launch,
        invoke: Invoke,
        clients: AwsClients,
        sleeps: list[float],
    ) -> None:
        # Given a two-ENI instance
        instance_id = launch(enis=[[network.app_group_id], [network.db_group_id]])
        enis = sorted(eni_groups(ec2, instance_id))
        calls = record_calls(*all_clients(clients))
        # When it is isolated
        invoke(tag_change_event([instance_id]))
        # Then a transition group with every protocol from and to everywhere (IPv4 and IPv6) exists
        [transition] = groups_named(ec2, TRANSITION_GROUP, network.vpc_id)
        rules = {
            (r["IsEgress"], r["IpProtocol"], r.get("CidrIpv4") or r.get("CidrIpv6"))
            for r in group_rules(ec2, transition["GroupId"])
        }
        assert rules == {(e, "-1", cidr) for e in (False, True) for cidr in ("0.0.0.0/0", "::/0")}
        assert {"Key": "SecurityIsolation:ManagedBy", "Value": "ec2-isolation"} in transition["Tags"]
        # and every ENI went there first, had its connection tracking timeouts lowered, then to isolation
        moves = [
            (p["NetworkInterfaceId"], p["SecurityGroupId.1"])
            for p in calls.sent("ModifyNetworkInterfaceAttribute")
            if "SecurityGroupId.1" in p
        ]
        isolation = isolation_group(ec2, network.vpc_id)
        assert sorted(moves[:2]) == [(eni, transition["GroupId"]) for eni in enis]
        assert sorted(moves[2:]) == [(eni, isolation) for eni in enis]
        assert [m[1] for m in moves] == [transition["GroupId"]] * 2 + [isolation] * 2
        timeouts = [
            p
            for p in calls.sent("ModifyNetworkInterfaceAttribute")
            if "ConnectionTrackingSpecification.TcpEstablishedTimeout" in p
        ]
        assert sorted(p["NetworkInterfaceId"] for p in timeouts) == enis
        assert timeouts[0]["ConnectionTrackingSpecification.TcpEstablishedTimeout"] == str(
            CONNECTION_TRACKING["TcpEstablishedTimeout"]
        )
        assert timeouts[0]["ConnectionTrackingSpecification.UdpTimeout"] == "30"
        # and the handler waited (less than the configured wait: the other steps ran inside it)
        assert len(sleeps) == 1 and 0 < sleeps[0] <= 15
        assert eni_groups(ec2, instance_id) == {eni: [isolation] for eni in enis}

    def test_the_other_steps_run_inside_the_wait(
        self,
        ec2: Any,
        network: Network,
        launch: Launch,
        invoke: Invoke,
        clients: AwsClients,
        app_profile_arn: str,
    ) -> None:
        instance_id = launch(profile_arn=app_profile_arn, extra_volumes=1)
        calls = record_calls(*all_clients(clients))
        invoke(tag_change_event([instance_id]))
        operations = calls.operations()
        moves = [i for i, op in enumerate(operations) if op == "ModifyNetworkInterfaceAttribute"]
        first_move, last_move = moves[0], moves[-1]
        for inside in ("ReplaceIamInstanceProfileAssociation", "PutRolePolicy", "CreateSnapshots"):
            assert first_move < operations.index(inside) < last_move, inside

    def test_a_stopped_instance_is_cut_directly_without_an_open_window(
        self,
        ec2: Any,
        network: Network,
        launch: Launch,
        invoke: Invoke,
        clients: AwsClients,
        sleeps: list[float],
    ) -> None:
        instance_id = launch()
        ec2.stop_instances(InstanceIds=[instance_id])
        calls = record_calls(clients.ec2)
        [result] = invoke(tag_change_event([instance_id]))["instances"]
        assert result["status"] == "isolated"
        assert result["steps"]["untrack_connections"] == "not applicable"
        assert sleeps == []
        assert [p["SecurityGroupId.1"] for p in calls.sent("ModifyNetworkInterfaceAttribute")] == [
            isolation_group(ec2, network.vpc_id)
        ]

    def test_switched_off_there_is_no_transition_and_no_wait(
        self,
        ec2: Any,
        network: Network,
        launch: Launch,
        invoke: Invoke,
        settings: Settings,
        clients: AwsClients,
        sleeps: list[float],
    ) -> None:
        instance_id = launch()
        calls = record_calls(clients.ec2)
        invoke(tag_change_event([instance_id]), with_switches(settings, untrack_connections=False))
        assert groups_named(ec2, TRANSITION_GROUP) == []
        assert sleeps == []
        assert len(calls.sent("ModifyNetworkInterfaceAttribute")) == 1
        assert list(eni_groups(ec2, instance_id).values()) == [[isolation_group(ec2, network.vpc_id)]]

    def test_an_interface_without_configurable_tracking_is_reported_not_failed(
        self, ec2: Any, network: Network, launch: Launch, invoke: Invoke, clients: AwsClients
    ) -> None:
        inject(
            clients.ec2,
            Fault(
                "ModifyNetworkInterfaceAttribute",
                "UnsupportedOperation",
                "The instance type does not support connection tracking configuration.",
                when=lambda p: "ConnectionTrackingSpecification.TcpEstablishedTimeout" in p,
            ),
        )
        instance_id = launch()
        summary = invoke(tag_change_event([instance_id]))
        [result] = summary["instances"]
        assert result["status"] == "isolated"
        assert set(result["connection_tracking_timeouts"].values()) == {"unsupported"}

    def test_an_eni_that_cannot_be_cut_is_not_left_on_the_all_traffic_group(
        self, ec2: Any, network: Network, launch: Launch, invoke: Invoke, clients: AwsClients
    ) -> None:
        # Given EC2 refuses to put the second ENI on the isolation group (after the transition move)
        instance_id = launch(enis=[[network.app_group_id], [network.db_group_id]])
        groups = eni_groups(ec2, instance_id)
        second = next(e for e, g in groups.items() if g == [network.db_group_id])

        def to_isolation_group(params: dict[str, str]) -> bool:
            isolation = groups_named(ec2, "ec2-isolation-isolation")
            return (
                params.get("NetworkInterfaceId") == second
                and params.get("SecurityGroupId.1") == isolation[0]["GroupId"]
            )

        inject(
            clients.ec2,
            Fault(
                "ModifyNetworkInterfaceAttribute",
                "RequestLimitExceeded",
                "Request limit exceeded.",
                when=to_isolation_group,
            ),
        )
        with pytest.raises(EventIsolationFailed) as failed:
            invoke(tag_change_event([instance_id]))
        # Then it is back on its own groups, not on the transition group, and the result says so
        assert eni_groups(ec2, instance_id)[second] == [network.db_group_id]
        [result] = failed.value.summary["instances"]
        assert second in result["failures"]["network_interfaces"]
        assert f"put {second} back on {network.db_group_id} (not isolated)" in result["changes"]
        assert result["steps"][f"restore_{second}"] == "ok"


# ---- credential revocation ------------------------------------------------------------------------


class TestCredentialRevocation:
    def test_credentials_delivered_to_the_instance_before_isolation_are_denied_on_its_role(
        self, ec2: Any, iam: Any, launch: Launch, invoke: Invoke, app_profile_arn: str
    ) -> None:
        # Given two instances sharing the web-app role
        compromised = launch(profile_arn=app_profile_arn)
        sibling = launch(profile_arn=app_profile_arn)
        # When one is isolated
        invoke(tag_change_event([compromised]))
        # Then the role denies everything to credentials of that instance issued before the isolation
        policy = iam.get_role_policy(RoleName="web-app", PolicyName=f"ec2-isolation-revoke-{compromised}")
        assert policy["PolicyDocument"] == {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DenyCredentialsOfIsolatedInstance",
                    "Effect": "Deny",
                    "Action": "*",
                    "Resource": "*",
                    "Condition": {
                        "StringEquals": {"ec2:SourceInstanceARN": instance_arn(compromised)},
                        "DateLessThan": {"aws:TokenIssueTime": "2026-11-28T05:13:00Z"},
                    },
                }
            ],
        }
        # and only that instance: the sibling keeps its profile and no policy names it
        assert iam.list_role_policies(RoleName="web-app")["PolicyNames"] == [
            f"ec2-isolation-revoke-{compromised}"
        ]
        assert profile_arns(ec2, sibling) == [app_profile_arn]
        assert tags_of(ec2, compromised)["SecurityIsolation:OriginalInstanceProfile"] == app_profile_arn

    def test_switched_off_no_policy_is_written(
        self, iam: Any, launch: Launch, invoke: Invoke, settings: Settings, app_profile_arn: str
    ) -> None:
        instance_id = launch(profile_arn=app_profile_arn)
        summary = invoke(tag_change_event([instance_id]), with_switches(settings, revoke_credentials=False))
        assert iam.list_role_policies(RoleName="web-app")["PolicyNames"] == []
        assert "credential_revocation" not in summary["instances"][0]["steps"]

    def test_an_instance_without_a_profile_has_nothing_to_revoke(
        self, launch: Launch, invoke: Invoke
    ) -> None:
        [result] = invoke(tag_change_event([launch()]))["instances"]
        assert result["steps"]["credential_revocation"] == "not applicable"
        assert result["status"] == "isolated"

    def test_a_retry_after_the_profile_was_swapped_still_revokes_on_the_original_role(
        self, ec2: Any, iam: Any, launch: Launch, invoke: Invoke, clients: AwsClients, app_profile_arn: str
    ) -> None:
        # Given the first attempt is denied PutRolePolicy (e.g. a permissions boundary)
        instance_id = launch(profile_arn=app_profile_arn)
        denied = inject(
            clients.iam,
            Fault(
                "PutRolePolicy",
                "AccessDenied",
                "User is not authorized to perform: iam:PutRolePolicy",
                status=403,
                times=1,
            ),
        )
        with pytest.raises(EventIsolationFailed) as failed:
            invoke(tag_change_event([instance_id]))
        [first] = failed.value.summary["instances"]
        assert (
            first["steps"]["credential_revocation"] == "failed" and first["steps"]["instance_profile"] == "ok"
        )
        assert len(denied.hits) == 1
        # When the event is retried, with the profile already swapped
        assert profile_arns(ec2, instance_id) != [app_profile_arn]
        [second] = invoke(tag_change_event([instance_id]))["instances"]
        # Then the original role (remembered in a tag before the swap) gets the revocation
        assert second["status"] == "isolated"
        assert iam.list_role_policies(RoleName="web-app")["PolicyNames"] == [
            f"ec2-isolation-revoke-{instance_id}"
        ]


# ---- evidence -------------------------------------------------------------------------------------


class TestEvidence:
    def test_volumes_are_snapshotted_and_the_instance_cannot_lose_them(
        self, ec2: Any, launch: Launch, invoke: Invoke, clients: AwsClients
    ) -> None:
        instance_id = launch(extra_volumes=2)
        calls = record_calls(clients.ec2)
        invoke(tag_change_event([instance_id], event_id="evt-evidence"))
        # one multi-volume call, tagged with the instance, the event and the time
        assert calls.operations().count("CreateSnapshots") == 1
        snapshots = evidence_snapshots(ec2, instance_id)
        volumes = {
            m["Ebs"]["VolumeId"]
            for m in ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0][
                "BlockDeviceMappings"
            ]
        }
        assert {s["VolumeId"] for s in snapshots} == volumes and len(volumes) == 2
        for snapshot in snapshots:
            tags = {t["Key"]: t["Value"] for t in snapshot["Tags"]}
            assert tags["SecurityIsolation:SourceInstance"] == instance_id
            assert tags["SecurityIsolation:EventId"] == "evt-evidence"
            assert tags["SecurityIsolation:IsolatedAt"] == FIXED_NOW
        # termination protection on, volumes kept, shutdown behaviour "stop" requested
        assert (
            ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="disableApiTermination")[
                "DisableApiTermination"
            ]["Value"]
            is True
        )
        mappings = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0][
            "BlockDeviceMappings"
        ]
        assert [m["Ebs"]["DeleteOnTermination"] for m in mappings] == [False, False]
        behaviour = ec2.describe_instance_attribute(
            InstanceId=instance_id, Attribute="instanceInitiatedShutdownBehavior"
        )
        assert behaviour["InstanceInitiatedShutdownBehavior"]["Value"] == "stop"

    def test_shutdown_behaviour_terminate_is_changed_to_stop(
        self, ec2: Any, launch: Launch, invoke: Invoke, clients: AwsClients
    ) -> None:
        # moto accepts the change but does not apply it: the request itself is the evidence here
        instance_id = launch()
        from moto.ec2.models import ec2_backends

        ec2_backends[ACCOUNT][REGION].get_instance(
            instance_id
        ).instance_initiated_shutdown_behavior = "terminate"
        calls = record_calls(clients.ec2)
        invoke(tag_change_event([instance_id]))
        assert {"InstanceId": instance_id, "InstanceInitiatedShutdownBehavior.Value": "stop"}.items() <= next(
            p for p in calls.sent("ModifyInstanceAttribute") if "InstanceInitiatedShutdownBehavior.Value" in p
        ).items()

    def test_a_repeated_event_takes_no_second_snapshot(
        self, ec2: Any, launch: Launch, invoke: Invoke
    ) -> None:
        instance_id = launch(extra_volumes=1)
        invoke(tag_change_event([instance_id], event_id="evt-1"))
        invoke(tag_change_event([instance_id], event_id="evt-2"))
        assert len(evidence_snapshots(ec2, instance_id)) == 1

    def test_switched_off_nothing_is_snapshotted_or_protected(
        self, ec2: Any, launch: Launch, invoke: Invoke, settings: Settings
    ) -> None:
        instance_id = launch(extra_volumes=1)
        invoke(
            tag_change_event([instance_id]),
            with_switches(settings, snapshot_volumes=False, protect_from_termination=False),
        )
        assert evidence_snapshots(ec2, instance_id) == []
        assert (
            ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="disableApiTermination")[
                "DisableApiTermination"
            ]["Value"]
            is False
        )


# ---- service removal ------------------------------------------------------------------------------


class TestServiceRemoval:
    def test_the_whole_fleet_case_is_contained(
        self,
        ec2: Any,
        iam: Any,
        network: Network,
        invoke: Invoke,
        settings: Settings,
        fleet: dict[str, Any],
        app_profile_arn: str,
    ) -> None:
        instance_id = fleet["instance_id"]
        [result] = invoke(tag_change_event([instance_id]))["instances"]
        assert result["status"] == "isolated", result
        # out of the group, without shrinking it; out of both target groups (the other IP stays)
        assert (
            fleet["autoscaling"].describe_auto_scaling_instances(InstanceIds=[instance_id])[
                "AutoScalingInstances"
            ]
            == []
        )
        assert desired_capacity(fleet) == fleet["desired"]
        assert targets(fleet, "by_instance") == set()
        assert targets(fleet, "by_ip") == {fleet["other_ip"]}
        # and everything else happened too
        isolation = isolation_group(ec2, network.vpc_id)
        assert set(map(tuple, eni_groups(ec2, instance_id).values())) == {(isolation,)}
        assert profile_arns(ec2, instance_id) == [settings.isolation_instance_profile_arn]
        assert iam.list_role_policies(RoleName="web-app")["PolicyNames"] == [
            f"ec2-isolation-revoke-{instance_id}"
        ]
        assert len(evidence_snapshots(ec2, instance_id)) == 2
        assert result["steps"] == {
            "auto_scaling": "ok",
            "termination_protection": "ok",
            "isolation_group": "ok",
            "transition_group": "ok",
            "untrack_connections": "ok",
            "connection_tracking_timeouts": "ok",
            "instance_profile": "ok",
            "credential_revocation": "ok",
            "target_groups": "ok",
            "snapshots": "ok",
            "network_interfaces": "ok",
        }

    def test_the_record_holds_the_service_state_before_the_change_read_once(
        self,
        ec2: Any,
        invoke: Invoke,
        settings: Settings,
        clients: AwsClients,
        fleet: dict[str, Any],
        record_table: str,
    ) -> None:
        from ec2_isolation.steps.record import read_record

        instance_id = fleet["instance_id"]
        allocation = ec2.allocate_address(Domain="vpc")
        ec2.associate_address(AllocationId=allocation["AllocationId"], InstanceId=instance_id)
        calls = record_calls(*all_clients(clients))
        invoke(tag_change_event([instance_id]), with_switches(settings, disassociate_elastic_ips=True))
        item = read_record(boto3.client("dynamodb", region_name=REGION), record_table, instance_id)
        assert item is not None
        prior = item["prior"]
        assert prior["auto_scaling"] == {"group": "web", "state": "InService"}
        registrations = {r["target_group_arn"]: r["targets"] for r in prior["target_groups"]}
        assert registrations[fleet["by_instance"]] == [{"Id": instance_id, "Port": 8080}]
        assert [t["Id"] for t in registrations[fleet["by_ip"]]] != [] and fleet["other_ip"] not in {
            t["Id"] for t in registrations[fleet["by_ip"]]
        }
        [address] = prior["elastic_ips"]
        assert (
            address["allocation_id"] == allocation["AllocationId"]
            and address["public_ip"] == allocation["PublicIp"]
        )
        # the target groups were scanned once: the deregistration used what the record read
        assert calls.operations().count("DescribeTargetHealth") == 2
        assert targets(fleet, "by_instance") == set()
        assert instance_id not in {a.get("InstanceId") for a in ec2.describe_addresses()["Addresses"]}

    def test_standby_keeps_the_instance_in_the_group(
        self, invoke: Invoke, settings: Settings, fleet: dict[str, Any]
    ) -> None:
        invoke(
            tag_change_event([fleet["instance_id"]]), with_switches(settings, auto_scaling_action="standby")
        )
        [member] = fleet["autoscaling"].describe_auto_scaling_instances(InstanceIds=[fleet["instance_id"]])[
            "AutoScalingInstances"
        ]
        assert member["LifecycleState"] == "Standby"
        assert desired_capacity(fleet) == fleet["desired"]

    def test_the_capacity_shrinks_only_when_configured(
        self, invoke: Invoke, settings: Settings, fleet: dict[str, Any]
    ) -> None:
        invoke(
            tag_change_event([fleet["instance_id"]]),
            with_switches(settings, auto_scaling_decrement_desired_capacity=True),
        )
        assert desired_capacity(fleet) == fleet["desired"] - 1

    def test_switched_off_the_instance_stays_in_service(
        self, invoke: Invoke, settings: Settings, fleet: dict[str, Any]
    ) -> None:
        invoke(
            tag_change_event([fleet["instance_id"]]),
            with_switches(settings, auto_scaling_action="none", deregister_targets=False),
        )
        [member] = fleet["autoscaling"].describe_auto_scaling_instances(InstanceIds=[fleet["instance_id"]])[
            "AutoScalingInstances"
        ]
        assert member["LifecycleState"] == "InService"
        assert targets(fleet, "by_instance") == {fleet["instance_id"]}

    def test_elastic_ips_are_disassociated_only_when_configured(
        self, ec2: Any, launch: Launch, invoke: Invoke, settings: Settings
    ) -> None:
        kept, removed = launch(), launch()
        for instance_id in (kept, removed):
            allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
            ec2.associate_address(AllocationId=allocation, InstanceId=instance_id)
        invoke(tag_change_event([kept]))
        invoke(tag_change_event([removed]), with_switches(settings, disassociate_elastic_ips=True))
        associated = {a.get("InstanceId") for a in ec2.describe_addresses()["Addresses"]}
        assert kept in associated and removed not in associated


# ---- order and partial failure --------------------------------------------------------------------


class TestOrderAndPartialFailure:
    def test_nothing_can_terminate_the_instance_before_the_network_is_cut(
        self, ec2: Any, network: Network, invoke: Invoke, clients: AwsClients, fleet: dict[str, Any]
    ) -> None:
        calls = record_calls(*all_clients(clients), clients.dynamodb)
        invoke(tag_change_event([fleet["instance_id"]]))
        operations = calls.operations()
        # Out of the Auto Scaling group and protected after the record, beside the transition move (the
        # all-traffic group fails no health check), and before the cut
        isolation = isolation_group(ec2, network.vpc_id)
        cut = next(
            i
            for i, (op, p) in enumerate(zip(operations, calls.params, strict=True))
            if op == "ModifyNetworkInterfaceAttribute" and p.get("SecurityGroupId.1") == isolation
        )
        record = operations.index("PutItem")
        assert record < operations.index("DetachInstances") < cut
        protection = next(i for i, p in enumerate(calls.params) if "DisableApiTermination.Value" in p)
        assert record < protection < cut

    def test_a_failed_step_leaves_the_others_done_and_a_retry_completes(
        self,
        ec2: Any,
        network: Network,
        invoke: Invoke,
        settings: Settings,
        clients: AwsClients,
        fleet: dict[str, Any],
    ) -> None:
        instance_id = fleet["instance_id"]
        denied = inject(
            clients.autoscaling,
            Fault(
                "DetachInstances",
                "AccessDenied",
                "User is not authorized to perform: autoscaling:DetachInstances",
                status=403,
                times=1,
            ),
        )
        # When the Auto Scaling step is denied
        with pytest.raises(EventIsolationFailed) as failed:
            invoke(tag_change_event([instance_id]))
        # Then the invocation fails, says exactly which step failed, and every other step was done
        [result] = failed.value.summary["instances"]
        assert len(denied.hits) == 1
        assert result["steps"]["auto_scaling"] == "failed"
        assert {step: state for step, state in result["steps"].items() if state != "ok"} == {
            "auto_scaling": "failed"
        }
        assert "AccessDenied" in result["failures"]["auto_scaling"]
        isolation = isolation_group(ec2, network.vpc_id)
        assert set(map(tuple, eni_groups(ec2, instance_id).values())) == {(isolation,)}
        assert "SecurityIsolation:Status" not in tags_of(ec2, instance_id)
        # When the event is retried (the Lambda's async retry), it completes
        [retried] = invoke(tag_change_event([instance_id]))["instances"]
        assert retried["status"] == "isolated"
        assert (
            fleet["autoscaling"].describe_auto_scaling_instances(InstanceIds=[instance_id])[
                "AutoScalingInstances"
            ]
            == []
        )
        assert tags_of(ec2, instance_id)["SecurityIsolation:Status"] == "Isolated"

    def test_the_revocation_policy_is_valid_json_for_iam(
        self, launch: Launch, invoke: Invoke, clients: AwsClients, app_profile_arn: str
    ) -> None:
        calls = record_calls(clients.iam)
        invoke(tag_change_event([launch(profile_arn=app_profile_arn)]))
        [put] = calls.sent("PutRolePolicy")
        document = json.loads(put["PolicyDocument"])
        assert document["Statement"][0]["Effect"] == "Deny"
        assert len(put["PolicyDocument"]) < 2048, "IAM inline policies share 10,240 characters per role"
