"""The responder CLI as a responder gets it: ``pip install .`` into a fresh virtualenv gives the console
script ``ec2-isolation``, which runs against a local AWS emulator (a moto server on 127.0.0.1): list,
status, and isolate --wait while the Lambda's handler acts on the tag change."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ec2_isolation import __version__
from ec2_isolation.clients import AwsClients
from ec2_isolation.config import Settings
from ec2_isolation.events import FunctionIdentity
from ec2_isolation.handler import handle
from tests.fixtures.events import tag_change_event
from tools.emulator import Emulator
from tools.fleet import create_instance_profile, launch_instance

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
TABLE = "ec2-isolation-records"
#: what `pip install` needs of the repository (a clone has more; these are the files the build reads)
SOURCES = ("pyproject.toml", "README.md", "lambda/ec2_isolation")


@pytest.fixture(scope="module")
def script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``pip install <copy of the repository>`` into a fresh virtualenv: the installed ``ec2-isolation``."""
    base = tmp_path_factory.mktemp("console-script")
    source = base / "src"
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            str(source),
        ],
        check=True,
    )
    return venv / "bin" / "ec2-isolation"


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator() as running:
        yield running


def run(
    script: Path, emulator: Emulator, *argv: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(script), *argv],
        env=environment(emulator),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def environment(emulator: Emulator) -> dict[str, str]:
    """The responder's shell: PATH and the like, the emulator's endpoint and fake credentials, and the
    module output responder_cli_environment's variables."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "EC2_ISOLATION_", "PYTHON"))}
    return {
        **keep,
        **emulator.environment(),
        "EC2_ISOLATION_RECORD_TABLE": TABLE,
        "EC2_ISOLATION_RECORD_TABLE_REGION": emulator.region,
    }


def test_pip_install_gives_the_console_script_with_boto3_its_only_dependency(script: Path) -> None:
    # Given the command installed by pip into a fresh virtualenv
    python = script.parent / "python"
    # Then it runs from PATH of the virtualenv, knows its version and its commands
    version = subprocess.run([str(script), "--version"], capture_output=True, text=True, check=True)
    assert version.stdout == f"ec2-isolation {__version__}\n"
    usage = subprocess.run([str(script), "--help"], capture_output=True, text=True, check=True)
    assert usage.stdout.startswith("usage: ec2-isolation")
    for word in ("isolate", "release", "status", "list", "--profile", "--region", "--json"):
        assert word in usage.stdout
    wait = subprocess.run([str(script), "isolate", "--help"], capture_output=True, text=True, check=True)
    assert "--wait" in wait.stdout and "--timeout" in wait.stdout
    # and the distribution requires boto3 and nothing else (the Lambda runtime brings boto3 itself); the
    # pinned tools are extras, for developers (`pip install .[dev]`), not installed
    requires = subprocess.run(
        [
            str(python),
            "-c",
            "import importlib.metadata as m; print('\\n'.join(m.requires('terraform-aws-ec2-isolation')))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert [r for r in requires.stdout.splitlines() if "extra ==" not in r] == ["boto3>=1.34.145"]
    installed = subprocess.run(
        [str(python), "-m", "pip", "list", "--format=json", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        check=True,
    )
    names = {package["name"].lower() for package in json.loads(installed.stdout)}
    assert {"boto3", "botocore", "terraform-aws-ec2-isolation"} <= names
    assert not names & {"moto", "pytest", "mypy", "ruff", "checkov"}
    # and python -m runs the same CLI
    module = subprocess.run(
        [str(python), "-m", "ec2_isolation", "--version"], capture_output=True, text=True, check=True
    )
    assert module.stdout == f"python -m ec2_isolation {__version__}\n"


class Account:
    """The emulator's account as the module leaves it: the record table and the isolation profile; and an
    application instance of a VPC."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.session = emulator.session()
        self.ec2 = self.session.client("ec2")
        dynamodb = self.session.client("dynamodb")
        dynamodb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "instance_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "instance_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        self.profile_arn = create_instance_profile(self.session.client("iam"), "ec2-isolation-isolation")
        vpc = self.ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
        self.subnet = self.ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
        self.group = self.ec2.create_security_group(GroupName="app", Description="app", VpcId=vpc)["GroupId"]
        self.region = emulator.region
        self.account = emulator.account_id

    def launch(self) -> str:
        return launch_instance(self.ec2, subnet_id=self.subnet, enis=[[self.group]], tags={"Name": "web-01"})

    def tags(self, instance_id: str) -> dict[str, str]:
        instance = self.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
        return {t["Key"]: t["Value"] for t in instance.get("Tags", [])}

    def deliver_when_tagged(self, instance_id: str, value: str, deadline: float = 60) -> threading.Thread:
        """EventBridge and the function, in the background: once the instance carries the tag, its tag
        change runs the handler (in this process, its clients on the emulator)."""
        settings = Settings(
            isolation_tag_key="SecurityIsolation",
            isolation_tag_value="Isolate",
            status_tag_prefix="SecurityIsolation:",
            isolation_security_group_name="ec2-isolation-isolation",
            isolation_instance_profile_arn=self.profile_arn,
            managed_tag_key="SecurityIsolation:ManagedBy",
            managed_tag_value="ec2-isolation",
            record_table_name=TABLE,
        )
        function = FunctionIdentity.from_function_arn(
            f"arn:aws:lambda:{self.region}:{self.account}:function:ec2-isolation"
        )

        def deliver() -> None:
            end = time.monotonic() + deadline
            while time.monotonic() < end and self.tags(instance_id).get("SecurityIsolation") != value:
                time.sleep(0.2)
            event = tag_change_event(
                [instance_id], tags=self.tags(instance_id), region=self.region, account=self.account
            )
            handle(
                event,
                settings=settings,
                clients=AwsClients(self.emulator.session()),  # a session of its own: another thread
                function=function,
                now=lambda: datetime.now(tz=UTC),
                sleep=lambda _seconds: None,
            )

        thread = threading.Thread(target=deliver, daemon=True)
        thread.start()
        return thread


@pytest.fixture(scope="module")
def account(emulator: Emulator) -> Account:
    return Account(emulator)


def test_the_installed_command_isolates_watches_and_lists(
    script: Path, emulator: Emulator, account: Account
) -> None:
    # Given an instance, and a deployment whose table has no record yet
    instance_id = account.launch()
    empty = run(script, emulator, "list")
    assert (empty.returncode, empty.stdout) == (0, f"no isolation records in table {TABLE} match\n"), (
        empty.stderr
    )
    # When a responder isolates it and waits, and the tag change reaches the Lambda meanwhile
    lambda_ = account.deliver_when_tagged(instance_id, "Isolate")
    isolate = run(script, emulator, "isolate", instance_id, "--wait", "--timeout", "60")
    lambda_.join(timeout=60)
    # Then the command exits 0 once the record says isolated, with a line per step, in plain lines
    assert isolate.returncode == 0, isolate.stdout + isolate.stderr
    lines = isolate.stdout.splitlines()
    assert lines[0].startswith(f"set tag SecurityIsolation=Isolate on {instance_id}")
    assert any(line.startswith("  step ") for line in lines), lines
    assert lines[-1].startswith(f"isolated {instance_id} in ")
    assert "\r" not in isolate.stdout, "no spinner without a TTY"
    # and the instance is isolated, in the emulator
    assert account.tags(instance_id)["SecurityIsolation:Status"] == "Isolated"
    # and status and list show it
    status = run(script, emulator, "status", instance_id)
    assert status.returncode == 0, status.stderr
    assert "record   status isolated" in status.stdout
    listed = run(script, emulator, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    [entry] = json.loads(listed.stdout)["records"]
    assert (entry["instance_id"], entry["status"], entry["account"]) == (
        instance_id,
        "isolated",
        account.account,
    )


def test_a_wait_that_no_lambda_answers_times_out_with_exit_3(
    script: Path, emulator: Emulator, account: Account
) -> None:
    # Given an instance whose tag change no function acts on
    instance_id = account.launch()
    # When the responder isolates it and waits two seconds
    isolate = run(script, emulator, "isolate", instance_id, "--wait", "--timeout", "2")
    # Then the wait gives up with exit 3 and says what is known; the tag stays set
    assert isolate.returncode == 3, isolate.stdout + isolate.stderr
    assert "the Lambda has not taken the record" in isolate.stdout.splitlines()[-1]
    assert account.tags(instance_id)["SecurityIsolation"] == "Isolate"


def test_errors_are_one_line_without_a_traceback(script: Path, emulator: Emulator) -> None:
    missing = run(script, emulator, "status", "i-0123456789abcdef0", "--table", "no-such-table")
    assert missing.returncode == 1
    assert missing.stderr.startswith("error: dynamodb:GetItem: the record table does not exist")
    assert len(missing.stderr.splitlines()) == 1 and "Traceback" not in missing.stderr
    usage = run(script, emulator, "isolate", "web-01")
    assert (usage.returncode, usage.stderr.splitlines()[-1][:31]) == (2, "error: malformed instance id 'w")
