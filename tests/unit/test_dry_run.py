"""Specification of the dry run: the handler logs and records exactly what it would do, asks EC2 whether
each change would be allowed (DryRun), and changes nothing."""

from __future__ import annotations

import dataclasses
from typing import Any

import boto3
import pytest

from ec2_isolation.clients import AwsClients
from ec2_isolation.config import Settings
from ec2_isolation.errors import EventIsolationFailed
from ec2_isolation.steps.record import read_record
from tests.fixtures.events import REGION, tag_change_event
from tests.fixtures.faults import Fault, inject, record_calls
from tests.unit.analyst import MUTATING, live_state, request_isolation, request_release
from tests.unit.conftest import FIXED_NOW, Invoke, Network, groups_named, targets

#: EC2 changes that have no DryRun flag (the plan says what would be done instead)
NO_DRY_RUN_FLAG = {"AssociateIamInstanceProfile", "ReplaceIamInstanceProfileAssociation"}


def dry(settings: Settings) -> Settings:
    return dataclasses.replace(settings, dry_run=True)


def served_state(ec2: Any, iam: Any, fleet: dict[str, Any]) -> dict[str, Any]:
    """Everything an isolation of the fleet instance would change."""
    instance_id = fleet["instance_id"]
    members = fleet["autoscaling"].describe_auto_scaling_instances(InstanceIds=[instance_id])
    return {
        **live_state(ec2, instance_id),
        "tags": ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [instance_id]}])["Tags"],
        "auto_scaling": members["AutoScalingInstances"],
        "targets": (targets(fleet, "by_instance"), targets(fleet, "by_ip")),
        "role_policies": iam.list_role_policies(RoleName="web-app")["PolicyNames"],
        "security_groups": sorted(g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"]),
        "snapshots": sorted(s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]),
    }


def dry_run_record(instance_id: str, table: str) -> dict[str, Any]:
    found = read_record(boto3.client("dynamodb", region_name=REGION), table, f"dry-run#{instance_id}")
    assert found is not None
    return found


class TestDryRunIsolation:
    def test_nothing_changes_and_the_plan_is_logged_and_recorded(
        self,
        ec2: Any,
        iam: Any,
        invoke: Invoke,
        settings: Settings,
        clients: AwsClients,
        record_table: str,
        fleet: dict[str, Any],
        network: Network,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        # Given a served two-ENI instance with a profile, and the module in dry-run mode
        caplog.set_level("INFO", logger="ec2_isolation")
        instance_id = fleet["instance_id"]
        before = served_state(ec2, iam, fleet)
        calls = record_calls(clients.ec2, clients.iam, clients.autoscaling, clients.elbv2)
        # When an analyst tags it
        summary = invoke(request_isolation(ec2, instance_id, "evt-dry"), dry(settings))
        # Then nothing changed at all
        [result] = summary["instances"]
        assert summary["dry_run"] is True
        assert result["status"] == "dry_run", result
        after = served_state(ec2, iam, fleet)
        assert {k: v for k, v in after.items() if k != "tags"} == {
            k: v for k, v in before.items() if k != "tags"
        }
        assert [t for t in after["tags"] if t["Key"].startswith("SecurityIsolation:")] == []
        assert groups_named(ec2, "ec2-isolation-isolation") == []
        # and every EC2 change it would make was asked as a DryRun (EC2 said it would be allowed)
        changes = [
            (op, params)
            for (_, op), params in zip(calls.calls, calls.params, strict=True)
            if op.startswith(MUTATING) and op not in NO_DRY_RUN_FLAG
        ]
        assert {op for op, _ in changes} >= {
            "CreateSecurityGroup",
            "ModifyInstanceAttribute",
            "ModifyNetworkInterfaceAttribute",
            "CreateSnapshots",
            "CreateTags",
        }
        assert all(params.get("DryRun") == "true" for _, params in changes), changes
        # and the other services were only read
        assert not [op for op in calls.operations() if op.startswith(("Detach", "Deregister", "Put"))]
        # and the plan says what would be done, in order
        plan = result["plan"]
        assert plan[0] == "detach from Auto Scaling group web"
        assert f"revoked credentials issued before {FIXED_NOW[:19]}Z on role web-app" in plan
        assert any(line.startswith("deregistered from") for line in plan)
        assert plan[-1] == "tagged as isolated"
        assert result["changes"] == []
        # and it is recorded apart from the real record, which does not exist (no lock, no prior)
        assert read_record(clients.dynamodb, record_table, instance_id) is None
        [run] = dry_run_record(instance_id, record_table)["runs"]
        assert (run["action"], run["event_id"], run["plan"]) == ("isolate", "evt-dry", plan)
        assert run["prior"]["auto_scaling"] == {"group": "web", "state": "InService"}
        assert any("dry run: what the isolation would do" in r.getMessage() for r in caplog.records)

    def test_a_change_ec2_would_refuse_fails_the_dry_run(
        self,
        ec2: Any,
        launch: Any,
        invoke: Invoke,
        settings: Settings,
        clients: AwsClients,
        record_table: str,
    ) -> None:
        # Given a role that may not change instance attributes (EC2 answers the DryRun with the refusal)
        instance_id = launch()
        inject(
            clients.ec2,
            Fault(
                "ModifyInstanceAttribute",
                "UnauthorizedOperation",
                "You are not authorized to perform this operation.",
                status=403,
                when=lambda p: p.get("DryRun") == "true",
            ),
        )
        # When the dry run runs, then it fails where the real run would, and says so in the record
        with pytest.raises(EventIsolationFailed) as failed:
            invoke(request_isolation(ec2, instance_id, "evt-dry"), dry(settings))
        [result] = failed.value.summary["instances"]
        assert "UnauthorizedOperation" in result["failures"]["termination_protection"]
        [run] = dry_run_record(instance_id, record_table)["runs"]
        assert run["failures"] == result["failures"]

    def test_each_dry_run_is_appended(
        self, ec2: Any, launch: Any, invoke: Invoke, settings: Settings, record_table: str
    ) -> None:
        instance_id = launch()
        invoke(request_isolation(ec2, instance_id, "evt-1"), dry(settings))
        invoke(tag_change_event([instance_id], event_id="evt-2"), dry(settings))
        runs = dry_run_record(instance_id, record_table)["runs"]
        assert [r["event_id"] for r in runs] == ["evt-1", "evt-2"]


class TestDryRunRelease:
    def test_nothing_is_restored_and_the_plan_lists_what_would_be(
        self,
        ec2: Any,
        launch: Any,
        invoke: Invoke,
        settings: Settings,
        clients: AwsClients,
        record_table: str,
        app_profile_arn: str,
    ) -> None:
        # Given an isolated instance
        instance_id = launch(profile_arn=app_profile_arn)
        invoke(request_isolation(ec2, instance_id, "evt-isolate"))
        isolated = live_state(ec2, instance_id)
        calls = record_calls(clients.ec2)
        # When its release is run dry
        [result] = invoke(request_release(ec2, instance_id, "evt-release"), dry(settings))["instances"]
        # Then it stays isolated, the record is untouched, and the plan lists the restores
        assert result["status"] == "dry_run", result
        assert live_state(ec2, instance_id) == isolated
        assert f"re-associated instance profile {app_profile_arn}" in result["plan"]
        assert any(line.startswith("put eni-") for line in result["plan"])
        assert result["plan"][-1] == "tagged as released"
        mutations = [
            p for (_, op), p in zip(calls.calls, calls.params, strict=True) if op.startswith(MUTATING)
        ]
        assert mutations and all(p.get("DryRun") == "true" for p in mutations)
        record = read_record(clients.dynamodb, record_table, instance_id)
        assert record is not None and record["status"] == "isolated"
        [run] = dry_run_record(instance_id, record_table)["runs"]
        assert (run["action"], run["plan"]) == ("release", result["plan"])
