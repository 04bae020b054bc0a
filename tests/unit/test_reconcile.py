"""Specification of the reconciler: whatever happened to the events, every tagged instance converges to
what its trigger tag asks for, every divergence is repaired and reported, and nothing is released without
the release value.

Each spec runs the schedule's round the way EventBridge and the Lambda service would (the schedule's event,
then the reconcile queue's messages one by one: the sweeps, then the converges they queue) and asserts on
the emulator's state."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.config import Config

from ec2_isolation.clients import AwsClients
from ec2_isolation.config import Settings
from ec2_isolation.errors import InvalidEvent
from ec2_isolation.steps.record import begin_isolation, read_record
from tests.fixtures.events import ACCOUNT, REGION, tag_change_event
from tests.fixtures.faults import record_calls, throttling
from tests.fixtures.iam_calls import record_on
from tests.unit.conftest import (
    FIXED_NOW,
    RECORD_TABLE,
    Invoke,
    Launch,
    Network,
    eni_groups,
    group_rules,
    groups_named,
    profile_arns,
    tags_of,
)
from tests.unit.reconciler import FULL_RULE_ARN, FUNCTION_ROLE_ARN, RULE_ARN, Reconciler, delayed, queue

ISOLATION_GROUP = "ec2-isolation-isolation"
NOW = datetime.fromisoformat(FIXED_NOW)
EVENT_SOURCE = "ec2-isolation"
#: the calls that change something (a steady state makes none of them)
READ_PREFIXES = ("Describe", "Get", "List", "Scan", "Query", "ReceiveMessage")


@pytest.fixture(autouse=True)
def info_logs(caplog: pytest.LogCaptureFixture) -> None:
    """The function's INFO lines (its metric lines among them) are kept for the specs to read."""
    caplog.set_level("INFO", logger="ec2_isolation")


@pytest.fixture
def rsettings(settings: Settings) -> Settings:
    """The function as the module deploys it, with its reconcile queue and schedules."""
    return dataclasses.replace(
        settings,
        reconcile_queue_url=queue(),
        reconcile_rule_arn=RULE_ARN,
        reconcile_full_rule_arn=FULL_RULE_ARN,
        reconcile_on_api_calls=True,
        function_role_arn=FUNCTION_ROLE_ARN,
        result_event_source=EVENT_SOURCE,
    )


@pytest.fixture
def readers() -> AwsClients:
    """The sweep's reading clients, without retries (so that a throttled sweep yields at once here)."""
    readers = AwsClients(config=Config(retries={"mode": "standard", "total_max_attempts": 1}))
    for client in (readers.ec2, readers.autoscaling, readers.elbv2, readers.dynamodb):
        record_on(client)
    return readers


@pytest.fixture
def reconciler(
    rsettings: Settings, clients: AwsClients, readers: AwsClients, sleeps: list[float]
) -> Reconciler:
    record_on(clients.sqs)
    return Reconciler.of(rsettings, clients, readers, sleeps, NOW)


@pytest.fixture
def result_events() -> list[dict[str, Any]]:
    """The result events the function puts on the default bus (an SQS queue is their target)."""
    sqs, events = boto3.client("sqs", region_name=REGION), boto3.client("events", region_name=REGION)
    url = sqs.create_queue(QueueName="result-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="results", EventPattern=json.dumps({"source": [EVENT_SOURCE]}))
    events.put_targets(Rule="results", Targets=[{"Id": "q", "Arn": arn}])
    received: list[dict[str, Any]] = []

    class Reader(list[dict[str, Any]]):
        def read(self) -> list[dict[str, Any]]:
            while True:
                answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
                messages = answer.get("Messages", [])
                if not messages:
                    return list(self)
                for message in messages:
                    self.append(json.loads(message["Body"]))
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    return Reader(received)


def isolate(invoke: Invoke, instance_id: str, settings: Settings) -> dict[str, Any]:
    """The analyst's tag, and its event delivered: the instance is isolated the ordinary way."""
    tag(boto3.client("ec2", region_name=REGION), instance_id, "Isolate")
    summary = invoke(
        tag_change_event([instance_id], tags={"SecurityIsolation": "Isolate"}, event_id=f"evt-{instance_id}"),
        settings=settings,
    )
    assert summary["instances"][0]["status"] == "isolated", summary
    return summary


def tag(ec2: Any, instance_id: str, value: str | None) -> None:
    """The trigger tag set (or removed) without its event reaching the function: a lost event."""
    if value is None:
        ec2.delete_tags(Resources=[instance_id], Tags=[{"Key": "SecurityIsolation"}])
    else:
        ec2.create_tags(Resources=[instance_id], Tags=[{"Key": "SecurityIsolation", "Value": value}])


def move_back(ec2: Any, instance_id: str, group_id: str) -> str:
    """Someone puts the instance's one ENI back on ``group_id``; the ENI's id."""
    (eni,) = eni_groups(ec2, instance_id)
    ec2.modify_network_interface_attribute(NetworkInterfaceId=eni, Groups=[group_id])
    return eni


def replace_profile(ec2: Any, instance_id: str, profile_arn: str) -> str:
    """Someone puts ``profile_arn`` on the instance in place of the one it has; the new association's id."""
    (association,) = ec2.describe_iam_instance_profile_associations(
        Filters=[{"Name": "instance-id", "Values": [instance_id]}]
    )["IamInstanceProfileAssociations"]
    replaced = ec2.replace_iam_instance_profile_association(
        IamInstanceProfile={"Arn": profile_arn}, AssociationId=association["AssociationId"]
    )
    return str(replaced["IamInstanceProfileAssociation"]["AssociationId"])


def setup_dynamodb() -> Any:
    """A client of the record table for a spec's own setup (not the function's: its calls are recorded)."""
    return boto3.client("dynamodb", region_name=REGION)


def record(instance_id: str) -> dict[str, Any]:
    found = read_record(boto3.client("dynamodb", region_name=REGION), RECORD_TABLE, instance_id)
    assert found is not None
    return found


def isolation_group(ec2: Any, network: Network) -> str:
    (group,) = groups_named(ec2, ISOLATION_GROUP, network.vpc_id)
    return str(group["GroupId"])


def assert_isolated(ec2: Any, instance_id: str, network: Network, profile_arn: str) -> None:
    group = isolation_group(ec2, network)
    groups = eni_groups(ec2, instance_id)
    assert groups and all(g == [group] for g in groups.values()), groups
    assert profile_arns(ec2, instance_id) == [profile_arn]


def detail_types(result_events: Any) -> list[str]:
    return [e["detail-type"] for e in result_events.read()]


# ---- a round --------------------------------------------------------------------------------------------


class TestRound:
    def test_a_schedule_sends_one_sweep_per_served_account_and_region_with_its_open_records(
        self, reconciler: Reconciler, invoke: Invoke, launch: Launch, rsettings: Settings
    ) -> None:
        # Given an isolated instance, and a function that also sweeps a member account in two regions
        instance_id = launch()
        isolate(invoke, instance_id, rsettings)
        member = "210987654321"
        reconciler.settings = dataclasses.replace(
            rsettings,
            member_account_ids=frozenset({member}),
            executor_role_name="ec2-isolation-executor",
            reconcile_regions=(REGION, "eu-west-1"),
        )
        # When the frequent schedule fires
        summary = reconciler.schedule()
        # Then one sweep per served account and region is queued (the function's own account only in its
        # own region: it does not serve its other regions), the open record with its own
        assert summary["sweeps"] == [f"{ACCOUNT}/{REGION}", f"{member}/eu-west-1", f"{member}/{REGION}"]
        messages = {(m["account"], m["region"]): m for m in reconciler.messages()}
        assert set(messages) == {(ACCOUNT, REGION), (member, "eu-west-1"), (member, REGION)}
        own = messages[(ACCOUNT, REGION)]
        assert own["kind"] == "ec2-isolation.sweep" and own["mode"] == "sweep"
        assert [r["instance_id"] for r in own["records"]] == [instance_id]
        assert own["records"][0]["status"] == "isolated"
        assert messages[(member, REGION)]["records"] == []

    def test_the_full_schedule_starts_a_full_check_and_another_rule_is_refused(
        self, reconciler: Reconciler
    ) -> None:
        assert reconciler.schedule(full=True)["mode"] == "full"
        other = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/someone-elses"
        from tests.unit.reconciler import scheduled_event

        with pytest.raises(InvalidEvent, match="not from this function's reconcile schedules"):
            reconciler.invoke(scheduled_event(other))


class TestManyRecords:
    def test_a_scope_with_more_open_records_than_a_message_holds_reads_them_itself(
        self,
        reconciler: Reconciler,
        ec2: Any,
        launch: Launch,
        network: Network,
        isolation_profile_arn: str,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        from ec2_isolation import reconcile

        # Given an isolated instance (an open record) that drifted, and messages too small to carry it
        instance_id = launch()
        tag(ec2, instance_id, "Isolate")
        reconciler.round()
        move_back(ec2, instance_id, network.app_group_id)
        monkeypatch.setattr(reconcile, "MAX_RECORDS_BYTES", 10)
        reconciler.results.clear()
        # When a round runs
        reconciler.schedule(event_id="sweep-3")
        (message,) = reconciler.messages()
        reconciler.pump()
        # Then the sweep message carries no records, the sweep scans for them, and the instance converges
        assert message["records"] is None
        (sweep,) = reconciler.sweeps()
        assert sweep["calls"]["dynamodb:Scan"] >= 1
        assert_isolated(ec2, instance_id, network, isolation_profile_arn)


# ---- lost events: caught up ------------------------------------------------------------------------------


class TestCatchUp:
    def test_an_instance_whose_isolation_event_was_lost_is_isolated_by_the_next_sweep(
        self,
        reconciler: Reconciler,
        ec2: Any,
        launch: Launch,
        network: Network,
        isolation_profile_arn: str,
        app_profile_arn: str,
        result_events: Any,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        # Given an instance tagged for isolation whose event never reached the function (or that carried
        # the tag before the module was deployed)
        instance_id = launch(profile_arn=app_profile_arn)
        tag(ec2, instance_id, "Isolate")
        # When the schedule's round runs
        reconciler.round()
        # Then the instance is isolated with the same steps and the same record as by its event
        assert_isolated(ec2, instance_id, network, isolation_profile_arn)
        assert tags_of(ec2, instance_id)["SecurityIsolation:Status"] == "Isolated"
        found = record(instance_id)
        assert found["status"] == "isolated"
        (attempt,) = found["attempts"]
        assert attempt["action"] == "isolate"
        assert attempt["trigger"]["type"] == "reconcile"
        assert "its event was lost" in attempt["trigger"]["reason"]
        # and it is announced as caught up, and counted
        assert "EC2 Isolation Caught Up" in detail_types(result_events)
        assert {"CaughtUp": 1}.items() <= metric_lines_of(caplog)[0].items()

    def test_a_failed_isolation_is_tried_again(
        self,
        reconciler: Reconciler,
        ec2: Any,
        launch: Launch,
        network: Network,
        isolation_profile_arn: str,
        rsettings: Settings,
        clients: AwsClients,
    ) -> None:
        # Given an isolation that failed (its record says so) and whose retries are spent
        instance_id = launch()
        tag(ec2, instance_id, "Isolate")
        begin_isolation(
            setup_dynamodb(),
            RECORD_TABLE,
            instance_id=instance_id,
            event_id="evt-old",
            prior={"security_groups": {}},
            now=NOW - timedelta(hours=2),
            lock_seconds=60,
        )
        setup_dynamodb().update_item(
            TableName=RECORD_TABLE,
            Key={"instance_id": {"S": instance_id}},
            UpdateExpression="SET #s = :failed REMOVE lock_event_id, lock_expires_at",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":failed": {"S": "failed"}},
        )
        # When the round runs
        reconciler.round()
        # Then the isolation runs again and completes
        assert_isolated(ec2, instance_id, network, isolation_profile_arn)
        found = record(instance_id)
        assert found["status"] == "isolated"
        assert found["attempts"][-1]["trigger"]["reason"] == "the last isolation attempt failed"

    def test_a_lost_release_is_run(
        self,
        reconciler: Reconciler,
        invoke: Invoke,
        ec2: Any,
        launch: Launch,
        network: Network,
        app_profile_arn: str,
        rsettings: Settings,
        result_events: Any,
    ) -> None:
        # Given an isolated instance whose tag now says Release, but the release event was lost
        instance_id = launch(profile_arn=app_profile_arn)
        isolate(invoke, instance_id, rsettings)
        tag(ec2, instance_id, "Release")
        # When the round runs
        reconciler.round()
        # Then the instance is released: its groups and profile back
        assert set(map(tuple, eni_groups(ec2, instance_id).values())) == {(network.app_group_id,)}
        assert profile_arns(ec2, instance_id) == [app_profile_arn]
        found = record(instance_id)
        assert found["status"] == "released"
        assert found["attempts"][-1]["action"] == "release"
        assert found["attempts"][-1]["trigger"]["type"] == "reconcile"
        assert "EC2 Isolation Caught Up" in detail_types(result_events)


def metric_lines_of(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """The metric lines (Embedded Metric Format) the function logged, in order."""
    return [r.__dict__["fields"] for r in caplog.records if r.getMessage() == "metrics"]


# ---- drift: repaired ------------------------------------------------------------------------------------


class TestDrift:
    def test_an_eni_moved_back_to_its_groups_goes_through_the_transition_and_is_cut_again(
        self,
        reconciler: Reconciler,
        invoke: Invoke,
        ec2: Any,
        launch: Launch,
        network: Network,
        isolation_profile_arn: str,
        rsettings: Settings,
        sleeps: list[float],
        result_events: Any,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        # Given an isolated instance whose ENI the application's pipeline put back on its app group
        instance_id = launch()
        isolate(invoke, instance_id, rsettings)
        eni = move_back(ec2, instance_id, network.app_group_id)
        sleeps.clear()
        result_events.read()
        # When the round runs
        reconciler.round()
        # Then the ENI went through the transition group (new tracked connections become untracked), the
        # wait, and is on the isolation group again
        assert_isolated(ec2, instance_id, network, isolation_profile_arn)
        assert rsettings.untrack_wait_seconds in [round(s) for s in sleeps]
        # and the record's audit trail has a drift attempt naming what drifted and when it was seen
        found = record(instance_id)
        assert found["status"] == "isolated"
        drift = found["attempts"][-1]
        assert drift["action"] == "drift"
        assert drift["trigger"]["drift"] == [
            {"what": "network_interface", "id": eni, "groups": [network.app_group_id]}
        ]
        assert drift["trigger"]["seen_at"] == FIXED_NOW
        assert any(f"moved {eni} to transition group" in change for change in drift["changes"])
        # and it is announced and counted: drift is an incident of its own
        assert "EC2 Isolation Drift Repaired" in detail_types(result_events)
        assert any(line.get("DriftRepaired") == 1 for line in metric_lines_of(caplog))

    def test_an_eni_attached_since_the_isolation_is_cut_too(
        self,
        reconciler: Reconciler,
        invoke: Invoke,
        ec2: Any,
        launch: Launch,
        network: Network,
        isolation_profile_arn: str,
        rsettings: Settings,
    ) -> None:
        # Given an isolated instance to which someone attached a new ENI on the app group
        instance_id = launch()
        isolate(invoke, instance_id, rsettings)
        new = ec2.create_network_interface(SubnetId=network.subnet_id, Groups=[network.app_group_id])[
            "NetworkInterface"
        ]["NetworkInterfaceId"]
        ec2.attach_network_interface(NetworkInterfaceId=new, InstanceId=instance_id, DeviceIndex=1)
        # When the round runs
        reconciler.round()
        # Then the new ENI is cut too, and the drift says it was attached since the isolation
        assert_isolated(ec2, instance_id, network, isolation_profile_arn)
        assert new in eni_groups(ec2, instance_id)
        (entry,) = record(instance_id)["attempts"][-1]["trigger"]["drift"]
        assert entry == {
            "what": "network_interface",
            "id": new,
            "groups": [network.app_group_id],
            "attached_since_isolation": True,
        }

    def test_a_profile_associated_again_is_swapped_and_its_new_credentials_revoked(
        self,
        reconciler: Reconciler,
        invoke: Invoke,
        ec2: Any,
        iam: Any,
        launch: Launch,
        network: Network,
        isolation_profile_arn: str,
        app_profile_arn: str,
        rsettings: Settings,
    ) -> None:
        # Given an isolated instance whose original profile the application's stack re-associated
        instance_id = launch(profile_arn=app_profile_arn)
        isolate(invoke, instance_id, rsettings)
        replace_profile(ec2, instance_id, app_profile_arn)
        # When the round runs
        reconciler.round()
        # Then the isolation profile is back, and the credentials the instance got meanwhile are revoked:
        # the revocation's cut-off is the repair's time, not the isolation's
        assert profile_arns(ec2, instance_id) == [isolation_profile_arn]
        drift = record(instance_id)["attempts"][-1]
        assert drift["action"] == "drift"
        assert {"what": "instance_profile", "arn": app_profile_arn} in drift["trigger"]["drift"]
        role = iam.get_instance_profile(InstanceProfileName="web-app")["InstanceProfile"]["Roles"][0][
            "RoleName"
        ]
        policy = iam.get_role_policy(RoleName=role, PolicyName=f"ec2-isolation-revoke-{instance_id}")
        cutoff = policy["PolicyDocument"]["Statement"][0]["Condition"]["DateLessThan"]["aws:TokenIssueTime"]
        assert cutoff == NOW.strftime("%Y-%m-%dT%H:%M:%SZ")

    def test_an_instance_put_back_in_its_auto_scaling_group_or_target_group_is_taken_out_again(
        self,
        reconciler: Reconciler,
        invoke: Invoke,
        ec2: Any,
        fleet: dict[str, Any],
        rsettings: Settings,
    ) -> None:
        # Given an isolated instance of an Auto Scaling group and a target group, put back in both
        instance_id = fleet["instance_id"]
        isolate(invoke, instance_id, rsettings)
        autoscaling = boto3.client("autoscaling", region_name=REGION)
        elbv2 = boto3.client("elbv2", region_name=REGION)
        autoscaling.attach_instances(InstanceIds=[instance_id], AutoScalingGroupName="web")
        elbv2.register_targets(TargetGroupArn=fleet["by_instance"], Targets=[{"Id": instance_id}])
        # When the round runs
        reconciler.round()
        # Then it is out of both again, and the drift names both
        members = autoscaling.describe_auto_scaling_instances(InstanceIds=[instance_id])[
            "AutoScalingInstances"
        ]
        assert members == []
        targets = elbv2.describe_target_health(TargetGroupArn=fleet["by_instance"])[
            "TargetHealthDescriptions"
        ]
        assert [
            t
            for t in targets
            if t["Target"]["Id"] == instance_id and t["TargetHealth"]["State"] not in ("draining", "unused")
        ] == []
        kinds = {d["what"] for d in record(instance_id)["attempts"][-1]["trigger"]["drift"]}
        assert {"auto_scaling", "target_group"} <= kinds

    def test_termination_protection_turned_off_is_seen_by_the_full_check_not_the_frequent_sweep(
        self,
        reconciler: Reconciler,
        invoke: Invoke,
        ec2: Any,
        launch: Launch,
        rsettings: Settings,
        readers: AwsClients,
    ) -> None:
        # Given an isolated instance whose termination protection someone turned off
        instance_id = launch()
        isolate(invoke, instance_id, rsettings)
        ec2.modify_instance_attribute(InstanceId=instance_id, DisableApiTermination={"Value": False})
        calls = record_calls(readers.ec2)
        # When the frequent sweep runs, it does not read it (a per-instance read): nothing is repaired
        reconciler.round()
        assert "DescribeInstanceAttribute" not in calls.operations()
        assert record(instance_id)["attempts"][-1]["action"] == "isolate"
        # When the full check runs
        reconciler.round(full=True, event_id="full-1")
        # Then it is on again, and the drift says so
        protection = ec2.describe_instance_attribute(
            InstanceId=instance_id, Attribute="disableApiTermination"
        )
        assert protection["DisableApiTermination"]["Value"] is True
        drift = record(instance_id)["attempts"][-1]
        assert drift["action"] == "drift"
        assert {"what": "termination_protection", "enabled": False} in drift["trigger"]["drift"]


# ---- the isolation group ---------------------------------------------------------------------------------


class TestIsolationGroup:
    @pytest.mark.parametrize("direction", ["ingress", "egress"])
    def test_a_rule_added_to_the_isolation_group_is_revoked_and_reported_with_the_instances_it_exposed(
        self,
        direction: str,
        reconciler: Reconciler,
        invoke: Invoke,
        ec2: Any,
        launch: Launch,
        network: Network,
        rsettings: Settings,
        result_events: Any,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        # Given two isolated instances of one VPC, and a rule added to their isolation group
        first, second = launch(), launch()
        isolate(invoke, first, rsettings)
        isolate(invoke, second, rsettings)
        group = isolation_group(ec2, network)
        authorize = getattr(ec2, f"authorize_security_group_{direction}")
        authorize(
            GroupId=group,
            IpPermissions=[
                {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
            ],
        )
        assert group_rules(ec2, group)
        result_events.read()
        # When the round runs
        reconciler.round()
        # Then the group is sealed again: no rule at all
        assert group_rules(ec2, group) == []
        # and it is reported with the instances it exposed
        events = [e for e in result_events.read() if e["detail-type"] == "EC2 Isolation Group Resealed"]
        assert len(events) == 1
        assert events[0]["detail"]["exposed_instances"] == sorted([first, second])
        (sweep,) = reconciler.sweeps()
        assert sweep["resealed_groups"][0]["group_id"] == group
        assert any(line.get("GroupsResealed") == 1 for line in metric_lines_of(caplog))


# ---- never a release without the release value ------------------------------------------------------------


class TestWhatTheReconcilerNeverDoes:
    @pytest.mark.parametrize("value", [None, "Investigating"])
    def test_a_removed_or_changed_tag_keeps_the_instance_isolated_and_is_reported_once(
        self,
        value: str | None,
        reconciler: Reconciler,
        invoke: Invoke,
        ec2: Any,
        launch: Launch,
        network: Network,
        isolation_profile_arn: str,
        rsettings: Settings,
        result_events: Any,
    ) -> None:
        # Given an isolated instance whose trigger tag was removed or set to another value
        instance_id = launch()
        isolate(invoke, instance_id, rsettings)
        tag(ec2, instance_id, value)
        result_events.read()
        # When two rounds run
        reconciler.round()
        reconciler.round(event_id="sweep-2")
        # Then it stays isolated (only the release value releases), and this is reported once
        assert_isolated(ec2, instance_id, network, isolation_profile_arn)
        events = [e for e in result_events.read() if e["detail-type"] == "EC2 Isolation Needs Attention"]
        assert len(events) == 1
        assert "stays isolated" in events[0]["detail"]["reason"]
        assert record(instance_id)["status"] == "isolated"

    def test_a_release_that_needs_a_person_is_reported_once_and_tried_again_only_by_the_full_check(
        self,
        reconciler: Reconciler,
        invoke: Invoke,
        ec2: Any,
        iam: Any,
        launch: Launch,
        app_profile_arn: str,
        rsettings: Settings,
        result_events: Any,
    ) -> None:
        # Given an isolated instance on which someone set a third profile by hand, and a release asked for
        instance_id = launch(profile_arn=app_profile_arn)
        isolate(invoke, instance_id, rsettings)
        from tools.fleet import create_instance_profile

        hand_set = create_instance_profile(iam, "hand-set")
        replace_profile(ec2, instance_id, hand_set)
        tag(ec2, instance_id, "Release")
        # When a round runs, the release fails: the hand-set profile is left for a person to decide
        reconciler.round()
        assert record(instance_id)["status"] == "release_failed"
        assert "instance_profile" in record(instance_id)["needs_decision"]
        attempts = len(record(instance_id)["attempts"])
        result_events.read()
        # When more rounds run, it is not tried again, and it is reported once
        reconciler.round(event_id="sweep-2")
        reconciler.round(event_id="sweep-3")
        assert len(record(instance_id)["attempts"]) == attempts
        attention = [e for e in result_events.read() if e["detail-type"] == "EC2 Isolation Needs Attention"]
        assert len(attention) == 1
        assert "a person must decide" in attention[0]["detail"]["reason"]
        # When the full check runs, it tries again
        reconciler.round(full=True, event_id="full-1")
        assert len(record(instance_id)["attempts"]) == attempts + 1


# ---- terminated --------------------------------------------------------------------------------------------


class TestTerminated:
    def test_the_record_of_a_terminated_instance_is_closed_and_no_longer_checked(
        self,
        reconciler: Reconciler,
        invoke: Invoke,
        ec2: Any,
        launch: Launch,
        rsettings: Settings,
        result_events: Any,
    ) -> None:
        # Given an isolated instance that was terminated (protection off first, by someone)
        instance_id = launch()
        isolate(invoke, instance_id, rsettings)
        ec2.modify_instance_attribute(InstanceId=instance_id, DisableApiTermination={"Value": False})
        ec2.terminate_instances(InstanceIds=[instance_id])
        result_events.read()
        # When the round runs
        reconciler.round()
        # Then its record is closed, and announced
        found = record(instance_id)
        assert found["status"] == "terminated"
        assert found["closed_state"] == "terminated"
        assert "EC2 Isolation Record Closed" in detail_types(result_events)
        # and the next round no longer carries it
        reconciler.schedule(event_id="sweep-2")
        own = next(m for m in reconciler.messages() if m["account"] == ACCOUNT)
        assert own["records"] == []


# ---- bounded and safe ------------------------------------------------------------------------------------


class TestBoundedAndSafe:
    def test_the_steady_state_makes_no_mutating_call(
        self,
        app_profile_arn: str,
        reconciler: Reconciler,
        invoke: Invoke,
        launch: Launch,
        rsettings: Settings,
        clients: AwsClients,
        readers: AwsClients,
    ) -> None:
        # Given isolated instances, nothing drifted: with a profile replaced by the isolation one (which
        # DescribeInstances can report late), and without one
        for profile in (app_profile_arn, app_profile_arn, None):
            isolate(invoke, launch(profile_arn=profile), rsettings)
        calls = record_calls(
            *(
                getattr(c, s)
                for c in (clients, readers)
                for s in ("ec2", "autoscaling", "elbv2", "iam", "dynamodb", "sns", "events")
            )
        )
        # When a round runs
        reconciler.round()
        # Then it only read, and queued no converge (the sweep message itself is the round's only write)
        assert [op for op in calls.operations() if not op.startswith(READ_PREFIXES)] == []
        (sweep,) = reconciler.sweeps()
        assert sweep["converges_queued"] == 0
        assert sweep["decisions"] == {"none": sorted(sweep["decisions"]["none"])}

    def test_a_sweep_never_races_an_event_invocation(
        self,
        reconciler: Reconciler,
        ec2: Any,
        launch: Launch,
        clients: AwsClients,
        network: Network,
    ) -> None:
        # Given an instance whose isolation event is being handled right now (it holds the record's lock)
        instance_id = launch()
        tag(ec2, instance_id, "Isolate")
        begin_isolation(
            setup_dynamodb(),
            RECORD_TABLE,
            instance_id=instance_id,
            event_id="evt-live",
            prior={"security_groups": {}},
            now=NOW,
            lock_seconds=900,
        )
        # When the round runs
        results = reconciler.round()
        # Then the sweep leaves it to that invocation: nothing queued, nothing changed
        (sweep,) = [r for r in results if "sweep" in r]
        assert sweep["decisions"] == {"wait": [instance_id]}
        assert set(map(tuple, eni_groups(ec2, instance_id).values())) == {(network.app_group_id,)}
        # and a converge that reaches it anyway (queued before the event began) stands down too
        from ec2_isolation.reconcile import converge

        result = converge(
            clients,
            reconciler.settings,
            reconciler.function,
            account=ACCOUNT,
            region=REGION,
            instance_id=instance_id,
            event_id="sweep-x",
            mode="sweep",
            reason="queued earlier",
            now=lambda: NOW,
            sleep=lambda _s: None,
        )
        assert result["status"] == "in_progress"
        assert record(instance_id)["lock_event_id"] == "evt-live"

    def test_a_sweep_cut_short_by_its_time_budget_carries_on_in_the_next_run(
        self,
        reconciler: Reconciler,
        ec2: Any,
        launch: Launch,
        network: Network,
        isolation_profile_arn: str,
    ) -> None:
        # Given three instances whose isolation events were lost, and a sweep with time for two
        instances = sorted(launch() for _ in range(3))
        for instance_id in instances:
            tag(ec2, instance_id, "Isolate")
        budget = iter([900_000, 900_000, 1_000])

        def remaining() -> int:
            return next(budget, 900_000)

        reconciler.remaining = remaining
        # When the round runs
        reconciler.round()
        # Then the first sweep decided two, and handed the rest on in a message of its own
        first, second = reconciler.sweeps()
        assert first["continued_after"] == instances[1]
        assert first["decisions"] == {"isolate": instances[:2]}
        assert second["decisions"] == {"isolate": instances[2:]}
        # and every instance ended isolated
        for instance_id in instances:
            assert_isolated(ec2, instance_id, network, isolation_profile_arn)

    def test_a_sweep_throttled_by_ec2_yields_and_changes_nothing(
        self,
        reconciler: Reconciler,
        ec2: Any,
        launch: Launch,
        readers: AwsClients,
        rsettings: Settings,
        network: Network,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        # Given a lost isolation, and EC2 throttling the sweep's reads
        instance_id = launch()
        tag(ec2, instance_id, "Isolate")
        throttling(readers.ec2, "DescribeInstances", times=None)
        # When the round runs
        reconciler.round()
        # Then the sweep yielded: it is queued again, delayed, and it neither failed nor changed anything
        (sweep,) = reconciler.sweeps()
        assert sweep["yielded"] is True
        assert reconciler.failed == []
        assert delayed(rsettings.reconcile_queue_url) == 1
        assert set(map(tuple, eni_groups(ec2, instance_id).values())) == {(network.app_group_id,)}
        assert any(line.get("SweepYielded") == 1 for line in metric_lines_of(caplog))

    def test_a_message_of_another_queue_or_an_unreadable_one_is_retried_not_dropped(
        self, reconciler: Reconciler
    ) -> None:
        from tests.unit.reconciler import sqs_event

        for body, arn in (
            ('{"kind": "ec2-isolation.sweep"}', reconciler.queue_arn),
            ("not json", reconciler.queue_arn),
            (
                '{"kind": "ec2-isolation.sweep", "sweep_id": "x", "account": "1", "region": "r"}',
                "arn:aws:sqs:us-east-1:123456789012:other",
            ),
            ('{"kind": "something-else"}', reconciler.queue_arn),
        ):
            outcome = reconciler.invoke(sqs_event(body, arn, "m-1", "h-1"))
            assert outcome["batchItemFailures"] == [{"itemIdentifier": "m-1"}], body


# ---- a member account ----------------------------------------------------------------------------------


class TestMemberAccount:
    def test_a_member_accounts_lost_isolation_is_caught_up_through_its_executor_role(
        self, reconciler: Reconciler, rsettings: Settings, clients: AwsClients
    ) -> None:
        from tests.unit.conftest import make_network
        from tests.unit.test_cross_account import EXTERNAL_ID, MEMBER, ROLE, member_session
        from tools.fleet import create_instance_profile, launch_instance

        # Given a member account's instance tagged for isolation, whose event was lost
        session = member_session()
        member_ec2, member_iam = session.client("ec2"), session.client("iam")
        isolation = create_instance_profile(member_iam, "ec2-isolation-isolation")
        network = make_network(member_ec2, "10.7.0.0/16")
        instance_id = launch_instance(
            member_ec2, subnet_id=network.subnet_id, enis=[[network.app_group_id]], name="member-web"
        )
        tag(member_ec2, instance_id, "Isolate")
        reconciler.settings = dataclasses.replace(
            rsettings,
            member_account_ids=frozenset({MEMBER}),
            executor_role_name=ROLE,
            executor_external_id=EXTERNAL_ID,
        )
        sts = record_calls(clients.sts)
        # When the round runs
        reconciler.round()
        # Then it is isolated in its own account, through the executor role, and recorded centrally
        assert_isolated(member_ec2, instance_id, network, isolation)
        assert "AssumeRole" in sts.operations()
        found = record(f"{MEMBER}:{REGION}:{instance_id}")
        assert found["status"] == "isolated"
        assert found["attempts"][-1]["trigger"]["type"] == "reconcile"


# ---- a dry run -------------------------------------------------------------------------------------------


class TestDryRun:
    def test_the_first_sweep_of_a_dry_run_shows_what_it_would_do_and_changes_nothing(
        self,
        reconciler: Reconciler,
        ec2: Any,
        launch: Launch,
        network: Network,
        rsettings: Settings,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        # Given instances that already carry the isolation value when the module is first deployed, in
        # dry-run mode
        instances = sorted(launch() for _ in range(2))
        for instance_id in instances:
            tag(ec2, instance_id, "Isolate")
        reconciler.settings = dataclasses.replace(rsettings, dry_run=True)
        # When the first round runs
        reconciler.round()
        # Then the sweep says what it would do, and each converge records its plan apart
        (sweep,) = reconciler.sweeps()
        assert sweep["decisions"] == {"isolate": instances}
        assert any(r.getMessage() == "dry run: what the sweep would do" for r in caplog.records)
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        for instance_id in instances:
            assert read_record(dynamodb, RECORD_TABLE, instance_id) is None
            plan = read_record(dynamodb, RECORD_TABLE, f"dry-run#{instance_id}")
            assert plan is not None and plan["runs"][-1]["plan"]
            # and nothing changed
            assert set(map(tuple, eni_groups(ec2, instance_id).values())) == {(network.app_group_id,)}


# ---- an API call that can undo an isolation -------------------------------------------------------------


class TestApiCalls:
    @pytest.mark.parametrize(
        ("name", "kind"),
        [
            ("modify_network_interface_attribute", "interface_ids"),
            ("attach_network_interface", "instance_ids"),
            ("modify_instance_attribute_disable_api_termination", "instance_ids"),
            ("modify_instance_attribute_group_set", "instance_ids"),
            ("associate_iam_instance_profile", "instance_ids"),
            ("replace_iam_instance_profile_association", "association_ids"),
            ("disassociate_iam_instance_profile", "association_ids"),
            ("authorize_security_group_ingress", "group_ids"),
            ("authorize_security_group_egress", "group_ids"),
            ("attach_instances", "instance_ids"),
            ("exit_standby", "instance_ids"),
            ("register_targets", "instance_ids"),
        ],
    )
    def test_each_watched_call_names_what_it_touched(self, name: str, kind: str) -> None:
        from ec2_isolation.apicalls import is_api_call, parse_api_call
        from tests.fixtures.cloudtrail import (
            FIXTURE_ASSOCIATION_ID,
            FIXTURE_GROUP_IDS,
            FIXTURE_INSTANCE_ID,
            FIXTURE_INTERFACE_ID,
            load_api_call,
        )

        # Given the documented shape of the call's event
        event = load_api_call(name)
        # When it is parsed
        assert is_api_call(event)
        call = parse_api_call(event)
        # Then it names what the call touched
        expected = {
            "instance_ids": FIXTURE_INSTANCE_ID,
            "interface_ids": FIXTURE_INTERFACE_ID,
            "association_ids": FIXTURE_ASSOCIATION_ID,
            "group_ids": FIXTURE_GROUP_IDS[0],
        }[kind]
        assert expected in getattr(call, kind)
        # and security groups only for the calls that add rules to one
        assert bool(call.group_ids) == name.startswith("authorize_security_group_")

    def test_an_eni_put_back_by_another_role_is_cut_again_within_the_event(
        self,
        reconciler: Reconciler,
        invoke: Invoke,
        ec2: Any,
        launch: Launch,
        network: Network,
        isolation_profile_arn: str,
        rsettings: Settings,
    ) -> None:
        from tests.fixtures.cloudtrail import api_call_event

        # Given an isolated instance whose ENI a pipeline's role moved back to the app group
        instance_id = launch()
        isolate(invoke, instance_id, rsettings)
        eni = move_back(ec2, instance_id, network.app_group_id)
        event = api_call_event(
            "modify_network_interface_attribute",
            network_interface_id=eni,
            group_ids=[network.app_group_id],
            issuer_role_arn=f"arn:aws:iam::{ACCOUNT}:role/app-pipeline",
        )
        # When the call's event reaches the function
        summary = reconciler.invoke(event)
        # Then the instance is isolated again at once, without the queue
        assert_isolated(ec2, instance_id, network, isolation_profile_arn)
        assert reconciler.messages() == []
        drift = record(instance_id)["attempts"][-1]
        assert drift["action"] == "drift"
        assert drift["trigger"]["api_call"] == "ModifyNetworkInterfaceAttribute"
        assert drift["trigger"]["caller"].startswith(f"arn:aws:sts::{ACCOUNT}:assumed-role/app-pipeline/")
        assert drift["trigger"]["seen_at"] == event["detail"]["eventTime"]
        assert summary["instances"][0]["reconcile"] == "drift_repaired"

    @pytest.mark.parametrize(
        "issuer",
        [FUNCTION_ROLE_ARN, "arn:aws:iam::210987654321:role/security/ec2-isolation-executor"],
        ids=["the-function-role", "an-executor-role"],
    )
    def test_a_call_made_by_the_function_itself_never_triggers_it(
        self,
        issuer: str,
        reconciler: Reconciler,
        invoke: Invoke,
        ec2: Any,
        launch: Launch,
        network: Network,
        rsettings: Settings,
        clients: AwsClients,
    ) -> None:
        from tests.fixtures.cloudtrail import api_call_event

        instance_id = launch()
        isolate(invoke, instance_id, rsettings)
        (eni,) = eni_groups(ec2, instance_id)
        reconciler.settings = dataclasses.replace(
            rsettings, executor_role_name="security/ec2-isolation-executor"
        )
        calls = record_calls(clients.ec2, clients.dynamodb)
        # When the event of the function's own call (the isolation's move of the ENI) arrives
        event = api_call_event(
            "modify_network_interface_attribute", network_interface_id=eni, issuer_role_arn=issuer
        )
        summary = reconciler.invoke(event)
        # Then nothing is read and nothing is done: it cannot loop
        assert "made by this function's own role" in summary["reason"]
        assert calls.operations() == []

    def test_a_failed_call_or_the_switch_off_is_ignored(
        self, reconciler: Reconciler, rsettings: Settings, clients: AwsClients
    ) -> None:
        from tests.fixtures.cloudtrail import api_call_event

        calls = record_calls(clients.ec2)
        failed = api_call_event("modify_network_interface_attribute", error_code="UnauthorizedOperation")
        assert "the call failed" in reconciler.invoke(failed)["reason"]
        off = dataclasses.replace(rsettings, reconcile_on_api_calls=False)
        ok = api_call_event("modify_network_interface_attribute")
        assert "off" in reconciler.invoke(ok, settings=off)["reason"]
        assert calls.operations() == []

    def test_a_rule_added_to_the_isolation_group_is_revoked_at_once(
        self,
        reconciler: Reconciler,
        invoke: Invoke,
        ec2: Any,
        launch: Launch,
        network: Network,
        rsettings: Settings,
    ) -> None:
        from tests.fixtures.cloudtrail import api_call_event

        instance_id = launch()
        isolate(invoke, instance_id, rsettings)
        group = isolation_group(ec2, network)
        ec2.authorize_security_group_ingress(
            GroupId=group,
            IpPermissions=[
                {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
            ],
        )
        summary = reconciler.invoke(api_call_event("authorize_security_group_ingress", group_ids=[group]))
        assert group_rules(ec2, group) == []
        assert summary["resealed_groups"] == [
            {
                "group_id": group,
                "revoked": summary["resealed_groups"][0]["revoked"],
                "exposed_instances": [instance_id],
            }
        ]
        assert summary["resealed_groups"][0]["revoked"]

    def test_termination_protection_turned_off_is_turned_on_again_at_once(
        self, reconciler: Reconciler, invoke: Invoke, ec2: Any, launch: Launch, rsettings: Settings
    ) -> None:
        from tests.fixtures.cloudtrail import api_call_event

        instance_id = launch()
        isolate(invoke, instance_id, rsettings)
        ec2.modify_instance_attribute(InstanceId=instance_id, DisableApiTermination={"Value": False})
        reconciler.invoke(
            api_call_event("modify_instance_attribute_disable_api_termination", instance_id=instance_id)
        )
        protection = ec2.describe_instance_attribute(
            InstanceId=instance_id, Attribute="disableApiTermination"
        )
        assert protection["DisableApiTermination"]["Value"] is True

    def test_a_profile_replaced_by_hand_is_swapped_back_from_its_association(
        self,
        reconciler: Reconciler,
        invoke: Invoke,
        ec2: Any,
        launch: Launch,
        isolation_profile_arn: str,
        app_profile_arn: str,
        rsettings: Settings,
    ) -> None:
        from tests.fixtures.cloudtrail import api_call_event

        instance_id = launch(profile_arn=app_profile_arn)
        isolate(invoke, instance_id, rsettings)
        replaced = replace_profile(ec2, instance_id, app_profile_arn)
        event = api_call_event(
            "replace_iam_instance_profile_association",
            association_id=replaced,
            instance_id=instance_id,
            instance_profile_arn=app_profile_arn,
        )
        reconciler.invoke(event)
        assert profile_arns(ec2, instance_id) == [isolation_profile_arn]

    def test_a_call_on_an_instance_that_is_not_isolated_changes_nothing(
        self, reconciler: Reconciler, ec2: Any, launch: Launch, network: Network
    ) -> None:
        from tests.fixtures.cloudtrail import api_call_event

        instance_id = launch()
        summary = reconciler.invoke(api_call_event("register_targets", instance_id=instance_id))
        assert summary["instances"][0]["status"] == "converged"
        assert set(map(tuple, eni_groups(ec2, instance_id).values())) == {(network.app_group_id,)}


# ---- the responder's view ---------------------------------------------------------------------------------


class TestResponderView:
    def test_status_and_list_show_the_drift_attempt(
        self,
        reconciler: Reconciler,
        invoke: Invoke,
        ec2: Any,
        launch: Launch,
        network: Network,
        rsettings: Settings,
        cli: Any,
    ) -> None:
        # Given an isolated instance whose drift the reconciler repaired
        instance_id = launch()
        isolate(invoke, instance_id, rsettings)
        eni = move_back(ec2, instance_id, network.app_group_id)
        reconciler.round()
        # When the responder asks for its status and the list of records
        status = cli("status", instance_id, "--table", RECORD_TABLE)
        listing = cli("list", "--table", RECORD_TABLE)
        # Then the audit trail shows the drift attempt, what drifted and when it was seen
        assert status.code == 0, status.err
        assert "drift  isolated" in status.out
        assert eni in status.out and "network_interface" in status.out and "seen_at" in status.out
        # and the list says drift-repaired
        assert listing.code == 0, listing.err
        assert any(instance_id in line and "drift-repaired" in line for line in listing.out.splitlines())
