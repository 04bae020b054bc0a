"""The isolation record: the instance's prior state, written before the first change, and the outcome of
every attempt appended to it (the audit trail).

The first write is conditional, so it is also the lock: of two concurrent events for one instance, one
writes the record and isolates; the other finds the record held by a live invocation and stands down. A
retry of the same event, an expired lock, or a later event for an isolated instance take the lock over
and keep the recorded prior state: the record is never overwritten by a second isolation.

A release takes the same lock, restores the prior state and marks the record released. An isolation
after a release starts a new cycle with a fresh prior state; the finished cycle moves to ``history``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from ec2_isolation.errors import IsolationError, RecordBusy, error_code
from ec2_isolation.log import log
from ec2_isolation.steps import requires
from ec2_isolation.steps.profile import active_associations

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import InstanceTypeDef, NetworkInterfaceTypeDef

ISOLATING, ISOLATED, FAILED = "isolating", "isolated", "failed"
RELEASING, RELEASED, RELEASE_FAILED = "releasing", "released", "release_failed"
#: the instance was terminated: the record is closed and no longer checked
TERMINATED = "terminated"
#: the records the reconciler checks (a released or terminated record is closed)
OPEN_STATUSES = (ISOLATING, ISOLATED, FAILED, RELEASING, RELEASE_FAILED)
#: what a finished cycle keeps in ``history`` when the instance is isolated again
CYCLE_FIELDS = (
    "isolation_event_id",
    "started_at",
    "prior",
    "attempts",
    "status",
    "release_event_id",
    "released_at",
)
_serialize = TypeSerializer().serialize
_deserialize = TypeDeserializer().deserialize


def _to_item(values: dict[str, Any]) -> dict[str, Any]:
    return {key: _serialize(value) for key, value in values.items()}


def _from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {key: _deserialize(value) for key, value in item.items()}


@requires("ec2:DescribeNetworkInterfaces", "ec2:DescribeIamInstanceProfileAssociations")
def capture_prior_state(ec2: EC2Client, instance: InstanceTypeDef) -> dict[str, Any]:
    """What isolation changes on every instance, read one call after the other (the responder CLI's live
    state; ``protection_state`` adds the attributes the termination-protection step changes). The handler
    makes the same reads at the same time (`read_interfaces`, `instance_profile_arn`) and records
    `prior_state` of them."""
    instance_id = instance["InstanceId"]
    enis = ec2.describe_network_interfaces(
        Filters=[{"Name": "attachment.instance-id", "Values": [instance_id]}]
    )["NetworkInterfaces"]
    associations = active_associations(ec2, instance_id)
    profile = associations[0].get("IamInstanceProfile", {}).get("Arn") if associations else None
    return prior_state(instance, enis, profile)


def prior_state(
    instance: InstanceTypeDef, interfaces: Sequence[NetworkInterfaceTypeDef], profile_arn: str | None
) -> dict[str, Any]:
    """The prior state of what isolation changes on every instance, from the reads made before any change:
    the instance, its ENIs and its instance profile."""
    return {
        "state": instance.get("State", {}).get("Name", "unknown"),
        "security_groups": {
            e["NetworkInterfaceId"]: [g["GroupId"] for g in e.get("Groups", [])] for e in interfaces
        },
        "instance_profile_arn": profile_arn,
        "delete_on_termination": {
            m["DeviceName"]: bool(m.get("Ebs", {}).get("DeleteOnTermination"))
            for m in instance.get("BlockDeviceMappings", [])
            if "DeviceName" in m and "Ebs" in m
        },
    }


@dataclass
class Lock:
    """The outcome of taking the record: whether to go on, and the prior state to go on with."""

    acquired: bool
    created: bool
    prior: dict[str, Any]
    held_by: str | None = None
    #: why this event must not act at all (a late copy of an event whose isolation was released)
    stale: str | None = None


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
    holder = _live_holder(current, event_id, now)
    status = current.get("status")
    if status == RELEASING and holder:
        raise RecordBusy(f"event {holder} is releasing {instance_id}; this isolation will be retried")
    if status == ISOLATING and holder:
        log(logging.WARNING, "another invocation is isolating this instance; standing down", held_by=holder)
        return Lock(acquired=False, created=False, prior=current["prior"], held_by=holder)
    if status == RELEASED:
        if current.get("isolation_event_id") == event_id:
            # A late copy of the event whose isolation was already released: it must not isolate again.
            return Lock(
                acquired=False,
                created=False,
                prior=current["prior"],
                stale=f"this event's isolation was released by event {current.get('release_event_id')}",
            )
        return _new_cycle(dynamodb, table, current, record)
    values: dict[str, Any] = {
        ":event": event_id,
        ":expires": expires,
        ":isolating": ISOLATING,
        ":version": current["version"],
        ":next": int(current["version"]) + 1,
    }
    if not _update_version(
        dynamodb,
        table,
        instance_id,
        "SET #status = :isolating, lock_event_id = :event, lock_expires_at = :expires, version = :next",
        values,
    ):
        log(logging.WARNING, "the record changed while taking it over; standing down")
        return Lock(acquired=False, created=False, prior=current["prior"], held_by="a concurrent invocation")
    return Lock(acquired=True, created=False, prior=current["prior"])


def _live_holder(current: dict[str, Any], event_id: str, now: datetime) -> str | None:
    """The event whose invocation holds the record's lock now (None: nobody else, or the lock expired)."""
    holder = current.get("lock_event_id")
    if holder is not None and holder != event_id and int(current.get("lock_expires_at", 0)) > now.timestamp():
        return str(holder)
    return None


def _update_version(
    dynamodb: DynamoDBClient,
    table: str,
    instance_id: str,
    expression: str,
    values: dict[str, Any],
    *,
    names: dict[str, str] | None = None,
) -> bool:
    """Apply ``expression`` if the record is still at ``:version``. False when another invocation won.
    ``#status`` names the status attribute (``status`` is a reserved word in DynamoDB, as is ``prior``)."""
    try:
        dynamodb.update_item(
            TableName=table,
            Key=_to_item({"instance_id": instance_id}),
            UpdateExpression=expression,
            ConditionExpression="version = :version",
            ExpressionAttributeNames={"#status": "status", **(names or {})},
            ExpressionAttributeValues=_to_item(values),
        )
    except ClientError as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            raise
        return False
    return True


def _new_cycle(dynamodb: DynamoDBClient, table: str, current: dict[str, Any], record: dict[str, Any]) -> Lock:
    """Isolation of a released instance: a fresh prior state; the released cycle goes to the history."""
    cycle = {key: current[key] for key in CYCLE_FIELDS if key in current}
    values = {
        ":status": record["status"],
        ":event": record["isolation_event_id"],
        ":started": record["started_at"],
        ":prior": record["prior"],
        ":empty": [],
        ":cycle": [cycle],
        ":lock": record["lock_event_id"],
        ":expires": record["lock_expires_at"],
        ":version": current["version"],
        ":next": int(current["version"]) + 1,
    }
    expression = (
        "SET #status = :status, isolation_event_id = :event, started_at = :started, #prior = :prior, "
        "attempts = :empty, history = list_append(if_not_exists(history, :empty), :cycle), "
        "lock_event_id = :lock, lock_expires_at = :expires, version = :next "
        "REMOVE release_event_id, released_at"
    )
    if not _update_version(
        dynamodb, table, current["instance_id"], expression, values, names={"#prior": "prior"}
    ):
        raise RecordBusy(f"the record of {current['instance_id']} changed while starting a new isolation")
    log(logging.INFO, "recorded the prior state of a new isolation (the released one is kept in the history)")
    return Lock(acquired=True, created=True, prior=record["prior"])


@contextmanager
def _still_holding(instance_id: str, event_id: str) -> Iterator[None]:
    """The attempt is appended only while this event holds the lock (``lock_event_id``). When another
    invocation took the record over meanwhile (this one ran past the lock's expiry), DynamoDB refuses the
    write: ``RecordBusy`` says so plainly, and the retry of this event appends its own attempt."""
    try:
        yield
    except ClientError as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            raise
        raise RecordBusy(
            f"the record of {instance_id} was taken over by another invocation before event {event_id} "
            "could append its outcome (its lock had expired); the outcome is in the log, and a retry "
            "appends its own"
        ) from exc


def _attempt(action: str, event_id: str, result: dict[str, Any], finished_at: str) -> dict[str, Any]:
    """One attempt of the audit trail: which action, by which event, when, and how each step went."""
    return {
        "action": action,
        "event_id": event_id,
        "finished_at": finished_at,
        "status": result["status"],
        "steps": result.get("steps", {}),
        "changes": result.get("changes", []),
        "failures": result.get("failures", {}),
    }


@requires("dynamodb:UpdateItem")
def finish_isolation(
    dynamodb: DynamoDBClient,
    table: str,
    *,
    instance_id: str,
    event_id: str,
    result: dict[str, Any],
    now: datetime,
    trigger: Mapping[str, Any] | None = None,
    action: str = "isolate",
) -> None:
    """Append this attempt's outcome (steps, changes, failures) and set the status; release the lock.

    ``trigger`` (optional, absent from older records: the tag) says what asked for the isolation;
    ``action`` is ``drift`` for the reconciler's repair of an isolated instance whose state drifted."""
    attempt = _attempt(action, event_id, result, now.isoformat(timespec="seconds"))
    if trigger is not None:
        attempt["trigger"] = dict(trigger)
    status = FAILED if result["status"] == "failed" else ISOLATED
    keep, clear, values = _needs_decision(result)
    with _still_holding(instance_id, event_id):
        dynamodb.update_item(
            TableName=table,
            Key=_to_item({"instance_id": instance_id}),
            UpdateExpression=(
                "SET #status = :status, attempts = list_append(if_not_exists(attempts, :empty), :attempt)"
                + keep
                + " REMOVE lock_event_id, lock_expires_at"
                + clear
            ),
            ConditionExpression="lock_event_id = :event",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=_to_item(
                {":status": status, ":attempt": [attempt], ":empty": [], ":event": event_id, **values}
            ),
        )


def _needs_decision(result: Mapping[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """The parts of an attempt's update that keep (SET) or clear (REMOVE) ``needs_decision`` on the
    record: what a person must decide, which the reconciler does not retry on every sweep."""
    needs = result.get("needs_decision")
    if needs:
        return ", needs_decision = :decision", "", {":decision": dict(needs)}
    return "", ", needs_decision", {}


@requires("dynamodb:GetItem")
def read_record(dynamodb: DynamoDBClient, table: str, instance_id: str) -> dict[str, Any] | None:
    item = dynamodb.get_item(
        TableName=table, Key=_to_item({"instance_id": instance_id}), ConsistentRead=True
    ).get("Item")
    return _from_item(item) if item else None


@dataclass
class ReleaseLock:
    """The outcome of taking the record for a release: go on with the record, or why not."""

    acquired: bool
    record: dict[str, Any] | None
    reason: str = ""


@requires("dynamodb:GetItem", "dynamodb:UpdateItem")
def begin_release(
    dynamodb: DynamoDBClient,
    table: str,
    *,
    instance_id: str,
    event_id: str,
    now: datetime,
    lock_seconds: int,
) -> ReleaseLock:
    """Take the record for a release. No record: the instance was never isolated (nothing to do).
    Released already: nothing to do. Held by a live isolation or release: ``RecordBusy`` (retried)."""
    current = read_record(dynamodb, table, instance_id)
    if current is None:
        return ReleaseLock(False, None, "no isolation record: the instance was never isolated by this module")
    if current.get("status") == RELEASED:
        return ReleaseLock(False, current, f"already released by event {current.get('release_event_id')}")
    holder = _live_holder(current, event_id, now)
    if holder and current.get("status") in (ISOLATING, RELEASING):
        raise RecordBusy(f"event {holder} holds the record of {instance_id}; this release will be retried")
    values = {
        ":releasing": RELEASING,
        ":event": event_id,
        ":expires": int(now.timestamp()) + lock_seconds,
        ":version": current["version"],
        ":next": int(current["version"]) + 1,
    }
    expression = (
        "SET #status = :releasing, release_event_id = :event, lock_event_id = :event, "
        "lock_expires_at = :expires, version = :next"
    )
    if not _update_version(dynamodb, table, instance_id, expression, values):
        raise RecordBusy(f"the record of {instance_id} changed while taking it for a release")
    log(logging.INFO, "took the record for a release", table=table)
    return ReleaseLock(True, current)


@requires("dynamodb:UpdateItem")
def finish_release(
    dynamodb: DynamoDBClient,
    table: str,
    *,
    instance_id: str,
    event_id: str,
    result: dict[str, Any],
    now: datetime,
    trigger: Mapping[str, Any] | None = None,
) -> None:
    """Append the release attempt; the record says released (and when) or release_failed; unlock.
    ``trigger``: what asked for it, when not the analyst's tag event (the reconciler)."""
    finished = now.isoformat(timespec="seconds")
    attempt = _attempt("release", event_id, result, finished)
    if trigger is not None:
        attempt["trigger"] = dict(trigger)
    released = result["status"] != "failed"
    keep, clear, values = _needs_decision(result)
    with _still_holding(instance_id, event_id):
        dynamodb.update_item(
            TableName=table,
            Key=_to_item({"instance_id": instance_id}),
            UpdateExpression=(
                "SET #status = :status, attempts = list_append(if_not_exists(attempts, :empty), :attempt)"
                + (", released_at = :finished" if released else "")
                + keep
                + " REMOVE lock_event_id, lock_expires_at"
                + clear
            ),
            ConditionExpression="lock_event_id = :event",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=_to_item(
                {
                    ":status": RELEASED if released else RELEASE_FAILED,
                    ":attempt": [attempt],
                    ":empty": [],
                    ":event": event_id,
                    **({":finished": finished} if released else {}),
                    **values,
                }
            ),
        )


#: dry runs are recorded apart from the real records: they never act as a lock or a prior state
DRY_RUN_KEY_PREFIX = "dry-run#"


@requires("dynamodb:UpdateItem")
def record_dry_run(
    dynamodb: DynamoDBClient,
    table: str,
    *,
    instance_id: str,
    event_id: str,
    action: str,
    prior: dict[str, Any],
    result: dict[str, Any],
    now: datetime,
) -> None:
    """Append what a dry run would have done to the instance's dry-run record (``dry-run#<id>``)."""
    run = {
        "action": action,
        "event_id": event_id,
        "at": now.isoformat(timespec="seconds"),
        "prior": prior,
        "plan": result.get("plan", []),
        "steps": result.get("steps", {}),
        "failures": result.get("failures", {}),
    }
    dynamodb.update_item(
        TableName=table,
        Key=_to_item({"instance_id": f"{DRY_RUN_KEY_PREFIX}{instance_id}"}),
        UpdateExpression="SET runs = list_append(if_not_exists(runs, :empty), :run)",
        ExpressionAttributeValues=_to_item({":run": [run], ":empty": []}),
    )


#: the small attributes the reconciler reads of every open record (never the prior state, nor the trail)
_OPEN_PROJECTION = {
    "#k": "instance_id",
    "#s": "status",
    "#le": "lock_event_id",
    "#lx": "lock_expires_at",
    "#v": "version",
    "#nd": "needs_decision",
    "#nt": "notice_tag",
    "#nn": "notice_decision",
    "#cp": "custody_pending",
}


@requires("dynamodb:Scan")
def scan_open_records(dynamodb: DynamoDBClient, table: str) -> tuple[list[dict[str, Any]], int]:
    """The open records (isolating, isolated, failed, releasing, release_failed) and the records whose
    evidence custody is under way (``custody_pending``, whatever their status), their small attributes
    only, and the number of Scan pages read: the table is read once per sweep round (by the fan-out),
    one call per MB of records."""
    names = dict(_OPEN_PROJECTION)
    values: dict[str, Any] = {f":s{i}": status for i, status in enumerate(OPEN_STATUSES)}
    values[":pending"] = True
    statuses = ", ".join(v for v in values if v.startswith(":s"))
    paginator = dynamodb.get_paginator("scan")
    records: list[dict[str, Any]] = []
    pages = 0
    for page in paginator.paginate(
        TableName=table,
        ProjectionExpression=", ".join(names),
        FilterExpression=f"#s IN ({statuses}) OR #cp = :pending",
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=_to_item(values),
    ):
        pages += 1
        for item in page.get("Items", []):
            record = _from_item(item)
            if not str(record.get("instance_id", "")).startswith(DRY_RUN_KEY_PREFIX):
                records.append(record)
    return records, pages


@requires("dynamodb:UpdateItem")
def close_terminated(
    dynamodb: DynamoDBClient,
    table: str,
    *,
    instance_id: str,
    version: Any,
    state: str,
    now: datetime,
) -> bool:
    """Close the record of a terminated instance (status ``terminated``): it is no longer checked. Only
    while nobody holds it and it is unchanged since it was read (False otherwise: the next sweep sees)."""
    values = {
        ":terminated": TERMINATED,
        ":state": state,
        ":at": now.isoformat(timespec="seconds"),
        ":version": version,
        ":next": int(version) + 1,
        ":now": int(now.timestamp()),
    }
    try:
        dynamodb.update_item(
            TableName=table,
            Key=_to_item({"instance_id": instance_id}),
            UpdateExpression=(
                "SET #status = :terminated, closed_at = :at, closed_state = :state, version = :next"
            ),
            ConditionExpression=(
                "version = :version AND (attribute_not_exists(lock_expires_at) OR lock_expires_at < :now)"
            ),
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=_to_item(values),
        )
    except ClientError as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            raise
        return False
    log(logging.INFO, "closed the record of a terminated instance", table=table, state=state)
    return True


#: what a notice is about: the trigger tag of an isolated instance, or a decision a person must make
NOTICE_ATTRIBUTES = {"tag": "notice_tag", "decision": "notice_decision"}


@requires("dynamodb:UpdateItem")
def note_notice(dynamodb: DynamoDBClient, table: str, *, instance_id: str, kind: str, marker: str) -> None:
    """Remember that ``kind`` was reported for ``marker`` (the state reported), so that it is reported
    once, not on every sweep. Only on an existing record."""
    dynamodb.update_item(
        TableName=table,
        Key=_to_item({"instance_id": instance_id}),
        UpdateExpression=f"SET {NOTICE_ATTRIBUTES[kind]} = :marker",
        ConditionExpression="attribute_exists(instance_id)",
        ExpressionAttributeValues=_to_item({":marker": marker}),
    )


#: how often `update_evidence` reads the record again when another writer changed its evidence meanwhile
EVIDENCE_WRITE_ATTEMPTS = 5


@requires("dynamodb:GetItem", "dynamodb:UpdateItem")
def update_evidence(
    dynamodb: DynamoDBClient,
    table: str,
    instance_id: str,
    change: Callable[[dict[str, dict[str, Any]]], dict[str, dict[str, Any]]],
    *,
    pending: Callable[[Mapping[str, Any]], bool],
) -> dict[str, dict[str, Any]]:
    """Apply ``change`` to the record's evidence manifest (``evidence``: snapshot id -> entry) and write it
    with ``custody_pending`` (any entry ``pending``): the isolation that took the snapshots and the sweeps
    that carry their custody forward both write it, without the record's lock, so each write is
    conditional on ``evidence_version`` and a lost race reads again. Returns the manifest written."""
    for _ in range(EVIDENCE_WRITE_ATTEMPTS):
        current = read_record(dynamodb, table, instance_id)
        if current is None:
            raise IsolationError(f"no record of {instance_id} to keep its evidence in")
        version = int(current.get("evidence_version", 0))
        manifest = change({k: dict(v) for k, v in (current.get("evidence") or {}).items()})
        values: dict[str, Any] = {
            ":evidence": manifest,
            ":pending": any(pending(entry) for entry in manifest.values()),
            ":next": version + 1,
        }
        condition = "attribute_not_exists(evidence_version)"
        if version:
            condition = "evidence_version = :version"
            values[":version"] = version
        try:
            dynamodb.update_item(
                TableName=table,
                Key=_to_item({"instance_id": instance_id}),
                UpdateExpression=(
                    "SET evidence = :evidence, custody_pending = :pending, evidence_version = :next"
                ),
                ConditionExpression=condition,
                ExpressionAttributeValues=_to_item(values),
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            continue
        return manifest
    raise RecordBusy(f"the evidence of {instance_id} kept changing while it was written; it is retried")
