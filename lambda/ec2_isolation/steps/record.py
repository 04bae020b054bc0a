"""The isolation record: the instance's prior state, written before the first change, and the outcome of
every attempt appended to it (the audit trail).

The first write is conditional, so it is also the lock: of two concurrent events for one instance, one
writes the record and isolates; the other finds the record held by a live invocation and stands down. A
retry of the same event, an expired lock, or a later event for an isolated instance take the lock over
and keep the recorded prior state: the record is never overwritten by a second isolation.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from ec2_isolation.errors import IsolationError, error_code
from ec2_isolation.log import log
from ec2_isolation.steps import requires
from ec2_isolation.steps.profile import active_associations

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import InstanceTypeDef

ISOLATING, ISOLATED, FAILED = "isolating", "isolated", "failed"
_serialize = TypeSerializer().serialize
_deserialize = TypeDeserializer().deserialize


def _to_item(values: dict[str, Any]) -> dict[str, Any]:
    return {key: _serialize(value) for key, value in values.items()}


def _from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {key: _deserialize(value) for key, value in item.items()}


@requires("ec2:DescribeNetworkInterfaces", "ec2:DescribeIamInstanceProfileAssociations")
def capture_prior_state(ec2: EC2Client, instance: InstanceTypeDef) -> dict[str, Any]:
    """What isolation changes on every instance, read before any change (``protection_state`` adds the
    attributes the termination-protection step changes)."""
    instance_id = instance["InstanceId"]
    enis = ec2.describe_network_interfaces(
        Filters=[{"Name": "attachment.instance-id", "Values": [instance_id]}]
    )["NetworkInterfaces"]
    associations = active_associations(ec2, instance_id)
    prior: dict[str, Any] = {
        "state": instance.get("State", {}).get("Name", "unknown"),
        "security_groups": {
            e["NetworkInterfaceId"]: [g["GroupId"] for g in e.get("Groups", [])] for e in enis
        },
        "instance_profile_arn": associations[0].get("IamInstanceProfile", {}).get("Arn")
        if associations
        else None,
        "delete_on_termination": {
            m["DeviceName"]: bool(m.get("Ebs", {}).get("DeleteOnTermination"))
            for m in instance.get("BlockDeviceMappings", [])
            if "DeviceName" in m and "Ebs" in m
        },
    }
    return prior


@dataclass
class Lock:
    """The outcome of taking the record: whether to go on, and the prior state to go on with."""

    acquired: bool
    created: bool
    prior: dict[str, Any]
    held_by: str | None = None


@requires("dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem")
def begin_isolation(
    dynamodb: DynamoDBClient,
    table: str,
    *,
    instance_id: str,
    event_id: str,
    prior: dict[str, Any],
    now: datetime,
    lock_seconds: int,
) -> Lock:
    """Write the record with ``prior`` (first isolation), or take over the existing one and keep its prior."""
    expires = int(now.timestamp()) + lock_seconds
    record = {
        "instance_id": instance_id,
        "status": ISOLATING,
        "isolation_event_id": event_id,
        "started_at": now.isoformat(timespec="seconds"),
        "prior": prior,
        "attempts": [],
        "lock_event_id": event_id,
        "lock_expires_at": expires,
        "version": 1,
    }
    try:
        dynamodb.put_item(
            TableName=table, Item=_to_item(record), ConditionExpression="attribute_not_exists(instance_id)"
        )
    except ClientError as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            raise
    else:
        log(logging.INFO, "recorded the prior state", table=table)
        return Lock(acquired=True, created=True, prior=prior)
    current = read_record(dynamodb, table, instance_id)
    if current is None:
        raise IsolationError(f"the record of {instance_id} exists and does not: a concurrent deletion?")
    holder = current.get("lock_event_id")
    live = (
        holder is not None and holder != event_id and int(current.get("lock_expires_at", 0)) > now.timestamp()
    )
    if current.get("status") == ISOLATING and live:
        log(logging.WARNING, "another invocation is isolating this instance; standing down", held_by=holder)
        return Lock(acquired=False, created=False, prior=current["prior"], held_by=str(holder))
    try:
        dynamodb.update_item(
            TableName=table,
            Key=_to_item({"instance_id": instance_id}),
            UpdateExpression="SET lock_event_id = :event, lock_expires_at = :expires, version = :next",
            ConditionExpression="version = :version",
            ExpressionAttributeValues=_to_item(
                {
                    ":event": event_id,
                    ":expires": expires,
                    ":version": current["version"],
                    ":next": int(current["version"]) + 1,
                }
            ),
        )
    except ClientError as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            raise
        log(logging.WARNING, "the record changed while taking it over; standing down")
        return Lock(acquired=False, created=False, prior=current["prior"], held_by="a concurrent invocation")
    return Lock(acquired=True, created=False, prior=current["prior"])


@requires("dynamodb:UpdateItem")
def finish_isolation(
    dynamodb: DynamoDBClient,
    table: str,
    *,
    instance_id: str,
    event_id: str,
    result: dict[str, Any],
    now: datetime,
) -> None:
    """Append this attempt's outcome (steps, changes, failures) and set the status; release the lock."""
    attempt = {
        "event_id": event_id,
        "finished_at": now.isoformat(timespec="seconds"),
        "status": result["status"],
        "steps": result.get("steps", {}),
        "changes": result.get("changes", []),
        "failures": result.get("failures", {}),
    }
    status = FAILED if result["status"] == "failed" else ISOLATED
    dynamodb.update_item(
        TableName=table,
        Key=_to_item({"instance_id": instance_id}),
        UpdateExpression=(
            "SET #status = :status, attempts = list_append(if_not_exists(attempts, :empty), :attempt) "
            "REMOVE lock_event_id, lock_expires_at"
        ),
        ConditionExpression="lock_event_id = :event",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues=_to_item(
            {":status": status, ":attempt": [attempt], ":empty": [], ":event": event_id}
        ),
    )


def read_record(dynamodb: DynamoDBClient, table: str, instance_id: str) -> dict[str, Any] | None:
    item = dynamodb.get_item(
        TableName=table, Key=_to_item({"instance_id": instance_id}), ConsistentRead=True
    ).get("Item")
    return _from_item(item) if item else None
