"""The reconciler: every tagged instance converges to what its trigger tag asks for, whatever happened to
the events (lost, late, repeated, or undone afterwards). docs/reconciler.md tells the whole story.

Three ways in, one convergence:

* **A round** (the schedule rules: the frequent sweep, and the daily full check): the open records are read
  once (one Scan), and one sweep message per account and region goes to the reconcile queue.
* **A sweep** (a queue message): the isolation groups of the region, the tagged instances and the open
  records' instances are read in batches (`ec2_isolation.steps.observe`); each instance is decided
  (`decide`). What needs EC2 changes (a catch-up, a drift repair, a lost release) goes back to the queue as
  one converge message per instance; what needs no EC2 change (a record closed, a report) is done at once.
  A sweep stops before its time budget and sends the rest on; when EC2 throttles it, it yields (it sends
  itself again, later) rather than take the capacity real isolations need.
* **A converge** (a queue message, or an API call that can undo an isolation): the instance and its record
  are read again, with what only a per-instance read shows (termination protection), decided again, and
  acted on with the isolation's and the release's own steps, under the record's lock.

What it never does: release an instance whose tag does not say the release value; act on a record an
invocation holds; retry, on every sweep, what a person must decide (reported once; the full check tries
again); change anything in a steady state (everything converged: reads only).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botocore.config import Config
from botocore.exceptions import ClientError

from ec2_isolation import metrics
from ec2_isolation.accounts import clients_for, record_key
from ec2_isolation.apicalls import ApiCall, made_by_the_function
from ec2_isolation.clients import AwsClients
from ec2_isolation.config import Settings
from ec2_isolation.convergence import (
    ACTS_ON_EC2,
    ATTENTION,
    CLOSE,
    EVENT,
    FULL,
    KEEP,
    NONE,
    RELEASE,
    REPAIR,
    SWEEP,
    UNREAD,
    WAIT,
    Decision,
    decide,
    drift_of,
)
from ec2_isolation.errors import (
    ConfigurationError,
    InstanceIsolationFailed,
    InstanceNotFound,
    InvalidEvent,
    NotificationFailed,
    error_code,
)
from ec2_isolation.events import RECONCILE_TRIGGER, FunctionIdentity, serves
from ec2_isolation.isolation import isolate_instance
from ec2_isolation.log import log, log_context
from ec2_isolation.manifest import CustodyFailed, custody_account, custody_pass, is_pending
from ec2_isolation.release import release_instance
from ec2_isolation.steps.evidence import PROTECTION_ATTRIBUTES, instance_attribute
from ec2_isolation.steps.instance import GONE_STATES, describe_instance, instance_tags
from ec2_isolation.steps.network import seal_isolation_group
from ec2_isolation.steps.notify import announce
from ec2_isolation.steps.observe import (
    Calls,
    association_instances,
    auto_scaling_memberships,
    groups_by_id,
    has_rules,
    instance_profiles,
    instances_by_id,
    instances_on_groups,
    interface_instances,
    isolation_groups,
    tagged_instances,
    target_registrations,
)
from ec2_isolation.steps.queue import send_messages
from ec2_isolation.steps.record import (
    ISOLATED,
    OPEN_STATUSES,
    close_terminated,
    note_notice,
    read_record,
    scan_open_records,
    update_evidence,
)
from ec2_isolation.values import plain

if TYPE_CHECKING:
    from mypy_boto3_ec2.type_defs import InstanceTypeDef

SWEEP_KIND, CONVERGE_KIND = "ec2-isolation.sweep", "ec2-isolation.converge"
#: a pass that carries the custody of one account and region's evidence forward (ec2_isolation.manifest)
CUSTODY_KIND = "ec2-isolation.custody"
#: an announcement that failed, sent again from the queue (so that a failed SNS or EventBridge call ends in
#: a retry and the dead letters, not only in the log)
ANNOUNCE_KIND = "ec2-isolation.announce"
#: the sweep's reads try twice, not five times: when EC2 throttles, the sweep yields to the isolations
SWEEP_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 2},
    connect_timeout=5,
    read_timeout=20,
    user_agent_extra="terraform-aws-ec2-isolation reconciler",
)
#: a sweep hands the rest of its work on when less than this is left of the invocation
BUDGET_MARGIN_MS = 20_000
#: the open records a sweep message carries, in bytes of JSON (an SQS message holds 256 KiB; beyond this,
#: the sweep reads its records itself)
MAX_RECORDS_BYTES = 200_000
#: a sweep that EC2 keeps throttling yields this many times (each later), then fails (retry, dead letter)
MAX_YIELDS = 5
YIELD_DELAY_SECONDS = 60
SQS_MAX_DELAY_SECONDS = 900
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "SlowDown",
        "EC2ThrottledException",
    }
)

# ---- the queue --------------------------------------------------------------------------------------


def _queue_arn(settings: Settings, function: FunctionIdentity) -> str:
    """The reconcile queue's ARN, from its URL (``.../<account>/<name>``) and the function's region."""
    account, name = settings.reconcile_queue_url.rstrip("/").split("/")[-2:]
    return f"arn:{function.partition}:sqs:{function.region}:{account}:{name}"


def _announce(
    clients: AwsClients,
    settings: Settings,
    *,
    action: str,
    event_id: str,
    result: dict[str, Any],
    resource_arn: str,
) -> dict[str, str]:
    """Announce a reconciler outcome; when SNS or EventBridge fails, the announcement goes to the queue
    (retried from there, then the dead letters): the outcome stands and is never re-done only to be
    announced."""
    try:
        return announce(
            clients,
            settings,
            action=action,
            event_id=event_id,
            result=result,
            instance_arn=resource_arn,
            dry_run=settings.dry_run,
        )
    except NotificationFailed as exc:
        if not settings.reconcile_queue_url:
            raise
        log(
            logging.ERROR,
            "the announcement failed: it is queued to be sent again",
            error=str(exc),
            sent=exc.sent,
        )
        body = {
            "kind": ANNOUNCE_KIND,
            "action": action,
            "event_id": event_id,
            "resource_arn": resource_arn,
            "result": json.loads(json.dumps(result, default=str)),
        }
        send_messages(clients.sqs, settings.reconcile_queue_url, [body])
        return {**exc.sent, "queued": "the announcement failed and is queued to be sent again"}


def announce_again(clients: AwsClients, settings: Settings, message: Mapping[str, Any]) -> dict[str, str]:
    """An announcement that failed before (`_announce`), sent again; a failure fails the message."""
    return announce(
        clients,
        settings,
        action=str(message["action"]),
        event_id=str(message["event_id"]),
        result=dict(message["result"]),
        instance_arn=str(message["resource_arn"]),
        dry_run=settings.dry_run,
    )


def _check_served(
    settings: Settings, function: FunctionIdentity, account: str, region: str, what: str
) -> None:
    """Refuse ``what`` (a sweep, an instance, an API call) of an account and region not served."""
    if not serves(
        account,
        region,
        function,
        member_account_ids=settings.member_account_ids,
        organization_id=settings.organization_id,
    ):
        raise InvalidEvent(f"{what} is in account {account} in {region}, which this function does not serve")


# ---- a round: one sweep message per account and region ---------------------------------------------


def _scope_of(key: str, function: FunctionIdentity) -> tuple[str, str, str]:
    parts = key.split(":")
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    return function.account, function.region, key


def scopes(
    settings: Settings, function: FunctionIdentity, records: Iterable[Mapping[str, Any]]
) -> list[tuple[str, str]]:
    """The accounts and regions a round sweeps: every served one of the function's own account and the
    swept accounts in the reconcile regions, and every one that has an open record."""
    regions = settings.reconcile_regions or (function.region,)
    wanted = {
        (account, region) for account in {function.account, *settings.swept_accounts} for region in regions
    }
    wanted.add((function.account, function.region))
    wanted |= {_scope_of(str(r["instance_id"]), function)[:2] for r in records}
    return sorted(
        scope
        for scope in wanted
        if serves(
            *scope,
            function,
            member_account_ids=settings.member_account_ids,
            organization_id=settings.organization_id,
        )
    )


def _open(records: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The open records of a scan (which also returns closed records whose custody is under way)."""
    return [r for r in records if r.get("status") in OPEN_STATUSES]


def _small(record: Mapping[str, Any]) -> dict[str, Any]:
    """A record's small attributes as a message carries them (JSON: DynamoDB's numbers as ints)."""
    small: dict[str, Any] = json.loads(
        json.dumps({k: v for k, v in record.items() if v is not None}, default=_json_number)
    )
    return small


def _json_number(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def start_round(
    clients: AwsClients, settings: Settings, function: FunctionIdentity, *, event_id: str, mode: str
) -> dict[str, Any]:
    """Read the open records once, and send one sweep message per account and region."""
    scanned, pages = scan_open_records(clients.dynamodb, settings.record_table_name)
    records = _open(scanned)
    by_scope: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for record in records:
        account, region, _ = _scope_of(str(record["instance_id"]), function)
        by_scope.setdefault((account, region), []).append(_small(record))
    bodies: list[dict[str, Any]] = []
    custody: dict[tuple[str, str], list[str]] = {}
    for record in scanned:
        if record.get("custody_pending") is True:
            account, region, _ = _scope_of(str(record["instance_id"]), function)
            custody.setdefault((account, region), []).append(str(record["instance_id"]))
    for (account, region), keys in sorted(custody.items()):
        for start in range(0, len(keys), CUSTODY_RECORDS_PER_MESSAGE):
            bodies.append(
                {
                    "kind": CUSTODY_KIND,
                    "sweep_id": event_id,
                    "account": account,
                    "region": region,
                    "records": sorted(keys)[start : start + CUSTODY_RECORDS_PER_MESSAGE],
                }
            )
    for account, region in scopes(settings, function, records):
        held = by_scope.get((account, region), [])
        bodies.append(
            {
                "kind": SWEEP_KIND,
                "sweep_id": event_id,
                "mode": mode,
                "account": account,
                "region": region,
                "records": held if len(json.dumps(held)) <= MAX_RECORDS_BYTES else None,
            }
        )
    send_messages(clients.sqs, settings.reconcile_queue_url, bodies)
    summary: dict[str, Any] = {
        "action": "reconcile",
        "mode": mode,
        "event_id": event_id,
        "sweeps": [f"{b['account']}/{b['region']}" for b in bodies if b["kind"] == SWEEP_KIND],
        "custody": [f"{b['account']}/{b['region']}" for b in bodies if b["kind"] == CUSTODY_KIND],
        "open_records": len(records),
        "custody_records": sum(len(keys) for keys in custody.values()),
        "scan_pages": pages,
    }
    log(logging.INFO, "reconciliation round started", **summary)
    return summary


# ---- a sweep ----------------------------------------------------------------------------------------


@dataclass
class SweepReport:
    account: str
    region: str
    mode: str
    calls: Calls = field(default_factory=Calls)
    decisions: dict[str, list[str]] = field(default_factory=dict)
    enqueued: int = 0
    resealed: list[dict[str, Any]] = field(default_factory=list)
    continued_after: str | None = None
    yielded: bool = False
    #: the last instance decided (where a sweep cut short carries on)
    last: str | None = None

    def decided(self, instance_id: str, decision: Decision) -> None:
        self.decisions.setdefault(decision.kind, []).append(instance_id)

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": "reconcile",
            "sweep": f"{self.account}/{self.region}",
            "mode": self.mode,
            "decisions": {kind: sorted(ids) for kind, ids in sorted(self.decisions.items())},
            "converges_queued": self.enqueued,
            "resealed_groups": self.resealed,
            "calls": dict(sorted(self.calls.items())),
            "continued_after": self.continued_after,
            "yielded": self.yielded,
        }


def _is_throttling(exc: BaseException) -> bool:
    return isinstance(exc, ClientError) and error_code(exc) in THROTTLING_CODES


def sweep(
    clients: AwsClients,
    reader: AwsClients,
    settings: Settings,
    function: FunctionIdentity,
    message: Mapping[str, Any],
    *,
    now: Callable[[], datetime],
    remaining_ms: Callable[[], int],
) -> dict[str, Any]:
    """One account and region: read in batches, decide every instance, hand the EC2 work to converges.

    ``reader`` makes the sweep's reads (few retries: a throttled sweep yields); ``clients`` the changes."""
    account, region, mode = str(message["account"]), str(message["region"]), str(message.get("mode", SWEEP))
    sweep_id = str(message["sweep_id"])
    report = SweepReport(account, region, mode)
    with log_context(sweep=f"{account}/{region}", sweep_id=sweep_id, mode=mode):
        try:
            _sweep(
                clients,
                reader,
                settings,
                function,
                message=message,
                report=report,
                now=now,
                remaining_ms=remaining_ms,
            )
        except Exception as exc:
            if not _is_throttling(exc):
                metrics.count(settings.metrics_namespace, **{metrics.SWEEP_FAILED: 1})
                raise
            _yield(clients, settings, message, report, exc)
        result = report.as_dict()
        log(
            logging.INFO,
            "sweep done" if not settings.dry_run else "dry run: what the sweep would do",
            **result,
        )
        return result


def _yield(
    clients: AwsClients, settings: Settings, message: Mapping[str, Any], report: SweepReport, exc: Exception
) -> None:
    """EC2 throttles the sweep: send it again, later (the isolations keep the capacity), up to a bound."""
    yields = int(message.get("yields", 0)) + 1
    if yields > MAX_YIELDS:
        metrics.count(settings.metrics_namespace, **{metrics.SWEEP_FAILED: 1})
        raise RuntimeError(f"the sweep was throttled {MAX_YIELDS} times in a row; giving up") from exc
    delay = min(SQS_MAX_DELAY_SECONDS, YIELD_DELAY_SECONDS * 2 ** (yields - 1))
    again = {**message, "yields": yields}
    if report.continued_after is not None:
        again["after"] = report.continued_after
    send_messages(clients.sqs, settings.reconcile_queue_url, [again], delay_seconds=delay)
    report.yielded = True
    metrics.count(settings.metrics_namespace, **{metrics.SWEEP_YIELDED: 1})
    log(
        logging.WARNING,
        "EC2 throttles the sweep: it yields and runs again later",
        delay_seconds=delay,
        yields=yields,
        error=str(exc),
    )


@dataclass
class _View:
    """One account and region as a sweep read it."""

    local: Settings
    reading: AwsClients
    acting: AwsClients
    instances: dict[str, InstanceTypeDef] = field(default_factory=dict)
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    group_of: dict[str, str] = field(default_factory=dict)
    profiles: Any = UNREAD
    memberships: Any = UNREAD
    registrations: Any = UNREAD

    def drift(self, instance_id: str) -> list[dict[str, Any]]:
        """The drift of an isolated instance, as far as the sweep reads it (no per-instance read)."""
        instance, record = self.instances.get(instance_id), self.records.get(instance_id)
        if instance is None or record is None or record.get("status") != ISOLATED:
            return []
        return drift_of(
            self.local,
            instance,
            self.group_of.get(str(instance.get("VpcId"))),
            profiles=UNREAD if self.profiles is UNREAD else self.profiles.get(instance_id, []),
            auto_scaling=UNREAD if self.memberships is UNREAD else self.memberships.get(instance_id),
            target_groups=UNREAD if self.registrations is UNREAD else self.registrations.get(instance_id, []),
        )


def _sweep(
    clients: AwsClients,
    reader: AwsClients,
    settings: Settings,
    function: FunctionIdentity,
    *,
    message: Mapping[str, Any],
    report: SweepReport,
    now: Callable[[], datetime],
    remaining_ms: Callable[[], int],
) -> None:
    account, region, sweep_id = report.account, report.region, str(message["sweep_id"])
    _check_served(settings, function, account, region, "the sweep")
    view = _View(
        local=settings.for_account(account),
        reading=clients_for(reader, settings, function, account, region, event_id=sweep_id),
        acting=clients_for(clients, settings, function, account, region, event_id=sweep_id),
    )
    _read_groups(
        clients, settings, function, view, report, reseal=message.get("after") is None, event_id=sweep_id
    )
    _read_instances(clients, function, view, report, message.get("records"))
    converges = _decide_each(clients, function, view, report, message, now=now, remaining_ms=remaining_ms)
    if converges:
        send_messages(clients.sqs, settings.reconcile_queue_url, converges)
        report.enqueued = len(converges)
    if report.continued_after is not None:
        rest = {**message, "after": report.continued_after, "yields": 0}
        send_messages(clients.sqs, settings.reconcile_queue_url, [rest])
        log(
            logging.WARNING,
            "the sweep's time budget is spent: the rest goes on in the next invocation",
            after=report.continued_after,
        )
    metrics.count(settings.metrics_namespace, **{metrics.GROUPS_RESEALED: len(report.resealed)})


def _read_groups(
    clients: AwsClients,
    settings: Settings,
    function: FunctionIdentity,
    view: _View,
    report: SweepReport,
    *,
    reseal: bool,
    event_id: str,
) -> None:
    """The isolation groups of the region (one read); sealed again where any rule was added."""
    local = view.local
    groups = isolation_groups(
        view.reading.ec2,
        local.isolation_security_group_name,
        (local.managed_tag_key, local.managed_tag_value),
        report.calls,
    )
    view.group_of = {vpc: g["GroupId"] for vpc, g in groups.items()}
    open_groups = [g["GroupId"] for g in groups.values() if has_rules(g)]
    if reseal and open_groups:
        _reseal(
            clients,
            settings,
            function,
            acting=view.acting,
            reading=view.reading,
            account=report.account,
            region=report.region,
            group_ids=open_groups,
            report=report,
            event_id=event_id,
        )


def _read_instances(
    clients: AwsClients, function: FunctionIdentity, view: _View, report: SweepReport, carried: Any
) -> None:
    """The tagged instances, the open records of the account and region and their instances, and (in
    batches) the Auto Scaling groups and target groups of the isolated ones."""
    local, calls, ec2 = view.local, report.calls, view.reading.ec2
    values = [local.isolation_tag_value, local.release_tag_value]
    for page in tagged_instances(ec2, local.isolation_tag_key, values, calls):
        view.instances.update({i["InstanceId"]: i for i in page})
    if carried is None:
        everything, pages = scan_open_records(clients.dynamodb, local.record_table_name)
        calls["dynamodb:Scan"] += pages
        carried = [_small(r) for r in _open(everything)]
    for record in carried:
        account, region, instance_id = _scope_of(str(record["instance_id"]), function)
        if (account, region) == (report.account, report.region):
            view.records[instance_id] = dict(record)
    missing = [i for i in view.records if i not in view.instances]
    if missing:
        view.instances.update(instances_by_id(ec2, missing, calls))
    isolated = sorted(
        i for i, r in view.records.items() if r.get("status") == ISOLATED and i in view.instances
    )
    if isolated:
        view.profiles = instance_profiles(ec2, isolated, calls)
    if isolated and local.auto_scaling_action != "none":
        view.memberships = auto_scaling_memberships(view.reading.autoscaling, isolated, calls)
    if isolated and local.deregister_targets:
        view.registrations = target_registrations(
            view.reading.elbv2, {i: view.instances[i] for i in isolated}, calls
        )


def _decide_each(
    clients: AwsClients,
    function: FunctionIdentity,
    view: _View,
    report: SweepReport,
    message: Mapping[str, Any],
    *,
    now: Callable[[], datetime],
    remaining_ms: Callable[[], int],
) -> list[dict[str, Any]]:
    """Every instance decided, in id order (a sweep cut short carries on after the last one it did):
    the converge messages of what needs EC2 changes; what needs none is settled here."""
    after, mode, sweep_id = message.get("after"), report.mode, str(message["sweep_id"])
    account, region = report.account, report.region
    converges: list[dict[str, Any]] = []
    for instance_id in sorted(set(view.instances) | set(view.records)):
        if after is not None and instance_id <= str(after):
            continue
        if remaining_ms() < BUDGET_MARGIN_MS:
            report.continued_after = _last_done(report, after)
            break
        instance, record = view.instances.get(instance_id), view.records.get(instance_id)
        decision = decide(
            view.local, instance=instance, record=record, drift=view.drift(instance_id), now=now(), mode=mode
        )
        report.decided(instance_id, decision)
        report.last = instance_id
        # the full check reads what only a per-instance read shows (termination protection)
        full_check = mode == FULL and decision.kind == NONE and (record or {}).get("status") == ISOLATED
        if decision.kind in ACTS_ON_EC2 or full_check:
            converges.append(
                {
                    "kind": CONVERGE_KIND,
                    "sweep_id": sweep_id,
                    "mode": mode,
                    "account": account,
                    "region": region,
                    "instance_id": instance_id,
                    "reason": decision.reason,
                }
            )
        elif decision.kind in (CLOSE, KEEP, ATTENTION):
            with log_context(instance_id=instance_id, account=account, region=region):
                _settle(
                    clients,
                    view.local,
                    function,
                    decision,
                    account=account,
                    region=region,
                    instance_id=instance_id,
                    instance=instance,
                    record=record or {},
                    event_id=sweep_id,
                    now=now,
                )
    return converges


def _last_done(report: SweepReport, after: Any) -> str:
    return str(report.last if report.last is not None else after if after is not None else "")


def _reseal(
    clients: AwsClients,
    settings: Settings,
    function: FunctionIdentity,
    *,
    acting: AwsClients,
    reading: AwsClients,
    account: str,
    region: str,
    group_ids: Sequence[str],
    report: SweepReport | None,
    event_id: str,
) -> list[dict[str, Any]]:
    """Seal again every isolation group that gained a rule, and report it with the instances it exposed."""
    calls = report.calls if report is not None else Calls()
    exposed = instances_on_groups(reading.ec2, group_ids, calls)
    done: list[dict[str, Any]] = []
    for group_id in group_ids:
        with log_context(group_id=group_id, account=account, region=region):
            revoked = seal_isolation_group(acting.ec2, group_id, dry_run=settings.dry_run)
            log(
                logging.ERROR,
                "an isolation group had rules: sealed again",
                revoked=revoked,
                exposed=exposed[group_id],
            )
            result = {
                "instance_id": group_id,
                "group_id": group_id,
                "status": "group_resealed",
                "reconcile": "group_resealed",
                "revoked_rule_ids": revoked,
                "exposed_instances": exposed[group_id],
                "changes": [f"revoked rules {', '.join(revoked)} of {group_id}"] if revoked else [],
                "failures": {},
                "steps": {"isolation_group": "ok"},
                "reason": f"it exposed {', '.join(exposed[group_id]) or 'no instance'}",
                "account": account,
                "region": region,
            }
            _announce(
                clients,
                settings,
                action="isolate",
                event_id=event_id,
                result=result,
                resource_arn=f"arn:{function.partition}:ec2:{region}:{account}:security-group/{group_id}",
            )
            done.append({"group_id": group_id, "revoked": revoked, "exposed_instances": exposed[group_id]})
    if report is not None:
        report.resealed += done
    return done


def _settle(
    clients: AwsClients,
    settings: Settings,
    function: FunctionIdentity,
    decision: Decision,
    *,
    account: str,
    region: str,
    instance_id: str,
    instance: InstanceTypeDef | None,
    record: Mapping[str, Any],
    event_id: str,
    now: Callable[[], datetime],
) -> dict[str, Any] | None:
    """What needs no EC2 change: close the record of a terminated instance; report, once, an isolated
    instance whose tag no longer asks for isolation, or what a person must decide."""
    key = record_key(function, account, region, instance_id)
    instance_arn = function.instance_arn(instance_id, account, region)
    table = settings.record_table_name
    base = {
        "instance_id": instance_id,
        "account": account,
        "region": region,
        "changes": [],
        "failures": {},
        "steps": {},
    }
    if decision.kind == CLOSE:
        state = instance.get("State", {}).get("Name", "terminated") if instance else "terminated"
        if settings.dry_run:
            log(logging.INFO, "dry run: would close the record of a terminated instance", state=state)
            return None
        if not close_terminated(
            clients.dynamodb, table, instance_id=key, version=record.get("version", 0), state=state, now=now()
        ):
            log(
                logging.WARNING,
                "the record changed since it was read: not closed now (the next sweep sees it)",
            )
            return None
        result = {**base, "status": "record_closed", "reconcile": "record_closed", "reason": decision.reason}
        metrics.count(settings.metrics_namespace, **{metrics.RECORDS_CLOSED: 1})
    else:
        kind = "tag" if decision.kind == KEEP else "decision"
        tag = instance_tags(instance).get(settings.isolation_tag_key) if instance else None
        marker = (
            f"tag={tag}"
            if kind == "tag"
            else json.dumps(record.get("needs_decision"), sort_keys=True, default=str)
        )
        attribute = "notice_tag" if kind == "tag" else "notice_decision"
        if record.get(attribute) == marker:
            return None  # reported already, for this very state
        result = {
            **base,
            "status": "needs_attention",
            "reconcile": "needs_attention",
            "reason": decision.reason,
        }
        if not settings.dry_run:
            metrics.count(settings.metrics_namespace, **{metrics.REFUSED: 1})
    log(logging.WARNING, "reconciler report", decision=decision.as_dict())
    result["announced"] = _announce(
        clients, settings, action="isolate", event_id=event_id, result=result, resource_arn=instance_arn
    )
    if decision.kind != CLOSE and not settings.dry_run:
        note_notice(clients.dynamodb, table, instance_id=key, kind=kind, marker=marker)
    return result


# ---- a converge: one instance, read again and acted on -----------------------------------------------


def converge(
    clients: AwsClients,
    settings: Settings,
    function: FunctionIdentity,
    *,
    account: str,
    region: str,
    instance_id: str,
    event_id: str,
    mode: str,
    reason: str,
    now: Callable[[], datetime],
    sleep: Callable[[float], None],
    api_call: ApiCall | None = None,
) -> dict[str, Any]:
    """Bring one instance to what its tag asks for (see the module docstring). Raises when the isolation
    or the release it ran failed (the message is retried; what still fails goes to the dead letters)."""
    with log_context(instance_id=instance_id, account=account, region=region, sweep_id=event_id, mode=mode):
        _check_served(settings, function, account, region, instance_id)
        acting = clients_for(clients, settings, function, account, region, event_id=event_id)
        local = settings.for_account(account)
        key = record_key(function, account, region, instance_id)
        record = read_record(clients.dynamodb, local.record_table_name, key)
        try:
            instance: InstanceTypeDef | None = describe_instance(acting.ec2, instance_id)
        except InstanceNotFound:
            instance = None
        drift: list[dict[str, Any]] = []
        state = instance.get("State", {}).get("Name", "") if instance else ""
        if (
            instance is not None
            and record is not None
            and record.get("status") == ISOLATED
            and state not in GONE_STATES
        ):
            drift = _live_drift(acting, local, instance, record)
        decision = decide(local, instance=instance, record=record, drift=drift, now=now(), mode=mode)
        log(logging.INFO, "reconciler decision", reason_queued=reason, **decision.as_dict())
        trigger: dict[str, Any] = {
            "type": RECONCILE_TRIGGER,
            "mode": mode,
            "sweep_id": event_id,
            "reason": decision.reason,
        }
        if api_call is not None:
            trigger.update(
                {
                    "api_call": api_call.event_name,
                    "caller": api_call.caller,
                    "call_event_id": api_call.event_id,
                }
            )
        attempt_id = f"reconcile-{event_id}"
        instance_arn = function.instance_arn(instance_id, account, region)
        if decision.kind in (NONE, WAIT):
            return {
                "instance_id": instance_id,
                "status": "converged" if decision.kind == NONE else "in_progress",
                **decision.as_dict(),
            }
        if decision.kind in (CLOSE, KEEP, ATTENTION):
            settled = _settle(
                clients,
                local,
                function,
                decision,
                account=account,
                region=region,
                instance_id=instance_id,
                instance=instance,
                record=record or {},
                event_id=event_id,
                now=now,
            )
            return settled or {"instance_id": instance_id, "status": "reported_already", **decision.as_dict()}
        if decision.kind == REPAIR:
            seen = (
                api_call.seen_at
                if api_call is not None and api_call.seen_at
                else now().isoformat(timespec="seconds")
            )
            trigger.update({"drift": list(decision.drift), "seen_at": seen})
        return _act(
            clients,
            acting,
            local,
            decision,
            instance_id=instance_id,
            instance_arn=instance_arn,
            key=key,
            attempt_id=attempt_id,
            trigger=trigger,
            now=now,
            sleep=sleep,
        )


def _live_drift(
    acting: AwsClients, settings: Settings, instance: InstanceTypeDef, record: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """The drift of one isolated instance, with everything read (termination protection included)."""
    calls = Calls()
    instance_id = instance["InstanceId"]
    groups = isolation_groups(
        acting.ec2,
        settings.isolation_security_group_name,
        (settings.managed_tag_key, settings.managed_tag_value),
        calls,
    )
    group = groups.get(str(instance.get("VpcId")))
    auto_scaling: Any = UNREAD
    target_groups: Any = UNREAD
    protection: Any = UNREAD
    if settings.auto_scaling_action != "none":
        auto_scaling = auto_scaling_memberships(acting.autoscaling, [instance_id], calls).get(instance_id)
    if settings.deregister_targets:
        target_groups = target_registrations(acting.elbv2, {instance_id: instance}, calls).get(
            instance_id, []
        )
    if settings.protect_from_termination:
        protection = {
            key: instance_attribute(acting.ec2, instance_id, key) for _, _, key in PROTECTION_ATTRIBUTES
        }
    drift = drift_of(
        settings,
        instance,
        group["GroupId"] if group else None,
        prior=record.get("prior"),
        profiles=instance_profiles(acting.ec2, [instance_id], calls).get(instance_id, []),
        auto_scaling=auto_scaling,
        target_groups=target_groups,
        protection=protection,
    )
    if group is not None and has_rules(group):
        drift.append({"what": "isolation_group_rules", "group_id": group["GroupId"]})
    return drift


def _act(
    clients: AwsClients,
    acting: AwsClients,
    settings: Settings,
    decision: Decision,
    *,
    instance_id: str,
    instance_arn: str,
    key: str,
    attempt_id: str,
    trigger: dict[str, Any],
    now: Callable[[], datetime],
    sleep: Callable[[float], None],
) -> dict[str, Any]:
    """Run the isolation (a catch-up, or a drift repair) or the release, announce it, count it."""
    action = "release" if decision.kind == RELEASE else "isolate"
    try:
        if decision.kind == RELEASE:
            result = release_instance(
                acting, instance_id, settings, event_id=attempt_id, now=now, record_key=key, trigger=trigger
            )
        else:
            profile_drifted = any(d.get("what") == "instance_profile" for d in decision.drift)
            result = isolate_instance(
                acting,
                instance_id,
                settings,
                event_id=attempt_id,
                instance_arn=instance_arn,
                now=now,
                sleep=sleep,
                trigger=trigger,
                record_key=key,
                attempt_action="drift" if decision.kind == REPAIR else "isolate",
                credentials_cutoff=now() if profile_drifted else None,
            )
        failed: InstanceIsolationFailed | None = None
    except InstanceIsolationFailed as exc:
        result, failed = exc.result, exc
    result = {**result, "trigger": trigger}
    if result.get("status") in ("isolated", "released"):
        result["reconcile"] = "drift_repaired" if decision.kind == REPAIR else "caught_up"
        if not settings.dry_run:
            metric = metrics.DRIFT_REPAIRED if decision.kind == REPAIR else metrics.CAUGHT_UP
            metrics.count(settings.metrics_namespace, **{metric: 1})
    if result.get("status") not in (
        "in_progress",
        "skipped",
        "already_isolated",
        "already_released",
        "not_isolated",
    ):
        result["announced"] = _announce(
            clients, settings, action=action, event_id=attempt_id, result=result, resource_arn=instance_arn
        )
    if failed is not None:
        raise failed
    return result


# ---- an API call that can undo an isolation -----------------------------------------------------------


def on_api_call(
    clients: AwsClients,
    settings: Settings,
    function: FunctionIdentity,
    call: ApiCall,
    *,
    now: Callable[[], datetime],
    sleep: Callable[[float], None],
) -> dict[str, Any]:
    """Reconcile, within seconds, the instances an API call touched (an ENI: its instance; an isolation
    group that gained a rule: sealed again, and the instances on it). A call made by the function's own
    role or an executor role is the isolation's own: ignored, so that nothing loops."""
    summary: dict[str, Any] = {
        "action": "reconcile",
        "mode": EVENT,
        "event_id": call.event_id,
        "api_call": call.event_name,
        "caller": call.caller,
        "instances": [],
    }
    with log_context(
        event_id=call.event_id, api_call=call.event_name, account=call.account, region=call.region
    ):
        if not settings.reconcile_on_api_calls:
            return {**summary, "reason": "reconciliation on API calls is off"}
        if call.error_code:
            return {**summary, "reason": f"the call failed ({call.error_code}): it changed nothing"}
        if made_by_the_function(
            call, function_role_arn=settings.function_role_arn, executor_role_name=settings.executor_role_name
        ):
            return {**summary, "reason": f"made by this function's own role ({call.issuer_arn})"}
        _check_served(settings, function, call.account, call.region, f"the {call.event_name} call")
        acting = clients_for(clients, settings, function, call.account, call.region, event_id=call.event_id)
        local = settings.for_account(call.account)
        instance_ids = list(call.instance_ids)
        if call.interface_ids:
            instance_ids += interface_instances(acting.ec2, call.interface_ids)
        if call.association_ids:
            instance_ids += association_instances(acting.ec2, call.association_ids)
        if call.group_ids:
            managed = [
                g
                for g in groups_by_id(acting.ec2, call.group_ids)
                if g.get("GroupName") == local.isolation_security_group_name
                and {t.get("Key"): t.get("Value") for t in g.get("Tags", [])}.get(local.managed_tag_key)
                == local.managed_tag_value
            ]
            open_groups = [g["GroupId"] for g in managed if has_rules(g)]
            if open_groups:
                resealed = _reseal(
                    clients,
                    local,
                    function,
                    acting=acting,
                    reading=acting,
                    account=call.account,
                    region=call.region,
                    group_ids=open_groups,
                    report=None,
                    event_id=call.event_id,
                )
                metrics.count(settings.metrics_namespace, **{metrics.GROUPS_RESEALED: len(resealed)})
                summary["resealed_groups"] = resealed
                instance_ids += [i for r in resealed for i in r["exposed_instances"]]
        failures: dict[str, str] = {}
        for instance_id in dict.fromkeys(instance_ids):
            try:
                result = converge(
                    clients,
                    settings,
                    function,
                    account=call.account,
                    region=call.region,
                    instance_id=instance_id,
                    event_id=call.event_id,
                    mode=EVENT,
                    reason=f"{call.event_name} by {call.caller}",
                    now=now,
                    sleep=sleep,
                    api_call=call,
                )
            except InstanceIsolationFailed as exc:
                failures[instance_id] = str(exc)
                result = exc.result
            summary["instances"].append(result)
        log(logging.INFO if not failures else logging.ERROR, "API call reconciled", summary=summary)
        if failures:
            raise RuntimeError(
                f"event {call.event_id}: reconciling after {call.event_name} failed for {', '.join(failures)}"
            )
        return summary


# ---- the invocations: a schedule's round, the queue's messages ---------------------------------------

SCHEDULED_SOURCE, SCHEDULED_DETAIL_TYPE = "aws.events", "Scheduled Event"


# ---- evidence custody ---------------------------------------------------------------------------------

#: the records one custody message carries (each pass reads each record, then its snapshots in batches)
CUSTODY_RECORDS_PER_MESSAGE = 50


def carry_custody(
    clients: AwsClients,
    settings: Settings,
    function: FunctionIdentity,
    *,
    account: str,
    region: str,
    keys: Sequence[str],
    event_id: str,
    now: Callable[[], datetime],
) -> dict[str, Any]:
    """One custody pass over ``keys`` (records of one account and region): every due move made, the
    records written, what reached custody announced; a move that failed fails the message (retried,
    then the dead letters), after the rest is done and written."""
    _check_served(settings, function, account, region, "the custody pass")
    if settings.evidence_custody and custody_account(settings) != function.account:
        raise ConfigurationError(
            f"EVIDENCE_CUSTODY_KEY_ARN is a key of account {custody_account(settings)}, not of the "
            f"function's account {function.account}, which holds the evidence in custody"
        )
    table = settings.record_table_name
    records: list[tuple[str, str, dict[str, dict[str, Any]]]] = []
    for key in keys:
        record = read_record(clients.dynamodb, table, key)
        if record and record.get("evidence"):
            records.append((key, _scope_of(key, function)[2], dict(record["evidence"])))
    source = clients_for(clients, settings, function, account, region, event_id=event_id)
    report = custody_pass(
        source,
        clients,
        settings.for_account(account),
        account=account,
        region=region,
        central_account=function.account,
        central_region=function.region,
        records=records,
        write=lambda key, change: update_evidence(clients.dynamodb, table, key, change, pending=is_pending),
        now=now(),
    )
    for key, entries in sorted({**report.in_custody, **report.failed_for_good}.items()):
        instance_id = _scope_of(key, function)[2]
        done = [plain(e) for e in entries if e.get("custody") == "done"]
        failed = [plain(e) for e in entries if e.get("custody") != "done"]
        arn = function.instance_arn(instance_id, account, region)
        done_ids = {e["snapshot_id"] for e in done}
        if done:
            result = {
                "instance_id": instance_id,
                "status": "evidence_in_custody",
                "evidence": done,
                "changes": [m for m in report.moves if m.split(":")[0] in done_ids],
            }
            _announce(clients, settings, action="isolate", event_id=event_id, result=result, resource_arn=arn)
        if failed:
            why = "; ".join(f"{e['snapshot_id']}: {e.get('failure')}" for e in failed)
            result = {
                "instance_id": instance_id,
                "status": "needs_attention",
                "reconcile": "needs_attention",
                "reason": f"evidence custody failed ({why})",
                "evidence": failed,
            }
            _announce(clients, settings, action="isolate", event_id=event_id, result=result, resource_arn=arn)
    metrics.count(
        settings.metrics_namespace,
        **{
            metrics.EVIDENCE_IN_CUSTODY: sum(
                1 for entries in report.in_custody.values() for e in entries if e.get("custody") == "done"
            ),
            metrics.CUSTODY_FAILED: len(report.errors)
            + sum(len(entries) for entries in report.failed_for_good.values()),
        },
    )
    summary = report.as_dict()
    log(logging.INFO if not report.errors else logging.ERROR, "custody pass done", **summary)
    if report.errors:
        raise CustodyFailed(
            f"{len(report.errors)} custody move(s) failed in {account}/{region}: " + "; ".join(report.errors)
        )
    return summary


def is_scheduled(event: Any) -> bool:
    return (
        isinstance(event, dict)
        and event.get("source") == SCHEDULED_SOURCE
        and event.get("detail-type") == SCHEDULED_DETAIL_TYPE
    )


def is_queue_batch(event: Any) -> bool:
    records = event.get("Records") if isinstance(event, dict) else None
    return (
        isinstance(records, list)
        and bool(records)
        and all(isinstance(r, dict) and r.get("eventSource") == "aws:sqs" for r in records)
    )


def schedule_mode(event: Mapping[str, Any], settings: Settings, function: FunctionIdentity) -> str:
    """Which schedule rule sent ``event`` (its ``resources``): the frequent sweep or the full check."""
    if (event.get("account"), event.get("region")) != (function.account, function.region):
        raise InvalidEvent(
            f"a scheduled event of account {event.get('account')} in {event.get('region')}: only this "
            f"function's own schedules ({function.account} in {function.region}) start a reconciliation"
        )
    resources = event.get("resources")
    if not isinstance(resources, list):
        raise InvalidEvent("a scheduled event must name its rule in resources")
    if settings.reconcile_full_rule_arn and settings.reconcile_full_rule_arn in resources:
        return FULL
    if settings.reconcile_rule_arn and settings.reconcile_rule_arn in resources:
        return SWEEP
    raise InvalidEvent(
        f"the scheduled event is from {resources}, not from this function's reconcile schedules "
        f"({settings.reconcile_rule_arn or 'off'}, {settings.reconcile_full_rule_arn or 'off'})"
    )


@dataclass(frozen=True)
class Invocation:
    """What one invocation of the function works with (the handler's arguments)."""

    clients: AwsClients
    #: the sweep's reading clients (few retries)
    reader: AwsClients
    settings: Settings
    function: FunctionIdentity
    now: Callable[[], datetime]
    sleep: Callable[[float], None]
    remaining_ms: Callable[[], int]


def handle_messages(event: Mapping[str, Any], invocation: Invocation) -> dict[str, Any]:
    """The reconcile queue's messages, each on its own: a failed one is reported (``batchItemFailures``)
    and comes back after the visibility timeout; after three receives it goes to the dead letters."""
    settings = invocation.settings
    queue_arn = _queue_arn(settings, invocation.function) if settings.reconcile_queue_url else None
    failures: list[dict[str, str]] = []
    results: list[dict[str, Any]] = []
    for message in event["Records"]:
        message_id = str(message.get("messageId", ""))
        with log_context(message_id=message_id):
            try:
                body = _body(message, queue_arn)
                results.append(_message(body, invocation))
            except Exception as exc:
                log(
                    logging.ERROR,
                    "the reconcile message failed: it is retried",
                    exc_info=True,
                    error=str(exc),
                )
                failures.append({"itemIdentifier": message_id})
    return {"batchItemFailures": failures, "results": results}


def _body(message: Mapping[str, Any], queue_arn: str | None) -> dict[str, Any]:
    """The body of a message of the reconcile queue (of no other queue)."""
    if queue_arn is None or message.get("eventSourceARN") != queue_arn:
        raise InvalidEvent(
            f"a message of {message.get('eventSourceARN')!r}, not of the reconcile queue ({queue_arn})"
        )
    try:
        body = json.loads(str(message.get("body", "")))
    except json.JSONDecodeError as exc:
        raise InvalidEvent(f"a reconcile message's body is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise InvalidEvent("a reconcile message's body must be a JSON object")
    return body


def _message(body: Mapping[str, Any], run: Invocation) -> dict[str, Any]:
    clients, settings, function = run.clients, run.settings, run.function
    kind = body.get("kind")
    try:
        if kind == SWEEP_KIND:
            return sweep(
                clients, run.reader, settings, function, body, now=run.now, remaining_ms=run.remaining_ms
            )
        if kind == CONVERGE_KIND:
            return converge(
                clients,
                settings,
                function,
                account=str(body["account"]),
                region=str(body["region"]),
                instance_id=str(body["instance_id"]),
                event_id=str(body["sweep_id"]),
                mode=str(body.get("mode", SWEEP)),
                reason=str(body.get("reason", "")),
                now=run.now,
                sleep=run.sleep,
            )
        if kind == ANNOUNCE_KIND:
            return {"announced": announce_again(clients, settings, body)}
        if kind == CUSTODY_KIND:
            return carry_custody(
                clients,
                settings,
                function,
                account=str(body["account"]),
                region=str(body["region"]),
                keys=[str(k) for k in body["records"]],
                event_id=str(body["sweep_id"]),
                now=run.now,
            )
    except KeyError as exc:
        raise InvalidEvent(f"a {kind} message without {exc}") from exc
    raise InvalidEvent(f"a reconcile message of unknown kind {kind!r}")
