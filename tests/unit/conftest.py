"""Fixtures for the handler's unit tests: a moto-backed account with a VPC, an isolation instance profile
and a way to launch instances the way real ones look (explicit network interfaces)."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core.botocore_stubber import BotocoreStubber

from ec2_isolation.clients import AwsClients
from ec2_isolation.config import Settings
from ec2_isolation.events import FunctionIdentity
from ec2_isolation.handler import handle
from tests.fixtures.events import ACCOUNT, REGION
from tests.fixtures.iam_calls import RECORD_DIR_ENV, RECORD_ENV, SESSION, record_on
from tests.unit.responder import Cli
from tools import moto_ext
from tools.fleet import create_instance_profile, launch_instance

# moto with what it lacks for evidence snapshots: snapshot lock, cross-account copies, pending snapshots
moto_ext.install()

FIXED_NOW = "2026-11-28T05:13:00+00:00"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:ec2-isolation"


@pytest.fixture(autouse=True)
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield


#: moto's in-process backends are not thread-safe (a read iterating a dict that a concurrent request
#: changes raises RuntimeError), and the handler makes independent calls at the same time
_EMULATOR_LOCK = threading.RLock()


@pytest.fixture(autouse=True)
def one_request_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto answers the handler's concurrent calls one at a time (its GIL-bound server nearly does the
    same). The calls still overlap in time: botocore's work, and any latency a test injects before the
    request reaches moto, run at the same time."""
    answer = BotocoreStubber.process_request

    def serialized(self: BotocoreStubber, request: Any) -> Any:
        with _EMULATOR_LOCK:
            return answer(self, request)

    monkeypatch.setattr(BotocoreStubber, "process_request", serialized)


RECORD_TABLE = "ec2-isolation-records"


@pytest.fixture(autouse=True)
def record_table(aws: None) -> str:
    """The isolation record table, as the module creates it."""
    boto3.client("dynamodb", region_name=REGION).create_table(
        TableName=RECORD_TABLE,
        KeySchema=[{"AttributeName": "instance_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "instance_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return RECORD_TABLE


@pytest.fixture
def ec2() -> Any:
    return boto3.client("ec2", region_name=REGION)


@pytest.fixture
def iam() -> Any:
    return boto3.client("iam")


@pytest.fixture
def isolation_profile_arn(iam: Any) -> str:
    return create_instance_profile(iam, "ec2-isolation-isolation")


@pytest.fixture
def app_profile_arn(iam: Any) -> str:
    """The instance profile a compromised workload had before isolation."""
    return create_instance_profile(iam, "web-app")


@pytest.fixture
def settings(isolation_profile_arn: str) -> Settings:
    return Settings(
        isolation_tag_key="SecurityIsolation",
        isolation_tag_value="Isolate",
        status_tag_prefix="SecurityIsolation:",
        isolation_security_group_name="ec2-isolation-isolation",
        isolation_instance_profile_arn=isolation_profile_arn,
        managed_tag_key="SecurityIsolation:ManagedBy",
        managed_tag_value="ec2-isolation",
        record_table_name=RECORD_TABLE,
        resource_tags={"team": "security", "cost-center": "ir"},
    )


@pytest.fixture
def function_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The environment the Terraform module gives the function."""
    env = {
        "ISOLATION_TAG_KEY": settings.isolation_tag_key,
        "ISOLATION_TAG_VALUE": settings.isolation_tag_value,
        "STATUS_TAG_PREFIX": settings.status_tag_prefix,
        "ISOLATION_SECURITY_GROUP_NAME": settings.isolation_security_group_name,
        "ISOLATION_INSTANCE_PROFILE_ARN": settings.isolation_instance_profile_arn,
        "MANAGED_TAG_KEY": settings.managed_tag_key,
        "MANAGED_TAG_VALUE": settings.managed_tag_value,
        "RECORD_TABLE_NAME": settings.record_table_name,
        "RESOURCE_TAGS": json.dumps(dict(settings.resource_tags)),
        "LOG_LEVEL": "INFO",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@dataclass
class Network:
    vpc_id: str
    subnet_id: str
    app_group_id: str
    db_group_id: str


def make_network(ec2: Any, cidr: str = "10.0.0.0/16") -> Network:
    vpc_id = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
    subnet_cidr = cidr.replace("0.0/16", "1.0/24")
    subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock=subnet_cidr)["Subnet"]["SubnetId"]
    app = ec2.create_security_group(GroupName="app", Description="app", VpcId=vpc_id)["GroupId"]
    db = ec2.create_security_group(GroupName="db", Description="db", VpcId=vpc_id)["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=app,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
        ],
    )
    return Network(vpc_id, subnet_id, app, db)


@pytest.fixture
def network(ec2: Any) -> Network:
    return make_network(ec2)


Launch = Callable[..., str]


@pytest.fixture
def launch(ec2: Any, network: Network) -> Launch:
    """Launch an instance with one ENI per entry of ``enis`` (each a list of group ids)."""

    def _launch(
        enis: Sequence[Sequence[str]] | None = None,
        profile_arn: str | None = None,
        net: Network | None = None,
        tags: dict[str, str] | None = None,
        extra_volumes: int = 0,
    ) -> str:
        net = net or network
        return launch_instance(
            ec2,
            subnet_id=net.subnet_id,
            enis=enis if enis is not None else [[net.app_group_id]],
            tags=tags or {"Name": "web-01"},
            profile_arn=profile_arn,
            extra_volumes=extra_volumes,
        )

    return _launch


@pytest.fixture
def clients() -> AwsClients:
    """The handler's clients; every call they make is recorded for the policy coverage test."""
    handler_clients = AwsClients()
    for client in (
        handler_clients.ec2,
        handler_clients.iam,
        handler_clients.autoscaling,
        handler_clients.elbv2,
        handler_clients.dynamodb,
        handler_clients.sns,
        handler_clients.events,
    ):
        record_on(client)
    return handler_clients


@pytest.fixture(scope="session", autouse=True)
def _dump_recorded_calls() -> Iterator[None]:
    """When asked (the policy coverage test runs the unit tests in a subprocess), write the record."""
    yield
    if target := os.environ.get(RECORD_ENV):
        SESSION.dump(Path(target))
    if directory := os.environ.get(RECORD_DIR_ENV):
        SESSION.dump(Path(directory) / f"{os.environ.get('PYTEST_XDIST_WORKER', 'main')}.json")


Invoke = Callable[..., dict[str, Any]]


@pytest.fixture
def sleeps() -> list[float]:
    """The waits the handler asked for (the tests do not really wait)."""
    return []


@pytest.fixture
def invoke(settings: Settings, clients: AwsClients, sleeps: list[float]) -> Invoke:
    """Run the handler in-process against the emulator, as the Lambda runtime would."""
    from datetime import datetime

    function = FunctionIdentity.from_function_arn(FUNCTION_ARN)

    def _invoke(event: Any, settings: Settings = settings) -> dict[str, Any]:
        return handle(
            event,
            settings=settings,
            clients=clients,
            function=function,
            now=lambda: datetime.fromisoformat(FIXED_NOW),
            sleep=sleeps.append,
        )

    return _invoke


# ---- reading emulator state -------------------------------------------------------------------------


def eni_groups(ec2: Any, instance_id: str) -> dict[str, list[str]]:
    """Groups per ENI of the instance, by ENI id."""
    enis = ec2.describe_network_interfaces(
        Filters=[{"Name": "attachment.instance-id", "Values": [instance_id]}]
    )
    return {
        e["NetworkInterfaceId"]: sorted(g["GroupId"] for g in e["Groups"]) for e in enis["NetworkInterfaces"]
    }


def enis_on_group(ec2: Any, group_id: str) -> set[str]:
    """ENIs EC2 reports on ``group_id`` (the group-id filter is faithful in moto)."""
    enis = ec2.describe_network_interfaces(Filters=[{"Name": "group-id", "Values": [group_id]}])
    return {e["NetworkInterfaceId"] for e in enis["NetworkInterfaces"]}


def groups_named(ec2: Any, name: str, vpc_id: str | None = None) -> list[dict[str, Any]]:
    filters = [{"Name": "group-name", "Values": [name]}]
    if vpc_id:
        filters.append({"Name": "vpc-id", "Values": [vpc_id]})
    groups: list[dict[str, Any]] = ec2.describe_security_groups(Filters=filters)["SecurityGroups"]
    return groups


def group_rules(ec2: Any, group_id: str) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = ec2.describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": [group_id]}]
    )["SecurityGroupRules"]
    return rules


def profile_arns(ec2: Any, instance_id: str) -> list[str]:
    """Active instance-profile associations (trusted over DescribeInstances, which lags in moto)."""
    associations = ec2.describe_iam_instance_profile_associations(
        Filters=[{"Name": "instance-id", "Values": [instance_id]}]
    )
    return [
        a["IamInstanceProfile"]["Arn"]
        for a in associations["IamInstanceProfileAssociations"]
        if a["State"] in ("associating", "associated")
    ]


def tags_of(ec2: Any, instance_id: str) -> dict[str, str]:
    instance = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    return {t["Key"]: t["Value"] for t in instance.get("Tags", [])}


# ---- a served instance: Auto Scaling group and target groups -----------------------------------------


@pytest.fixture
def fleet(ec2: Any, network: Network, launch: Launch, app_profile_arn: str) -> dict[str, Any]:
    """A two-ENI, two-volume instance in an Auto Scaling group, behind an instance and an IP target group."""
    autoscaling = boto3.client("autoscaling", region_name=REGION)
    elbv2 = boto3.client("elbv2", region_name=REGION)
    instance_id = launch(
        enis=[[network.app_group_id], [network.db_group_id]], profile_arn=app_profile_arn, extra_volumes=2
    )
    instance = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    autoscaling.create_launch_configuration(
        LaunchConfigurationName="web", ImageId="ami-12c6146b", InstanceType="t3.micro"
    )
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="web",
        LaunchConfigurationName="web",
        MinSize=0,
        MaxSize=4,
        DesiredCapacity=0,
        VPCZoneIdentifier=network.subnet_id,
    )
    autoscaling.attach_instances(InstanceIds=[instance_id], AutoScalingGroupName="web")
    by_instance = elbv2.create_target_group(
        Name="web", Protocol="HTTP", Port=80, VpcId=network.vpc_id, TargetType="instance"
    )["TargetGroups"][0]["TargetGroupArn"]
    by_ip = elbv2.create_target_group(
        Name="web-ip", Protocol="HTTP", Port=80, VpcId=network.vpc_id, TargetType="ip"
    )["TargetGroups"][0]["TargetGroupArn"]
    secondary_ip = next(n for n in instance["NetworkInterfaces"] if n["Attachment"]["DeviceIndex"] == 1)[
        "PrivateIpAddress"
    ]
    # another host's address in the same IP target group: one that is not the instance's (moto picks the
    # instance's addresses at random in the subnet)
    own = {a["PrivateIpAddress"] for n in instance["NetworkInterfaces"] for a in n["PrivateIpAddresses"]}
    other_ip = next(f"10.0.1.{host}" for host in range(250, 255) if f"10.0.1.{host}" not in own)
    elbv2.register_targets(TargetGroupArn=by_instance, Targets=[{"Id": instance_id, "Port": 8080}])
    elbv2.register_targets(
        TargetGroupArn=by_ip, Targets=[{"Id": secondary_ip, "Port": 80}, {"Id": other_ip, "Port": 80}]
    )
    return {
        "other_ip": other_ip,
        "instance_id": instance_id,
        "autoscaling": autoscaling,
        "elbv2": elbv2,
        "by_instance": by_instance,
        "by_ip": by_ip,
        "desired": autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["web"])[
            "AutoScalingGroups"
        ][0]["DesiredCapacity"],
    }


def desired_capacity(fleet: dict[str, Any]) -> int:
    groups = fleet["autoscaling"].describe_auto_scaling_groups(AutoScalingGroupNames=["web"])[
        "AutoScalingGroups"
    ]
    capacity: int = groups[0]["DesiredCapacity"]
    return capacity


def targets(fleet: dict[str, Any], group: str) -> set[str]:
    health = fleet["elbv2"].describe_target_health(TargetGroupArn=fleet[group])["TargetHealthDescriptions"]
    return {d["Target"]["Id"] for d in health}


# ---- the responder CLI ---------------------------------------------------------------------------------


@pytest.fixture
def cli() -> Cli:
    return Cli()


@pytest.fixture
def dynamodb() -> Any:
    return boto3.client("dynamodb", region_name=REGION)
