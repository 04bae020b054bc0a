"""Preserving evidence: the instance cannot be terminated or lose its volumes, and its disks are
snapshotted (crash-consistent, in one multi-volume call; completion is not awaited)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ec2_isolation.config import Settings
from ec2_isolation.log import log
from ec2_isolation.steps import requires
from ec2_isolation.steps.dryrun import check, maybe

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.literals import InstanceAttributeNameType
    from mypy_boto3_ec2.type_defs import InstanceTypeDef, TagTypeDef


#: the instance attributes the termination-protection step changes: (attribute, answer key, record key)
PROTECTION_ATTRIBUTES: tuple[tuple[InstanceAttributeNameType, str, str], ...] = (
    ("disableApiTermination", "DisableApiTermination", "termination_protection"),
    ("instanceInitiatedShutdownBehavior", "InstanceInitiatedShutdownBehavior", "shutdown_behaviour"),
)


def _attribute_value(answer: Any, key: str, recorded_as: str) -> Any:
    value = answer.get(key, {}).get("Value")
    return bool(value) if recorded_as == "termination_protection" else value


@requires("ec2:DescribeInstanceAttribute")
def protection_state(ec2: EC2Client, instance_id: str) -> dict[str, Any]:
    """Termination protection and shutdown behaviour, as they are, one after the other (the responder
    CLI's live state; the handler reads the two at the same time with `instance_attribute`)."""
    state: dict[str, Any] = {}
    for attribute, key, recorded_as in PROTECTION_ATTRIBUTES:
        answer = ec2.describe_instance_attribute(InstanceId=instance_id, Attribute=attribute)
        state[recorded_as] = _attribute_value(answer, key, recorded_as)
    return state


@requires("ec2:DescribeInstanceAttribute")
def instance_attribute(ec2: EC2Client, instance_id: str, recorded_as: str) -> Any:
    """One of `PROTECTION_ATTRIBUTES` (by its record key), as it is (recorded before the change)."""
    attribute, key, _ = next(a for a in PROTECTION_ATTRIBUTES if a[2] == recorded_as)
    answer = ec2.describe_instance_attribute(InstanceId=instance_id, Attribute=attribute)
    return _attribute_value(answer, key, recorded_as)


@requires("ec2:DescribeInstanceAttribute", "ec2:ModifyInstanceAttribute")
def protect_instance(
    ec2: EC2Client,
    instance: InstanceTypeDef,
    *,
    known: Mapping[str, Any] | None = None,
    dry_run: bool = False,
) -> list[str]:
    """Termination protection on, shutdown behaviour "stop", DeleteOnTermination off on every volume.

    ``known``: the two attributes as `protection_state` read them in this invocation (saves two reads).
    The changes are made one after the other (three attributes of one instance, at most three calls).
    Returns the changes made (empty when everything was already so).
    """
    instance_id = instance["InstanceId"]
    state = known if known is not None else protection_state(ec2, instance_id)
    changes: list[str] = []
    if not state["termination_protection"]:
        maybe(
            dry_run,
            ec2.modify_instance_attribute,
            InstanceId=instance_id,
            DisableApiTermination={"Value": True},
        )
        changes.append("enabled termination protection")
    if state["shutdown_behaviour"] != "stop":
        maybe(
            dry_run,
            ec2.modify_instance_attribute,
            InstanceId=instance_id,
            InstanceInitiatedShutdownBehavior={"Value": "stop"},
        )
        changes.append("set shutdown behaviour to stop")
    deleting = [
        m["DeviceName"]
        for m in instance.get("BlockDeviceMappings", [])
        if "DeviceName" in m and m.get("Ebs", {}).get("DeleteOnTermination")
    ]
    if deleting:
        maybe(
            dry_run,
            ec2.modify_instance_attribute,
            InstanceId=instance_id,
            BlockDeviceMappings=[{"DeviceName": d, "Ebs": {"DeleteOnTermination": False}} for d in deleting],
        )
        changes.append(f"kept volumes on termination ({', '.join(deleting)})")
    if changes:
        log(logging.INFO, "protected the instance", changes=changes)
    return changes


@dataclass
class Evidence:
    """The evidence snapshots of one isolation: started now (``CreateSnapshots``' answer), or found from an
    earlier attempt of the same isolation (``DescribeSnapshots``); in a dry run, the volumes it would
    snapshot."""

    started: list[dict[str, Any]] = field(default_factory=list)
    earlier: list[dict[str, Any]] = field(default_factory=list)
    would_snapshot: list[str] = field(default_factory=list)

    @property
    def snapshots(self) -> list[dict[str, Any]]:
        return [*self.earlier, *self.started]


@requires("ec2:DescribeSnapshots", "ec2:CreateSnapshots", "ec2:CreateTags")
def snapshot_volumes(
    ec2: EC2Client,
    instance: InstanceTypeDef,
    settings: Settings,
    *,
    event_id: str,
    isolation_event_ids: frozenset[str],
    now: datetime,
    dry_run: bool = False,
) -> Evidence:
    """Snapshot every attached EBS volume in one call, tagged with the instance, event and time.

    With ``dry_run``, asks EC2 whether it would be allowed and returns the volume ids it would snapshot.
    Takes none (returns them as ``earlier``) when snapshots of this instance were already taken
    for one of ``isolation_event_ids`` (this event, or the event that isolated the instance).
    """
    instance_id = instance["InstanceId"]
    if not any("Ebs" in m for m in instance.get("BlockDeviceMappings", [])):
        return Evidence()
    existing = ec2.describe_snapshots(
        OwnerIds=["self"],
        Filters=[
            {"Name": f"tag:{settings.tag('SourceInstance')}", "Values": [instance_id]},
            {"Name": f"tag:{settings.tag('EventId')}", "Values": sorted(isolation_event_ids)},
        ],
    )["Snapshots"]
    if existing:
        return Evidence(earlier=[dict(s) for s in existing])
    tags: list[TagTypeDef] = [
        {"Key": k, "Value": v}
        for k, v in {
            **settings.resource_tags,
            settings.managed_tag_key: settings.managed_tag_value,
            settings.tag("SourceInstance"): instance_id,
            settings.tag("EventId"): event_id,
            settings.tag("IsolatedAt"): now.isoformat(timespec="seconds"),
        }.items()
    ]
    request: Any = {
        "InstanceSpecification": {"InstanceId": instance_id, "ExcludeBootVolume": False},
        "Description": f"Evidence of {instance_id}, isolated by event {event_id}",
        "TagSpecifications": [{"ResourceType": "snapshot", "Tags": tags}],
        "CopyTagsFromSource": "volume",
    }
    if dry_run:
        check(ec2.create_snapshots, **request)
        return Evidence(
            would_snapshot=[
                m["Ebs"]["VolumeId"]
                for m in instance.get("BlockDeviceMappings", [])
                if "VolumeId" in m.get("Ebs", {})
            ]
        )
    snapshots = [dict(s) for s in ec2.create_snapshots(**request)["Snapshots"] if "SnapshotId" in s]
    log(logging.INFO, "started evidence snapshots", snapshot_ids=[s["SnapshotId"] for s in snapshots])
    return Evidence(started=snapshots)
