"""Release of one instance: the recorded prior state, put back.

Order (the reverse of the isolation, so that the group takes the instance back only once it is healthy):

1. Every recorded ENI back on its recorded groups.
2. The recorded instance profile re-associated (or the isolation profile removed when there was none).
3. Termination protection, shutdown behaviour and DeleteOnTermination as recorded.
4. Elastic IPs re-associated, target registrations restored.
5. Back into the Auto Scaling group (re-attached, or out of standby).
6. Status tags: released; the record: released, by which event.

What stays: the credential-revocation policy on the original role (it only denies credentials issued
before the isolation, which the instance no longer holds), the evidence snapshots, and the isolation
security group (reused by the next isolation in the VPC).

A release of an instance without a record is a clear no-op, as is a repeated release. When a step
fails the others still run, the status tags are not written, and the invocation fails (and is retried).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ec2_isolation.config import Settings
from ec2_isolation.errors import InstanceIsolationFailed
from ec2_isolation.log import log
from ec2_isolation.outcome import Outcome
from ec2_isolation.steps.instance import GONE_STATES, describe_instance, instance_tags
from ec2_isolation.steps.record import (
    RELEASED,
    begin_release,
    finish_release,
    read_record,
    record_dry_run,
)
from ec2_isolation.steps.restore import (
    mark_released,
    reassociate_elastic_ips,
    register_targets,
    restore_auto_scaling,
    restore_instance_profile,
    restore_protection,
    restore_security_groups,
)

if TYPE_CHECKING:
    from mypy_boto3_ec2.type_defs import InstanceTypeDef

    from ec2_isolation.clients import AwsClients


def release_instance(
    clients: AwsClients,
    instance_id: str,
    settings: Settings,
    *,
    event_id: str,
    now: Callable[[], datetime],
    record_key: str | None = None,
    trigger: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Restore ``instance_id`` to its recorded prior state and return what was done.

    ``record_key`` is the instance's key in the record table (by default its id); ``trigger`` says what
    asked for it when it was not the analyst's tag event (the reconciler's catch-up of a lost release)."""
    key = record_key or instance_id
    instance = describe_instance(clients.ec2, instance_id)
    state = instance.get("State", {}).get("Name", "unknown")
    outcome = Outcome(instance_id, state)
    outcome.data["action"] = "release"
    if state in GONE_STATES:
        log(logging.WARNING, "instance is shutting down or terminated; nothing to release", state=state)
        return {**outcome.result("skipped"), "reason": f"instance is {state}"}
    tag_value = instance_tags(instance).get(settings.isolation_tag_key)
    if tag_value != settings.release_tag_value:
        # The analyst changed the tag again since this event (to isolate, say): the newer request wins.
        reason = f"superseded: the {settings.isolation_tag_key} tag is now {tag_value!r}"
        log(logging.WARNING, "release request superseded", reason=reason)
        return {**outcome.result("skipped"), "reason": reason}
    if settings.dry_run:
        record = read_record(clients.dynamodb, settings.record_table_name, key)
        if record is None or record.get("status") == RELEASED:
            return _nothing_to_release(outcome, record)
    else:
        lock = begin_release(
            clients.dynamodb,
            settings.record_table_name,
            instance_id=key,
            event_id=event_id,
            now=now(),
            lock_seconds=settings.record_lock_seconds,
        )
        if not lock.acquired or lock.record is None:
            return _nothing_to_release(outcome, lock.record)
        record = lock.record
    release = _Release(clients, settings, instance, record, outcome, event_id=event_id, now=now)
    release.record_key = key
    release.trigger = trigger
    try:
        result = release.run()
    except InstanceIsolationFailed as failed:
        release.finish(failed.result)
        raise
    release.finish(result)
    return result


def _nothing_to_release(outcome: Outcome, record: dict[str, Any] | None) -> dict[str, Any]:
    if record is None:
        reason = "no isolation record: the instance was never isolated by this module; nothing to release"
        log(logging.INFO, reason)
        return {**outcome.result("not_isolated"), "reason": reason}
    reason = f"already released by event {record.get('release_event_id')} at {record.get('released_at')}"
    log(logging.INFO, "instance is already released; nothing to do", reason=reason)
    return {**outcome.result("already_released"), "reason": reason}


class _Release:
    """The steps of one release, from the record's prior state."""

    def __init__(
        self,
        clients: AwsClients,
        settings: Settings,
        instance: InstanceTypeDef,
        record: dict[str, Any],
        outcome: Outcome,
        *,
        event_id: str,
        now: Callable[[], datetime],
    ) -> None:
        self.clients, self.ec2, self.settings = clients, clients.ec2, settings
        self.instance, self.instance_id = instance, instance["InstanceId"]
        #: the record table's key (the instance id, or account:region:id elsewhere)
        self.record_key: str = self.instance_id
        #: what asked for the release, when not the tag event (kept in the record's attempt)
        self.trigger: Mapping[str, Any] | None = None
        self.record, self.prior = record, record["prior"]
        self.outcome, self.event_id, self.now = outcome, event_id, now
        self.dry_run = settings.dry_run
        self.notes: list[str] = []
        outcome.data["isolation_event_id"] = record.get("isolation_event_id")
        outcome.data["record_status"] = record.get("status")

    def _step(self, name: str, action: Callable[[], list[str]]) -> None:
        self.outcome.changes += self.outcome.run(name, action) or []

    def run(self) -> dict[str, Any]:
        prior, dry_run, outcome = self.prior, self.dry_run, self.outcome
        networks = outcome.run(
            "network_interfaces",
            lambda: restore_security_groups(self.ec2, prior.get("security_groups", {}), dry_run=dry_run),
        )
        if networks is not None:
            outcome.changes += networks[0]
            self.notes += networks[1]
        self._step(
            "instance_profile",
            lambda: restore_instance_profile(
                self.ec2,
                self.instance_id,
                prior.get("instance_profile_arn"),
                self.settings.isolation_instance_profile_arn,
                dry_run=dry_run,
            ),
        )
        self._step(
            "termination_protection",
            lambda: restore_protection(self.ec2, self.instance, prior, dry_run=dry_run),
        )
        if prior.get("elastic_ips"):
            self._step(
                "elastic_ips",
                lambda: reassociate_elastic_ips(self.ec2, prior["elastic_ips"], dry_run=dry_run),
            )
        if prior.get("target_groups"):
            self._step(
                "target_groups",
                lambda: register_targets(self.clients.elbv2, prior["target_groups"], dry_run=dry_run),
            )
        if prior.get("auto_scaling"):
            self._step(
                "auto_scaling",
                lambda: restore_auto_scaling(
                    self.clients.autoscaling, self.instance_id, prior["auto_scaling"], dry_run=dry_run
                ),
            )
        self._kept()
        if outcome.failures:
            # The status tags would tell the analyst the instance is released: they are not written.
            raise InstanceIsolationFailed(
                self.instance_id, outcome.failures, self._result("failed"), "release"
            )
        self._step(
            "status_tags",
            lambda: mark_released(
                self.ec2,
                self.instance_id,
                instance_tags(self.instance),
                self.settings,
                event_id=self.event_id,
                now=self.now().isoformat(timespec="seconds"),
                dry_run=dry_run,
            ),
        )
        if outcome.failures:
            raise InstanceIsolationFailed(
                self.instance_id, outcome.failures, self._result("failed"), "release"
            )
        return self._result("dry_run" if dry_run else "released")

    def _kept(self) -> None:
        """Say what a release leaves in place, and why."""
        if self.prior.get("instance_profile_arn") and self.settings.revoke_credentials:
            policy = f"{self.settings.revocation_policy_prefix}{self.instance_id}"
            self.notes.append(
                f"the credential-revocation policy {policy} stays on the original role: "
                "it denies only credentials issued before the isolation"
            )
        self.notes.append("the isolation security group and the evidence snapshots are kept")

    def _result(self, status: str) -> dict[str, Any]:
        result = {**self.outcome.result(status), "notes": self.notes}
        if self.dry_run:
            result["plan"], result["changes"] = result["changes"], []
        return result

    def finish(self, result: dict[str, Any]) -> None:
        """The record says how the release went (or, for a dry run, what it would have done)."""
        table, dynamodb = self.settings.record_table_name, self.clients.dynamodb
        if self.dry_run:
            log(logging.INFO, "dry run: what the release would do", plan=result.get("plan"))
            record_dry_run(
                dynamodb,
                table,
                instance_id=self.record_key,
                event_id=self.event_id,
                action="release",
                prior=self.prior,
                result=result,
                now=self.now(),
            )
            return
        finish_release(
            dynamodb,
            table,
            instance_id=self.record_key,
            event_id=self.event_id,
            result=result,
            now=self.now(),
            trigger=self.trigger,
        )
