"""The reconciler (reconcile.tf), as planned: the two schedule rules, the reconcile queue and its event
source mapping, the rule on CloudTrail-recorded API calls, the drift alarm, the function's environment
and grants; and, in the organization layout, the members' forwarding of those API calls and the central
bus policy that accepts them.

The API-call pattern is read from the plans and evaluated with moto's EventPattern matcher (a port of
EventBridge matching) against "AWS API Call via CloudTrail" events of the shape CloudTrail documents.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, cast

import pytest
from moto.events.models import EventPattern

from tests.terraform.conftest import Workspace, plan_on_the_binary
from tests.terraform.plan import Plan, as_set, statements_by_sid
from tools import tfcli

pytestmark = pytest.mark.terraform

ACCOUNT = tfcli.FAKE_ACCOUNT_ID
REGION = "us-east-1"
RULE = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/ec2-isolation-"
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:ec2-isolation-reconcile"
QUEUE_URL = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/ec2-isolation-reconcile"
DEAD_LETTERS = f"arn:aws:sqs:{REGION}:{ACCOUNT}:ec2-isolation-dead-letters"
FUNCTION_ROLE = f"arn:aws:iam::{ACCOUNT}:role/ec2-isolation-lambda"
RECORDS = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/ec2-isolation-records"

SCHEDULES = {
    # mode: (rule name, schedule, permission statement id)
    "sweep": ("ec2-isolation-reconcile", "rate(5 minutes)", "AllowInvokeFromReconcileRule"),
    "full": ("ec2-isolation-reconcile-full", "rate(1 day)", "AllowInvokeFromReconcileFullRule"),
}
QUEUE_RESOURCES = {"aws_sqs_queue.reconcile[0]", "aws_lambda_event_source_mapping.reconcile[0]"}
SCHEDULE_RESOURCES = {
    f'{kind}["{mode}"]'
    for mode in SCHEDULES
    for kind in (
        "aws_cloudwatch_event_rule.reconcile",
        "aws_cloudwatch_event_target.reconcile",
        "aws_lambda_permission.reconcile",
    )
}
API_CALL_RESOURCES = {
    "aws_cloudwatch_event_rule.api_call[0]",
    "aws_cloudwatch_event_target.api_call[0]",
    "aws_lambda_permission.api_call[0]",
}
DRIFT_ALARM = "aws_cloudwatch_metric_alarm.drift_repaired[0]"
RECONCILE_RESOURCES = QUEUE_RESOURCES | SCHEDULE_RESOURCES | API_CALL_RESOURCES | {DRIFT_ALARM}
#: the statements of the function's policy that serve the sweeps
SWEEP_STATEMENTS = {"SweepRecords", "SendReconcileWork", "PollReconcileQueue"}
API_CALL_NAMES = [
    "ModifyNetworkInterfaceAttribute",
    "ModifyInstanceAttribute",
    "AttachNetworkInterface",
    "AssociateIamInstanceProfile",
    "ReplaceIamInstanceProfileAssociation",
    "DisassociateIamInstanceProfile",
    "AuthorizeSecurityGroupIngress",
    "AuthorizeSecurityGroupEgress",
    "AttachInstances",
    "ExitStandby",
    "RegisterTargets",
]

SCHEDULES_OFF_DIR = Path("examples") / "reconcile-schedules-off-test"
SCHEDULES_OFF_TF = """
provider "aws" {
  region = "us-east-1"
}

module "ec2_isolation" {
  source = "../../"

  reconcile_schedule      = null
  reconcile_full_schedule = null
}

output "reconcile_queue_url" {
  value = module.ec2_isolation.reconcile_queue_url
}

output "reconcile_rule_arn" {
  value = module.ec2_isolation.reconcile_rule_arn
}

output "api_call_rule_arn" {
  value = module.ec2_isolation.api_call_rule_arn
}
"""
RECONCILE_OFF_DIR = Path("examples") / "reconcile-off-test"
RECONCILE_OFF_TF = """
provider "aws" {
  region = "us-east-1"
}

module "ec2_isolation" {
  source = "../../"

  reconcile_schedule      = null
  reconcile_full_schedule = null
  reconcile_on_api_calls  = false
}

output "alarm_names" {
  value = module.ec2_isolation.alarm_names
}

output "api_call_rule_arn" {
  value = module.ec2_isolation.api_call_rule_arn
}
"""


@pytest.fixture(scope="module")
def schedules_off_plan(
    tmp_path_factory: pytest.TempPathFactory, terraform_env: dict[str, str], lambda_package: Path
) -> Plan:
    """Both schedules null, the API-call rule on (its default)."""
    return plan_on_the_binary(
        tmp_path_factory, terraform_env, "reconcile-schedules-off", SCHEDULES_OFF_DIR, SCHEDULES_OFF_TF
    )


@pytest.fixture(scope="module")
def reconcile_off_plan(
    tmp_path_factory: pytest.TempPathFactory, terraform_env: dict[str, str], lambda_package: Path
) -> Plan:
    """The reconciler switched off entirely; the failure path's alarms on (their default)."""
    return plan_on_the_binary(
        tmp_path_factory, terraform_env, "reconcile-off", RECONCILE_OFF_DIR, RECONCILE_OFF_TF
    )


def configured(address: str) -> str:
    """The configuration address of a planned instance: ``x.y["k"]`` or ``x.y[0]`` -> ``x.y``."""
    return address.split("[", 1)[0]


def planned(plan: Plan) -> set[str]:
    """The module's planned resource addresses, without the module prefix."""
    return {address.removeprefix("module.ec2_isolation.") for address in plan.resource_changes}


def environment(plan: Plan) -> dict[str, str]:
    (settings,) = plan.after("aws_lambda_function.this")["environment"]
    variables: dict[str, str] = settings["variables"]
    return variables


# --------------------------------------------------------------------------------------------------
# The defaults (examples/basic): everything on
# --------------------------------------------------------------------------------------------------


def test_by_default_every_reconciler_resource_is_planned(example_plan: Plan) -> None:
    """Given the defaults, then both schedule rules (target, permission), the queue and its mapping, the
    API-call rule (target, permission) and the drift alarm are planned, as creations."""
    assert planned(example_plan) >= RECONCILE_RESOURCES
    for address in RECONCILE_RESOURCES:
        assert example_plan.change(address)["change"]["actions"] == ["create"], address


def test_the_schedule_rules_run_on_the_default_schedules(example_plan: Plan) -> None:
    """Then <name>-reconcile runs every 5 minutes and <name>-reconcile-full daily, on the default bus."""
    for mode, (name, schedule, _) in SCHEDULES.items():
        rule = example_plan.after(f'aws_cloudwatch_event_rule.reconcile["{mode}"]')
        assert (rule["name"], rule["schedule_expression"], rule["event_bus_name"]) == (
            name,
            schedule,
            "default",
        )
        assert rule["event_pattern"] is None


def test_the_schedule_targets_deliver_the_real_event_with_retries_and_the_dead_letter_queue(
    example_plan: Plan,
) -> None:
    """Then each schedule target is the function, with no input (the real "Scheduled Event", whose
    resources name the rule), the tag rule's retry policy and dead-letter queue."""
    tag_target = example_plan.after("aws_cloudwatch_event_target.this")
    targets = {mode: f'aws_cloudwatch_event_target.reconcile["{mode}"]' for mode in SCHEDULES}
    targets["api_call"] = "aws_cloudwatch_event_target.api_call[0]"
    for target in targets.values():
        after = example_plan.after(target)
        for argument in ("input", "input_path"):
            assert after.get(argument) is None, (target, argument)
        assert after.get("input_transformer") == [], target
        assert (
            after["retry_policy"]
            == tag_target["retry_policy"]
            == [{"maximum_retry_attempts": 185, "maximum_event_age_in_seconds": 3600}]
        )
        assert "aws_lambda_function.this.arn" in example_plan.references(configured(target), "arn")
        assert "aws_sqs_queue.dead_letter.arn" in example_plan.references(
            configured(target), "dead_letter_config", "arn"
        )


def test_each_permission_lets_only_its_rule_invoke_the_function(example_plan: Plan) -> None:
    """Then EventBridge may invoke the function for each reconciler rule, that rule only."""
    permissions = {
        f'aws_lambda_permission.reconcile["{mode}"]': statement
        for mode, (_, _, statement) in SCHEDULES.items()
    }
    permissions["aws_lambda_permission.api_call[0]"] = "AllowInvokeFromApiCallRule"
    for address, statement_id in permissions.items():
        permission = example_plan.after(address)
        assert (permission["statement_id"], permission["action"], permission["principal"]) == (
            statement_id,
            "lambda:InvokeFunction",
            "events.amazonaws.com",
        )
        assert permission["function_name"] == "ec2-isolation"
        assert example_plan.after_unknown(address)["source_arn"] is True
    # each schedule's permission names the rule of its own key (the ARN, known after apply)
    assert example_plan.references("aws_lambda_permission.reconcile", "source_arn") == [
        "aws_cloudwatch_event_rule.reconcile",
        "each.key",
    ]
    assert "aws_cloudwatch_event_rule.api_call[0].arn" in example_plan.references(
        "aws_lambda_permission.api_call", "source_arn"
    )


def test_the_queue_is_encrypted_short_lived_and_redrives_to_the_dead_letter_queue(example_plan: Plan) -> None:
    """Then the reconcile queue hides a message for 6 x the function's timeout, keeps it a day, is
    encrypted with SSE-SQS (no key given), and sends what failed 3 receives to the dead-letter queue."""
    queue = example_plan.after("aws_sqs_queue.reconcile[0]")

    assert queue["name"] == "ec2-isolation-reconcile"
    assert queue["visibility_timeout_seconds"] == 6 * 120
    assert queue["message_retention_seconds"] == 86400
    assert queue["sqs_managed_sse_enabled"] is True
    assert queue["kms_master_key_id"] is None
    assert json.loads(queue["redrive_policy"]) == {"deadLetterTargetArn": DEAD_LETTERS, "maxReceiveCount": 3}
    assert queue["fifo_queue"] is False


def test_only_the_function_may_send_to_the_reconcile_queue(example_plan: Plan) -> None:
    """Then the queue's policy denies sqs:SendMessage to every principal but the function's role: its
    messages are the function's own work, whatever another principal's IAM policy grants."""
    (statement,) = example_plan.policy("aws_sqs_queue.reconcile[0]")["Statement"]

    assert statement == {
        "Sid": "OnlyTheFunctionSends",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "sqs:SendMessage",
        "Resource": QUEUE_ARN,
        "Condition": {"ArnNotEquals": {"aws:PrincipalArn": FUNCTION_ROLE}},
    }


def test_a_given_key_encrypts_the_reconcile_queue_like_the_dead_letter_queue(custom_plan: Plan) -> None:
    """Given dead_letter_queue_kms_key_arn, then the reconcile queue is encrypted with it too (not SSE-SQS),
    its visibility follows lambda_timeout, and the function may use the key through SQS only."""
    key = "arn:aws:kms:eu-west-1:123456789012:key/9abcabcd-12ab-34cd-56ef-1234567890ab"
    queue = custom_plan.after("aws_sqs_queue.reconcile[0]")
    statements = statements_by_sid(custom_plan.policy("aws_iam_role_policy.lambda"))

    assert queue["name"] == "ir-quarantine-reconcile"
    assert queue["kms_master_key_id"] == key
    assert queue.get("sqs_managed_sse_enabled") is not True  # computed by SQS: false with a key
    assert queue["kms_data_key_reuse_period_seconds"] == 300
    assert queue["visibility_timeout_seconds"] == 720
    encrypt = statements["EncryptFailedInvocations"]
    assert (as_set(encrypt["Action"]), encrypt["Resource"]) == ({"kms:Decrypt", "kms:GenerateDataKey"}, key)
    assert encrypt["Condition"] == {"StringEquals": {"kms:ViaService": "sqs.eu-west-1.amazonaws.com"}}


def test_the_event_source_mapping_takes_one_message_at_a_time_with_bounded_concurrency(
    example_plan: Plan,
) -> None:
    """Then the mapping reads the reconcile queue for the function, one message per invocation, reports
    the failed messages only, and runs at most 10 at once (the default)."""
    mapping = example_plan.after("aws_lambda_event_source_mapping.reconcile[0]")

    assert mapping["batch_size"] == 1
    assert mapping["function_response_types"] == ["ReportBatchItemFailures"]
    assert mapping["scaling_config"] == [{"maximum_concurrency": 10}]
    assert mapping["enabled"] is True
    assert "aws_sqs_queue.reconcile[0].arn" in example_plan.references(
        "aws_lambda_event_source_mapping.reconcile", "event_source_arn"
    )
    assert "aws_lambda_function.this.arn" in example_plan.references(
        "aws_lambda_event_source_mapping.reconcile", "function_name"
    )
    # The role may read the queue before Lambda checks it.
    assert (
        "aws_iam_role_policy.lambda"
        in example_plan.configuration("aws_lambda_event_source_mapping.reconcile")["depends_on"]
    )


def test_the_dead_letter_queue_accepts_undelivered_events_from_the_reconcilers_rules(
    example_plan: Plan,
) -> None:
    """Then the dead-letter queue's policy lets EventBridge send for the tag rule and the three
    reconciler rules, by their ARNs (built from names, checked by the rules' postconditions)."""
    (statement,) = example_plan.policy("aws_sqs_queue.dead_letter")["Statement"]

    assert as_set(statement["Condition"]["ArnEquals"]["aws:SourceArn"]) == {
        f"{RULE}on-isolation-tag",
        f"{RULE}reconcile",
        f"{RULE}reconcile-full",
        f"{RULE}on-api-call",
    }


def test_the_function_is_told_the_reconcilers_settings(example_plan: Plan) -> None:
    """Then the function's environment names the queue, both rules, its own role, the regions (the
    module's), no other account (none served) and the metrics namespace, all known at plan time."""
    variables = environment(example_plan)

    assert {key: value for key, value in variables.items() if key.startswith("RECONCILE_")} == {
        "RECONCILE_QUEUE_URL": QUEUE_URL,
        "RECONCILE_RULE_ARN": f"{RULE}reconcile",
        "RECONCILE_FULL_RULE_ARN": f"{RULE}reconcile-full",
        "RECONCILE_ON_API_CALLS": "true",
        "RECONCILE_REGIONS": REGION,
        "RECONCILE_ACCOUNT_IDS": "",
    }
    assert variables["FUNCTION_ROLE_ARN"] == FUNCTION_ROLE
    assert variables["METRICS_NAMESPACE"] == "EC2Isolation"


def test_the_function_may_scan_the_records_and_use_exactly_the_reconcile_queue(example_plan: Plan) -> None:
    """Then the role may Scan the record table (the open records), send to the reconcile queue, and
    receive, delete and read the attributes of its messages (the event source mapping): on exact ARNs."""
    statements = statements_by_sid(example_plan.policy("aws_iam_role_policy.lambda"))

    assert {
        sid: (
            as_set(statements[sid]["Action"]),
            as_set(statements[sid]["Resource"]),
            statements[sid]["Effect"],
        )
        for sid in SWEEP_STATEMENTS
    } == {
        "SweepRecords": ({"dynamodb:Scan"}, {RECORDS}, "Allow"),
        "SendReconcileWork": ({"sqs:SendMessage"}, {QUEUE_ARN}, "Allow"),
        "PollReconcileQueue": (
            {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"},
            {QUEUE_ARN},
            "Allow",
        ),
    }
    assert not any("Condition" in statements[sid] for sid in SWEEP_STATEMENTS)


def test_the_drift_alarm_fires_on_one_repair_in_five_minutes(example_plan: Plan) -> None:
    """Then <name>-drift-repaired sums DriftRepaired and GroupsResealed of the function over 5 minutes,
    alarms at 1, and treats no data (no repair) as fine."""
    alarm = example_plan.after(DRIFT_ALARM)
    queries = {query["id"]: query for query in alarm["metric_query"]}

    assert alarm["alarm_name"] == "ec2-isolation-drift-repaired"
    assert (alarm["comparison_operator"], alarm["threshold"], alarm["evaluation_periods"]) == (
        "GreaterThanOrEqualToThreshold",
        1,
        1,
    )
    assert alarm["treat_missing_data"] == "notBreaching"
    assert queries["drift"]["expression"] == "FILL(repaired, 0) + FILL(resealed, 0)"
    assert [query["id"] for query in alarm["metric_query"] if query["return_data"]] == ["drift"]
    for query_id, metric_name in (("repaired", "DriftRepaired"), ("resealed", "GroupsResealed")):
        (metric,) = queries[query_id]["metric"]
        assert (metric["namespace"], metric["metric_name"], metric["period"], metric["stat"]) == (
            "EC2Isolation",
            metric_name,
            300,
            "Sum",
        )
        assert metric["dimensions"] == {"FunctionName": "ec2-isolation"}
    # examples/basic has no topic and no alarm_actions: as its other alarms
    assert (
        alarm["alarm_actions"]
        == example_plan.after('aws_cloudwatch_metric_alarm.this["errors"]')["alarm_actions"]
    )


def test_the_drift_alarm_notifies_the_topic_and_the_given_actions(custom_plan: Plan) -> None:
    """Given a topic and alarm_actions, then the drift alarm notifies both, on its own namespace."""
    alarm = custom_plan.after(DRIFT_ALARM)
    topic = f"arn:aws:sns:eu-west-1:{ACCOUNT}:ir-quarantine"

    assert alarm["alarm_name"] == "ir-quarantine-drift-repaired"
    assert (
        set(alarm["alarm_actions"])
        == set(alarm["ok_actions"])
        == {
            topic,
            "arn:aws:sns:eu-west-1:123456789012:on-call",
        }
    )
    namespaces = {metric["namespace"] for query in alarm["metric_query"] for metric in query["metric"]}
    assert namespaces == {"IR/Quarantine"}
    assert custom_plan.data["output_changes"]["alarm_names"]["after"]["drift_repaired"] == (
        "ir-quarantine-drift-repaired"
    )


def test_the_reconcilers_resources_carry_the_tags(example_plan: Plan) -> None:
    """Then every taggable reconciler resource carries the example's tags."""
    call = example_plan.data["configuration"]["root_module"]["module_calls"]["ec2_isolation"]
    tags = call["expressions"]["tags"]["constant_value"]
    taggable = {
        "aws_sqs_queue.reconcile[0]",
        "aws_lambda_event_source_mapping.reconcile[0]",
        'aws_cloudwatch_event_rule.reconcile["sweep"]',
        'aws_cloudwatch_event_rule.reconcile["full"]',
        "aws_cloudwatch_event_rule.api_call[0]",
        DRIFT_ALARM,
    }
    assert tags
    assert {address: example_plan.after(address)["tags"] for address in taggable} == dict.fromkeys(
        taggable, tags
    )


def test_the_outputs_name_the_queue_and_the_rules(complete_plan: Plan) -> None:
    """Then the queue's URL and ARN and the three rules' ARNs are outputs (known after apply), here of
    examples/complete (every output re-exported)."""
    outputs = complete_plan.data["output_changes"]
    for name in (
        "reconcile_queue_url",
        "reconcile_queue_arn",
        "reconcile_rule_arn",
        "reconcile_full_rule_arn",
        "api_call_rule_arn",
    ):
        assert outputs[name]["after_unknown"] is True, name


# --------------------------------------------------------------------------------------------------
# Every input set (the custom plan), and the reconciler switched off
# --------------------------------------------------------------------------------------------------


def test_custom_reconciler_inputs_reach_the_rules_the_mapping_and_the_function(custom_plan: Plan) -> None:
    """Given a cron sweep, a 12-hour full sweep, concurrency 4, other regions, no API-call rule and
    another namespace, then the rules, the mapping and the environment follow them."""
    rules = {mode: custom_plan.after(f'aws_cloudwatch_event_rule.reconcile["{mode}"]') for mode in SCHEDULES}
    variables = environment(custom_plan)

    assert {mode: (rule["name"], rule["schedule_expression"]) for mode, rule in rules.items()} == {
        "sweep": ("ir-quarantine-reconcile", "cron(0/10 * * * ? *)"),
        "full": ("ir-quarantine-reconcile-full", "rate(12 hours)"),
    }
    assert custom_plan.after("aws_lambda_event_source_mapping.reconcile[0]")["scaling_config"] == [
        {"maximum_concurrency": 4}
    ]
    assert not API_CALL_RESOURCES & planned(custom_plan)
    assert {key: value for key, value in variables.items() if key.startswith(("RECONCILE_", "METRICS_"))} == {
        "RECONCILE_QUEUE_URL": f"https://sqs.eu-west-1.amazonaws.com/{ACCOUNT}/ir-quarantine-reconcile",
        "RECONCILE_RULE_ARN": f"arn:aws:events:eu-west-1:{ACCOUNT}:rule/ir-quarantine-reconcile",
        "RECONCILE_FULL_RULE_ARN": f"arn:aws:events:eu-west-1:{ACCOUNT}:rule/ir-quarantine-reconcile-full",
        "RECONCILE_ON_API_CALLS": "false",
        "RECONCILE_REGIONS": "eu-west-1,eu-central-1",
        "RECONCILE_ACCOUNT_IDS": "",
        "METRICS_NAMESPACE": "IR/Quarantine",
    }
    assert variables["FUNCTION_ROLE_ARN"] == f"arn:aws:iam::{ACCOUNT}:role/security/ir-quarantine-lambda"
    (statement,) = custom_plan.policy("aws_sqs_queue.dead_letter")["Statement"]
    assert f"arn:aws:events:eu-west-1:{ACCOUNT}:rule/ir-quarantine-on-api-call" not in as_set(
        statement["Condition"]["ArnEquals"]["aws:SourceArn"]
    )


def test_without_schedules_there_is_no_queue_no_mapping_and_no_sweep_grant(schedules_off_plan: Plan) -> None:
    """Given both schedules null, then no schedule rule, queue or mapping is planned, the function may not
    Scan nor use a queue, and its environment says so ("" for each); the API-call rule stays."""
    resources = planned(schedules_off_plan)
    statements = statements_by_sid(schedules_off_plan.policy("aws_iam_role_policy.lambda"))
    variables = environment(schedules_off_plan)
    (queue_policy,) = schedules_off_plan.policy("aws_sqs_queue.dead_letter")["Statement"]
    outputs = schedules_off_plan.data["output_changes"]

    assert resources & (QUEUE_RESOURCES | SCHEDULE_RESOURCES) == set()
    assert API_CALL_RESOURCES | {DRIFT_ALARM} <= resources
    assert set(statements) & SWEEP_STATEMENTS == set()
    assert not any(
        action.startswith("sqs:") and action != "sqs:SendMessage"
        for statement in statements.values()
        for action in as_set(statement["Action"])
    )
    assert (
        variables["RECONCILE_QUEUE_URL"],
        variables["RECONCILE_RULE_ARN"],
        variables["RECONCILE_FULL_RULE_ARN"],
    ) == (
        "",
        "",
        "",
    )
    assert variables["RECONCILE_ON_API_CALLS"] == "true"
    assert as_set(queue_policy["Condition"]["ArnEquals"]["aws:SourceArn"]) == {
        f"{RULE}on-isolation-tag",
        f"{RULE}on-api-call",
    }
    assert outputs["reconcile_queue_url"]["after"] is None
    assert outputs["reconcile_rule_arn"]["after"] is None
    assert outputs["api_call_rule_arn"]["after_unknown"] is True


def test_switched_off_the_reconciler_plans_nothing(reconcile_off_plan: Plan) -> None:
    """Given both schedules null and reconcile_on_api_calls false, then no reconciler resource is planned
    (no drift alarm either, with the other alarms on), and the dead-letter queue accepts the tag rule only."""
    (queue_policy,) = reconcile_off_plan.policy("aws_sqs_queue.dead_letter")["Statement"]
    outputs = reconcile_off_plan.data["output_changes"]

    assert planned(reconcile_off_plan) & RECONCILE_RESOURCES == set()
    assert 'aws_cloudwatch_metric_alarm.this["errors"]' in planned(reconcile_off_plan)
    assert environment(reconcile_off_plan)["RECONCILE_ON_API_CALLS"] == "false"
    assert queue_policy["Condition"]["ArnEquals"]["aws:SourceArn"] == f"{RULE}on-isolation-tag"
    assert set(outputs["alarm_names"]["after"]) == {
        "errors",
        "throttles",
        "destination_delivery_failures",
        "dead_letters",
    }
    assert outputs["api_call_rule_arn"]["after"] is None


# --------------------------------------------------------------------------------------------------
# Validation of the inputs
# --------------------------------------------------------------------------------------------------

#: (variable, HCL value, accepted?), all checked by one `terraform validate`
INPUT_CASES: list[tuple[str, str, bool]] = [
    ("reconcile_schedule", '"rate(1 minute)"', True),
    ("reconcile_schedule", '"rate(15 minutes)"', True),
    ("reconcile_schedule", '"rate(2 hours)"', True),
    ("reconcile_schedule", '"cron(0/5 * * * ? *)"', True),
    ("reconcile_schedule", "null", True),
    ("reconcile_schedule", '"rate(1 minutes)"', False),
    ("reconcile_schedule", '"rate(5 minute)"', False),
    ("reconcile_schedule", '"rate(0 minutes)"', False),
    ("reconcile_schedule", '"every 5 minutes"', False),
    ("reconcile_schedule", '"cron(0/5 * * * ?)"', False),
    ("reconcile_schedule", '"5 minutes"', False),
    ("reconcile_full_schedule", '"cron(0 3 * * ? *)"', True),
    ("reconcile_full_schedule", '"rate(1 day)"', True),
    ("reconcile_full_schedule", '"rate(1 week)"', False),
    ("reconcile_full_schedule", '"daily"', False),
    ("reconcile_maximum_concurrency", "2", True),
    ("reconcile_maximum_concurrency", "1", False),
    ("reconcile_maximum_concurrency", "1001", False),
    ("reconcile_maximum_concurrency", "2.5", False),
    ("reconcile_regions", '["eu-west-1", "us-gov-west-1"]', True),
    ("reconcile_regions", "[]", False),
    ("reconcile_regions", '["eu-west-1", "eu-west-1"]', False),
    ("reconcile_regions", '["EU-WEST-1"]', False),
    ("reconcile_regions", '["*"]', False),
    ("reconcile_account_ids", "[]", True),
    ("reconcile_account_ids", '["12345678901"]', False),
    ("reconcile_account_ids", '["111111111111", "111111111111"]', False),
    ("metrics_namespace", '"Security/EC2 Isolation"', True),
    ("metrics_namespace", '"AWS/EC2"', False),
    ("metrics_namespace", '""', False),
    ("metrics_namespace", '"bad|namespace"', False),
]


def test_the_reconcilers_inputs_are_validated(workspace: Workspace, initialized_root: Path) -> None:
    """Given one module call per case, when validated, then exactly the invalid values are refused: a
    schedule that is not rate(...) or cron(...) as EventBridge accepts it, a concurrency out of 2..1000,
    malformed regions or accounts, a reserved namespace."""
    directory = workspace.root / "examples" / "reconcile-validation-test"
    directory.mkdir()
    lines: list[str] = []
    case_lines: dict[int, int] = {}
    for index, (variable, value, _) in enumerate(INPUT_CASES):
        lines += [f'module "case_{index}" {{', '  source = "../../"']
        lines.append(f"  {variable} = {value}")
        case_lines[len(lines)] = index
        lines.append("}")
    (directory / "main.tf").write_text("\n".join(lines) + "\n", encoding="utf-8")
    workspace.init(directory.relative_to(workspace.root))

    result = workspace.terraform(["validate", "-json"], directory.relative_to(workspace.root), check=False)
    report = json.loads(result.stdout)

    rejected: set[int] = set()
    for diagnostic in report["diagnostics"]:
        assert diagnostic["summary"] == "Invalid value for variable", diagnostic
        line = diagnostic["range"]["start"]["line"]
        assert line in case_lines, diagnostic
        rejected.add(case_lines[line])
    wrongly = {
        f"{INPUT_CASES[i][0]} = {INPUT_CASES[i][1]}": "rejected" if i in rejected else "accepted"
        for i in range(len(INPUT_CASES))
        if (i in rejected) == INPUT_CASES[i][2]
    }
    assert wrongly == {}
    assert any(
        "EventBridge schedule expression" in diagnostic["detail"] for diagnostic in report["diagnostics"]
    )


# --------------------------------------------------------------------------------------------------
# The API-call pattern against CloudTrail events
# --------------------------------------------------------------------------------------------------


def cloudtrail_event(
    identity: dict[str, Any], *, event_name: str = "ModifyNetworkInterfaceAttribute", **detail: Any
) -> dict[str, Any]:
    """An "AWS API Call via CloudTrail" event of ModifyNetworkInterfaceAttribute (a security group change
    of an isolated instance's ENI), as EventBridge delivers it."""
    event: dict[str, Any] = {
        "version": "0",
        "id": "6f87d04b-9f74-4f04-a780-7acf4b0a9b38",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.ec2",
        "account": ACCOUNT,
        "time": "2025-03-04T10:21:37Z",
        "region": REGION,
        "resources": [],
        "detail": {
            "eventVersion": "1.10",
            "userIdentity": identity,
            "eventTime": "2025-03-04T10:21:37Z",
            "eventSource": "ec2.amazonaws.com",
            "eventName": event_name,
            "awsRegion": REGION,
            "sourceIPAddress": "198.51.100.23",
            "userAgent": "aws-cli/2.15.30 md/awscrt#0.19.19 ua/2.0 os/linux#6.1.0 md/arch#x86_64 lang/python#3.11.8",
            "requestParameters": {
                "networkInterfaceId": "eni-0a1b2c3d4e5f60718",
                "groupSet": {"items": [{"groupId": "sg-0123456789abcdef0"}]},
            },
            "responseElements": {"requestId": "0f3f1c9d-6a1e-4f0e-9b2a-2c6d7e8f9a0b", "_return": True},
            "requestID": "0f3f1c9d-6a1e-4f0e-9b2a-2c6d7e8f9a0b",
            "eventID": "a4c2b1f0-3e5d-4c7b-8a9f-0e1d2c3b4a59",
            "readOnly": False,
            "eventType": "AwsApiCall",
            "managementEvent": True,
            "recipientAccountId": ACCOUNT,
            "eventCategory": "Management",
            "tlsDetails": {
                "tlsVersion": "TLSv1.3",
                "cipherSuite": "TLS_AES_128_GCM_SHA256",
                "clientProvidedHostHeader": f"ec2.{REGION}.amazonaws.com",
            },
            **detail,
        },
    }
    return event


def assumed_role(role_arn: str, session: str = "jane.doe") -> dict[str, Any]:
    """userIdentity of a call made with a role session (sessionIssuer names the role, path included)."""
    account = role_arn.split(":")[4]
    name = role_arn.rsplit("/", 1)[-1]
    return {
        "type": "AssumedRole",
        "principalId": f"AROAEXAMPLEROLEID0001:{session}",
        "arn": f"arn:aws:sts::{account}:assumed-role/{name}/{session}",
        "accountId": account,
        "accessKeyId": "ASIAEXAMPLEKEYID0001",
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": "AROAEXAMPLEROLEID0001",
                "arn": role_arn,
                "accountId": account,
                "userName": name,
            },
            "webIdFederationData": {},
            "attributes": {"creationDate": "2025-03-04T10:02:11Z", "mfaAuthenticated": "false"},
        },
    }


IAM_USER = {
    "type": "IAMUser",
    "principalId": "AIDAEXAMPLEUSERID0001",
    "arn": f"arn:aws:iam::{ACCOUNT}:user/alice",
    "accountId": ACCOUNT,
    "accessKeyId": "AKIAEXAMPLEKEYID0001",
    "userName": "alice",
}
#: an IAM user in the console: a sessionContext with attributes, and an empty sessionIssuer
IAM_USER_CONSOLE = IAM_USER | {
    "sessionContext": {
        "sessionIssuer": {},
        "webIdFederationData": {},
        "attributes": {"creationDate": "2025-03-04T09:55:02Z", "mfaAuthenticated": "true"},
    }
}
ADMIN_ROLE = f"arn:aws:iam::{ACCOUNT}:role/Admin"


def matches(pattern_json: str, event: dict[str, Any]) -> bool:
    return bool(EventPattern.load(pattern_json).matches_event(cast(Any, event)))


def api_call_pattern(plan: Plan) -> str:
    pattern: str = plan.after("aws_cloudwatch_event_rule.api_call[0]")["event_pattern"]
    return pattern


def test_the_pattern_is_the_one_definition_with_the_functions_role_left_out(example_plan: Plan) -> None:
    """Then the rule takes modules/isolation-target's api_call_event_pattern: the three services, the
    calls that can undo an isolation, successful ones only, by anyone but the function's role."""
    pattern = json.loads(api_call_pattern(example_plan))

    assert "module.isolation_target.api_call_event_pattern" in example_plan.references(
        "aws_cloudwatch_event_rule.api_call", "event_pattern"
    )
    assert pattern["source"] == ["aws.ec2", "aws.autoscaling", "aws.elasticloadbalancing"]
    assert pattern["detail-type"] == ["AWS API Call via CloudTrail"]
    assert pattern["detail"]["eventName"] == API_CALL_NAMES
    assert pattern["detail"]["errorCode"] == [{"exists": False}]
    assert pattern["detail"]["userIdentity"]["$or"][0]["sessionContext"]["sessionIssuer"]["arn"] == [
        {"anything-but": [FUNCTION_ROLE]}
    ]


def test_a_call_by_another_role_matches(example_plan: Plan) -> None:
    """Given an administrator's role session moving an isolated ENI to another group, then the rule
    matches it, and every other call of the list made the same way."""
    pattern = api_call_pattern(example_plan)

    assert matches(pattern, cloudtrail_event(assumed_role(ADMIN_ROLE)))
    for name in API_CALL_NAMES:
        assert matches(pattern, cloudtrail_event(assumed_role(ADMIN_ROLE), event_name=name)), name


def test_a_call_by_an_iam_user_matches(example_plan: Plan) -> None:
    """Given the same call by an IAM user (no sessionContext) or in the console (no sessionIssuer
    ARN), then the rule matches it."""
    pattern = api_call_pattern(example_plan)

    assert matches(pattern, cloudtrail_event(IAM_USER))
    assert matches(pattern, cloudtrail_event(IAM_USER_CONSOLE))


def test_the_functions_own_calls_do_not_match(example_plan: Plan, custom_plan: Plan) -> None:
    """Given the call made by the function's own role (its repairs), then the rule does not match it;
    a role of the same name under another path, or in another account, still matches."""
    pattern = api_call_pattern(example_plan)

    assert not matches(pattern, cloudtrail_event(assumed_role(FUNCTION_ROLE, "ec2-isolation")))
    assert matches(
        pattern, cloudtrail_event(assumed_role(f"arn:aws:iam::{ACCOUNT}:role/other/ec2-isolation-lambda"))
    )
    assert matches(
        pattern, cloudtrail_event(assumed_role("arn:aws:iam::210987654321:role/ec2-isolation-lambda"))
    )


def test_failed_and_other_calls_do_not_match(example_plan: Plan) -> None:
    """Given a call that failed (errorCode), a read, another service's call or another detail-type,
    then the rule does not match it."""
    pattern = api_call_pattern(example_plan)
    denied = cloudtrail_event(
        assumed_role(ADMIN_ROLE),
        errorCode="Client.UnauthorizedOperation",
        errorMessage="You are not authorized to perform this operation.",
        responseElements=None,
    )
    read = cloudtrail_event(assumed_role(ADMIN_ROLE), event_name="DescribeNetworkInterfaces")
    other_source = cloudtrail_event(assumed_role(ADMIN_ROLE))
    other_source["detail"]["eventSource"] = "iam.amazonaws.com"
    other_type = copy.deepcopy(cloudtrail_event(assumed_role(ADMIN_ROLE)))
    other_type["detail-type"] = "AWS Service Event via CloudTrail"

    for event in (denied, read, other_source, other_type):
        assert not matches(pattern, event), event["detail"].get("errorCode") or event["detail"]["eventName"]


# --------------------------------------------------------------------------------------------------
# The organization layout: members forward the API calls, the central bus accepts them
# --------------------------------------------------------------------------------------------------

MEMBERS = {
    "workloads_a_primary": ("111111111111", "us-east-1"),
    "workloads_a_secondary": ("111111111111", "eu-west-1"),
    "workloads_b_primary": ("222222222222", "us-east-1"),
    "workloads_b_secondary": ("222222222222", "eu-west-1"),
}
CENTRAL_BUS = f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/default"


def member_after(plan: Plan, module: str, address: str) -> dict[str, Any]:
    full = f"module.{module}.{address}"
    assert full in plan.resource_changes, f"{full} is not planned"
    after: dict[str, Any] = plan.resource_changes[full]["change"]["after"]
    return after


def test_each_member_forwards_the_api_calls_to_the_central_bus(organization_plan: Plan) -> None:
    """Given examples/organization, then each member module forwards the API calls with the central
    pattern's definition, to the central bus, with the forwarding role, retries and its dead-letter
    queue, whose policy accepts both of its rules."""
    for module, (account, region) in MEMBERS.items():
        rule = member_after(organization_plan, module, "aws_cloudwatch_event_rule.forward_api_calls[0]")
        target = member_after(organization_plan, module, "aws_cloudwatch_event_target.forward_api_calls[0]")
        queue = member_after(organization_plan, module, "aws_sqs_queue.dead_letter")
        (statement,) = json.loads(queue["policy"])["Statement"]
        prefix = f"arn:aws:events:{region}:{account}:rule/ec2-isolation-forward-"

        assert rule["name"] == "ec2-isolation-forward-api-calls"
        assert (
            rule["tags"]
            == member_after(organization_plan, module, "aws_cloudwatch_event_rule.forward")["tags"]
        )
        assert (target["arn"], target["role_arn"]) == (
            CENTRAL_BUS,
            f"arn:aws:iam::{account}:role/ec2-isolation-forwarder",
        )
        assert target["retry_policy"] == [
            {"maximum_retry_attempts": 185, "maximum_event_age_in_seconds": 86400}
        ]
        assert len(target["dead_letter_config"]) == 1
        assert as_set(statement["Condition"]["ArnEquals"]["aws:SourceArn"]) == {
            f"{prefix}isolation-tag",
            f"{prefix}api-calls",
        }


def test_the_members_pattern_is_the_central_one_without_the_members_executor(organization_plan: Plan) -> None:
    """Then a member's pattern is the central rule's definition, leaving out the member's executor role
    (through which the central function acts there) and the central function's role; another role's
    call in the member account matches, the executor's does not."""
    central = json.loads(
        member_after(organization_plan, "ec2_isolation", "aws_cloudwatch_event_rule.api_call[0]")[
            "event_pattern"
        ]
    )
    for module, (account, _) in MEMBERS.items():
        pattern_json = member_after(
            organization_plan, module, "aws_cloudwatch_event_rule.forward_api_calls[0]"
        )["event_pattern"]
        pattern = json.loads(pattern_json)
        executor = f"arn:aws:iam::{account}:role/ec2-isolation-executor"
        (excluded,) = pattern["detail"]["userIdentity"]["$or"][0]["sessionContext"]["sessionIssuer"]["arn"]

        assert set(excluded["anything-but"]) == {executor, FUNCTION_ROLE}
        assert {key: value for key, value in pattern["detail"].items() if key != "userIdentity"} == {
            key: value for key, value in central["detail"].items() if key != "userIdentity"
        }
        in_member = cloudtrail_event(assumed_role(f"arn:aws:iam::{account}:role/Admin")) | {
            "account": account
        }
        assert matches(pattern_json, in_member)
        assert not matches(
            pattern_json, cloudtrail_event(assumed_role(executor, "ec2-isolation")) | {"account": account}
        )
    # The central rule leaves the listed members' executor roles out too (events they forward).
    (central_excluded,) = central["detail"]["userIdentity"]["$or"][0]["sessionContext"]["sessionIssuer"][
        "arn"
    ]
    assert set(central_excluded["anything-but"]) == {
        FUNCTION_ROLE,
        *(f"arn:aws:iam::{account}:role/ec2-isolation-executor" for account, _ in MEMBERS.values()),
    }


def test_the_forwarding_role_trusts_both_forwarding_rules(organization_plan: Plan) -> None:
    """Then EventBridge may assume the forwarding role for either rule, in any region of the account."""
    for module, account in {
        "workloads_a_primary": "111111111111",
        "workloads_b_primary": "222222222222",
    }.items():
        (trust,) = json.loads(
            member_after(organization_plan, module, "aws_iam_role.forwarder[0]")["assume_role_policy"]
        )["Statement"]
        assert as_set(trust["Condition"]["ArnLike"]["aws:SourceArn"]) == {
            f"arn:aws:events:*:{account}:rule/ec2-isolation-forward-isolation-tag",
            f"arn:aws:events:*:{account}:rule/ec2-isolation-forward-api-calls",
        }


def test_the_central_bus_accepts_the_forwarded_api_calls(organization_plan: Plan) -> None:
    """Then the central bus policy has a second statement: the same member accounts, in the organization,
    may put the three services' "AWS API Call via CloudTrail" events, and nothing else."""
    bus = member_after(organization_plan, "ec2_isolation", "aws_cloudwatch_event_bus_policy.organization[0]")
    statements = statements_by_sid(json.loads(bus["policy"]))
    tags, api_calls = (
        statements["MemberAccountsForwardIsolationTagEvents"],
        statements["MemberAccountsForwardApiCallEvents"],
    )

    assert set(statements) == {
        "MemberAccountsForwardIsolationTagEvents",
        "MemberAccountsForwardApiCallEvents",
    }
    assert (api_calls["Effect"], api_calls["Action"], api_calls["Resource"]) == (
        "Allow",
        "events:PutEvents",
        CENTRAL_BUS,
    )
    assert as_set(api_calls["Principal"]["AWS"]) == as_set(tags["Principal"]["AWS"])
    condition = api_calls["Condition"]["StringEquals"]
    assert set(condition) == {"aws:PrincipalOrgID", "events:source", "events:detail-type"}
    assert condition["aws:PrincipalOrgID"] == "o-a1b2c3d4e5"
    assert as_set(condition["events:source"]) == {"aws.ec2", "aws.autoscaling", "aws.elasticloadbalancing"}
    assert condition["events:detail-type"] == "AWS API Call via CloudTrail"


def test_the_sweeps_cover_the_member_accounts_in_their_regions(
    organization_plan_without_custody: Plan,
) -> None:
    """Then the central function sweeps the member accounts (member_account_ids, by default) in both of
    their regions (reconcile_regions): the environment read without the evidence custody, whose key's ARN
    makes it known after apply only."""
    (settings,) = member_after(
        organization_plan_without_custody, "ec2_isolation", "aws_lambda_function.this"
    )["environment"]
    variables = settings["variables"]

    assert set(variables["RECONCILE_ACCOUNT_IDS"].split(",")) == {"111111111111", "222222222222"}
    assert variables["RECONCILE_REGIONS"] == "us-east-1,eu-west-1"
