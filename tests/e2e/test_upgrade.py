"""Upgrading a deployment of the current release to this code replaces nothing, on the local emulator.

The release is the code as of `RELEASE_COMMIT`: the commit before modules/isolation-target, whose
resources (the isolation role, its deny-all policy and its instance profile) were the root module's and
modules/member's own. It is taken from git history (`git archive`: CI runs on a full clone) and applied
to a moto server; then this working tree's code is planned over that state, the way a user upgrades.

`terraform show -json` of that plan must have no resource change whose actions include "delete" (a
destroy, or a replacement: delete-then-create or create-then-delete): every resource of the release is
kept, at its address or, moved (`moved` blocks), at its new one. The same plan without the moved blocks
would replace exactly the moved resources (so the check bites on a missing move). The plan is then
applied (the moves happen) and the deployment destroyed with this code. For examples/basic (the central
module) and examples/organization (the central module and modules/member in two accounts and two
regions).
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import subprocess
import tarfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import assert_runs_in_group
from tools import tfcli
from tools.emulator import Deployment, Emulator

pytestmark = [pytest.mark.e2e, pytest.mark.terraform]

#: the current release: the last commit before modules/isolation-target (the code users have deployed)
RELEASE_COMMIT = "7b5be49411cbc26263322bd569e25f7f66c92ec7"

BASIC = Path("examples") / "basic"
ORGANIZATION = Path("examples") / "organization"
#: the organization example's member module instances that create their account's IAM
IAM_MEMBERS = ("workloads_a_primary", "workloads_b_primary")
#: where the release kept the isolation role, policy and profile, and where this code keeps them
RELEASE_ISOLATION_IAM = (
    "aws_iam_role.isolation",
    "aws_iam_role_policy.isolation",
    "aws_iam_instance_profile.isolation",
)
ISOLATION_IAM = "module.isolation_target.module.iam[0]"
#: what this code adds to a deployment of the release, all created by the upgrade: the reconciler
#: (reconcile.tf: both schedule rules, the queue and its mapping, the API-call rule, the drift alarm), the
#: evidence lock's grants (a managed policy and its attachment) and, in the organization layout, each
#: member module's forwarding of the API calls, and the evidence custody (examples/organization turns it
#: on): the central and each member region's key and alias (modules/evidence-key's), the executor roles'
#: evidence grants
RECONCILER = (
    *(
        f'{kind}["{mode}"]'
        for mode in ("sweep", "full")
        for kind in (
            "aws_cloudwatch_event_rule.reconcile",
            "aws_cloudwatch_event_target.reconcile",
            "aws_lambda_permission.reconcile",
        )
    ),
    "aws_sqs_queue.reconcile[0]",
    "aws_lambda_event_source_mapping.reconcile[0]",
    "aws_cloudwatch_event_rule.api_call[0]",
    "aws_cloudwatch_event_target.api_call[0]",
    "aws_lambda_permission.api_call[0]",
    "aws_cloudwatch_metric_alarm.drift_repaired[0]",
)
MEMBER_API_CALL_FORWARDING = (
    "aws_cloudwatch_event_rule.forward_api_calls[0]",
    "aws_cloudwatch_event_target.forward_api_calls[0]",
)
MEMBERS = ("workloads_a_primary", "workloads_a_secondary", "workloads_b_primary", "workloads_b_secondary")
EVIDENCE_LOCK = ("aws_iam_policy.evidence[0]", "aws_iam_role_policy_attachment.evidence[0]")
EVIDENCE_KEY = ("module.evidence_key[0].aws_kms_key.this", "module.evidence_key[0].aws_kms_alias.this")
EXECUTOR_EVIDENCE = (
    "aws_iam_policy.executor_evidence[0]",
    "aws_iam_role_policy_attachment.executor_evidence[0]",
)


def new_resources(configuration: Path) -> set[str]:
    """The addresses this code adds to ``configuration``'s deployment of the release."""
    added = {f"module.ec2_isolation.{address}" for address in (*RECONCILER, *EVIDENCE_LOCK)}
    if configuration == ORGANIZATION:
        added |= {f"module.ec2_isolation.{address}" for address in EVIDENCE_KEY}
        added |= {
            f"module.{member}.{address}"
            for member in MEMBERS
            for address in (*MEMBER_API_CALL_FORWARDING, *EVIDENCE_KEY)
        }
        added |= {f"module.{member}.{address}" for member in IAM_MEMBERS for address in EXECUTOR_EVIDENCE}
    return added


def release_tree(destination: Path) -> Path:
    """The release's files (`git archive RELEASE_COMMIT`) extracted into ``destination``; fails, with what to
    do, when git or the commit is not there (a shallow clone, an exported tarball)."""
    git = shutil.which("git")
    if git is None:
        pytest.fail("the upgrade test needs git, to take the release from history", pytrace=False)
    found = subprocess.run(
        [git, "-C", str(tfcli.REPO_ROOT), "cat-file", "-e", f"{RELEASE_COMMIT}^{{commit}}"],
        capture_output=True,
        check=False,
    )
    if found.returncode != 0:
        pytest.fail(
            f"the release commit {RELEASE_COMMIT} is not in this repository's git history "
            f"({found.stderr.decode(errors='replace').strip() or 'no .git'}): the upgrade test applies that "
            "release and needs a full clone (git fetch --unshallow)",
            pytrace=False,
        )
    archive = subprocess.run(
        [git, "-C", str(tfcli.REPO_ROOT), "archive", "--format=tar", RELEASE_COMMIT],
        capture_output=True,
        check=True,
    )
    destination.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(destination, filter="data")
    return destination


@dataclass(frozen=True)
class Upgrade:
    """The release applied, then this code planned (and applied) over its state."""

    configuration: Path
    release_addresses: list[str]
    plan: dict[str, Any]
    #: the same plan with this code's moved blocks taken out: what the moves spare
    plan_without_moves: dict[str, Any]
    upgraded_addresses: list[str]
    seconds: dict[str, float]

    @property
    def managed_changes(self) -> list[dict[str, Any]]:
        return managed_changes(self.plan)

    def actions(self) -> Counter[str]:
        """How many resource changes of each kind ("no-op", "update", "create", "delete", "replace")."""
        counted: Counter[str] = Counter()
        for change in self.managed_changes:
            actions = change["change"]["actions"]
            counted["replace" if len(actions) == 2 else actions[0]] += 1
        return counted

    def moves(self) -> dict[str, str]:
        """Previous address -> address of the changes the moved blocks made."""
        return {
            change["previous_address"]: change["address"]
            for change in self.managed_changes
            if "previous_address" in change
        }


def managed_changes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [change for change in plan["resource_changes"] if change["mode"] == "managed"]


#: a top-level moved block
MOVED_BLOCK = re.compile(r"^moved \{\n.*?^\}\n", re.MULTILINE | re.DOTALL)


@contextlib.contextmanager
def without_moved_blocks(module: Path) -> Iterator[int]:
    """The module tree's .tf files (the examples' left alone) without their moved blocks, restored on exit;
    yields how many were taken out."""
    originals = {
        path: path.read_text(encoding="utf-8")
        for path in module.rglob("*.tf")
        if "examples" not in path.relative_to(module).parts
    }
    taken = 0
    try:
        for path, text in originals.items():
            stripped, count = MOVED_BLOCK.subn("", text)
            if count:
                path.write_text(stripped, encoding="utf-8")
                taken += count
        yield taken
    finally:
        for path, text in originals.items():
            path.write_text(text, encoding="utf-8")


def upgrade(configuration: Path, directory: Path) -> Upgrade:
    """On an emulator of its own: apply ``configuration`` of the release, plan this code over its state,
    apply that plan. Not destroyed: the emulator, and everything in it, is discarded on the way out (a
    destroy there proves nothing the destroy tests of the end-to-end modules do not, and it can wait on
    the emulator for minutes under load)."""
    release = release_tree(directory / "release")
    seconds: dict[str, float] = {}
    with Emulator() as emulator, Deployment(emulator, configuration, destroy_on_exit=False) as deployment:
        # The deployment's copy is this code, with the emulator's provider override: set it aside, and
        # apply the release from the same directory (so the same state file), with the override written
        # for the release's configuration.
        current = deployment.root / "current"
        deployment.module.rename(current)
        tfcli.copy_module_tree(deployment.module, source=release)
        tfcli.write_provider_override(
            deployment.directory,
            endpoint_url=emulator.url,
            services=tfcli.ENDPOINT_SERVICES,
            region=emulator.region,
        )
        started = time.monotonic()
        deployment.apply()
        seconds["release apply"] = time.monotonic() - started
        release_addresses = deployment.state_addresses()
        state = (deployment.directory / "terraform.tfstate").read_bytes()

        # This code, over the release's state.
        shutil.rmtree(deployment.module)
        current.rename(deployment.module)
        (deployment.directory / "terraform.tfstate").write_bytes(state)
        started = time.monotonic()
        deployment.terraform("init", "-backend=false", "-input=false")
        deployment.terraform("plan", "-input=false", "-lock=false", "-out=upgrade.tfplan")
        plan = json.loads(deployment.terraform("show", "-json", "upgrade.tfplan").stdout)
        seconds["upgrade plan"] = time.monotonic() - started
        with without_moved_blocks(deployment.module) as taken:
            assert taken >= 3, f"only {taken} moved blocks found in {deployment.module}"
            # over the state the first plan has just refreshed, which nothing has changed since
            deployment.terraform(
                "plan", "-input=false", "-lock=false", "-refresh=false", "-out=unmoved.tfplan"
            )
            unmoved = json.loads(deployment.terraform("show", "-json", "unmoved.tfplan").stdout)
        started = time.monotonic()
        deployment.terraform("apply", "-input=false", "-lock=false", "upgrade.tfplan")
        seconds["upgrade apply"] = time.monotonic() - started
        upgraded_addresses = deployment.state_addresses()
    return Upgrade(configuration, release_addresses, plan, unmoved, upgraded_addresses, seconds)


@pytest.fixture(scope="module")
def upgrades(tmp_path_factory: pytest.TempPathFactory) -> dict[Path, Upgrade]:
    """The upgrade of each configuration, made once for the module, when a test first asks for it: the
    tests' order may alternate between the configurations (pytest-xdist keeps the collection order), and
    a parametrized module fixture would then apply each one again."""
    try:
        tfcli.terraform_binary()
    except tfcli.TerraformNotFoundError as error:
        pytest.fail(f"{error}. The end-to-end tests need it and are not skipped without it.", pytrace=False)
    return {}


@pytest.fixture(params=[BASIC, ORGANIZATION], ids=["basic", "organization"])
def upgraded(
    request: pytest.FixtureRequest, upgrades: dict[Path, Upgrade], tmp_path_factory: pytest.TempPathFactory
) -> Upgrade:
    configuration: Path = request.param
    if configuration in upgrades:
        return upgrades[configuration]
    result = upgrade(configuration, tmp_path_factory.mktemp(f"upgrade-{configuration.name}"))
    # What the upgrade did, for the record (pytest -s, or -rA)
    changed = [c["address"] for c in result.managed_changes if c["change"]["actions"] != ["no-op"]]
    seconds = {step: round(took) for step, took in result.seconds.items()}
    print(f"\n{configuration}: {dict(sorted(result.actions().items()))}, {len(result.moves())} moved")
    print(f"  changed: {changed}\n  seconds: {seconds}")
    upgrades[configuration] = result
    return result


def is_data_source(address: str) -> bool:
    """Whether a state address (``module.x.data.aws_partition.current``) is a data source's."""
    return address.startswith("data.") or ".data." in address


def test_the_upgrade_destroys_and_replaces_nothing(upgraded: Upgrade) -> None:
    """Then no resource change of the plan deletes (no destroy, no replacement), and every resource the
    release created is in the plan, at its address or moved from it."""
    deleting = {
        change["address"]: change["change"]["actions"]
        for change in upgraded.managed_changes
        if "delete" in change["change"]["actions"]
    }
    assert deleting == {}
    assert upgraded.actions()["delete"] == upgraded.actions()["replace"] == 0

    kept = {change.get("previous_address", change["address"]) for change in upgraded.managed_changes}
    managed = {address for address in upgraded.release_addresses if not is_data_source(address)}
    assert managed, upgraded.release_addresses
    assert managed - kept == set()


def test_the_upgrade_creates_only_what_this_code_adds(upgraded: Upgrade) -> None:
    """Then the upgrade creates the resources this code adds (the reconciler's) and nothing else: every
    other resource of the release is kept as it is, moved, or updated in place."""
    created = {
        change["address"] for change in upgraded.managed_changes if change["change"]["actions"] == ["create"]
    }

    assert created == new_resources(upgraded.configuration)
    assert upgraded.actions()["create"] == len(new_resources(upgraded.configuration))


def test_the_isolation_iam_moves_into_the_one_definition(upgraded: Upgrade) -> None:
    """Then the isolation role, policy and profile (the central module's, and each member account's) are
    moved, not re-created: each to modules/isolation-target's iam module, with nothing else moved."""
    central = {
        f"module.ec2_isolation.{address}": f"module.ec2_isolation.{ISOLATION_IAM}.{address}"
        for address in RELEASE_ISOLATION_IAM
    }
    members = {
        f"module.{member}.{address}[0]": f"module.{member}.{ISOLATION_IAM}.{address}"
        for member in IAM_MEMBERS
        for address in RELEASE_ISOLATION_IAM
    }

    assert upgraded.moves() == (central | members if upgraded.configuration == ORGANIZATION else central)


def test_the_upgraded_state_holds_the_new_addresses(upgraded: Upgrade) -> None:
    """Then, applied, the state has the moved resources at their new addresses and none at the old ones."""
    state = set(upgraded.upgraded_addresses)
    assert set(upgraded.moves().values()) <= state
    assert set(upgraded.moves()) & state == set()


def test_without_the_moved_blocks_the_same_plan_would_replace_them(upgraded: Upgrade) -> None:
    """Given the same code without its moved blocks, then the plan would destroy every resource the
    moves keep and create it again at its new address (besides what this code adds, created either way):
    the first test bites on a missing move."""
    changes = managed_changes(upgraded.plan_without_moves)
    deleted = {change["address"] for change in changes if change["change"]["actions"] == ["delete"]}
    created = {change["address"] for change in changes if change["change"]["actions"] == ["create"]}

    assert upgraded.moves()
    assert deleted == set(upgraded.moves())
    assert created == set(upgraded.moves().values()) | new_resources(upgraded.configuration)


def test_each_configurations_upgrade_is_a_group_of_its_own(
    request: pytest.FixtureRequest, upgraded: Upgrade
) -> None:
    """Then (under pytest-xdist's ``--dist loadgroup``) the tests of each configuration's upgrade run in a
    group named after it, so that the two upgrades, each on an emulator of its own, may run at once."""
    assert_runs_in_group(request, f"e2e-test_upgrade-{upgraded.configuration.name}")
