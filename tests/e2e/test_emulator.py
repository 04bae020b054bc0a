"""The emulator fixture itself: a moto server on 127.0.0.1 that every client of its session talks to, and
that leaves nothing behind (process group, temporary directory), also when it cannot start."""

from __future__ import annotations

import os
import shutil
import socket
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

from tools.emulator import Deployment, Emulator, EmulatorError

pytestmark = pytest.mark.e2e


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_emulator_answers_on_loopback_and_is_gone_afterwards() -> None:
    with Emulator() as emulator:
        pid, directory = emulator.pid, emulator.directory
        assert pid is not None and emulator.running
        assert emulator.url.startswith("http://127.0.0.1:")
        session = emulator.session()
        for service in ("ec2", "iam", "lambda", "events", "logs", "sts"):
            assert session.client(service).meta.endpoint_url == emulator.url
        assert session.client("sts").get_caller_identity()["Account"] == emulator.account_id
    # stop() waited for the server: its process group is gone, and so is its private directory
    assert not emulator.running
    assert not process_exists(pid)
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)
    assert not directory.exists()


def test_a_server_that_cannot_start_is_reported_and_leaves_nothing() -> None:
    # Given a fixed port that another socket holds
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        emulator = Emulator(port=holder.getsockname()[1], start_timeout=30)
        # When the emulator is started on it, Then it fails with the server's own explanation
        with pytest.raises(EmulatorError, match="in use"), emulator:
            pytest.fail("the emulator started on a port in use")
    assert not emulator.running
    assert not emulator.directory.exists()


def test_a_session_of_another_account_sees_only_that_accounts_resources() -> None:
    with Emulator() as emulator:
        # Given sessions of the emulator's own account and of a member account in another region
        own = emulator.session()
        member = emulator.session(account="111111111111", region="eu-west-1")
        # Then each is who it says, in its region
        assert member.client("sts").get_caller_identity()["Account"] == "111111111111"
        assert member.region_name == "eu-west-1"
        assert own.client("sts").get_caller_identity()["Account"] == emulator.account_id
        # and what one creates the other does not see (moto keeps accounts apart by credentials)
        member.client("sqs").create_queue(QueueName="only-in-the-member-account")
        assert member.client("sqs").list_queues().get("QueueUrls", [])
        assert own.client("sqs", region_name="eu-west-1").list_queues().get("QueueUrls", []) == []


def test_the_server_locks_snapshots_and_its_control_endpoints_drive_their_states(emulator: Emulator) -> None:
    # Given new snapshots start pending, and a member account's snapshot shared with the emulator's account
    member_account, member_region = "111111111111", "eu-west-1"
    emulator.set_new_snapshot_state("pending")
    locked_at = emulator.set_clock(datetime(2026, 11, 28, 5, 13, tzinfo=UTC))
    try:
        member = emulator.session(account=member_account, region=member_region).client("ec2")
        central = emulator.session().client("ec2")
        volume_id = member.create_volume(Size=8, AvailabilityZone=f"{member_region}a")["VolumeId"]
        source_id = member.create_snapshot(VolumeId=volume_id)["SnapshotId"]
        member.modify_snapshot_attribute(
            SnapshotId=source_id,
            Attribute="createVolumePermission",
            OperationType="add",
            UserIds=[emulator.account_id],
        )

        def copy() -> str:
            copied: str = central.copy_snapshot(
                SourceSnapshotId=source_id, SourceRegion=member_region, Encrypted=True
            )["SnapshotId"]
            return copied

        # When the emulator's account copies it while pending, Then EC2 refuses
        with pytest.raises(ClientError, match="IncorrectState"):
            copy()
        # When it is completed (control endpoint), Then the copy is made, pending, and can be locked
        assert emulator.complete_snapshots([source_id]) == [source_id]
        copy_id = copy()
        assert central.describe_snapshots(SnapshotIds=[copy_id])["Snapshots"][0]["State"] == "pending"
        locked = central.lock_snapshot(SnapshotId=copy_id, LockMode="governance", LockDuration=1)
        assert locked["LockState"] == "governance" and "LockExpiresOn" not in locked
        # and once complete, its lock counts a day from then, and it can't be deleted until it has expired
        assert emulator.complete_snapshots() == [copy_id]
        [lock] = central.describe_locked_snapshots(SnapshotIds=[copy_id])["Snapshots"]
        assert lock["LockExpiresOn"] == locked_at + timedelta(days=1)
        with pytest.raises(ClientError, match="IncorrectState"):
            central.delete_snapshot(SnapshotId=copy_id)
        emulator.advance_clock(timedelta(days=1))
        assert central.describe_locked_snapshots()["Snapshots"][0]["LockState"] == "expired"
        central.delete_snapshot(SnapshotId=copy_id)
    finally:
        emulator.set_new_snapshot_state("completed")
        emulator.set_clock(None)


@pytest.mark.parametrize("destroy_on_exit", [True, False])
def test_a_deployment_is_destroyed_on_exit_unless_its_emulator_is_discarded_anyway(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch, destroy_on_exit: bool
) -> None:
    # Given an applied deployment (its destroy recorded instead of run)
    destroyed: list[bool] = []
    monkeypatch.setattr(Deployment, "destroy", lambda self: destroyed.append(True))
    with Deployment(emulator, destroy_on_exit=destroy_on_exit) as deployment:
        deployment.applied = True
    # Then leaving it destroys it only when asked to, and its copy is gone either way
    assert destroyed == ([True] if destroy_on_exit else [])
    assert not deployment.root.exists()


def test_a_failed_terraform_run_says_what_the_server_answered_with_a_5xx() -> None:
    # Given a server log with ordinary answers, a 500 and the traceback the server logged for it
    emulator = Emulator()
    emulator.log_path.write_text(
        "\x1b[31m\x1b[1mWARNING: This is a development server.\x1b[0m\n"
        ' * Running on http://127.0.0.1:40577\n127.0.0.1 - - [02/Dec/2026 14:34:25] "POST / HTTP/1.1" 200 -\n'
        '127.0.0.1 - - [02/Dec/2026 14:34:25] "\x1b[31m\x1b[1mPOST / HTTP/1.1\x1b[0m" 400 -\n'
        "Traceback (most recent call last):\n"
        '  File "moto/ec2/models/security_groups.py", line 1, in describe_security_groups\n'
        "    for group in self.groups.values():\n"
        "RuntimeError: dictionary changed size during iteration\n"
        '127.0.0.1 - - [02/Dec/2026 14:34:26] "\x1b[35m\x1b[1mPOST / HTTP/1.1\x1b[0m" 500 -\n'
        '127.0.0.1 - - [02/Dec/2026 14:34:27] "POST / HTTP/1.1" 200 -\n',
        encoding="utf-8",
    )
    try:
        # When the errors are read for a failure's message
        errors = emulator.server_errors().splitlines()
    finally:
        shutil.rmtree(emulator.directory)
    # Then they are the traceback and the 5xx answer, without the terminal's colours, and nothing else
    assert errors == [
        "--- moto server: 5xx answers and tracebacks (tail) ---",
        "Traceback (most recent call last):",
        '  File "moto/ec2/models/security_groups.py", line 1, in describe_security_groups',
        "    for group in self.groups.values():",
        "RuntimeError: dictionary changed size during iteration",
        '127.0.0.1 - - [02/Dec/2026 14:34:26] "POST / HTTP/1.1" 500 -',
    ]


def test_a_server_log_without_errors_says_so() -> None:
    emulator = Emulator()
    emulator.log_path.write_text('127.0.0.1 - - [02/Dec/2026 14:34:25] "POST / HTTP/1.1" 200 -\n')
    try:
        assert emulator.server_errors() == "--- moto server: no 5xx answer, no traceback ---"
    finally:
        shutil.rmtree(emulator.directory)
