"""The evidence snapshots' calls: lock, read, copy, share, and delete an intermediate copy.

Each takes the EC2 (or KMS) client of the account it acts in: the instance's account for the snapshot it
took and its re-encrypted intermediate copy, the function's own account for the copy in custody. Reads
cover many snapshots at once (a filter of up to 200 ids or tags a call).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ec2_isolation.log import log
from ec2_isolation.steps import requires
from ec2_isolation.steps.observe import VALUES_PER_FILTER, chunks

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import SnapshotTypeDef, TagTypeDef
    from mypy_boto3_kms import KMSClient

#: the role of a copy, in its ``<prefix>CustodyCopy`` tag: the re-encrypted copy in the instance's account
#: (shared, then deleted once custody holds its own copy), and the copy in custody
INTERMEDIATE, CUSTODY = "intermediate", "custody"


def iso(value: Any) -> str | None:
    return value.isoformat(timespec="seconds") if isinstance(value, datetime) else None


def lock_of(answer: Mapping[str, Any]) -> dict[str, Any]:
    """A lock as the record keeps it, from a LockSnapshot answer or a DescribeLockedSnapshots entry."""
    lock: dict[str, Any] = {
        "state": answer.get("LockState"),
        "duration_days": answer.get("LockDuration"),
        "created_on": iso(answer.get("LockCreatedOn")),
        "expires_on": iso(answer.get("LockExpiresOn")),
    }
    if answer.get("CoolOffPeriod"):
        lock["cool_off_hours"] = answer["CoolOffPeriod"]
        lock["cool_off_expires_on"] = iso(answer.get("CoolOffPeriodExpiresOn"))
    return {key: value for key, value in lock.items() if value is not None}


@requires("ec2:DescribeLockedSnapshots")
def locked_snapshots(ec2: EC2Client, snapshot_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The unexpired locks of these snapshots (of the caller's account), by snapshot id."""
    locks: dict[str, dict[str, Any]] = {}
    for chunk in chunks(sorted(set(snapshot_ids)), VALUES_PER_FILTER):
        token: str | None = None
        while True:
            request: dict[str, Any] = {"SnapshotIds": chunk}
            if token:
                request["NextToken"] = token
            answer = ec2.describe_locked_snapshots(**request)
            for info in answer.get("Snapshots", []):
                if "SnapshotId" in info and info.get("LockState") != "expired":
                    locks[info["SnapshotId"]] = lock_of(info)
            token = answer.get("NextToken")
            if not token:
                break
    return locks


@requires("ec2:LockSnapshot")
def lock_snapshot(
    ec2: EC2Client, snapshot_id: str, *, mode: str, duration_days: int, cool_off_hours: int = 0
) -> dict[str, Any]:
    """Lock ``snapshot_id`` (a pending snapshot too) for ``duration_days``: nobody can delete it meanwhile
    but, in governance mode, a principal allowed ``ec2:UnlockSnapshot``; in compliance mode nobody, once
    the cooling-off period is over. Returns the lock as recorded."""
    request: dict[str, Any] = {"SnapshotId": snapshot_id, "LockMode": mode, "LockDuration": duration_days}
    if mode == "compliance" and cool_off_hours:
        request["CoolOffPeriod"] = cool_off_hours
    lock = lock_of(ec2.lock_snapshot(**request))
    lock["mode"] = mode
    log(logging.INFO, "locked an evidence snapshot", snapshot_id=snapshot_id, lock=lock)
    return lock


@requires("ec2:DescribeSnapshots")
def snapshots_by_id(ec2: EC2Client, snapshot_ids: Sequence[str]) -> dict[str, SnapshotTypeDef]:
    """These snapshots of the caller's account, by id; a missing one is absent (a filter, not
    ``SnapshotIds``, which fails the whole call on one missing id)."""
    found: dict[str, SnapshotTypeDef] = {}
    paginator = ec2.get_paginator("describe_snapshots")
    for chunk in chunks(sorted(set(snapshot_ids)), VALUES_PER_FILTER):
        for page in paginator.paginate(OwnerIds=["self"], Filters=[{"Name": "snapshot-id", "Values": chunk}]):
            found.update({s["SnapshotId"]: s for s in page.get("Snapshots", []) if "SnapshotId" in s})
    return found


@requires("ec2:DescribeSnapshots")
def copies_of(
    ec2: EC2Client, evidence_of_tag: str, snapshot_ids: Sequence[str]
) -> dict[str, list[SnapshotTypeDef]]:
    """The module's copies of these snapshots in the caller's account (tagged ``evidence_of_tag`` with the
    source snapshot's id), by source snapshot id: what an interrupted custody already made."""
    copies: dict[str, list[SnapshotTypeDef]] = {}
    paginator = ec2.get_paginator("describe_snapshots")
    for chunk in chunks(sorted(set(snapshot_ids)), VALUES_PER_FILTER):
        for page in paginator.paginate(
            OwnerIds=["self"], Filters=[{"Name": f"tag:{evidence_of_tag}", "Values": chunk}]
        ):
            for snapshot in page.get("Snapshots", []):
                source = next(
                    (t.get("Value") for t in snapshot.get("Tags", []) if t.get("Key") == evidence_of_tag),
                    None,
                )
                if source:
                    copies.setdefault(str(source), []).append(snapshot)
    return copies


@requires("kms:DescribeKey")
def key_arn(kms: KMSClient, alias: str) -> str:
    """The ARN of the key ``alias`` names in the caller's account and region."""
    return str(kms.describe_key(KeyId=alias)["KeyMetadata"]["Arn"])


@requires("ec2:CopySnapshot", "ec2:CreateTags")
def copy_snapshot(
    ec2: EC2Client,
    snapshot_id: str,
    *,
    source_region: str,
    kms_key_id: str,
    description: str,
    tags: Mapping[str, str],
) -> str:
    """Copy ``snapshot_id`` (of ``source_region``; of another account when it is shared with this one) into
    the caller's account and region, encrypted with ``kms_key_id``, tagged on creation. Returns the copy's
    id: the copy completes later (it is ``pending`` first)."""
    tag_list: list[TagTypeDef] = [{"Key": k, "Value": v} for k, v in tags.items()]
    copy_id = ec2.copy_snapshot(
        SourceSnapshotId=snapshot_id,
        SourceRegion=source_region,
        Encrypted=True,
        KmsKeyId=kms_key_id,
        Description=description,
        TagSpecifications=[{"ResourceType": "snapshot", "Tags": tag_list}],
    )["SnapshotId"]
    log(logging.INFO, "started a copy of an evidence snapshot", snapshot_id=snapshot_id, copy_id=copy_id)
    return copy_id


@requires("ec2:ModifySnapshotAttribute")
def share_snapshot(ec2: EC2Client, snapshot_id: str, account: str, *, share: bool = True) -> None:
    """Let ``account`` (only it) create volumes from, and so copy, ``snapshot_id``; or no longer."""
    ec2.modify_snapshot_attribute(
        SnapshotId=snapshot_id,
        Attribute="createVolumePermission",
        OperationType="add" if share else "remove",
        UserIds=[account],
    )
    log(
        logging.INFO,
        "shared an evidence snapshot" if share else "stopped sharing an evidence snapshot",
        snapshot_id=snapshot_id,
        account=account,
    )


@requires("ec2:DeleteSnapshot")
def delete_intermediate(ec2: EC2Client, snapshot_id: str) -> None:
    """Delete an intermediate copy (the role allows it on the module's intermediate copies only)."""
    ec2.delete_snapshot(SnapshotId=snapshot_id)
    log(logging.INFO, "deleted an intermediate copy of an evidence snapshot", snapshot_id=snapshot_id)
