"""The organization layout (examples/organization): a central deployment in the security account and
modules/member in two member accounts x two regions, planned once, offline, on the terraform binary.

Offline, the default provider is the STS stub's fake account (the security account), and each member
provider assumes its account's deployment role on the stub, which hands out credentials of that
account: the member resources' own ARNs carry the member account's ID, as in a real deployment.
"""

from __future__ import annotations

import json
import posixpath
from pathlib import Path
from typing import Any

import pytest

from tests.terraform.plan import Plan, as_set, statements_by_sid
from tools import tfcli

pytestmark = pytest.mark.terraform

EXAMPLE = Path("examples") / "organization"
ACCOUNT = tfcli.FAKE_ACCOUNT_ID
MEMBER_ACCOUNTS = {"111111111111", "222222222222"}
ORGANIZATION = "o-a1b2c3d4e5"
EXTERNAL_ID = "ec2-isolation-example"
CENTRAL_BUS = f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/default"
CENTRAL_ROLE = f"arn:aws:iam::{ACCOUNT}:role/ec2-isolation-lambda"
ACCOUNT_A, ACCOUNT_B = "111111111111", "222222222222"
MEMBERS = {
    # module name: (account, region, creates the account's IAM)
    "workloads_a_primary": (ACCOUNT_A, "us-east-1", True),
    "workloads_a_secondary": (ACCOUNT_A, "eu-west-1", False),
    "workloads_b_primary": (ACCOUNT_B, "us-east-1", True),
    "workloads_b_secondary": (ACCOUNT_B, "eu-west-1", False),
}
#: the module instances that create their account's IAM, and the account
IAM_MEMBERS = {"workloads_a_primary": ACCOUNT_A, "workloads_b_primary": ACCOUNT_B}
#: the isolation role, its deny-all policy and its instance profile: modules/isolation-target's, in the
#: central module and in each member module that creates its account's IAM
ISOLATION_IAM = "module.isolation_target.module.iam[0]"
ISOLATION_POLICY = f"{ISOLATION_IAM}.aws_iam_role_policy.isolation"
ISOLATION_PROFILE = f"{ISOLATION_IAM}.aws_iam_instance_profile.isolation"
#: the one definitions: the directories both modules call (relative to the repository)
ISOLATION_TARGET = "modules/isolation-target"
EVIDENCE_KEY = "modules/evidence-key"
MEMBER_IAM = {
    "aws_iam_role.executor[0]",
    "aws_iam_role_policy.executor[0]",
    # the evidence snapshots' lock and custody statements (modules/isolation-target's evidence.tf)
    "aws_iam_policy.executor_evidence[0]",
    "aws_iam_role_policy_attachment.executor_evidence[0]",
    "aws_iam_role.forwarder[0]",
    "aws_iam_role_policy.forwarder[0]",
    f"{ISOLATION_IAM}.aws_iam_role.isolation",
    ISOLATION_POLICY,
    ISOLATION_PROFILE,
}
MEMBER_REGIONAL = {
    "aws_cloudwatch_event_rule.forward",
    "aws_cloudwatch_event_target.forward",
    "aws_sqs_queue.dead_letter",
    # the API calls for the central reconciler (forward_api_calls, on by default)
    "aws_cloudwatch_event_rule.forward_api_calls[0]",
    "aws_cloudwatch_event_target.forward_api_calls[0]",
    # the region's evidence key (evidence_custody, on in the example): modules/evidence-key's
    "module.evidence_key[0].aws_kms_key.this",
    "module.evidence_key[0].aws_kms_alias.this",
}
#: statements of the central function's policy that stay with it: the executor does not need them
CENTRAL_ONLY_ACTIONS = {
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "sqs:SendMessage",
    "events:PutEvents",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    # the reconciler's sweeps: the record table and the reconcile queue, in the security account
    "dynamodb:Scan",
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
}


@pytest.fixture(scope="module")
def org_plan(organization_plan: Plan) -> Plan:
    """The offline plan of examples/organization (the session's: see conftest)."""
    return organization_plan


def after(plan: Plan, module: str, address: str) -> dict[str, Any]:
    full = f"module.{module}.{address}"
    changes = plan.resource_changes
    assert full in changes, f"{full} is not planned; planned: {sorted(changes)}"
    value: dict[str, Any] = changes[full]["change"]["after"]
    return value


def policy(plan: Plan, module: str, address: str, attribute: str = "policy") -> dict[str, Any]:
    document: dict[str, Any] = json.loads(after(plan, module, address)[attribute])
    return document


def module_configuration(plan: Plan, module: str) -> dict[str, Any]:
    """The configuration of the example's module call ``module``."""
    calls: dict[str, Any] = plan.data["configuration"]["root_module"]["module_calls"]
    configuration: dict[str, Any] = calls[module]["module"]
    return configuration


def expression(plan: Plan, module: str, address: str, attribute: str) -> dict[str, Any]:
    """The configured expression of ``attribute`` of resource (or data source) ``address`` of ``module``."""
    resources = {
        resource["address"]: resource for resource in module_configuration(plan, module)["resources"]
    }
    assert address in resources, f"{address} is not in {module}: {sorted(resources)}"
    value: dict[str, Any] = resources[address]["expressions"][attribute]
    return value


def module_source(plan: Plan, module: str, call: str = "isolation_target") -> str:
    """The directory ``module`` calls as ``call``, relative to the repository."""
    source: str = module_configuration(plan, module)["module_calls"][call]["source"]
    caller = "." if module == "ec2_isolation" else "modules/member"
    return posixpath.normpath(posixpath.join(caller, source))


def actions(document: dict[str, Any], effect: str = "Allow") -> set[str]:
    return {
        action
        for statement in document["Statement"]
        if statement["Effect"] == effect
        for action in as_set(statement["Action"])
    }


def test_plan_is_offline_and_complete(org_plan: Plan) -> None:
    """Given five providers (one per account and region, aliased), when planned offline, then the plan is
    complete and the only API calls were to the STS stub: GetCallerIdentity, and AssumeRole of each
    member account's deployment role (and of no other role)."""
    assert org_plan.data["complete"] is True
    assert set(org_plan.sts_actions) == {"GetCallerIdentity", "AssumeRole"}
    assert set(org_plan.assumed_roles) == {
        f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole" for account in MEMBER_ACCOUNTS
    }


def test_member_resources_are_in_their_own_account_and_region(org_plan: Plan) -> None:
    """Then each member module instance's resources are named in its account and region (the provider's
    assumed role), never in the security account."""
    for module, (account, region, creates_iam) in MEMBERS.items():
        rule = after(org_plan, module, "aws_cloudwatch_event_rule.forward")
        target = after(org_plan, module, "aws_cloudwatch_event_target.forward")
        assert target["role_arn"] == f"arn:aws:iam::{account}:role/ec2-isolation-forwarder"
        (statement,) = json.loads(after(org_plan, module, "aws_sqs_queue.dead_letter")["policy"])["Statement"]
        assert statement["Resource"] == f"arn:aws:sqs:{region}:{account}:ec2-isolation-forward-dead-letters"
        assert rule["name"] == "ec2-isolation-forward-isolation-tag"
        if creates_iam:
            (trust,) = policy(org_plan, module, "aws_iam_role.forwarder[0]", "assume_role_policy")[
                "Statement"
            ]
            assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": account}


def test_iam_is_created_once_per_account(org_plan: Plan) -> None:
    """Given create_iam in one region per account, then each member instance plans its regional
    resources, and only the create_iam ones the account's IAM."""
    changes = set(org_plan.resource_changes)
    for module, (_, _, creates_iam) in MEMBERS.items():
        planned = {
            address.removeprefix(f"module.{module}.")
            for address in changes
            if address.startswith(f"module.{module}.")
        }
        assert planned == MEMBER_REGIONAL | (MEMBER_IAM if creates_iam else set()), module


def test_both_modules_call_the_one_isolation_target_definition(org_plan: Plan) -> None:
    """Then the central module and every member module call the same module, modules/isolation-target,
    for what both need: no copy of it is left in either."""
    for module in ("ec2_isolation", *MEMBERS):
        assert module_source(org_plan, module) == ISOLATION_TARGET, module


def test_both_modules_create_their_evidence_keys_from_the_one_definition(org_plan: Plan) -> None:
    """Then the central key of the copies in custody and every member region's key of the intermediate
    copies are the same module's, modules/evidence-key: its key, alias and key policy, and no KMS resource
    of either module's own."""
    for module in ("ec2_isolation", *MEMBERS):
        assert module_source(org_plan, module, "evidence_key") == EVIDENCE_KEY, module
        configuration = module_configuration(org_plan, module)
        assert not [r["address"] for r in configuration["resources"] if r["type"].startswith("aws_kms")], (
            module
        )
        assert module_configuration(org_plan, module)["module_calls"]["evidence_key"]["count_expression"][
            "references"
        ] == ["var.evidence_custody"], module
    planned = {address for address in org_plan.resource_changes if ".aws_kms_" in address}
    assert planned == {
        f"module.{module}.module.evidence_key[0].{resource}"
        for module in ("ec2_isolation", *MEMBERS)
        for resource in ("aws_kms_key.this", "aws_kms_alias.this")
    }


def test_member_rules_match_exactly_what_the_central_rule_matches(org_plan: Plan) -> None:
    """Then every forwarding rule's pattern is the central rule's pattern: both rules take the one
    definition's event_pattern output."""
    central = json.loads(after(org_plan, "ec2_isolation", "aws_cloudwatch_event_rule.this")["event_pattern"])
    assert central["detail"]["tags"] == {"SecurityIsolation": ["Isolate", "Release"]}
    rules = {"ec2_isolation": "aws_cloudwatch_event_rule.this"} | dict.fromkeys(
        MEMBERS, "aws_cloudwatch_event_rule.forward"
    )
    for module, rule in rules.items():
        references = expression(org_plan, module, rule, "event_pattern")["references"]
        assert "module.isolation_target.event_pattern" in references, (module, references)
    for module in MEMBERS:
        assert (
            json.loads(after(org_plan, module, "aws_cloudwatch_event_rule.forward")["event_pattern"])
            == central
        )


def test_targets_forward_to_the_central_bus_with_a_put_events_only_role(org_plan: Plan) -> None:
    """Then each target is the central bus, with the forwarding role, retries and a dead-letter queue;
    the role may only PutEvents on that bus and only EventBridge (this account's rule) assumes it."""
    for module, (account, region, _) in MEMBERS.items():
        target = after(org_plan, module, "aws_cloudwatch_event_target.forward")
        assert target["arn"] == CENTRAL_BUS
        assert target["role_arn"] == f"arn:aws:iam::{account}:role/ec2-isolation-forwarder"
        assert target["retry_policy"] == [
            {"maximum_retry_attempts": 185, "maximum_event_age_in_seconds": 86400}
        ]
        queue = after(org_plan, module, "aws_sqs_queue.dead_letter")
        assert queue["sqs_managed_sse_enabled"] is True
        (statement,) = json.loads(queue["policy"])["Statement"]
        # and the API-call forwarding rule's (forward_api_calls)
        rules = f"arn:aws:events:{region}:{account}:rule/ec2-isolation-forward-"
        assert statement["Condition"] == {
            "ArnEquals": {"aws:SourceArn": [f"{rules}isolation-tag", f"{rules}api-calls"]}
        }
    for module, account in IAM_MEMBERS.items():
        (grant,) = policy(org_plan, module, "aws_iam_role_policy.forwarder[0]")["Statement"]
        assert (grant["Effect"], grant["Action"], grant["Resource"]) == (
            "Allow",
            "events:PutEvents",
            CENTRAL_BUS,
        )
        (trust,) = policy(org_plan, module, "aws_iam_role.forwarder[0]", "assume_role_policy")["Statement"]
        assert trust["Principal"] == {"Service": "events.amazonaws.com"}
        assert set(trust["Condition"]) == {"StringEquals", "ArnLike"}
        assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": account}


def test_executor_trusts_only_the_central_function_role(org_plan: Plan) -> None:
    """Then the executor role's trust names exactly the central function's role, with the external id
    and the organization as conditions."""
    for module in IAM_MEMBERS:
        (trust,) = policy(org_plan, module, "aws_iam_role.executor[0]", "assume_role_policy")["Statement"]
        assert trust["Effect"] == "Allow"
        assert trust["Action"] == "sts:AssumeRole"
        assert trust["Principal"] == {"AWS": CENTRAL_ROLE}
        assert trust["Condition"] == {
            "StringEquals": {"sts:ExternalId": EXTERNAL_ID, "aws:PrincipalOrgID": ORGANIZATION}
        }
        assert after(org_plan, module, "aws_iam_role.executor[0]")["name"] == "ec2-isolation-executor"


def test_executor_gets_the_central_functions_isolation_actions(org_plan: Plan) -> None:
    """Then the executor may do what the central function's isolation steps do, and nothing else: the
    same allowed and denied actions, minus the central-only ones (logs, queue, bus, record table), and
    the same statements by Sid: both policies take them from the one definition's step_policy_json."""
    central_sources = expression(
        org_plan, "ec2_isolation", "data.aws_iam_policy_document.lambda", "source_policy_documents"
    )["references"]
    assert "module.isolation_target.step_policy_json" in central_sources
    for module in IAM_MEMBERS:
        references = expression(org_plan, module, "aws_iam_role_policy.executor", "policy")["references"]
        assert "module.isolation_target.step_policy_json" in references, (module, references)
    central = policy(org_plan, "ec2_isolation", "aws_iam_role_policy.lambda")
    central_sids = {
        sid
        for sid, statement in statements_by_sid(central).items()
        if not as_set(statement["Action"]) <= CENTRAL_ONLY_ACTIONS
    }
    for module, account in IAM_MEMBERS.items():
        executor = policy(org_plan, module, "aws_iam_role_policy.executor[0]")
        assert actions(executor) == actions(central) - CENTRAL_ONLY_ACTIONS
        assert actions(executor, "Deny") == actions(central, "Deny")
        assert set(statements_by_sid(executor)) == central_sids
        assert actions(executor) & CENTRAL_ONLY_ACTIONS == set()
        # the executor acts in this account and the example's two regions only
        moves = statements_by_sid(executor)["MoveEnis"]
        assert {arn.split(":")[3] for arn in as_set(moves["Resource"])} == {"us-east-1", "eu-west-1"}
        assert {arn.split(":")[4] for arn in as_set(moves["Resource"])} == {account}
        # DescribeInstanceAttribute acts on instances: the member's, in its regions, never "*"
        (protect,) = [
            statement
            for statement in executor["Statement"]
            if "ec2:DescribeInstanceAttribute" in as_set(statement["Action"])
        ]
        assert as_set(protect["Resource"]) == {
            f"arn:aws:ec2:{region}:{account}:instance/*" for region in ("us-east-1", "eu-west-1")
        }


def test_isolation_profile_follows_the_naming_convention(org_plan: Plan) -> None:
    """Then each account's isolation profile is the one definition's (the same address in the central
    module and in the member modules), with the central one's name and path, around a deny-all role."""
    central = after(org_plan, "ec2_isolation", ISOLATION_PROFILE)
    (central_deny,) = policy(org_plan, "ec2_isolation", ISOLATION_POLICY)["Statement"]
    for module, account in IAM_MEMBERS.items():
        profile = after(org_plan, module, ISOLATION_PROFILE)
        assert (
            (profile["name"], profile["path"])
            == (central["name"], central["path"])
            == ("ec2-isolation-isolation", "/")
        )
        (deny,) = policy(org_plan, module, ISOLATION_POLICY)["Statement"]
        assert (deny["Effect"], deny["Action"], deny["Resource"]) == ("Deny", "*", "*")
        assert deny == central_deny
        # the member module's output is the profile's ARN by the convention the function follows
        assert (
            org_plan.data["output_changes"]["isolation_instance_profile_arns"]["after"][
                module.removesuffix("_primary")
            ]
            == f"arn:aws:iam::{account}:instance-profile/ec2-isolation-isolation"
        )


def test_bus_policy_accepts_only_the_member_accounts_of_the_organization(org_plan: Plan) -> None:
    """Then the default bus accepts the tag events of the listed accounts, in the organization, and
    nothing else."""
    bus = after(org_plan, "ec2_isolation", "aws_cloudwatch_event_bus_policy.organization[0]")
    assert bus["event_bus_name"] == "default"
    # the second statement accepts the API calls the reconciler acts on (test_reconcile_plan.py)
    statement = statements_by_sid(json.loads(bus["policy"]))["MemberAccountsForwardIsolationTagEvents"]
    assert statement["Action"] == "events:PutEvents"
    assert statement["Resource"] == CENTRAL_BUS
    assert as_set(statement["Principal"]["AWS"]) == {
        f"arn:aws:iam::{account}:root" for account in MEMBER_ACCOUNTS
    }
    assert statement["Condition"] == {
        "StringEquals": {
            "aws:PrincipalOrgID": ORGANIZATION,
            "events:source": "aws.tag",
            "events:detail-type": "Tag Change on Resource",
        }
    }


def test_function_may_assume_only_member_executor_roles(
    org_plan: Plan, organization_plan_without_custody: Plan
) -> None:
    """Then the function may assume the executor role by name, in the member accounts of the organization
    only, and its environment names them for the handler (read without the evidence custody, whose key's
    ARN makes the environment known after apply only)."""
    (statement,) = policy(org_plan, "ec2_isolation", "aws_iam_role_policy.assume_executor[0]")["Statement"]
    assert (statement["Effect"], statement["Action"]) == ("Allow", "sts:AssumeRole")
    assert statement["Resource"] == "arn:aws:iam::*:role/ec2-isolation-executor"
    condition = statement["Condition"]["StringEquals"]
    assert as_set(condition["aws:ResourceAccount"]) == MEMBER_ACCOUNTS
    assert condition["aws:ResourceOrgID"] == ORGANIZATION
    central = policy(org_plan, "ec2_isolation", "aws_iam_role_policy.lambda")
    assert "sts:AssumeRole" not in actions(central)
    (environment,) = after(organization_plan_without_custody, "ec2_isolation", "aws_lambda_function.this")[
        "environment"
    ]
    variables = environment["variables"]
    assert set(variables["MEMBER_ACCOUNT_IDS"].split(",")) == MEMBER_ACCOUNTS
    assert variables["ORGANIZATION_ID"] == ORGANIZATION
    assert variables["EXECUTOR_ROLE_NAME"] == "/ec2-isolation-executor"
    assert variables["EXECUTOR_EXTERNAL_ID"] == EXTERNAL_ID


def test_single_account_deployment_creates_nothing_of_the_organization(example_plan: Plan) -> None:
    """Given no organization input (examples/basic), then no bus policy and no assume grant is planned."""
    assert not any(
        "event_bus_policy" in address or "assume_executor" in address
        for address in example_plan.resource_changes
    )
