"""The harness's schedule rules and SQS event source mappings (`tools.deliver`), and the CloudTrail samples
(`tests.fixtures.cloudtrail`), without a deployment: a toy function on the emulator, whose handler does
what each message's body asks (succeed, fail, raise, report an unknown message, send a message).

The end-to-end reconcile test (tests/e2e/test_reconcile.py) relies on these: that a schedule runs its
targets with the real "Scheduled Event", and that `pump_queue` deletes, keeps and redelivers messages
as the Lambda service does for an SQS event source mapping.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.fixtures.cloudtrail import (
    DETAIL_TYPE,
    FIXTURE_ACCOUNT,
    FIXTURE_ASSOCIATION_ID,
    FIXTURE_GROUP_IDS,
    FIXTURE_INSTANCE_ID,
    FIXTURE_INSTANCE_PROFILE_ARN,
    FIXTURE_INTERFACE_ID,
    FIXTURE_ISSUER_ROLE_ARN,
    FIXTURE_REGION,
    SAMPLES,
    SOURCES,
    api_call_event,
    issuer_arn,
    load_api_call,
)
from tools import deliver
from tools.deliver import (
    DeliveryError,
    DeployedCode,
    EventSourceMapping,
    Invocation,
    batch_failures,
    scheduled_event,
    sqs_record,
)
from tools.emulator import Emulator

if TYPE_CHECKING:
    from mypy_boto3_events.type_defs import PutEventsRequestEntryTypeDef
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_sqs import SQSClient

pytestmark = pytest.mark.e2e

TOY_HANDLER = """
import json, os
import boto3


def handler(event, context):
    print(json.dumps({"event": event}))
    failures = []
    for record in event.get("Records", []):
        wanted = json.loads(record["body"]).get("do")
        if wanted == "fail":
            failures.append({"itemIdentifier": record["messageId"]})
        elif wanted == "raise":
            raise RuntimeError("asked to raise")
        elif wanted == "unknown-id":
            return {"batchItemFailures": [{"itemIdentifier": "no-such-message"}]}
        elif wanted == "send":
            boto3.client("sqs").send_message(
                QueueUrl=os.environ["SEND_TO"], MessageBody=json.dumps({"do": "ok", "after": record["messageId"]})
            )
    return {"batchItemFailures": failures}
"""
#: the example event of the EventBridge User Guide and the Lambda Developer Guide for a schedule rule
DOCUMENTED_SCHEDULED_EVENT: dict[str, Any] = {
    "version": "0",
    "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": "123456789012",
    "time": "2015-10-08T16:53:06Z",
    "region": "us-east-1",
    "resources": ["arn:aws:events:us-east-1:123456789012:rule/my-scheduled-rule"],
    "detail": {},
}
#: the keys of a record of Lambda's SQS event (the Lambda Developer Guide, "Using Lambda with Amazon SQS")
SQS_RECORD_KEYS = {
    "messageId",
    "receiptHandle",
    "body",
    "attributes",
    "messageAttributes",
    "md5OfBody",
    "eventSource",
    "eventSourceARN",
    "awsRegion",
}
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}


@dataclass(frozen=True)
class Toy:
    """The toy function: deployed from ``package`` (local_packages for the harness), role ``role``."""

    name: str
    arn: str
    role: str
    package: Path


def _toy_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo("toy.py", date_time=(2024, 1, 1, 0, 0, 0))
        archive.writestr(info, TOY_HANDLER)
    return buffer.getvalue()


def _create_toy(session: boto3.session.Session, name: str, package: Path, *, grant_queue_reads: bool) -> Toy:
    iam = session.client("iam")
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"]
    if grant_queue_reads:
        iam.put_role_policy(
            RoleName=name,
            PolicyName="queues",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "ReadTheQueues",
                            "Effect": "Allow",
                            "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
                            "Resource": "arn:aws:sqs:us-east-1:123456789012:*",
                        }
                    ],
                }
            ),
        )
    created = session.client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role,
        Handler="toy.handler",
        Code={"ZipFile": package.read_bytes()},
        Timeout=30,
        Environment={"Variables": {"SEND_TO": ""}},
    )
    return Toy(name, created["FunctionArn"], role, package)


@pytest.fixture(scope="module")
def toy_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("toy") / "toy.zip"
    path.write_bytes(_toy_zip())
    return path


@pytest.fixture(scope="module")
def toy(session: boto3.session.Session, toy_package: Path) -> Toy:
    return _create_toy(session, "toy", toy_package, grant_queue_reads=True)


@pytest.fixture(scope="module")
def toy_without_queue_reads(session: boto3.session.Session, toy_package: Path) -> Toy:
    return _create_toy(session, "toy-without-queue-reads", toy_package, grant_queue_reads=False)


@dataclass(frozen=True)
class Queue:
    url: str
    arn: str
    dead_letters_url: str
    mapping_uuid: str


def make_queue(
    session: boto3.session.Session,
    name: str,
    function: Toy,
    *,
    batch_size: int = 10,
    response_types: Sequence[str] = ("ReportBatchItemFailures",),
    max_receive_count: int = 2,
    take_over: bool = True,
) -> Queue:
    """A queue redriving to ``<name>-dead`` and read by ``function`` (event source mapping), taken over."""
    sqs = session.client("sqs")
    dead = sqs.create_queue(QueueName=f"{name}-dead")["QueueUrl"]
    dead_arn = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(
        QueueName=name,
        Attributes={
            "VisibilityTimeout": "120",
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dead_arn, "maxReceiveCount": max_receive_count}
            ),
        },
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    mapping = session.client("lambda").create_event_source_mapping(
        EventSourceArn=arn,
        FunctionName=function.arn,
        BatchSize=batch_size,
        FunctionResponseTypes=list(response_types),  # type: ignore[arg-type]
        ScalingConfig={"MaximumConcurrency": 5},
    )
    if take_over:
        deliver.take_over_event_source_mappings(session, arn)
    return Queue(url, arn, dead, mapping["UUID"])


def send(sqs: SQSClient, queue: Queue, *bodies: dict[str, Any]) -> list[str]:
    return [
        sqs.send_message(QueueUrl=queue.url, MessageBody=json.dumps(body))["MessageId"] for body in bodies
    ]


def bodies_of(sqs: SQSClient, url: str) -> list[dict[str, Any]]:
    """The bodies of what a receive returns from ``url`` now (the messages stay, invisible)."""
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
        "Messages", []
    )
    return [json.loads(message["Body"]) for message in received]


def logged_events(invocation: Invocation) -> list[Any]:
    return [line["event"] for line in invocation.json_log_lines() if "event" in line]


# ---- schedule rules ------------------------------------------------------------------------------------


def test_the_scheduled_event_has_the_documented_shape() -> None:
    built = scheduled_event(
        DOCUMENTED_SCHEDULED_EVENT["resources"][0],
        "123456789012",
        "us-east-1",
        event_id=DOCUMENTED_SCHEDULED_EVENT["id"],
        time_=datetime.fromisoformat(DOCUMENTED_SCHEDULED_EVENT["time"]),
    )
    assert built == DOCUMENTED_SCHEDULED_EVENT


def _schedule_rule(
    session: boto3.session.Session, name: str, toy: Toy, *, permitted: bool = True, state: str = "ENABLED"
) -> str:
    events = session.client("events")
    arn = events.put_rule(Name=name, ScheduleExpression="rate(5 minutes)", State=state)["RuleArn"]  # type: ignore[arg-type]
    events.put_targets(Rule=name, Targets=[{"Id": "toy", "Arn": toy.arn}])
    if permitted:
        session.client("lambda").add_permission(
            FunctionName=toy.name,
            StatementId=f"from-{name}",
            Action="lambda:InvokeFunction",
            Principal="events.amazonaws.com",
            SourceArn=arn,
        )
    return arn


def test_a_schedule_runs_its_targets_with_the_scheduled_event(
    session: boto3.session.Session, toy: Toy
) -> None:
    # Given a schedule rule targeting the toy function, which its resource policy lets the rule invoke
    arn = _schedule_rule(session, "every-five-minutes", toy)
    # When the schedule comes due
    delivery = deliver.deliver_scheduled(session, "every-five-minutes", local_packages=[toy.package])
    # Then the function ran once, with the real "Scheduled Event" of that rule
    [invocation] = delivery.invocations
    assert invocation.ok, invocation.payload
    assert invocation.route is not None and invocation.route.rule.arn == arn
    assert delivery.event["resources"] == [arn]
    assert delivery.event["detail-type"] == "Scheduled Event" and delivery.event["source"] == "aws.events"
    assert (delivery.event["account"], delivery.event["region"]) == ("123456789012", "us-east-1")
    assert logged_events(invocation) == [delivery.event]
    # and no event-pattern delivery would ever route it (a schedule rule has no pattern)
    assert [rule.name for rule in deliver.matching_rules(session, delivery.event)] == []


def test_a_schedule_whose_target_may_not_be_invoked_is_refused(
    session: boto3.session.Session, toy: Toy
) -> None:
    _schedule_rule(session, "not-permitted", toy, permitted=False)
    with pytest.raises(DeliveryError, match=r"does not let events\.amazonaws\.com invoke it"):
        deliver.deliver_scheduled(session, "not-permitted", local_packages=[toy.package])


def test_a_disabled_schedule_runs_nothing(session: boto3.session.Session, toy: Toy) -> None:
    _schedule_rule(session, "switched-off", toy, state="DISABLED")
    delivery = deliver.deliver_scheduled(session, "switched-off", local_packages=[toy.package])
    assert delivery.invocations == () and delivery.matched == ()


def test_moto_routes_every_event_through_a_schedule_so_the_harness_takes_it_over(
    session: boto3.session.Session, toy: Toy
) -> None:
    # Given a schedule rule targeting the function (as the reconciler's)
    arn = _schedule_rule(session, "taken-over", toy)
    once = session.client("events", config=Config(retries={"total_max_attempts": 1}))
    entry: PutEventsRequestEntryTypeDef = {
        "Source": "my.app",
        "DetailType": "Something Happened",
        "Detail": "{}",
    }
    # moto routes any event through it, and fails on its Lambda target (EventBridge never would)
    with pytest.raises(ClientError, match="500"):
        once.put_events(Entries=[entry])
    # When the harness takes the schedules over
    taken = deliver.take_over_schedule_rules(session)
    # Then their targets are out of the emulator, events are put again, and the schedule still runs them
    assert "taken-over" in [rule.name for rule in taken]
    assert once.list_targets_by_rule(Rule="taken-over")["Targets"] == []
    assert once.put_events(Entries=[entry])["FailedEntryCount"] == 0
    delivery = deliver.deliver_scheduled(session, "taken-over", local_packages=[toy.package])
    [invocation] = delivery.invocations
    assert invocation.ok and logged_events(invocation) == [delivery.event]
    assert delivery.event["resources"] == [arn]


def test_the_whole_emulator_is_taken_over_at_once(session: boto3.session.Session, toy: Toy) -> None:
    queue = make_queue(session, "taken-with-the-rest", toy, take_over=False)
    _schedule_rule(session, "taken-with-the-rest", toy)
    taken = deliver.take_over_emulator(session)
    assert "taken-with-the-rest" in [rule.name for rule in taken.schedule_rules]
    assert queue.mapping_uuid in [mapping.uuid for mapping in taken.event_source_mappings]
    assert all(
        m.state == "Disabled" and m.taken_over for m in deliver.event_source_mappings(session, queue.arn)
    )


def test_a_rule_without_a_schedule_is_not_delivered_as_one(session: boto3.session.Session) -> None:
    session.client("events").put_rule(Name="a-pattern", EventPattern=json.dumps({"source": ["aws.ec2"]}))
    with pytest.raises(DeliveryError, match="no schedule expression"):
        deliver.deliver_scheduled(session, "a-pattern")


# ---- SQS event source mappings: what moto does by itself ------------------------------------------------


def test_moto_receives_a_message_of_an_enabled_mapping_itself_so_the_harness_takes_over(
    session: boto3.session.Session, emulator: Emulator, toy: Toy
) -> None:
    # Given a queue whose mapping is enabled in the emulator (as Terraform creates it)
    sqs = session.client("sqs")
    queue = make_queue(session, "left-to-moto", toy, take_over=False)
    # When a message is sent, moto receives it itself and tries Docker, which is not here
    send(sqs, queue, {"do": "ok"})
    [message] = sqs.receive_message(QueueUrl=queue.url, AttributeNames=["All"]).get("Messages", [])
    assert message["Attributes"]["ApproximateReceiveCount"] == "2", "moto's own receive is counted"
    assert "error running docker" in emulator.log_tail(200)
    # Then pump_queue refuses to run beside moto's poller
    with pytest.raises(DeliveryError, match="take_over_event_source_mappings"):
        deliver.pump_queue(session, queue.url, local_packages=[toy.package])
    # and once taken over, the mapping is disabled in the emulator, and a new message is received once
    [taken] = deliver.take_over_event_source_mappings(session, queue.arn)
    assert taken.state == "Enabled" and taken.uuid == queue.mapping_uuid
    [mapping] = deliver.event_source_mappings(session, queue.arn)
    assert mapping.state == "Disabled" and mapping.taken_over
    sqs.delete_message(QueueUrl=queue.url, ReceiptHandle=message["ReceiptHandle"])
    send(sqs, queue, {"do": "ok"})
    pump = deliver.pump_queue(session, queue.url, local_packages=[toy.package])
    assert [batch.receive_counts for batch in pump.batches] == [(1,)]


def test_a_mapping_disabled_by_its_owner_is_not_pumped(session: boto3.session.Session, toy: Toy) -> None:
    queue = make_queue(session, "disabled-by-owner", toy, take_over=False)
    session.client("lambda").update_event_source_mapping(UUID=queue.mapping_uuid, Enabled=False)
    assert deliver.take_over_event_source_mappings(session, queue.arn) == []
    with pytest.raises(DeliveryError, match="no enabled event source mapping"):
        deliver.pump_queue(session, queue.url, local_packages=[toy.package])


# ---- SQS event source mappings: what the Lambda service does ---------------------------------------------


def test_a_batch_reaches_the_function_as_the_sqs_event_and_is_deleted(
    session: boto3.session.Session, toy: Toy
) -> None:
    sqs = session.client("sqs")
    queue = make_queue(session, "all-good", toy)
    ids = send(sqs, queue, {"do": "ok", "n": 1}, {"do": "ok", "n": 2}, {"do": "ok", "n": 3})
    pump = deliver.pump_queue(session, queue.url, local_packages=[toy.package])
    [batch] = pump.batches
    assert set(batch.message_ids) == set(ids) and set(batch.deleted) == set(ids) and batch.failed == ()
    [event] = logged_events(batch.invocation)
    assert len(event["Records"]) == 3
    for record in event["Records"]:
        assert set(record) == SQS_RECORD_KEYS
        assert record["eventSource"] == "aws:sqs" and record["eventSourceARN"] == queue.arn
        assert record["awsRegion"] == "us-east-1"
        assert record["md5OfBody"] == hashlib.md5(record["body"].encode()).hexdigest()
        assert record["attributes"]["ApproximateReceiveCount"] == "1"
        assert {"SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp"} <= set(record["attributes"])
    assert batch.invocation.mapping is not None and batch.invocation.route is None
    assert pump.drained and not pump.bounded


def test_the_failures_a_batch_reports_stay_and_the_rest_is_deleted(
    session: boto3.session.Session, toy: Toy
) -> None:
    sqs = session.client("sqs")
    queue = make_queue(session, "partly", toy)
    good, bad = send(sqs, queue, {"do": "ok"}, {"do": "fail"})
    pump = deliver.pump_queue(session, queue.url, local_packages=[toy.package])
    [batch] = pump.batches
    assert (batch.deleted, batch.failed, batch.outcome) == ((good,), (bad,), "batchItemFailures")
    # the failed message is in flight until its visibility timeout passes: nothing to receive meanwhile
    assert (pump.visible, pump.in_flight, pump.drained) == (0, 1, False)
    assert deliver.pump_queue(session, queue.url, local_packages=[toy.package]).batches == ()


def test_failures_are_redelivered_until_the_redrive_policy_moves_them(
    session: boto3.session.Session, toy: Toy
) -> None:
    sqs = session.client("sqs")
    queue = make_queue(session, "redelivered", toy, max_receive_count=2)
    [bad] = send(sqs, queue, {"do": "fail"})
    pump = deliver.pump_queue(session, queue.url, redeliver_failures=True, local_packages=[toy.package])
    # received twice (counts 1, 2), then moved to the dead-letter queue on the third receive
    assert [(batch.message_ids, batch.receive_counts) for batch in pump.batches] == [
        ((bad,), (1,)),
        ((bad,), (2,)),
    ]
    assert pump.drained
    assert bodies_of(sqs, queue.dead_letters_url) == [{"do": "fail"}]


def test_an_invocation_that_fails_keeps_the_whole_batch(session: boto3.session.Session, toy: Toy) -> None:
    sqs = session.client("sqs")
    queue = make_queue(session, "raising", toy)
    ids = send(sqs, queue, {"do": "ok"}, {"do": "raise"})
    [batch] = deliver.pump_queue(session, queue.url, local_packages=[toy.package]).batches
    assert batch.invocation.function_error == "Unhandled"
    assert set(batch.failed) == set(ids) and batch.deleted == ()


def test_a_report_naming_no_message_of_the_batch_keeps_the_whole_batch(
    session: boto3.session.Session, toy: Toy
) -> None:
    sqs = session.client("sqs")
    queue = make_queue(session, "unknown-id", toy)
    ids = send(sqs, queue, {"do": "ok"}, {"do": "unknown-id"})
    [batch] = deliver.pump_queue(session, queue.url, local_packages=[toy.package]).batches
    assert batch.invocation.ok and set(batch.failed) == set(ids) and batch.deleted == ()


def test_without_report_batch_item_failures_the_response_is_not_read(
    session: boto3.session.Session, toy: Toy
) -> None:
    sqs = session.client("sqs")
    queue = make_queue(session, "unreported", toy, response_types=())
    ids = send(sqs, queue, {"do": "ok"}, {"do": "fail"})
    [batch] = deliver.pump_queue(session, queue.url, local_packages=[toy.package]).batches
    assert set(batch.deleted) == set(ids) and batch.failed == ()


def test_what_the_function_sends_meanwhile_is_pumped_too(session: boto3.session.Session, toy: Toy) -> None:
    sqs = session.client("sqs")
    queue = make_queue(session, "chained", toy, batch_size=1)
    lambda_client: LambdaClient = session.client("lambda")
    lambda_client.update_function_configuration(
        FunctionName=toy.name, Environment={"Variables": {"SEND_TO": queue.url}}
    )
    try:
        [first] = send(sqs, queue, {"do": "send"})
        pump = deliver.pump_queue(session, queue.url, local_packages=[toy.package])
    finally:
        lambda_client.update_function_configuration(
            FunctionName=toy.name, Environment={"Variables": {"SEND_TO": ""}}
        )
    assert len(pump.batches) == 2 and pump.batches[0].message_ids == (first,)
    [followed] = logged_events(pump.batches[1].invocation)
    assert json.loads(followed["Records"][0]["body"]) == {"do": "ok", "after": first}
    assert pump.drained


def test_the_pump_stops_at_its_bound(session: boto3.session.Session, toy: Toy) -> None:
    sqs = session.client("sqs")
    queue = make_queue(session, "bounded", toy, batch_size=1)
    send(sqs, queue, {"do": "ok"}, {"do": "ok"}, {"do": "ok"})
    pump = deliver.pump_queue(session, queue.url, max_invocations=2, local_packages=[toy.package])
    assert len(pump.batches) == 2 and pump.bounded and pump.visible == 1


def test_a_role_that_may_not_read_the_queue_gets_nothing(
    session: boto3.session.Session, toy_without_queue_reads: Toy
) -> None:
    sqs = session.client("sqs")
    queue = make_queue(session, "unreadable", toy_without_queue_reads)
    send(sqs, queue, {"do": "ok"})
    with pytest.raises(DeliveryError, match="may not sqs:ReceiveMessage"):
        deliver.pump_queue(session, queue.url, local_packages=[toy_without_queue_reads.package])


# ---- the partial batch response, and the record shape, alone -----------------------------------------------

MAPPING = EventSourceMapping(
    uuid="u",
    function_arn="arn:aws:lambda:us-east-1:123456789012:function:f",
    event_source_arn="arn:aws:sqs:us-east-1:123456789012:q",
    state="Disabled",
    batch_size=10,
    function_response_types=("ReportBatchItemFailures",),
    maximum_concurrency=None,
    maximum_batching_window=0,
    filter_criteria=None,
    taken_over=True,
)
BATCH = ("m1", "m2", "m3")


def _invocation(payload: Any, function_error: str | None = None) -> Invocation:
    return Invocation(
        route=None,
        function_name="f",
        function_arn=MAPPING.function_arn,
        handler="h.h",
        runtime="python3.12",
        code=DeployedCode(b"", "", "test"),
        request_id="r",
        payload=payload,
        function_error=function_error,
        log_lines=(),
        imported_from="h.py",
        seconds=0.0,
        mapping=MAPPING,
    )


@pytest.mark.parametrize(
    ("payload", "failed"),
    [
        (None, ()),
        ({}, ()),
        ({"batchItemFailures": []}, ()),
        ({"batchItemFailures": None}, ()),
        ({"instances": []}, ()),
        ({"batchItemFailures": [{"itemIdentifier": "m2"}]}, ("m2",)),
        ({"batchItemFailures": [{"itemIdentifier": "m3"}, {"itemIdentifier": "m1"}]}, ("m3", "m1")),
        ("done", BATCH),
        ({"batchItemFailures": "m2"}, BATCH),
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, BATCH),
        ({"batchItemFailures": [{"itemIdentifier": None}]}, BATCH),
        ({"batchItemFailures": [{"messageId": "m2"}]}, BATCH),
        ({"batchItemFailures": [{"itemIdentifier": "m9"}]}, BATCH),
        ({"batchItemFailures": ["m2"]}, BATCH),
    ],
)
def test_a_partial_batch_response_is_read_as_lambda_reads_it(payload: Any, failed: tuple[str, ...]) -> None:
    assert batch_failures(MAPPING, _invocation(payload), BATCH)[0] == failed


def test_a_failed_invocation_fails_the_batch_whatever_it_reports() -> None:
    assert batch_failures(MAPPING, _invocation({"batchItemFailures": []}, "Unhandled"), BATCH)[0] == BATCH


def test_message_attributes_reach_the_record_as_lambda_shapes_them() -> None:
    message = {
        "MessageId": "m1",
        "ReceiptHandle": "h",
        "Body": "{}",
        "MD5OfBody": "99914b932bd37a50b983c5e7c90ae93b",
        "MD5OfMessageAttributes": "0123456789abcdef0123456789abcdef",
        "Attributes": {"ApproximateReceiveCount": "3", "SentTimestamp": "1", "Policy": "not passed on"},
        "MessageAttributes": {
            "kind": {"StringValue": "sweep", "DataType": "String"},
            "blob": {"BinaryValue": b"\x00\x01", "DataType": "Binary"},
        },
    }
    record = sqs_record(message, "arn:aws:sqs:eu-west-1:123456789012:q")
    assert record["attributes"] == {"ApproximateReceiveCount": "3", "SentTimestamp": "1"}
    assert record["messageAttributes"] == {
        "kind": {
            "stringValue": "sweep",
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "String",
        },
        "blob": {"binaryValue": "AAE=", "stringListValues": [], "binaryListValues": [], "dataType": "Binary"},
    }
    assert record["md5OfMessageAttributes"] == message["MD5OfMessageAttributes"]
    assert record["awsRegion"] == "eu-west-1"


# ---- the CloudTrail samples --------------------------------------------------------------------------------

ENVELOPE_KEYS = {"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"}
RECORD_KEYS = {
    "eventVersion",
    "userIdentity",
    "eventTime",
    "eventSource",
    "eventName",
    "awsRegion",
    "sourceIPAddress",
    "userAgent",
    "requestParameters",
    "responseElements",
    "requestID",
    "eventID",
    "readOnly",
    "eventType",
    "managementEvent",
    "recipientAccountId",
    "eventCategory",
}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_each_cloudtrail_sample_has_the_documented_shape(name: str) -> None:
    event = load_api_call(name)
    event_name, identity_type = SAMPLES[name]
    assert set(event) == ENVELOPE_KEYS and event["version"] == "0" and event["resources"] == []
    assert event["detail-type"] == DETAIL_TYPE
    detail = event["detail"]
    assert set(detail) >= RECORD_KEYS and "errorCode" not in detail
    assert detail["eventSource"] == SOURCES[event["source"]] and detail["eventName"] == event_name
    assert (event["account"], event["region"]) == (FIXTURE_ACCOUNT, FIXTURE_REGION)
    assert (detail["recipientAccountId"], detail["awsRegion"]) == (FIXTURE_ACCOUNT, FIXTURE_REGION)
    assert event["time"] == detail["eventTime"] and event["id"] != detail["eventID"]
    identity = detail["userIdentity"]
    assert identity["type"] == identity_type and identity["accountId"] == FIXTURE_ACCOUNT
    if identity_type == "AssumedRole":
        assert issuer_arn(event) == FIXTURE_ISSUER_ROLE_ARN
    else:
        assert issuer_arn(event) is None, "IAM users and the root user have no session issuer"
    # the console sessions have a sessionContext (its sessionIssuer empty), an access key's call none
    assert ("sessionCredentialFromConsole" in detail) == (
        "sessionContext" in identity and identity_type != "AssumedRole"
    )


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_a_re_aimed_sample_keeps_nothing_of_the_sample_account_region_or_ids(name: str) -> None:
    sample = load_api_call(name)
    request = sample["detail"]["requestParameters"] or {}
    group_ids = ["sg-0aaaaaaaaaaaaaaaa"] if "groupSet" in request or name.startswith("authorize") else None
    event = api_call_event(
        name,
        account="222233334444",
        region="eu-central-1",
        instance_id="i-0bbbbbbbbbbbbbbbb",
        network_interface_id="eni-0cccccccccccccccc",
        group_ids=group_ids,
        association_id="iip-assoc-0dddddddddddddddd",
        instance_profile_arn="arn:aws:iam::222233334444:instance-profile/app",
    )
    text = json.dumps(event)
    for left in (
        FIXTURE_ACCOUNT,
        FIXTURE_REGION,
        FIXTURE_INSTANCE_ID,
        FIXTURE_INTERFACE_ID,
        FIXTURE_ASSOCIATION_ID,
        FIXTURE_INSTANCE_PROFILE_ARN,
        *(FIXTURE_GROUP_IDS if group_ids else ()),
    ):
        assert left not in text
    assert (event["account"], event["region"]) == ("222233334444", "eu-central-1")
    assert event["detail"]["awsRegion"] == "eu-central-1"
    assert event["id"] != sample["id"] and event["detail"]["eventID"] != sample["detail"]["eventID"]
    original = json.dumps(sample)
    for wanted, placeholder in (
        ("i-0bbbbbbbbbbbbbbbb", FIXTURE_INSTANCE_ID),
        ("eni-0cccccccccccccccc", FIXTURE_INTERFACE_ID),
        ("iip-assoc-0dddddddddddddddd", FIXTURE_ASSOCIATION_ID),
    ):
        assert (wanted in text) == (placeholder in original)


def test_a_re_aimed_group_set_names_the_given_groups() -> None:
    event = api_call_event(
        "modify_network_interface_attribute", group_ids=["sg-0aaaaaaaaaaaaaaaa", "sg-0bbbbbbbbbbbbbbbb"]
    )
    assert event["detail"]["requestParameters"]["groupSet"] == {
        "items": [{"groupId": "sg-0aaaaaaaaaaaaaaaa"}, {"groupId": "sg-0bbbbbbbbbbbbbbbb"}]
    }


def test_a_session_is_re_aimed_at_another_role() -> None:
    role = "arn:aws:iam::123456789012:role/service/ec2-isolation"
    event = api_call_event("modify_network_interface_attribute", issuer_role_arn=role)
    identity = event["detail"]["userIdentity"]
    assert (
        issuer_arn(event) == role
        and identity["sessionContext"]["sessionIssuer"]["userName"] == "ec2-isolation"
    )
    assert identity["arn"] == "arn:aws:sts::123456789012:assumed-role/ec2-isolation/MySessionName"
    with pytest.raises(ValueError, match="not by an assumed role"):
        api_call_event("authorize_security_group_ingress", issuer_role_arn=role)


def test_a_failed_call_has_an_error_code_and_no_response_elements() -> None:
    event = api_call_event("attach_network_interface", error_code="Client.UnauthorizedOperation")
    assert event["detail"]["errorCode"] == "Client.UnauthorizedOperation"
    assert event["detail"]["errorMessage"] and event["detail"]["responseElements"] is None
