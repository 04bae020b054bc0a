"""What moto (the AWS emulator of the tests) lacks for the function's evidence snapshots, added to it.

    from tools import moto_ext
    moto_ext.install()                      # idempotent; in-process (mock_aws) and in the server alike

moto 5.2.5 has no EBS snapshot lock, copies a snapshot only from the caller's own account, and makes every
snapshot ``completed`` at once. ``install()`` adds, faithful to what AWS documents:

- **Snapshot lock.** ``LockSnapshot`` (governance or compliance mode, a duration in days or an expiration
  date, a cooling-off period in compliance mode, the documented rules for changing a lock),
  ``DescribeLockedSnapshots`` (the caller's own locked snapshots, by id, by ``lock-state``, paginated) and
  ``UnlockSnapshot`` (governance, or compliance within its cooling-off period). ``DeleteSnapshot`` of a
  snapshot whose lock has not expired fails and leaves the snapshot.
- **Cross-account copies.** ``CopySnapshot`` of a snapshot another account shared with the caller
  (``createVolumePermission``: the caller's account id, or the group ``all``) from ``SourceRegion`` into
  the caller's account and region; the source must be ``completed``. A copy within one account is moto's.
- **Snapshot states.** New snapshots (CreateSnapshot, CreateSnapshots, CopySnapshot) start in the state
  `set_new_snapshot_state` chose (``completed`` by default, as moto); `complete_snapshots` and
  `fail_snapshots` move pending ones on. DescribeSnapshots reports ``State`` and ``Progress`` accordingly.

Time is read from `now`, which a test may fix or move (`set_clock`, `advance_clock`) so that a lock's
cooling-off period or duration runs out without waiting. moto's reset (the end of ``mock_aws``,
``POST /moto-api/reset``) also sets the new-snapshot state back to ``completed`` and the clock back to
real time.

Error codes: AWS documents the refusals (a locked snapshot can't be deleted; after the cooling-off period a
compliance lock can only be extended; a snapshot is copied once ``completed``) but not the codes they
answer with, and the EC2 error-code list has none for a snapshot lock. Those refusals answer with the
documented generic code for a resource whose state does not allow the request, ``IncorrectState``.
Malformed requests answer with the documented common codes ``InvalidParameterValue`` and
``InvalidParameterCombination`` ("an incorrect combination of parameters, or a missing parameter"); an
unknown or unshared snapshot with ``InvalidSnapshot.NotFound``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from moto.core.base_backend import BackendDict
from moto.core.responses import ActionResult
from moto.ec2.exceptions import EC2ClientError
from moto.ec2.models import ec2_backends
from moto.ec2.models.elastic_block_store import EBSBackend, Snapshot
from moto.ec2.responses.elastic_block_store import ElasticBlockStore
from moto.ec2.utils import random_snapshot_id

PENDING: Final = "pending"
COMPLETED: Final = "completed"
ERROR: Final = "error"
#: the states `set_new_snapshot_state` accepts
NEW_SNAPSHOT_STATES: Final = (PENDING, COMPLETED)

GOVERNANCE: Final = "governance"
COMPLIANCE: Final = "compliance"
COMPLIANCE_COOLOFF: Final = "compliance-cooloff"
EXPIRED: Final = "expired"
LOCK_MODES: Final = (GOVERNANCE, COMPLIANCE)
LOCK_STATES: Final = (COMPLIANCE_COOLOFF, GOVERNANCE, COMPLIANCE, EXPIRED)
#: lock states in which the snapshot can't be deleted
LOCKED_STATES: Final = (GOVERNANCE, COMPLIANCE_COOLOFF, COMPLIANCE)

#: LockSnapshot's documented ranges: LockDuration in days, CoolOffPeriod in hours
MIN_LOCK_DAYS: Final = 1
MAX_LOCK_DAYS: Final = 36500
MIN_COOL_OFF_HOURS: Final = 1
MAX_COOL_OFF_HOURS: Final = 72
#: DescribeLockedSnapshots' documented MaxResults range
MIN_RESULTS: Final = 5
MAX_RESULTS: Final = 1000

#: the attribute of a moto Snapshot that holds its lock
_LOCK_ATTRIBUTE: Final = "moto_ext_lock"
#: set on moto's EBS backend class once installed (also by a copy of this module imported under another name)
_INSTALLED_MARK: Final = "moto_ext_installed"

# ---- process-wide settings --------------------------------------------------------------------------

_settings_lock = threading.RLock()
_new_snapshot_state: str = COMPLETED
_fixed_now: datetime | None = None
_installed = False


def now() -> datetime:
    """The emulator's time (aware, UTC): real time, unless a test fixed it (`set_clock`)."""
    with _settings_lock:
        return _fixed_now if _fixed_now is not None else datetime.now(UTC)


def set_clock(at: datetime | None) -> None:
    """Fix the emulator's time at ``at`` (a naive datetime is UTC), or go back to real time (None)."""
    global _fixed_now  # noqa: PLW0603 - the one process-wide clock
    with _settings_lock:
        _fixed_now = None if at is None else _utc(at)


def advance_clock(delta: timedelta) -> datetime:
    """Move the emulator's time on by ``delta`` (and keep it fixed there); the new time."""
    with _settings_lock:
        moved = now() + delta
        set_clock(moved)
        return moved


def set_new_snapshot_state(state: str) -> None:
    """The state of every snapshot created from now on (CreateSnapshot, CreateSnapshots, CopySnapshot):
    ``pending`` (until `complete_snapshots` or `fail_snapshots`) or ``completed`` (moto's)."""
    global _new_snapshot_state  # noqa: PLW0603 - the one process-wide setting
    if state not in NEW_SNAPSHOT_STATES:
        raise ValueError(f"a new snapshot is {' or '.join(NEW_SNAPSHOT_STATES)}, not {state!r}")
    with _settings_lock:
        _new_snapshot_state = state


def new_snapshot_state() -> str:
    with _settings_lock:
        return _new_snapshot_state


def reset() -> None:
    """New snapshots ``completed`` again, and real time (also part of moto's reset once installed)."""
    global _new_snapshot_state  # noqa: PLW0603 - the one process-wide setting
    with _settings_lock:
        _new_snapshot_state = COMPLETED
        set_clock(None)


class UnknownSnapshotsError(LookupError):
    """`complete_snapshots` or `fail_snapshots` named a snapshot no account has."""

    def __init__(self, snapshot_ids: Iterable[str]) -> None:
        self.snapshot_ids = sorted(snapshot_ids)
        super().__init__(f"no account has the snapshots {', '.join(self.snapshot_ids)}")


def complete_snapshots(snapshot_ids: list[str] | None = None) -> list[str]:
    """Move pending snapshots (``snapshot_ids``, or all when None) of every account and region to
    ``completed``; the ids moved. A lock for a duration starts counting now. Snapshots named that are not
    pending are left as they are; `UnknownSnapshotsError` when one does not exist."""
    moved = []
    for snapshot in _pending(snapshot_ids):
        snapshot.status = COMPLETED
        lock = lock_of(snapshot)
        if lock is not None and lock.duration_start is None:
            lock.duration_start = now()
        moved.append(snapshot.id)
    return moved


def fail_snapshots(snapshot_ids: list[str]) -> list[str]:
    """Move pending snapshots to ``error``; the ids moved. AWS: if a snapshot locked while pending fails,
    the lock is canceled."""
    moved = []
    for snapshot in _pending(snapshot_ids):
        snapshot.status = ERROR
        setattr(snapshot, _LOCK_ATTRIBUTE, None)
        moved.append(snapshot.id)
    return moved


def _pending(snapshot_ids: list[str] | None) -> list[Snapshot]:
    found = {s.id: s for backend in _all_ec2_backends() for s in list(backend.snapshots.values())}
    if snapshot_ids is None:
        return [s for s in found.values() if s.status == PENDING]
    if missing := set(snapshot_ids) - set(found):
        raise UnknownSnapshotsError(missing)
    return [found[i] for i in dict.fromkeys(snapshot_ids) if found[i].status == PENDING]


def _all_ec2_backends() -> Iterator[Any]:
    """Every EC2 backend that exists (account and region), without creating any."""
    for per_account in list(dict.values(ec2_backends)):
        yield from list(dict.values(per_account))


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


# ---- snapshot lock -----------------------------------------------------------------------------------


def _error(code: str, message: str) -> EC2ClientError:
    return EC2ClientError(code, message)


def _incorrect_state(message: str) -> EC2ClientError:
    # AWS documents the refusal, not its code (see the module's docstring): the generic state code.
    return _error("IncorrectState", message)


@dataclass
class SnapshotLock:
    """The lock of one snapshot. A duration counts from ``duration_start``: the lock's creation, or the
    snapshot's completion when it was locked while pending (AWS: "the lock duration starts only when the
    snapshot reaches the completed state")."""

    mode: str
    created_on: datetime
    duration_days: int | None = None
    expiration_date: datetime | None = None
    cool_off_hours: int | None = None
    cool_off_started_on: datetime | None = None
    duration_start: datetime | None = None

    @property
    def expires_on(self) -> datetime | None:
        """When the lock expires; unknown (None) for a duration while the snapshot is pending."""
        if self.expiration_date is not None:
            return self.expiration_date
        if self.duration_start is None or self.duration_days is None:
            return None
        return self.duration_start + timedelta(days=self.duration_days)

    @property
    def cool_off_expires_on(self) -> datetime | None:
        if self.cool_off_hours is None or self.cool_off_started_on is None:
            return None
        return self.cool_off_started_on + timedelta(hours=self.cool_off_hours)

    def state(self, at: datetime) -> str:
        expires = self.expires_on
        if expires is not None and at >= expires:
            return EXPIRED
        if self.mode == GOVERNANCE:
            return GOVERNANCE
        cool_off_ends = self.cool_off_expires_on
        if cool_off_ends is not None and at < cool_off_ends:
            return COMPLIANCE_COOLOFF
        return COMPLIANCE

    def answer(self, snapshot: Snapshot, at: datetime) -> dict[str, Any]:
        """The fields of LockSnapshotResult / LockedSnapshotsInfo (those without a value left out: AWS
        leaves out the expiry and the duration's start of a duration lock on a pending snapshot)."""
        fields: dict[str, Any] = {
            "OwnerId": snapshot.owner_id,
            "SnapshotId": snapshot.id,
            "LockState": self.state(at),
            # A lock to an expiration date reports no duration (its request had none).
            "LockDuration": self.duration_days,
            "CoolOffPeriod": self.cool_off_hours,
            "CoolOffPeriodExpiresOn": self.cool_off_expires_on,
            "LockCreatedOn": self.created_on,
            "LockDurationStartTime": self.duration_start,
            "LockExpiresOn": self.expires_on,
        }
        return {name: value for name, value in fields.items() if value is not None}


def lock_of(snapshot: Snapshot) -> SnapshotLock | None:
    """The snapshot's lock (also an expired one), or None."""
    lock: SnapshotLock | None = getattr(snapshot, _LOCK_ATTRIBUTE, None)
    return lock


@dataclass(frozen=True)
class LockRequest:
    """A validated LockSnapshot request."""

    mode: str
    duration_days: int | None
    expiration_date: datetime | None
    cool_off_hours: int | None

    @classmethod
    def parse(cls, params: Callable[[str], Any], at: datetime) -> LockRequest:
        mode = params("LockMode")
        duration = params("LockDuration")
        expiration = params("ExpirationDate")
        cool_off = params("CoolOffPeriod")
        if mode not in LOCK_MODES:
            raise _error(
                "InvalidParameterValue",
                f"Value ({mode}) for parameter lockMode is invalid. Valid values: {', '.join(LOCK_MODES)}",
            )
        if (duration is None) == (expiration is None):
            raise _error(
                "InvalidParameterCombination", "Specify either LockDuration or ExpirationDate, but not both."
            )
        if duration is not None and not MIN_LOCK_DAYS <= int(duration) <= MAX_LOCK_DAYS:
            raise _error(
                "InvalidParameterValue",
                f"Value ({duration}) for parameter lockDuration is invalid. "
                f"It must be from {MIN_LOCK_DAYS} to {MAX_LOCK_DAYS} days.",
            )
        if expiration is not None:
            # A lock expires after it is made; that a date is held to the duration's documented maximum
            # is this emulator's reading (AWS documents the maximum for LockDuration only).
            expiration = _utc(expiration)
            if not at < expiration <= at + timedelta(days=MAX_LOCK_DAYS):
                raise _error(
                    "InvalidParameterValue",
                    f"Value ({expiration.isoformat()}) for parameter expirationDate is invalid. "
                    f"It must be in the future, at most {MAX_LOCK_DAYS} days from now.",
                )
        if cool_off is not None:
            if mode != COMPLIANCE:
                raise _error(
                    "InvalidParameterCombination", "CoolOffPeriod can only be specified in compliance mode."
                )
            if not MIN_COOL_OFF_HOURS <= int(cool_off) <= MAX_COOL_OFF_HOURS:
                raise _error(
                    "InvalidParameterValue",
                    f"Value ({cool_off}) for parameter coolOffPeriod is invalid. "
                    f"It must be from {MIN_COOL_OFF_HOURS} to {MAX_COOL_OFF_HOURS} hours.",
                )
        return cls(
            mode=mode,
            duration_days=None if duration is None else int(duration),
            expiration_date=expiration,
            cool_off_hours=None if cool_off is None else int(cool_off),
        )


def lock_snapshot(snapshot: Snapshot, request: LockRequest, at: datetime) -> SnapshotLock:
    """Lock ``snapshot``, or change its lock, as AWS documents:

    - a snapshot that is pending or completed can be locked;
    - a lock in governance mode, or in compliance mode within its cooling-off period, can be changed
      (mode, duration or expiration date, cooling-off period);
    - a lock in compliance mode after its cooling-off period can only be extended: no other mode, no
      cooling-off period, no earlier expiry;
    - an expired lock is replaced by a new one.

    A changed lock keeps its creation time and the start of its duration (a duration counts from there);
    a cooling-off period starts when the snapshot is locked in compliance mode, and a change within it
    keeps that start.
    """
    if snapshot.status not in (PENDING, COMPLETED):
        raise _incorrect_state(
            f"The snapshot '{snapshot.id}' is in the '{snapshot.status}' state: only a pending or a "
            "completed snapshot can be locked."
        )
    current = lock_of(snapshot)
    state = current.state(at) if current is not None else None
    if current is None or state == EXPIRED:
        lock = SnapshotLock(
            mode=request.mode, created_on=at, duration_start=at if snapshot.status == COMPLETED else None
        )
    else:
        if state == COMPLIANCE:
            _check_extension(snapshot, current, request)
        lock = current
    if state != COMPLIANCE:  # an extension after the cooling-off period keeps the period it had
        keeps_cool_off = state == COMPLIANCE_COOLOFF and request.mode == COMPLIANCE
        lock.cool_off_started_on = (
            None
            if request.cool_off_hours is None
            else (lock.cool_off_started_on if keeps_cool_off and lock.cool_off_started_on else at)
        )
        lock.cool_off_hours = request.cool_off_hours
    lock.mode = request.mode
    lock.duration_days = request.duration_days
    lock.expiration_date = request.expiration_date
    setattr(snapshot, _LOCK_ATTRIBUTE, lock)
    return lock


def _check_extension(snapshot: Snapshot, current: SnapshotLock, request: LockRequest) -> None:
    """A compliance lock after its cooling-off period: only a longer duration or a later date."""
    if request.mode != COMPLIANCE:
        raise _incorrect_state(
            f"The snapshot '{snapshot.id}' is locked in compliance mode and its cooling-off period has "
            "expired: the lock mode can't be changed."
        )
    if request.cool_off_hours is not None:
        raise _incorrect_state(
            f"The snapshot '{snapshot.id}' is locked in compliance mode and its cooling-off period has "
            "expired: a cooling-off period can't be specified."
        )
    proposed = SnapshotLock(
        mode=COMPLIANCE,
        created_on=current.created_on,
        duration_days=request.duration_days,
        expiration_date=request.expiration_date,
        duration_start=current.duration_start,
    )
    old_end, new_end = current.expires_on, proposed.expires_on
    if old_end is not None and new_end is not None:
        extends = new_end >= old_end
    else:  # a duration lock on a pending snapshot: durations compare, a date and a duration do not
        extends = (
            current.duration_days is not None
            and request.duration_days is not None
            and request.duration_days >= current.duration_days
        )
    if not extends:
        raise _incorrect_state(
            f"The snapshot '{snapshot.id}' is locked in compliance mode and its cooling-off period has "
            "expired: the lock duration can only be increased."
        )


def unlock_snapshot(snapshot: Snapshot, at: datetime) -> None:
    """Remove the lock; AWS: not a compliance lock whose cooling-off period has expired (the one refusal it
    documents: a snapshot without a lock, or with an expired one, is unlocked without an error)."""
    lock = lock_of(snapshot)
    if lock is not None and lock.state(at) == COMPLIANCE:
        raise _incorrect_state(
            f"The snapshot '{snapshot.id}' is locked in compliance mode and its cooling-off period has "
            "expired: it can't be unlocked."
        )
    setattr(snapshot, _LOCK_ATTRIBUTE, None)


def check_deletable(snapshot: Snapshot, at: datetime) -> None:
    lock = lock_of(snapshot)
    if lock is not None and (state := lock.state(at)) in LOCKED_STATES:
        raise _incorrect_state(
            f"The snapshot '{snapshot.id}' is locked ({state}) and can't be deleted until its lock "
            "expires" + (" or it is unlocked." if state != COMPLIANCE else ".")
        )


def locked_snapshots(
    backend: Any, snapshot_ids: list[str], lock_states: list[str] | None, at: datetime
) -> list[dict[str, Any]]:
    """DescribeLockedSnapshots: the backend's (the caller's own) snapshots with a lock, in creation order."""
    owned: dict[str, Snapshot] = dict(backend.snapshots)
    if missing := [i for i in snapshot_ids if i not in owned]:
        raise _error("InvalidSnapshot.NotFound", f"The snapshot '{missing[0]}' does not exist.")
    wanted = set(snapshot_ids)
    found = []
    for snapshot in owned.values():
        lock = lock_of(snapshot)
        if lock is None or (wanted and snapshot.id not in wanted):
            continue
        if lock_states is not None and lock.state(at) not in lock_states:
            continue
        found.append(lock.answer(snapshot, at))
    return found


# ---- cross-account copies and snapshot states ----------------------------------------------------------


def _not_found(snapshot_id: str) -> EC2ClientError:
    return _error("InvalidSnapshot.NotFound", f"The snapshot '{snapshot_id}' does not exist.")


def _find_source(caller: Any, snapshot_id: str, region: str) -> tuple[Snapshot, bool]:
    """The source of a copy, and whether it is the caller's: the caller's own snapshot in ``region``, else
    another account's there, which the caller sees only when it is shared with it (AWS: not found
    otherwise)."""
    own: Snapshot | None = ec2_backends[caller.account_id][region].snapshots.get(snapshot_id)
    if own is not None:
        return own, True
    for account_id, per_account in list(dict.items(ec2_backends)):
        backend = dict.get(per_account, region)
        if account_id == caller.account_id or backend is None:
            continue
        snapshot: Snapshot | None = backend.snapshots.get(snapshot_id)
        if snapshot is None:
            continue
        shared = (
            caller.account_id in snapshot.create_volume_permission_userids
            or "all" in snapshot.create_volume_permission_groups
        )
        if shared:
            return snapshot, False
        break
    raise _not_found(snapshot_id)


def copy_snapshot(
    caller: Any,
    *,
    source_snapshot_id: str,
    source_region: str,
    description: str | None,
    encrypted: bool,
    kms_key_id: str | None,
) -> Snapshot:
    """CopySnapshot into the caller's backend (the client's account and region)."""
    source, own = _find_source(caller, source_snapshot_id, source_region)
    if source.status != COMPLETED:
        raise _incorrect_state(
            f"The snapshot '{source.id}' is in the '{source.status}' state: a snapshot can be copied once "
            "it is completed."
        )
    if own:  # moto's copy within one account
        copy: Snapshot = _original["copy_snapshot"](
            caller,
            source_snapshot_id=source_snapshot_id,
            source_region=source_region,
            description=description,
            kms_key_id=kms_key_id,
        )
    else:
        # Copies of encrypted snapshots stay encrypted; Encrypted or a key encrypts a copy; without a key,
        # the caller's KMS key for EBS is used. The source's volume gives the copy its size and its
        # volume id (AWS documents a copy's volume id as arbitrary: nothing may rely on it).
        encrypt = bool(source.encrypted or encrypted or kms_key_id is not None)
        if encrypt and kms_key_id is None:
            kms_key_id = caller.default_kms_key_id or caller._create_default_encryption_key()
        copy = Snapshot(
            caller,
            random_snapshot_id(),
            volume=source.volume,
            description=description or "",
            encrypted=encrypt,
            kms_key_id=kms_key_id,
        )
        caller.snapshots[copy.id] = copy
    copy.status = new_snapshot_state()
    return copy


# ---- the patches ---------------------------------------------------------------------------------------

_original: dict[str, Any] = {}


def _create_snapshot(
    self: Any, volume_id: str, description: str, owner_id: str | None = None, from_ami: str | None = None
) -> Snapshot:
    snapshot: Snapshot = _original["create_snapshot"](self, volume_id, description, owner_id, from_ami)
    if from_ami is None:  # an AMI's snapshots (moto's own images included) stay completed
        snapshot.status = new_snapshot_state()
    return snapshot


def _delete_snapshot(self: Any, snapshot_id: str) -> Snapshot:
    snapshot: Snapshot | None = self.snapshots.get(snapshot_id)
    if snapshot is not None:
        check_deletable(snapshot, now())
    deleted: Snapshot = _original["delete_snapshot"](self, snapshot_id)
    return deleted


def _progress(self: Snapshot) -> str:
    return "100%" if self.status == COMPLETED else "0%"


def _state(self: Snapshot) -> str:
    return str(self.status)


def _respond_copy_snapshot(self: Any) -> ActionResult:
    tags = self._parse_tag_specification().get("snapshot", {})
    arguments = {
        "source_snapshot_id": self._get_param("SourceSnapshotId"),
        "source_region": self._get_param("SourceRegion"),
        "description": self._get_param("Description"),
        "encrypted": bool(self._get_param("Encrypted", False)),
        "kms_key_id": self._get_param("KmsKeyId"),
    }
    self.error_on_dryrun()
    snapshot = copy_snapshot(self.ec2_backend, **arguments)
    snapshot.add_tags(tags)
    return ActionResult({"SnapshotId": snapshot.id, "Tags": snapshot.tag_set})


def _respond_lock_snapshot(self: Any) -> ActionResult:
    at = now()
    request = LockRequest.parse(self._get_param, at)
    snapshot_id = self._get_param("SnapshotId")
    self.error_on_dryrun()
    snapshot = self.ec2_backend.get_snapshot(snapshot_id)
    lock = lock_snapshot(snapshot, request, at)
    answer = lock.answer(snapshot, at)
    del answer["OwnerId"]  # not a field of LockSnapshotResult
    return ActionResult(answer)


def _respond_unlock_snapshot(self: Any) -> ActionResult:
    snapshot_id = self._get_param("SnapshotId")
    self.error_on_dryrun()
    unlock_snapshot(self.ec2_backend.get_snapshot(snapshot_id), now())
    return ActionResult({"SnapshotId": snapshot_id})


def _respond_describe_locked_snapshots(self: Any) -> ActionResult:
    lock_states: list[str] | None = None
    for name, values in self._filters_from_querystring().items():
        if name != "lock-state":
            raise _error("InvalidParameterValue", f"The filter '{name}' is invalid")
        lock_states = [*(lock_states or []), *values]
    max_results = self._get_param("MaxResults")
    if max_results is not None and not MIN_RESULTS <= int(max_results) <= MAX_RESULTS:
        raise _error(
            "InvalidParameterValue",
            f"Value ({max_results}) for parameter maxResults is invalid. "
            f"It must be from {MIN_RESULTS} to {MAX_RESULTS}.",
        )
    token = self._get_param("NextToken")
    self.error_on_dryrun()
    found = locked_snapshots(self.ec2_backend, self._get_param("SnapshotIds", []), lock_states, now())
    start = _page_start(token, len(found))
    end = start + int(max_results or MAX_RESULTS)
    result: dict[str, Any] = {"Snapshots": found[start:end]}
    if end < len(found):
        result["NextToken"] = f"{_PAGE_PREFIX}{end}"
    return ActionResult(result)


#: the opaque NextToken of DescribeLockedSnapshots: this prefix and an offset
_PAGE_PREFIX: Final = "moto-ext-page-"


def _page_start(token: str | None, total: int) -> int:
    if token is None:
        return 0
    offset = token.removeprefix(_PAGE_PREFIX)
    if not token.startswith(_PAGE_PREFIX) or not offset.isdigit() or int(offset) > total:
        raise _error("InvalidNextToken", "The specified NextToken is not valid.")
    return int(offset)


@dataclass
class _Patch:
    owner: Any
    name: str
    value: Any


def _reset_with_extension(original: Callable[[], None]) -> Callable[[Any], None]:
    def reset_all(cls: Any) -> None:
        original()
        reset()

    return reset_all


def install() -> None:
    """Extend moto in this process (idempotent): the new actions are methods of moto's EC2 responses class,
    which dispatches by action name, so mock_aws and the server answer them alike."""
    global _installed  # noqa: PLW0603 - installed once per process
    with _settings_lock:
        if _installed or getattr(EBSBackend, _INSTALLED_MARK, False):
            _installed = True
            return
        _original["create_snapshot"] = EBSBackend.create_snapshot
        _original["delete_snapshot"] = EBSBackend.delete_snapshot
        _original["copy_snapshot"] = EBSBackend.copy_snapshot
        patches = [
            _Patch(EBSBackend, "create_snapshot", _create_snapshot),
            _Patch(EBSBackend, "delete_snapshot", _delete_snapshot),
            _Patch(Snapshot, "progress", property(_progress)),
            # CreateSnapshots' SnapshotInfo reads ``state`` (DescribeSnapshots' Snapshot reads ``status``)
            _Patch(Snapshot, "state", property(_state)),
            _Patch(ElasticBlockStore, "copy_snapshot", _respond_copy_snapshot),
            _Patch(ElasticBlockStore, "lock_snapshot", _respond_lock_snapshot),
            _Patch(ElasticBlockStore, "unlock_snapshot", _respond_unlock_snapshot),
            _Patch(ElasticBlockStore, "describe_locked_snapshots", _respond_describe_locked_snapshots),
            _Patch(BackendDict, "reset", classmethod(_reset_with_extension(BackendDict.reset))),
            _Patch(EBSBackend, _INSTALLED_MARK, True),
        ]
        for patch in patches:
            setattr(patch.owner, patch.name, patch.value)
        _installed = True


def installed() -> bool:
    return _installed
