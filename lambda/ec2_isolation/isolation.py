"""Isolation of one instance: the containment steps, ordered so that the ENIs are on the transition group
as early as the record allows, with an honest account of each.

Order, and why (what one line lists runs at the same time: independent calls cost one round trip, not
one each):

0. Describe the instance.
1. The reads before the record, at once: the ENIs, the instance profile, termination protection and
   shutdown behaviour, the Auto Scaling membership, the target registrations (the target groups, then
   their registrations at once), the Elastic IPs, and the module's two groups of the VPC (one call).
2. The record (the prior state, and the lock): before the first change.
3. At once:
   - Auto Scaling: out of the group, so that it cannot terminate the instance (and its evidence) once the
     cut makes it fail its health checks. Beside the transition move, not before it: the all-traffic
     transition group fails no health check, and a group replaces an instance only after minutes of
     failed checks.
   - Termination protection, shutdown behaviour "stop", volumes kept on termination.
   - The network: the isolation group and, when connection tracking is handled, the transition group
     (found in 1; missing ones created at the same time, a new isolation group sealed and read back);
     then every ENI onto the transition group (all traffic: tracked flows become untracked; with the
     groups in place, the round trip right after the record), beside the seal of an existing isolation
     group; connection-tracking timeouts lowered. The wait before the cut starts. Without a transition
     (``untrack_connections`` off, a stopped instance, a transition group that failed) there is nothing
     to wait for: the cut comes here, at once.
4. Inside the wait, at once: the instance profile swap (the original profile remembered in a tag first),
   then the credential revocation on the original role; target group deregistration; Elastic IP
   disassociation (optional); evidence snapshots (one multi-volume call; completion is not awaited).
5. The rest of the wait, then every ENI onto the isolation group: the network cut. Nothing is cut onto
   an isolation group that is not sealed; an ENI that cannot be cut is put back on its original groups,
   never left on the all-traffic group.
6. Status tags, only when every step succeeded.

The steps that run at the same time each keep their own account, merged in the order above when they
are done: the result and the audit trail list the steps and changes in the same order whatever finished
first. When a step fails the others still run; then ``InstanceIsolationFailed`` is raised with the
result, so the invocation fails (and is retried) and says exactly which steps succeeded.

In a dry run the same steps run with ``dry_run``: they read what they read for real, ask EC2 (``DryRun``)
whether each change would be allowed where EC2 can, and change nothing; the result's ``plan`` lists the
changes that would be made, and the record table keeps it under ``dry-run#<instance id>``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from ec2_isolation.concurrent import in_parallel
from ec2_isolation.config import Settings
from ec2_isolation.errors import InstanceIsolationFailed, InstanceNotFound, IsolationError
from ec2_isolation.events import RECONCILE_TRIGGER, TAG_TRIGGER
from ec2_isolation.log import log
from ec2_isolation.manifest import custody_for, is_pending, lock_new, lock_wanted, merge_entries, new_entries
from ec2_isolation.outcome import Outcome
from ec2_isolation.steps.credentials import revoke_instance_credentials
from ec2_isolation.steps.evidence import (
    PROTECTION_ATTRIBUTES,
    Evidence,
    instance_attribute,
    protect_instance,
    snapshot_volumes,
)
from ec2_isolation.steps.instance import GONE_STATES, describe_instance, instance_tags
from ec2_isolation.steps.network import (
    InterfaceOutcome,
    IsolationGroup,
    ensure_isolation_group,
    ensure_transition_group,
    find_groups,
    lower_connection_tracking_timeouts,
    move_interfaces,
    read_interfaces,
    restore_interface,
    seal_isolation_group,
)
from ec2_isolation.steps.profile import ProfileOutcome, instance_profile_arn, swap_instance_profile
from ec2_isolation.steps.record import (
    begin_isolation,
    finish_isolation,
    prior_state,
    read_record,
    record_dry_run,
    update_evidence,
)
from ec2_isolation.steps.services import (
    auto_scaling_membership,
    deregister_targets,
    disassociate_elastic_ips,
    elastic_ip_associations,
    find_target_registrations,
    remove_from_auto_scaling,
)
from ec2_isolation.steps.status import mark_isolated
from ec2_isolation.values import plain

if TYPE_CHECKING:
    from mypy_boto3_ec2.type_defs import InstanceTypeDef

    from ec2_isolation.clients import AwsClients

T = TypeVar("T")

#: states in which the instance has no network connection that could survive the cut
NO_CONNECTION_STATES = frozenset({"stopping", "stopped"})

#: the account a step that runs beside others writes to (see `_Isolation.record`)
_BRANCH: ContextVar[Outcome | None] = ContextVar("ec2_isolation_branch", default=None)


def isolate_instance(
    clients: AwsClients,
    instance_id: str,
    settings: Settings,
    *,
    event_id: str,
    instance_arn: str,
    now: Callable[[], datetime],
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
    trigger: Mapping[str, Any] | None = None,
    record_key: str | None = None,
    attempt_action: str = "isolate",
    credentials_cutoff: datetime | None = None,
) -> dict[str, Any]:
    """Contain ``instance_id`` and return what was done (see the module docstring for the order).

    ``trigger`` says what asked for it (the record's attempt keeps it); none is the analyst's tag.
    ``record_key`` is the instance's key in the record table (by default its id). The reconciler's repair
    of a drifted isolation runs the same steps (each changes only what is not as it should be) with
    ``attempt_action`` ``drift``, and, when the original profile was back on the instance, a
    ``credentials_cutoff`` of now: the credentials it was given meanwhile are revoked too.
    """
    key = record_key or instance_id
    instance = describe_instance(clients.ec2, instance_id)
    state = instance.get("State", {}).get("Name", "unknown")
    if state in GONE_STATES:
        log(logging.WARNING, "instance is shutting down or terminated; nothing to contain", state=state)
        return {**Outcome(instance_id, state).result("skipped"), "reason": f"instance is {state}"}
    vpc_id = instance.get("VpcId")
    if not vpc_id:
        raise IsolationError(f"{instance_id} is not in a VPC; this module only isolates VPC instances")
    # the reconciler acts on what the tag says, like a tag event
    by_tag = trigger is None or trigger.get("type") in (TAG_TRIGGER, RECONCILE_TRIGGER)
    tag_value = instance_tags(instance).get(settings.isolation_tag_key)
    # Only a tag request can be superseded by a later tag: a finding isolates whatever the tag says (the
    # tag of an instance released earlier still says release).
    if by_tag and tag_value == settings.release_tag_value:
        # A release was asked for since this event: the newer request wins (its own event follows).
        reason = f"superseded: the {settings.isolation_tag_key} tag is now {tag_value!r}"
        log(logging.WARNING, "isolation request superseded by a release request", reason=reason)
        return {**Outcome(instance_id, state).result("skipped"), "reason": reason}
    started = now()
    prior, current = _read_before_the_record(clients, settings, instance, vpc_id)
    isolation_args: dict[str, Any] = {
        "instance": instance,
        "vpc_id": vpc_id,
        "event_id": event_id,
        "instance_arn": instance_arn,
        "started": started,
        "current": current,
    }
    if settings.dry_run:
        return _dry_run(clients, settings, prior=prior, now=now, record_key=key, **isolation_args)
    lock = begin_isolation(
        clients.dynamodb,
        settings.record_table_name,
        instance_id=key,
        event_id=event_id,
        prior=prior,
        now=started,
        lock_seconds=settings.record_lock_seconds,
    )
    if lock.stale:
        log(logging.WARNING, "a late copy of a released isolation's event; nothing to do", reason=lock.stale)
        return {**Outcome(instance_id, state).result("skipped"), "reason": lock.stale}
    if not lock.acquired:
        return {
            **Outcome(instance_id, state).result("in_progress"),
            "reason": f"event {lock.held_by} is isolating this instance",
        }
    isolation = _Isolation(clients, settings, prior=lock.prior, record_key=key, **isolation_args)
    isolation.credentials_cutoff = credentials_cutoff
    finish = partial(
        _finish_record,
        clients,
        settings,
        instance_id=key,
        event_id=event_id,
        now=now,
        trigger=trigger,
        action=attempt_action,
    )
    try:
        result = isolation.run(sleep, monotonic)
    except InstanceIsolationFailed as failed:
        finish(result=failed.result)
        raise
    finish(result=result)
    return result


def _read_before_the_record(
    clients: AwsClients, settings: Settings, instance: InstanceTypeDef, vpc_id: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Before the first change: the prior state, for the record that is also the lock; and (read just now)
    what the steps act on. The reads are independent: they are made at the same time (one round trip,
    two with target groups in the VPC)."""
    ec2, instance_id = clients.ec2, instance["InstanceId"]
    group_names = [settings.isolation_security_group_name]
    if settings.untrack_connections:
        group_names.append(settings.transition_security_group_name)
    reads: dict[str, Callable[[], Any]] = {
        "interfaces": partial(read_interfaces, ec2, instance_id),
        "instance_profile_arn": partial(instance_profile_arn, ec2, instance_id),
        "groups": partial(find_groups, ec2, vpc_id, group_names),
    }
    if settings.protect_from_termination:
        for _, _, recorded_as in PROTECTION_ATTRIBUTES:
            reads[recorded_as] = partial(instance_attribute, ec2, instance_id, recorded_as)
    if settings.auto_scaling_action != "none":
        reads["auto_scaling"] = lambda: auto_scaling_membership(clients.autoscaling, instance_id)
    if settings.deregister_targets:
        reads["target_groups"] = lambda: find_target_registrations(clients.elbv2, instance)
    if settings.disassociate_elastic_ips:
        reads["elastic_ips"] = lambda: elastic_ip_associations(ec2, instance_id)
    # clients are built once, before the threads share them (building is not thread-safe, calling is)
    clients.prepare(*_services(settings))
    current = in_parallel(reads)
    prior = prior_state(instance, current["interfaces"], current.pop("instance_profile_arn"))
    protection = {key: current.pop(key) for _, _, key in PROTECTION_ATTRIBUTES if key in current}
    prior.update(protection)
    prior.update({name: value for name, value in current.items() if name not in ("interfaces", "groups")})
    if settings.protect_from_termination:
        current["protection"] = protection
    return prior, current


def _services(settings: Settings) -> list[str]:
    """The clients the steps that run at the same time use."""
    services = ["ec2"]
    if settings.auto_scaling_action != "none":
        services.append("autoscaling")
    if settings.deregister_targets:
        services.append("elbv2")
    if settings.revoke_credentials:
        services.append("iam")
    return services


def _dry_run(
    clients: AwsClients,
    settings: Settings,
    *,
    prior: dict[str, Any],
    now: Callable[[], datetime],
    record_key: str,
    **isolation_args: Any,
) -> dict[str, Any]:
    """Every step with ``dry_run``: no lock, no change, no wait; the plan is logged and recorded."""
    isolation = _Isolation(
        clients, settings, prior=prior, dry_run=True, record_key=record_key, **isolation_args
    )
    try:
        result = isolation.run(lambda _seconds: None, time.monotonic)
    except InstanceIsolationFailed as failed:
        result = failed.result
    instance_id = isolation.instance_id
    planned = {**result, "status": "dry_run" if result["status"] != "failed" else "failed"}
    planned["plan"], planned["changes"] = planned["changes"], []
    log(
        logging.INFO,
        "dry run: what the isolation would do",
        plan=planned["plan"],
        failures=planned["failures"],
    )
    record_dry_run(
        clients.dynamodb,
        settings.record_table_name,
        instance_id=record_key,
        event_id=isolation.event_id,
        action="isolate",
        prior=prior,
        result=planned,
        now=now(),
    )
    if planned["status"] == "failed":
        raise InstanceIsolationFailed(instance_id, planned["failures"], planned)
    return planned


def _finish_record(
    clients: AwsClients,
    settings: Settings,
    *,
    instance_id: str,
    event_id: str,
    result: dict[str, Any],
    now: Callable[[], datetime],
    trigger: Mapping[str, Any] | None,
    action: str = "isolate",
) -> None:
    try:
        finish_isolation(
            clients.dynamodb,
            settings.record_table_name,
            instance_id=instance_id,
            event_id=event_id,
            result=result,
            now=now(),
            trigger=trigger,
            action=action,
        )
    except Exception:
        # Nothing is lost: the attempt's outcome is logged in full before the invocation fails.
        log(logging.ERROR, "the outcome could not be appended to the record", result=result, exc_info=True)
        raise


class _Isolation:
    """The steps of one instance's isolation, sharing what they learn."""

    def __init__(
        self,
        clients: AwsClients,
        settings: Settings,
        *,
        instance: InstanceTypeDef,
        vpc_id: str,
        event_id: str,
        instance_arn: str,
        started: datetime,
        prior: dict[str, Any],
        current: dict[str, Any],
        record_key: str,
        dry_run: bool = False,
    ) -> None:
        self.clients, self.ec2, self.settings = clients, clients.ec2, settings
        #: the instance's key in the record table
        self.record_key = record_key
        self.instance, self.instance_id, self.vpc_id = instance, instance["InstanceId"], vpc_id
        self.event_id, self.instance_arn = event_id, instance_arn
        self.dry_run = dry_run
        #: one time for the whole isolation: revocation cut-off, snapshot tags and the IsolatedAt tag agree,
        #: so that a repeated event computes the same revocation policy and changes nothing
        self.isolated_at = started
        #: the recorded prior state (of the first isolation, when this is a retry or a repeat)
        self.prior = prior
        #: what was read when this invocation began, before the record: the ENIs, the module's groups
        #: of the VPC, protection, Auto Scaling membership, target registrations and Elastic IPs
        self.current = current
        self.tags = instance_tags(instance)
        self.state: str = instance.get("State", {}).get("Name", "unknown")
        self._outcome = Outcome(self.instance_id, self.state)
        self._outcome.data["vpc_id"] = vpc_id
        self._outcome.data["action"] = "isolate"
        self.isolation_group: IsolationGroup | None = None
        #: None when there is no isolation group, or it is not sealed: nothing is cut onto it
        self.isolation_group_id: str | None = None
        self.transition_group_id: str | None = None
        #: when the ENIs went onto the transition group (the wait before the cut runs from then)
        self.untracking_since: float | None = None
        self.cut_done = False
        #: groups each ENI had before it was moved to the transition group
        self.original_groups: dict[str, list[str]] = {}
        #: the wait between bounded retries (eventual consistency) and before the cut; tests pass their own
        self.sleep: Callable[[float], None] = time.sleep
        #: the revocation's cut-off when it must be later than the isolation (a drift repair)
        self.credentials_cutoff: datetime | None = None

    @property
    def record(self) -> Outcome:
        """The account the running step writes to: the isolation's own, or, in a step that runs beside
        others (`_together`), that branch's, merged into its parent's when they are all done."""
        branch = _BRANCH.get()
        return self._outcome if branch is None else branch

    def _together(self, branches: Sequence[Callable[[], None]]) -> None:
        """Run ``branches`` at the same time, each writing its own account; then merge the accounts in
        the order of ``branches``, so that the steps and changes read in the documented order, whatever
        finished first. Every branch is waited for; an error raised by one (the steps record theirs
        instead) is raised after the merge."""
        parent = self.record
        parts = [Outcome(self.instance_id, self.state) for _ in branches]

        def within(part: Outcome, branch: Callable[[], None]) -> Callable[[], None]:
            def run() -> None:
                token = _BRANCH.set(part)
                try:
                    branch()
                finally:
                    _BRANCH.reset(token)

            return run

        try:
            in_parallel(
                {
                    i: within(part, branch)
                    for i, (part, branch) in enumerate(zip(parts, branches, strict=True))
                }
            )
        finally:
            for part in parts:
                _merge(parent, part)

    def run(self, sleep: Callable[[float], None], monotonic: Callable[[], float]) -> dict[str, Any]:
        settings = self.settings
        self.sleep = sleep
        # Right after the record: the network (up to the transition move), beside the Auto Scaling and
        # termination-protection changes.
        first: list[Callable[[], None]] = []
        if settings.auto_scaling_action != "none":
            first.append(self._auto_scaling)
        if settings.protect_from_termination:
            first.append(self._protect)
        first.append(partial(self._network, monotonic))
        self._together(first)
        # Inside the wait: the rest, at once.
        inside: list[Callable[[], None]] = [self._instance_profile]
        if settings.deregister_targets:
            inside.append(self._deregister_targets)
        if settings.disassociate_elastic_ips:
            inside.append(self._disassociate_elastic_ips)
        if settings.snapshot_volumes:
            inside.append(self._snapshots)
        self._together(inside)
        if not self.cut_done:
            if self.untracking_since is not None:
                remaining = settings.untrack_wait_seconds - (monotonic() - self.untracking_since)
                if remaining > 0:
                    log(
                        logging.INFO,
                        "waiting for tracked connections to turn untracked",
                        seconds=round(remaining, 1),
                    )
                    sleep(remaining)
            self._cut()
        return self._finish()

    def _auto_scaling(self) -> None:
        scaling = self.record.run(
            "auto_scaling",
            lambda: remove_from_auto_scaling(
                self.clients.autoscaling,
                self.instance_id,
                self.current["auto_scaling"],
                self.settings.auto_scaling_action,
                decrement_desired_capacity=self.settings.auto_scaling_decrement_desired_capacity,
                dry_run=self.dry_run,
            ),
        )
        if scaling:
            self.record.data["auto_scaling"] = scaling
            if scaling["changed"]:
                self.record.changes.append(f"{scaling['action']} from Auto Scaling group {scaling['group']}")

    def _protect(self) -> None:
        record = self.record
        record.changes += (
            record.run(
                "termination_protection",
                lambda: protect_instance(
                    self.ec2, self.instance, known=self.current.get("protection"), dry_run=self.dry_run
                ),
            )
            or []
        )

    def _network(self, monotonic: Callable[[], float]) -> None:
        """The groups (together), then the transition move beside the seal of an existing isolation group;
        without a transition, or when the isolation group cannot be used, the cut at once."""
        settings = self.settings
        window = settings.untrack_connections and self.state not in NO_CONNECTION_STATES
        if settings.untrack_connections and not window:
            # A stopped instance has no connection to untrack: no open window, no wait.
            self.record.steps["untrack_connections"] = "not applicable"
        groups: list[Callable[[], None]] = [partial(self._isolation_group, seal=not window)]
        if window:
            groups.append(self._transition_group)
        self._together(groups)
        group = self.isolation_group
        if group is not None and self.transition_group_id is not None:
            self._together(
                [self._seal, partial(self._untrack, monotonic)]
                if not group.sealed
                else [partial(self._untrack, monotonic)]
            )
        elif group is not None and not group.sealed:
            self._seal()
        if self.isolation_group_id is None:
            self.record.data.pop("isolation_group_id", None)
        if self.untracking_since is None or self.isolation_group_id is None:
            # Nothing to wait for (no transition), or nothing to cut onto: the cut (or the ENIs' way back
            # from the transition group) comes now, not after the wait.
            self._cut()
            self.cut_done = True

    def _isolation_group(self, *, seal: bool) -> None:
        lookup = self.current.get("groups")
        group = self.record.run(
            "isolation_group",
            lambda: ensure_isolation_group(
                self.ec2,
                self.vpc_id,
                self.settings,
                lookup=lookup,
                seal=seal,
                dry_run=self.dry_run,
                sleep=self.sleep,
            ),
        )
        if group is None:
            return
        self.isolation_group = group
        self.record.data["isolation_group_id"] = group.group_id
        if group.sealed:
            self.isolation_group_id = group.group_id
        if group.created:
            self.record.changes.append(f"created isolation group {group.group_id}")
        self._revoked(group.revoked_rule_ids)

    def _seal(self) -> None:
        """Seal an existing isolation group (beside the transition move: the move needs only its id)."""
        group = self.isolation_group
        if group is None:
            return
        revoked = self.record.run(
            "isolation_group",
            lambda: seal_isolation_group(self.ec2, group.group_id, dry_run=self.dry_run, sleep=self.sleep),
        )
        if revoked is None:
            self.isolation_group_id = None
            return
        group.sealed, group.revoked_rule_ids = True, revoked
        self.isolation_group_id = group.group_id
        self._revoked(revoked)

    def _revoked(self, rule_ids: list[str]) -> None:
        if rule_ids and self.isolation_group is not None:
            self.record.changes.append(
                f"revoked rules {', '.join(rule_ids)} of {self.isolation_group.group_id}"
            )

    def _transition_group(self) -> None:
        lookup = self.current.get("groups")
        transition = self.record.run(
            "transition_group",
            lambda: ensure_transition_group(
                self.ec2, self.vpc_id, self.settings, lookup=lookup, dry_run=self.dry_run, sleep=self.sleep
            ),
        )
        if transition is not None:
            self.transition_group_id = transition.group_id

    def _untrack(self, monotonic: Callable[[], float]) -> None:
        """Move the not-yet-isolated ENIs (as read before the record) to the transition group; the wait
        starts when they are there."""
        record, transition_id = self.record, self.transition_group_id
        group = self.isolation_group
        if transition_id is None or group is None:
            return
        moved = record.run(
            "untrack_connections",
            lambda: move_interfaces(
                self.ec2,
                self.instance_id,
                transition_id,
                skip_groups=frozenset({group.group_id}),
                interfaces=self.current.get("interfaces"),
                dry_run=self.dry_run,
                sleep=self.sleep,
            ),
        )
        if moved is None:
            return
        started = monotonic()
        recorded = self.prior.get("security_groups", {})
        for outcome in moved:
            eni = outcome.network_interface_id
            if outcome.changed or outcome.previous_groups == [transition_id]:
                # on the transition group now: its groups before the isolation are what a failed cut restores
                self.original_groups[eni] = recorded.get(eni) or outcome.previous_groups
            if outcome.previous_groups == [transition_id] and eni not in recorded:
                self.original_groups.pop(eni)
        errors = [f"{o.network_interface_id}: {o.error}" for o in moved if o.error]
        if errors:
            record.fail("untrack_connections", "; ".join(errors))
        pending = [
            o.network_interface_id for o in moved if not o.error and o.previous_groups != [group.group_id]
        ]
        if not pending:
            return
        record.changes.append(f"moved {', '.join(pending)} to transition group {transition_id}")
        timeouts = record.run(
            "connection_tracking_timeouts",
            lambda: lower_connection_tracking_timeouts(self.ec2, pending, dry_run=self.dry_run),
        )
        if timeouts:
            record.data["connection_tracking_timeouts"] = timeouts
        self.untracking_since = started

    def _instance_profile(self) -> None:
        """The profile swap, then (it needs the original profile the swap found) the revocation."""
        profile = self._swap_profile()
        if self.settings.revoke_credentials:
            self._revoke(profile)

    def _swap_profile(self) -> ProfileOutcome | None:
        target = self.settings.isolation_instance_profile_arn
        profile = self.record.run(
            "instance_profile",
            lambda: swap_instance_profile(
                self.ec2,
                self.instance_id,
                target,
                original_tag_key=self.settings.tag("OriginalInstanceProfile"),
                tags=self.tags,
                dry_run=self.dry_run,
                sleep=self.sleep,
            ),
        )
        if profile is not None:
            self.record.data["instance_profile"] = profile.as_dict()
            if profile.changed:
                replaced = f"replaced {profile.previous_arn}" if profile.previous_arn else "associated"
                self.record.changes.append(f"instance profile {replaced} -> {target}")
        return profile

    def _revoke(self, profile: ProfileOutcome | None) -> None:
        record = self.record
        if profile is None:
            record.fail("credential_revocation", "not attempted: the original instance profile is unknown")
            return
        original = profile.previous_arn
        if original is None:
            record.data["credential_revocation"] = {"changed": False, "reason": "the instance had no profile"}
            record.steps["credential_revocation"] = "not applicable"
            return
        isolated_at = self.tags.get(self.settings.tag("IsolatedAt"))
        issued_before = datetime.fromisoformat(isolated_at) if isolated_at else self.isolated_at
        if self.credentials_cutoff is not None and self.credentials_cutoff > issued_before:
            issued_before = self.credentials_cutoff
        policy_name = f"{self.settings.revocation_policy_prefix}{self.instance_id}"
        outcome = record.run(
            "credential_revocation",
            lambda: revoke_instance_credentials(
                self.clients.iam,
                original,
                self.instance_arn,
                policy_name,
                issued_before,
                dry_run=self.dry_run,
            ),
        )
        if outcome is not None:
            record.data["credential_revocation"] = outcome.as_dict()
            if outcome.changed:
                record.changes.append(
                    f"revoked credentials issued before {outcome.issued_before} on role {outcome.role_name}"
                )

    def _deregister_targets(self) -> None:
        removed = (
            self.record.run(
                "target_groups",
                lambda: deregister_targets(
                    self.clients.elbv2, self.current["target_groups"], dry_run=self.dry_run
                ),
            )
            or []
        )
        self.record.data["target_groups"] = removed
        self.record.changes += [f"deregistered from {r['target_group_arn']}" for r in removed]

    def _disassociate_elastic_ips(self) -> None:
        addresses = (
            self.record.run(
                "elastic_ips",
                lambda: disassociate_elastic_ips(self.ec2, self.current["elastic_ips"], dry_run=self.dry_run),
            )
            or []
        )
        self.record.data["elastic_ips"] = addresses
        self.record.changes += [f"disassociated Elastic IP {a['public_ip']}" for a in addresses]

    def _snapshots(self) -> None:
        events = frozenset({self.event_id, self.tags.get(self.settings.tag("EventId"), self.event_id)})
        evidence = self.record.run(
            "snapshots",
            lambda: self._take_evidence(
                snapshot_volumes(
                    self.ec2,
                    self.instance,
                    self.settings,
                    event_id=self.event_id,
                    isolation_event_ids=events,
                    now=self.isolated_at,
                    dry_run=self.dry_run,
                )
            ),
        )
        if evidence is None:
            return
        if evidence.would_snapshot:
            self.record.changes.append(f"snapshot volumes {', '.join(evidence.would_snapshot)}")
            if self.settings.evidence_lock_mode:
                self.record.changes.append(
                    f"lock the snapshots ({self.settings.evidence_lock_mode}, "
                    f"{self.settings.evidence_lock_duration_days} days)"
                )
        if evidence.started:
            ids = [str(s["SnapshotId"]) for s in evidence.started]
            self.record.data["snapshot_ids"] = ids
            self.record.changes.append(f"started snapshots {', '.join(ids)}")

    def _take_evidence(self, evidence: Evidence) -> Evidence:
        """The snapshots locked (those of an earlier attempt too, when their lock is missing), and the
        manifest written to the record, also when a lock fails (then the step fails: retried)."""
        if self.dry_run or not evidence.snapshots:
            return evidence
        settings = self.settings
        account, region = self.instance_arn.split(":")[4], self.instance_arn.split(":")[3]
        record = read_record(self.clients.dynamodb, settings.record_table_name, self.record_key) or {}
        manifest: dict[str, dict[str, Any]] = record.get("evidence") or {}
        fresh = new_entries(
            self.instance,
            evidence.snapshots,
            account=account,
            region=region,
            event_id=self.event_id,
            custody=custody_for(settings, account),
            lock=lock_wanted(settings),
        )
        entries = {sid: dict(manifest.get(sid) or entry) for sid, entry in fresh.items()}
        before = json.dumps({sid: manifest.get(sid) for sid in entries}, sort_keys=True, default=str)
        try:
            self.record.changes += lock_new(
                self.clients,
                settings,
                entries,
                self.isolated_at,
                unlocked={str(s["SnapshotId"]) for s in evidence.started},
            )
        finally:
            if json.dumps(entries, sort_keys=True, default=str) != before:
                manifest = update_evidence(
                    self.clients.dynamodb,
                    settings.record_table_name,
                    self.record_key,
                    merge_entries(entries),
                    pending=is_pending,
                )
            self.record.data["evidence"] = plain([manifest[sid] for sid in sorted(manifest)])
        return evidence

    def _cut(self) -> None:
        """Every ENI onto the isolation group; an ENI that could not be cut is put back on its groups."""
        record, group_id = self.record, self.isolation_group_id
        if group_id is None:
            record.fail("network_interfaces", "not attempted: no isolation group")
            interfaces: list[InterfaceOutcome] = []
        else:
            interfaces = (
                record.run(
                    "network_interfaces",
                    lambda: move_interfaces(
                        self.ec2, self.instance_id, group_id, dry_run=self.dry_run, sleep=self.sleep
                    ),
                )
                or []
            )
        for outcome in interfaces:
            outcome.previous_groups = self.original_groups.get(
                outcome.network_interface_id, outcome.previous_groups
            )
        if interfaces:
            record.data["network_interfaces"] = [i.as_dict() for i in interfaces]
            record.changes += [
                f"moved {i.network_interface_id} to {group_id}" for i in interfaces if i.changed
            ]
        errors = [f"{i.network_interface_id}: {i.error}" for i in interfaces if i.error]
        if errors:
            record.fail("network_interfaces", "; ".join(errors))
        cut = {i.network_interface_id for i in interfaces if not i.error}
        if self.dry_run:
            return
        # An ENI moved to the transition group that the cut no longer finds attached was detached from the
        # instance in the meantime: it is not the instance's any more (every ENI the instance has is cut),
        # and it goes back on its own groups, like an ENI that could not be cut.
        attached = {i.network_interface_id for i in interfaces}
        detached = [eni for eni in self.original_groups if interfaces and eni not in attached]
        if detached:
            record.data["detached_interfaces"] = detached
        for eni_id, groups in self.original_groups.items():
            if eni_id not in cut:
                self._restore(eni_id, groups, detached=eni_id in detached)

    def _explain_a_terminated_instance(self) -> None:
        """When steps failed because the instance was terminated meanwhile, say so first: their errors
        (IncorrectInstanceState, interfaces gone, ...) are the consequence, not the cause."""
        if self.dry_run:
            return
        try:
            state = describe_instance(self.ec2, self.instance_id).get("State", {}).get("Name", "unknown")
        except InstanceNotFound:
            state = "terminated"
        except Exception:
            log(logging.WARNING, "could not re-read the instance after failed steps", exc_info=True)
            return
        if state not in GONE_STATES:
            return
        reason = (
            f"the instance was terminated during the isolation (state {state}): there is nothing left to "
            "contain; the steps that failed could not act on it"
        )
        log(logging.ERROR, "instance terminated during the isolation", state=state)
        record = self.record
        record.data["state"], record.data["reason"] = state, reason
        record.failures = {"instance": reason, **record.failures}

    def _restore(self, eni_id: str, groups: list[str], *, detached: bool = False) -> None:
        """Never leave an ENI on the all-traffic transition group."""
        why = "detached from the instance during the isolation" if detached else "could not be cut"
        log(
            logging.WARNING if detached else logging.ERROR,
            f"putting an interface that {'was ' if detached else ''}{why} back on its groups",
            eni=eni_id,
            groups=groups,
        )
        done = self.record.run(
            f"restore_{eni_id}",
            lambda: restore_interface(self.ec2, eni_id, groups),
        )
        if done is not None:
            note = f"{why}; not isolated" if detached else "not isolated"
            self.record.changes.append(f"put {eni_id} back on {', '.join(groups)} ({note})")

    def _finish(self) -> dict[str, Any]:
        record = self.record
        if record.failures or self.isolation_group_id is None:
            self._explain_a_terminated_instance()
            # The status tags would tell the analyst the instance is isolated: they are not written.
            raise InstanceIsolationFailed(self.instance_id, record.failures, record.result("failed"))
        if mark_isolated(
            self.ec2,
            self.instance_id,
            self.tags,
            self.settings,
            event_id=self.event_id,
            group_id=self.isolation_group_id,
            now=self.isolated_at,
            dry_run=self.dry_run,
        ):
            record.changes.append("tagged as isolated")
        if not record.changes:
            log(logging.INFO, "instance was already isolated; nothing changed")
            return record.result("already_isolated")
        return record.result("isolated")


def _merge(into: Outcome, part: Outcome) -> None:
    """Add what one branch did (`_Isolation._together`) to its parent's account: a step's failure is never
    turned back into "ok" by another branch's success."""
    into.data.update({k: v for k, v in part.data.items() if k not in ("instance_id", "state")})
    for step, state in part.steps.items():
        if into.steps.get(step) != "failed":
            into.steps[step] = state
    into.failures.update(part.failures)
    into.changes += part.changes
