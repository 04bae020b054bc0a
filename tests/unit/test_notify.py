"""Specification of the notifications and result events: the readable summary on an SNS topic and the
result event on the default EventBridge bus, each read back where it is delivered (an SQS queue
subscribed to the topic, an SQS queue targeted by a rule on the bus)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import boto3
import pytest

from ec2_isolation.clients import AwsClients
from ec2_isolation.config import Settings
from ec2_isolation.errors import ConfigurationError, EventIsolationFailed, NotificationFailed
from ec2_isolation.steps import notify
from ec2_isolation.steps.notify import (
    COMPLETED,
    DRY_RUN,
    FAILED,
    MAX_MESSAGE_BYTES,
    RELEASED,
    announce,
    result_event,
    summary,
)
from tests.fixtures.events import REGION, instance_arn, tag_change_event
from tests.fixtures.faults import Fault, inject, record_calls, respond
from tests.unit.analyst import request_isolation, request_release
from tests.unit.conftest import Invoke, Launch, tags_of

SOURCE = "ec2-isolation"
INSTANCE = "i-0123456789abcdef0"
ARN = instance_arn(INSTANCE)


# ---- where the announcements arrive -------------------------------------------------------------------


@pytest.fixture
def sqs() -> Any:
    return boto3.client("sqs", region_name=REGION)


def queue(sqs: Any, name: str) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def received(sqs: Any, url: str) -> list[dict[str, Any]]:
    """Every message waiting in the queue, parsed (SNS envelopes, EventBridge events)."""
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(message["Body"]) for message in messages]


@dataclasses.dataclass
class Topic:
    arn: str
    inbox: str


@pytest.fixture
def topic(sqs: Any) -> Topic:
    """The notification topic, subscribed to by a queue (as an e-mail subscriber would be)."""
    sns = boto3.client("sns", region_name=REGION)
    topic_arn = sns.create_topic(Name="ec2-isolation")["TopicArn"]
    url, arn = queue(sqs, "notifications")
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn)
    return Topic(topic_arn, url)


@pytest.fixture
def bus_inbox(sqs: Any) -> str:
    """A rule on the default bus for the module's result events, targeting a queue: chained automation."""
    events = boto3.client("events", region_name=REGION)
    url, arn = queue(sqs, "chained-automation")
    events.put_rule(Name="on-isolation-results", EventPattern=json.dumps({"source": [SOURCE]}))
    events.put_targets(Rule="on-isolation-results", Targets=[{"Id": "queue", "Arn": arn}])
    return url


@pytest.fixture
def announcing(settings: Settings, topic: Topic) -> Settings:
    """Both announcements configured, as the module configures them."""
    return dataclasses.replace(settings, sns_topic_arn=topic.arn, result_event_source=SOURCE)


def one(sqs: Any, url: str) -> dict[str, Any]:
    messages = received(sqs, url)
    assert len(messages) == 1, messages
    return messages[0]


# ---- results as the handler produces them ------------------------------------------------------------


def isolated_result(**overrides: Any) -> dict[str, Any]:
    return {
        "instance_id": INSTANCE,
        "state": "running",
        "vpc_id": "vpc-0a1b2c3d",
        "isolation_group_id": "sg-0isolation",
        "snapshot_ids": ["snap-0aaa", "snap-0bbb"],
        "status": "isolated",
        "steps": {"network_interfaces": "ok", "instance_profile": "ok", "snapshots": "ok"},
        "changes": [
            "eni-0aaa: sg-0app -> sg-0isolation",
            "instance profile web-app -> ec2-isolation-isolation",
        ],
        "failures": {},
        **overrides,
    }


FAILED_RESULT = isolated_result(
    status="failed",
    steps={"network_interfaces": "ok", "instance_profile": "failed"},
    changes=["eni-0aaa: sg-0app -> sg-0isolation"],
    failures={
        "instance_profile": "ClientError: UnauthorizedOperation: not authorized to perform iam:PassRole"
    },
)
DRY_RUN_RESULT = {
    "instance_id": INSTANCE,
    "status": "dry_run",
    "plan": ["move eni-0aaa from sg-0app to the isolation group", "swap instance profile web-app"],
    "steps": {},
    "changes": [],
    "failures": {},
}


# ---- the summary on SNS --------------------------------------------------------------------------------


class TestTheSummary:
    def test_an_isolation_is_summarised_on_the_topic(
        self,
        sqs: Any,
        topic: Topic,
        announcing: Settings,
        launch: Launch,
        invoke: Invoke,
        clients: AwsClients,
    ) -> None:
        # Given an instance the handler has just isolated
        instance_id = launch()
        [result] = invoke(tag_change_event([instance_id], event_id="evt-1"))["instances"]
        # When its outcome is announced
        sent = announce(
            clients,
            announcing,
            action="isolate",
            event_id="evt-1",
            result=result,
            instance_arn=instance_arn(instance_id),
        )
        # Then the topic's subscriber reads, first, that the instance is isolated
        envelope = one(sqs, topic.inbox)
        assert envelope["MessageId"] == sent["sns_message_id"]
        assert envelope["Subject"] == f"EC2 isolation: {instance_id} isolated"
        message: str = envelope["Message"]
        assert message.splitlines()[0] == f"{instance_id} isolated"
        # then every change, the failures (none), and the full result as JSON
        head, full = message.split("\nFull result:\n")
        assert result["changes"]
        for change in result["changes"]:
            assert f"  - {change}\n" in head
        assert "Failures:\n  (none)\n" in head
        assert "Triggering event: evt-1\n" in head
        assert json.loads(full) == json.loads(json.dumps(result))

    def test_a_failed_isolation_says_so_first_and_names_each_failure(
        self, sqs: Any, topic: Topic, announcing: Settings, clients: AwsClients
    ) -> None:
        announce(
            clients, announcing, action="isolate", event_id="evt-2", result=FAILED_RESULT, instance_arn=ARN
        )
        envelope = one(sqs, topic.inbox)
        assert envelope["Subject"] == f"EC2 isolation: {INSTANCE} isolation FAILED (1 step failed)"
        message = envelope["Message"]
        assert message.startswith(f"{INSTANCE} isolation FAILED (1 step failed)\n")
        assert (
            "Failures:\n  - instance_profile: ClientError: UnauthorizedOperation: not authorized to "
            "perform iam:PassRole\n"
        ) in message
        assert "  - instance_profile: failed\n" in message

    def test_a_dry_run_says_what_would_be_done_and_that_nothing_was(
        self, sqs: Any, topic: Topic, announcing: Settings, clients: AwsClients
    ) -> None:
        announce(
            clients,
            announcing,
            action="isolate",
            event_id="evt-3",
            result=DRY_RUN_RESULT,
            instance_arn=ARN,
            dry_run=True,
        )
        message = one(sqs, topic.inbox)["Message"]
        assert message.startswith(f"DRY RUN: would isolate {INSTANCE}\n")
        assert "Action:           isolate (dry run: nothing was changed)\n" in message
        assert "Would do:\n  - move eni-0aaa from sg-0app to the isolation group\n" in message
        assert "Changes:\n  (none)\n" in message

    @pytest.mark.parametrize(
        ("action", "result", "headline"),
        [
            ("isolate", isolated_result(), f"{INSTANCE} isolated"),
            (
                "isolate",
                isolated_result(status="already_isolated", changes=[]),
                f"{INSTANCE} was already isolated: nothing changed",
            ),
            (
                "isolate",
                {"instance_id": INSTANCE, "status": "skipped", "reason": "instance is terminated"},
                f"{INSTANCE} not isolated: instance is terminated",
            ),
            (
                "isolate",
                {"instance_id": INSTANCE, "status": "in_progress", "reason": "event evt-0 is isolating"},
                f"{INSTANCE} isolation already in progress in another invocation",
            ),
            ("release", {"instance_id": INSTANCE, "status": "released"}, f"{INSTANCE} released"),
            (
                "release",
                {"instance_id": INSTANCE, "status": "already_released"},
                f"{INSTANCE} was already released: nothing changed",
            ),
            (
                "release",
                {"instance_id": INSTANCE, "status": "not_isolated"},
                f"{INSTANCE} release: the instance is not isolated, nothing to do",
            ),
            (
                "release",
                {"instance_id": INSTANCE, "status": "failed", "failures": {"a": "x", "b": "y"}},
                f"{INSTANCE} release FAILED (2 steps failed)",
            ),
            ("release", {**DRY_RUN_RESULT}, f"DRY RUN: would release {INSTANCE}"),
        ],
        ids=[
            "isolated",
            "already_isolated",
            "skipped",
            "in_progress",
            "released",
            "already_released",
            "not_isolated",
            "release-failed",
            "release-dry-run",
        ],
    )
    def test_the_first_line_says_plainly_what_happened(
        self, action: str, result: dict[str, Any], headline: str
    ) -> None:
        subject, message = summary(action, "evt", result, ARN, result["status"] == "dry_run")
        assert message.splitlines()[0] == headline
        assert subject == f"EC2 isolation: {headline}"

    def test_the_subject_is_one_short_ascii_line_that_sns_accepts(
        self, sqs: Any, topic: Topic, announcing: Settings, clients: AwsClients
    ) -> None:
        # Given a reason with line breaks, non-ASCII characters and far more than 100 characters
        result = {
            "instance_id": INSTANCE,
            "status": "skipped",
            "reason": "instance is terminated\nby «someone» — " + "x" * 200,
        }
        # When it is announced, then SNS accepts the subject (the emulator refuses one over 100 characters)
        announce(clients, announcing, action="isolate", event_id="evt", result=result, instance_arn=ARN)
        subject: str = one(sqs, topic.inbox)["Subject"]
        assert len(subject) <= 100
        assert subject.isascii() and subject.isprintable()
        assert subject.startswith(f"EC2 isolation: {INSTANCE} not isolated: instance is terminated by")
        assert subject.endswith("...")

    def test_a_huge_result_is_cut_with_a_marker_below_the_sns_limit(
        self, sqs: Any, topic: Topic, announcing: Settings, clients: AwsClients
    ) -> None:
        # Given a result whose JSON alone is larger than an SNS message may be
        result = isolated_result(
            target_groups=[f"arn:aws:elasticloadbalancing:tg/{i:06d}" for i in range(9000)]
        )
        assert len(json.dumps(result)) > 262_144
        # When it is announced
        announce(clients, announcing, action="isolate", event_id="evt", result=result, instance_arn=ARN)
        # Then the message is delivered whole up to a clear marker, within the limit
        message: str = one(sqs, topic.inbox)["Message"]
        assert len(message.encode()) <= MAX_MESSAGE_BYTES
        assert message.startswith(f"{INSTANCE} isolated\n")
        assert "Changes:\n  - eni-0aaa: sg-0app -> sg-0isolation\n" in message
        assert message.rstrip().endswith("the function's log and the isolation record hold it]")
        assert "[truncated: " in message


# ---- the result event on EventBridge --------------------------------------------------------------------


class TestTheResultEvent:
    def test_an_isolation_puts_a_completed_event_on_the_default_bus(
        self,
        sqs: Any,
        bus_inbox: str,
        announcing: Settings,
        launch: Launch,
        invoke: Invoke,
        clients: AwsClients,
    ) -> None:
        # Given an instance the handler has just isolated
        instance_id = launch()
        [result] = invoke(tag_change_event([instance_id], event_id="evt-1"))["instances"]
        # When its outcome is announced
        sent = announce(
            clients,
            announcing,
            action="isolate",
            event_id="evt-1",
            result=result,
            instance_arn=instance_arn(instance_id),
        )
        # Then a rule on the default bus matching the source receives a "Completed" event for the instance
        event = one(sqs, bus_inbox)
        assert event["id"] == sent["result_event_id"]
        assert event["source"] == SOURCE
        assert event["detail-type"] == COMPLETED
        assert event["resources"] == [instance_arn(instance_id)]
        detail = event["detail"]
        assert {
            key: detail[key] for key in ("action", "status", "instance_id", "instance_arn", "event_id")
        } == {
            "action": "isolate",
            "status": "isolated",
            "instance_id": instance_id,
            "instance_arn": instance_arn(instance_id),
            "event_id": "evt-1",
        }
        assert detail["dry_run"] is False
        # with the changes, failures, steps and the rest of the result
        assert detail["changes"] == result["changes"] and detail["changes"]
        assert detail["failures"] == {}
        assert detail["steps"] == result["steps"]
        assert detail["vpc_id"] == result["vpc_id"]
        assert {key: value for key, value in detail.items() if key in result} == json.loads(
            json.dumps(result)
        )

    @pytest.mark.parametrize(
        ("action", "result", "dry_run", "detail_type"),
        [
            ("isolate", isolated_result(status="already_isolated", changes=[]), False, COMPLETED),
            ("isolate", FAILED_RESULT, False, FAILED),
            ("release", {**FAILED_RESULT}, False, FAILED),
            ("release", isolated_result(status="released"), False, RELEASED),
            ("release", isolated_result(status="already_released", changes=[]), False, RELEASED),
            ("isolate", DRY_RUN_RESULT, True, DRY_RUN),
            ("release", DRY_RUN_RESULT, True, DRY_RUN),
            # a dry run is never announced as a real outcome, whatever its status
            ("isolate", FAILED_RESULT, True, DRY_RUN),
        ],
        ids=[
            "already_isolated",
            "isolation-failed",
            "release-failed",
            "released",
            "already_released",
            "isolate-dry-run",
            "release-dry-run",
            "failed-dry-run",
        ],
    )
    def test_each_outcome_has_its_detail_type(
        self,
        sqs: Any,
        bus_inbox: str,
        announcing: Settings,
        clients: AwsClients,
        action: str,
        result: dict[str, Any],
        dry_run: bool,
        detail_type: str,
    ) -> None:
        announce(
            clients,
            announcing,
            action=action,
            event_id="evt-9",
            result=result,
            instance_arn=ARN,
            dry_run=dry_run,
        )
        event = one(sqs, bus_inbox)
        assert event["detail-type"] == detail_type
        assert event["resources"] == [ARN]
        assert event["detail"]["action"] == action
        assert event["detail"]["status"] == result["status"]
        assert event["detail"]["dry_run"] is dry_run
        assert event["detail"]["failures"] == result["failures"]
        if result["status"] == "dry_run":
            assert event["detail"]["plan"] == DRY_RUN_RESULT["plan"]

    @pytest.mark.parametrize(
        ("action", "status"),
        [
            ("isolate", "skipped"),
            ("isolate", "in_progress"),
            ("release", "in_progress"),
            ("release", "not_isolated"),
        ],
    )
    def test_a_no_op_puts_no_result_event_but_is_still_summarised(
        self,
        sqs: Any,
        topic: Topic,
        bus_inbox: str,
        announcing: Settings,
        clients: AwsClients,
        action: str,
        status: str,
    ) -> None:
        calls = record_calls(clients.sns, clients.events)
        result = {"instance_id": INSTANCE, "status": status, "reason": "why", "changes": [], "failures": {}}
        sent = announce(clients, announcing, action=action, event_id="evt", result=result, instance_arn=ARN)
        assert set(sent) == {"sns_message_id"}
        assert calls.operations() == ["Publish"]
        assert received(sqs, bus_inbox) == []
        assert one(sqs, topic.inbox)["MessageId"] == sent["sns_message_id"]
        assert result_event(action, "evt", result, ARN, False) is None

    def test_every_status_the_handler_produces_has_a_decision(self) -> None:
        """A status the mapping does not know is a programming error, not a silent no-op."""
        assert set(notify.DETAIL_TYPES) == {
            "isolated",
            "already_isolated",
            "failed",
            "skipped",
            "in_progress",
            "dry_run",
            "released",
            "already_released",
            "not_isolated",
            # the reconciler's reports
            "needs_attention",
            "group_resealed",
            "record_closed",
            # evidence custody's report
            "evidence_in_custody",
        }
        with pytest.raises(ValueError, match="no result event is defined for the status 'exploded'"):
            result_event("isolate", "evt", {"instance_id": INSTANCE, "status": "exploded"}, ARN, False)
        with pytest.raises(ValueError, match="action must be one of"):
            summary("reboot", "evt", isolated_result(), ARN, False)

    def test_the_detail_names_the_triggering_event_even_if_the_result_has_its_own(self) -> None:
        event = result_event("isolate", "evt-trigger", isolated_result(event_id="other"), ARN, False)
        assert event is not None
        assert event[1]["event_id"] == "evt-trigger"


# ---- what is configured is what is sent ------------------------------------------------------------------


class TestConfiguration:
    def test_nothing_configured_sends_nothing_and_calls_nothing(
        self, sqs: Any, topic: Topic, bus_inbox: str, settings: Settings, clients: AwsClients
    ) -> None:
        # Given the module's defaults for a function configured before notifications existed
        assert settings.sns_topic_arn == "" and settings.result_event_source == ""
        fresh = AwsClients()
        # When an outcome is announced
        sent = announce(
            fresh, settings, action="isolate", event_id="evt", result=isolated_result(), instance_arn=ARN
        )
        # Then nothing is sent, and the SNS and EventBridge clients are not even built
        assert sent == {}
        assert "sns" not in vars(fresh) and "events" not in vars(fresh)
        assert received(sqs, topic.inbox) == [] and received(sqs, bus_inbox) == []

    def test_only_what_is_configured_is_sent(
        self, sqs: Any, topic: Topic, bus_inbox: str, settings: Settings, clients: AwsClients
    ) -> None:
        calls = record_calls(clients.sns, clients.events)
        only_events = dataclasses.replace(settings, result_event_source=SOURCE)
        only_sns = dataclasses.replace(settings, sns_topic_arn=topic.arn)
        result = isolated_result()
        assert set(
            announce(clients, only_events, action="isolate", event_id="e", result=result, instance_arn=ARN)
        ) == {"result_event_id"}
        assert set(
            announce(clients, only_sns, action="isolate", event_id="e", result=result, instance_arn=ARN)
        ) == {"sns_message_id"}
        assert calls.operations() == ["PutEvents", "Publish"]
        assert len(received(sqs, topic.inbox)) == 1 and len(received(sqs, bus_inbox)) == 1

    def test_the_settings_come_from_the_environment(self, function_env: dict[str, str]) -> None:
        topic_arn = "arn:aws:sns:us-east-1:123456789012:ec2-isolation"
        settings = Settings.from_env(
            {**function_env, "SNS_TOPIC_ARN": topic_arn, "RESULT_EVENT_SOURCE": SOURCE}
        )
        assert (settings.sns_topic_arn, settings.result_event_source) == (topic_arn, SOURCE)
        unset = Settings.from_env({**function_env, "SNS_TOPIC_ARN": "", "RESULT_EVENT_SOURCE": ""})
        assert (unset.sns_topic_arn, unset.result_event_source) == ("", "")

    @pytest.mark.parametrize(
        ("name", "value", "message"),
        [
            (
                "SNS_TOPIC_ARN",
                "arn:aws:sqs:us-east-1:123456789012:queue",
                "not the ARN of a standard SNS topic",
            ),
            ("SNS_TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:alerts.fifo", "standard SNS topic"),
            ("SNS_TOPIC_ARN", "ec2-isolation", "standard SNS topic"),
            ("RESULT_EVENT_SOURCE", "aws.ec2", 'not start with "aws'),
            ("RESULT_EVENT_SOURCE", "AWS.isolation", "not start with"),
            ("RESULT_EVENT_SOURCE", "ec2 isolation", "letters, digits"),
            ("RESULT_EVENT_SOURCE", "x" * 257, "1 to 256 characters"),
        ],
    )
    def test_invalid_settings_are_refused(
        self, function_env: dict[str, str], name: str, value: str, message: str
    ) -> None:
        with pytest.raises(ConfigurationError, match=message):
            Settings.from_env({**function_env, name: value})


# ---- failures are never swallowed --------------------------------------------------------------------


class PartialFailure:
    """PutEvents as EventBridge answers when it refuses an entry: HTTP 200, the failure in the body."""

    def __init__(self) -> None:
        self.hits = 0

    def __call__(self, model: Any, **_: Any) -> Any:
        if model.name != "PutEvents":
            return None
        self.hits += 1
        body = json.dumps(
            {
                "FailedEntryCount": 1,
                "Entries": [{"ErrorCode": "InternalFailure", "ErrorMessage": "Internal service error."}],
            }
        )
        return respond(model, 200, body)


class TestFailures:
    def test_a_result_event_eventbridge_refuses_raises(
        self, sqs: Any, bus_inbox: str, announcing: Settings, clients: AwsClients
    ) -> None:
        refusal = inject(clients.events, PartialFailure())
        with pytest.raises(NotificationFailed, match="InternalFailure: Internal service error") as failed:
            notify.put_result_event(
                clients.events, source=SOURCE, detail_type=COMPLETED, resources=[ARN], detail={"a": 1}
            )
        assert refusal.hits == 1
        assert "EC2 Isolation Completed" in str(failed.value)
        assert received(sqs, bus_inbox) == []

    def test_one_failure_does_not_stop_the_other_announcement_but_is_raised(
        self, sqs: Any, topic: Topic, bus_inbox: str, announcing: Settings, clients: AwsClients
    ) -> None:
        # Given EventBridge refuses the entry
        inject(clients.events, PartialFailure())
        # When an outcome is announced, then the summary still goes out, and the failure is raised after it
        with pytest.raises(NotificationFailed, match="result event: NotificationFailed") as failed:
            announce(
                clients,
                announcing,
                action="isolate",
                event_id="evt",
                result=isolated_result(),
                instance_arn=ARN,
            )
        assert set(failed.value.sent) == {"sns_message_id"}
        assert one(sqs, topic.inbox)["MessageId"] == failed.value.sent["sns_message_id"]

    def test_a_refused_publish_raises_after_the_result_event_is_put(
        self, sqs: Any, topic: Topic, bus_inbox: str, announcing: Settings, clients: AwsClients
    ) -> None:
        inject(
            clients.sns,
            Fault("Publish", "AuthorizationError", "not authorized to perform: SNS:Publish", status=403),
        )
        with pytest.raises(
            NotificationFailed, match=r"SNS summary: AuthorizationErrorException: .*not authorized"
        ) as failed:
            announce(
                clients,
                announcing,
                action="isolate",
                event_id="evt",
                result=isolated_result(),
                instance_arn=ARN,
            )
        assert set(failed.value.sent) == {"result_event_id"}
        assert one(sqs, bus_inbox)["id"] == failed.value.sent["result_event_id"]
        assert received(sqs, topic.inbox) == []


class TestTheHandlerAnnounces:
    def test_an_isolation_and_its_release_are_each_announced_once(
        self, sqs: Any, ec2: Any, topic: Topic, bus_inbox: str, announcing: Settings, launch: Any, invoke: Any
    ) -> None:
        # Given an instance, and the module announcing on a topic and on the default bus
        instance_id = launch()
        # When an analyst isolates it, then releases it
        isolated = invoke(request_isolation(ec2, instance_id, "evt-isolate"), announcing)
        isolation_summary, isolation_event = one(sqs, topic.inbox), one(sqs, bus_inbox)
        released = invoke(request_release(ec2, instance_id, "evt-release"), announcing)
        release_summary, release_event = one(sqs, topic.inbox), one(sqs, bus_inbox)
        # Then each outcome was summarised for people and put on the bus for automation, with its ids
        assert isolation_event["detail-type"] == COMPLETED
        assert isolation_event["detail"]["status"] == "isolated"
        assert isolation_event["detail"]["event_id"] == "evt-isolate"
        assert isolation_event["resources"] == [instance_arn(instance_id)]
        assert release_event["detail-type"] == "EC2 Isolation Released"
        assert release_event["detail"]["action"] == "release"
        assert release_event["detail"]["status"] == "released"
        assert instance_id in isolation_summary["Subject"] and instance_id in release_summary["Subject"]
        assert isolated["instances"][0]["announced"] == {
            "sns_message_id": isolation_summary["MessageId"],
            "result_event_id": isolation_event["id"],
        }
        assert released["instances"][0]["announced"]["result_event_id"] == release_event["id"]

    def test_an_outcome_that_cannot_be_announced_fails_the_invocation_but_stands(
        self,
        sqs: Any,
        ec2: Any,
        topic: Topic,
        announcing: Settings,
        launch: Any,
        invoke: Any,
        clients: AwsClients,
    ) -> None:
        # Given SNS refuses to publish
        instance_id = launch()
        inject(clients.sns, Fault("Publish", "AuthorizationError", "not authorized", status=403, times=1))
        # When the instance is isolated, then the isolation stands, and the invocation fails so it is retried
        with pytest.raises(EventIsolationFailed, match="not announced for") as failed:
            invoke(request_isolation(ec2, instance_id, "evt-isolate"), announcing)
        [result] = failed.value.summary["instances"]
        assert result["status"] == "isolated"
        assert "AuthorizationError" in failed.value.summary["notification_failures"][instance_id]
        assert tags_of(ec2, instance_id)["SecurityIsolation:Status"] == "Isolated"
        # and the retry announces it (the isolation itself changes nothing more)
        [retried] = invoke(tag_change_event([instance_id], event_id="evt-isolate"), announcing)["instances"]
        assert retried["status"] == "already_isolated"
        assert "already" in one(sqs, topic.inbox)["Message"].splitlines()[0]
