"""A harness for the reconciler's specifications: the schedule rules' events and the reconcile queue, run
in-process against the emulator the way EventBridge and the Lambda service's SQS event source mapping
would (receive a message, invoke with the SQS event, delete it unless reported failed)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

import boto3

from ec2_isolation.clients import AwsClients
from ec2_isolation.config import Settings
from ec2_isolation.events import FunctionIdentity
from ec2_isolation.handler import handle
from tests.fixtures.events import ACCOUNT, EVENTS, REGION
from tests.unit.conftest import FUNCTION_ARN

QUEUE_NAME = "ec2-isolation-reconcile"
RULE_ARN = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/ec2-isolation-reconcile"
FULL_RULE_ARN = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/ec2-isolation-reconcile-full"
FUNCTION_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/ec2-isolation-lambda"


@cache
def _sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return data


def scheduled_event(rule_arn: str = RULE_ARN, event_id: str = "sweep-1") -> dict[str, Any]:
    """The documented "Scheduled Event" sample, from ``rule_arn``."""
    event = copy.deepcopy(_sample("scheduled_event.json"))
    event.update({"id": event_id, "account": ACCOUNT, "region": REGION, "resources": [rule_arn]})
    return event


def sqs_event(body: str, queue_arn: str, message_id: str, receipt_handle: str) -> dict[str, Any]:
    """The documented Lambda SQS event sample, carrying one message."""
    event = copy.deepcopy(_sample("sqs_event.json"))
    (record,) = event["Records"]
    record.update(
        {
            "messageId": message_id,
            "receiptHandle": receipt_handle,
            "body": body,
            "eventSourceARN": queue_arn,
            "awsRegion": REGION,
        }
    )
    return event


@dataclass
class Reconciler:
    """The function, its schedules and its queue."""

    settings: Settings
    clients: AwsClients
    readers: AwsClients
    sleeps: list[float]
    now: Callable[[], datetime]
    function: FunctionIdentity
    #: remaining time of each invocation, in ms (a test shortens it to cut a sweep)
    remaining: Callable[[], int] = lambda: 900_000
    results: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def of(
        cls, settings: Settings, clients: AwsClients, readers: AwsClients, sleeps: list[float], now: datetime
    ) -> Reconciler:
        """The deployed function (its ARN: the unit tests' own), at the fixed time ``now``."""

        return cls(
            settings=settings,
            clients=clients,
            readers=readers,
            sleeps=sleeps,
            now=lambda: now,
            function=FunctionIdentity.from_function_arn(FUNCTION_ARN),
        )

    @property
    def sqs(self) -> Any:
        return boto3.client("sqs", region_name=REGION)

    @property
    def queue_arn(self) -> str:
        return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{QUEUE_NAME}"

    def invoke(self, event: Any, settings: Settings | None = None) -> dict[str, Any]:
        return handle(
            event,
            settings=settings or self.settings,
            clients=self.clients,
            function=self.function,
            now=self.now,
            sleep=self.sleeps.append,
            readers=self.readers,
            remaining_ms=self.remaining,
        )

    def schedule(self, *, full: bool = False, event_id: str = "sweep-1") -> dict[str, Any]:
        return self.invoke(scheduled_event(FULL_RULE_ARN if full else RULE_ARN, event_id))

    def messages(self) -> list[dict[str, Any]]:
        """The bodies waiting in the queue (read without taking them: they become visible again)."""
        answer = self.sqs.receive_message(
            QueueUrl=self.settings.reconcile_queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0
        )
        return [json.loads(m["Body"]) for m in answer.get("Messages", [])]

    def pump(self, limit: int = 100) -> list[dict[str, Any]]:
        """Deliver the queue's messages one at a time until it is empty (``limit`` at most); a message
        reported failed is left (not redelivered here) and kept in ``failed``."""
        delivered: list[dict[str, Any]] = []
        for _ in range(limit):
            answer = self.sqs.receive_message(
                QueueUrl=self.settings.reconcile_queue_url, MaxNumberOfMessages=1, VisibilityTimeout=300
            )
            messages = answer.get("Messages", [])
            if not messages:
                break
            (message,) = messages
            event = sqs_event(message["Body"], self.queue_arn, message["MessageId"], message["ReceiptHandle"])
            outcome = self.invoke(event)
            failures = {f["itemIdentifier"] for f in outcome["batchItemFailures"]}
            if message["MessageId"] in failures:
                self.failed.append(json.loads(message["Body"]))
            else:
                self.sqs.delete_message(
                    QueueUrl=self.settings.reconcile_queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
            delivered += outcome["results"]
        self.results += delivered
        return delivered

    def round(self, *, full: bool = False, event_id: str = "sweep-1") -> list[dict[str, Any]]:
        """A schedule's round, run to the end: the sweeps, then the converges they queued."""
        self.schedule(full=full, event_id=event_id)
        return self.pump()

    def converged(self) -> list[dict[str, Any]]:
        """The converge results of the delivered messages (not the sweeps' summaries)."""
        return [r for r in self.results if "instance_id" in r]

    def sweeps(self) -> list[dict[str, Any]]:
        return [r for r in self.results if "sweep" in r]


def queue(name: str = QUEUE_NAME) -> str:
    return str(boto3.client("sqs", region_name=REGION).create_queue(QueueName=name)["QueueUrl"])


def delayed(queue_url: str) -> int:
    attributes = boto3.client("sqs", region_name=REGION).get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessagesDelayed"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessagesDelayed"])
