"""Notifications and result events in the offline plans: the SNS topic exists only when asked for, is
encrypted and tagged; the function may publish to exactly that topic and put events of exactly its source
on exactly the default bus, and only when each is on; the function is told where to send them."""

from __future__ import annotations

import pytest

from ec2_isolation.steps import notify
from tests.terraform.plan import Plan, as_set, statements_by_sid
from tools import tfcli

pytestmark = pytest.mark.terraform

ACCOUNT = tfcli.FAKE_ACCOUNT_ID
CUSTOM_KEY = "arn:aws:kms:eu-west-1:123456789012:key/5678abcd-12ab-34cd-56ef-1234567890ab"
DETAIL_TYPES = {
    "completed": notify.COMPLETED,
    "failed": notify.FAILED,
    "released": notify.RELEASED,
    "dry_run": notify.DRY_RUN,
    # the reconciler's
    "caught_up": notify.CAUGHT_UP,
    "drift_repaired": notify.DRIFT_REPAIRED,
    "needs_attention": notify.NEEDS_ATTENTION,
    "group_resealed": notify.GROUP_RESEALED,
    "record_closed": notify.RECORD_CLOSED,
    # evidence custody's
    "evidence_in_custody": notify.EVIDENCE_IN_CUSTODY,
}
NOTIFICATION_STATEMENTS = {"PublishSummaries", "EncryptSummaries", "PutResultEvents"}


def environment(plan: Plan) -> dict[str, str]:
    (env,) = plan.after("aws_lambda_function.this")["environment"]
    variables: dict[str, str] = env["variables"]
    return variables


def test_no_topic_is_created_or_granted_unless_asked(example_plan: Plan) -> None:
    """Given the defaults, then there is no topic, no grant to publish, and the function sends no summary;
    result events are on, with the default source."""
    statements = statements_by_sid(example_plan.policy("aws_iam_role_policy.lambda"))

    assert not [address for address in example_plan.resource_changes if "aws_sns_topic" in address]
    assert set(statements) & NOTIFICATION_STATEMENTS == {"PutResultEvents"}
    assert environment(example_plan)["SNS_TOPIC_ARN"] == ""
    assert environment(example_plan)["RESULT_EVENT_SOURCE"] == "ec2-isolation"


def test_the_created_topic_is_named_encrypted_and_tagged(custom_plan: Plan) -> None:
    """Given create_sns_topic and a customer managed key, then one topic named after the deployment is
    created, encrypted with that key, with the module's tags."""
    topics = [address for address in custom_plan.resource_changes if "aws_sns_topic" in address]
    topic = custom_plan.after("aws_sns_topic.this[0]")

    assert topics == ["module.ec2_isolation.aws_sns_topic.this[0]"]
    assert custom_plan.change("aws_sns_topic.this[0]")["change"]["actions"] == ["create"]
    assert topic["name"] == "ir-quarantine"
    assert topic["kms_master_key_id"] == CUSTOM_KEY
    assert topic["tags"] == {"Team": "incident-response"}


def test_the_function_may_publish_to_exactly_the_topic_with_its_key(custom_plan: Plan) -> None:
    """Then the function may publish to that topic only, and use the key only through SNS in its region."""
    statements = statements_by_sid(custom_plan.policy("aws_iam_role_policy.lambda"))
    topic_arn = f"arn:aws:sns:eu-west-1:{ACCOUNT}:ir-quarantine"

    publish, encrypt = statements["PublishSummaries"], statements["EncryptSummaries"]
    assert (publish["Effect"], as_set(publish["Action"]), as_set(publish["Resource"])) == (
        "Allow",
        {"sns:Publish"},
        {topic_arn},
    )
    assert "Condition" not in publish
    assert (encrypt["Effect"], as_set(encrypt["Action"]), as_set(encrypt["Resource"])) == (
        "Allow",
        {"kms:Decrypt", "kms:GenerateDataKey"},
        {CUSTOM_KEY},
    )
    assert encrypt["Condition"] == {"StringEquals": {"kms:ViaService": "sns.eu-west-1.amazonaws.com"}}
    assert environment(custom_plan)["SNS_TOPIC_ARN"] == topic_arn


def test_the_function_may_put_only_its_result_events_on_the_default_bus(custom_plan: Plan) -> None:
    """Then PutEvents is allowed on the default bus of the account and region, for the configured source
    and the module's detail-types only."""
    statement = statements_by_sid(custom_plan.policy("aws_iam_role_policy.lambda"))["PutResultEvents"]

    assert statement["Effect"] == "Allow"
    assert as_set(statement["Action"]) == {"events:PutEvents"}
    assert as_set(statement["Resource"]) == {f"arn:aws:events:eu-west-1:{ACCOUNT}:event-bus/default"}
    assert statement["Condition"]["StringEquals"]["events:source"] == "com.example.ir-quarantine"
    assert as_set(statement["Condition"]["StringEquals"]["events:detail-type"]) == set(DETAIL_TYPES.values())
    assert environment(custom_plan)["RESULT_EVENT_SOURCE"] == "com.example.ir-quarantine"


def test_result_events_can_be_switched_off(minimal_plan: Plan) -> None:
    """Given result_events = false, then there is no PutEvents grant and the function puts no event."""
    statements = statements_by_sid(minimal_plan.policy("aws_iam_role_policy.lambda"))

    assert set(statements) & NOTIFICATION_STATEMENTS == set()
    assert environment(minimal_plan)["RESULT_EVENT_SOURCE"] == ""
    assert environment(minimal_plan)["SNS_TOPIC_ARN"] == ""


def test_the_outputs_name_the_topic_the_source_and_the_handlers_detail_types(custom_plan: Plan) -> None:
    """Then the outputs give the source and the detail-types the handler really puts (notify.py)."""
    outputs = custom_plan.data["output_changes"]

    assert outputs["result_event_source"]["after"] == "com.example.ir-quarantine"
    assert outputs["result_event_detail_types"]["after"] == DETAIL_TYPES
    assert outputs["sns_topic_arn"]["after_unknown"] is True  # the created topic's ARN, after apply
    assert (set(notify.DETAIL_TYPES.values()) | set(notify.RECONCILE_DETAIL_TYPES.values())) - {None} == set(
        DETAIL_TYPES.values()
    )
