"""Exceptions. Every one of them fails the invocation, which Lambda then retries (the failure path)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError


def error_code(exc: ClientError) -> str:
    """The AWS error code of a failed call (``""`` when the response carries none)."""
    return str(exc.response.get("Error", {}).get("Code", ""))


class IsolationError(Exception):
    """Base class of every error the handler raises on purpose."""


class ConfigurationError(IsolationError):
    """The function's environment is missing or carries an invalid setting."""


class InvalidEvent(IsolationError):
    """The event is not a well-formed trigger event, or it is from (or names an instance in) an account
    and region this function does not serve."""


class AccountAccessDenied(IsolationError):
    """The executor role of the event's account could not be assumed (missing, or not trusting this
    function's role)."""


class InstanceNotFound(IsolationError):
    """The instance named by the event does not exist (or is not visible to this function)."""


class ForeignSecurityGroup(IsolationError):
    """A security group with the isolation group's name exists but is not managed by this module."""


class NeedsDecision(IsolationError):
    """A step found something that a retry cannot fix and that a person must decide (a profile set by hand
    on an isolated instance, which the release leaves as it is): the reconciler reports it once and does
    not retry it on every sweep."""


class ProfileVerificationFailed(IsolationError):
    """After the swap, EC2 does not report the isolation instance profile on the instance."""


class RecordBusy(IsolationError):
    """Another invocation holds the instance's record (isolating or releasing it): this one is retried."""


class InstanceIsolationFailed(IsolationError):
    """One or more steps failed for an instance (isolation or release); the others were still carried out."""

    def __init__(
        self, instance_id: str, failures: dict[str, str], result: dict[str, Any], action: str = "isolation"
    ) -> None:
        self.instance_id = instance_id
        self.failures = failures
        self.result = result
        detail = "; ".join(f"{step}: {why}" for step, why in failures.items())
        super().__init__(f"{action} of {instance_id} is incomplete: {detail}")


class EventIsolationFailed(IsolationError):
    """At least one instance of the event could not be fully isolated or released, or its outcome could not
    be announced; ``summary`` says what was done."""

    def __init__(self, summary: dict[str, Any]) -> None:
        self.summary = summary
        failed = [r["instance_id"] for r in summary["instances"] if r["status"] == "failed"]
        action = summary.get("action", "isolate")
        problems = [f"{action} failed for {', '.join(failed)}"] if failed else []
        if unannounced := summary.get("notification_failures"):
            problems.append(f"not announced for {', '.join(unannounced)}")
        super().__init__(f"event {summary['event_id']}: {'; '.join(problems)}")


class NotificationFailed(IsolationError):
    """The SNS summary or the result event of an instance's outcome could not be sent.

    ``sent`` says what did go out (``sns_message_id``, ``result_event_id``), so a caller can tell a
    half-sent announcement from one that sent nothing.
    """

    def __init__(self, message: str, sent: dict[str, str] | None = None) -> None:
        self.sent = dict(sent or {})
        super().__init__(message)
