"""Specification of the isolation record: the prior state written before the first change, the lock it is,
and the audit trail of every attempt."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from ec2_isolation.clients import AwsClients
from ec2_isolation.config import Settings
from ec2_isolation.errors import EventIsolationFailed
from ec2_isolation.steps.evidence import protection_state
from ec2_isolation.steps.record import _to_item, capture_prior_state, read_record
from tests.fixtures.events import REGION, tag_change_event
from tests.fixtures.faults import Fault, inject, record_calls
from tests.unit.conftest import FIXED_NOW, Invoke, Launch, Network, eni_groups, groups_named, profile_arns


@pytest.fixture
def dynamodb() -> Any:
    return boto3.client("dynamodb", region_name=REGION)


def record(dynamodb: Any, table: str, instance_id: str) -> dict[str, Any]:
    found = read_record(dynamodb, table, instance_id)
    assert found is not None, f"no record of {instance_id}"
    return found


MUTATING = (
    "Create",
    "Modify",
    "Revoke",
    "Authorize",
    "Associate",
    "Replace",
    "Detach",
    "Enter",
    "Deregister",
    "Put",
    "Update",
    "Disassociate",
)


class TestTheRecord:
    def test_the_prior_state_is_recorded_and_every_attempt_appended(
        self,
        ec2: Any,
        dynamodb: Any,
        record_table: str,
        network: Network,
        launch: Launch,
        invoke: Invoke,
        app_profile_arn: str,
    ) -> None:
        # Given a two-ENI instance with a profile and a volume
        instance_id = launch(
            enis=[[network.app_group_id], [network.db_group_id, network.app_group_id]],
            profile_arn=app_profile_arn,
            extra_volumes=1,
        )
        groups_before = eni_groups(ec2, instance_id)
        # When it is isolated, then the event is delivered again
        invoke(tag_change_event([instance_id], event_id="evt-1"))
        invoke(tag_change_event([instance_id], event_id="evt-2"))
        # Then the record holds the state before the first change, never overwritten by the second event
        item = record(dynamodb, record_table, instance_id)
        assert {
            eni: sorted(groups) for eni, groups in item["prior"]["security_groups"].items()
        } == groups_before
        assert item["prior"]["instance_profile_arn"] == app_profile_arn
        assert item["prior"]["delete_on_termination"] == {"/dev/sdf": True}
        assert item["prior"]["termination_protection"] is False
        assert item["prior"]["shutdown_behaviour"] == "stop"
        assert item["status"] == "isolated"
        assert item["isolation_event_id"] == "evt-1"
        assert item["started_at"] == FIXED_NOW
        # and both attempts, with their steps, in order
        assert [(a["event_id"], a["status"]) for a in item["attempts"]] == [
            ("evt-1", "isolated"),
            ("evt-2", "already_isolated"),
        ]
        assert item["attempts"][0]["steps"]["network_interfaces"] == "ok"
        assert item["attempts"][1]["changes"] == []
        assert "lock_event_id" not in item

    def test_the_responder_clis_readers_read_the_prior_state_the_handler_records(
        self,
        ec2: Any,
        dynamodb: Any,
        record_table: str,
        network: Network,
        launch: Launch,
        invoke: Invoke,
        clients: AwsClients,
        app_profile_arn: str,
    ) -> None:
        # Given a two-ENI instance with a profile and a volume, read as `ec2-isolation status` reads the
        # live state (one call after the other: capture_prior_state, protection_state)
        instance_id = launch(
            enis=[[network.app_group_id], [network.db_group_id, network.app_group_id]],
            profile_arn=app_profile_arn,
            extra_volumes=1,
        )
        instance = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
        live = {
            **capture_prior_state(clients.ec2, instance),
            **protection_state(clients.ec2, instance_id),
        }
        # When the handler isolates it (its reads made at the same time)
        invoke(tag_change_event([instance_id]))
        # Then it recorded exactly what those readers read before
        prior = record(dynamodb, record_table, instance_id)["prior"]
        assert {key: prior[key] for key in live} == live

    def test_the_record_is_written_before_the_first_change(
        self, ec2: Any, launch: Launch, invoke: Invoke, clients: AwsClients
    ) -> None:
        calls = record_calls(clients.ec2, clients.iam, clients.autoscaling, clients.elbv2, clients.dynamodb)
        invoke(tag_change_event([launch()]))
        operations = calls.operations()
        first_change = next(
            i for i, op in enumerate(operations) if op.startswith(MUTATING) and op != "PutItem"
        )
        assert operations.index("PutItem") < first_change
        assert operations[-1] == "UpdateItem", "the outcome is appended last"

    def test_without_a_record_nothing_is_changed(
        self,
        ec2: Any,
        network: Network,
        launch: Launch,
        invoke: Invoke,
        clients: AwsClients,
        app_profile_arn: str,
    ) -> None:
        # Given the record cannot be written
        inject(
            clients.dynamodb,
            Fault(
                "PutItem", "AccessDeniedException", "not authorized to perform: dynamodb:PutItem", status=400
            ),
        )
        instance_id = launch(profile_arn=app_profile_arn)
        # When / Then the invocation fails and the instance is untouched (a retry starts from scratch)
        with pytest.raises(EventIsolationFailed) as failed:
            invoke(tag_change_event([instance_id]))
        assert "AccessDeniedException" in failed.value.summary["instances"][0]["failures"]["isolation"]
        assert list(eni_groups(ec2, instance_id).values()) == [[network.app_group_id]]
        assert profile_arns(ec2, instance_id) == [app_profile_arn]
        assert groups_named(ec2, "ec2-isolation-isolation") == []


class TestTheLock:
    def hold(
        self,
        dynamodb: Any,
        table: str,
        instance_id: str,
        *,
        event_id: str,
        expires_at: int,
        prior: dict[str, Any],
    ) -> None:
        dynamodb.put_item(
            TableName=table,
            Item=_to_item(
                {
                    "instance_id": instance_id,
                    "status": "isolating",
                    "isolation_event_id": event_id,
                    "started_at": "2026-11-28T05:12:00+00:00",
                    "prior": prior,
                    "attempts": [],
                    "lock_event_id": event_id,
                    "lock_expires_at": expires_at,
                    "version": 1,
                }
            ),
        )

    def test_a_concurrent_event_stands_down_while_another_isolates(
        self, ec2: Any, dynamodb: Any, record_table: str, network: Network, launch: Launch, invoke: Invoke
    ) -> None:
        # Given another invocation holds the record (its lock has not expired)
        instance_id = launch()
        self.hold(
            dynamodb,
            record_table,
            instance_id,
            event_id="evt-other",
            expires_at=4102444800,
            prior={"security_groups": {}},
        )
        # When this event arrives
        [result] = invoke(tag_change_event([instance_id], event_id="evt-mine"))["instances"]
        # Then it changes nothing, says who holds the lock, and does not fail (the holder's retries finish the job)
        assert result["status"] == "in_progress"
        assert "evt-other" in result["reason"]
        assert list(eni_groups(ec2, instance_id).values()) == [[network.app_group_id]]
        assert record(dynamodb, record_table, instance_id)["lock_event_id"] == "evt-other"

    @pytest.mark.parametrize(
        ("holder", "expires_at"),
        [("evt-mine", 4102444800), ("evt-crashed", 0)],
        ids=["retry-of-the-same-event", "expired-lock"],
    )
    def test_a_retry_or_an_expired_lock_takes_over_and_keeps_the_recorded_prior(
        self,
        ec2: Any,
        dynamodb: Any,
        record_table: str,
        network: Network,
        launch: Launch,
        invoke: Invoke,
        holder: str,
        expires_at: int,
    ) -> None:
        instance_id = launch()
        [eni] = eni_groups(ec2, instance_id)
        prior = {"security_groups": {eni: [network.db_group_id]}, "instance_profile_arn": None}
        self.hold(dynamodb, record_table, instance_id, event_id=holder, expires_at=expires_at, prior=prior)
        [result] = invoke(tag_change_event([instance_id], event_id="evt-mine"))["instances"]
        assert result["status"] == "isolated"
        item = record(dynamodb, record_table, instance_id)
        assert item["prior"] == prior, "the record is never overwritten"
        assert item["status"] == "isolated" and item["attempts"][-1]["event_id"] == "evt-mine"

    def test_a_failed_attempt_is_recorded_and_its_retry_restores_from_the_record(
        self,
        ec2: Any,
        dynamodb: Any,
        record_table: str,
        network: Network,
        launch: Launch,
        invoke: Invoke,
        clients: AwsClients,
    ) -> None:
        # Given an attempt whose cut and restore both fail: the ENI is left on the transition group
        instance_id = launch(enis=[[network.app_group_id], [network.db_group_id]])
        second = next(e for e, g in eni_groups(ec2, instance_id).items() if g == [network.db_group_id])

        def to_a_managed_group(params: dict[str, str]) -> bool:
            return params.get("NetworkInterfaceId") == second and params.get(
                "SecurityGroupId.1"
            ) != _transition(ec2)

        first = inject(
            clients.ec2,
            Fault(
                "ModifyNetworkInterfaceAttribute",
                "RequestLimitExceeded",
                "Request limit exceeded.",
                when=to_a_managed_group,
            ),
        )
        with pytest.raises(EventIsolationFailed):
            invoke(tag_change_event([instance_id], event_id="evt-1"))
        assert eni_groups(ec2, instance_id)[second] == [_transition(ec2)]
        item = record(dynamodb, record_table, instance_id)
        assert item["status"] == "failed"
        assert item["attempts"][0]["steps"]["network_interfaces"] == "failed"
        assert item["attempts"][0]["steps"][f"restore_{second}"] == "failed"
        # When the retry's cut fails again (the restore does not)
        first.when = lambda params: (
            params.get("NetworkInterfaceId") == second
            and params.get("SecurityGroupId.1") not in (_transition(ec2), network.db_group_id)
        )
        with pytest.raises(EventIsolationFailed):
            invoke(tag_change_event([instance_id], event_id="evt-1"))
        # Then the ENI goes back to its groups from before the isolation, known from the record only
        assert eni_groups(ec2, instance_id)[second] == [network.db_group_id]
        assert [a["status"] for a in record(dynamodb, record_table, instance_id)["attempts"]] == [
            "failed",
            "failed",
        ]


def _transition(ec2: Any) -> str:
    [group] = groups_named(ec2, "ec2-isolation-isolation-untrack")
    group_id: str = group["GroupId"]
    return group_id


def test_a_record_that_cannot_be_completed_fails_the_invocation(
    launch: Launch, invoke: Invoke, clients: AwsClients
) -> None:
    inject(
        clients.dynamodb,
        Fault(
            "UpdateItem",
            "AccessDeniedException",
            "not authorized to perform: dynamodb:UpdateItem",
            status=400,
        ),
    )
    with pytest.raises(EventIsolationFailed) as failed:
        invoke(tag_change_event([launch()]))
    assert "AccessDeniedException" in failed.value.summary["instances"][0]["failures"]["isolation"]


def test_the_record_table_is_a_required_setting(function_env: dict[str, str]) -> None:
    from ec2_isolation.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="RECORD_TABLE_NAME"):
        Settings.from_env({k: v for k, v in function_env.items() if k != "RECORD_TABLE_NAME"})
