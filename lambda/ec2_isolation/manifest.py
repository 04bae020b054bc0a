"""The evidence manifest and its custody: what each evidence snapshot is, where its copies are, and the
steps that carry it into the security account. docs/evidence.md tells the whole story.

Each instance's record keeps ``evidence``: one entry per snapshot the isolation took (source volume,
device, size, start and completion, encryption key, the event that took it, its lock, and every copy with
its account, key and lock). An entry moves through the stages

    taken -> locked -> copied -> shared -> in_custody

* **taken**: ``CreateSnapshots`` answered; the snapshot is ``pending`` for minutes to hours.
* **locked**: locked where it was taken, right after it was taken (``LockSnapshot`` accepts pending
  snapshots): nobody there can delete it until the lock expires (governance mode: but a principal allowed
  ``ec2:UnlockSnapshot``, which the module grants nobody).
* **copied**: once it completed, re-encrypted in its own account with that account's evidence key (the
  member module's), because EBS cannot share a snapshot encrypted with the AWS managed key, and the
  security account can be let use only the evidence key. An unencrypted snapshot, or one already under
  the evidence key, needs no such copy (its shortest correct path skips the stage).
* **shared**: the copy (or the snapshot itself) is shared with the security account only.
* **in_custody**: the security account copied it into its own account, encrypted with its own evidence
  key, and locked that copy; once the copy completed, the intermediate copy is deleted (or the share of
  the snapshot itself removed).

An instance of the function's own account is already in the security account: its entries end at
``locked`` (custody ``same-account``). Without custody configured they end there too (custody ``off``).

Nothing waits inside one invocation: the isolation takes and locks; each reconcile round sends one
custody message per account and region that has records with ``custody_pending``, and its pass reads
every snapshot and copy of that scope in batches, makes every move that is due, and leaves what is still
pending for the next round. Each move is found again from EC2's state (the copies carry an
``<prefix>EvidenceOf`` tag), so an interrupted pass resumes from the record and EC2, never twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from ec2_isolation.clients import AwsClients
from ec2_isolation.config import Settings
from ec2_isolation.errors import IsolationError, error_code
from ec2_isolation.log import log
from ec2_isolation.steps.custody import (
    CUSTODY,
    INTERMEDIATE,
    copies_of,
    copy_snapshot,
    delete_intermediate,
    iso,
    key_arn,
    lock_snapshot,
    locked_snapshots,
    share_snapshot,
    snapshots_by_id,
)

if TYPE_CHECKING:
    from mypy_boto3_ec2.type_defs import InstanceTypeDef, SnapshotTypeDef

TAKEN, LOCKED, COPIED, SHARED, IN_CUSTODY = "taken", "locked", "copied", "shared", "in_custody"
STAGES = (TAKEN, LOCKED, COPIED, SHARED, IN_CUSTODY)
#: an entry's custody: not configured; not needed (taken in the security account); under way; done;
#: failed for good (the snapshot is gone, or EC2 could not complete it: reported, not retried)
OFF, SAME_ACCOUNT, PENDING, DONE, FAILED = "off", "same-account", "pending", "done", "failed"


class CustodyFailed(IsolationError):
    """A custody move failed: the pass is retried (then the dead letters); the record says which."""


def lock_wanted(settings: Settings) -> bool:
    return bool(settings.evidence_lock_mode)


def custody_account(settings: Settings) -> str:
    """The security account, which holds the evidence in custody: the account of its evidence key."""
    return settings.evidence_custody_key_arn.split(":")[4]


def custody_for(settings: Settings, account: str) -> str:
    """The custody an instance of ``account`` gets: off, same-account, or pending (under way)."""
    if not settings.evidence_custody:
        return OFF
    return SAME_ACCOUNT if account == custody_account(settings) else PENDING


def is_pending(entry: Mapping[str, Any]) -> bool:
    """Whether a round still has work on this entry: custody under way, or a lock wanted and not held."""
    return entry.get("custody") == PENDING or bool(entry.get("lock_wanted") and not entry.get("lock"))


def new_entries(
    instance: InstanceTypeDef,
    snapshots: Sequence[Mapping[str, Any]],
    *,
    account: str,
    region: str,
    event_id: str,
    custody: str,
    lock: bool,
) -> dict[str, dict[str, Any]]:
    """The manifest entries of snapshots just taken (``CreateSnapshots``' answer), by snapshot id."""
    devices = {
        m["Ebs"]["VolumeId"]: m["DeviceName"]
        for m in instance.get("BlockDeviceMappings", [])
        if "DeviceName" in m and "VolumeId" in m.get("Ebs", {})
    }
    entries: dict[str, dict[str, Any]] = {}
    for snapshot in snapshots:
        snapshot_id = str(snapshot["SnapshotId"])
        volume_id = snapshot.get("VolumeId")
        entry: dict[str, Any] = {
            "snapshot_id": snapshot_id,
            "volume_id": volume_id,
            "device": devices.get(str(volume_id)),
            "size_gib": snapshot.get("VolumeSize"),
            "account": account,
            "region": region,
            "event_id": event_id,
            "started_at": iso(snapshot.get("StartTime")),
            "state": snapshot.get("State", "pending"),
            "encrypted": bool(snapshot.get("Encrypted")),
            "stage": TAKEN,
            "custody": custody,
            "lock_wanted": lock,
            "copies": [],
        }
        entries[snapshot_id] = {k: v for k, v in entry.items() if v is not None}
    return entries


def lock_new(
    source: AwsClients,
    settings: Settings,
    entries: dict[str, dict[str, Any]],
    now: datetime,
    *,
    unlocked: set[str],
) -> list[str]:
    """Lock every entry not locked yet. ``unlocked``: the snapshots just taken; for the others (an earlier
    attempt's) the locks EC2 holds are read first. A refused lock raises, after the entries locked so far
    are marked. Returns the changes made."""
    if not lock_wanted(settings):
        return []
    earlier = sorted(sid for sid, e in entries.items() if not e.get("lock") and sid not in unlocked)
    held = locked_snapshots(source.ec2, earlier) if earlier else {}
    changes: list[str] = []
    for snapshot_id, entry in sorted(entries.items()):
        if entry.get("lock"):
            continue
        if snapshot_id in held:
            entry["lock"] = held[snapshot_id]
        else:
            entry["lock"] = _lock(source, settings, snapshot_id)
            changes.append(f"locked snapshot {snapshot_id} ({_lock_text(entry['lock'])})")
        _advance_to(entry, LOCKED, now)
    return changes


def merge_entries(
    entries: dict[str, dict[str, Any]],
) -> Callable[[dict[str, dict[str, Any]]], dict[str, dict[str, Any]]]:
    """The change that adds the isolation's entries to the manifest as it is then: an entry already there
    (a custody pass may have moved it on) keeps its fields, and gains the lock when it had none."""

    def change(current: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        merged = dict(current)
        for snapshot_id, entry in entries.items():
            there = merged.get(snapshot_id)
            if there is None:
                merged[snapshot_id] = entry
            elif not there.get("lock") and entry.get("lock"):
                merged[snapshot_id] = {
                    **there,
                    "lock": entry["lock"],
                    "stage": entry["stage"],
                    "stage_times": {**entry.get("stage_times", {}), **there.get("stage_times", {})},
                }
        return merged

    return change


def _lock(clients: AwsClients, settings: Settings, snapshot_id: str) -> dict[str, Any]:
    return lock_snapshot(
        clients.ec2,
        snapshot_id,
        mode=settings.evidence_lock_mode,
        duration_days=settings.evidence_lock_duration_days,
        cool_off_hours=settings.evidence_lock_cool_off_hours,
    )


def _lock_text(lock: Mapping[str, Any]) -> str:
    until = lock.get("expires_on")
    return f"{lock.get('mode') or lock.get('state')}, {lock.get('duration_days')} days" + (
        f", until {until}" if until else ""
    )


def _advance_to(entry: dict[str, Any], stage: str, now: datetime) -> None:
    if STAGES.index(stage) > STAGES.index(str(entry.get("stage", TAKEN))):
        entry["stage"] = stage
        entry.setdefault("stage_times", {})[stage] = now.isoformat(timespec="seconds")


# ---- a custody pass: one account and region ------------------------------------------------------


@dataclass
class CustodyPass:
    """What one pass did, for the result and the announcements."""

    account: str
    region: str
    moves: list[str] = field(default_factory=list)
    in_custody: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    failed_for_good: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    waiting: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": "custody",
            "account": self.account,
            "region": self.region,
            "moves": self.moves,
            "in_custody": sorted(self.in_custody),
            "failed": sorted(self.failed_for_good),
            "errors": self.errors,
            "waiting": self.waiting,
        }


@dataclass
class _Scope:
    """The clients and the keys of one pass."""

    source: AwsClients
    central: AwsClients
    settings: Settings
    account: str
    region: str
    central_account: str
    central_region: str
    now: datetime
    #: the source account's evidence key (resolved from its alias once a pass needs it)
    source_key: str | None = None
    #: what the pass read: the snapshots, their copies here and in custody, the locks held here
    observed: Mapping[str, SnapshotTypeDef] = field(default_factory=dict)
    copies_here: Mapping[str, Sequence[SnapshotTypeDef]] = field(default_factory=dict)
    copies_there: Mapping[str, Sequence[SnapshotTypeDef]] = field(default_factory=dict)
    locks_here: Mapping[str, dict[str, Any]] = field(default_factory=dict)

    def tags(self, entry: Mapping[str, Any], role: str, instance_id: str) -> dict[str, str]:
        settings = self.settings
        return {
            **settings.resource_tags,
            settings.managed_tag_key: settings.managed_tag_value,
            settings.tag("EvidenceOf"): str(entry["snapshot_id"]),
            settings.tag("CustodyCopy"): role,
            settings.tag("SourceInstance"): instance_id,
            settings.tag("SourceAccount"): self.account,
            settings.tag("EventId"): str(entry.get("event_id", "")),
        }

    def evidence_key(self) -> str:
        if self.source_key is None:
            alias = self.settings.evidence_key_alias
            try:
                self.source_key = key_arn(self.source.kms, alias)
            except ClientError as exc:
                if error_code(exc) != "NotFoundException":
                    raise
                raise CustodyFailed(
                    f"account {self.account} has no evidence key {alias} in {self.region}: apply "
                    "modules/member there with evidence_custody = true"
                ) from exc
        return self.source_key


def custody_pass(
    source: AwsClients,
    central: AwsClients,
    settings: Settings,
    *,
    account: str,
    region: str,
    central_account: str,
    central_region: str,
    records: Sequence[tuple[str, str, dict[str, dict[str, Any]]]],
    write: Callable[[str, Callable[[dict[str, dict[str, Any]]], dict[str, dict[str, Any]]]], Any],
    now: datetime,
) -> CustodyPass:
    """Carry forward the custody of ``records`` (record key, instance id, manifest) of one account and
    region: the snapshots and copies read in batches, each due move made, each record written (``write``:
    the key and a change of its manifest). A move that fails is kept in its entry and the pass goes on;
    the report lists it (``errors``), and the caller fails the message so that it is retried."""
    scope = _Scope(source, central, settings, account, region, central_account, central_region, now)
    report = CustodyPass(account, region)
    entries = {sid: e for _, _, manifest in records for sid, e in manifest.items() if is_pending(e)}
    if not entries:
        return report
    evidence_of = settings.tag("EvidenceOf")
    ids = sorted(entries)
    scope.observed = snapshots_by_id(source.ec2, ids)
    scope.copies_here = copies_of(source.ec2, evidence_of, ids)
    if any(e.get("custody") == PENDING for e in entries.values()):
        scope.copies_there = copies_of(central.ec2, evidence_of, ids)
    if lock_wanted(settings):
        scope.locks_here = locked_snapshots(source.ec2, sorted(scope.observed))
    for key, instance_id, manifest in records:
        due = {sid: e for sid, e in manifest.items() if is_pending(e)}
        if not due:
            continue
        for snapshot_id, entry in sorted(due.items()):
            try:
                _advance(scope, report, instance_id, entry)
            except (ClientError, BotoCoreError, CustodyFailed) as exc:
                entry["error"] = {"at": now.isoformat(timespec="seconds"), "message": str(exc)}
                report.errors.append(f"{snapshot_id}: {exc}")
                log(logging.ERROR, "a custody move failed", snapshot_id=snapshot_id, error=str(exc))
            else:
                entry.pop("error", None)
            if entry.get("custody") == DONE:
                report.in_custody.setdefault(key, []).append(entry)
            elif entry.get("custody") == FAILED:
                report.failed_for_good.setdefault(key, []).append(entry)
            elif is_pending(entry):
                report.waiting += 1
        write(key, _merged(due))
    return report


def _merged(
    due: dict[str, dict[str, Any]],
) -> Callable[[dict[str, dict[str, Any]]], dict[str, dict[str, Any]]]:
    """The change that writes these entries over the record's manifest as it is then."""

    def change(current: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return {**current, **due}

    return change


def _newest(copies: Sequence[SnapshotTypeDef], role: str, role_tag: str) -> SnapshotTypeDef | None:
    matching = [
        c
        for c in copies
        if any(t.get("Key") == role_tag and t.get("Value") == role for t in c.get("Tags", []))
    ]
    return max(matching, key=lambda c: str(c.get("StartTime", ""))) if matching else None


def _copy_entry(snapshot: SnapshotTypeDef, role: str, account: str, region: str) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "role": role,
        "snapshot_id": snapshot.get("SnapshotId"),
        "account": account,
        "region": region,
        "kms_key_id": snapshot.get("KmsKeyId"),
        "state": snapshot.get("State"),
        "started_at": iso(snapshot.get("StartTime")),
    }
    return {k: v for k, v in entry.items() if v is not None}


def _set_copy(entry: dict[str, Any], copy: dict[str, Any]) -> dict[str, Any]:
    """Record ``copy`` in the entry (replacing the one of the same role), keeping what was known of it."""
    copies = [c for c in entry.get("copies", []) if c.get("role") != copy["role"]]
    known = _copy(entry, copy["role"]) or {}
    merged = {**known, **copy} if known.get("snapshot_id") == copy.get("snapshot_id") else copy
    entry["copies"] = [*copies, merged]
    return merged


def _copy(entry: Mapping[str, Any], role: str) -> dict[str, Any] | None:
    return next((c for c in entry.get("copies", []) if c.get("role") == role), None)


def _observe(entry: dict[str, Any], snapshot: SnapshotTypeDef, now: datetime) -> str:
    """The source snapshot as EC2 shows it now: state, key, completion."""
    state = str(snapshot.get("State", "pending"))
    entry["state"] = state
    entry["encrypted"] = bool(snapshot.get("Encrypted"))
    if snapshot.get("KmsKeyId"):
        entry["kms_key_id"] = snapshot["KmsKeyId"]
    if state == "completed" and "completed_at" not in entry:
        entry["completed_at"] = iso(snapshot.get("CompletionTime")) or now.isoformat(timespec="seconds")
    return state


def _fail_for_good(entry: dict[str, Any], why: str, report: CustodyPass) -> None:
    entry["custody"] = FAILED
    entry["failure"] = why
    report.moves.append(f"{entry['snapshot_id']}: custody failed: {why}")
    log(
        logging.ERROR, "the custody of an evidence snapshot failed", snapshot_id=entry["snapshot_id"], why=why
    )


def _advance(scope: _Scope, report: CustodyPass, instance_id: str, entry: dict[str, Any]) -> None:
    """Every move of one entry that is due now (each idempotent: what EC2 shows is what was done)."""
    settings, now = scope.settings, scope.now
    snapshot_id = str(entry["snapshot_id"])
    role_tag = settings.tag("CustodyCopy")
    snapshot = scope.observed.get(snapshot_id)
    if snapshot is None:
        _fail_for_good(entry, f"the snapshot is gone from account {scope.account}", report)
        return
    state = _observe(entry, snapshot, now)
    if entry.get("lock_wanted") and not entry.get("lock"):
        entry["lock"] = scope.locks_here.get(snapshot_id) or _lock(scope.source, settings, snapshot_id)
        _advance_to(entry, LOCKED, now)
        report.moves.append(f"{snapshot_id}: locked")
    if entry.get("custody") != PENDING:
        return
    if state == "error":
        _fail_for_good(entry, "EC2 could not complete the snapshot (state error)", report)
        return
    if state != "completed":
        return
    custody_copy = _newest(scope.copies_there.get(snapshot_id, []), CUSTODY, role_tag)
    intermediate = _newest(scope.copies_here.get(snapshot_id, []), INTERMEDIATE, role_tag)
    if intermediate is not None:
        _set_copy(entry, _copy_entry(intermediate, INTERMEDIATE, scope.account, scope.region))
        _advance_to(entry, COPIED, now)
    if custody_copy is not None:
        _hold(scope, report, entry, custody_copy, intermediate)
    else:
        _start_custody(scope, report, instance_id, entry, intermediate)


def _start_custody(
    scope: _Scope,
    report: CustodyPass,
    instance_id: str,
    entry: dict[str, Any],
    intermediate: SnapshotTypeDef | None,
) -> None:
    """No copy in custody yet: the intermediate copy made (or awaited), then shared, copied and locked."""
    settings, now = scope.settings, scope.now
    snapshot_id = str(entry["snapshot_id"])
    # The snapshot to share: the snapshot itself when unencrypted or already under the evidence key, else
    # its intermediate copy under the evidence key (EBS cannot share the AWS managed key's snapshots, and
    # the security account may use only the evidence key).
    shared_id = snapshot_id
    if entry["encrypted"] and entry.get("kms_key_id") != scope.evidence_key():
        if intermediate is None:
            copy_id = copy_snapshot(
                scope.source.ec2,
                snapshot_id,
                source_region=scope.region,
                kms_key_id=scope.evidence_key(),
                description=f"Evidence of {instance_id}: copy of {snapshot_id} under the evidence key",
                tags=scope.tags(entry, INTERMEDIATE, instance_id),
            )
            _set_copy(
                entry,
                _new_copy(INTERMEDIATE, copy_id, scope.account, scope.region, scope.evidence_key()),
            )
            _advance_to(entry, COPIED, now)
            report.moves.append(f"{snapshot_id}: copied under the evidence key as {copy_id}")
            return
        copy_state = intermediate.get("State")
        if copy_state == "error":
            _fail_for_good(entry, f"the copy {intermediate.get('SnapshotId')} failed (state error)", report)
            return
        if copy_state != "completed":
            return
        shared_id = str(intermediate["SnapshotId"])
    share_snapshot(scope.source.ec2, shared_id, scope.central_account)
    entry["shared_with"] = scope.central_account
    _advance_to(entry, SHARED, now)
    copy_id = copy_snapshot(
        scope.central.ec2,
        shared_id,
        source_region=scope.region,
        kms_key_id=settings.evidence_custody_key_arn,
        description=f"Evidence of {instance_id} in account {scope.account}: custody copy of {snapshot_id}",
        tags=scope.tags(entry, CUSTODY, instance_id),
    )
    copy = _set_copy(
        entry,
        _new_copy(
            CUSTODY,
            copy_id,
            scope.central_account,
            scope.central_region,
            settings.evidence_custody_key_arn,
        ),
    )
    report.moves.append(f"{snapshot_id}: shared with {scope.central_account}, copied there as {copy_id}")
    if lock_wanted(settings):
        copy["lock"] = _lock(scope.central, settings, copy_id)
        report.moves.append(f"{snapshot_id}: custody copy {copy_id} locked")


def _new_copy(role: str, copy_id: str, *where: str) -> dict[str, Any]:
    """A copy just started: ``where`` is its account, region and key."""
    account, region, key = where
    return {
        "role": role,
        "snapshot_id": copy_id,
        "account": account,
        "region": region,
        "kms_key_id": key,
        "state": "pending",
    }


def _hold(
    scope: _Scope,
    report: CustodyPass,
    entry: dict[str, Any],
    custody_copy: SnapshotTypeDef,
    intermediate: SnapshotTypeDef | None,
) -> None:
    """The custody copy exists: locked; once complete, the intermediate copy deleted (or the snapshot's
    share removed), and the entry in custody."""
    settings, now = scope.settings, scope.now
    snapshot_id = str(entry["snapshot_id"])
    _advance_to(entry, SHARED, now)
    copy = _set_copy(entry, _copy_entry(custody_copy, CUSTODY, scope.central_account, scope.central_region))
    copy_id = str(copy["snapshot_id"])
    if lock_wanted(settings) and not copy.get("lock"):
        held = locked_snapshots(scope.central.ec2, [copy_id])
        copy["lock"] = held.get(copy_id) or _lock(scope.central, settings, copy_id)
        if copy_id not in held:
            report.moves.append(f"{snapshot_id}: custody copy {copy_id} locked")
    if copy.get("state") == "error":
        _fail_for_good(entry, f"the custody copy {copy_id} failed (state error)", report)
        return
    if copy.get("state") != "completed":
        return
    copy.setdefault("completed_at", now.isoformat(timespec="seconds"))
    if intermediate is not None:
        intermediate_id = str(intermediate["SnapshotId"])
        delete_intermediate(scope.source.ec2, intermediate_id)
        recorded = _copy(entry, INTERMEDIATE)
        if recorded is not None:
            recorded["deleted_at"] = now.isoformat(timespec="seconds")
        report.moves.append(f"{snapshot_id}: intermediate copy {intermediate_id} deleted")
    elif _copy(entry, INTERMEDIATE) is None and entry.get("shared_with"):
        share_snapshot(scope.source.ec2, snapshot_id, scope.central_account, share=False)
        entry["unshared_at"] = now.isoformat(timespec="seconds")
    entry.pop("shared_with", None)
    entry["custody"] = DONE
    _advance_to(entry, IN_CUSTODY, now)
    report.moves.append(f"{snapshot_id}: in custody as {copy_id} in account {scope.central_account}")


def manifest_lines(manifest: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The manifest, one line per snapshot and copy, for people (the CLI's status, the SNS summary)."""
    lines: list[str] = []
    for snapshot_id, entry in sorted(manifest.items()):
        lock = entry.get("lock")
        lines.append(
            f"{snapshot_id}  {entry.get('device', '?')} {entry.get('volume_id', '?')} "
            f"{entry.get('size_gib', '?')} GiB  {entry.get('state', '?')}  stage {entry.get('stage', TAKEN)}"
            f"  custody {entry.get('custody', OFF)}"
            + (f"  lock {_lock_text(lock)}" if lock else "  not locked")
        )
        for copy in entry.get("copies", []):
            copy_lock = copy.get("lock")
            lines.append(
                f"  {copy.get('role')} copy {copy.get('snapshot_id')} in {copy.get('account')}/"
                f"{copy.get('region')}  {copy.get('state', '?')}"
                + (f"  deleted {copy['deleted_at']}" if copy.get("deleted_at") else "")
                + (f"  lock {_lock_text(copy_lock)}" if copy_lock else "")
            )
        if entry.get("error"):
            lines.append(f"  last error: {entry['error'].get('message')}")
        if entry.get("failure"):
            lines.append(f"  custody failed: {entry['failure']}")
    return lines
