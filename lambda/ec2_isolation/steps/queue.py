"""The reconcile queue: the reconciler's work (sweeps, converges, announcements to send again), sent by the
function to itself."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ec2_isolation.steps import requires

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import SendMessageBatchRequestEntryTypeDef

#: SendMessageBatch takes at most ten messages
SQS_BATCH = 10


@requires("sqs:SendMessage")
def send_messages(
    sqs: SQSClient, queue_url: str, bodies: Sequence[Mapping[str, Any]], *, delay_seconds: int = 0
) -> int:
    """Send ``bodies`` (JSON objects) to the queue, ten a call; every one must be accepted (a refused one
    raises). Returns the calls made."""
    calls = 0
    for start in range(0, len(bodies), SQS_BATCH):
        chunk = bodies[start : start + SQS_BATCH]
        entries: list[SendMessageBatchRequestEntryTypeDef] = [
            {"Id": str(index), "MessageBody": json.dumps(body, sort_keys=True), "DelaySeconds": delay_seconds}
            for index, body in enumerate(chunk)
        ]
        answer = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
        calls += 1
        failed = answer.get("Failed") or []
        if failed:
            raise RuntimeError(
                "the reconcile queue refused "
                + "; ".join(f"{f.get('Code')}: {f.get('Message', '')}" for f in failed)
            )
    return calls
