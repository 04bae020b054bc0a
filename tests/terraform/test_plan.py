"""Assertions on offline plans (`terraform show -json`) of examples/basic and of a fully customised call.

The plans are made once per session (see conftest.py) with fake credentials; the only API call,
`sts:GetCallerIdentity` for `data.aws_caller_identity`, is answered by a local stub with the account
id 123456789012, so every ARN in the IAM policies is known at plan time.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.terraform.plan import Plan, as_set, statements_by_sid
from tools import tfcli

pytestmark = pytest.mark.terraform

ACCOUNT = tfcli.FAKE_ACCOUNT_ID
REGION = "us-east-1"  # region of examples/basic (its variable's default)

#: the isolation role, its deny-all policy and its instance profile: modules/isolation-target's (the one
#: definition modules/member uses too), created by its iam module
ISOLATION_IAM = "module.isolation_target.module.iam[0]"
ISOLATION_ROLE = f"{ISOLATION_IAM}.aws_iam_role.isolation"
ISOLATION_POLICY = f"{ISOLATION_IAM}.aws_iam_role_policy.isolation"
ISOLATION_PROFILE = f"{ISOLATION_IAM}.aws_iam_instance_profile.isolation"

EXPECTED_RESOURCES = {
    "aws_cloudwatch_event_rule.this",
    "aws_cloudwatch_event_target.this",
    "aws_lambda_permission.events",
    "aws_cloudwatch_log_group.this",
    "aws_lambda_function.this",
    "aws_iam_role.lambda",
    "aws_iam_role_policy.lambda",
    ISOLATION_ROLE,
    ISOLATION_POLICY,
    ISOLATION_PROFILE,
    "aws_dynamodb_table.records",
    "aws_sqs_queue.dead_letter",
    "aws_lambda_function_event_invoke_config.this",
    'aws_cloudwatch_metric_alarm.this["errors"]',
    'aws_cloudwatch_metric_alarm.this["throttles"]',
    'aws_cloudwatch_metric_alarm.this["destination_delivery_failures"]',
    'aws_cloudwatch_metric_alarm.this["dead_letters"]',
    # the reconciler (reconcile.tf): both schedules, the queue, the API-call rule, the drift alarm
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
    # the evidence snapshots' lock (evidence.tf, on by default): its grants, a managed policy
    "aws_iam_policy.evidence[0]",
    "aws_iam_role_policy_attachment.evidence[0]",
}
TAGGABLE_RESOURCES = {
    "aws_cloudwatch_event_rule.this",
    "aws_cloudwatch_log_group.this",
    "aws_lambda_function.this",
    "aws_iam_role.lambda",
    ISOLATION_ROLE,
    ISOLATION_PROFILE,
    "aws_dynamodb_table.records",
    "aws_sqs_queue.dead_letter",
    'aws_cloudwatch_metric_alarm.this["errors"]',
    'aws_cloudwatch_metric_alarm.this["throttles"]',
    'aws_cloudwatch_metric_alarm.this["destination_delivery_failures"]',
    'aws_cloudwatch_metric_alarm.this["dead_letters"]',
    'aws_cloudwatch_event_rule.reconcile["sweep"]',
    'aws_cloudwatch_event_rule.reconcile["full"]',
    "aws_sqs_queue.reconcile[0]",
    "aws_lambda_event_source_mapping.reconcile[0]",
    "aws_cloudwatch_event_rule.api_call[0]",
    "aws_cloudwatch_metric_alarm.drift_repaired[0]",
    "aws_iam_policy.evidence[0]",
}
EXPECTED_OUTPUTS = {
    "lambda_function_arn",
    "lambda_function_name",
    "lambda_role_arn",
    "event_rule_arn",
    "event_rule_name",
    "log_group_name",
    "isolation_role_arn",
    "isolation_instance_profile_arn",
    "isolation_instance_profile_name",
    "isolation_security_group_name",
    "status_tag_prefix",
    "record_table_name",
    "record_table_arn",
    "responder_cli_environment",
    "dead_letter_queue_arn",
    "dead_letter_queue_url",
    "alarm_names",
    "analyst_isolate_policy_json",
    "analyst_release_policy_json",
    "isolation_tag_protection_scp_json",
}


def expected_event_pattern(key: str, value: str, release: str) -> dict[str, Any]:
    return {
        "source": ["aws.tag"],
        "detail-type": ["Tag Change on Resource"],
        "detail": {
            "service": ["ec2"],
            "resource-type": ["instance"],
            "changed-tag-keys": [key],
            "tags": {key: [value, release]},
        },
    }


def example_tags(plan: Plan) -> dict[str, str]:
    """The tags examples/basic passes to the module, read from its configuration in the plan."""
    call = plan.data["configuration"]["root_module"]["module_calls"]["ec2_isolation"]
    tags: dict[str, str] = call["expressions"]["tags"]["constant_value"]
    return tags


# --------------------------------------------------------------------------------------------------
# examples/basic: the module's defaults
# --------------------------------------------------------------------------------------------------


def test_plan_needs_no_network_but_the_sts_stub(example_plan: Plan) -> None:
    """Given fake credentials and no network, when examples/basic is planned, then the plan is complete
    and the provider's only API call was GetCallerIdentity (answered locally)."""
    assert example_plan.data["complete"] is True
    assert example_plan.data["errored"] is False
    assert set(example_plan.sts_actions) == {"GetCallerIdentity"}


def test_plan_creates_exactly_the_module_resources(example_plan: Plan) -> None:
    """Given a new deployment, then the plan creates the module's resources and nothing else."""
    changes = example_plan.resource_changes

    assert set(changes) == {f"module.ec2_isolation.{address}" for address in EXPECTED_RESOURCES}
    assert {address: change["change"]["actions"] for address, change in changes.items()} == {
        address: ["create"] for address in changes
    }


def test_event_rule_matches_the_default_isolation_tag(example_plan: Plan) -> None:
    """Then the rule matches EC2 instances whose SecurityIsolation tag changed to Isolate, and only that."""
    rule = example_plan.after("aws_cloudwatch_event_rule.this")

    assert json.loads(rule["event_pattern"]) == expected_event_pattern(
        "SecurityIsolation", "Isolate", "Release"
    )
    assert rule["event_bus_name"] == "default"
    assert rule["name"] == "ec2-isolation-on-isolation-tag"


def test_event_target_invokes_the_function(example_plan: Plan) -> None:
    """Then the rule's target is the Lambda function."""
    assert "aws_cloudwatch_event_rule.this.name" in example_plan.references(
        "aws_cloudwatch_event_target.this", "rule"
    )
    assert "aws_lambda_function.this.arn" in example_plan.references(
        "aws_cloudwatch_event_target.this", "arn"
    )


def test_permission_lets_only_the_rule_invoke_the_function(example_plan: Plan) -> None:
    """Then EventBridge may invoke the function, for this rule only (source_arn is the rule's ARN)."""
    permission = example_plan.after("aws_lambda_permission.events")

    assert permission["action"] == "lambda:InvokeFunction"
    assert permission["principal"] == "events.amazonaws.com"
    assert permission["function_name"] == "ec2-isolation"
    assert example_plan.after_unknown("aws_lambda_permission.events")["source_arn"] is True
    assert "aws_cloudwatch_event_rule.this.arn" in example_plan.references(
        "aws_lambda_permission.events", "source_arn"
    )


def test_lambda_function_settings(example_plan: Plan) -> None:
    """Then the function runs the packaged handler on Python 3.12 / arm64 with the default sizing."""
    function = example_plan.after("aws_lambda_function.this")

    assert function["function_name"] == "ec2-isolation"
    assert function["runtime"] == "python3.12"
    assert function["handler"] == "ec2_isolation.handler.lambda_handler"
    assert function["architectures"] == ["arm64"]
    assert function["timeout"] == 120
    assert function["memory_size"] == 256
    assert function["filename"].endswith("lambda/dist/ec2_isolation.zip")
    assert function["source_code_hash"]
    assert "aws_iam_role.lambda.arn" in example_plan.references("aws_lambda_function.this", "role")


def test_lambda_environment(example_plan: Plan) -> None:
    """Then the function gets exactly the settings the handler reads, all known at plan time."""
    (environment,) = example_plan.after("aws_lambda_function.this")["environment"]
    profile_arn = f"arn:aws:iam::{ACCOUNT}:instance-profile/ec2-isolation-isolation"

    assert environment["variables"] == {
        "ISOLATION_TAG_KEY": "SecurityIsolation",
        "ISOLATION_TAG_VALUE": "Isolate",
        "RELEASE_TAG_VALUE": "Release",
        "DRY_RUN": "false",
        "STATUS_TAG_PREFIX": "SecurityIsolation:",
        "ISOLATION_SECURITY_GROUP_NAME": "ec2-isolation-isolation",
        "ISOLATION_INSTANCE_PROFILE_ARN": profile_arn,
        "MANAGED_TAG_KEY": "SecurityIsolation:ManagedBy",
        "MANAGED_TAG_VALUE": "ec2-isolation",
        "RESOURCE_TAGS": json.dumps(example_tags(example_plan), separators=(",", ":"), sort_keys=True),
        "LOG_LEVEL": "INFO",
        "RECORD_TABLE_NAME": "ec2-isolation-records",
        "RECORD_LOCK_SECONDS": "180",
        "UNTRACK_CONNECTIONS": "true",
        "UNTRACK_WAIT_SECONDS": "15",
        "TRANSITION_SECURITY_GROUP_NAME": "ec2-isolation-isolation-untrack",
        "REVOKE_CREDENTIALS": "true",
        "REVOCATION_POLICY_PREFIX": "ec2-isolation-revoke-",
        "PROTECT_FROM_TERMINATION": "true",
        "SNAPSHOT_VOLUMES": "true",
        "AUTO_SCALING_ACTION": "detach",
        "AUTO_SCALING_DECREMENT_DESIRED_CAPACITY": "false",
        "DEREGISTER_TARGETS": "true",
        "DISASSOCIATE_ELASTIC_IPS": "false",
        "SNS_TOPIC_ARN": "",
        "RESULT_EVENT_SOURCE": "ec2-isolation",
        "MEMBER_ACCOUNT_IDS": "",
        "ORGANIZATION_ID": "",
        "EXECUTOR_ROLE_NAME": "/ec2-isolation-executor",
        "EXECUTOR_EXTERNAL_ID": "",
        "RECONCILE_QUEUE_URL": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/ec2-isolation-reconcile",
        "RECONCILE_RULE_ARN": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/ec2-isolation-reconcile",
        "RECONCILE_FULL_RULE_ARN": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/ec2-isolation-reconcile-full",
        "RECONCILE_ON_API_CALLS": "true",
        "RECONCILE_REGIONS": REGION,
        "RECONCILE_ACCOUNT_IDS": "",
        "FUNCTION_ROLE_ARN": f"arn:aws:iam::{ACCOUNT}:role/ec2-isolation-lambda",
        "METRICS_NAMESPACE": "EC2Isolation",
        # the evidence (evidence.tf): locked in governance mode for 90 days, no custody
        "EVIDENCE_LOCK_MODE": "governance",
        "EVIDENCE_LOCK_DURATION_DAYS": "90",
        "EVIDENCE_LOCK_COOL_OFF_HOURS": "",
        "EVIDENCE_CUSTODY": "false",
        "EVIDENCE_CUSTODY_KEY_ARN": "",
        "EVIDENCE_KEY_ALIAS": "alias/ec2-isolation-evidence",
    }


def test_log_group_is_created_before_the_function(example_plan: Plan) -> None:
    """Then the function's default log group is managed (365 days, default encryption) and created first."""
    log_group = example_plan.after("aws_cloudwatch_log_group.this")
    function_config = example_plan.configuration("aws_lambda_function.this")

    assert log_group["name"] == "/aws/lambda/ec2-isolation"
    assert log_group["retention_in_days"] == 365
    assert log_group["kms_key_id"] is None
    assert "aws_cloudwatch_log_group.this" in function_config["depends_on"]
    assert "aws_iam_role_policy.lambda" in function_config["depends_on"]


def test_example_tags_reach_every_taggable_resource(example_plan: Plan) -> None:
    """Given the example's tags, then every resource that has tags gets exactly them."""
    tags = example_tags(example_plan)
    tagged = {
        change["address"].removeprefix("module.ec2_isolation."): change["change"]["after"]["tags"]
        for change in example_plan.resource_changes.values()
        if "tags" in change["change"]["after"]
    }

    assert tags
    assert set(tagged) == TAGGABLE_RESOURCES
    assert tagged == dict.fromkeys(TAGGABLE_RESOURCES, tags)


def test_outputs(example_plan: Plan) -> None:
    """Then the example exposes the module's outputs; the names known at plan time have their values."""
    outputs = example_plan.data["output_changes"]

    assert set(outputs) == EXPECTED_OUTPUTS
    assert outputs["status_tag_prefix"]["after"] == "SecurityIsolation:"
    assert outputs["isolation_security_group_name"]["after"] == "ec2-isolation-isolation"
    assert outputs["lambda_function_name"]["after"] == "ec2-isolation"
    assert outputs["log_group_name"]["after"] == "/aws/lambda/ec2-isolation"
    assert outputs["isolation_instance_profile_name"]["after"] == "ec2-isolation-isolation"
    assert outputs["responder_cli_environment"]["after"] == {
        "EC2_ISOLATION_TAG_KEY": "SecurityIsolation",
        "EC2_ISOLATION_ISOLATE_VALUE": "Isolate",
        "EC2_ISOLATION_RELEASE_VALUE": "Release",
        "EC2_ISOLATION_RECORD_TABLE": "ec2-isolation-records",
        "EC2_ISOLATION_RECORD_TABLE_REGION": "us-east-1",
    }


def test_lambda_role_trusts_lambda_from_this_account_only(example_plan: Plan) -> None:
    """Then only the Lambda service, on behalf of this account, can assume the execution role."""
    role = example_plan.after("aws_iam_role.lambda")
    (statement,) = json.loads(role["assume_role_policy"])["Statement"]

    assert role["name"] == "ec2-isolation-lambda"
    assert role["path"] == "/"
    assert role["permissions_boundary"] is None
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}


def test_lambda_policy_is_least_privilege(example_plan: Plan) -> None:
    """Then the execution role can do exactly what isolating an instance needs, scoped as tightly as
    EC2 allows, in this account and region."""
    ec2 = f"arn:aws:ec2:{REGION}:{ACCOUNT}"
    statements = statements_by_sid(example_plan.policy("aws_iam_role_policy.lambda"))

    expected: dict[str, tuple[set[str], set[str], dict[str, Any] | None]] = {
        "Logs": (
            {"logs:CreateLogStream", "logs:PutLogEvents"},
            {f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/ec2-isolation:*"},
            None,
        ),
        "SendFailedInvocations": (
            {"sqs:SendMessage"},
            {f"arn:aws:sqs:{REGION}:{ACCOUNT}:ec2-isolation-dead-letters"},
            None,
        ),
        "Describe": (
            {
                "ec2:DescribeInstances",
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeSecurityGroupRules",
                "ec2:DescribeNetworkInterfaces",
                "ec2:DescribeIamInstanceProfileAssociations",
                "ec2:DescribeSnapshots",
                # the evidence snapshots' locks (evidence.tf)
                "ec2:DescribeLockedSnapshots",
                "autoscaling:DescribeAutoScalingInstances",
                "elasticloadbalancing:DescribeTargetGroups",
                "elasticloadbalancing:DescribeTargetHealth",
            },
            {"*"},
            None,
        ),
        "CreateIsolationGroup": (
            {"ec2:CreateSecurityGroup"},
            {f"{ec2}:vpc/*", f"{ec2}:security-group/*"},
            None,
        ),
        "TagIsolationGroupOnCreate": (
            {"ec2:CreateTags"},
            {f"{ec2}:security-group/*"},
            {"StringEquals": {"ec2:CreateAction": "CreateSecurityGroup"}},
        ),
        "SealIsolationGroup": (
            {"ec2:RevokeSecurityGroupEgress", "ec2:RevokeSecurityGroupIngress"},
            {f"{ec2}:security-group/*"},
            {"StringEquals": {"aws:ResourceTag/SecurityIsolation:ManagedBy": "ec2-isolation"}},
        ),
        "MoveEnis": (
            {"ec2:ModifyNetworkInterfaceAttribute"},
            {f"{ec2}:network-interface/*", f"{ec2}:security-group/*", f"{ec2}:instance/*"},
            None,
        ),
        "SwapInstanceProfile": (
            {
                "ec2:AssociateIamInstanceProfile",
                "ec2:DisassociateIamInstanceProfile",
                "ec2:ReplaceIamInstanceProfileAssociation",
            },
            {f"{ec2}:instance/*"},
            None,
        ),
        "TagInstanceStatus": (
            {"ec2:CreateTags", "ec2:DeleteTags"},
            {f"{ec2}:instance/*"},
            {
                "ForAllValues:StringLike": {"aws:TagKeys": "SecurityIsolation:*"},
                "Null": {"aws:TagKeys": "false"},
            },
        ),
        "PassOriginalRoles": (
            {"iam:PassRole"},
            {f"arn:aws:iam::{ACCOUNT}:role/*"},
            {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}},
        ),
        "NeverPassOwnRole": ({"iam:PassRole"}, {f"arn:aws:iam::{ACCOUNT}:role/ec2-isolation-lambda"}, None),
        "PassIsolationRole": (
            {"iam:PassRole"},
            {f"arn:aws:iam::{ACCOUNT}:role/ec2-isolation-isolation"},
            {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}},
        ),
        "IsolationRecords": (
            {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"},
            {f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/ec2-isolation-records"},
            None,
        ),
        # the reconciler's sweeps (reconcile.tf): the open records, and the reconcile queue
        "SweepRecords": (
            {"dynamodb:Scan"},
            {f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/ec2-isolation-records"},
            None,
        ),
        "SendReconcileWork": (
            {"sqs:SendMessage"},
            {f"arn:aws:sqs:{REGION}:{ACCOUNT}:ec2-isolation-reconcile"},
            None,
        ),
        "PollReconcileQueue": (
            {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"},
            {f"arn:aws:sqs:{REGION}:{ACCOUNT}:ec2-isolation-reconcile"},
            None,
        ),
        "OpenTransitionGroup": (
            {"ec2:AuthorizeSecurityGroupEgress", "ec2:AuthorizeSecurityGroupIngress"},
            {f"{ec2}:security-group/*"},
            {"StringEquals": {"aws:ResourceTag/SecurityIsolation:ManagedBy": "ec2-isolation"}},
        ),
        # DescribeInstanceAttribute acts on instances: on this account's and region's only, not "*"
        "ProtectInstance": (
            {"ec2:DescribeInstanceAttribute", "ec2:ModifyInstanceAttribute"},
            {f"{ec2}:instance/*"},
            None,
        ),
        "SnapshotVolumes": (
            {"ec2:CreateSnapshots"},
            {f"{ec2}:instance/*", f"{ec2}:volume/*", f"arn:aws:ec2:{REGION}::snapshot/*"},
            None,
        ),
        "TagSnapshotsOnCreate": (
            {"ec2:CreateTags"},
            {f"arn:aws:ec2:{REGION}::snapshot/*"},
            {"StringEquals": {"ec2:CreateAction": "CreateSnapshots"}},
        ),
        "FindInstanceRole": (
            {"iam:GetInstanceProfile"},
            {f"arn:aws:iam::{ACCOUNT}:instance-profile/*"},
            None,
        ),
        "RevokeInstanceCredentials": (
            {"iam:GetRolePolicy", "iam:PutRolePolicy"},
            {f"arn:aws:iam::{ACCOUNT}:role/*"},
            None,
        ),
        "NeverOnOwnRoles": (
            {"iam:PutRolePolicy"},
            {
                f"arn:aws:iam::{ACCOUNT}:role/ec2-isolation-lambda",
                f"arn:aws:iam::{ACCOUNT}:role/ec2-isolation-isolation",
            },
            None,
        ),
        "LeaveAutoScalingGroup": (
            {"autoscaling:AttachInstances", "autoscaling:DetachInstances"},
            {f"arn:aws:autoscaling:{REGION}:{ACCOUNT}:autoScalingGroup:*:autoScalingGroupName/*"},
            None,
        ),
        "LeaveTargetGroups": (
            {"elasticloadbalancing:DeregisterTargets", "elasticloadbalancing:RegisterTargets"},
            {f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/*/*"},
            None,
        ),
        "PutResultEvents": (
            {"events:PutEvents"},
            {f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default"},
            {
                "StringEquals": {
                    "events:source": "ec2-isolation",
                    "events:detail-type": [
                        "EC2 Isolation Caught Up",
                        "EC2 Isolation Completed",
                        "EC2 Isolation Drift Repaired",
                        "EC2 Isolation Dry Run",
                        "EC2 Isolation Evidence In Custody",
                        "EC2 Isolation Failed",
                        "EC2 Isolation Group Resealed",
                        "EC2 Isolation Needs Attention",
                        "EC2 Isolation Record Closed",
                        "EC2 Isolation Released",
                    ],
                }
            },
        ),
    }
    actual = {
        sid: (as_set(statement["Action"]), as_set(statement["Resource"]), statement.get("Condition"))
        for sid, statement in statements.items()
    }

    assert actual == expected
    assert {sid for sid, statement in statements.items() if statement["Effect"] != "Allow"} == {
        "NeverOnOwnRoles",
        "NeverPassOwnRole",
    }
    assert not any(
        "NotAction" in statement or "NotResource" in statement for statement in statements.values()
    )


def test_status_tags_cannot_rewrite_the_trigger_tag(example_plan: Plan) -> None:
    """Then the only instance tags the Lambda may write start with "<key>:", so not the trigger tag itself."""
    statements = statements_by_sid(example_plan.policy("aws_iam_role_policy.lambda"))
    instance_tagging = [
        statement
        for statement in statements.values()
        if "ec2:CreateTags" in as_set(statement["Action"])
        and any(resource.endswith(":instance/*") for resource in as_set(statement["Resource"]))
    ]

    assert [statement["Sid"] for statement in instance_tagging] == ["TagInstanceStatus"]
    (pattern,) = as_set(instance_tagging[0]["Condition"]["ForAllValues:StringLike"]["aws:TagKeys"])
    assert pattern == "SecurityIsolation:*"
    assert not "SecurityIsolation".startswith(pattern.rstrip("*"))


def isolation_iam_references(plan: Plan, address: str, attribute: str) -> list[str]:
    """The references of ``attribute`` of ``address`` in the configuration of modules/isolation-target's
    iam module (the plan's configuration, through the module calls)."""
    module = plan.module_configuration
    for call in ("isolation_target", "iam"):
        module = module["module_calls"][call]["module"]
    (resource,) = [resource for resource in module["resources"] if resource["address"] == address]
    references: list[str] = resource["expressions"][attribute]["references"]
    return references


def test_isolation_role_denies_everything(example_plan: Plan) -> None:
    """Then isolated instances get a profile whose role only EC2 can assume and which denies every action."""
    role = example_plan.after(ISOLATION_ROLE)
    (trust,) = json.loads(role["assume_role_policy"])["Statement"]
    (deny,) = example_plan.policy(ISOLATION_POLICY)["Statement"]
    profile = example_plan.after(ISOLATION_PROFILE)

    assert role["name"] == "ec2-isolation-isolation"
    assert trust["Principal"] == {"Service": "ec2.amazonaws.com"}
    assert trust["Action"] == "sts:AssumeRole"
    assert {key: deny[key] for key in ("Effect", "Action", "Resource")} == {
        "Effect": "Deny",
        "Action": "*",
        "Resource": "*",
    }
    assert "Condition" not in deny
    assert profile["name"] == "ec2-isolation-isolation"
    assert "aws_iam_role.isolation.name" in isolation_iam_references(
        example_plan, "aws_iam_instance_profile.isolation", "role"
    )


# --------------------------------------------------------------------------------------------------
# Every input set: the variables reach the resources
# --------------------------------------------------------------------------------------------------


def test_custom_tag_key_and_value_drive_the_rule(custom_plan: Plan) -> None:
    """Given isolation_tag_key=Quarantine and isolation_tag_value=Now, then the rule matches those."""
    rule = custom_plan.after("aws_cloudwatch_event_rule.this")

    assert json.loads(rule["event_pattern"]) == expected_event_pattern("Quarantine", "Now", "Lift")
    assert rule["name"] == "ir-quarantine-on-isolation-tag"


def test_custom_inputs_reach_the_function(custom_plan: Plan) -> None:
    """Given every input set, then the function's settings and environment follow them."""
    function = custom_plan.after("aws_lambda_function.this")
    (environment,) = function["environment"]

    assert function["function_name"] == "ir-quarantine"
    assert function["architectures"] == ["x86_64"]
    assert function["timeout"] == 120
    assert function["memory_size"] == 512
    assert function["tags"] == {"Team": "incident-response"}
    assert environment["variables"] == {
        "ISOLATION_TAG_KEY": "Quarantine",
        "ISOLATION_TAG_VALUE": "Now",
        "RELEASE_TAG_VALUE": "Lift",
        "DRY_RUN": "true",
        "STATUS_TAG_PREFIX": "Quarantine:",
        "ISOLATION_SECURITY_GROUP_NAME": "quarantine-no-traffic",
        "ISOLATION_INSTANCE_PROFILE_ARN": (
            f"arn:aws:iam::{ACCOUNT}:instance-profile/security/ir-quarantine-isolation"
        ),
        "MANAGED_TAG_KEY": "Quarantine:ManagedBy",
        "MANAGED_TAG_VALUE": "ir-quarantine",
        "RESOURCE_TAGS": '{"Team":"incident-response"}',
        "LOG_LEVEL": "DEBUG",
        "RECORD_TABLE_NAME": "ir-quarantine-records",
        "RECORD_LOCK_SECONDS": "180",
        "UNTRACK_CONNECTIONS": "true",
        "UNTRACK_WAIT_SECONDS": "30",
        "TRANSITION_SECURITY_GROUP_NAME": "quarantine-no-traffic-untrack",
        "REVOKE_CREDENTIALS": "true",
        "REVOCATION_POLICY_PREFIX": "ir-quarantine-revoke-",
        "PROTECT_FROM_TERMINATION": "true",
        "SNAPSHOT_VOLUMES": "true",
        "AUTO_SCALING_ACTION": "standby",
        "AUTO_SCALING_DECREMENT_DESIRED_CAPACITY": "true",
        "DEREGISTER_TARGETS": "true",
        "DISASSOCIATE_ELASTIC_IPS": "true",
        "SNS_TOPIC_ARN": f"arn:aws:sns:eu-west-1:{ACCOUNT}:ir-quarantine",
        "RESULT_EVENT_SOURCE": "com.example.ir-quarantine",
        "MEMBER_ACCOUNT_IDS": "",
        "ORGANIZATION_ID": "",
        "EXECUTOR_ROLE_NAME": "/security/ir-quarantine-executor",
        "EXECUTOR_EXTERNAL_ID": "",
        "RECONCILE_QUEUE_URL": f"https://sqs.eu-west-1.amazonaws.com/{ACCOUNT}/ir-quarantine-reconcile",
        "RECONCILE_RULE_ARN": f"arn:aws:events:eu-west-1:{ACCOUNT}:rule/ir-quarantine-reconcile",
        "RECONCILE_FULL_RULE_ARN": f"arn:aws:events:eu-west-1:{ACCOUNT}:rule/ir-quarantine-reconcile-full",
        "RECONCILE_ON_API_CALLS": "false",
        "RECONCILE_REGIONS": "eu-west-1,eu-central-1",
        "RECONCILE_ACCOUNT_IDS": "",
        "FUNCTION_ROLE_ARN": f"arn:aws:iam::{ACCOUNT}:role/security/ir-quarantine-lambda",
        "METRICS_NAMESPACE": "IR/Quarantine",
        "EVIDENCE_LOCK_MODE": "compliance",
        "EVIDENCE_LOCK_DURATION_DAYS": "30",
        "EVIDENCE_LOCK_COOL_OFF_HOURS": "24",
        "EVIDENCE_CUSTODY": "false",
        "EVIDENCE_CUSTODY_KEY_ARN": "",
        "EVIDENCE_KEY_ALIAS": "alias/ir-quarantine-evidence",
    }


def test_custom_inputs_reach_logs_and_iam(custom_plan: Plan) -> None:
    """Given a KMS key, retention, role path, permissions boundary and region, then they are applied."""
    log_group = custom_plan.after("aws_cloudwatch_log_group.this")
    boundary = "arn:aws:iam::123456789012:policy/boundary"
    roles = {
        name: custom_plan.after(address)
        for name, address in (("lambda", "aws_iam_role.lambda"), ("isolation", ISOLATION_ROLE))
    }
    statements = statements_by_sid(custom_plan.policy("aws_iam_role_policy.lambda"))
    ec2 = f"arn:aws:ec2:eu-west-1:{ACCOUNT}"

    assert log_group["name"] == "/aws/lambda/ir-quarantine"
    assert log_group["retention_in_days"] == 30
    assert log_group["kms_key_id"].startswith("arn:aws:kms:eu-west-1:123456789012:key/")
    assert {
        name: (role["name"], role["path"], role["permissions_boundary"]) for name, role in roles.items()
    } == {
        "lambda": ("ir-quarantine-lambda", "/security/", boundary),
        "isolation": ("ir-quarantine-isolation", "/security/", boundary),
    }
    assert custom_plan.after(ISOLATION_PROFILE)["path"] == "/security/"
    assert (
        statements["Logs"]["Resource"]
        == f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:/aws/lambda/ir-quarantine:*"
    )
    assert as_set(statements["SwapInstanceProfile"]["Resource"]) == {f"{ec2}:instance/*"}
    assert (
        statements["PassIsolationRole"]["Resource"]
        == f"arn:aws:iam::{ACCOUNT}:role/security/ir-quarantine-isolation"
    )
    assert statements["SealIsolationGroup"]["Condition"] == {
        "StringEquals": {"aws:ResourceTag/Quarantine:ManagedBy": "ir-quarantine"}
    }
    assert statements["TagInstanceStatus"]["Condition"]["ForAllValues:StringLike"] == {
        "aws:TagKeys": "Quarantine:*"
    }


def test_custom_containment_switches_shape_the_policy(custom_plan: Plan) -> None:
    """Given standby, Elastic IP release and narrower revocation and release paths, then the grants follow
    them (each step's grant also covers its undoing at release)."""
    statements = statements_by_sid(custom_plan.policy("aws_iam_role_policy.lambda"))
    ec2 = f"arn:aws:ec2:eu-west-1:{ACCOUNT}"

    assert as_set(statements["LeaveAutoScalingGroup"]["Action"]) == {
        "autoscaling:EnterStandby",
        "autoscaling:ExitStandby",
    }
    assert as_set(statements["DisassociateElasticIps"]["Action"]) == {"ec2:DisassociateAddress"}
    assert as_set(statements["ReassociateElasticIps"]["Action"]) == {"ec2:AssociateAddress"}
    assert statements["PassOriginalRoles"]["Resource"] == f"arn:aws:iam::{ACCOUNT}:role/workloads/*"
    assert statements["NeverPassOwnRole"]["Resource"] == (
        f"arn:aws:iam::{ACCOUNT}:role/security/ir-quarantine-lambda"
    )
    assert as_set(statements["DisassociateElasticIps"]["Resource"]) == {
        f"{ec2}:elastic-ip/*",
        f"{ec2}:network-interface/*",
    }
    assert as_set(statements["ReassociateElasticIps"]["Resource"]) == {
        f"{ec2}:elastic-ip/*",
        f"{ec2}:network-interface/*",
        f"{ec2}:instance/*",
    }
    assert "ec2:DescribeAddresses" in as_set(statements["Describe"]["Action"])
    assert statements["RevokeInstanceCredentials"]["Resource"] == f"arn:aws:iam::{ACCOUNT}:role/workloads/*"
    assert as_set(statements["NeverOnOwnRoles"]["Resource"]) == {
        f"arn:aws:iam::{ACCOUNT}:role/security/ir-quarantine-lambda",
        f"arn:aws:iam::{ACCOUNT}:role/security/ir-quarantine-isolation",
    }


# --------------------------------------------------------------------------------------------------
# Every containment-depth step switched off: its grants are gone
# --------------------------------------------------------------------------------------------------

OPTIONAL_STATEMENTS = {
    "OpenTransitionGroup",
    "ProtectInstance",
    "SnapshotVolumes",
    "TagSnapshotsOnCreate",
    "FindInstanceRole",
    "RevokeInstanceCredentials",
    "NeverOnOwnRoles",
    "LeaveAutoScalingGroup",
    "LeaveTargetGroups",
    "DisassociateElasticIps",
    "ReassociateElasticIps",
    "PublishSummaries",
    "EncryptSummaries",
    "PutResultEvents",
    "EncryptFailedInvocations",
    "SweepRecords",
    "SendReconcileWork",
    "PollReconcileQueue",
}


def test_switched_off_steps_get_no_grant(minimal_plan: Plan) -> None:
    statements = statements_by_sid(minimal_plan.policy("aws_iam_role_policy.lambda"))

    assert set(statements) & OPTIONAL_STATEMENTS == set()
    assert as_set(statements["Describe"]["Action"]) == {
        "ec2:DescribeInstances",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeSecurityGroupRules",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeIamInstanceProfileAssociations",
    }
    (environment,) = minimal_plan.after("aws_lambda_function.this")["environment"]
    switches = {k: v for k, v in environment["variables"].items() if v in ("true", "false")}
    assert switches == {
        "DRY_RUN": "false",
        "UNTRACK_CONNECTIONS": "false",
        "REVOKE_CREDENTIALS": "false",
        "PROTECT_FROM_TERMINATION": "false",
        "SNAPSHOT_VOLUMES": "false",
        "AUTO_SCALING_DECREMENT_DESIRED_CAPACITY": "false",
        "DEREGISTER_TARGETS": "false",
        "DISASSOCIATE_ELASTIC_IPS": "false",
        "RECONCILE_ON_API_CALLS": "false",
        "EVIDENCE_CUSTODY": "false",
    }
    assert environment["variables"]["AUTO_SCALING_ACTION"] == "none"


def test_the_record_table_is_encrypted_recoverable_and_protected(
    example_plan: Plan, custom_plan: Plan
) -> None:
    """Then the records are encrypted at rest, point-in-time recoverable, and deletion-protected by default."""
    table = custom_plan.after("aws_dynamodb_table.records")
    assert table["name"] == "ir-quarantine-records"
    assert table["hash_key"] == "instance_id"
    assert table["billing_mode"] == "PAY_PER_REQUEST"
    assert [s["enabled"] for s in table["server_side_encryption"]] == [True]
    assert [p["enabled"] for p in table["point_in_time_recovery"]] == [True]
    assert table["deletion_protection_enabled"] is True
    # examples/basic is applied and destroyed by the tests, so it turns the protection off
    assert example_plan.after("aws_dynamodb_table.records")["deletion_protection_enabled"] is False
