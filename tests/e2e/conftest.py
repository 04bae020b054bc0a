"""End-to-end fixtures: examples/basic applied by Terraform to a local AWS emulator (a moto server), an
application instance launched there, and readers of the emulator's state.

Nothing runs against AWS: the emulator listens on 127.0.0.1, Terraform's provider has an endpoint for
every service it may call pointing at it (override file in a temporary copy of the module), and every
credential is fake. The Lambda function is run from its deployed code by `tools.deliver`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from tools import deliver, tfcli
from tools.emulator import Deployment, Emulator
from tools.fleet import create_instance_profile, launch_instance

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

INSTANCE_PROFILE_ASSOCIATED = ("associating", "associated")

HERE = Path(__file__).resolve().parent
DEMO = tfcli.REPO_ROOT / "tools" / "demo.py"
DEMO_TESTS = HERE / "test_demo.py"
#: the runs of tools/demo.py the demo tests check, by name: their arguments
DEMO_RUNS: dict[str, list[str]] = {"demo": [], "no-deliver": ["--no-deliver"]}
DEMO_TIMEOUT = 300  # seconds; a safety net against a hung run, not a timing assertion


# ---- the demo, in the background ---------------------------------------------------------------------


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The demo tests run last: they wait for demo runs that started with the first end-to-end test."""
    items.sort(key=lambda item: Path(str(item.path)) == DEMO_TESTS)


class DemoRuns:
    """tools/demo.py runs (each with its own emulator on a free port, in its own process group)."""

    def __init__(self, directory: Path) -> None:
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        self._outputs: dict[str, Path] = {}
        for name, arguments in DEMO_RUNS.items():
            output = directory / f"{name}.out"
            with output.open("wb") as sink:
                self._processes[name] = subprocess.Popen(
                    [sys.executable, str(DEMO), *arguments],
                    cwd=tfcli.REPO_ROOT,
                    stdin=subprocess.DEVNULL,
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            self._outputs[name] = output

    def wait(self, name: str) -> tuple[int, str]:
        """(exit status, output) of the run ``name``, once it has finished."""
        returncode = self._processes[name].wait(timeout=DEMO_TIMEOUT)
        return returncode, self._outputs[name].read_text(encoding="utf-8")

    def stop(self) -> None:
        """SIGTERM to a run still going (the demo then cleans up), SIGKILL if it does not end."""
        for process in self._processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()


@pytest.fixture(scope="session", autouse=True)
def demo_runs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DemoRuns | None]:
    """Starts the demo runs at the first end-to-end test when demo tests are selected (else None). In a
    pytest-xdist worker, whose share of the tests is not known in advance, the demo tests start them
    themselves (`started_demo_runs`): the other worker's tests run meanwhile."""
    if "PYTEST_XDIST_WORKER" in os.environ or not any(
        Path(str(item.path)) == DEMO_TESTS for item in request.session.items
    ):
        yield None
        return
    runs = DemoRuns(tmp_path_factory.mktemp("demo"))
    try:
        yield runs
    finally:
        runs.stop()


@pytest.fixture(scope="module")
def started_demo_runs(
    demo_runs: DemoRuns | None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DemoRuns]:
    """The session's demo runs, or (in a pytest-xdist worker) runs started now, for the demo tests."""
    if demo_runs is not None:
        yield demo_runs
        return
    runs = DemoRuns(tmp_path_factory.mktemp("demo"))
    try:
        yield runs
    finally:
        runs.stop()


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    """A moto server on 127.0.0.1 for the test module; stopped (process group killed) afterwards."""
    with Emulator() as running:
        yield running


@pytest.fixture(scope="module")
def session(emulator: Emulator) -> boto3.session.Session:
    """A boto3 session whose every client talks to the emulator."""
    return emulator.session()


@pytest.fixture(scope="module")
def ec2(session: boto3.session.Session) -> EC2Client:
    return session.client("ec2")


@pytest.fixture(scope="module")
def deployment(emulator: Emulator) -> Iterator[Deployment]:
    """examples/basic applied to the emulator from a temporary copy. Not destroyed at the end: the module's
    emulator, with everything in it, is stopped right after (test_tag_to_isolation's last test destroys,
    and checks what is left). The terraform binary is required: without it the tests fail, they are not
    skipped."""
    try:
        tfcli.terraform_binary()
    except tfcli.TerraformNotFoundError as error:
        pytest.fail(f"{error}. The end-to-end tests need it and are not skipped without it.", pytrace=False)
    with Deployment(emulator, destroy_on_exit=False) as applied:
        applied.apply()
        # what moto would do wrong by itself with the schedules and the reconcile queue's mapping
        deliver.take_over_emulator(emulator.session())
        yield applied


@pytest.fixture(scope="module")
def outputs(deployment: Deployment) -> dict[str, Any]:
    """The example's outputs (the module's outputs)."""
    return dict(deployment.outputs)


# ---- the application an analyst will isolate ---------------------------------------------------------


@dataclass(frozen=True)
class App:
    """A VPC with a subnet and two security groups, an instance profile, and two instances."""

    vpc_id: str
    subnet_id: str
    app_group_id: str
    mgmt_group_id: str
    profile_arn: str
    instance_id: str
    """web-01: two ENIs (device 0 on app, device 1 on mgmt) and the app's instance profile."""
    sibling_id: str
    """worker-01: one ENI on app, no instance profile; never tagged."""


@pytest.fixture(scope="module")
def app(session: boto3.session.Session, ec2: EC2Client, deployment: Deployment) -> App:
    """Given an application running in the account where the module is deployed."""
    vpc_id = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.20.1.0/24")["Subnet"]["SubnetId"]
    app_group = ec2.create_security_group(GroupName="app", Description="web tier", VpcId=vpc_id)["GroupId"]
    mgmt_group = ec2.create_security_group(GroupName="mgmt", Description="management", VpcId=vpc_id)[
        "GroupId"
    ]
    ec2.authorize_security_group_ingress(
        GroupId=app_group,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
        ],
    )
    ec2.authorize_security_group_ingress(
        GroupId=mgmt_group,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}
        ],
    )
    profile_arn = create_instance_profile(session.client("iam"), "web-app")
    instance_id = launch_instance(
        ec2, subnet_id=subnet_id, enis=[[app_group], [mgmt_group]], name="web-01", profile_arn=profile_arn
    )
    sibling_id = launch_instance(ec2, subnet_id=subnet_id, enis=[[app_group]], name="worker-01")
    return App(vpc_id, subnet_id, app_group, mgmt_group, profile_arn, instance_id, sibling_id)


# ---- reading the emulator's state --------------------------------------------------------------------


def eni_groups(ec2: EC2Client, instance_id: str) -> dict[str, list[str]]:
    """Security group ids of each ENI attached to the instance, by ENI id."""
    enis = ec2.describe_network_interfaces(
        Filters=[{"Name": "attachment.instance-id", "Values": [instance_id]}]
    )
    return {
        eni["NetworkInterfaceId"]: sorted(group["GroupId"] for group in eni.get("Groups", []))
        for eni in enis["NetworkInterfaces"]
    }


def enis_on_group(ec2: EC2Client, group_id: str) -> set[str]:
    """The ENIs EC2 reports on ``group_id`` (the group-id filter, which moto implements faithfully)."""
    enis = ec2.describe_network_interfaces(Filters=[{"Name": "group-id", "Values": [group_id]}])
    return {eni["NetworkInterfaceId"] for eni in enis["NetworkInterfaces"]}


def groups_named(ec2: EC2Client, name: str, vpc_id: str) -> list[dict[str, Any]]:
    groups = ec2.describe_security_groups(
        Filters=[{"Name": "group-name", "Values": [name]}, {"Name": "vpc-id", "Values": [vpc_id]}]
    )["SecurityGroups"]
    return [dict(group) for group in groups]


def group_rule_ids(ec2: EC2Client, group_id: str) -> list[str]:
    rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group_id]}])
    return [rule["SecurityGroupRuleId"] for rule in rules["SecurityGroupRules"]]


def associations(ec2: EC2Client, instance_id: str) -> list[tuple[str, str]]:
    """(association id, profile ARN) of the instance's active profile associations. DescribeInstances
    is not used: moto keeps showing the old profile there after a replace."""
    found = ec2.describe_iam_instance_profile_associations(
        Filters=[{"Name": "instance-id", "Values": [instance_id]}]
    )["IamInstanceProfileAssociations"]
    return [
        (association["AssociationId"], association["IamInstanceProfile"]["Arn"])
        for association in found
        if association.get("State") in INSTANCE_PROFILE_ASSOCIATED
    ]


def tags_of(ec2: EC2Client, instance_id: str) -> dict[str, str]:
    described = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [instance_id]}])["Tags"]
    return {tag["Key"]: tag["Value"] for tag in described}
