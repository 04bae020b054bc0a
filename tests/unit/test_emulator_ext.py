"""Specification of what `tools.moto_ext` adds to the emulator, held against the emulator's own state: EBS
snapshot lock (LockSnapshot, DescribeLockedSnapshots, UnlockSnapshot, DeleteSnapshot of a locked
snapshot), CopySnapshot of a snapshot another account shared, snapshots that are pending until completed,
the server's control endpoints, and the AWS answers to LockSnapshot a spec injects instead.

Time never passes by itself here: the emulator's clock is fixed at ``T0`` and moved on explicitly."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.core.base_backend import BackendDict
from moto.ec2.models.elastic_block_store import EBSBackend
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.test import Client
from werkzeug.wrappers import Request

from tests.fixtures.events import ACCOUNT, REGION
from tests.fixtures.snapshot_answers import (
    answer_lock_snapshot,
    lock_snapshot_access_denied,
    lock_snapshot_limit_exceeded,
    lock_snapshot_throttled,
    record_requests,
)
from tools import moto_ext, moto_server

T0 = datetime(2026, 11, 28, 5, 13, tzinfo=UTC)
MEMBER = "210987654321"
OTHER = "111122223333"
MEMBER_REGION = "eu-west-1"
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0f6d3b5e-evidence"
AZ = f"{REGION}a"


@pytest.fixture(autouse=True)
def clock() -> Iterator[None]:
    """The emulator's clock at T0; real time and completed snapshots again afterwards."""
    moto_ext.set_clock(T0)
    yield
    moto_ext.reset()


def client_in(account: str, region: str = REGION) -> Any:
    """An EC2 client acting in ``account`` (moto keeps accounts apart by credentials)."""
    credentials = boto3.client("sts", region_name=REGION).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/setup", RoleSessionName="setup"
    )["Credentials"]
    return boto3.client(
        "ec2",
        region_name=region,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def new_snapshot(ec2: Any, size: int = 8, **kwargs: Any) -> str:
    zone = f"{ec2.meta.region_name}a"
    volume_id = ec2.create_volume(Size=size, AvailabilityZone=zone)["VolumeId"]
    snapshot_id: str = ec2.create_snapshot(VolumeId=volume_id, **kwargs)["SnapshotId"]
    return snapshot_id


def snapshot(ec2: Any, snapshot_id: str) -> dict[str, Any]:
    found: dict[str, Any] = ec2.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0]
    return found


def snapshot_ids(ec2: Any, owner: str = ACCOUNT) -> set[str]:
    """The snapshots ``owner`` has in the client's region (moto also lists its images' snapshots, whatever
    ``OwnerIds`` says: the owner-id filter leaves them out)."""
    owned = ec2.describe_snapshots(Filters=[{"Name": "owner-id", "Values": [owner]}])["Snapshots"]
    return {s["SnapshotId"] for s in owned}


def locks(ec2: Any, **kwargs: Any) -> dict[str, dict[str, Any]]:
    """The caller's locked snapshots (DescribeLockedSnapshots), by id."""
    return {s["SnapshotId"]: s for s in ec2.describe_locked_snapshots(**kwargs)["Snapshots"]}


def error_code(call: Any, **kwargs: Any) -> str:
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    code: str = raised.value.response["Error"]["Code"]
    return code


def without_metadata(answer: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in answer.items() if name != "ResponseMetadata"}


class TestLockSnapshot:
    def test_a_locked_snapshot_cannot_be_deleted_and_stays(self, ec2: Any) -> None:
        # Given a completed snapshot locked in governance mode for a week
        snapshot_id = new_snapshot(ec2)
        answer = ec2.lock_snapshot(SnapshotId=snapshot_id, LockMode="governance", LockDuration=7)
        # Then the answer has LockSnapshotResult's fields
        assert without_metadata(answer) == {
            "SnapshotId": snapshot_id,
            "LockState": "governance",
            "LockDuration": 7,
            "LockCreatedOn": T0,
            "LockDurationStartTime": T0,
            "LockExpiresOn": T0 + timedelta(days=7),
        }
        # When it is deleted, Then EC2 refuses and the snapshot is still there, still locked
        assert error_code(ec2.delete_snapshot, SnapshotId=snapshot_id) == "IncorrectState"
        assert snapshot_id in snapshot_ids(ec2)
        assert locks(ec2)[snapshot_id]["LockState"] == "governance"

    def test_an_expired_lock_no_longer_protects_the_snapshot(self, ec2: Any) -> None:
        # Given a snapshot locked for a day
        snapshot_id = new_snapshot(ec2)
        ec2.lock_snapshot(SnapshotId=snapshot_id, LockMode="compliance", LockDuration=1)
        assert error_code(ec2.delete_snapshot, SnapshotId=snapshot_id) == "IncorrectState"
        # When the day has passed
        moto_ext.advance_clock(timedelta(days=1))
        # Then the lock is expired, and the snapshot can be deleted
        assert locks(ec2)[snapshot_id]["LockState"] == "expired"
        ec2.delete_snapshot(SnapshotId=snapshot_id)
        assert snapshot_id not in snapshot_ids(ec2)

    def test_a_lock_to_an_expiration_date_expires_then(self, ec2: Any) -> None:
        snapshot_id = new_snapshot(ec2)
        until = T0 + timedelta(hours=30)
        answer = ec2.lock_snapshot(SnapshotId=snapshot_id, LockMode="governance", ExpirationDate=until)
        assert answer["LockExpiresOn"] == until and "LockDuration" not in answer
        moto_ext.set_clock(until - timedelta(seconds=1))
        assert locks(ec2)[snapshot_id]["LockState"] == "governance"
        moto_ext.set_clock(until)
        assert locks(ec2)[snapshot_id]["LockState"] == "expired"

    def test_a_governance_lock_can_be_shortened_changed_and_unlocked(self, ec2: Any) -> None:
        # Given a snapshot locked in governance mode for 30 days, 10 days ago
        snapshot_id = new_snapshot(ec2)
        ec2.lock_snapshot(SnapshotId=snapshot_id, LockMode="governance", LockDuration=30)
        moto_ext.advance_clock(timedelta(days=10))
        # When the lock is shortened to 20 days, Then the duration still counts from the lock's start
        answer = ec2.lock_snapshot(SnapshotId=snapshot_id, LockMode="governance", LockDuration=20)
        assert answer["LockExpiresOn"] == T0 + timedelta(days=20)
        assert answer["LockCreatedOn"] == T0 and answer["LockDurationStartTime"] == T0
        # and it may become a compliance lock with a cooling-off period that starts now
        answer = ec2.lock_snapshot(
            SnapshotId=snapshot_id, LockMode="compliance", LockDuration=20, CoolOffPeriod=2
        )
        assert answer["LockState"] == "compliance-cooloff"
        assert answer["CoolOffPeriodExpiresOn"] == T0 + timedelta(days=10, hours=2)
        # When it is unlocked within the cooling-off period
        ec2.unlock_snapshot(SnapshotId=snapshot_id)
        # Then it is no longer locked and can be deleted
        assert locks(ec2) == {}
        ec2.delete_snapshot(SnapshotId=snapshot_id)

    def test_a_compliance_lock_after_its_cooling_off_period_can_only_be_extended(self, ec2: Any) -> None:
        # Given a snapshot locked in compliance mode for 30 days with a cooling-off period of one hour
        snapshot_id = new_snapshot(ec2)
        answer = ec2.lock_snapshot(
            SnapshotId=snapshot_id, LockMode="compliance", LockDuration=30, CoolOffPeriod=1
        )
        assert answer["LockState"] == "compliance-cooloff"
        assert (answer["CoolOffPeriod"], answer["CoolOffPeriodExpiresOn"]) == (1, T0 + timedelta(hours=1))
        # Then within the cooling-off period it can't be deleted, but the lock can still be shortened
        assert error_code(ec2.delete_snapshot, SnapshotId=snapshot_id) == "IncorrectState"
        ec2.lock_snapshot(SnapshotId=snapshot_id, LockMode="compliance", LockDuration=25, CoolOffPeriod=1)
        # When the cooling-off period has passed
        moto_ext.advance_clock(timedelta(hours=1))
        assert locks(ec2)[snapshot_id]["LockState"] == "compliance"
        # Then it can't be shortened, turned to governance, given a cooling-off period or unlocked
        for change in (
            {"LockMode": "compliance", "LockDuration": 24},
            {"LockMode": "compliance", "ExpirationDate": T0 + timedelta(days=24)},
            {"LockMode": "governance", "LockDuration": 40},
            {"LockMode": "compliance", "LockDuration": 40, "CoolOffPeriod": 1},
        ):
            assert error_code(ec2.lock_snapshot, SnapshotId=snapshot_id, **change) == "IncorrectState", change
        assert error_code(ec2.unlock_snapshot, SnapshotId=snapshot_id) == "IncorrectState"
        assert locks(ec2)[snapshot_id]["LockExpiresOn"] == T0 + timedelta(days=25)
        # but it can be extended, by a longer duration or a later date
        answer = ec2.lock_snapshot(SnapshotId=snapshot_id, LockMode="compliance", LockDuration=40)
        assert (answer["LockState"], answer["LockExpiresOn"]) == ("compliance", T0 + timedelta(days=40))
        answer = ec2.lock_snapshot(
            SnapshotId=snapshot_id, LockMode="compliance", ExpirationDate=T0 + timedelta(days=50)
        )
        assert answer["LockExpiresOn"] == T0 + timedelta(days=50)
        assert error_code(ec2.delete_snapshot, SnapshotId=snapshot_id) == "IncorrectState"

    def test_a_compliance_lock_without_cooling_off_is_in_compliance_at_once(self, ec2: Any) -> None:
        snapshot_id = new_snapshot(ec2)
        answer = ec2.lock_snapshot(SnapshotId=snapshot_id, LockMode="compliance", LockDuration=3)
        assert answer["LockState"] == "compliance" and "CoolOffPeriod" not in answer
        assert error_code(ec2.unlock_snapshot, SnapshotId=snapshot_id) == "IncorrectState"

    @pytest.mark.parametrize(
        ("request_params", "code"),
        [
            (
                {"LockMode": "governance", "LockDuration": 1, "ExpirationDate": T0 + timedelta(days=2)},
                "InvalidParameterCombination",
            ),
            ({"LockMode": "governance"}, "InvalidParameterCombination"),
            ({"LockMode": "governance", "LockDuration": 36501}, "InvalidParameterValue"),
            (
                {"LockMode": "governance", "LockDuration": 5, "CoolOffPeriod": 1},
                "InvalidParameterCombination",
            ),
            ({"LockMode": "compliance", "LockDuration": 5, "CoolOffPeriod": 73}, "InvalidParameterValue"),
            (
                {"LockMode": "governance", "ExpirationDate": T0 - timedelta(seconds=1)},
                "InvalidParameterValue",
            ),
            (
                {"LockMode": "governance", "ExpirationDate": T0 + timedelta(days=36501)},
                "InvalidParameterValue",
            ),
            ({"LockMode": "legal-hold", "LockDuration": 5}, "InvalidParameterValue"),
        ],
    )
    def test_a_request_aws_refuses_locks_nothing(
        self, ec2: Any, request_params: dict[str, Any], code: str
    ) -> None:
        snapshot_id = new_snapshot(ec2)
        assert error_code(ec2.lock_snapshot, SnapshotId=snapshot_id, **request_params) == code
        assert locks(ec2) == {}

    def test_only_the_callers_own_snapshot_can_be_locked(self, ec2: Any) -> None:
        # Given another account's snapshot, shared with the caller
        member = client_in(MEMBER)
        snapshot_id = new_snapshot(member)
        member.modify_snapshot_attribute(
            SnapshotId=snapshot_id, Attribute="createVolumePermission", OperationType="add", UserIds=[ACCOUNT]
        )
        # When the caller locks it, Then EC2 does not find it; and an unknown one neither
        assert error_code(
            ec2.lock_snapshot, SnapshotId=snapshot_id, LockMode="governance", LockDuration=1
        ) == ("InvalidSnapshot.NotFound")
        assert error_code(
            ec2.lock_snapshot, SnapshotId="snap-0123456789abcdef0", LockMode="governance", LockDuration=1
        ) == ("InvalidSnapshot.NotFound")
        assert locks(member) == {}


class TestPendingSnapshots:
    def test_new_snapshots_are_pending_until_completed(self, ec2: Any, launch: Any) -> None:
        # Given new snapshots start pending
        moto_ext.set_new_snapshot_state("pending")
        # When snapshots are taken of a volume and of an instance's volumes
        first = new_snapshot(ec2)
        instance_id = launch(extra_volumes=2)
        instance = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
        answer = ec2.create_snapshots(InstanceSpecification={"InstanceId": instance_id})["Snapshots"]
        # Then each is pending, in the answer and in DescribeSnapshots
        assert len(answer) == len(instance["BlockDeviceMappings"]) >= 2
        assert {(s["State"], s["Progress"]) for s in answer} == {("pending", "0%")}
        assert (snapshot(ec2, first)["State"], snapshot(ec2, first)["Progress"]) == ("pending", "0%")
        pending = ec2.describe_snapshots(
            OwnerIds=["self"], Filters=[{"Name": "status", "Values": ["pending"]}]
        )
        assert {s["SnapshotId"] for s in pending["Snapshots"]} == {first} | {s["SnapshotId"] for s in answer}
        # When the first completes, Then it alone is completed
        assert moto_ext.complete_snapshots([first]) == [first]
        assert (snapshot(ec2, first)["State"], snapshot(ec2, first)["Progress"]) == ("completed", "100%")
        assert {snapshot(ec2, s["SnapshotId"])["State"] for s in answer} == {"pending"}
        # and completing all completes the others
        assert sorted(moto_ext.complete_snapshots()) == sorted(s["SnapshotId"] for s in answer)
        assert {snapshot(ec2, s["SnapshotId"])["State"] for s in answer} == {"completed"}

    def test_completing_an_unknown_snapshot_is_an_error(self) -> None:
        with pytest.raises(moto_ext.UnknownSnapshotsError, match="snap-0123456789abcdef0"):
            moto_ext.complete_snapshots(["snap-0123456789abcdef0"])

    def test_a_pending_snapshot_can_be_locked_and_its_lock_duration_starts_on_completion(
        self, ec2: Any
    ) -> None:
        # Given a pending snapshot locked for 3 days
        moto_ext.set_new_snapshot_state("pending")
        snapshot_id = new_snapshot(ec2)
        answer = ec2.lock_snapshot(SnapshotId=snapshot_id, LockMode="governance", LockDuration=3)
        # Then the lock has no expiry yet, and the snapshot can't be deleted
        assert "LockExpiresOn" not in answer and "LockDurationStartTime" not in answer
        assert error_code(ec2.delete_snapshot, SnapshotId=snapshot_id) == "IncorrectState"
        # When it completes a day later
        moto_ext.advance_clock(timedelta(days=1))
        moto_ext.complete_snapshots([snapshot_id])
        # Then the 3 days count from its completion
        lock = locks(ec2)[snapshot_id]
        assert lock["LockDurationStartTime"] == T0 + timedelta(days=1)
        assert lock["LockExpiresOn"] == T0 + timedelta(days=4)
        assert lock["LockCreatedOn"] == T0

    def test_a_locked_snapshot_that_fails_loses_its_lock(self, ec2: Any) -> None:
        moto_ext.set_new_snapshot_state("pending")
        snapshot_id = new_snapshot(ec2)
        ec2.lock_snapshot(SnapshotId=snapshot_id, LockMode="compliance", LockDuration=3)
        assert moto_ext.fail_snapshots([snapshot_id]) == [snapshot_id]
        assert snapshot(ec2, snapshot_id)["State"] == "error"
        assert locks(ec2) == {}
        assert error_code(
            ec2.lock_snapshot, SnapshotId=snapshot_id, LockMode="governance", LockDuration=1
        ) == ("IncorrectState")

    def test_moto_reset_sets_new_snapshots_completed_and_the_clock_real_again(self) -> None:
        moto_ext.set_new_snapshot_state("pending")
        BackendDict.reset()
        assert moto_ext.new_snapshot_state() == "completed"
        assert moto_ext.now() > T0


class TestDescribeLockedSnapshots:
    def test_it_lists_the_callers_own_locked_snapshots_by_id_state_and_page(self, ec2: Any) -> None:
        # Given 3 snapshots locked in governance mode, 3 in compliance mode and one not locked
        governance = [new_snapshot(ec2) for _ in range(3)]
        compliance = [new_snapshot(ec2) for _ in range(3)]
        unlocked = new_snapshot(ec2)
        for snapshot_id in governance:
            ec2.lock_snapshot(SnapshotId=snapshot_id, LockMode="governance", LockDuration=2)
        for snapshot_id in compliance:
            ec2.lock_snapshot(SnapshotId=snapshot_id, LockMode="compliance", LockDuration=2, CoolOffPeriod=1)
        # Then each locked one is listed with its owner, the unlocked one is not
        listed = locks(ec2)
        assert set(listed) == {*governance, *compliance}
        assert listed[compliance[0]] == {
            "OwnerId": ACCOUNT,
            "SnapshotId": compliance[0],
            "LockState": "compliance-cooloff",
            "LockDuration": 2,
            "CoolOffPeriod": 1,
            "CoolOffPeriodExpiresOn": T0 + timedelta(hours=1),
            "LockCreatedOn": T0,
            "LockDurationStartTime": T0,
            "LockExpiresOn": T0 + timedelta(days=2),
        }
        # by lock state and by id
        assert set(locks(ec2, Filters=[{"Name": "lock-state", "Values": ["governance"]}])) == set(governance)
        assert set(locks(ec2, SnapshotIds=[governance[0], unlocked])) == {governance[0]}
        # a page at a time
        first = ec2.describe_locked_snapshots(MaxResults=5)
        second = ec2.describe_locked_snapshots(MaxResults=5, NextToken=first["NextToken"])
        assert len(first["Snapshots"]) == 5 and len(second["Snapshots"]) == 1 and "NextToken" not in second
        assert {s["SnapshotId"] for s in first["Snapshots"] + second["Snapshots"]} == set(listed)
        # and another account sees none of them, nor can it name them
        member = client_in(MEMBER)
        assert locks(member) == {}
        assert (
            error_code(member.describe_locked_snapshots, SnapshotIds=[governance[0]])
            == "InvalidSnapshot.NotFound"
        )

    @pytest.mark.parametrize(
        ("request_params", "code"),
        [
            ({"Filters": [{"Name": "owner-id", "Values": [ACCOUNT]}]}, "InvalidParameterValue"),
            ({"MaxResults": 1001}, "InvalidParameterValue"),
            ({"NextToken": "not-a-token"}, "InvalidNextToken"),
        ],
    )
    def test_a_request_aws_refuses(self, ec2: Any, request_params: dict[str, Any], code: str) -> None:
        assert error_code(ec2.describe_locked_snapshots, **request_params) == code


def share(member: Any, snapshot_id: str, **with_whom: Any) -> None:
    member.modify_snapshot_attribute(
        SnapshotId=snapshot_id, Attribute="createVolumePermission", OperationType="add", **with_whom
    )


def copy_evidence(central: Any, snapshot_id: str, **kwargs: Any) -> str:
    """The central account's copy of a member's snapshot, as the function makes it."""
    copied: str = central.copy_snapshot(
        SourceSnapshotId=snapshot_id,
        SourceRegion=MEMBER_REGION,
        Encrypted=True,
        KmsKeyId=KEY_ARN,
        **kwargs,
    )["SnapshotId"]
    return copied


class TestCrossAccountCopy:
    @pytest.mark.parametrize(
        "with_whom", [{"UserIds": [ACCOUNT]}, {"GroupNames": ["all"]}], ids=["account", "all"]
    )
    def test_a_snapshot_shared_with_the_central_account_is_copied_there(
        self, ec2: Any, with_whom: dict[str, Any]
    ) -> None:
        # Given a member's snapshot of a 16 GiB volume in another region, shared with the central account
        member = client_in(MEMBER, MEMBER_REGION)
        source_id = new_snapshot(member, size=16)
        source = snapshot(member, source_id)
        share(member, source_id, **with_whom)
        # When the central account copies it into its own region, encrypted with its key, tagged
        copy_id = copy_evidence(
            ec2,
            source_id,
            Description="evidence of i-0123456789abcdef0",
            TagSpecifications=[{"ResourceType": "snapshot", "Tags": [{"Key": "case", "Value": "IR-7"}]}],
        )
        # Then the copy is the central account's, in its region, with the requested key, description and tags
        copy = snapshot(ec2, copy_id)
        assert copy["OwnerId"] == ACCOUNT
        assert (copy["Encrypted"], copy["KmsKeyId"]) == (True, KEY_ARN)
        assert copy["Description"] == "evidence of i-0123456789abcdef0"
        assert copy["Tags"] == [{"Key": "case", "Value": "IR-7"}]
        # of the source's volume and size (a copy's volume id is arbitrary in AWS: nothing relies on it)
        assert (copy["VolumeSize"], copy["VolumeId"]) == (16, source["VolumeId"])
        assert copy["State"] == "completed"
        # and neither the member nor the central account's other region has it
        assert snapshot_ids(member, MEMBER) == {source_id}
        assert copy_id not in snapshot_ids(client_in(ACCOUNT, MEMBER_REGION))

    def test_without_a_key_the_copy_is_encrypted_with_the_callers_ebs_key(self, ec2: Any) -> None:
        member = client_in(MEMBER, MEMBER_REGION)
        source_id = new_snapshot(member)
        share(member, source_id, UserIds=[ACCOUNT])
        copy_id = ec2.copy_snapshot(SourceSnapshotId=source_id, SourceRegion=MEMBER_REGION, Encrypted=True)[
            "SnapshotId"
        ]
        copy = snapshot(ec2, copy_id)
        assert copy["Encrypted"] and f":{ACCOUNT}:key/" in copy["KmsKeyId"]

    @pytest.mark.parametrize(
        "with_whom", [None, {"UserIds": [OTHER]}], ids=["not shared", "shared with another"]
    )
    def test_a_snapshot_not_shared_with_the_caller_is_not_found(
        self, ec2: Any, with_whom: dict[str, Any] | None
    ) -> None:
        member = client_in(MEMBER, MEMBER_REGION)
        source_id = new_snapshot(member)
        if with_whom is not None:
            share(member, source_id, **with_whom)
        before = snapshot_ids(ec2)
        assert error_code(copy_evidence, central=ec2, snapshot_id=source_id) == "InvalidSnapshot.NotFound"
        assert snapshot_ids(ec2) == before

    def test_a_pending_snapshot_is_copied_once_completed_and_the_copy_starts_pending(self, ec2: Any) -> None:
        # Given a member's pending snapshot, shared with the central account
        moto_ext.set_new_snapshot_state("pending")
        member = client_in(MEMBER, MEMBER_REGION)
        source_id = new_snapshot(member)
        share(member, source_id, UserIds=[ACCOUNT])
        before = snapshot_ids(ec2)
        # When the central account copies it, Then EC2 refuses: it is not completed
        assert error_code(copy_evidence, central=ec2, snapshot_id=source_id) == "IncorrectState"
        assert snapshot_ids(ec2) == before
        # When it has completed, Then the copy is made, pending itself, and can be locked at once
        moto_ext.complete_snapshots([source_id])
        copy_id = copy_evidence(ec2, source_id)
        assert snapshot(ec2, copy_id)["State"] == "pending"
        ec2.lock_snapshot(SnapshotId=copy_id, LockMode="compliance", LockDuration=365)
        # and the member may delete its snapshot, while the central copy stays locked
        member.delete_snapshot(SnapshotId=source_id)
        moto_ext.complete_snapshots([copy_id])
        assert snapshot(ec2, copy_id)["State"] == "completed"
        assert locks(ec2)[copy_id]["LockExpiresOn"] == T0 + timedelta(days=365)
        assert error_code(ec2.delete_snapshot, SnapshotId=copy_id) == "IncorrectState"

    def test_a_copy_within_one_account_is_motos(self, ec2: Any) -> None:
        # Given the account's own snapshot
        source_id = new_snapshot(ec2, size=4)
        source = snapshot(ec2, source_id)
        # When it copies it with a key and tags
        copy_id = ec2.copy_snapshot(
            SourceSnapshotId=source_id,
            SourceRegion=REGION,
            KmsKeyId=KEY_ARN,
            Description="re-encrypted",
            TagSpecifications=[{"ResourceType": "snapshot", "Tags": [{"Key": "a", "Value": "b"}]}],
        )["SnapshotId"]
        # Then the copy is the account's, of the source's volume, with the key, the description and the tags
        copy = snapshot(ec2, copy_id)
        assert copy_id != source_id
        assert (copy["OwnerId"], copy["VolumeId"], copy["VolumeSize"]) == (ACCOUNT, source["VolumeId"], 4)
        assert (copy["Encrypted"], copy["KmsKeyId"], copy["Description"]) == (True, KEY_ARN, "re-encrypted")
        assert copy["Tags"] == [{"Key": "a", "Value": "b"}]
        assert snapshot(ec2, source_id) == source


class TestControlEndpoints:
    """The server's control endpoints (tools/moto_server.py), called through WSGI in-process."""

    @pytest.fixture
    def server(self) -> Client:
        def application(environ: dict[str, Any], start_response: Any) -> Any:
            return moto_server.control(Request(environ))(environ, start_response)

        return Client(application)

    def test_they_drive_the_snapshot_states(self, server: Client, ec2: Any) -> None:
        answer = server.post(moto_server.NEW_STATE_PATH, json={"state": "pending"})
        assert (answer.status_code, answer.json) == (200, {"state": "pending"})
        snapshot_id = new_snapshot(ec2)
        assert snapshot(ec2, snapshot_id)["State"] == "pending"
        answer = server.post(moto_server.COMPLETE_PATH, json={"snapshot_ids": None})
        assert (answer.status_code, answer.json) == (200, {"snapshot_ids": [snapshot_id]})
        assert snapshot(ec2, snapshot_id)["State"] == "completed"

    def test_they_move_the_clock(self, server: Client) -> None:
        answer = server.post(moto_server.CLOCK_PATH, json={"advance_seconds": 3600})
        assert answer.json == {"now": (T0 + timedelta(hours=1)).isoformat()}
        assert moto_ext.now() == T0 + timedelta(hours=1)

    @pytest.mark.parametrize(
        ("path", "body", "status"),
        [
            (moto_server.NEW_STATE_PATH, {"state": "error"}, 400),
            (moto_server.COMPLETE_PATH, {"snapshot_ids": "snap-1"}, 400),
            (moto_server.COMPLETE_PATH, {"snapshot_ids": ["snap-0123456789abcdef0"]}, 404),
            (moto_server.CLOCK_PATH, {"now": "yesterday"}, 400),
            ("/moto-ext/nothing", {}, 404),
        ],
    )
    def test_a_request_they_cannot_carry_out_is_refused(
        self, server: Client, path: str, body: Any, status: int
    ) -> None:
        answer = server.post(path, data=json.dumps(body), content_type="application/json")
        assert answer.status_code == status and "error" in (answer.json or {})
        assert moto_ext.new_snapshot_state() == "completed"


class TestOneRequestAtATime:
    """The server answers one request at a time: moto's backends change shared lists and dicts without
    locks (two RemovePermission calls on one function iterate and shrink the same statement list), and
    werkzeug serves each request on a thread of its own."""

    REQUESTS = 8

    def test_concurrent_requests_are_answered_in_turn_body_included(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Given moto's application replaced by one that takes a while and counts who is inside it,
        # and whose body is lazy (made as it is read)
        inside: list[int] = []
        most = 0
        guard = threading.Lock()

        def slow_moto(self: Any, environ: dict[str, Any], start_response: Any) -> Any:
            nonlocal most
            with guard:
                inside.append(1)
                most = max(most, len(inside))
            time.sleep(0.02)
            with guard:
                inside.pop()
            start_response("200 OK", [("Content-Type", "text/plain")])

            def body() -> Iterator[bytes]:
                # the body is made while the request still holds the server
                yield b"locked" if moto_server.ONE_REQUEST_AT_A_TIME.locked() else b"released"

            return body()

        monkeypatch.setattr(DomainDispatcherApplication, "__call__", slow_moto)
        server = Client(moto_server.ExtendedApplication(create_backend_app))

        # When requests arrive at once, each on its own thread
        with ThreadPoolExecutor(max_workers=self.REQUESTS) as pool:
            answers = list(pool.map(lambda _: server.post("/").get_data(), range(self.REQUESTS)))

        # Then they were answered one after another, each whole before the next began
        assert most == 1
        assert answers == [b"locked"] * self.REQUESTS
        assert not moto_server.ONE_REQUEST_AT_A_TIME.locked()

    def test_a_control_request_waits_its_turn_too(self) -> None:
        server = Client(moto_server.ExtendedApplication(create_backend_app))
        with ThreadPoolExecutor(max_workers=1) as pool:
            # Given a request being answered (the lock held)
            with moto_server.ONE_REQUEST_AT_A_TIME:
                # When a control request arrives, Then it is not answered meanwhile
                pending = pool.submit(server.post, moto_server.CLOCK_PATH, json={"advance_seconds": 60})
                time.sleep(0.05)
                assert not pending.done()
            # and once the lock is free it is
            assert pending.result(timeout=5).status_code == 200


class TestInjectedAnswers:
    """AWS's own answers to LockSnapshot, injected where a spec must not rely on the emulator."""

    def test_the_success_answer_is_ec2s_parsed_by_botocore(self, ec2: Any) -> None:
        # Given EC2's answer injected, and the requests recorded
        snapshot_id = new_snapshot(ec2)
        requests = record_requests(ec2)
        answer = answer_lock_snapshot(ec2, now=T0)
        # When the snapshot is locked
        result = ec2.lock_snapshot(
            SnapshotId=snapshot_id, LockMode="compliance", LockDuration=30, CoolOffPeriod=24
        )
        # Then the request made is recorded, and the answer is botocore's parse of EC2's XML
        assert requests.sent("LockSnapshot") == [
            {"SnapshotId": snapshot_id, "LockMode": "compliance", "LockDuration": 30, "CoolOffPeriod": 24}
        ]
        assert answer.hits[0]["LockDuration"] == "30"
        assert without_metadata(result) == {
            "SnapshotId": snapshot_id,
            "LockState": "compliance-cooloff",
            "LockDuration": 30,
            "CoolOffPeriod": 24,
            "CoolOffPeriodExpiresOn": T0 + timedelta(hours=24),
            "LockCreatedOn": T0,
            "LockExpiresOn": T0 + timedelta(days=30),
            "LockDurationStartTime": T0,
        }
        # and the request never reached the emulator
        assert locks(ec2) == {}

    def test_a_throttled_lock_is_retried_and_reaches_the_emulator(self, ec2: Any) -> None:
        snapshot_id = new_snapshot(ec2)
        requests = record_requests(ec2)
        throttled = lock_snapshot_throttled(ec2, times=2)
        ec2.lock_snapshot(SnapshotId=snapshot_id, LockMode="governance", LockDuration=1)
        assert len(throttled.hits) == 2 and requests.operations() == ["LockSnapshot"]
        assert set(locks(ec2)) == {snapshot_id}

    def test_a_limit_and_a_denial_are_refusals_that_lock_nothing(self, ec2: Any) -> None:
        snapshot_id = new_snapshot(ec2)
        limit = lock_snapshot_limit_exceeded(ec2, times=1)
        assert error_code(
            ec2.lock_snapshot, SnapshotId=snapshot_id, LockMode="governance", LockDuration=1
        ) == ("ResourceLimitExceeded")
        lock_snapshot_access_denied(ec2, times=1)
        with pytest.raises(ClientError) as denied:
            ec2.lock_snapshot(SnapshotId=snapshot_id, LockMode="governance", LockDuration=1)
        error = denied.value.response
        assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == (
            "UnauthorizedOperation",
            403,
        )
        assert (
            f"ec2:LockSnapshot on resource: arn:aws:ec2:{REGION}::snapshot/{snapshot_id}"
            in error["Error"]["Message"]
        )
        assert "Encoded authorization failure message: " in error["Error"]["Message"]
        assert len(limit.hits) == 1 and locks(ec2) == {}


def test_install_is_idempotent() -> None:
    create_snapshot = EBSBackend.create_snapshot
    moto_ext.install()
    assert moto_ext.installed() and EBSBackend.create_snapshot is create_snapshot
