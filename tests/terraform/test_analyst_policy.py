"""The permission model (analyst.tf): the analysts' isolate and release policies and the SCP that keeps
everyone else off the isolation tag key, as planned (JSON the module outputs, parsed)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from tests.terraform.plan import Plan, as_set, statements_by_sid

pytestmark = pytest.mark.terraform

ACCOUNT = "123456789012"
#: AWS Organizations' limit on an SCP document (every character counts, whitespace included)
SCP_MAX_CHARACTERS = 5120
#: IAM's limit on a managed policy (whitespace not counted)
MANAGED_POLICY_MAX_CHARACTERS = 6144

#: what the responder CLI reads (lambda/ec2_isolation/cli.py): the instance, its live state, the record
READ_ACTIONS = {
    "autoscaling:DescribeAutoScalingInstances",
    "ec2:DescribeAddresses",
    "ec2:DescribeIamInstanceProfileAssociations",
    "ec2:DescribeInstances",
    "ec2:DescribeNetworkInterfaces",
    "elasticloadbalancing:DescribeTargetGroups",
    "elasticloadbalancing:DescribeTargetHealth",
}


def output_document(plan: Plan, name: str) -> tuple[str, dict[str, Any]]:
    """The planned output ``name`` (known at plan time) and the JSON policy it holds, parsed."""
    change = plan.data["output_changes"][name]
    assert change["after_unknown"] is False, f"{name} is not known at plan time"
    text: str = change["after"]
    document: dict[str, Any] = json.loads(text)
    assert document["Version"] == "2012-10-17"
    return text, document


def expected_analyst_policy(
    *, region: str, key: str, value: str, table: str, sid: str
) -> dict[str, tuple[str, set[str], set[str], dict[str, Any]]]:
    """Sid -> (effect, actions, resources, condition) of an analyst policy."""
    instances = f"arn:aws:ec2:{region}:{ACCOUNT}:instance/*"
    return {
        sid: (
            "Allow",
            {"ec2:CreateTags"},
            {instances},
            {
                "ForAllValues:StringEquals": {"aws:TagKeys": key},
                "Null": {"aws:TagKeys": "false"},
                "StringEquals": {f"aws:RequestTag/{key}": value},
            },
        ),
        "ReadInstanceState": ("Allow", READ_ACTIONS, {"*"}, {}),
        "ReadInstanceAttributes": ("Allow", {"ec2:DescribeInstanceAttribute"}, {instances}, {}),
        "ReadIsolationRecords": (
            "Allow",
            {"dynamodb:GetItem", "dynamodb:Scan"},
            {f"arn:aws:dynamodb:{region}:{ACCOUNT}:table/{table}"},
            {},
        ),
        "NeverRemoveIsolationTags": (
            "Deny",
            {"ec2:DeleteTags"},
            {instances},
            {"ForAnyValue:StringLike": {"aws:TagKeys": [key, f"{key}:*"]}},
        ),
        "NeverRemoveAllTagsOfTaggedInstances": (
            "Deny",
            {"ec2:DeleteTags"},
            {instances},
            {"Null": {"aws:TagKeys": "true", f"aws:ResourceTag/{key}": "false"}},
        ),
        "NeverWriteStatusTags": (
            "Deny",
            {"ec2:CreateTags"},
            {instances},
            {"ForAnyValue:StringLike": {"aws:TagKeys": f"{key}:*"}},
        ),
    }


def shape(document: dict[str, Any]) -> dict[str, tuple[str, set[str], set[str], dict[str, Any]]]:
    return {
        sid: (
            statement["Effect"],
            as_set(statement["Action"]),
            as_set(statement["Resource"]),
            statement.get("Condition", {}),
        )
        for sid, statement in statements_by_sid(document).items()
    }


@pytest.mark.parametrize(
    ("output", "value", "sid"),
    [
        ("analyst_isolate_policy_json", "Isolate", "SetIsolationTagToIsolate"),
        ("analyst_release_policy_json", "Release", "SetIsolationTagToRelease"),
    ],
)
def test_an_analyst_may_set_only_the_isolation_key_to_only_one_value(
    example_plan: Plan, output: str, value: str, sid: str
) -> None:
    """Given examples/basic (the default tag), when the analyst policy is planned, then it allows
    ec2:CreateTags of exactly the isolation key, alone, to exactly its value on the account's instances,
    the CLI's reads and the record, and denies removing the key and writing the Lambda's status tags."""
    _, document = output_document(example_plan, output)

    assert shape(document) == expected_analyst_policy(
        region="us-east-1",
        key="SecurityIsolation",
        value=value,
        table="ec2-isolation-records",
        sid=sid,
    )


def test_isolate_and_release_are_separate_privileges(example_plan: Plan) -> None:
    """Then neither policy lets its holder set the other value: each allows one value."""
    _, isolate = output_document(example_plan, "analyst_isolate_policy_json")
    _, release = output_document(example_plan, "analyst_release_policy_json")

    def values(document: dict[str, Any]) -> set[str]:
        allowed = [
            s
            for s in document["Statement"]
            if s["Effect"] == "Allow" and "ec2:CreateTags" in as_set(s["Action"])
        ]
        return set().union(
            *(as_set(s["Condition"]["StringEquals"]["aws:RequestTag/SecurityIsolation"]) for s in allowed)
        )

    assert values(isolate) == {"Isolate"}
    assert values(release) == {"Release"}


def test_the_analyst_policies_follow_a_custom_key_and_values(custom_plan: Plan) -> None:
    """Given custom inputs (key Quarantine, values Now/Lift, region eu-west-1), then the policies use them."""
    for output, value, sid in (
        ("analyst_isolate_policy_json", "Now", "SetIsolationTagToIsolate"),
        ("analyst_release_policy_json", "Lift", "SetIsolationTagToRelease"),
    ):
        _, document = output_document(custom_plan, output)
        assert shape(document) == expected_analyst_policy(
            region="eu-west-1", key="Quarantine", value=value, table="ir-quarantine-records", sid=sid
        )


def expected_scp(key: str, principals: set[str]) -> dict[str, tuple[str, set[str], set[str], dict[str, Any]]]:
    return {
        "ProtectIsolationTagKey": (
            "Deny",
            {"ec2:CreateTags", "ec2:DeleteTags"},
            {"*"},
            {
                "ForAnyValue:StringLike": {"aws:TagKeys": [key, f"{key}:*"]},
                "ArnNotLike": {"aws:PrincipalArn": principals},
            },
        ),
        "ProtectIsolationTagKeyFromDeleteAll": (
            "Deny",
            {"ec2:DeleteTags"},
            {"*"},
            {
                "Null": {"aws:TagKeys": "true", f"aws:ResourceTag/{key}": "false"},
                "ArnNotLike": {"aws:PrincipalArn": principals},
            },
        ),
    }


def scp_shape(document: dict[str, Any]) -> dict[str, tuple[str, set[str], set[str], dict[str, Any]]]:
    """The SCP's statements, with the principal allow-list as a set (its order does not matter)."""
    shaped = shape(copy.deepcopy(document))
    for _, _, _, condition in shaped.values():
        if "ArnNotLike" in condition:
            condition["ArnNotLike"] = {
                "aws:PrincipalArn": as_set(condition["ArnNotLike"]["aws:PrincipalArn"])
            }
    return shaped


def test_the_scp_denies_the_key_to_all_but_the_lambda_by_default(example_plan: Plan) -> None:
    """Given no tag administrators, then only the Lambda's role may set or remove the key or a status tag."""
    text, document = output_document(example_plan, "isolation_tag_protection_scp_json")

    assert scp_shape(document) == expected_scp(
        "SecurityIsolation", {f"arn:aws:iam::{ACCOUNT}:role/ec2-isolation-lambda"}
    )
    assert len(text) <= SCP_MAX_CHARACTERS


def test_the_scp_allows_the_given_tag_administrators_and_the_lambda(complete_plan: Plan) -> None:
    """Given examples/complete (two tag administrators, role path /security/), then the SCP exempts
    exactly them and the Lambda's role, and is minified and within the SCP size limit."""
    text, document = output_document(complete_plan, "isolation_tag_protection_scp_json")

    assert scp_shape(document) == expected_scp(
        "SecurityIsolation",
        {
            f"arn:aws:iam::{ACCOUNT}:role/incident-response/*",
            f"arn:aws:iam::{ACCOUNT}:role/SecurityResponder",
            f"arn:aws:iam::{ACCOUNT}:role/security/ir-quarantine-lambda",
        },
    )
    assert text == json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    assert len(text) <= SCP_MAX_CHARACTERS


def test_the_largest_allowed_inputs_still_fit_the_scp_limit(example_plan: Plan) -> None:
    """Given the longest isolation key (96 characters) and tag administrators at their validation limit
    (1500 characters of JSON), then the SCP still fits in 5120 characters (with the default role path;
    a longer path is caught by the output's precondition)."""
    _, document = output_document(example_plan, "isolation_tag_protection_scp_json")
    key = "K" * 96
    administrators: list[str] = []
    while len(json.dumps([*administrators, "arn:aws:iam::123456789012:role/a"])) <= 1500:
        administrators.append("arn:aws:iam::123456789012:role/a")
    lambda_role = f"arn:aws:iam::{ACCOUNT}:role/{'n' * 40}-lambda"
    text = json.dumps(document, separators=(",", ":")).replace("SecurityIsolation", key)
    text = text.replace(
        json.dumps(f"arn:aws:iam::{ACCOUNT}:role/ec2-isolation-lambda"),
        json.dumps([*administrators, lambda_role], separators=(",", ":"))[1:-1],
    )

    assert len(json.dumps(administrators)) <= 1500
    assert len(text) <= SCP_MAX_CHARACTERS, len(text)


def test_the_analyst_policies_fit_a_managed_policy(complete_plan: Plan) -> None:
    for output in ("analyst_isolate_policy_json", "analyst_release_policy_json"):
        text, _ = output_document(complete_plan, output)
        assert len("".join(text.split())) <= MANAGED_POLICY_MAX_CHARACTERS
