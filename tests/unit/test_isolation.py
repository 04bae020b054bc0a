"""Specification of isolation: what the handler does to an instance when the isolation tag is set.

Every test reads emulator state after the handler ran; where moto is not faithful to EC2 the real AWS
error is injected at botocore's HTTP layer (see tests/fixtures/faults.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from ec2_isolation.clients import AwsClients
from ec2_isolation.config import Settings
from ec2_isolation.errors import EventIsolationFailed
from ec2_isolation.steps.network import GROUP_DESCRIPTION
from tests.fixtures.events import tag_change_event
from tests.fixtures.faults import Fault, inject, record_calls
from tests.unit.conftest import (
    FIXED_NOW,
    Invoke,
    Launch,
    Network,
    eni_groups,
    enis_on_group,
    group_rules,
    groups_named,
    make_network,
    profile_arns,
    tags_of,
)
from tools.bench import (
    SimulatedNetwork,
    at_once,
    first_eni_move,
    is_eni_move,
    is_mutating,
    round_trips_before_first_move,
)

ISOLATION_GROUP = "ec2-isolation-isolation"
MUTATING_PREFIXES = ("Create", "Modify", "Revoke", "Authorize", "Associate", "Replace", "Delete")


def isolation_group_id(ec2: Any, vpc_id: str) -> str:
    groups = groups_named(ec2, ISOLATION_GROUP, vpc_id)
    assert len(groups) == 1, groups
    group_id: str = groups[0]["GroupId"]
    return group_id


def assert_isolated(ec2: Any, instance_id: str, vpc_id: str, settings: Settings) -> str:
    """The full isolation contract, read from the emulator."""
    group_id = isolation_group_id(ec2, vpc_id)
    assert group_rules(ec2, group_id) == [], "the isolation group must have no rule at all"
    groups = eni_groups(ec2, instance_id)
    assert groups and all(g == [group_id] for g in groups.values()), groups
    assert set(groups) <= enis_on_group(ec2, group_id)
    assert profile_arns(ec2, instance_id) == [settings.isolation_instance_profile_arn]
    tags = tags_of(ec2, instance_id)
    assert tags["SecurityIsolation:Status"] == "Isolated"
    assert tags["SecurityIsolation:IsolationGroup"] == group_id
    assert tags["SecurityIsolation:IsolatedAt"] == FIXED_NOW
    return group_id


class TestIsolatingOneInstance:
    def test_single_eni_instance_with_a_profile_is_cut_off_and_its_profile_swapped(
        self,
        ec2: Any,
        network: Network,
        launch: Launch,
        invoke: Invoke,
        settings: Settings,
        app_profile_arn: str,
    ) -> None:
        # Given a running instance with one ENI on the app group and the app's instance profile
        instance_id = launch(
            profile_arn=app_profile_arn, tags={"Name": "web-01", "SecurityIsolation": "Isolate"}
        )
        assert profile_arns(ec2, instance_id) == [app_profile_arn]
        # When the analyst's tag event arrives
        event = tag_change_event([instance_id], event_id="evt-single")
        summary = invoke(event)
        # Then the ENI is on the sealed isolation group only, the profile is the deny-all one, the tags say so
        group_id = assert_isolated(ec2, instance_id, network.vpc_id, settings)
        tags = tags_of(ec2, instance_id)
        assert tags["SecurityIsolation:EventId"] == "evt-single"
        assert tags["SecurityIsolation"] == "Isolate", "the trigger tag itself is never rewritten"
        [result] = summary["instances"]
        assert result["status"] == "isolated"
        assert result["isolation_group_id"] == group_id
        assert result["instance_profile"]["previous_arn"] == app_profile_arn
        assert result["network_interfaces"][0]["previous_groups"] == [network.app_group_id]
        assert summary["event_id"] == "evt-single"

    def test_multi_eni_instance_has_every_interface_moved_one_call_per_eni(
        self,
        ec2: Any,
        network: Network,
        launch: Launch,
        invoke: Invoke,
        settings: Settings,
        clients: AwsClients,
    ) -> None:
        # Given an instance with two ENIs on different groups (one of them on two groups)
        instance_id = launch(enis=[[network.app_group_id], [network.db_group_id, network.app_group_id]])
        assert len(eni_groups(ec2, instance_id)) == 2
        # and EC2's real refusal of the instance-level call on a multi-ENI instance (moto accepts it)
        instance_level = inject(
            clients.ec2,
            Fault(
                "ModifyInstanceAttribute",
                "InvalidInstanceID",
                f"There are multiple interfaces attached to instance '{instance_id}'. "
                "Please specify an interface ID for the operation instead.",
                when=lambda params: any(key.startswith("GroupId") for key in params),
            ),
        )
        calls = record_calls(clients.ec2)
        # When the tag event arrives
        invoke(tag_change_event([instance_id]))
        # Then both ENIs are on exactly the isolation group, each by its own call
        group_id = assert_isolated(ec2, instance_id, network.vpc_id, settings)
        assert enis_on_group(ec2, network.app_group_id) == set()
        assert enis_on_group(ec2, network.db_group_id) == set()
        moves = [
            p for p in calls.sent("ModifyNetworkInterfaceAttribute") if p.get("SecurityGroupId.1") == group_id
        ]
        assert sorted(p["NetworkInterfaceId"] for p in moves) == sorted(eni_groups(ec2, instance_id))
        assert instance_level.hits == []
        assert len(enis_on_group(ec2, group_id)) == 2

    def test_instance_without_a_profile_gets_the_isolation_profile_associated(
        self, ec2: Any, network: Network, launch: Launch, invoke: Invoke, settings: Settings
    ) -> None:
        instance_id = launch()
        assert profile_arns(ec2, instance_id) == []
        summary = invoke(tag_change_event([instance_id]))
        assert_isolated(ec2, instance_id, network.vpc_id, settings)
        assert summary["instances"][0]["instance_profile"]["previous_arn"] is None

    def test_stopped_instance_is_isolated_too(
        self, ec2: Any, network: Network, launch: Launch, invoke: Invoke, settings: Settings
    ) -> None:
        instance_id = launch()
        ec2.stop_instances(InstanceIds=[instance_id])
        summary = invoke(tag_change_event([instance_id]))
        assert summary["instances"][0]["state"] == "stopped"
        assert_isolated(ec2, instance_id, network.vpc_id, settings)

    @pytest.mark.parametrize("state", ["terminated", "shutting-down"])
    def test_terminated_instance_is_skipped_and_nothing_is_created(
        self, ec2: Any, network: Network, launch: Launch, invoke: Invoke, state: str
    ) -> None:
        instance_id = launch()
        ec2.terminate_instances(InstanceIds=[instance_id])
        if state == "shutting-down":
            # moto terminates at once; the answer EC2 gives mid-termination is injected
            from moto.ec2.models import ec2_backends

            backend = ec2_backends["123456789012"]["us-east-1"]
            backend.get_instance(instance_id)._state.name = "shutting-down"
        summary = invoke(tag_change_event([instance_id]))
        [result] = summary["instances"]
        assert result["status"] == "skipped"
        assert result["reason"] == f"instance is {state}"
        assert groups_named(ec2, ISOLATION_GROUP) == []


class TestTheIsolationGroup:
    def test_none_exists_so_one_is_created_sealed_and_tagged(
        self, ec2: Any, network: Network, launch: Launch, invoke: Invoke, settings: Settings
    ) -> None:
        instance_id = launch()
        assert groups_named(ec2, ISOLATION_GROUP) == []
        invoke(tag_change_event([instance_id]))
        [group] = groups_named(ec2, ISOLATION_GROUP, network.vpc_id)
        assert group["Description"] == GROUP_DESCRIPTION
        # AWS gives every new group an allow-all IPv4 egress rule: it must be gone
        assert group["IpPermissionsEgress"] == [] and group["IpPermissions"] == []
        tags = {t["Key"]: t["Value"] for t in group["Tags"]}
        assert tags == {
            "Name": ISOLATION_GROUP,
            "SecurityIsolation:ManagedBy": "ec2-isolation",
            "team": "security",
            "cost-center": "ir",
        }

    def test_an_existing_group_is_reused_and_resealed_ipv4_and_ipv6(
        self, ec2: Any, network: Network, launch: Launch, invoke: Invoke, settings: Settings
    ) -> None:
        # Given the module's group from an earlier isolation, to which someone added rules since
        existing = ec2.create_security_group(
            GroupName=ISOLATION_GROUP,
            Description=GROUP_DESCRIPTION,
            VpcId=network.vpc_id,
            TagSpecifications=[
                {
                    "ResourceType": "security-group",
                    "Tags": [{"Key": "SecurityIsolation:ManagedBy", "Value": "ec2-isolation"}],
                }
            ],
        )["GroupId"]
        ec2.authorize_security_group_egress(
            GroupId=existing, IpPermissions=[{"IpProtocol": "-1", "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}]
        )
        ec2.authorize_security_group_ingress(
            GroupId=existing,
            IpPermissions=[
                {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}
            ],
        )
        rules = group_rules(ec2, existing)
        assert {r.get("CidrIpv4") or r.get("CidrIpv6") for r in rules} == {"0.0.0.0/0", "::/0"}
        assert len(rules) == 3
        instance_id = launch()
        # When
        summary = invoke(tag_change_event([instance_id]))
        # Then the same group is used (no second one) and every rule, IPv4 and IPv6, was revoked by id
        assert isolation_group_id(ec2, network.vpc_id) == existing
        assert group_rules(ec2, existing) == []
        assert_isolated(ec2, instance_id, network.vpc_id, settings)
        changes = " ".join(summary["instances"][0]["changes"])
        assert all(rule["SecurityGroupRuleId"] in changes for rule in rules)
        assert "created isolation group" not in changes

    def test_a_same_named_group_in_another_vpc_is_not_used(
        self, ec2: Any, network: Network, launch: Launch, invoke: Invoke, settings: Settings
    ) -> None:
        # Given the module's group in another VPC, with its rules
        other = make_network(ec2, "10.9.0.0/16")
        theirs = ec2.create_security_group(
            GroupName=ISOLATION_GROUP,
            Description=GROUP_DESCRIPTION,
            VpcId=other.vpc_id,
            TagSpecifications=[
                {
                    "ResourceType": "security-group",
                    "Tags": [{"Key": "SecurityIsolation:ManagedBy", "Value": "ec2-isolation"}],
                }
            ],
        )["GroupId"]
        their_rules = group_rules(ec2, theirs)
        instance_id = launch()
        # When
        invoke(tag_change_event([instance_id]))
        # Then a group of the instance's own VPC is created and used; the other VPC's group is untouched
        mine = assert_isolated(ec2, instance_id, network.vpc_id, settings)
        assert mine != theirs
        assert group_rules(ec2, theirs) == their_rules
        assert enis_on_group(ec2, theirs) == set()

    def test_a_same_named_group_not_managed_by_the_module_is_refused_but_the_profile_still_swapped(
        self, ec2: Any, network: Network, launch: Launch, invoke: Invoke, settings: Settings
    ) -> None:
        # Given someone else's group that happens to carry the isolation group's name
        foreign = ec2.create_security_group(GroupName=ISOLATION_GROUP, Description="x", VpcId=network.vpc_id)[
            "GroupId"
        ]
        instance_id = launch()
        # When / Then the invocation fails loudly, and says what it did
        with pytest.raises(EventIsolationFailed) as failed:
            invoke(tag_change_event([instance_id]))
        [result] = failed.value.summary["instances"]
        assert result["status"] == "failed"
        assert "ForeignSecurityGroup" in result["failures"]["isolation_group"]
        assert foreign in result["failures"]["isolation_group"]
        assert result["failures"]["network_interfaces"] == "not attempted: no isolation group"
        # the other containment step still ran
        assert profile_arns(ec2, instance_id) == [settings.isolation_instance_profile_arn]
        # the foreign group was not touched and the ENI is where it was; no "isolated" tag was written
        assert len(group_rules(ec2, foreign)) == 1
        assert list(eni_groups(ec2, instance_id).values()) == [[network.app_group_id]]
        assert "SecurityIsolation:Status" not in tags_of(ec2, instance_id)

    def test_two_invocations_creating_the_group_at_once_both_succeed(
        self,
        ec2: Any,
        network: Network,
        launch: Launch,
        invoke: Invoke,
        settings: Settings,
        clients: AwsClients,
    ) -> None:
        # Given another invocation creates the group between our look-up and our create
        def concurrent_create(_params: dict[str, str]) -> None:
            ec2.create_security_group(
                GroupName=ISOLATION_GROUP,
                Description=GROUP_DESCRIPTION,
                VpcId=network.vpc_id,
                TagSpecifications=[
                    {
                        "ResourceType": "security-group",
                        "Tags": [{"Key": "SecurityIsolation:ManagedBy", "Value": "ec2-isolation"}],
                    }
                ],
            )

        duplicate = inject(
            clients.ec2,
            Fault(
                "CreateSecurityGroup",
                "InvalidGroup.Duplicate",
                f"The security group '{ISOLATION_GROUP}' already exists for VPC '{network.vpc_id}'",
                when=lambda params: params["GroupName"] == ISOLATION_GROUP,
                times=1,
                before=concurrent_create,
            ),
        )
        instance_id = launch()
        # When
        invoke(tag_change_event([instance_id]))
        # Then the duplicate was handled by re-reading the group the other invocation made
        assert len(duplicate.hits) == 1
        assert_isolated(ec2, instance_id, network.vpc_id, settings)

    def test_a_rule_revoked_concurrently_is_not_an_error(
        self,
        ec2: Any,
        network: Network,
        launch: Launch,
        invoke: Invoke,
        settings: Settings,
        clients: AwsClients,
    ) -> None:
        # Given another invocation revokes the same default egress rule first
        def concurrent_revoke(params: dict[str, str]) -> None:
            ec2.revoke_security_group_egress(
                GroupId=params["GroupId"], SecurityGroupRuleIds=[params["SecurityGroupRuleId.1"]]
            )

        gone = inject(
            clients.ec2,
            Fault(
                "RevokeSecurityGroupEgress",
                "InvalidSecurityGroupRuleId.NotFound",
                "The security group rule ID does not exist",
                times=1,
                before=concurrent_revoke,
            ),
        )
        instance_id = launch()
        invoke(tag_change_event([instance_id]))
        assert len(gone.hits) == 1
        assert_isolated(ec2, instance_id, network.vpc_id, settings)


class TestInterfacesThatCannotBeChanged:
    def test_requester_managed_eni_is_reported_loudly_and_the_rest_is_still_contained(
        self,
        ec2: Any,
        network: Network,
        launch: Launch,
        invoke: Invoke,
        settings: Settings,
        clients: AwsClients,
    ) -> None:
        from moto.ec2.models import ec2_backends

        # Given a two-ENI instance whose second ENI is managed by another AWS service
        instance_id = launch(enis=[[network.app_group_id], [network.db_group_id]])
        enis = sorted(eni_groups(ec2, instance_id))
        managed = next(e for e in enis if eni_groups(ec2, instance_id)[e] == [network.db_group_id])
        primary = next(e for e in enis if e != managed)
        ec2_backends["123456789012"]["us-east-1"].enis[managed].requester_managed = True
        calls = record_calls(clients.ec2)
        # When
        with pytest.raises(EventIsolationFailed) as failed:
            invoke(tag_change_event([instance_id]))
        # Then the invocation fails and names the ENI, the other ENI and the profile are contained,
        # no change is attempted on the managed ENI and no "isolated" tag claims otherwise
        [result] = failed.value.summary["instances"]
        assert managed in result["failures"]["network_interfaces"]
        assert "requester-managed" in result["failures"]["network_interfaces"]
        group_id = result["isolation_group_id"]
        assert eni_groups(ec2, instance_id) == {primary: [group_id], managed: [network.db_group_id]}
        assert profile_arns(ec2, instance_id) == [settings.isolation_instance_profile_arn]
        assert [
            p for p in calls.sent("ModifyNetworkInterfaceAttribute") if p["NetworkInterfaceId"] == managed
        ] == []
        assert "SecurityIsolation:Status" not in tags_of(ec2, instance_id)
        by_eni = {i["network_interface_id"]: i for i in result["network_interfaces"]}
        assert by_eni[primary]["changed"] is True and by_eni[primary]["error"] is None
        assert by_eni[managed]["changed"] is False and by_eni[managed]["error"]

    def test_ec2_refusing_an_eni_change_fails_the_invocation(
        self,
        ec2: Any,
        network: Network,
        launch: Launch,
        invoke: Invoke,
        settings: Settings,
        clients: AwsClients,
    ) -> None:
        instance_id = launch(enis=[[network.app_group_id], [network.db_group_id]])
        groups = eni_groups(ec2, instance_id)
        second = next(e for e, g in groups.items() if g == [network.db_group_id])
        first = next(e for e in groups if e != second)
        refused = inject(
            clients.ec2,
            Fault(
                "ModifyNetworkInterfaceAttribute",
                "OperationNotPermitted",
                f"You are not allowed to manage '{second}' attachments.",
                when=lambda p: p.get("NetworkInterfaceId") == second,
            ),
        )
        with pytest.raises(EventIsolationFailed) as failed:
            invoke(tag_change_event([instance_id]))
        [result] = failed.value.summary["instances"]
        assert refused.hits and {hit["NetworkInterfaceId"] for hit in refused.hits} == {second}
        assert f"{second}: OperationNotPermitted" in result["failures"]["network_interfaces"]
        assert eni_groups(ec2, instance_id)[first] == [result["isolation_group_id"]]
        assert eni_groups(ec2, instance_id)[second] == [network.db_group_id]

    def test_a_change_ec2_accepts_but_does_not_apply_is_caught_by_reading_back(
        self, ec2: Any, network: Network, launch: Launch, invoke: Invoke, clients: AwsClients
    ) -> None:
        # Given EC2 answers success without changing anything (e.g. a racing change put the groups back)
        from botocore.awsrequest import AWSResponse

        from tests.fixtures.faults import respond

        def silently_ignored(model: Any, **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
            if model.name != "ModifyNetworkInterfaceAttribute":
                return None
            return respond(
                model,
                200,
                "<ModifyNetworkInterfaceAttributeResponse><return>true</return></ModifyNetworkInterfaceAttributeResponse>",
            )

        inject(clients.ec2, silently_ignored)
        instance_id = launch()
        with pytest.raises(EventIsolationFailed) as failed:
            invoke(tag_change_event([instance_id]))
        [result] = failed.value.summary["instances"]
        assert "after the change the interface is on" in result["failures"]["network_interfaces"]


class TestIdempotenceAndScope:
    def test_a_repeated_event_changes_nothing_and_says_so(
        self,
        ec2: Any,
        network: Network,
        launch: Launch,
        invoke: Invoke,
        settings: Settings,
        clients: AwsClients,
        app_profile_arn: str,
    ) -> None:
        instance_id = launch(
            enis=[[network.app_group_id], [network.db_group_id]], profile_arn=app_profile_arn
        )
        first = invoke(tag_change_event([instance_id], event_id="evt-1"))
        assert first["instances"][0]["status"] == "isolated"
        tags_after_first = tags_of(ec2, instance_id)
        calls = record_calls(clients.ec2)
        # When the same tag event is delivered again (EventBridge delivers at least once)
        second = invoke(tag_change_event([instance_id], event_id="evt-2"))
        # Then nothing is changed, no mutating call is made, and the result says so
        [result] = second["instances"]
        assert result["status"] == "already_isolated"
        assert result["changes"] == []
        assert [op for op in calls.operations() if op.startswith(MUTATING_PREFIXES)] == []
        assert tags_of(ec2, instance_id) == tags_after_first
        assert_isolated(ec2, instance_id, network.vpc_id, settings)

    def test_two_instances_in_one_event_are_both_isolated(
        self,
        ec2: Any,
        network: Network,
        launch: Launch,
        invoke: Invoke,
        settings: Settings,
        app_profile_arn: str,
    ) -> None:
        first = launch(profile_arn=app_profile_arn)
        second = launch(enis=[[network.db_group_id], [network.app_group_id]])
        summary = invoke(tag_change_event([first, second]))
        assert [r["instance_id"] for r in summary["instances"]] == [first, second]
        assert {r["status"] for r in summary["instances"]} == {"isolated"}
        group_id = assert_isolated(ec2, first, network.vpc_id, settings)
        assert assert_isolated(ec2, second, network.vpc_id, settings) == group_id

    def test_one_failing_instance_does_not_stop_the_other(
        self, ec2: Any, network: Network, launch: Launch, invoke: Invoke, settings: Settings
    ) -> None:
        real = launch()
        summary_error = None
        with pytest.raises(EventIsolationFailed) as failed:
            invoke(tag_change_event(["i-0aaaaaaaaaaaaaaaa", real]))
        summary_error = failed.value.summary
        by_id = {r["instance_id"]: r for r in summary_error["instances"]}
        assert by_id["i-0aaaaaaaaaaaaaaaa"]["status"] == "failed"
        assert "InstanceNotFound" in by_id["i-0aaaaaaaaaaaaaaaa"]["failures"]["isolation"]
        assert by_id[real]["status"] == "isolated"
        assert_isolated(ec2, real, network.vpc_id, settings)

    @pytest.mark.parametrize(
        ("tags", "changed", "reason"),
        [
            ({"SecurityIsolation": "isolate"}, ["SecurityIsolation"], "'isolate', neither 'Isolate' nor"),
            (
                {"SecurityIsolation": "Quarantine"},
                ["SecurityIsolation"],
                "'Quarantine', neither 'Isolate' nor",
            ),
            ({"Name": "web-01"}, ["SecurityIsolation"], "was removed"),
            ({"SecurityIsolation": "Isolate", "Owner": "x"}, ["Owner"], "not among the changed keys"),
        ],
        ids=["value-in-another-case", "another-value", "key-removed", "another-key-changed"],
    )
    def test_an_event_that_does_not_request_isolation_is_a_logged_no_op(
        self,
        ec2: Any,
        network: Network,
        launch: Launch,
        invoke: Invoke,
        clients: AwsClients,
        tags: dict[str, str],
        changed: list[str],
        reason: str,
    ) -> None:
        instance_id = launch()
        before = eni_groups(ec2, instance_id)
        calls = record_calls(clients.ec2)
        summary = invoke(tag_change_event([instance_id], tags=tags, changed_keys=changed))
        assert summary["action"] == "none"
        assert reason in summary["reason"]
        assert calls.calls == [], "a no-op makes no AWS call at all"
        assert eni_groups(ec2, instance_id) == before
        assert groups_named(ec2, ISOLATION_GROUP) == []


# ---- the critical path before the transition move --------------------------------------------------

#: each call waits this long before it reaches the emulator, so that calls made at the same time are in
#: flight together (the round trips are counted from what waited for what, not from the clock, so a
#: loaded machine that starts a thread late does not change the count)
LATENCY_S = 0.02
TRANSITION_GROUP = "ec2-isolation-isolation-untrack"


def timed(clients: AwsClients) -> SimulatedNetwork:
    """Every call of the handler's clients waits ``LATENCY_S`` and is timed (the benchmark's network: no
    throttling), so that calls made at the same time overlap and a round trip is a call that waits for
    the one before it."""
    network = SimulatedNetwork(LATENCY_S, bucket_size=float("inf"), refill_rate=0.0)
    for client in (
        clients.ec2,
        clients.iam,
        clients.autoscaling,
        clients.elbv2,
        clients.dynamodb,
        clients.sns,
        clients.events,
    ):
        network.hook(client)
    return network


class TestTheCriticalPathBeforeTheTransition:
    """The first ENI move onto the transition group comes right after the record: the describe, the reads
    (all at once), the record, then the move; the Auto Scaling and protection changes run beside it."""

    @pytest.mark.parametrize("served", [False, True], ids=["one-eni", "served-two-enis-asg-target-groups"])
    def test_the_first_eni_move_comes_after_at_most_four_sequential_round_trips(
        self,
        request: pytest.FixtureRequest,
        ec2: Any,
        network: Network,
        launch: Launch,
        invoke: Invoke,
        clients: AwsClients,
        app_profile_arn: str,
        served: bool,
    ) -> None:
        # Given the VPC's isolation and transition groups exist (an earlier isolation made them), and an
        # instance with a profile and a volume; served: two ENIs, in an Auto Scaling group, behind an
        # instance and an IP target group (whose registrations take a read of their own)
        invoke(tag_change_event([launch()], event_id="evt-earlier"))
        if served:
            instance_id = request.getfixturevalue("fleet")["instance_id"]
        else:
            instance_id = launch(profile_arn=app_profile_arn, extra_volumes=1)
        # When it is isolated, every call taking 50 ms
        timeline = timed(clients)
        with timeline.invocation("measured"):
            [result] = invoke(tag_change_event([instance_id], event_id="evt-timed"))["instances"]
        assert result["status"] == "isolated", result["failures"]
        attempts = timeline.of("measured")
        # Then the first ENI move is onto the transition group, after at most 4 sequential round trips
        # (the describe, the reads at once, the record; with target groups, their registrations)
        first = first_eni_move(attempts)
        assert first is not None
        [transition] = groups_named(ec2, TRANSITION_GROUP, network.vpc_id)
        assert first.params["SecurityGroupId.1"] == transition["GroupId"]
        before = round_trips_before_first_move(attempts)
        assert before is not None and before <= 4, [
            (a.operation, a.depth, a.predecessor and a.predecessor.operation)
            for a in attempts
            if a.end <= first.start
        ]
        assert before == (4 if served else 3)
        # and the record, written before it, is one of those round trips
        [put] = [a for a in attempts if a.operation == "PutItem"]
        assert put.end <= first.start
        assert first.waited_for(put)
        assert not [a for a in attempts if is_mutating(a.operation) and a.start < put.end and a is not put]

    def test_auto_scaling_and_protection_run_beside_the_transition_move_and_before_the_cut(
        self, ec2: Any, network: Network, invoke: Invoke, clients: AwsClients, fleet: dict[str, Any]
    ) -> None:
        timeline = timed(clients)
        with timeline.invocation("measured"):
            invoke(tag_change_event([fleet["instance_id"]]))
        attempts = timeline.of("measured")
        isolation = isolation_group_id(ec2, network.vpc_id)
        moves = [a for a in attempts if is_eni_move(a)]
        transition_moves = [a for a in moves if a.params["SecurityGroupId.1"] != isolation]
        cut = min(a.start for a in moves if a.params["SecurityGroupId.1"] == isolation)
        [put] = [a for a in attempts if a.operation == "PutItem"]
        [detach] = [a for a in attempts if a.operation == "DetachInstances"]
        protection = [a for a in attempts if a.operation == "ModifyInstanceAttribute"]
        assert protection
        # the changes start after the record, at the same time as the transition move (neither waits for
        # the other) ...
        for change in (detach, protection[0]):
            assert change.waited_for(put), change.operation
            assert all(at_once(change, move) for move in transition_moves), change.operation
        # ... and are done before the cut
        assert max(a.end for a in (detach, *protection)) <= cut

    def test_the_first_isolation_in_a_vpc_creates_both_groups_at_once(
        self, ec2: Any, network: Network, launch: Launch, invoke: Invoke, clients: AwsClients
    ) -> None:
        # Given clients that have isolated before (in another VPC: botocore's models are loaded), and an
        # instance that is the first to be isolated in its VPC
        elsewhere = make_network(ec2, "10.8.0.0/16")
        invoke(tag_change_event([launch(net=elsewhere)], event_id="evt-elsewhere"))
        instance_id = launch()
        timeline = timed(clients)
        with timeline.invocation("measured"):
            invoke(tag_change_event([instance_id]))
        attempts = timeline.of("measured")
        creates = [a for a in attempts if a.operation == "CreateSecurityGroup"]
        assert len(creates) == 2
        assert at_once(*creates), "created at the same time"
        # the describe, the reads, the record, the creations, the new groups' rules (read, revoke, read
        # back beside read, authorize, authorize), then the move
        before = round_trips_before_first_move(attempts)
        assert before is not None and before <= 7
