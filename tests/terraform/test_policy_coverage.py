"""The execution role grants exactly the IAM actions the handler calls: none missing, none unused.

Every containment step declares its actions (``@requires``); every AWS call the unit tests make is
recorded with the step that made it (tests/fixtures/iam_calls.py). This test holds the planned policy
against both, so a new call without a grant, a grant nobody uses, or a step calling beyond what it
declares all fail here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ec2_isolation.steps import STEP_ACTIONS, required_actions
from tests.fixtures.iam_calls import COMPLETE, RECORD_DIR_ENV, RECORD_ENV, SESSION, CallLog
from tests.terraform.plan import MODULE, Plan, as_set, statements_by_sid
from tools.tfcli import REPO_ROOT

pytestmark = [pytest.mark.terraform, pytest.mark.after_unit_tests]

#: statements the handler's code does not call itself: the Lambda runtime writes the logs, the Lambda
#: service sends an invocation that still fails after its retries to the dead-letter queue (on-failure
#: destination), and the reconcile queue's event source mapping receives and deletes its messages, all
#: with the function's role
RUNTIME_STATEMENTS = {
    "Logs": frozenset({"logs:CreateLogStream", "logs:PutLogEvents"}),
    "SendFailedInvocations": frozenset({"sqs:SendMessage"}),
    "PollReconcileQueue": frozenset({"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}),
}
#: actions a service calls with the function's permissions (SNS on a topic, SQS on the dead-letter queue,
#: with a customer managed key; EC2 on the evidence keys, for the copies of the evidence snapshots)
SERVICE_ACTIONS = frozenset(
    {
        "kms:Decrypt",
        "kms:GenerateDataKey",
        "kms:CreateGrant",
        "kms:GenerateDataKeyWithoutPlaintext",
        "kms:ReEncryptFrom",
        "kms:ReEncryptTo",
    }
)


@pytest.fixture(scope="module")
def calls(whole_unit_suite_in_session: bool, tmp_path_factory: pytest.TempPathFactory) -> CallLog:
    """The handler's calls during the whole unit suite: a complete earlier run's (`make test` runs the
    suite in parallel first, each worker writing its part), this session's when it is whole and in one
    process, or else a subprocess run's."""
    directory = os.environ.get(RECORD_DIR_ENV)
    if directory and (Path(directory) / COMPLETE).is_file():
        return CallLog.merge(sorted(Path(directory).glob("*.json")))
    if whole_unit_suite_in_session and "PYTEST_XDIST_WORKER" not in os.environ:
        return SESSION
    record = tmp_path_factory.mktemp("calls") / "calls.json"
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/unit"],
        cwd=REPO_ROOT,
        env={**{k: v for k, v in os.environ.items() if k != RECORD_DIR_ENV}, RECORD_ENV: str(record)},
        check=True,
        capture_output=True,
    )
    return CallLog.load(record)


def granted(plan: Plan, *, runtime: bool = True) -> set[str]:
    """The actions the execution role's policies allow (the Denies only keep iam:PutRolePolicy off its own
    roles and iam:PassRole off the Lambda's role); without ``runtime``, those of the handler's statements
    only (not RUNTIME_STATEMENTS')."""
    statements = list(plan.policy("aws_iam_role_policy.lambda")["Statement"])
    if not runtime:
        statements = [statement for statement in statements if statement.get("Sid") not in RUNTIME_STATEMENTS]
    # With member accounts or an organization, the role's second policy lets it assume their executor role.
    if f"{MODULE}.{ASSUME_EXECUTOR}" in plan.resource_changes:
        statements += plan.policy(ASSUME_EXECUTOR)["Statement"]
    # The evidence snapshots' lock and custody: a managed policy attached to the role.
    if f"{MODULE}.{EVIDENCE_POLICY}" in plan.resource_changes:
        statements += plan.policy(EVIDENCE_POLICY)["Statement"]
    denies = [statement for statement in statements if statement["Effect"] != "Allow"]
    assert all(as_set(statement["Action"]) <= {"iam:PutRolePolicy", "iam:PassRole"} for statement in denies)
    allows = [statement for statement in statements if statement["Effect"] == "Allow"]
    return set().union(*(as_set(statement["Action"]) for statement in allows))


ASSUME_EXECUTOR = "aws_iam_role_policy.assume_executor[0]"
EVIDENCE_POLICY = "aws_iam_policy.evidence[0]"
#: the evidence custody's own actions (a member account's evidence copied into the central account's
#: custody): granted only with evidence_custody, which needs member accounts or an organization
CUSTODY_ACTIONS = frozenset(
    {"ec2:CopySnapshot", "ec2:ModifySnapshotAttribute", "ec2:DeleteSnapshot", "kms:DescribeKey"}
)


#: actions granted only when a switch is off by default (examples/basic) or set otherwise
DEFAULT_OFF = frozenset(
    {
        "ec2:DescribeAddresses",
        "ec2:AssociateAddress",
        "ec2:DisassociateAddress",
        "autoscaling:EnterStandby",
        "autoscaling:ExitStandby",
        "sns:Publish",
        # granted only when member accounts or an organization are configured
        "sts:AssumeRole",
    }
    | CUSTODY_ACTIONS
)
#: the custom plan puts instances in standby instead of detaching them, and serves no member account
CUSTOM_OFF = (
    frozenset({"autoscaling:DetachInstances", "autoscaling:AttachInstances", "sts:AssumeRole"})
    | CUSTODY_ACTIONS
)


def test_no_action_is_a_wildcard(example_plan: Plan, custom_plan: Plan) -> None:
    assert not [action for action in granted(example_plan) | granted(custom_plan) if "*" in action]


def test_every_call_the_handler_makes_is_granted(
    example_plan: Plan, custom_plan: Plan, complete_plan: Plan, calls: CallLog
) -> None:
    """The unit tests run every switch: each call is granted by the plan whose switches allow it
    (examples/complete configures member accounts: the executor role's sts:AssumeRole)."""
    assert calls.actions(), "no call was recorded"
    everything = granted(example_plan) | granted(custom_plan) | granted(complete_plan)
    assert calls.actions() - everything == set()


def test_the_custody_is_granted_only_where_it_is_configured(
    example_plan: Plan, custom_plan: Plan, complete_plan: Plan
) -> None:
    """The evidence custody's actions are the complete plan's (member accounts, evidence_custody), not
    those of the plans without custody, which still lock their evidence."""
    assert granted(example_plan) & CUSTODY_ACTIONS == granted(custom_plan) & CUSTODY_ACTIONS == set()
    assert granted(complete_plan) >= CUSTODY_ACTIONS
    for plan in (example_plan, custom_plan, complete_plan):
        assert {"ec2:LockSnapshot", "ec2:DescribeLockedSnapshots"} <= granted(plan)


def test_the_executor_role_is_assumed_only_where_member_accounts_are_configured(
    example_plan: Plan, complete_plan: Plan
) -> None:
    assert "sts:AssumeRole" not in granted(example_plan)
    assert "sts:AssumeRole" in granted(complete_plan)


def test_the_runtime_statements_grant_only_the_runtimes_actions(
    example_plan: Plan, minimal_plan: Plan
) -> None:
    """Then the statements the handler does not use grant exactly what the runtime and the Lambda service
    use (the reconcile queue's only while a schedule is on: not in the minimal plan)."""
    for plan, sids in (
        (example_plan, set(RUNTIME_STATEMENTS)),
        (minimal_plan, {"Logs", "SendFailedInvocations"}),
    ):
        statements = statements_by_sid(plan.policy("aws_iam_role_policy.lambda"))
        assert {
            sid: as_set(statements[sid]["Action"]) for sid in set(RUNTIME_STATEMENTS) & set(statements)
        } == {sid: set(RUNTIME_STATEMENTS[sid]) for sid in sids}


def test_every_grant_is_used_by_the_handler(example_plan: Plan, custom_plan: Plan, calls: CallLog) -> None:
    granted_actions = granted(example_plan, runtime=False) | granted(custom_plan, runtime=False)
    assert granted_actions - SERVICE_ACTIONS - calls.actions() == set()


def test_the_steps_declare_exactly_what_terraform_grants(example_plan: Plan, custom_plan: Plan) -> None:
    assert granted(example_plan, runtime=False) == required_actions() - DEFAULT_OFF
    assert granted(custom_plan, runtime=False) - SERVICE_ACTIONS == required_actions() - CUSTOM_OFF


def test_switched_off_steps_are_not_granted(minimal_plan: Plan) -> None:
    from ec2_isolation.steps import STEP_ACTIONS

    foundation = {
        "describe_instance",
        "capture_prior_state",
        "begin_isolation",
        "finish_isolation",
        "ensure_isolation_group",
        "move_interfaces",
        "swap_instance_profile",
        "mark_isolated",
        # the release of what those changed, and the dry run, are never switched off
        "read_record",
        "begin_release",
        "finish_release",
        "record_dry_run",
        "restore_security_groups",
        "restore_instance_profile",
        "mark_released",
    }
    assert granted(minimal_plan, runtime=False) == set().union(*(STEP_ACTIONS[step] for step in foundation))


def test_each_step_calls_only_what_it_declares(calls: CallLog) -> None:
    assert "<no step>" not in calls.by_step, f"calls made outside any step: {calls.by_step.get('<no step>')}"
    for step, actions in calls.by_step.items():
        assert actions <= STEP_ACTIONS[step], (
            f"{step} calls {sorted(actions - STEP_ACTIONS[step])} undeclared"
        )


def test_each_step_is_exercised(calls: CallLog) -> None:
    assert set(STEP_ACTIONS) <= set(calls.by_step)


def test_the_record_can_be_made_in_a_subprocess(tmp_path: Path) -> None:
    """The fallback used when this file runs without the unit suite writes a loadable record."""
    log = CallLog({"move_interfaces": {"ec2:ModifyNetworkInterfaceAttribute"}})
    log.dump(tmp_path / "r.json")
    assert CallLog.load(tmp_path / "r.json") == log
