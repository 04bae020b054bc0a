"""The failure path in the offline plans (failure.tf): what still fails after the retries ends in one
encrypted, tagged dead-letter queue that only the module's rules' EventBridge targets and the function's
role may send to (and the reconcile queue redrives to); the function's asynchronous retries, EventBridge's target retries, the function's reserved
concurrency, and the alarms that notify the summaries' topic."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.terraform.plan import Plan, as_set, statements_by_sid
from tools import tfcli

pytestmark = pytest.mark.terraform

ACCOUNT = tfcli.FAKE_ACCOUNT_ID
QUEUE = "aws_sqs_queue.dead_letter"
INVOKE_CONFIG = "aws_lambda_function_event_invoke_config.this"
TARGET = "aws_cloudwatch_event_target.this"
DLQ_KEY = "arn:aws:kms:eu-west-1:123456789012:key/9abcabcd-12ab-34cd-56ef-1234567890ab"
ALARM_KINDS = {"errors", "throttles", "destination_delivery_failures", "dead_letters"}
FOURTEEN_DAYS = 14 * 24 * 3600


def alarms(plan: Plan) -> dict[str, dict[str, Any]]:
    """The planned alarms by kind (their for_each key)."""
    prefix = 'module.ec2_isolation.aws_cloudwatch_metric_alarm.this["'
    return {
        address.removeprefix(prefix).removesuffix('"]'): change["change"]["after"]
        for address, change in plan.resource_changes.items()
        if address.startswith(prefix)
    }


def queue_policy(plan: Plan) -> dict[str, Any]:
    policy: dict[str, Any] = json.loads(plan.after(QUEUE)["policy"])
    return policy


# ---- the dead-letter queue ---------------------------------------------------------------------------


def test_the_dead_letter_queue_is_encrypted_kept_14_days_and_tagged(example_plan: Plan) -> None:
    """Given the defaults, then one queue named after the deployment holds the failures for 14 days (the
    longest SQS keeps a message), encrypted with SQS managed keys, with the module's tags."""
    queues = {address for address in example_plan.resource_changes if "aws_sqs_queue" in address}
    queue = example_plan.after(QUEUE)

    # the other queue is the reconciler's work queue (reconcile.tf), which redrives to this one
    assert queues == {f"module.ec2_isolation.{QUEUE}", "module.ec2_isolation.aws_sqs_queue.reconcile[0]"}
    assert queue["name"] == "ec2-isolation-dead-letters"
    assert queue["fifo_queue"] is False
    assert queue["message_retention_seconds"] == FOURTEEN_DAYS
    assert queue["sqs_managed_sse_enabled"] is True
    assert queue["kms_master_key_id"] is None
    assert queue["tags"] == {
        "Project": "ec2-isolation",
        "Environment": "example",
        "Owner": "security-operations",
    }


def test_a_given_key_encrypts_the_queue_and_the_role_may_use_it_through_sqs_only(custom_plan: Plan) -> None:
    """Given dead_letter_queue_kms_key_arn, then the queue is encrypted with that key (not SSE-SQS), and
    the function's role may use the key only through SQS in its region (Lambda sends with that role)."""
    queue = custom_plan.after(QUEUE)
    statement = statements_by_sid(custom_plan.policy("aws_iam_role_policy.lambda"))[
        "EncryptFailedInvocations"
    ]

    assert queue["kms_master_key_id"] == DLQ_KEY
    assert queue.get("sqs_managed_sse_enabled") is not True  # computed by SQS: false with a key
    assert queue["kms_data_key_reuse_period_seconds"] == 300
    assert (statement["Effect"], as_set(statement["Action"]), as_set(statement["Resource"])) == (
        "Allow",
        {"kms:Decrypt", "kms:GenerateDataKey"},
        {DLQ_KEY},
    )
    assert statement["Condition"] == {"StringEquals": {"kms:ViaService": "sqs.eu-west-1.amazonaws.com"}}


def test_only_this_rules_target_may_send_to_the_queue(example_plan: Plan) -> None:
    """Then the queue policy has one statement: EventBridge may send, for the isolation tag rule and the
    reconciler's rules only (aws:SourceArn: their ARNs, known at plan time and checked against the real
    ones)."""
    (statement,) = queue_policy(example_plan)["Statement"]
    rule = f"arn:aws:events:us-east-1:{ACCOUNT}:rule/ec2-isolation-"
    source_arns = statement["Condition"]["ArnEquals"].pop("aws:SourceArn")

    assert statement == {
        "Sid": "EventBridgeUndeliveredEvents",
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": f"arn:aws:sqs:us-east-1:{ACCOUNT}:ec2-isolation-dead-letters",
        "Condition": {"ArnEquals": {}},
    }
    assert as_set(source_arns) == {
        f"{rule}on-isolation-tag",
        f"{rule}reconcile",
        f"{rule}reconcile-full",
        f"{rule}on-api-call",
    }
    assert example_plan.after("aws_cloudwatch_event_rule.this")["name"] == "ec2-isolation-on-isolation-tag"


def test_the_function_role_may_send_exactly_to_the_queue(example_plan: Plan, minimal_plan: Plan) -> None:
    """Then the role's only grant on that queue is sqs:SendMessage (the on-failure destination), also with
    every optional step off (its only SQS grant then), and no KMS grant without a customer managed key;
    the reconciler's SQS grants are on its own queue only."""
    dead_letters = f"arn:aws:sqs:us-east-1:{ACCOUNT}:ec2-isolation-dead-letters"
    reconcile = {"SendReconcileWork", "PollReconcileQueue"}
    for plan in (example_plan, minimal_plan):
        statements = statements_by_sid(plan.policy("aws_iam_role_policy.lambda"))
        sqs = [s for s in statements.values() if any(a.startswith("sqs:") for a in as_set(s["Action"]))]
        on_dead_letters = [s for s in sqs if dead_letters in as_set(s["Resource"])]

        assert on_dead_letters == [statements["SendFailedInvocations"]]
        assert {s["Sid"] for s in sqs} - {"SendFailedInvocations"} == (
            reconcile if plan is example_plan else set()
        )
        for sid in reconcile & set(statements):
            assert as_set(statements[sid]["Resource"]) == {
                f"arn:aws:sqs:us-east-1:{ACCOUNT}:ec2-isolation-reconcile"
            }
        sqs = on_dead_letters
        assert (sqs[0]["Effect"], as_set(sqs[0]["Action"]), as_set(sqs[0]["Resource"])) == (
            "Allow",
            {"sqs:SendMessage"},
            {f"arn:aws:sqs:us-east-1:{ACCOUNT}:ec2-isolation-dead-letters"},
        )
        assert "Condition" not in sqs[0]
        assert "EncryptFailedInvocations" not in statements


# ---- retries and destinations ----------------------------------------------------------------------


def test_failed_invocations_are_retried_twice_then_sent_to_the_queue(example_plan: Plan) -> None:
    """Then Lambda retries a failed asynchronous invocation twice, keeps an event at most an hour, and
    sends what still fails to the queue (on-failure destination); nothing on success."""
    config = example_plan.after(INVOKE_CONFIG)
    (destinations,) = config["destination_config"]

    assert config["function_name"] == "ec2-isolation"
    assert config["qualifier"] is None
    assert config["maximum_retry_attempts"] == 2
    assert config["maximum_event_age_in_seconds"] == 3600
    assert destinations["on_success"] == []
    assert len(destinations["on_failure"]) == 1
    assert f"{QUEUE}.arn" in example_plan.references(
        INVOKE_CONFIG, "destination_config", "on_failure", "destination"
    )
    # the role may send to the queue before Lambda checks the destination
    assert "aws_iam_role_policy.lambda" in example_plan.configuration(INVOKE_CONFIG)["depends_on"]


def test_the_rule_target_retries_then_sends_to_the_queue(example_plan: Plan) -> None:
    """Then EventBridge retries a refused delivery (185 times, for at most an hour), then sends the event
    to the same queue."""
    target = example_plan.after(TARGET)

    assert target["retry_policy"] == [{"maximum_retry_attempts": 185, "maximum_event_age_in_seconds": 3600}]
    assert len(target["dead_letter_config"]) == 1
    assert f"{QUEUE}.arn" in example_plan.references(TARGET, "dead_letter_config", "arn")


def test_custom_retries_reach_the_invoke_config_and_the_target(custom_plan: Plan) -> None:
    config = custom_plan.after(INVOKE_CONFIG)

    assert (config["maximum_retry_attempts"], config["maximum_event_age_in_seconds"]) == (1, 7200)
    assert custom_plan.after(TARGET)["retry_policy"] == [
        {"maximum_retry_attempts": 20, "maximum_event_age_in_seconds": 600}
    ]


# ---- concurrency -------------------------------------------------------------------------------------


def test_concurrency_is_reserved(example_plan: Plan, custom_plan: Plan, minimal_plan: Plan) -> None:
    """Given the default, then 30 executions are reserved (sized from the benchmark); given a number, that number; given null, none
    (the provider's -1)."""
    reserved = {
        name: plan.after("aws_lambda_function.this")["reserved_concurrent_executions"]
        for name, plan in (("default", example_plan), ("custom", custom_plan), ("null", minimal_plan))
    }

    assert reserved == {"default": 30, "custom": 10, "null": -1}


# ---- alarms ------------------------------------------------------------------------------------------

EXPECTED_METRICS = {
    "errors": ("AWS/Lambda", "Errors", "Sum", "FunctionName", "notBreaching"),
    "throttles": ("AWS/Lambda", "Throttles", "Sum", "FunctionName", "notBreaching"),
    "destination_delivery_failures": (
        "AWS/Lambda",
        "DestinationDeliveryFailures",
        "Sum",
        "FunctionName",
        "notBreaching",
    ),
    # SQS stops publishing the metrics of a queue nobody touches for six hours: keep the state
    "dead_letters": ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum", "QueueName", "ignore"),
}


def test_the_alarms_watch_the_function_and_the_queue(example_plan: Plan) -> None:
    """Then four alarms fire on the first error, throttle, failed delivery to the queue and message in the
    queue (one period of 60 s, threshold > 0), named after the deployment and tagged."""
    planned = alarms(example_plan)
    names = {"FunctionName": "ec2-isolation", "QueueName": "ec2-isolation-dead-letters"}

    assert set(planned) == ALARM_KINDS
    for kind, alarm in planned.items():
        namespace, metric, statistic, dimension, missing = EXPECTED_METRICS[kind]
        assert alarm["alarm_name"] == "ec2-isolation-" + kind.replace("_", "-")
        assert (alarm["namespace"], alarm["metric_name"], alarm["statistic"]) == (
            namespace,
            metric,
            statistic,
        )
        assert alarm["dimensions"] == {dimension: names[dimension]}
        assert (alarm["period"], alarm["evaluation_periods"]) == (60, 1)
        assert (alarm["comparison_operator"], alarm["threshold"]) == ("GreaterThanThreshold", 0)
        assert alarm["treat_missing_data"] == missing
        assert alarm["actions_enabled"] is True
        assert alarm["alarm_description"]
        assert alarm["tags"] == example_plan.after(QUEUE)["tags"]


def test_without_a_topic_the_alarms_notify_nobody(example_plan: Plan) -> None:
    """Given no topic and no alarm_actions, then the alarms have no action (they still show in CloudWatch)."""
    for alarm in alarms(example_plan).values():
        assert not alarm["alarm_actions"]
        assert not alarm["ok_actions"]
        assert not alarm["insufficient_data_actions"]


def test_with_a_topic_the_alarms_notify_it_and_the_given_actions(custom_plan: Plan) -> None:
    """Given the created topic and an on-call topic in alarm_actions, then every alarm notifies both when
    it fires and when it clears, and is created after the topic."""
    topic = f"arn:aws:sns:eu-west-1:{ACCOUNT}:ir-quarantine"
    on_call = "arn:aws:sns:eu-west-1:123456789012:on-call"
    planned = alarms(custom_plan)

    assert set(planned) == ALARM_KINDS
    for alarm in planned.values():
        assert set(alarm["alarm_actions"]) == {topic, on_call}
        assert set(alarm["ok_actions"]) == {topic, on_call}
        assert alarm["dimensions"] in (
            {"FunctionName": "ir-quarantine"},
            {"QueueName": "ir-quarantine-dead-letters"},
        )
    assert "aws_sns_topic.this" in custom_plan.configuration("aws_cloudwatch_metric_alarm.this")["depends_on"]
    # and the reconciler's drift alarm (reconcile.tf)
    assert custom_plan.data["output_changes"]["alarm_names"]["after"] == {
        kind: "ir-quarantine-" + kind.replace("_", "-") for kind in ALARM_KINDS | {"drift_repaired"}
    }


def test_alarms_can_be_switched_off(minimal_plan: Plan) -> None:
    """Given alarms_enabled = false, then no alarm is planned; the queue and the retries stay."""
    assert alarms(minimal_plan) == {}
    assert minimal_plan.change(QUEUE)["change"]["actions"] == ["create"]
    assert minimal_plan.change(INVOKE_CONFIG)["change"]["actions"] == ["create"]
    assert minimal_plan.after(TARGET)["dead_letter_config"]
