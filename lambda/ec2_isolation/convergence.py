"""The reconciler's decisions: how an isolated instance drifted from its isolation, and what an instance
needs, from its trigger tag, its record and its live state. Pure functions: no AWS call."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ec2_isolation.config import Settings
from ec2_isolation.steps.instance import GONE_STATES, instance_tags
from ec2_isolation.steps.observe import interface_groups
from ec2_isolation.steps.record import (
    FAILED,
    ISOLATED,
    ISOLATING,
    OPEN_STATUSES,
    RELEASE_FAILED,
    RELEASED,
    RELEASING,
)

if TYPE_CHECKING:
    from mypy_boto3_ec2.type_defs import InstanceTypeDef

#: the sweep's modes: the frequent sweep, the full check (per-instance reads too), an API-call event
SWEEP, FULL, EVENT = "sweep", "full", "event"

NONE, WAIT, ISOLATE, REPAIR, RELEASE, CLOSE, KEEP, ATTENTION = (
    "none",
    "wait",
    "isolate",
    "repair",
    "release",
    "close",
    "keep",
    "attention",
)
#: the decisions that change EC2: a sweep hands each one to a converge of its own
ACTS_ON_EC2 = frozenset({ISOLATE, REPAIR, RELEASE})
#: what is not read (the sweep does not read it; the per-instance check does)
UNREAD: Any = object()


@dataclass(frozen=True)
class Decision:
    kind: str
    reason: str
    drift: tuple[dict[str, Any], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "decision": self.kind,
            "reason": self.reason,
            **({"drift": list(self.drift)} if self.drift else {}),
        }


def drift_of(
    settings: Settings,
    instance: InstanceTypeDef,
    isolation_group_id: str | None,
    *,
    prior: Mapping[str, Any] | None = None,
    profiles: Any = UNREAD,
    auto_scaling: Any = UNREAD,
    target_groups: Any = UNREAD,
    protection: Any = UNREAD,
) -> list[dict[str, Any]]:
    """How an isolated instance differs from its isolation, as far as it was read (``UNREAD`` parts are
    not checked): every ENI not exactly on the isolation group (one attached since the isolation
    included), a profile that is not the isolation profile, membership of an Auto Scaling group or a
    target group, termination protection, shutdown behaviour and DeleteOnTermination."""
    drift: list[dict[str, Any]] = []
    recorded = (prior or {}).get("security_groups") or {}
    for eni, groups in interface_groups(instance).items():
        if isolation_group_id is None or groups != [isolation_group_id]:
            entry: dict[str, Any] = {"what": "network_interface", "id": eni, "groups": groups}
            if prior is not None and eni not in recorded:
                entry["attached_since_isolation"] = True
            drift.append(entry)
    if profiles is not UNREAD and list(profiles or []) != [settings.isolation_instance_profile_arn]:
        drift.append({"what": "instance_profile", "arn": ", ".join(profiles) if profiles else None})
    if settings.auto_scaling_action != "none" and auto_scaling is not UNREAD and auto_scaling:
        state = str(auto_scaling.get("state", ""))
        out = (
            ("Detach", "Terminat")
            if settings.auto_scaling_action == "detach"
            else ("Detach", "Terminat", "Standby", "EnteringStandby")
        )
        if not state.startswith(out):
            drift.append({"what": "auto_scaling", "group": auto_scaling.get("group"), "state": state})
    if settings.deregister_targets and target_groups is not UNREAD:
        drift += [{"what": "target_group", "arn": arn} for arn in target_groups or []]
    if settings.protect_from_termination:
        if protection is not UNREAD and protection:
            if protection.get("termination_protection") is False:
                drift.append({"what": "termination_protection", "enabled": False})
            if protection.get("shutdown_behaviour") not in (None, "stop"):
                drift.append({"what": "shutdown_behaviour", "value": protection.get("shutdown_behaviour")})
        deleting = [
            m["DeviceName"]
            for m in instance.get("BlockDeviceMappings", [])
            if "DeviceName" in m and m.get("Ebs", {}).get("DeleteOnTermination")
        ]
        if deleting:
            drift.append({"what": "delete_on_termination", "devices": deleting})
    return drift


def _lock_live(record: Mapping[str, Any], now: datetime) -> bool:
    return (
        record.get("status") in (ISOLATING, RELEASING)
        and int(record.get("lock_expires_at", 0)) > now.timestamp()
    )


def decide(
    settings: Settings,
    *,
    instance: InstanceTypeDef | None,
    record: Mapping[str, Any] | None,
    drift: Sequence[Mapping[str, Any]],
    now: datetime,
    mode: str,
) -> Decision:
    """What one instance needs, from its trigger tag, its record and its live state (``drift``: see
    `drift_of`, only for an isolated record). ``instance`` None: it does not exist any more."""
    status = record.get("status") if record else None
    state = instance.get("State", {}).get("Name", "unknown") if instance else "terminated"
    if state in GONE_STATES:
        if status in OPEN_STATUSES:
            return Decision(CLOSE, f"the instance is {state}: nothing is left to hold isolated")
        return Decision(NONE, f"the instance is {state}")
    if record is not None and _lock_live(record, now):
        return Decision(WAIT, f"event {record.get('lock_event_id')} holds the record: it is being handled")
    tag = instance_tags(instance).get(settings.isolation_tag_key) if instance else None
    # what a person must decide is not retried on every sweep (the full check tries again)
    needs = record.get("needs_decision") if record and mode != FULL else None
    if tag == settings.isolation_tag_value:
        return _asked_to_isolate(status, drift, needs)
    if tag == settings.release_tag_value:
        return _asked_to_release(status, needs)
    return _asked_for_nothing(settings, tag, status, drift)


#: why an instance whose tag asks for isolation is isolated again, by its record's status
_WHY_ISOLATE = {
    None: "the tag asks for isolation and there is no record: its event was lost",
    FAILED: "the last isolation attempt failed",
    ISOLATING: "an isolation was interrupted (its lock expired)",
    RELEASING: "a release was interrupted (its lock expired) and the tag asks for isolation again",
    RELEASE_FAILED: "the release failed and the tag asks for isolation again",
    RELEASED: "the tag asks for isolation again since the release: its event was lost",
}


def _asked_to_isolate(status: Any, drift: Sequence[Mapping[str, Any]], needs: Any) -> Decision:
    if status == ISOLATED:
        if drift:
            return Decision(
                REPAIR, "the isolated instance drifted from its isolation", tuple(dict(d) for d in drift)
            )
        return Decision(NONE, "isolated, as the tag asks")
    if needs:
        return Decision(ATTENTION, _needs_text(needs))
    return Decision(ISOLATE, _WHY_ISOLATE.get(status, f"the record says {status}"))


def _asked_to_release(status: Any, needs: Any) -> Decision:
    if status is None or status not in OPEN_STATUSES:
        return Decision(NONE, "released, as the tag asks" if status else "never isolated")
    if needs:
        return Decision(ATTENTION, _needs_text(needs))
    return Decision(
        RELEASE, "the tag asks for a release and the instance is not released: its event was lost"
    )


def _asked_for_nothing(
    settings: Settings, tag: str | None, status: Any, drift: Sequence[Mapping[str, Any]]
) -> Decision:
    """The trigger tag removed, or set to another value: an isolated instance stays isolated."""
    if status not in OPEN_STATUSES:
        return Decision(NONE, "not isolated, and the tag asks for nothing")
    said = f"is {tag!r}" if tag is not None else "was removed"
    reason = (
        f"the {settings.isolation_tag_key} tag {said}: the instance stays isolated (only the tag "
        f"value {settings.release_tag_value!r} releases it)"
    )
    if status == ISOLATED and drift:
        return Decision(
            REPAIR,
            f"the isolated instance drifted from its isolation; {reason}",
            tuple(dict(d) for d in drift),
        )
    return Decision(KEEP, reason)


def _needs_text(needs: Any) -> str:
    if isinstance(needs, Mapping):
        text = "; ".join(f"{step}: {why}" for step, why in needs.items())
    else:
        text = str(needs)
    return f"a person must decide (not retried on every sweep; the full check tries again): {text}"
