"""Specification of the evidence: every evidence snapshot is locked where it was taken, right after it was
taken; its manifest is in the instance's record; and, with custody configured, the evidence of a member
account's instance ends as a locked copy in the security account, encrypted with its key, every step of
the way in the record, carried forward by the reconciler's rounds (nothing waits inside an invocation).

moto has no snapshot lock and copies no snapshot across accounts: ``tools.moto_ext`` adds both as AWS
documents them, and AWS's own LockSnapshot answers are injected where a spec is about the request or an
error (tests/fixtures/snapshot_answers.py)."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from ec2_isolation.clients import AwsClients
from ec2_isolation.config import Settings
from ec2_isolation.errors import ConfigurationError, EventIsolationFailed
from ec2_isolation.manifest import (
    DONE,
    FAILED,
    IN_CUSTODY,
    LOCKED,
    OFF,
    PENDING,
    SAME_ACCOUNT,
    TAKEN,
    manifest_lines,
)
from ec2_isolation.steps.notify import EVIDENCE_IN_CUSTODY
from ec2_isolation.steps.record import read_record
from tests.fixtures.events import ACCOUNT, REGION
from tests.fixtures.iam_calls import record_on
from tests.fixtures.snapshot_answers import (
    answer_lock_snapshot,
    lock_snapshot_access_denied,
    lock_snapshot_limit_exceeded,
    lock_snapshot_throttled,
    record_requests,
)
from tests.unit.analyst import request_isolation, request_release
from tests.unit.conftest import FIXED_NOW, RECORD_TABLE, Invoke, Launch, make_network
from tests.unit.reconciler import FULL_RULE_ARN, FUNCTION_ROLE_ARN, RULE_ARN, Reconciler, queue
from tests.unit.responder import Cli
from tests.unit.test_cross_account import EXTERNAL_ID, MEMBER, ROLE, member_session
from tests.unit.test_reconcile import result_events  # noqa: F401 - the fixture
from tools import moto_ext
from tools.fleet import create_instance_profile, launch_instance

NOW = datetime.fromisoformat(FIXED_NOW)
KEY_ALIAS = "alias/ec2-isolation-evidence"
EVENT_SOURCE = "ec2-isolation"


@pytest.fixture(autouse=True)
def fresh_extension() -> Any:
    """Snapshots complete at once unless a spec says otherwise; the emulator's clock is the specs'."""
    moto_ext.reset()
    moto_ext.set_clock(NOW)
    yield
    moto_ext.reset()


def locked(settings: Settings, mode: str = "governance", days: int = 90, cool_off: int = 0) -> Settings:
    return dataclasses.replace(
        settings,
        evidence_lock_mode=mode,
        evidence_lock_duration_days=days,
        evidence_lock_cool_off_hours=cool_off,
    )


def snapshots_of(ec2: Any, instance_id: str) -> list[dict[str, Any]]:
    found = ec2.describe_snapshots(
        OwnerIds=["self"], Filters=[{"Name": "tag:SecurityIsolation:SourceInstance", "Values": [instance_id]}]
    )["Snapshots"]
    return [
        s for s in found if not any(t["Key"] == "SecurityIsolation:CustodyCopy" for t in s.get("Tags", []))
    ]


def volumes_of(ec2: Any, instance_id: str) -> dict[str, str]:
    """The instance's EBS volumes: volume id -> device."""
    return {
        m["Ebs"]["VolumeId"]: m["DeviceName"]
        for r in ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
        for i in r["Instances"]
        for m in i["BlockDeviceMappings"]
    }


def locks_of(ec2: Any, snapshot_ids: list[str]) -> dict[str, dict[str, Any]]:
    answer = ec2.describe_locked_snapshots(SnapshotIds=snapshot_ids)
    return {s["SnapshotId"]: s for s in answer["Snapshots"]}


def record(key: str) -> dict[str, Any]:
    found = read_record(boto3.client("dynamodb", region_name=REGION), RECORD_TABLE, key)
    assert found is not None, f"no record {key}"
    return found


def isolate(invoke: Invoke, instance_id: str, settings: Settings, event_id: str = "evt-isolate") -> Any:
    return invoke(request_isolation(boto3.client("ec2", region_name=REGION), instance_id, event_id), settings)


# ---- the lock, at isolation --------------------------------------------------------------------------


class TestLockAtIsolation:
    def test_every_evidence_snapshot_is_locked_and_cannot_be_deleted_in_its_own_account(
        self, invoke: Invoke, launch: Launch, ec2: Any, settings: Settings
    ) -> None:
        # Given an instance with two volumes, and the governance lock for 90 days
        instance_id = launch(extra_volumes=2)
        # When it is isolated
        result = isolate(invoke, instance_id, locked(settings))
        # Then both snapshots are locked in governance mode for 90 days
        taken = snapshots_of(ec2, instance_id)
        assert len(taken) == len(volumes_of(ec2, instance_id)) >= 2
        ids = sorted(s["SnapshotId"] for s in taken)
        locks = locks_of(ec2, ids)
        assert sorted(locks) == ids
        assert {lock["LockState"] for lock in locks.values()} == {"governance"}
        assert {lock["LockDuration"] for lock in locks.values()} == {90}
        # and none can be deleted
        for snapshot_id in ids:
            with pytest.raises(ClientError) as refused:
                ec2.delete_snapshot(SnapshotId=snapshot_id)
            assert "lock" in str(refused.value).lower()
        assert len(snapshots_of(ec2, instance_id)) == 2
        # and the result says so, with the manifest
        (outcome,) = result["instances"]
        assert sum(1 for c in outcome["changes"] if c.startswith("locked snapshot")) == len(ids)
        assert sorted(e["snapshot_id"] for e in outcome["evidence"]) == ids

    def test_the_manifest_in_the_record_names_each_snapshot_its_volume_its_event_and_its_lock(
        self, invoke: Invoke, launch: Launch, ec2: Any, settings: Settings
    ) -> None:
        # Given an instance with two volumes
        instance_id = launch(extra_volumes=2)
        devices = volumes_of(ec2, instance_id)
        # When it is isolated by an event
        isolate(invoke, instance_id, locked(settings), event_id="evt-42")
        # Then the record keeps one entry per snapshot: volume, device, size, event, times, lock
        manifest = record(instance_id)["evidence"]
        assert len(manifest) == len(devices) >= 2
        for snapshot_id, entry in manifest.items():
            assert entry["snapshot_id"] == snapshot_id
            assert entry["device"] == devices[entry["volume_id"]]
            assert entry["size_gib"] == 8
            assert entry["event_id"] == "evt-42"
            assert entry["account"] == ACCOUNT and entry["region"] == REGION
            assert entry["started_at"]
            assert entry["stage"] == LOCKED and entry["custody"] == OFF
            assert entry["lock"]["mode"] == "governance" and entry["lock"]["duration_days"] == 90
            assert entry["lock"]["expires_on"]
        # and nothing is left for a round to do
        assert record(instance_id)["custody_pending"] is False

    def test_the_lock_request_is_the_one_ec2_documents_and_its_answer_is_recorded(
        self, invoke: Invoke, launch: Launch, clients: AwsClients, settings: Settings
    ) -> None:
        # Given compliance mode for 30 days with a 24-hour cooling-off period, and EC2's own answers
        instance_id = launch()
        answers = answer_lock_snapshot(clients.ec2, now=NOW, pending=True)
        # When it is isolated
        isolate(invoke, instance_id, locked(settings, "compliance", 30, 24))
        # Then one LockSnapshot was made per snapshot, as documented
        (request,) = answers.hits
        assert request["Action"] == "LockSnapshot"
        assert request["LockMode"] == "compliance"
        assert request["LockDuration"] == "30"
        assert request["CoolOffPeriod"] == "24"
        # and the record keeps the cooling-off period EC2 answered
        (entry,) = record(instance_id)["evidence"].values()
        assert entry["snapshot_id"] == request["SnapshotId"]
        assert entry["lock"]["state"] == "compliance-cooloff"
        assert entry["lock"]["cool_off_hours"] == 24

    def test_governance_mode_sends_no_cooling_off_period(
        self, invoke: Invoke, launch: Launch, clients: AwsClients, settings: Settings
    ) -> None:
        instance_id = launch()
        requests = record_requests(clients.ec2)
        isolate(invoke, instance_id, locked(settings, "governance", 7))
        (sent,) = requests.sent("LockSnapshot")
        assert sent == {"SnapshotId": sent["SnapshotId"], "LockMode": "governance", "LockDuration": 7}

    def test_a_throttled_lock_is_retried_and_holds(
        self, invoke: Invoke, launch: Launch, ec2: Any, clients: AwsClients, settings: Settings
    ) -> None:
        # Given EC2 throttling the first two LockSnapshot attempts
        instance_id = launch()
        throttled = lock_snapshot_throttled(clients.ec2, times=2)
        # When it is isolated
        result = isolate(invoke, instance_id, locked(settings))
        # Then the third attempt locked the snapshot and the isolation succeeded
        assert len(throttled.hits) == 2
        assert result["instances"][0]["status"] == "isolated"
        (snapshot,) = snapshots_of(ec2, instance_id)
        assert locks_of(ec2, [snapshot["SnapshotId"]])

    def test_a_refused_lock_fails_the_evidence_step_keeps_the_manifest_and_its_retry_locks_the_same_snapshots(
        self, invoke: Invoke, launch: Launch, ec2: Any, clients: AwsClients, settings: Settings
    ) -> None:
        # Given EC2 refusing the lock once for a resource limit
        instance_id = launch()
        refused = lock_snapshot_limit_exceeded(clients.ec2, times=1)
        # When it is isolated
        with pytest.raises(EventIsolationFailed):
            isolate(invoke, instance_id, locked(settings))
        # Then the evidence step failed (the invocation fails: retried, then the dead letters), the rest held
        assert len(refused.hits) == 1
        attempt = record(instance_id)["attempts"][-1]
        assert attempt["steps"]["snapshots"] == "failed"
        assert "ResourceLimitExceeded" in attempt["failures"]["snapshots"]
        assert attempt["steps"]["network_interfaces"] == "ok"
        # and the snapshot taken is in the manifest, not locked, and left for the next round
        (taken,) = snapshots_of(ec2, instance_id)
        (entry,) = record(instance_id)["evidence"].values()
        assert entry["snapshot_id"] == taken["SnapshotId"] and entry["stage"] == TAKEN and "lock" not in entry
        assert record(instance_id)["custody_pending"] is True
        # When Lambda retries the event
        isolate(invoke, instance_id, locked(settings))
        # Then the same snapshot is locked: no second one is taken
        assert [s["SnapshotId"] for s in snapshots_of(ec2, instance_id)] == [taken["SnapshotId"]]
        assert locks_of(ec2, [taken["SnapshotId"]])
        (entry,) = record(instance_id)["evidence"].values()
        assert entry["stage"] == LOCKED and record(instance_id)["custody_pending"] is False

    def test_access_denied_on_the_lock_fails_the_step_with_ec2s_words(
        self, invoke: Invoke, launch: Launch, clients: AwsClients, settings: Settings
    ) -> None:
        instance_id = launch()
        lock_snapshot_access_denied(clients.ec2)
        with pytest.raises(EventIsolationFailed):
            isolate(invoke, instance_id, locked(settings))
        attempt = record(instance_id)["attempts"][-1]
        assert "UnauthorizedOperation" in attempt["failures"]["snapshots"]

    def test_without_a_lock_mode_nothing_is_locked_and_the_manifest_is_still_kept(
        self, invoke: Invoke, launch: Launch, ec2: Any, clients: AwsClients, settings: Settings
    ) -> None:
        instance_id = launch()
        requests = record_requests(clients.ec2)
        isolate(invoke, instance_id, settings)
        assert "LockSnapshot" not in requests.operations()
        assert "DescribeLockedSnapshots" not in requests.operations()
        (entry,) = record(instance_id)["evidence"].values()
        assert entry["stage"] == TAKEN and entry["custody"] == OFF and "lock" not in entry
        assert record(instance_id)["custody_pending"] is False

    def test_a_repeated_event_locks_nothing_again(
        self, invoke: Invoke, launch: Launch, clients: AwsClients, settings: Settings
    ) -> None:
        instance_id = launch()
        isolate(invoke, instance_id, locked(settings))
        requests = record_requests(clients.ec2)
        repeated = isolate(invoke, instance_id, locked(settings))
        assert "LockSnapshot" not in requests.operations()
        assert "CreateSnapshots" not in requests.operations()
        # and its result, with the manifest as the record holds it, is what Lambda can return: JSON
        (outcome,) = json.loads(json.dumps(repeated))["instances"]
        assert (
            outcome["evidence"][0]["size_gib"] == 8 and outcome["evidence"][0]["lock"]["duration_days"] == 90
        )

    def test_the_responder_cli_status_shows_the_manifest(
        self, invoke: Invoke, launch: Launch, settings: Settings, cli: Cli
    ) -> None:
        # Given an isolated instance with its locked evidence
        instance_id = launch()
        isolate(invoke, instance_id, locked(settings))
        (snapshot_id,) = record(instance_id)["evidence"]
        # When the responder asks for its status
        run = cli("status", instance_id)
        # Then the evidence is listed: the snapshot, its stage, custody and lock
        assert run.code == 0, run.err
        assert "evidence (1 snapshot)" in run.out
        line = run.line(snapshot_id, "stage locked")
        assert "custody off" in line and "lock governance, 90 days" in line
        # and --json carries the manifest whole
        document = json.loads(cli("status", instance_id, "--json").out)
        assert document["record"]["evidence"][snapshot_id]["lock"]["mode"] == "governance"

    def test_a_released_instance_keeps_its_evidence_and_its_manifest(
        self, invoke: Invoke, launch: Launch, ec2: Any, settings: Settings
    ) -> None:
        # Given an isolated instance with its locked evidence
        instance_id = launch()
        isolate(invoke, instance_id, locked(settings))
        manifest = record(instance_id)["evidence"]
        # When it is released
        invoke(request_release(ec2, instance_id, "evt-release"), locked(settings))
        # Then the record is released and still holds the manifest; the snapshot is still there and locked
        released = record(instance_id)
        assert released["status"] == "released"
        assert released["evidence"] == manifest
        (snapshot_id,) = manifest
        assert locks_of(ec2, [snapshot_id])
        # and a later isolation keeps the earlier evidence beside its own
        isolate(invoke, instance_id, locked(settings), event_id="evt-again")
        again = record(instance_id)["evidence"]
        assert snapshot_id in again and len(again) == 2


# ---- settings ------------------------------------------------------------------------------------------


class TestSettings:
    def test_an_older_modules_environment_locks_nothing_and_keeps_custody_off(
        self, function_env: dict[str, str]
    ) -> None:
        settings = Settings.from_env(function_env)
        assert settings.evidence_lock_mode == "" and not settings.evidence_custody

    @pytest.mark.parametrize(
        ("changes", "message"),
        [
            ({"EVIDENCE_LOCK_MODE": "legal-hold"}, "EVIDENCE_LOCK_MODE must be governance, compliance"),
            ({"EVIDENCE_LOCK_MODE": "governance", "EVIDENCE_LOCK_DURATION_DAYS": "0"}, "1 to 36500"),
            ({"EVIDENCE_LOCK_MODE": "compliance", "EVIDENCE_LOCK_COOL_OFF_HOURS": "73"}, "0 to 72"),
            (
                {"EVIDENCE_LOCK_MODE": "governance", "EVIDENCE_LOCK_COOL_OFF_HOURS": "24"},
                "compliance lock mode",
            ),
            ({"EVIDENCE_CUSTODY": "true"}, "EVIDENCE_CUSTODY_KEY_ARN"),
            (
                {
                    "EVIDENCE_CUSTODY": "true",
                    "EVIDENCE_CUSTODY_KEY_ARN": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd",
                    "EVIDENCE_KEY_ALIAS": "alias/aws/ebs",
                },
                "EVIDENCE_KEY_ALIAS",
            ),
            (
                {
                    "EVIDENCE_CUSTODY": "true",
                    "EVIDENCE_CUSTODY_KEY_ARN": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd",
                    "EVIDENCE_KEY_ALIAS": KEY_ALIAS,
                },
                "serves no other account",
            ),
        ],
    )
    def test_a_wrong_evidence_setting_is_refused_with_what_to_fix(
        self, function_env: dict[str, str], changes: dict[str, str], message: str
    ) -> None:
        with pytest.raises(ConfigurationError, match=message):
            Settings.from_env({**function_env, **changes})


# ---- custody in the security account ------------------------------------------------------------------


def evidence_key(session: Any) -> str:
    """An evidence key with the module's alias in the session's account and region."""
    kms = session.client("kms")
    arn = str(kms.create_key(Description="evidence")["KeyMetadata"]["Arn"])
    kms.create_alias(AliasName=KEY_ALIAS, TargetKeyId=arn)
    return arn


@pytest.fixture
def csettings(settings: Settings) -> Settings:
    """The central function with its reconciler, serving the member account, locking and keeping custody."""
    central_key = evidence_key(boto3.session.Session(region_name=REGION))
    return dataclasses.replace(
        locked(settings),
        reconcile_queue_url=queue(),
        reconcile_rule_arn=RULE_ARN,
        reconcile_full_rule_arn=FULL_RULE_ARN,
        function_role_arn=FUNCTION_ROLE_ARN,
        result_event_source=EVENT_SOURCE,
        member_account_ids=frozenset({MEMBER}),
        executor_role_name=ROLE,
        executor_external_id=EXTERNAL_ID,
        evidence_custody=True,
        evidence_custody_key_arn=central_key,
        evidence_key_alias=KEY_ALIAS,
    )


@pytest.fixture
def custody(
    csettings: Settings, clients: AwsClients, sleeps: list[float], monkeypatch: pytest.MonkeyPatch
) -> Reconciler:
    record_on(clients.sqs)
    # the member account's clients (the executor role's) are recorded too, for the policy coverage test
    assumed = AwsClients.from_credentials.__func__  # type: ignore[attr-defined]

    def recorded(cls: type[AwsClients], *args: Any, **kwargs: Any) -> AwsClients:
        member_clients: AwsClients = assumed(cls, *args, **kwargs)
        record_on(member_clients.ec2)
        record_on(member_clients.kms)
        return member_clients

    monkeypatch.setattr(AwsClients, "from_credentials", classmethod(recorded))
    return Reconciler.of(csettings, clients, AwsClients(), sleeps, NOW)


@dataclasses.dataclass
class MemberInstance:
    ec2: Any
    instance_id: str
    key_arn: str | None

    @property
    def record_key(self) -> str:
        return f"{MEMBER}:{REGION}:{self.instance_id}"


def member_instance(*, encrypted: bool, with_key: bool = True) -> MemberInstance:
    """A member account's instance tagged for isolation (its root volume encrypted with the AWS managed
    key, or not), the member's isolation profile, and (unless not) its evidence key."""
    session = member_session()
    ec2 = session.client("ec2")
    create_instance_profile(session.client("iam"), "ec2-isolation-isolation")
    network = make_network(ec2, "10.7.0.0/16")
    instance_id = launch_instance(ec2, subnet_id=network.subnet_id, enis=[[network.app_group_id]], name="m")
    if encrypted:
        (volume_id,) = [
            m["Ebs"]["VolumeId"]
            for r in ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
            for i in r["Instances"]
            for m in i["BlockDeviceMappings"]
        ]
        ec2.detach_volume(VolumeId=volume_id, InstanceId=instance_id, Force=True)
        zone = ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]["AvailabilityZone"]
        encrypted_id = ec2.create_volume(Size=8, AvailabilityZone=zone, Encrypted=True)["VolumeId"]
        ec2.attach_volume(VolumeId=encrypted_id, InstanceId=instance_id, Device="/dev/xvda")
    ec2.create_tags(Resources=[instance_id], Tags=[{"Key": "SecurityIsolation", "Value": "Isolate"}])
    key = evidence_key(session) if with_key else None
    return MemberInstance(ec2, instance_id, key)


def central_copies(source_snapshot_id: str) -> list[dict[str, Any]]:
    ec2: Any = boto3.client("ec2", region_name=REGION)
    return list(
        ec2.describe_snapshots(
            OwnerIds=["self"],
            Filters=[{"Name": "tag:SecurityIsolation:EvidenceOf", "Values": [source_snapshot_id]}],
        )["Snapshots"]
    )


def member_copies(member: MemberInstance, source_snapshot_id: str) -> list[dict[str, Any]]:
    return list(
        member.ec2.describe_snapshots(
            OwnerIds=["self"],
            Filters=[{"Name": "tag:SecurityIsolation:EvidenceOf", "Values": [source_snapshot_id]}],
        )["Snapshots"]
    )


class TestCustody:
    def test_a_member_instances_evidence_ends_locked_in_the_security_account_under_its_key(
        self, custody: Reconciler, csettings: Settings
    ) -> None:
        # Given a member account's instance, its volume encrypted with the AWS managed key (EBS cannot
        # share such a snapshot), and snapshots that take a while to complete
        member = member_instance(encrypted=True)
        moto_ext.set_new_snapshot_state("pending")
        # When a round isolates it (its event was lost)
        custody.round(event_id="round-1")
        # Then its snapshot is taken and locked in the member account, custody under way
        (source,) = snapshots_of(member.ec2, member.instance_id)
        source_id = source["SnapshotId"]
        assert locks_of(member.ec2, [source_id])
        (entry,) = record(member.record_key)["evidence"].values()
        assert entry["stage"] == LOCKED and entry["custody"] == PENDING
        # When the next round finds the snapshot still pending
        custody.round(event_id="round-2")
        # Then it leaves it for the next one: no copy anywhere
        assert member_copies(member, source_id) == [] and central_copies(source_id) == []
        # When the snapshot completed, and a round runs
        moto_ext.complete_snapshots([source_id])
        custody.round(event_id="round-3")
        # Then it is copied in the member account under the member's evidence key (the intermediate copy)
        (intermediate,) = member_copies(member, source_id)
        assert intermediate["KmsKeyId"] == member.key_arn and intermediate["Encrypted"]
        (entry,) = record(member.record_key)["evidence"].values()
        assert entry["stage"] == "copied"
        # When it completed, and a round runs
        moto_ext.complete_snapshots([intermediate["SnapshotId"]])
        custody.round(event_id="round-4")
        # Then it is shared with the security account only, copied there under its key, and that copy locked
        (in_custody,) = central_copies(source_id)
        assert in_custody["OwnerId"] == ACCOUNT
        assert in_custody["KmsKeyId"] == csettings.evidence_custody_key_arn
        central_ec2 = boto3.client("ec2", region_name=REGION)
        assert locks_of(central_ec2, [in_custody["SnapshotId"]])
        shared = member.ec2.describe_snapshot_attribute(
            SnapshotId=intermediate["SnapshotId"], Attribute="createVolumePermission"
        )["CreateVolumePermissions"]
        assert shared == [{"UserId": ACCOUNT}]
        (entry,) = record(member.record_key)["evidence"].values()
        assert entry["stage"] == "shared" and entry["custody"] == PENDING
        # When the copy in custody completed, and a round runs
        moto_ext.complete_snapshots([in_custody["SnapshotId"]])
        custody.round(event_id="round-5")
        # Then the intermediate copy is gone, the source still locked in its account, and the record says
        # in custody, with every copy, its account, key and lock
        assert member_copies(member, source_id) == []
        assert locks_of(member.ec2, [source_id])
        final = record(member.record_key)
        (entry,) = final["evidence"].values()
        assert entry["stage"] == IN_CUSTODY and entry["custody"] == DONE
        assert final["custody_pending"] is False
        copies = {c["role"]: c for c in entry["copies"]}
        assert copies["intermediate"]["snapshot_id"] == intermediate["SnapshotId"]
        assert copies["intermediate"]["deleted_at"]
        assert copies["custody"]["snapshot_id"] == in_custody["SnapshotId"]
        assert copies["custody"]["account"] == ACCOUNT
        assert copies["custody"]["kms_key_id"] == csettings.evidence_custody_key_arn
        assert copies["custody"]["lock"]["mode"] == "governance"
        assert list(entry["stage_times"]) == ["locked", "copied", "shared", "in_custody"]
        # and the member account cannot delete its own evidence
        with pytest.raises(ClientError, match="lock"):
            member.ec2.delete_snapshot(SnapshotId=source_id)
        # and nothing is left for the rounds: the next one sends no custody pass
        started = custody.schedule(event_id="round-6")
        assert started["custody"] == [] and started["custody_records"] == 0
        custody.pump()
        assert len(central_copies(source_id)) == 1

    def test_evidence_in_custody_is_announced_with_its_manifest(
        self,
        custody: Reconciler,
        result_events: Any,  # noqa: F811 - the fixture imported above
    ) -> None:
        member = member_instance(encrypted=False)
        for number in range(1, 4):
            custody.round(event_id=f"round-{number}")
        announced = [e for e in result_events.read() if e["detail-type"] == EVIDENCE_IN_CUSTODY]
        assert len(announced) == 1
        detail = announced[0]["detail"]
        assert detail["instance_id"] == member.instance_id
        (entry,) = detail["evidence"]
        assert entry["custody"] == DONE and entry["copies"][0]["role"] == "custody"

    def test_the_manifest_reads_each_copy_its_account_and_its_lock(self, custody: Reconciler) -> None:
        member = member_instance(encrypted=True)
        for number in range(1, 5):
            custody.round(event_id=f"round-{number}")
        manifest = record(member.record_key)["evidence"]
        (entry,) = manifest.values()
        lines = manifest_lines(manifest)
        assert "stage in_custody" in lines[0] and "custody done" in lines[0] and "lock governance" in lines[0]
        intermediate, in_custody = (
            next(c for c in entry["copies"] if c["role"] == r) for r in ("intermediate", "custody")
        )
        assert any(intermediate["snapshot_id"] in line and "deleted" in line for line in lines[1:])
        assert any(
            in_custody["snapshot_id"] in line and f"{ACCOUNT}/{REGION}" in line and "lock governance" in line
            for line in lines[1:]
        )

    def test_an_unencrypted_snapshot_is_shared_as_it_is_and_its_share_removed_once_in_custody(
        self, custody: Reconciler, csettings: Settings
    ) -> None:
        # Given a member instance with an unencrypted volume
        member = member_instance(encrypted=False)
        # When rounds run (snapshots complete at once here)
        custody.round(event_id="round-1")
        custody.round(event_id="round-2")
        custody.round(event_id="round-3")
        # Then no intermediate copy was made: the snapshot itself was shared, then no longer
        (source,) = snapshots_of(member.ec2, member.instance_id)
        assert member_copies(member, source["SnapshotId"]) == []
        (in_custody,) = central_copies(source["SnapshotId"])
        assert in_custody["KmsKeyId"] == csettings.evidence_custody_key_arn and in_custody["Encrypted"]
        permissions = member.ec2.describe_snapshot_attribute(
            SnapshotId=source["SnapshotId"], Attribute="createVolumePermission"
        )["CreateVolumePermissions"]
        assert permissions == []
        (entry,) = record(member.record_key)["evidence"].values()
        assert entry["custody"] == DONE and [c["role"] for c in entry["copies"]] == ["custody"]

    def test_an_interrupted_custody_resumes_from_the_record_and_ec2_without_a_second_copy(
        self, custody: Reconciler
    ) -> None:
        # Given a member instance isolated, and a custody pass that made the intermediate copy but whose
        # record write was lost (the copy is not in the record)
        member = member_instance(encrypted=True)
        moto_ext.set_new_snapshot_state("pending")
        custody.round(event_id="round-1")
        (source,) = snapshots_of(member.ec2, member.instance_id)
        moto_ext.complete_snapshots([source["SnapshotId"]])
        custody.round(event_id="round-2")
        (intermediate,) = member_copies(member, source["SnapshotId"])
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        dynamodb.update_item(
            TableName=RECORD_TABLE,
            Key={"instance_id": {"S": member.record_key}},
            UpdateExpression="SET evidence.#s.copies = :none, evidence.#s.stage = :locked",
            ExpressionAttributeNames={"#s": source["SnapshotId"]},
            ExpressionAttributeValues={":none": {"L": []}, ":locked": {"S": "locked"}},
        )
        # When the next rounds run
        custody.round(event_id="round-3")
        moto_ext.complete_snapshots()
        custody.round(event_id="round-4")
        moto_ext.complete_snapshots()
        custody.round(event_id="round-5")
        # Then the copy found by its tag was used: one intermediate copy was ever made, and custody holds
        (in_custody,) = central_copies(source["SnapshotId"])
        (entry,) = record(member.record_key)["evidence"].values()
        assert entry["custody"] == DONE
        copies = {c["role"]: c for c in entry["copies"]}
        assert copies["intermediate"]["snapshot_id"] == intermediate["SnapshotId"]
        assert copies["custody"]["snapshot_id"] == in_custody["SnapshotId"]

    def test_a_member_without_its_evidence_key_fails_the_pass_with_what_to_apply(
        self, custody: Reconciler
    ) -> None:
        # Given a member account whose evidence key was never created
        member = member_instance(encrypted=True, with_key=False)
        custody.round(event_id="round-1")
        # When the custody pass runs
        custody.round(event_id="round-2")
        # Then its message fails (retried, then the dead letters), and the record says what to do
        assert any(m.get("kind") == "ec2-isolation.custody" for m in custody.failed)
        (entry,) = record(member.record_key)["evidence"].values()
        assert (
            "modules/member" in entry["error"]["message"] and "evidence_custody" in entry["error"]["message"]
        )
        assert entry["custody"] == PENDING and record(member.record_key)["custody_pending"] is True

    def test_a_snapshot_gone_before_custody_is_reported_once_and_not_retried(
        self, custody: Reconciler, csettings: Settings
    ) -> None:
        # Given a member instance whose unlocked snapshot was deleted before custody
        custody.settings = dataclasses.replace(csettings, evidence_lock_mode="")
        member = member_instance(encrypted=False)
        moto_ext.set_new_snapshot_state("pending")
        custody.round(event_id="round-1")
        (source,) = snapshots_of(member.ec2, member.instance_id)
        member.ec2.delete_snapshot(SnapshotId=source["SnapshotId"])
        # When the custody pass runs
        custody.round(event_id="round-2")
        # Then custody failed for good, is recorded and no longer pending
        (entry,) = record(member.record_key)["evidence"].values()
        assert entry["custody"] == FAILED and "gone" in entry["failure"]
        assert record(member.record_key)["custody_pending"] is False

    def test_the_security_accounts_own_instance_needs_no_copy(
        self, custody: Reconciler, launch: Launch, ec2: Any
    ) -> None:
        instance_id = launch()
        ec2.create_tags(Resources=[instance_id], Tags=[{"Key": "SecurityIsolation", "Value": "Isolate"}])
        custody.round(event_id="round-1")
        (entry,) = record(instance_id)["evidence"].values()
        assert entry["custody"] == SAME_ACCOUNT and entry["stage"] == LOCKED
        assert record(instance_id)["custody_pending"] is False
