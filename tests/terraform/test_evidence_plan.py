"""The evidence snapshots' lock and custody, as planned (evidence.tf, modules/isolation-target's
evidence.tf, modules/member's evidence.tf): the lock's grants and settings by default, nothing of it
without a lock mode or snapshots, the custody's keys and grants in the organization layout, and what
no policy of any plan ever grants (ec2:UnlockSnapshot), or grants only under conditions (the deletion of
intermediate copies, the share with the central account).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.terraform.conftest import plan_on_the_binary
from tests.terraform.plan import Plan, as_set, statements_by_sid
from tools import tfcli
from tools.iam_reference import Kind, PolicyDocument, ServiceReference, grants, plan_documents

pytestmark = pytest.mark.terraform

CENTRAL = tfcli.FAKE_ACCOUNT_ID
REGION = "us-east-1"
MEMBER_REGIONS = ("us-east-1", "eu-west-1")
ACCOUNT_A, ACCOUNT_B = "111111111111", "222222222222"
ORGANIZATION = "o-a1b2c3d4e5"
CENTRAL_ROLE = f"arn:aws:iam::{CENTRAL}:role/ec2-isolation-lambda"
ALIAS = "alias/ec2-isolation-evidence"
#: examples/organization's member module instances: account, region, creates the account's IAM
MEMBERS = {
    "workloads_a_primary": (ACCOUNT_A, "us-east-1", True),
    "workloads_a_secondary": (ACCOUNT_A, "eu-west-1", False),
    "workloads_b_primary": (ACCOUNT_B, "us-east-1", True),
    "workloads_b_secondary": (ACCOUNT_B, "eu-west-1", False),
}
EVIDENCE_POLICY = "module.ec2_isolation.aws_iam_policy.evidence[0]"
#: an evidence key, its alias: modules/evidence-key's, called as evidence_key by the central module and
#: by modules/member
KEY, KEY_ALIAS = "module.evidence_key[0].aws_kms_key.this", "module.evidence_key[0].aws_kms_alias.this"
CENTRAL_KEY = f"module.ec2_isolation.{KEY}"
#: the lock's statements (modules/isolation-target's evidence.tf)
LOCK_SIDS = {"LockEvidenceSnapshots"}
#: the custody's statements in the instance's account (modules/isolation-target's evidence.tf)
CUSTODY_SIDS = {
    "CopyEvidenceSnapshots",
    "TagEvidenceCopiesOnCreate",
    "ShareEvidenceWithCustody",
    "DeleteIntermediateCopies",
    "DescribeEvidenceKey",
    "UseEvidenceKeyViaEc2",
    "GrantEvidenceKeyToEc2",
}
#: the copy into custody: the central function's role only (iam.tf)
CENTRAL_CUSTODY_SIDS = {
    "CopySharedEvidenceIntoCustody",
    "UseMemberEvidenceKeysViaEc2",
    "GrantMemberEvidenceKeysToEc2",
}
#: what EC2 does with an evidence key on a principal's behalf, for a copy
KEY_ACTIONS_VIA_EC2 = {
    "kms:Decrypt",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
}
#: IAM's limits: a role's inline policies together, and a managed policy (non-whitespace characters)
INLINE_POLICY_LIMIT, MANAGED_POLICY_LIMIT = 10_240, 6_144

UNLOCKED_DIR = Path("examples") / "evidence-unlocked-test"
UNLOCKED_TF = """
provider "aws" {
  region = "us-east-1"
}

module "ec2_isolation" {
  source = "../../"

  evidence_lock_mode = null
}

output "evidence_key_arn" {
  value = module.ec2_isolation.evidence_key_arn
}

output "member_module_inputs" {
  value = module.ec2_isolation.member_module_inputs
}
"""
#: modules/member alone, with custody, the account's own volume key, and the central lock off
MEMBER_DIR = Path("examples") / "evidence-member-test"
SOURCE_KEY = f"arn:aws:kms:eu-west-1:{CENTRAL}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
MEMBER_TF = f"""
provider "aws" {{
  region = "eu-west-1"
}}

module "member" {{
  source = "../../modules/member"

  central_account_id       = "999999999999"
  central_region           = "us-east-1"
  central_lambda_role_arn  = "arn:aws:iam::999999999999:role/ec2-isolation-lambda"
  regions                  = ["eu-west-1"]
  isolation_steps          = {{ lock_evidence = false }}
  evidence_custody         = true
  evidence_source_key_arns = ["{SOURCE_KEY}"]
  tags                     = {{ Team = "incident-response" }}
}}
"""


@pytest.fixture(scope="module")
def unlocked_plan(
    tmp_path_factory: pytest.TempPathFactory, terraform_env: dict[str, str], lambda_package: Path
) -> Plan:
    """The module's defaults with evidence_lock_mode = null."""
    return plan_on_the_binary(tmp_path_factory, terraform_env, "evidence-unlocked", UNLOCKED_DIR, UNLOCKED_TF)


@pytest.fixture(scope="module")
def member_plan(
    tmp_path_factory: pytest.TempPathFactory, terraform_env: dict[str, str], lambda_package: Path
) -> Plan:
    """modules/member alone in one region (the STS stub's account), with custody and a source key."""
    return plan_on_the_binary(tmp_path_factory, terraform_env, "evidence-member", MEMBER_DIR, MEMBER_TF)


@pytest.fixture(scope="module")
def reference() -> ServiceReference:
    return ServiceReference.bundled()


def after(plan: Plan, address: str) -> dict[str, Any]:
    changes = plan.resource_changes
    assert address in changes, f"{address} is not planned; planned: {sorted(changes)}"
    value: dict[str, Any] = changes[address]["change"]["after"]
    return value


def policy(plan: Plan, address: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(after(plan, address)["policy"])
    return document


def environment(plan: Plan) -> dict[str, str]:
    (settings,) = plan.after("aws_lambda_function.this")["environment"]
    variables: dict[str, str] = settings["variables"]
    return variables


def evidence(variables: dict[str, str]) -> dict[str, str]:
    return {name: value for name, value in variables.items() if name.startswith("EVIDENCE_")}


def step_statements(plan: Plan) -> dict[str, dict[str, Any]]:
    return statements_by_sid(plan.policy("aws_iam_role_policy.lambda"))


def all_documents(*plans: tuple[Plan, str]) -> Iterator[PolicyDocument]:
    for plan, source in plans:
        yield from plan_documents(plan.data, source).documents


def allowing(documents: Iterator[PolicyDocument], action: str, reference: ServiceReference) -> list[Any]:
    """(document name, statement) of every Allow statement that grants ``action``, by name or wildcard."""
    return [
        (document.name, statement)
        for document in documents
        for statement in grants(document, action, reference)
    ]


# --------------------------------------------------------------------------------------------------
# The defaults (examples/basic): locked, no custody
# --------------------------------------------------------------------------------------------------


def test_by_default_each_evidence_snapshot_is_locked_in_governance_mode_for_90_days(
    example_plan: Plan,
) -> None:
    """Given the defaults, then the function is told to lock in governance mode for 90 days, with no
    cooling-off period and no custody; the alias of the members' keys is named all the same."""
    assert evidence(environment(example_plan)) == {
        "EVIDENCE_LOCK_MODE": "governance",
        "EVIDENCE_LOCK_DURATION_DAYS": "90",
        "EVIDENCE_LOCK_COOL_OFF_HOURS": "",
        "EVIDENCE_CUSTODY": "false",
        "EVIDENCE_CUSTODY_KEY_ARN": "",
        "EVIDENCE_KEY_ALIAS": ALIAS,
    }


def test_by_default_the_function_may_lock_and_read_the_locks_of_its_snapshots(example_plan: Plan) -> None:
    """Then its evidence policy (managed, attached to its role, tagged) grants ec2:LockSnapshot on this
    region's snapshots and nothing else, and the steps' Describe statement reads the locks."""
    statements = statements_by_sid(example_plan.policy("aws_iam_policy.evidence[0]"))
    managed = example_plan.after("aws_iam_policy.evidence[0]")
    attachment = example_plan.configuration("aws_iam_role_policy_attachment.evidence")

    assert statements == {
        "LockEvidenceSnapshots": {
            "Sid": "LockEvidenceSnapshots",
            "Effect": "Allow",
            "Action": "ec2:LockSnapshot",
            "Resource": f"arn:aws:ec2:{REGION}::snapshot/*",
        }
    }
    assert (managed["name"], managed["path"]) == ("ec2-isolation-evidence", "/")
    assert managed["tags"] == example_plan.after("aws_iam_role.lambda")["tags"]
    assert "aws_iam_role.lambda.name" in attachment["expressions"]["role"]["references"]
    assert "ec2:DescribeLockedSnapshots" in as_set(step_statements(example_plan)["Describe"]["Action"])
    assert step_statements(example_plan)["Describe"]["Resource"] == "*"


def test_by_default_nothing_of_the_custody_is_planned(example_plan: Plan) -> None:
    """Then no key, no alias and no custody statement: the single-account deployment keeps its evidence
    locked where it is."""
    assert not [address for address in example_plan.resource_changes if "aws_kms" in address]
    sids = set(step_statements(example_plan)) | set(
        statements_by_sid(example_plan.policy("aws_iam_policy.evidence[0]"))
    )
    assert sids & (CUSTODY_SIDS | CENTRAL_CUSTODY_SIDS) == set()


def test_a_compliance_lock_reaches_the_function_with_its_cooling_off_period(custom_plan: Plan) -> None:
    """Given compliance mode for 30 days with 24 hours of cooling-off, then the function is told exactly
    that, and still takes nothing into custody (no member account)."""
    assert evidence(environment(custom_plan)) == {
        "EVIDENCE_LOCK_MODE": "compliance",
        "EVIDENCE_LOCK_DURATION_DAYS": "30",
        "EVIDENCE_LOCK_COOL_OFF_HOURS": "24",
        "EVIDENCE_CUSTODY": "false",
        "EVIDENCE_CUSTODY_KEY_ARN": "",
        "EVIDENCE_KEY_ALIAS": "alias/ir-quarantine-evidence",
    }
    assert set(statements_by_sid(custom_plan.policy("aws_iam_policy.evidence[0]"))) == LOCK_SIDS


def test_without_a_lock_mode_nothing_is_locked_or_granted(unlocked_plan: Plan) -> None:
    """Given evidence_lock_mode = null, then the function is told not to lock, and neither the lock nor
    the reading of locks is granted: no evidence policy at all."""
    assert environment(unlocked_plan)["EVIDENCE_LOCK_MODE"] == ""
    assert not [address for address in unlocked_plan.resource_changes if "evidence" in address]
    assert "ec2:DescribeLockedSnapshots" not in as_set(step_statements(unlocked_plan)["Describe"]["Action"])
    assert "ec2:DescribeSnapshots" in as_set(step_statements(unlocked_plan)["Describe"]["Action"])


def test_without_custody_the_outputs_say_so(unlocked_plan: Plan) -> None:
    """Then the evidence key's output is null and member_module_inputs tells the members custody is off."""
    outputs = unlocked_plan.data["output_changes"]
    assert outputs["evidence_key_arn"]["after"] is None
    assert outputs["member_module_inputs"]["after"]["evidence_custody"] is False


def test_without_snapshots_nothing_of_the_evidence_is_granted(minimal_plan: Plan) -> None:
    """Given snapshot_volumes = false (the lock mode at its default), then nothing is locked: no evidence
    policy, no read of the locks."""
    assert not [address for address in minimal_plan.resource_changes if "evidence" in address]
    assert "ec2:DescribeLockedSnapshots" not in as_set(step_statements(minimal_plan)["Describe"]["Action"])


# --------------------------------------------------------------------------------------------------
# Custody (examples/organization): the central account
# --------------------------------------------------------------------------------------------------


def test_custody_tells_the_function_the_key_of_the_copies_and_the_members_alias(
    organization_plan: Plan,
) -> None:
    """Given examples/organization (custody on), then the function's environment takes the ARN of the key
    the plan creates (so, in this first plan, the provider shows the whole environment as known after
    apply) and the alias of the members' keys."""
    function = organization_plan.change("aws_lambda_function.this")["change"]
    configuration = organization_plan.configuration("aws_lambda_function.this")

    assert organization_plan.change(KEY)["change"]["after_unknown"]["arn"] is True
    assert function["after_unknown"]["environment"] == [{"variables": True}]
    assert (
        "local.evidence_environment"
        in configuration["expressions"]["environment"][0]["variables"]["references"]
    )
    # the key, and the alias the function's grants find it by, exist before the function
    assert "module.evidence_key" in configuration["depends_on"]


def test_custody_with_the_key_known_tells_the_function_everything(
    organization_plan_without_custody: Plan,
) -> None:
    """Given the same layout without custody, then the environment is known at plan time: custody off."""
    (settings,) = after(organization_plan_without_custody, "module.ec2_isolation.aws_lambda_function.this")[
        "environment"
    ]
    assert evidence(settings["variables"])["EVIDENCE_CUSTODY"] == "false"
    assert not [a for a in organization_plan_without_custody.resource_changes if "aws_kms" in a]


def test_the_central_key_is_rotated_tagged_and_aliased(organization_plan: Plan) -> None:
    """Then the central account's evidence key is created, rotated, with KMS's longest deletion window
    and the module's tags, under alias/<name>-evidence."""
    key = after(organization_plan, CENTRAL_KEY)
    alias = after(organization_plan, f"module.ec2_isolation.{KEY_ALIAS}")

    assert key["enable_key_rotation"] is True
    assert key["deletion_window_in_days"] == 30
    assert key["is_enabled"] is True
    assert key["tags"] == after(organization_plan, "module.ec2_isolation.aws_iam_role.lambda")["tags"]
    assert alias["name"] == ALIAS


def test_the_central_key_lets_the_function_use_it_through_ec2_only(organization_plan: Plan) -> None:
    """Then its policy: the account administers the key; the function's role (by aws:PrincipalArn) may
    use it through EC2 in the central region only, and create grants for AWS resources only."""
    statements = statements_by_sid(policy(organization_plan, CENTRAL_KEY))
    root = {"AWS": f"arn:aws:iam::{CENTRAL}:root"}
    via = {"kms:ViaService": f"ec2.{REGION}.amazonaws.com"}
    role = {"aws:PrincipalArn": CENTRAL_ROLE}

    assert set(statements) == {
        "AccountAdministersKey",
        "FunctionCopiesViaEc2",
        "FunctionGrantsKeyToEc2",
    }
    assert (
        statements["AccountAdministersKey"]["Principal"],
        statements["AccountAdministersKey"]["Action"],
    ) == (
        root,
        "kms:*",
    )
    use = statements["FunctionCopiesViaEc2"]
    assert as_set(use["Action"]) == KEY_ACTIONS_VIA_EC2 | {"kms:DescribeKey"}
    assert (use["Principal"], use["Condition"]) == (root, {"ArnEquals": role, "StringEquals": via})
    grant = statements["FunctionGrantsKeyToEc2"]
    assert grant["Action"] == "kms:CreateGrant"
    assert grant["Condition"] == {
        "ArnEquals": role,
        "StringEquals": via,
        "Bool": {"kms:GrantIsForAWSResource": "true"},
    }


def test_the_central_role_copies_locks_and_encrypts_into_custody(organization_plan: Plan) -> None:
    """Then the function's evidence policy holds the lock, the custody's statements in its own account
    (the one definition's) and the copy into custody: a snapshot of any region, into this region only,
    and the members' evidence keys (by alias, in the served accounts of the organization) through EC2."""
    statements = statements_by_sid(policy(organization_plan, EVIDENCE_POLICY))

    assert set(statements) == LOCK_SIDS | CUSTODY_SIDS | CENTRAL_CUSTODY_SIDS
    for sid in ("LockEvidenceSnapshots", "CopyEvidenceSnapshots", "TagEvidenceCopiesOnCreate"):
        assert statements[sid]["Resource"] == f"arn:aws:ec2:{REGION}::snapshot/*", sid
    assert statements["TagEvidenceCopiesOnCreate"]["Condition"] == {
        "StringEquals": {"ec2:CreateAction": "CopySnapshot"}
    }
    copy = statements["CopySharedEvidenceIntoCustody"]
    assert (copy["Action"], copy["Resource"]) == ("ec2:CopySnapshot", "arn:aws:ec2:*::snapshot/*")
    assert copy["Condition"] == {"StringEquals": {"aws:RequestedRegion": REGION}}
    members = {
        "ForAnyValue:StringEquals": {"kms:ResourceAliases": ALIAS},
        "StringLike": {"kms:ViaService": "ec2.*.amazonaws.com"},
        "StringEquals": {"aws:ResourceAccount": [ACCOUNT_A, ACCOUNT_B], "aws:ResourceOrgID": ORGANIZATION},
    }
    use = statements["UseMemberEvidenceKeysViaEc2"]
    assert as_set(use["Action"]) == KEY_ACTIONS_VIA_EC2 | {"kms:DescribeKey"}
    assert (use["Resource"], use["Condition"]) == ("arn:aws:kms:*:*:key/*", members)
    grant = statements["GrantMemberEvidenceKeysToEc2"]
    assert grant["Action"] == "kms:CreateGrant"
    assert grant["Condition"] == members | {"Bool": {"kms:GrantIsForAWSResource": "true"}}


def test_the_central_account_key_is_found_by_alias_and_used_through_ec2_in_its_region(
    organization_plan: Plan,
) -> None:
    """Then the one definition's key statements name this account's keys of this region with the alias:
    described directly, used by EC2 only, grants for AWS resources only."""
    statements = statements_by_sid(policy(organization_plan, EVIDENCE_POLICY))
    alias = {"ForAnyValue:StringEquals": {"kms:ResourceAliases": ALIAS}}
    via = {"StringEquals": {"kms:ViaService": f"ec2.{REGION}.amazonaws.com"}}
    keys = f"arn:aws:kms:{REGION}:{CENTRAL}:key/*"

    assert (statements["DescribeEvidenceKey"]["Action"], statements["DescribeEvidenceKey"]["Resource"]) == (
        "kms:DescribeKey",
        keys,
    )
    assert statements["DescribeEvidenceKey"]["Condition"] == alias
    assert as_set(statements["UseEvidenceKeyViaEc2"]["Action"]) == KEY_ACTIONS_VIA_EC2
    assert statements["UseEvidenceKeyViaEc2"]["Condition"] == alias | via
    assert statements["GrantEvidenceKeyToEc2"]["Condition"] == alias | via | {
        "Bool": {"kms:GrantIsForAWSResource": "true"}
    }


def test_member_module_inputs_carry_the_custody(complete_plan: Plan) -> None:
    """Given examples/complete (custody on), then member_module_inputs tells the members, and the key's
    ARN is an output known after apply."""
    outputs = complete_plan.data["output_changes"]
    assert outputs["member_module_inputs"]["after"]["evidence_custody"] is True
    assert outputs["evidence_key_arn"]["after_unknown"] is True


# --------------------------------------------------------------------------------------------------
# Custody: the member accounts (modules/member)
# --------------------------------------------------------------------------------------------------


def test_every_member_region_has_its_evidence_key_under_the_one_alias(organization_plan: Plan) -> None:
    """Then every member module instance (each account and region: KMS keys are regional) creates its
    key, rotated, 30 days' deletion window, tagged, aliased alias/<name>-evidence."""
    for module, (_, _, _) in MEMBERS.items():
        key = after(organization_plan, f"module.{module}.{KEY}")
        alias = after(organization_plan, f"module.{module}.{KEY_ALIAS}")
        assert (key["enable_key_rotation"], key["deletion_window_in_days"]) == (True, 30), module
        assert key["tags"] == after(organization_plan, f"module.{module}.aws_sqs_queue.dead_letter")["tags"]
        assert alias["name"] == ALIAS, module


def test_a_member_key_lets_the_executor_and_the_central_role_use_it_for_ebs_copies_only(
    organization_plan: Plan,
) -> None:
    """Then a member key's policy: the member account administers it; its executor role (by
    aws:PrincipalArn) may use it through EC2 in the key's region; the central function's role may use it
    for EBS copies only (through EC2 in any region: the copy into custody runs in the central region),
    and create grants for AWS resources only; no other principal."""
    for module, (account, region, _) in MEMBERS.items():
        statements = statements_by_sid(policy(organization_plan, f"module.{module}.{KEY}"))
        executor = {"aws:PrincipalArn": f"arn:aws:iam::{account}:role/ec2-isolation-executor"}
        central = {"aws:PrincipalArn": CENTRAL_ROLE}
        here = {"StringEquals": {"kms:ViaService": f"ec2.{region}.amazonaws.com"}}
        anywhere = {"StringLike": {"kms:ViaService": "ec2.*.amazonaws.com"}}
        for_aws = {"Bool": {"kms:GrantIsForAWSResource": "true"}}

        assert statements["AccountAdministersKey"]["Principal"] == {"AWS": f"arn:aws:iam::{account}:root"}
        expected = {
            "ExecutorCopiesViaEc2": (
                account,
                KEY_ACTIONS_VIA_EC2 | {"kms:DescribeKey"},
                {"ArnEquals": executor} | here,
            ),
            "ExecutorGrantsKeyToEc2": (
                account,
                {"kms:CreateGrant"},
                {"ArnEquals": executor} | here | for_aws,
            ),
            "CentralFunctionCopiesViaEc2": (
                CENTRAL,
                KEY_ACTIONS_VIA_EC2 | {"kms:DescribeKey"},
                {"ArnEquals": central} | anywhere,
            ),
            "CentralFunctionGrantsKeyToEc2": (
                CENTRAL,
                {"kms:CreateGrant"},
                {"ArnEquals": central} | anywhere | for_aws,
            ),
        }
        assert set(statements) == {"AccountAdministersKey", *expected}, module
        for sid, (principal_account, actions, condition) in expected.items():
            statement = statements[sid]
            assert statement["Principal"] == {"AWS": f"arn:aws:iam::{principal_account}:root"}, (module, sid)
            assert as_set(statement["Action"]) == actions, (module, sid)
            assert statement["Condition"] == condition, (module, sid)
            assert statement["Resource"] == "*"


def test_the_executor_gets_the_one_definitions_evidence_statements(organization_plan: Plan) -> None:
    """Then each account's executor role (its create_iam instance) gets the evidence statements of the
    one definition, as the central role does, in its own account and both regions, with the copy into
    custody left to the central role."""
    central = statements_by_sid(policy(organization_plan, EVIDENCE_POLICY))
    for module, (account, _, creates_iam) in MEMBERS.items():
        address = f"module.{module}.aws_iam_policy.executor_evidence[0]"
        if not creates_iam:
            assert address not in organization_plan.resource_changes
            continue
        statements = statements_by_sid(policy(organization_plan, address))
        managed = after(organization_plan, address)
        assert managed["name"] == "ec2-isolation-executor-evidence"
        assert set(statements) == set(central) - CENTRAL_CUSTODY_SIDS
        for sid in ("LockEvidenceSnapshots", "CopyEvidenceSnapshots", "DeleteIntermediateCopies"):
            assert as_set(statements[sid]["Resource"]) == {
                f"arn:aws:ec2:{region}::snapshot/*" for region in MEMBER_REGIONS
            }
        assert as_set(statements["UseEvidenceKeyViaEc2"]["Resource"]) == {
            f"arn:aws:kms:{region}:{account}:key/*" for region in MEMBER_REGIONS
        }
        assert as_set(statements["UseEvidenceKeyViaEc2"]["Condition"]["StringEquals"]["kms:ViaService"]) == {
            f"ec2.{region}.amazonaws.com" for region in MEMBER_REGIONS
        }


def test_a_member_without_the_central_lock_gets_no_lock_and_its_volume_keys_through_ec2(
    member_plan: Plan,
) -> None:
    """Given modules/member with custody, a customer managed key of its volumes, and the central lock off
    (isolation_steps.lock_evidence = false), then the executor may not lock, may have EC2 use that key to
    re-encrypt the copies (and create grants for AWS resources), in its region only."""
    statements = statements_by_sid(policy(member_plan, "module.member.aws_iam_policy.executor_evidence[0]"))
    via = {"kms:ViaService": "ec2.eu-west-1.amazonaws.com"}
    steps = statements_by_sid(policy(member_plan, "module.member.aws_iam_role_policy.executor[0]"))

    assert set(statements) == CUSTODY_SIDS | {"UseSourceKeysViaEc2", "GrantSourceKeysToEc2"}
    assert "ec2:DescribeLockedSnapshots" not in as_set(steps["Describe"]["Action"])
    source = statements["UseSourceKeysViaEc2"]
    assert as_set(source["Action"]) == {"kms:Decrypt", "kms:DescribeKey", "kms:ReEncryptFrom"}
    assert (source["Resource"], source["Condition"]) == (SOURCE_KEY, {"StringEquals": via})
    grant = statements["GrantSourceKeysToEc2"]
    assert (grant["Action"], grant["Resource"]) == ("kms:CreateGrant", SOURCE_KEY)
    assert grant["Condition"] == {"StringEquals": via, "Bool": {"kms:GrantIsForAWSResource": "true"}}
    # shared with the central account only
    share = statements["ShareEvidenceWithCustody"]["Condition"]["ForAllValues:StringEquals"]
    assert share == {"ec2:Add/userId": "999999999999", "ec2:Remove/userId": "999999999999"}
    key_policy = statements_by_sid(policy(member_plan, f"module.member.{KEY}"))
    assert key_policy["CentralFunctionCopiesViaEc2"]["Principal"] == {"AWS": "arn:aws:iam::999999999999:root"}


# --------------------------------------------------------------------------------------------------
# What no policy grants, or grants only under conditions (every plan)
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def every_document(
    example_plan: Plan,
    custom_plan: Plan,
    complete_plan: Plan,
    organization_plan: Plan,
    unlocked_plan: Plan,
    member_plan: Plan,
) -> list[PolicyDocument]:
    return list(
        all_documents(
            (example_plan, "examples/basic"),
            (custom_plan, "custom"),
            (complete_plan, "examples/complete"),
            (organization_plan, "examples/organization"),
            (unlocked_plan, "unlocked"),
            (member_plan, "modules/member"),
        )
    )


def test_no_statement_of_any_plan_grants_unlocking_a_snapshot(
    every_document: list[PolicyDocument], reference: ServiceReference
) -> None:
    """Given every policy document of every plan (roles, managed policies, key, bus and queue policies,
    the analyst policies), then no Allow statement grants ec2:UnlockSnapshot: not by name, nor by a
    wildcard (``ec2:*``, ``ec2:Unlock*``, ``*``)."""
    assert len(every_document) > 40
    assert allowing(iter(every_document), "ec2:UnlockSnapshot", reference) == []


def test_a_wildcard_that_would_grant_unlocking_is_caught(reference: ServiceReference) -> None:
    """The check bites: ec2:*, ec2:Unlock* and * each grant it."""
    for action in ("ec2:*", "ec2:Unlock*", "*", "ec2:UnlockSnapshot"):
        planted = PolicyDocument(
            "planted",
            Kind.IDENTITY,
            {"Statement": [{"Effect": "Allow", "Action": [action], "Resource": "*"}]},
        )
        assert allowing(iter([planted]), "ec2:UnlockSnapshot", reference), action


def test_snapshots_are_deleted_only_when_tagged_as_the_modules_intermediate_copies(
    every_document: list[PolicyDocument], reference: ServiceReference
) -> None:
    """Then every grant of ec2:DeleteSnapshot, wherever custody is on, requires both tags: the
    deployment's managed-by tag and the intermediate copy's role."""
    deletes = allowing(iter(every_document), "ec2:DeleteSnapshot", reference)

    # the central role and the executor roles of examples/complete and examples/organization, modules/member's
    assert len(deletes) >= 5
    for name, statement in deletes:
        assert statement["Sid"] == "DeleteIntermediateCopies", name
        assert set(statement["Condition"]) == {"StringEquals"}, name
        tags = statement["Condition"]["StringEquals"]
        (managed_by,) = [key for key in tags if key.endswith(":ManagedBy")]
        prefix = managed_by.removesuffix("ManagedBy")
        assert managed_by.startswith("aws:ResourceTag/"), name
        assert tags == {managed_by: tags[managed_by], f"{prefix}CustodyCopy": "intermediate"}, name
        assert tags[managed_by] in {"ec2-isolation", "ir-quarantine"}, name
        assert all(resource.endswith("::snapshot/*") for resource in as_set(statement["Resource"])), name


def test_snapshots_are_shared_only_with_the_central_account_and_never_with_a_group(
    every_document: list[PolicyDocument], reference: ServiceReference
) -> None:
    """Then every grant of ec2:ModifySnapshotAttribute names the central account as the only account a
    create volume permission may be added for or removed from, and no group (the public)."""
    shares = allowing(iter(every_document), "ec2:ModifySnapshotAttribute", reference)

    assert len(shares) >= 5
    for name, statement in shares:
        condition = statement["Condition"]
        accounts = condition["ForAllValues:StringEquals"]
        assert set(accounts) == {"ec2:Add/userId", "ec2:Remove/userId"}, name
        assert accounts["ec2:Add/userId"] == accounts["ec2:Remove/userId"], name
        assert re.fullmatch(r"[0-9]{12}", accounts["ec2:Add/userId"]), name
        assert condition["Null"] == {"ec2:Add/group": "true"}, name
    organization_shares = [s for n, s in shares if "examples/organization" in n]
    assert organization_shares
    assert {s["Condition"]["ForAllValues:StringEquals"]["ec2:Add/userId"] for s in organization_shares} == {
        CENTRAL
    }


def test_the_function_roles_policies_fit_iams_limits(complete_plan: Plan, organization_plan: Plan) -> None:
    """Given every option on (examples/complete) and the organization layout, then the function's role's
    inline policies fit IAM's 10,240 characters a role (with room), and each evidence policy the 6,144 of a
    managed policy: the evidence grants are a managed policy of their own for that."""
    for plan in (complete_plan, organization_plan):
        inline = [
            change["change"]["after"]["policy"]
            for address, change in plan.resource_changes.items()
            if address.startswith("module.ec2_isolation.aws_iam_role_policy.")
        ]
        assert sum(len(re.sub(r"\s", "", document)) for document in inline) < INLINE_POLICY_LIMIT - 2_000
        managed = [
            change["change"]["after"]["policy"]
            for change in plan.resource_changes.values()
            if change["type"] == "aws_iam_policy"
        ]
        assert managed
        assert all(len(re.sub(r"\s", "", document)) < MANAGED_POLICY_LIMIT - 2_000 for document in managed)
