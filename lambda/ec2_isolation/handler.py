"""Lambda entry point: parse the event (a tag change, a GuardDuty finding or a Security Hub custom action),
isolate or release each instance it names, return a per-instance summary."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ec2_isolation import reconcile
from ec2_isolation.accounts import clients_for, record_key
from ec2_isolation.apicalls import is_api_call, parse_api_call
from ec2_isolation.clients import AwsClients
from ec2_isolation.config import Settings
from ec2_isolation.errors import (
    EventIsolationFailed,
    InstanceIsolationFailed,
    InvalidEvent,
    NotificationFailed,
)
from ec2_isolation.events import RELEASE, FunctionIdentity, parse_event
from ec2_isolation.isolation import isolate_instance
from ec2_isolation.log import log, log_context, setup_logging
from ec2_isolation.release import release_instance
from ec2_isolation.steps.notify import announce

_clients: AwsClients | None = None
_readers: AwsClients | None = None


def get_clients() -> AwsClients:
    """One set of clients per execution environment, built on first use."""
    global _clients  # noqa: PLW0603
    if _clients is None:
        _clients = AwsClients()
    return _clients


def get_readers() -> AwsClients:
    """The reconciler's sweep reads: clients that retry less (a throttled sweep yields to isolations)."""
    global _readers  # noqa: PLW0603
    if _readers is None:
        _readers = AwsClients(config=reconcile.SWEEP_CONFIG)
    return _readers


def utcnow() -> datetime:
    return datetime.now(tz=UTC)


def pause(seconds: float) -> None:
    """The handler's waits (the connection-tracking wait, retry backoffs): real time in Lambda."""
    time.sleep(seconds)


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    settings = Settings.from_env()
    setup_logging(settings.log_level)
    function = FunctionIdentity.from_function_arn(getattr(context, "invoked_function_arn", ""))
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return handle(
        event,
        settings=settings,
        clients=get_clients(),
        function=function,
        sleep=pause,
        readers=get_readers(),
        remaining_ms=remaining if callable(remaining) else _no_deadline,
    )


def _no_deadline() -> int:
    return 900_000


def handle(
    event: Any,
    *,
    settings: Settings,
    clients: AwsClients,
    function: FunctionIdentity,
    now: Callable[[], datetime] = utcnow,
    sleep: Callable[[float], None] = time.sleep,
    readers: AwsClients | None = None,
    remaining_ms: Callable[[], int] = _no_deadline,
) -> dict[str, Any]:
    if reconcile.is_queue_batch(event):
        invocation = reconcile.Invocation(
            clients, readers or clients, settings, function, now, sleep, remaining_ms
        )
        return reconcile.handle_messages(event, invocation)
    event_id = event.get("id") if isinstance(event, dict) else None
    with log_context(event_id=event_id):
        if reconcile.is_scheduled(event):
            mode = reconcile.schedule_mode(event, settings, function)
            return reconcile.start_round(clients, settings, function, event_id=str(event_id), mode=mode)
        if is_api_call(event):
            call = parse_api_call(event)
            return reconcile.on_api_call(clients, settings, function, call, now=now, sleep=sleep)
        try:
            parsed = parse_event(
                event,
                function,
                member_account_ids=settings.member_account_ids,
                organization_id=settings.organization_id,
            )
        except InvalidEvent as exc:
            log(logging.ERROR, "rejected event", reason=str(exc), event=event)
            raise
        action, reason = parsed.decide(settings)
        # What the event was, for the summary (and each result): the tag, a GuardDuty finding or the
        # Security Hub findings sent to the custom action; and the resources it named but are not instances.
        about: dict[str, Any] = {"trigger": parsed.trigger}
        if parsed.skipped:
            about["skipped"] = list(parsed.skipped)
            log(logging.WARNING, "resources that are not EC2 instances are skipped", skipped=parsed.skipped)
        if action is None:
            log(logging.INFO, "event asks for neither isolation nor release; nothing to do", reason=reason)
            return {"event_id": parsed.event_id, "action": "none", "reason": reason, "instances": [], **about}

        results: list[dict[str, Any]] = []
        unannounced: dict[str, str] = {}
        # Each instance in its own account and region: the event's for a tag, the finding's for a
        # GuardDuty finding, its ARN's for a Security Hub finding (an administrator sees its members').
        for target in parsed.targets:
            account, region, instance_id = target
            with log_context(
                instance_id=instance_id,
                account=account,
                region=region,
                action=action,
                dry_run=settings.dry_run,
            ):
                result = _act(
                    action,
                    clients,
                    instance_id,
                    settings,
                    event_id=parsed.event_id,
                    trigger=parsed.trigger_for(target),
                    function=function,
                    account=account,
                    region=region,
                    now=now,
                    sleep=sleep,
                )
                results.append(result)
                try:
                    result["announced"] = announce(
                        clients,
                        settings,
                        action=action,
                        event_id=parsed.event_id,
                        result=result,
                        instance_arn=function.instance_arn(instance_id, account, region),
                        dry_run=settings.dry_run,
                    )
                except NotificationFailed as exc:
                    # The outcome stands; the invocation fails so that it is retried (and announced).
                    result["announced"] = exc.sent
                    unannounced[instance_id] = str(exc)
        summary = {
            "event_id": parsed.event_id,
            "action": action,
            "dry_run": settings.dry_run,
            "instances": results,
            **about,
        }
        if unannounced:
            summary["notification_failures"] = unannounced
        if unannounced or any(r["status"] == "failed" for r in results):
            log(logging.ERROR, "event not fully handled", summary=summary)
            raise EventIsolationFailed(summary)
        log(logging.INFO, "event handled", summary=summary)
        return summary


def _act(
    action: str,
    clients: AwsClients,
    instance_id: str,
    settings: Settings,
    *,
    event_id: str,
    trigger: dict[str, Any],
    function: FunctionIdentity,
    account: str,
    region: str,
    now: Callable[[], datetime],
    sleep: Callable[[float], None],
) -> dict[str, Any]:
    """Isolate or release one instance; a failure becomes its result (the others are still handled).
    The result says what triggered it."""
    try:
        # ---- the instance's account and region: its clients (an assumed executor role in a
        # member account; the record, SNS and result events stay central), its isolation profile, its
        # ARN, and its record key (``account:region:i-...`` outside the function's own)
        acting = clients_for(clients, settings, function, account, region, event_id=event_id)
        local = settings.for_account(account)
        key = record_key(function, account, region, instance_id)
        instance_arn = function.instance_arn(instance_id, account, region)
        # ----
        if action == RELEASE:
            result = release_instance(acting, instance_id, local, event_id=event_id, now=now, record_key=key)
        else:
            result = isolate_instance(
                acting,
                instance_id,
                local,
                event_id=event_id,
                instance_arn=instance_arn,
                now=now,
                sleep=sleep,
                trigger=trigger,
                record_key=key,
            )
    except InstanceIsolationFailed as exc:
        log(logging.ERROR, f"{action} incomplete", failures=exc.failures, result=exc.result)
        result = exc.result
    except Exception as exc:
        log(logging.ERROR, f"{action} failed", exc_info=True)
        failure = {"release" if action == RELEASE else "isolation": f"{type(exc).__name__}: {exc}"}
        result = {"instance_id": instance_id, "action": action, "status": "failed", "failures": failure}
    return {**result, "trigger": trigger}
