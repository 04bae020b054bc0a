"""``ec2-isolation list``: every isolation record of the table, newest first, one line each.

A record's key names where its instance is (``i-...`` in the table's own account and region, else
``<account>:<region>:i-...``); its status and its last attempt say what happened, when, and why it failed.
The table is read with a paginated Scan (it may hold thousands of records); the dry-run records
(``dry-run#...``) are not isolations and are left out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ec2_isolation.steps.record import (
    DRY_RUN_KEY_PREFIX,
    FAILED,
    ISOLATED,
    ISOLATING,
    RELEASE_FAILED,
    RELEASED,
    RELEASING,
    _from_item,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

#: the statuses ``list`` shows and filters on, from a record's status (and its last attempt)
IN_PROGRESS, DRIFT_REPAIRED, TERMINATED = "in-progress", "drift-repaired", "terminated"
STATUSES = (ISOLATED, FAILED, IN_PROGRESS, "released", "release-failed", DRIFT_REPAIRED, TERMINATED)
_SHOWN = {
    ISOLATING: IN_PROGRESS,
    RELEASING: IN_PROGRESS,
    ISOLATED: ISOLATED,
    FAILED: FAILED,
    RELEASED: "released",
    RELEASE_FAILED: "release-failed",
    TERMINATED: TERMINATED,
}
#: what ``list`` reads of a record (not the prior state nor the history: they can be large)
_PROJECTION = {
    "#k": "instance_id",
    "#s": "status",
    "#st": "started_at",
    "#ra": "released_at",
    "#a": "attempts",
    "#ie": "isolation_event_id",
    "#re": "release_event_id",
    "#le": "lock_event_id",
}
WIDTH = 100
_DURATION = re.compile(r"^(?P<amount>\d+)(?P<unit>[mhd])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


@dataclass(frozen=True)
class Entry:
    """One record, as ``list`` shows it."""

    key: str
    instance_id: str
    account: str
    region: str
    status: str
    record_status: str
    when: str | None
    action: str | None
    trigger: str | None
    event_id: str | None
    last_failure: str | None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def parse_since(text: str, now: datetime) -> datetime:
    """``30m``, ``12h``, ``7d`` (that long before now), or an ISO 8601 date or time (UTC unless it says)."""
    duration = _DURATION.fullmatch(text.strip())
    if duration:
        return now - timedelta(**{_UNITS[duration["unit"]]: int(duration["amount"])})
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"--since {text!r}: expected a duration (30m, 12h, 7d) or an ISO 8601 date or time "
            "(2026-12-01, 2026-12-01T08:00Z)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def scan_records(dynamodb: DynamoDBClient, table: str) -> Iterator[dict[str, Any]]:
    """Every record of the table, page by page (DynamoDB returns at most 1 MB a page)."""
    paginator = dynamodb.get_paginator("scan")
    pages = paginator.paginate(
        TableName=table,
        ProjectionExpression=", ".join(_PROJECTION),
        ExpressionAttributeNames=_PROJECTION,
    )
    for page in pages:
        for item in page.get("Items", []):
            record = _from_item(item)
            if not str(record.get("instance_id", "")).startswith(DRY_RUN_KEY_PREFIX):
                yield record


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _failure(failures: Any) -> str | None:
    if not isinstance(failures, Mapping) or not failures:
        return None
    step, message = next(iter(failures.items()))
    more = f" (+{len(failures) - 1} more)" if len(failures) > 1 else ""
    return f"{step}: {' '.join(str(message).split())}{more}"


def entry(record: Mapping[str, Any], *, account: str, region: str) -> Entry:
    """What ``list`` shows of one record; ``account``/``region`` are the table's (for keys without them)."""
    key = str(record["instance_id"])
    parts = key.split(":")
    if len(parts) == 3:
        account, region, instance_id = (str(p) for p in parts)
    else:
        instance_id = key
    attempts = [a for a in record.get("attempts") or [] if isinstance(a, Mapping)]
    last = attempts[-1] if attempts else {}
    record_status = str(record.get("status", "unknown"))
    status = _SHOWN.get(record_status, record_status.replace("_", "-"))
    if record_status == ISOLATED and last.get("action") == "drift":
        status = DRIFT_REPAIRED
    in_progress = status == IN_PROGRESS
    moments = [_moment(record.get("started_at")), _moment(record.get("released_at"))]
    moments.append(_moment(last.get("finished_at")))
    known = [m for m in moments if m is not None]
    when = max(known).isoformat(timespec="seconds") if known else None
    trigger = last.get("trigger") if isinstance(last.get("trigger"), Mapping) else None
    event_id: Any
    action: Any
    if in_progress:
        event_id = record.get("lock_event_id")
        action = "isolate" if record_status == ISOLATING else "release"
        trigger_type = None
    else:
        event_id = last.get("event_id")
        action = last.get("action")
        # an attempt without a trigger predates the field: it was the analyst's tag (a release always is)
        trigger_type = str(trigger.get("type")) if trigger else ("tag" if last else None)
    return Entry(
        key=key,
        instance_id=instance_id,
        account=account,
        region=region,
        status=status,
        record_status=record_status,
        when=when,
        action=str(action) if action else None,
        trigger=trigger_type,
        event_id=str(event_id) if event_id else None,
        last_failure=_failure(last.get("failures")) if not in_progress else None,
    )


def select(
    entries: Iterable[Entry],
    *,
    statuses: Sequence[str] = (),
    accounts: Sequence[str] = (),
    regions: Sequence[str] = (),
    since: datetime | None = None,
) -> list[Entry]:
    """The entries that pass every filter given, newest first (those without a time last)."""
    chosen = [
        e
        for e in entries
        if (not statuses or e.status in statuses)
        and (not accounts or e.account in accounts)
        and (not regions or e.region in regions)
        and (since is None or (e.when is not None and datetime.fromisoformat(e.when) >= since))
    ]
    return sorted(chosen, key=lambda e: (e.when is not None, e.when or "", e.key), reverse=True)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def render(entries: Sequence[Entry], *, table: str) -> str:
    """Aligned columns, at most ``WIDTH`` characters a line; a failed attempt's first failure below it."""
    if not entries:
        return f"no isolation records in table {table} match\n"
    header = ("INSTANCE", "ACCOUNT", "REGION", "STATUS", "WHEN (UTC)", "BY")
    rows = [
        (
            e.instance_id,
            e.account,
            e.region,
            e.status,
            e.when[:16].replace("T", " ") if e.when else "-",
            e.trigger or ("-" if e.status != IN_PROGRESS else "(running)"),
        )
        for e in entries
    ]
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    lines = []
    for row, item in zip((header, *rows), (None, *entries), strict=True):
        lines.append(_cut("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip(), WIDTH))
        if item is not None and item.last_failure:
            lines.append(_cut(f"    last failure: {item.last_failure}", WIDTH))
    count = len(entries)
    lines.append(f"{count} record{'s' if count != 1 else ''} (table {table})")
    return "\n".join(lines) + "\n"
