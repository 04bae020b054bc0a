"""End to end across accounts and regions on the local emulator.

Terraform applies examples/organization to one moto server: the central module in the security
account (the emulator's own account, us-east-1) and modules/member in two member accounts, each in
us-east-1 and eu-west-1. moto keeps accounts apart by credentials, and each member provider assumes
its account's deployment role, so every resource lands in its own account, as in AWS.

Then an analyst tags an instance of member account A in eu-west-1. What EventBridge would do is done
by `tools.deliver.forward`, from the state the emulator holds:
- A's forwarding rule matches the event and puts it on the central bus. The target's role must be
  assumable by EventBridge for that rule and allowed to PutEvents on the bus, and the bus policy must
  accept A.
- The central rule runs the deployed function. It assumes A's executor role, and isolates the
  instance in A's eu-west-1.

The same tag then releases it, and `terraform destroy` removes the layout. The tests share one
deployment (module-scoped fixtures) and run in file order; the last one destroys.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from tests.e2e.conftest import associations, eni_groups, enis_on_group, group_rule_ids, groups_named, tags_of
from tools import deliver as eventbridge
from tools import tfcli
from tools.deliver import ForwardedDelivery, Invocation
from tools.emulator import Deployment, Emulator
from tools.fleet import create_instance_profile, launch_instance

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

pytestmark = pytest.mark.e2e

EXAMPLE = Path("examples") / "organization"
CENTRAL, CENTRAL_REGION = tfcli.FAKE_ACCOUNT_ID, tfcli.FAKE_REGION
ACCOUNT_A, ACCOUNT_B, OUTSIDER = "111111111111", "222222222222", "333333333333"
#: the member accounts' second region: another region than the function's, in another account
REGION = "eu-west-1"
ORGANIZATION = "o-a1b2c3d4e5"
KEY, ISOLATE, RELEASE = "SecurityIsolation", "Isolate", "Release"

SessionFor = Callable[[str, str], boto3.session.Session]


@pytest.fixture(scope="module")
def organization(emulator: Emulator) -> Any:
    """examples/organization applied to the emulator; not destroyed at the end (the module's emulator goes
    with everything in it; the last test destroys, and checks what is left)."""
    try:
        tfcli.terraform_binary()
    except tfcli.TerraformNotFoundError as error:
        pytest.fail(f"{error}. The end-to-end tests need it and are not skipped without it.", pytrace=False)
    with Deployment(emulator, EXAMPLE, destroy_on_exit=False) as applied:
        applied.apply()
        # the central account's schedules and reconcile queue: taken over from moto (tools.deliver)
        eventbridge.take_over_emulator(emulator.session(account=CENTRAL, region=CENTRAL_REGION))
        # snapshots take a while in AWS: here they complete when a test says so
        emulator.set_new_snapshot_state("pending")
        yield applied


@pytest.fixture(scope="module")
def outputs(organization: Deployment) -> dict[str, Any]:
    return dict(organization.outputs)


@pytest.fixture(scope="module")
def session_for(emulator: Emulator) -> SessionFor:
    """A session of an account and region of the emulator (one per pair, kept)."""
    sessions: dict[tuple[str, str], boto3.session.Session] = {}

    def session(account: str, region: str) -> boto3.session.Session:
        if (account, region) not in sessions:
            sessions[(account, region)] = emulator.session(account=account, region=region)
        return sessions[(account, region)]

    return session


@dataclass(frozen=True)
class MemberApp:
    """An application in one member account and region: a VPC, a group, a profile and one instance."""

    account: str
    vpc_id: str
    group_id: str
    profile_arn: str
    instance_id: str

    @property
    def arn(self) -> str:
        return f"arn:aws:ec2:{REGION}:{self.account}:instance/{self.instance_id}"


def launch_member_app(
    session: boto3.session.Session, account: str, name: str, *, encrypted_data_volume: bool = False
) -> MemberApp:
    """The application; with ``encrypted_data_volume``, also a data volume encrypted with the AWS
    managed key (whose snapshot EBS cannot share), beside the unencrypted root volume."""
    ec2 = session.client("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.30.0.0/16")["Vpc"]["VpcId"]
    subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.30.1.0/24")["Subnet"]["SubnetId"]
    group_id = ec2.create_security_group(GroupName="app", Description="web tier", VpcId=vpc_id)["GroupId"]
    profile_arn = create_instance_profile(session.client("iam"), "web-app")
    instance_id = launch_instance(
        ec2, subnet_id=subnet_id, enis=[[group_id]], name=name, profile_arn=profile_arn
    )
    if encrypted_data_volume:
        [reservation] = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
        zone = reservation["Instances"][0]["Placement"]["AvailabilityZone"]
        volume_id = ec2.create_volume(Size=8, AvailabilityZone=zone, Encrypted=True)["VolumeId"]
        ec2.attach_volume(VolumeId=volume_id, InstanceId=instance_id, Device="/dev/sdf")
    return MemberApp(account, vpc_id, group_id, profile_arn, instance_id)


@pytest.fixture(scope="module")
def app(session_for: SessionFor, organization: Deployment) -> MemberApp:
    """Given an application instance in member account A, in eu-west-1."""
    return launch_member_app(session_for(ACCOUNT_A, REGION), ACCOUNT_A, "web-01", encrypted_data_volume=True)


@pytest.fixture(scope="module")
def bystander(session_for: SessionFor, organization: Deployment) -> MemberApp:
    """And one in member account B, same region, never tagged."""
    return launch_member_app(session_for(ACCOUNT_B, REGION), ACCOUNT_B, "web-01")


@pytest.fixture(scope="module")
def ec2_a(session_for: SessionFor) -> EC2Client:
    return session_for(ACCOUNT_A, REGION).client("ec2")


def analyst_tags(ec2: EC2Client, app: MemberApp, value: str) -> dict[str, Any]:
    """The analyst sets the trigger tag; the event EventBridge emits in the instance's account and region."""
    ec2.create_tags(Resources=[app.instance_id], Tags=[{"Key": KEY, "Value": value}])
    return eventbridge.tag_change_event(
        resource_arns=[app.arn],
        tags=tags_of(ec2, app.instance_id),
        changed_tag_keys=[KEY],
        account=app.account,
        region=REGION,
    )


@dataclass(frozen=True)
class Snapshot:
    groups: dict[str, list[str]]
    profiles: list[str]
    tags: dict[str, str]


def snapshot(ec2: EC2Client, instance_id: str) -> Snapshot:
    return Snapshot(
        eni_groups(ec2, instance_id),
        [arn for _, arn in associations(ec2, instance_id)],
        tags_of(ec2, instance_id),
    )


@dataclass(frozen=True)
class Isolation:
    before: Snapshot
    bystander_before: Snapshot
    event: dict[str, Any]
    forwarded: ForwardedDelivery


@pytest.fixture(scope="module")
def isolation(session_for: SessionFor, ec2_a: EC2Client, app: MemberApp, bystander: MemberApp) -> Isolation:
    """When the analyst tags the instance of account A and EventBridge forwards and delivers the event."""
    before = snapshot(ec2_a, app.instance_id)
    bystander_before = snapshot(session_for(ACCOUNT_B, REGION).client("ec2"), bystander.instance_id)
    event = analyst_tags(ec2_a, app, ISOLATE)
    forwarded = eventbridge.forward(
        session_for(ACCOUNT_A, REGION), event, session_for, organization_id=ORGANIZATION
    )
    return Isolation(before, bystander_before, event, forwarded)


def only_invocation(forwarded: ForwardedDelivery) -> Invocation:
    [invocation] = forwarded.invocations
    assert invocation.ok, invocation.payload
    return invocation


def executor_role(session: boto3.session.Session) -> dict[str, Any]:
    role: dict[str, Any] = dict(session.client("iam").get_role(RoleName="ec2-isolation-executor")["Role"])
    return role


def record(session_for: SessionFor, outputs: dict[str, Any], key: str) -> dict[str, Any]:
    """The central record table's item ``key``, as Python values."""
    dynamodb = session_for(CENTRAL, CENTRAL_REGION).client("dynamodb")
    item = dynamodb.get_item(TableName=outputs["record_table_name"], Key={"instance_id": {"S": key}})
    assert "Item" in item, f"no record {key}"
    deserialize = TypeDeserializer().deserialize
    return {name: deserialize(value) for name, value in item["Item"].items()}


# ---- routing -----------------------------------------------------------------------------------------


def test_the_member_rule_forwards_the_tag_event_to_the_central_bus(
    outputs: dict[str, Any], isolation: Isolation
) -> None:
    forwarded = isolation.forwarded
    # Then in account A's eu-west-1, only the forwarding rule matched, and no function ran there
    assert [rule.arn for rule in forwarded.source.matched] == [
        outputs["forwarding_rule_arns"]["workloads_a_secondary"]
    ]
    assert forwarded.source.invocations == ()
    # it put the event on the central bus, through the forwarding role, which the bus policy accepts
    [forwarding] = forwarded.forwardings
    assert forwarding.bus_arn == outputs["event_bus_arn"]
    assert forwarding.route.role_arn == f"arn:aws:iam::{ACCOUNT_A}:role/ec2-isolation-forwarder"
    assert forwarding.role_statement == "PutOnCentralBus"
    assert forwarding.bus_statement == "MemberAccountsForwardIsolationTagEvents"
    # and on the central bus the module's rule ran the central function, once
    [central] = forwarded.deliveries
    assert [rule.arn.split(":")[4] for rule in central.matched] == [CENTRAL]
    [invocation] = central.invocations
    assert invocation.function_name == outputs["lambda_function_name"]
    assert invocation.function_arn.split(":")[3:5] == [CENTRAL_REGION, CENTRAL]


def test_the_bus_accepts_only_the_organizations_listed_accounts(
    session_for: SessionFor, outputs: dict[str, Any], app: MemberApp
) -> None:
    # Given the central bus's policy as the emulator holds it, and a tag event of each account
    central = session_for(CENTRAL, CENTRAL_REGION)
    bus = outputs["event_bus_arn"]

    def event_of(account: str) -> dict[str, Any]:
        return eventbridge.tag_change_event(
            resource_arns=[app.arn.replace(ACCOUNT_A, account)],
            tags={KEY: ISOLATE},
            changed_tag_keys=[KEY],
            account=account,
            region=REGION,
        )

    # Then account B of the organization is accepted
    assert eventbridge.check_bus_policy(
        central, bus, event_of(ACCOUNT_B), source_account=ACCOUNT_B, organization_id=ORGANIZATION
    )
    # but not an account that is not listed, even in the organization
    with pytest.raises(eventbridge.DeliveryError, match=OUTSIDER):
        eventbridge.check_bus_policy(
            central, bus, event_of(OUTSIDER), source_account=OUTSIDER, organization_id=ORGANIZATION
        )
    # nor a listed account that has left the organization (the PrincipalOrgID condition)
    with pytest.raises(eventbridge.DeliveryError, match=ACCOUNT_B):
        eventbridge.check_bus_policy(
            central, bus, event_of(ACCOUNT_B), source_account=ACCOUNT_B, organization_id="o-zzzzzzzzzz"
        )
    # nor another kind of event from a listed account
    other = {
        **event_of(ACCOUNT_B),
        "source": "aws.ec2",
        "detail-type": "EC2 Instance State-change Notification",
    }
    with pytest.raises(eventbridge.DeliveryError):
        eventbridge.check_bus_policy(
            central, bus, other, source_account=ACCOUNT_B, organization_id=ORGANIZATION
        )


# ---- isolation in the member account -----------------------------------------------------------------


def test_the_central_function_isolates_the_instance_in_its_own_account_and_region(
    session_for: SessionFor, ec2_a: EC2Client, app: MemberApp, outputs: dict[str, Any], isolation: Isolation
) -> None:
    invocation = only_invocation(isolation.forwarded)
    [result] = invocation.payload["instances"]
    assert (result["instance_id"], result["status"]) == (app.instance_id, "isolated")
    # Then (read from account A's eu-west-1) the ENI is on exactly the isolation group of A's VPC
    [group] = groups_named(ec2_a, outputs["isolation_security_group_name"], app.vpc_id)
    assert group["OwnerId"] == ACCOUNT_A
    [eni] = isolation.before.groups
    assert eni_groups(ec2_a, app.instance_id) == {eni: [group["GroupId"]]}
    assert enis_on_group(ec2_a, group["GroupId"]) == {eni}
    assert not enis_on_group(ec2_a, app.group_id)
    assert group_rule_ids(ec2_a, group["GroupId"]) == []
    # the instance profile is account A's deny-all isolation profile (not the security account's)
    assert isolation.before.profiles == [app.profile_arn]
    assert [arn for _, arn in associations(ec2_a, app.instance_id)] == [
        outputs["isolation_instance_profile_arns"]["workloads_a"]
    ]
    tags = tags_of(ec2_a, app.instance_id)
    assert (tags["SecurityIsolation:Status"], tags["SecurityIsolation:EventId"]) == (
        "Isolated",
        isolation.event["id"],
    )
    # and nothing was created in the security account, nor in A's other region
    central_ec2 = session_for(CENTRAL, CENTRAL_REGION).client("ec2")
    assert (
        central_ec2.describe_security_groups(
            Filters=[{"Name": "group-name", "Values": [outputs["isolation_security_group_name"]]}]
        )["SecurityGroups"]
        == []
    )
    a_home = session_for(ACCOUNT_A, CENTRAL_REGION).client("ec2")
    assert (
        a_home.describe_security_groups(
            Filters=[{"Name": "group-name", "Values": [outputs["isolation_security_group_name"]]}]
        )["SecurityGroups"]
        == []
    )


def test_the_function_acted_through_the_member_accounts_executor_role(
    session_for: SessionFor, outputs: dict[str, Any], isolation: Isolation
) -> None:
    invocation = only_invocation(isolation.forwarded)
    central = session_for(CENTRAL, CENTRAL_REGION)
    # Then it assumed A's executor role (the emulator marks a role used when its credentials call)
    role_a = executor_role(session_for(ACCOUNT_A, REGION))
    assert role_a["Arn"] == outputs["executor_role_arns"]["workloads_a"]
    assert role_a.get("RoleLastUsed", {}).get("LastUsedDate"), "A's executor role was never used"
    assumed = [line for line in invocation.json_log_lines() if line["message"] == "assumed the executor role"]
    assert [(line["role_arn"], line["region"]) for line in assumed] == [(role_a["Arn"], REGION)]
    # and every log line about the instance says where it is
    about = [line for line in invocation.json_log_lines() if "instance_id" in line]
    assert about
    assert {(line["account"], line["region"]) for line in about} == {(ACCOUNT_A, REGION)}
    # and not B's
    assert not executor_role(session_for(ACCOUNT_B, REGION)).get("RoleLastUsed", {}).get("LastUsedDate")
    # The role it assumed trusts exactly the deployed function's role, with the function's external id
    # (STS would check this; the emulator does not, so the two deployments are compared here)
    configuration = central.client("lambda").get_function_configuration(
        FunctionName=outputs["lambda_function_name"]
    )
    [trust] = role_a["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"AWS": configuration["Role"]}
    assert configuration["Role"] == outputs["lambda_role_arn"]
    conditions = trust["Condition"]["StringEquals"]
    assert conditions["sts:ExternalId"] == configuration["Environment"]["Variables"]["EXECUTOR_EXTERNAL_ID"]
    assert conditions["aws:PrincipalOrgID"] == ORGANIZATION


def test_the_record_is_central_keyed_by_account_and_region(
    session_for: SessionFor, app: MemberApp, outputs: dict[str, Any], isolation: Isolation
) -> None:
    only_invocation(isolation.forwarded)
    # Then the security account's table holds the record, under <account>:<region>:<instance id>
    key = f"{ACCOUNT_A}:{REGION}:{app.instance_id}"
    item = record(session_for, outputs, key)
    assert (item["instance_id"], item["status"]) == (key, "isolated")
    # with the prior state read in account A: the ENI's own group, and the application's profile
    assert app.group_id in json.dumps(item["prior"], default=str)
    assert app.profile_arn in json.dumps(item["prior"], default=str)
    # and the member account has no table of its own
    assert session_for(ACCOUNT_A, REGION).client("dynamodb").list_tables()["TableNames"] == []


def test_the_other_member_account_is_untouched(
    session_for: SessionFor, bystander: MemberApp, isolation: Isolation
) -> None:
    only_invocation(isolation.forwarded)
    assert (
        snapshot(session_for(ACCOUNT_B, REGION).client("ec2"), bystander.instance_id)
        == isolation.bystander_before
    )


def test_an_event_of_an_account_outside_the_layout_is_refused_by_the_function(
    session_for: SessionFor, app: MemberApp, isolation: Isolation
) -> None:
    # Given an event of another account that reached the central bus anyway (e.g. the bus policy widened)
    only_invocation(isolation.forwarded)
    event = eventbridge.tag_change_event(
        resource_arns=[app.arn.replace(ACCOUNT_A, OUTSIDER)],
        tags={KEY: ISOLATE},
        changed_tag_keys=[KEY],
        account=OUTSIDER,
        region=REGION,
    )
    # When it is delivered there
    [invocation] = eventbridge.deliver(session_for(CENTRAL, CENTRAL_REGION), event).invocations
    # Then the function refuses it (the invocation fails: retried, then dead-lettered and alarmed)
    assert invocation.function_error == "Unhandled"
    assert invocation.payload["errorType"] == "InvalidEvent"
    assert OUTSIDER in invocation.payload["errorMessage"]
    assert not any(line["message"] == "assumed the executor role" for line in invocation.json_log_lines())


# ---- release -----------------------------------------------------------------------------------------


def test_the_release_tag_restores_the_member_instance(
    session_for: SessionFor, ec2_a: EC2Client, app: MemberApp, outputs: dict[str, Any], isolation: Isolation
) -> None:
    # Given the isolated instance of account A
    only_invocation(isolation.forwarded)
    # When the analyst sets the release value, and the event goes the same way
    event = analyst_tags(ec2_a, app, RELEASE)
    forwarded = eventbridge.forward(
        session_for(ACCOUNT_A, REGION), event, session_for, organization_id=ORGANIZATION
    )
    # Then the function released it, in account A's eu-west-1
    invocation = only_invocation(forwarded)
    [result] = invocation.payload["instances"]
    assert (result["instance_id"], result["status"]) == (app.instance_id, "released")
    after = snapshot(ec2_a, app.instance_id)
    assert after.groups == isolation.before.groups
    assert after.profiles == isolation.before.profiles == [app.profile_arn]
    assert after.tags["SecurityIsolation:Status"] == "Released"
    assert record(session_for, outputs, f"{ACCOUNT_A}:{REGION}:{app.instance_id}")["status"] == "released"


# ---- evidence custody -----------------------------------------------------------------------------------


def custody_round(session_for: SessionFor, emulator: Emulator, number: int) -> list[dict[str, Any]]:
    """The `<name>-reconcile` schedule comes due in the security account, and the Lambda service works
    through the reconcile queue; the custody passes' results."""
    central = session_for(CENTRAL, CENTRAL_REGION)
    delivery = eventbridge.deliver_scheduled(central, "ec2-isolation-reconcile", event_id=f"custody-{number}")
    [invocation] = delivery.invocations
    assert invocation.ok, invocation.payload
    queue_url = central.client("sqs").get_queue_url(QueueName="ec2-isolation-reconcile")["QueueUrl"]
    pump = eventbridge.pump_queue(central, queue_url, max_invocations=20)
    assert pump.drained, f"left in the reconcile queue: {pump.visible} visible, {pump.in_flight} in flight"
    results: list[dict[str, Any]] = []
    for batch in pump.batches:
        assert batch.invocation.ok and batch.failed == (), batch.outcome
        results += [r for r in batch.invocation.payload.get("results", []) if r.get("action") == "custody"]
    return results


def copies_of(ec2: EC2Client, source_id: str) -> list[Any]:
    return list(
        ec2.describe_snapshots(
            OwnerIds=["self"], Filters=[{"Name": "tag:SecurityIsolation:EvidenceOf", "Values": [source_id]}]
        )["Snapshots"]
    )


def test_the_member_instances_evidence_ends_locked_in_the_security_account(
    session_for: SessionFor,
    emulator: Emulator,
    ec2_a: EC2Client,
    app: MemberApp,
    outputs: dict[str, Any],
    isolation: Isolation,
) -> None:
    # Given the instance of account A, isolated (and since released), its two snapshots taken and locked
    # there, both still pending: the root volume unencrypted, the data volume under the AWS managed key
    only_invocation(isolation.forwarded)
    key = f"{ACCOUNT_A}:{REGION}:{app.instance_id}"
    manifest = record(session_for, outputs, key)["evidence"]
    assert len(manifest) == 2
    sources = {e["snapshot_id"]: e for e in manifest.values()}
    locks = ec2_a.describe_locked_snapshots(SnapshotIds=sorted(sources))["Snapshots"]
    assert {lock["SnapshotId"] for lock in locks} == set(sources)
    encrypted = next(i for i, e in sources.items() if e["encrypted"])
    plain = next(i for i, e in sources.items() if not e["encrypted"])
    central_ec2 = session_for(CENTRAL, CENTRAL_REGION).client("ec2")
    # When a round finds them still pending
    [passed] = custody_round(session_for, emulator, 1)
    # Then it leaves them for the next one: no copy anywhere
    assert passed["moves"] == [] and passed["waiting"] == 2
    assert copies_of(ec2_a, encrypted) == [] and copies_of(central_ec2, plain) == []
    # When they complete, and a round runs
    emulator.complete_snapshots(sorted(sources))
    custody_round(session_for, emulator, 2)
    # Then the encrypted one is copied in account A under A's evidence key (the intermediate copy),
    # and the unencrypted one is shared as it is and copied into the security account under its key
    [intermediate] = copies_of(ec2_a, encrypted)
    key_arn = session_for(ACCOUNT_A, REGION).client("kms").describe_key(KeyId="alias/ec2-isolation-evidence")
    assert intermediate["KmsKeyId"] == key_arn["KeyMetadata"]["Arn"]
    [plain_copy] = copies_of(central_ec2, plain)
    # When a pass is interrupted: the record loses what the last pass did (its write never landed)
    dynamodb = session_for(CENTRAL, CENTRAL_REGION).client("dynamodb")
    dynamodb.update_item(
        TableName=outputs["record_table_name"],
        Key={"instance_id": {"S": key}},
        UpdateExpression="SET evidence.#e.copies = :none, evidence.#e.stage = :locked",
        ExpressionAttributeNames={"#e": encrypted},
        ExpressionAttributeValues={":none": {"L": []}, ":locked": {"S": "locked"}},
    )
    # and the copies complete, and the rounds go on
    for number in range(3, 6):
        emulator.complete_snapshots()
        custody_round(session_for, emulator, number)
    # Then custody resumed from the record and EC2: one intermediate copy was ever made, and it is gone
    assert copies_of(ec2_a, encrypted) == []
    final = record(session_for, outputs, key)
    entries = final["evidence"]
    assert {e["custody"] for e in entries.values()} == {"done"} and final["custody_pending"] is False
    assert {c["snapshot_id"] for c in entries[encrypted]["copies"] if c["role"] == "intermediate"} == {
        intermediate["SnapshotId"]
    }
    # and each snapshot is a locked copy owned by the security account, encrypted with its key
    custody_key = (
        session_for(CENTRAL, CENTRAL_REGION).client("kms").describe_key(KeyId="alias/ec2-isolation-evidence")
    )
    for source_id in sources:
        [held] = copies_of(central_ec2, source_id)
        assert held["OwnerId"] == CENTRAL and held["Encrypted"]
        assert held["KmsKeyId"] == custody_key["KeyMetadata"]["Arn"]
        [lock] = central_ec2.describe_locked_snapshots(SnapshotIds=[held["SnapshotId"]])["Snapshots"]
        assert lock["LockState"] == "governance"
    assert [c["SnapshotId"] for c in copies_of(central_ec2, plain)] == [plain_copy["SnapshotId"]]
    # and account A cannot delete its own evidence
    for source_id in sources:
        with pytest.raises(ClientError, match=r"(?i)lock"):
            ec2_a.delete_snapshot(SnapshotId=source_id)


# ---- destroy (keep last) -----------------------------------------------------------------------------


def test_destroy_removes_the_layout_from_every_account_and_region(
    session_for: SessionFor, organization: Deployment, outputs: dict[str, Any], app: MemberApp
) -> None:
    # When the layout is destroyed
    organization.destroy()
    # Then Terraform's state is empty, and no member account keeps a rule, a queue or a role of it
    assert organization.state_addresses() == []
    for account in (ACCOUNT_A, ACCOUNT_B):
        for region in (CENTRAL_REGION, REGION):
            session = session_for(account, region)
            assert session.client("events").list_rules(NamePrefix="ec2-isolation")["Rules"] == [], (
                account,
                region,
            )
            assert (
                session.client("sqs").list_queues(QueueNamePrefix="ec2-isolation").get("QueueUrls", []) == []
            )
        iam = session_for(account, REGION).client("iam")
        roles = [
            role["RoleName"] for page in iam.get_paginator("list_roles").paginate() for role in page["Roles"]
        ]
        assert [role for role in roles if role.startswith("ec2-isolation")] == [], account
    central = session_for(CENTRAL, CENTRAL_REGION)
    assert "Policy" not in central.client("events").describe_event_bus(Name="default")
    # while the member's application, and its isolation group, are not Terraform's to remove
    assert app.profile_arn in [
        profile["Arn"]
        for profile in session_for(ACCOUNT_A, REGION)
        .client("iam")
        .list_instance_profiles()["InstanceProfiles"]
    ]
