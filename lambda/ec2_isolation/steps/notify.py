"""Announcing an instance's outcome: a readable summary on an SNS topic (for people), and a result event on
the default EventBridge bus (for automation that chains on an isolation, a release or a failure).

The payloads are built by pure functions (``summary``, ``result_event``) from the per-instance result the
handler produces; ``announce`` sends each one only when it is configured. What is sent is never silently
lost: a refused publish, and a result event that EventBridge reports as failed (PutEvents answers 200
with ``FailedEntryCount``), raise ``NotificationFailed``.

Result events by status (the ``detail-type``):

========================================  ==================================================
status                                    detail-type
========================================  ==================================================
``isolated``, ``already_isolated``        ``EC2 Isolation Completed``
``failed`` (isolation or release)         ``EC2 Isolation Failed``
``released``, ``already_released``        ``EC2 Isolation Released``
``dry_run`` (and any result of a dry run) ``EC2 Isolation Dry Run``
``skipped``, ``in_progress``,             none (the SNS summary is still sent)
``not_isolated``
``evidence_in_custody``                   ``EC2 Isolation Evidence In Custody``
========================================  ==================================================

A result carries the instance's evidence manifest (``evidence``: each snapshot, its lock and its copies)
when the isolation took or locked snapshots, and the custody announcement carries the entries that
reached the security account.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ec2_isolation.errors import NotificationFailed
from ec2_isolation.log import log
from ec2_isolation.manifest import manifest_lines
from ec2_isolation.steps import requires

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_sns import SNSClient

    from ec2_isolation.clients import AwsClients
    from ec2_isolation.config import Settings

ISOLATE, RELEASE = "isolate", "release"
ACTIONS = frozenset({ISOLATE, RELEASE})

COMPLETED = "EC2 Isolation Completed"
FAILED = "EC2 Isolation Failed"
RELEASED = "EC2 Isolation Released"
DRY_RUN = "EC2 Isolation Dry Run"
# the reconciler's outcomes (docs/reconciler.md)
CAUGHT_UP = "EC2 Isolation Caught Up"
DRIFT_REPAIRED = "EC2 Isolation Drift Repaired"
NEEDS_ATTENTION = "EC2 Isolation Needs Attention"
GROUP_RESEALED = "EC2 Isolation Group Resealed"
RECORD_CLOSED = "EC2 Isolation Record Closed"
#: evidence snapshots of an instance reached the security account (docs/evidence.md)
EVIDENCE_IN_CUSTODY = "EC2 Isolation Evidence In Custody"
#: a reconciler result's ``reconcile`` kind -> the detail-type of its result event (a failure stays
#: "EC2 Isolation Failed", a dry run "EC2 Isolation Dry Run")
RECONCILE_DETAIL_TYPES: Mapping[str, str] = {
    "caught_up": CAUGHT_UP,
    "drift_repaired": DRIFT_REPAIRED,
    "needs_attention": NEEDS_ATTENTION,
    "group_resealed": GROUP_RESEALED,
    "record_closed": RECORD_CLOSED,
    "evidence_in_custody": EVIDENCE_IN_CUSTODY,
}

#: status -> detail-type of its result event; None: a no-op that puts no result event
DETAIL_TYPES: Mapping[str, str | None] = {
    "isolated": COMPLETED,
    "already_isolated": COMPLETED,
    "failed": FAILED,
    "released": RELEASED,
    "already_released": RELEASED,
    "dry_run": DRY_RUN,
    "skipped": None,
    "in_progress": None,
    "not_isolated": None,
    # the reconciler's reports that are not an isolation or a release of their own
    "needs_attention": NEEDS_ATTENTION,
    "group_resealed": GROUP_RESEALED,
    "record_closed": RECORD_CLOSED,
    "evidence_in_custody": EVIDENCE_IN_CUSTODY,
}

#: SNS limits: a subject of 100 ASCII characters without line breaks, a message of 256 KB
MAX_SUBJECT_CHARACTERS = 100
#: well under SNS's 262,144 bytes (and EventBridge's 256 KB per entry), headers and envelope included
MAX_MESSAGE_BYTES = 200_000
TRUNCATED = "\n... [truncated: {size} bytes in all; the function's log and the isolation record hold it]\n"

_NOT_PRINTABLE_ASCII = re.compile(r"[^\x20-\x7e]+")


def _headline(action: str, result: Mapping[str, Any], dry_run: bool) -> str:
    """The first line of the summary: what happened, plainly."""
    instance = str(result.get("instance_id", "the instance"))
    status = str(result.get("status", "unknown"))
    reason = result.get("reason")
    failed_steps = len(result.get("failures") or {})
    noun = "isolation" if action == ISOLATE else "release"
    if status == "dry_run":
        return f"DRY RUN: would {action} {instance}"
    prefix = "DRY RUN: " if dry_run else ""
    lines = {
        "isolated": f"{instance} isolated",
        "already_isolated": f"{instance} was already isolated: nothing changed",
        "released": f"{instance} released",
        "already_released": f"{instance} was already released: nothing changed",
        "failed": f"{instance} {noun} FAILED"
        + (f" ({failed_steps} step{'s' if failed_steps != 1 else ''} failed)" if failed_steps else ""),
        "skipped": f"{instance} not isolated: {reason or 'nothing to contain'}",
        "in_progress": f"{instance} {noun} already in progress in another invocation",
        "not_isolated": f"{instance} release: the instance is not isolated, nothing to do",
        "needs_attention": f"{instance} needs attention: {reason or 'a person must decide'}",
        "group_resealed": f"isolation group {instance} had rules: sealed again",
        "record_closed": f"{instance} terminated: its isolation record is closed",
        "evidence_in_custody": f"{instance}: evidence in the security account's custody",
    }
    kind = result.get("reconcile")
    if kind == "caught_up" and status in ("isolated", "released"):
        return prefix + f"{instance} {status} by the reconciler (its event was lost)"
    if kind == "drift_repaired" and status == "isolated":
        return prefix + f"{instance} drifted from its isolation: repaired"
    return prefix + lines.get(status, f"{instance} {noun}: {status}")


def _subject(headline: str) -> str:
    """An SNS subject: printable ASCII, one line, at most 100 characters."""
    text = _NOT_PRINTABLE_ASCII.sub(" ", f"EC2 isolation: {headline}").strip()
    if len(text) > MAX_SUBJECT_CHARACTERS:
        text = text[: MAX_SUBJECT_CHARACTERS - 3].rstrip() + "..."
    return text


def _fit(text: str, limit: int) -> str:
    """``text``, cut with a clear marker when its UTF-8 form is longer than ``limit`` bytes."""
    data = text.encode()
    if len(data) <= limit:
        return text
    marker = TRUNCATED.format(size=len(data))
    kept = data[: limit - len(marker.encode())].decode(errors="ignore")
    return kept + marker


def _as_json(value: Any, *, indent: int | None = None) -> str:
    return json.dumps(value, indent=indent, sort_keys=indent is not None, default=str, ensure_ascii=False)


def summary(
    action: str, event_id: str, result: Mapping[str, Any], instance_arn: str, dry_run: bool
) -> tuple[str, str]:
    """The SNS subject and message of one instance's outcome: what happened first, then the changes, the
    failures, the steps, and the full result as JSON (cut with a marker, never beyond the SNS limit)."""
    _check_action(action)
    headline = _headline(action, result, dry_run)
    lines = [
        headline,
        "",
        f"Action:           {action}{' (dry run: nothing was changed)' if dry_run else ''}",
        f"Instance:         {result.get('instance_id', '?')} ({instance_arn})",
        f"Status:           {result.get('status', 'unknown')}",
        f"Triggering event: {event_id}",
    ]
    if result.get("reason"):
        lines.append(f"Reason:           {result['reason']}")
    if plan := result.get("plan"):
        lines += ["", "Would do:", *(f"  - {step}" for step in plan)]
    changes = result.get("changes") or []
    lines += ["", "Changes:", *(f"  - {change}" for change in changes)] + ([] if changes else ["  (none)"])
    failures = result.get("failures") or {}
    lines += ["", "Failures:", *(f"  - {step}: {why}" for step, why in failures.items())]
    if not failures:
        lines.append("  (none)")
    if steps := result.get("steps"):
        lines += ["", "Steps:", *(f"  - {step}: {outcome}" for step, outcome in steps.items())]
    if evidence := result.get("evidence"):
        manifest = {str(e.get("snapshot_id")): e for e in evidence if isinstance(e, dict)}
        lines += ["", "Evidence:", *(f"  {line}" for line in manifest_lines(manifest))]
    head = "\n".join(lines) + "\n\nFull result:\n"
    body = _as_json(dict(result), indent=2) + "\n"
    budget = MAX_MESSAGE_BYTES - len(head.encode())
    if budget < 1_000:  # an enormous list of changes: cut the whole text instead
        return _subject(headline), _fit(head + body, MAX_MESSAGE_BYTES)
    return _subject(headline), head + _fit(body, budget)


def _check_action(action: str) -> None:
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {sorted(ACTIONS)}, not {action!r}")


def result_event(
    action: str, event_id: str, result: Mapping[str, Any], instance_arn: str, dry_run: bool
) -> tuple[str, dict[str, Any]] | None:
    """The detail-type and detail of the result event of one instance's outcome, or None for a no-op.

    A dry run is always ``EC2 Isolation Dry Run``, whatever its status, so that automation chained on a
    completed isolation never reacts to a simulation. The detail carries the action, status, instance,
    triggering event, the dry-run flag, the changes, failures and steps, and the rest of the result.
    """
    _check_action(action)
    status = str(result.get("status", ""))
    if status not in DETAIL_TYPES:
        raise ValueError(f"no result event is defined for the status {status!r}")
    detail_type = DETAIL_TYPES[status]
    if detail_type is None:
        return None
    kind = str(result.get("reconcile", ""))
    if kind in RECONCILE_DETAIL_TYPES and detail_type != FAILED:
        detail_type = RECONCILE_DETAIL_TYPES[kind]
    if dry_run:
        detail_type = DRY_RUN
    core: dict[str, Any] = {
        "action": action,
        "status": status,
        "instance_id": result.get("instance_id"),
        "instance_arn": instance_arn,
        "event_id": event_id,
        "dry_run": dry_run,
        "changes": result.get("changes") or [],
        "failures": result.get("failures") or {},
        "steps": result.get("steps") or {},
    }
    detail = {**core, **{key: value for key, value in result.items() if key not in core}}
    if len(_as_json(detail).encode()) > MAX_MESSAGE_BYTES:
        detail = {**core, "truncated": True}
    # What EventBridge will deliver: JSON types only.
    delivered: dict[str, Any] = json.loads(_as_json(detail))
    return detail_type, delivered


@requires("sns:Publish")
def publish_summary(sns: SNSClient, topic_arn: str, subject: str, message: str) -> str:
    """Publish the summary; return the SNS message id."""
    message_id = sns.publish(TopicArn=topic_arn, Subject=subject, Message=message)["MessageId"]
    log(logging.INFO, "published the summary", topic=topic_arn, message_id=message_id)
    return message_id


@requires("events:PutEvents")
def put_result_event(
    events: EventBridgeClient,
    *,
    source: str,
    detail_type: str,
    resources: list[str],
    detail: dict[str, Any],
) -> str:
    """Put the result event on the default bus; return its event id. An entry EventBridge reports as failed
    (it answers 200 with ``FailedEntryCount``, it does not raise) raises ``NotificationFailed``."""
    response = events.put_events(
        Entries=[
            {"Source": source, "DetailType": detail_type, "Resources": resources, "Detail": _as_json(detail)}
        ]
    )
    entries = response.get("Entries", [])
    if response.get("FailedEntryCount", 0) or len(entries) != 1 or "EventId" not in entries[0]:
        entry: Mapping[str, Any] = entries[0] if entries else {}
        raise NotificationFailed(
            f"EventBridge did not accept the {detail_type!r} event: "
            f"{entry.get('ErrorCode', 'no event id')}: {entry.get('ErrorMessage', '')}".rstrip(": ")
        )
    event_id = entries[0]["EventId"]
    log(logging.INFO, "put the result event", detail_type=detail_type, result_event_id=event_id)
    return event_id


def announce(
    clients: AwsClients,
    settings: Settings,
    *,
    action: str,
    event_id: str,
    result: dict[str, Any],
    instance_arn: str,
    dry_run: bool = False,
) -> dict[str, str]:
    """Send the summary (when a topic is configured) and the result event (when a source is configured and
    the status has one). Returns what was sent: ``sns_message_id``, ``result_event_id``.

    Both are attempted; when either fails, ``NotificationFailed`` is raised afterwards, naming every
    failure and carrying what was sent.
    """
    sent: dict[str, str] = {}
    failures: list[str] = []
    if settings.sns_topic_arn:
        subject, message = summary(action, event_id, result, instance_arn, dry_run)
        try:
            sent["sns_message_id"] = publish_summary(clients.sns, settings.sns_topic_arn, subject, message)
        except Exception as exc:
            log(logging.ERROR, "the summary could not be published", exc_info=True)
            failures.append(f"SNS summary: {type(exc).__name__}: {exc}")
    event = (
        result_event(action, event_id, result, instance_arn, dry_run)
        if settings.result_event_source
        else None
    )
    if event is not None:
        detail_type, detail = event
        try:
            sent["result_event_id"] = put_result_event(
                clients.events,
                source=settings.result_event_source,
                detail_type=detail_type,
                resources=[instance_arn],
                detail=detail,
            )
        except Exception as exc:
            log(logging.ERROR, "the result event could not be put", exc_info=True)
            failures.append(f"result event: {type(exc).__name__}: {exc}")
    if failures:
        raise NotificationFailed("; ".join(failures), sent)
    return sent
