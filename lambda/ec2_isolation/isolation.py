"""Isolation of one instance: the containment steps in order, with an honest account of each."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ec2_isolation.config import Settings
from ec2_isolation.errors import InstanceIsolationFailed, IsolationError
from ec2_isolation.log import log
from ec2_isolation.steps.instance import GONE_STATES, describe_instance, instance_tags
from ec2_isolation.steps.network import ensure_isolation_group, move_interfaces
from ec2_isolation.steps.profile import swap_instance_profile
from ec2_isolation.steps.status import mark_isolated

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client


class _Record:
    """What one isolation did and what failed, step by step (becomes the per-instance summary)."""

    def __init__(self, instance_id: str, state: str) -> None:
        self.data: dict[str, Any] = {"instance_id": instance_id, "state": state}
        self.changes: list[str] = []
        self.failures: dict[str, str] = {}

    def fail(self, step: str, exc: Exception) -> None:
        log(logging.ERROR, f"{step} step failed", step=step, exc_info=True)
        self.failures[step] = f"{type(exc).__name__}: {exc}"

    def result(self, status: str) -> dict[str, Any]:
        return {**self.data, "status": status, "changes": self.changes, "failures": self.failures}


def _cut_network(
    ec2: EC2Client, instance_id: str, vpc_id: str, settings: Settings, record: _Record
) -> str | None:
    """Seal the VPC's isolation group and move every ENI onto it. Returns the group id when known."""
    try:
        group = ensure_isolation_group(ec2, vpc_id, settings)
    except Exception as exc:
        record.fail("isolation_group", exc)
        record.failures["network_interfaces"] = "not attempted: no isolation group"
        return None
    record.data["isolation_group_id"] = group.group_id
    if group.created:
        record.changes.append(f"created isolation group {group.group_id}")
    if group.revoked_rule_ids:
        record.changes.append(f"revoked rules {', '.join(group.revoked_rule_ids)} of {group.group_id}")
    try:
        interfaces = move_interfaces(ec2, instance_id, group.group_id)
    except Exception as exc:
        record.fail("network_interfaces", exc)
        return group.group_id
    record.data["network_interfaces"] = [i.as_dict() for i in interfaces]
    record.changes += [f"moved {i.network_interface_id} to {group.group_id}" for i in interfaces if i.changed]
    errors = [f"{i.network_interface_id}: {i.error}" for i in interfaces if i.error]
    if errors:
        record.failures["network_interfaces"] = "; ".join(errors)
    return group.group_id


def _swap_profile(ec2: EC2Client, instance_id: str, settings: Settings, record: _Record) -> None:
    target = settings.isolation_instance_profile_arn
    try:
        profile = swap_instance_profile(ec2, instance_id, target)
    except Exception as exc:
        record.fail("instance_profile", exc)
        return
    record.data["instance_profile"] = profile.as_dict()
    if profile.changed:
        replaced = f"replaced {profile.previous_arn}" if profile.previous_arn else "associated"
        record.changes.append(f"instance profile {replaced} -> {target}")


def isolate_instance(
    ec2: EC2Client,
    instance_id: str,
    settings: Settings,
    *,
    event_id: str,
    now: Callable[[], datetime],
) -> dict[str, Any]:
    """Contain ``instance_id`` and return what was done.

    Order: the network cut first (the most urgent), then the profile swap, then the status tags. When a
    step fails the later containment steps still run; then ``InstanceIsolationFailed`` is raised with the
    result so that the invocation fails (retry, dead letter) and says exactly what succeeded.
    """
    instance = describe_instance(ec2, instance_id)
    record = _Record(instance_id, instance.get("State", {}).get("Name", "unknown"))
    state = record.data["state"]
    if state in GONE_STATES:
        log(logging.WARNING, "instance is shutting down or terminated; nothing to contain", state=state)
        return {**record.result("skipped"), "reason": f"instance is {state}"}
    vpc_id = instance.get("VpcId")
    if not vpc_id:
        raise IsolationError(f"{instance_id} is not in a VPC; this module only isolates VPC instances")
    record.data["vpc_id"] = vpc_id

    group_id = _cut_network(ec2, instance_id, vpc_id, settings, record)
    _swap_profile(ec2, instance_id, settings, record)
    if record.failures or group_id is None:
        # The status tags would tell the analyst the instance is isolated: they are not written.
        raise InstanceIsolationFailed(instance_id, record.failures, record.result("failed"))

    tags = instance_tags(instance)
    if mark_isolated(ec2, instance_id, tags, settings, event_id=event_id, group_id=group_id, now=now()):
        record.changes.append("tagged as isolated")
    if not record.changes:
        log(logging.INFO, "instance was already isolated; nothing changed")
        return record.result("already_isolated")
    return record.result("isolated")
