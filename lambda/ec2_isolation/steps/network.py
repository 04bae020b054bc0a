"""Cutting the instance off the network: the isolation security group and the move of every ENI onto it."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from ec2_isolation.concurrent import in_parallel
from ec2_isolation.config import Settings
from ec2_isolation.errors import ForeignSecurityGroup, IsolationError, error_code
from ec2_isolation.log import log
from ec2_isolation.retry import GROUP_ATTEMPTS, GROUP_BASE_DELAY, Sleep, eventually, group_not_yet_visible
from ec2_isolation.steps import requires
from ec2_isolation.steps.dryrun import check, maybe

if TYPE_CHECKING:
    from collections.abc import Callable

    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import (
        ConnectionTrackingSpecificationRequestTypeDef,
        NetworkInterfaceTypeDef,
        SecurityGroupTypeDef,
        TagSpecificationTypeDef,
        TagTypeDef,
    )

GROUP_DESCRIPTION = "EC2 isolation: no inbound and no outbound rules. Managed by terraform-aws-ec2-isolation."
TRANSITION_DESCRIPTION = (
    "EC2 isolation transition: all traffic, so that tracked flows become untracked before the cut. "
    "Managed by terraform-aws-ec2-isolation."
)
#: revoking a rule that a concurrent invocation revoked first
_RULE_GONE = frozenset({"InvalidSecurityGroupRuleId.NotFound", "InvalidPermission.NotFound"})
_SEAL_ATTEMPTS = 3
#: the id a dry run gives a group it would create
PLANNED_GROUP = "(new group)"


#: the module's groups of one VPC by name, as `find_groups` read them (None: no such group)
GroupLookup = Mapping[str, "SecurityGroupTypeDef | None"]


@dataclass
class IsolationGroup:
    group_id: str
    created: bool = False
    revoked_rule_ids: list[str] = field(default_factory=list)
    #: the group as it was read (None when this invocation created it)
    description: SecurityGroupTypeDef | None = None
    #: whether its rules were read back and found (or made) empty by this call
    sealed: bool = False


@dataclass
class InterfaceOutcome:
    network_interface_id: str
    device_index: int | None
    previous_groups: list[str]
    changed: bool = False
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "network_interface_id": self.network_interface_id,
            "device_index": self.device_index,
            "previous_groups": self.previous_groups,
            "changed": self.changed,
            "error": self.error,
        }


def _find_groups(ec2: EC2Client, vpc_id: str, names: list[str]) -> dict[str, SecurityGroupTypeDef | None]:
    groups = ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "group-name", "Values": names}]
    )["SecurityGroups"]
    # The filters already say so; checking again keeps a same-named group of another VPC out for good.
    found: dict[str, SecurityGroupTypeDef | None] = dict.fromkeys(names)
    for group in groups:
        name = group.get("GroupName", "")
        if group.get("VpcId") == vpc_id and name in found and found[name] is None:
            found[name] = group
    return found


def _find_group(ec2: EC2Client, vpc_id: str, name: str) -> SecurityGroupTypeDef | None:
    return _find_groups(ec2, vpc_id, [name])[name]


@requires("ec2:DescribeSecurityGroups")
def find_groups(ec2: EC2Client, vpc_id: str, names: list[str]) -> GroupLookup:
    """The module's groups ``names`` of ``vpc_id`` (the isolation and the transition group), in one read:
    read with the other reads before the record, so that the groups need no read of their own after it."""
    return _find_groups(ec2, vpc_id, names)


def _group_tags(settings: Settings, name: str) -> TagSpecificationTypeDef:
    tags = {
        **settings.resource_tags,
        "Name": name,
        settings.managed_tag_key: settings.managed_tag_value,
    }
    tag_list: list[TagTypeDef] = [{"Key": k, "Value": v} for k, v in tags.items()]
    return {"ResourceType": "security-group", "Tags": tag_list}


def _ensure_group(
    ec2: EC2Client,
    vpc_id: str,
    name: str,
    description: str,
    settings: Settings,
    *,
    dry_run: bool,
    lookup: GroupLookup | None = None,
) -> IsolationGroup:
    """Find the module's group ``name`` in ``vpc_id`` or create it (surviving a concurrent creation).
    ``lookup``: the group as `find_groups` read it in this invocation (it is not read again)."""
    group = lookup[name] if lookup is not None and name in lookup else _find_group(ec2, vpc_id, name)
    if group is None:
        request: Any = {
            "GroupName": name,
            "Description": description,
            "VpcId": vpc_id,
            "TagSpecifications": [_group_tags(settings, name)],
        }
        if dry_run:
            check(ec2.create_security_group, **request)
            return IsolationGroup(group_id=PLANNED_GROUP, created=True)
        try:
            created = ec2.create_security_group(**request)
        except ClientError as exc:
            if error_code(exc) != "InvalidGroup.Duplicate":
                raise
            log(logging.INFO, "security group created concurrently; re-reading it", vpc_id=vpc_id, name=name)
            group = _find_group(ec2, vpc_id, name)
            if group is None:
                raise IsolationError(
                    f"{name} in {vpc_id} is reported as duplicate but cannot be read"
                ) from exc
        else:
            log(logging.INFO, "created security group", vpc_id=vpc_id, name=name, group_id=created["GroupId"])
            return IsolationGroup(group_id=created["GroupId"], created=True)
    tags = {t.get("Key"): t.get("Value") for t in group.get("Tags", [])}
    if tags.get(settings.managed_tag_key) != settings.managed_tag_value:
        raise ForeignSecurityGroup(
            f"security group {group['GroupId']} named {name!r} in {vpc_id} is not managed by this module "
            f"(tag {settings.managed_tag_key}={settings.managed_tag_value} missing); "
            "rename it or set isolation_security_group_name"
        )
    return IsolationGroup(group_id=group["GroupId"], description=group)


@requires(
    "ec2:DescribeSecurityGroups",
    "ec2:CreateSecurityGroup",
    "ec2:CreateTags",
    "ec2:DescribeSecurityGroupRules",
    "ec2:RevokeSecurityGroupEgress",
    "ec2:RevokeSecurityGroupIngress",
)
def ensure_isolation_group(
    ec2: EC2Client,
    vpc_id: str,
    settings: Settings,
    *,
    lookup: GroupLookup | None = None,
    seal: bool = True,
    dry_run: bool = False,
    sleep: Sleep = time.sleep,
) -> IsolationGroup:
    """Find or create the isolation group of ``vpc_id`` and make sure it has no rule at all.

    ``lookup``: the group as `find_groups` read it (not read again). A group created here is always sealed
    here (its default rule awaited, revoked, read back). An existing one is sealed here too unless
    ``seal`` is false: then the caller seals it (`seal_isolation_group`) beside the transition move, and
    cuts nothing onto it before that succeeded.
    """
    result = _ensure_group(
        ec2,
        vpc_id,
        settings.isolation_security_group_name,
        GROUP_DESCRIPTION,
        settings,
        dry_run=dry_run,
        lookup=lookup,
    )
    if result.group_id == PLANNED_GROUP:
        result.revoked_rule_ids, result.sealed = ["(its default egress rule)"], True
    elif result.created:  # (a dry run creates nothing: its new group is the planned one)
        seen = _await_default_rule(ec2, result.group_id, sleep)
        result.revoked_rule_ids = seal_group(ec2, result.group_id, sleep=sleep, seen=seen)
        result.sealed = True
    elif seal:
        result.revoked_rule_ids = seal_group(ec2, result.group_id, dry_run=dry_run, sleep=sleep)
        result.sealed = True
    return result


@requires(
    "ec2:DescribeSecurityGroupRules",
    "ec2:RevokeSecurityGroupEgress",
    "ec2:RevokeSecurityGroupIngress",
)
def seal_isolation_group(
    ec2: EC2Client, group_id: str, *, dry_run: bool = False, sleep: Sleep = time.sleep
) -> list[str]:
    """Seal an existing isolation group (`seal_group`): the rules it reads are revoked and read back."""
    return seal_group(ec2, group_id, dry_run=dry_run, sleep=sleep)


def _await_default_rule(ec2: EC2Client, group_id: str, sleep: Sleep) -> tuple[list[str], list[str]]:
    """EC2 gives every new VPC security group an allow-all egress rule. Right after the creation a read may
    not show it yet, and sealing would then find nothing to revoke: the rule must be seen first (bounded;
    after the last attempt the step fails, and the retry, which finds the group, seals what it reads).
    Returns the rules read (ingress, egress ids), for the seal to start from."""
    delay = GROUP_BASE_DELAY
    for attempt in range(1, GROUP_ATTEMPTS + 1):
        rules = _rules(ec2, group_id)
        if rules[1]:
            return rules
        if attempt == GROUP_ATTEMPTS:
            break
        log(
            logging.WARNING,
            "the new isolation group's default egress rule is not visible yet; reading it again",
            group_id=group_id,
            attempt=attempt,
            delay=delay,
        )
        sleep(delay)
        delay *= 2
    raise IsolationError(
        f"the default egress rule of the new isolation group {group_id} is not visible after "
        f"{GROUP_ATTEMPTS} reads: it cannot be confirmed revoked"
    )


#: every protocol, every address, both directions: flows allowed by such rules are not tracked
_OPEN_RANGES = (
    ("CidrIpv4", "IpRanges", "CidrIp", "0.0.0.0/0"),
    ("CidrIpv6", "Ipv6Ranges", "CidrIpv6", "::/0"),
)


@requires(
    "ec2:DescribeSecurityGroups",
    "ec2:CreateSecurityGroup",
    "ec2:CreateTags",
    "ec2:DescribeSecurityGroupRules",
    "ec2:AuthorizeSecurityGroupIngress",
    "ec2:AuthorizeSecurityGroupEgress",
)
def ensure_transition_group(
    ec2: EC2Client,
    vpc_id: str,
    settings: Settings,
    *,
    lookup: GroupLookup | None = None,
    dry_run: bool = False,
    sleep: Sleep = time.sleep,
) -> IsolationGroup:
    """Find or create the transition group of ``vpc_id``: all traffic in and out, IPv4 and IPv6.

    Moving an ENI onto it turns its tracked TCP/UDP flows into untracked ones, which the move to the
    isolation group then cuts at once (a tracked flow would survive that move). ``lookup``: the group as
    `find_groups` read it; an existing group's rules are then taken from that read (no read of its own),
    a new group's are read (its default egress rule).
    """
    result = _ensure_group(
        ec2,
        vpc_id,
        settings.transition_security_group_name,
        TRANSITION_DESCRIPTION,
        settings,
        dry_run=dry_run,
        lookup=lookup,
    )
    if result.group_id == PLANNED_GROUP:
        return result
    present = (
        _open_ranges(result.description)
        if result.description is not None
        else _open_rule_ranges(ec2, result.group_id)
    )
    for egress in (False, True):
        missing = [r for r in _OPEN_RANGES if (egress, r[3]) not in present]
        if not missing:
            continue
        permission: Any = {"IpProtocol": "-1"}
        for _, ranges_key, cidr_key, cidr in missing:
            permission[ranges_key] = [{cidr_key: cidr}]
        authorize = ec2.authorize_security_group_egress if egress else ec2.authorize_security_group_ingress
        # a group created just now may not be known yet to the rule calls: retried, bounded
        eventually(
            partial(maybe, dry_run, authorize, GroupId=result.group_id, IpPermissions=[permission]),
            retryable=group_not_yet_visible,
            what=f"open transition group {result.group_id}",
            sleep=sleep,
        )
        log(logging.INFO, "opened transition group", group_id=result.group_id, egress=egress)
    return result


def _open_rule_ranges(ec2: EC2Client, group_id: str) -> set[tuple[bool, str]]:
    """(egress, cidr) of the group's all-protocol rules, read with DescribeSecurityGroupRules."""
    present: set[tuple[bool, str]] = set()
    paginator = ec2.get_paginator("describe_security_group_rules")
    for page in paginator.paginate(Filters=[{"Name": "group-id", "Values": [group_id]}]):
        for rule in page["SecurityGroupRules"]:
            if rule.get("IpProtocol") == "-1":
                egress = bool(rule.get("IsEgress"))
                present |= {(egress, cidr) for cidr in (rule.get("CidrIpv4"), rule.get("CidrIpv6")) if cidr}
    return present


def _open_ranges(group: SecurityGroupTypeDef) -> set[tuple[bool, str]]:
    """(egress, cidr) of the all-protocol permissions of a group as DescribeSecurityGroups described it."""
    present: set[tuple[bool, str]] = set()
    for egress, permissions in (
        (False, group.get("IpPermissions", [])),
        (True, group.get("IpPermissionsEgress", [])),
    ):
        for permission in permissions:
            if permission.get("IpProtocol") == "-1":
                present |= {(egress, r["CidrIp"]) for r in permission.get("IpRanges", []) if "CidrIp" in r}
                present |= {
                    (egress, r["CidrIpv6"]) for r in permission.get("Ipv6Ranges", []) if "CidrIpv6" in r
                }
    return present


#: lowest values EC2 accepts: idle tracked flows then expire within a minute
CONNECTION_TRACKING: ConnectionTrackingSpecificationRequestTypeDef = {
    "TcpEstablishedTimeout": 60,
    "UdpStreamTimeout": 60,
    "UdpTimeout": 30,
}
#: EC2's answers where an interface or instance type has no configurable connection tracking
_CONNTRACK_UNSUPPORTED = frozenset(
    {"UnsupportedOperation", "InvalidParameterValue", "InvalidParameterCombination"}
)


@requires("ec2:ModifyNetworkInterfaceAttribute")
def lower_connection_tracking_timeouts(
    ec2: EC2Client, interface_ids: list[str], *, dry_run: bool = False
) -> dict[str, str]:
    """Set the lowest connection-tracking idle timeouts on each ENI. Returns a word per ENI:
    ``lowered``, or ``unsupported`` where EC2 says the interface does not support it (logged)."""
    outcomes: dict[str, str] = {}
    for eni_id in interface_ids:
        try:
            maybe(
                dry_run,
                ec2.modify_network_interface_attribute,
                NetworkInterfaceId=eni_id,
                ConnectionTrackingSpecification=CONNECTION_TRACKING,
            )
        except ClientError as exc:
            if error_code(exc) not in _CONNTRACK_UNSUPPORTED:
                raise
            log(logging.WARNING, "connection tracking timeouts not supported", eni=eni_id, error=str(exc))
            outcomes[eni_id] = "unsupported"
            continue
        outcomes[eni_id] = "lowered"
    return outcomes


def _rules(ec2: EC2Client, group_id: str) -> tuple[list[str], list[str]]:
    ingress: list[str] = []
    egress: list[str] = []
    paginator = ec2.get_paginator("describe_security_group_rules")
    for page in paginator.paginate(Filters=[{"Name": "group-id", "Values": [group_id]}]):
        for rule in page["SecurityGroupRules"]:
            (egress if rule.get("IsEgress") else ingress).append(rule["SecurityGroupRuleId"])
    return ingress, egress


def seal_group(
    ec2: EC2Client,
    group_id: str,
    *,
    dry_run: bool = False,
    sleep: Sleep = time.sleep,
    seen: tuple[list[str], list[str]] | None = None,
) -> list[str]:
    """Revoke every ingress and egress rule (IPv4, IPv6, prefix lists, groups) by rule id; verify.
    ``seen``: the rules (ingress, egress ids) just read, so that the first round does not read them again."""
    revoked: list[str] = []
    for _ in range(_SEAL_ATTEMPTS):
        ingress, egress = seen if seen is not None else _rules(ec2, group_id)
        seen = None
        if not ingress and not egress:
            return revoked
        if dry_run:
            if egress:
                check(ec2.revoke_security_group_egress, GroupId=group_id, SecurityGroupRuleIds=egress)
            if ingress:
                check(ec2.revoke_security_group_ingress, GroupId=group_id, SecurityGroupRuleIds=ingress)
            return egress + ingress
        try:
            # a group created just now may not be known yet to the rule calls: retried, bounded
            if egress:
                eventually(
                    partial(ec2.revoke_security_group_egress, GroupId=group_id, SecurityGroupRuleIds=egress),
                    retryable=group_not_yet_visible,
                    what=f"seal isolation group {group_id}",
                    sleep=sleep,
                )
            if ingress:
                eventually(
                    partial(
                        ec2.revoke_security_group_ingress, GroupId=group_id, SecurityGroupRuleIds=ingress
                    ),
                    retryable=group_not_yet_visible,
                    what=f"seal isolation group {group_id}",
                    sleep=sleep,
                )
        except ClientError as exc:
            if error_code(exc) not in _RULE_GONE:
                raise
            log(logging.INFO, "a rule was revoked concurrently; re-reading the group", group_id=group_id)
            continue
        revoked += egress + ingress
        log(logging.INFO, "revoked isolation group rules", group_id=group_id, rule_ids=egress + ingress)
    raise IsolationError(f"isolation group {group_id} still has rules after {_SEAL_ATTEMPTS} attempts")


def _attached_interfaces(ec2: EC2Client, instance_id: str) -> list[NetworkInterfaceTypeDef]:
    paginator = ec2.get_paginator("describe_network_interfaces")
    pages = paginator.paginate(Filters=[{"Name": "attachment.instance-id", "Values": [instance_id]}])
    enis = [eni for page in pages for eni in page["NetworkInterfaces"]]
    return sorted(enis, key=lambda eni: eni.get("Attachment", {}).get("DeviceIndex", 0))


@requires("ec2:DescribeNetworkInterfaces")
def read_interfaces(ec2: EC2Client, instance_id: str) -> list[NetworkInterfaceTypeDef]:
    """The ENIs attached to the instance, in device order (read before the record: the prior state's
    groups, and what the transition move moves)."""
    return _attached_interfaces(ec2, instance_id)


@requires("ec2:DescribeNetworkInterfaces", "ec2:ModifyNetworkInterfaceAttribute")
def move_interfaces(
    ec2: EC2Client,
    instance_id: str,
    group_id: str,
    *,
    skip_groups: frozenset[str] = frozenset(),
    interfaces: list[NetworkInterfaceTypeDef] | None = None,
    dry_run: bool = False,
    sleep: Sleep = time.sleep,
) -> list[InterfaceOutcome]:
    """Put every ENI of the instance on exactly ``group_id``: one call per ENI, all at the same time (an
    instance's ENIs are cut within one round trip of each other, not one after the other).

    ``interfaces``: the ENIs as `read_interfaces` read them in this invocation (the transition move
    starts from them instead of reading them again; the cut always reads them: it must find every ENI
    the instance has by then). ENIs that are on exactly one of ``skip_groups`` are left where they are
    (and reported unchanged). An ENI that cannot be changed is reported in its outcome's ``error``; the
    other ENIs are still moved. The caller turns any error into a failed invocation. Outcomes are in
    device order.
    """
    if interfaces is None:
        interfaces = _attached_interfaces(ec2, instance_id)
    if not interfaces:
        raise IsolationError(f"no network interface is attached to {instance_id}")
    outcomes = [
        InterfaceOutcome(
            network_interface_id=eni["NetworkInterfaceId"],
            device_index=eni.get("Attachment", {}).get("DeviceIndex"),
            previous_groups=[g["GroupId"] for g in eni.get("Groups", [])],
        )
        for eni in interfaces
    ]
    moves: dict[str, Callable[[], None]] = {}
    for eni, outcome in zip(interfaces, outcomes, strict=True):
        if outcome.previous_groups == [group_id] or (
            len(outcome.previous_groups) == 1 and outcome.previous_groups[0] in skip_groups
        ):
            continue
        if eni.get("RequesterManaged"):
            outcome.error = (
                f"requester-managed interface (managed by {eni.get('RequesterId', 'another service')}): "
                "its security groups cannot be changed; isolate it at its owning service"
            )
            log(logging.ERROR, "cannot isolate interface", **outcome.as_dict())
            continue
        moves[outcome.network_interface_id] = partial(
            move_interface, ec2, outcome, group_id, dry_run=dry_run, sleep=sleep
        )
    in_parallel(moves)
    if dry_run:
        return outcomes
    _verify(ec2, instance_id, group_id, [o for o in outcomes if o.changed or o.previous_groups == [group_id]])
    return outcomes


@requires("ec2:ModifyNetworkInterfaceAttribute")
def move_interface(
    ec2: EC2Client, outcome: InterfaceOutcome, group_id: str, *, dry_run: bool, sleep: Sleep
) -> None:
    """Move one ENI (`move_interfaces` runs one per ENI, concurrently); a refusal is recorded in
    ``outcome``, not raised, so that the other ENIs are moved regardless."""
    # A dry run for a group still to be created asks about the interface with its own groups.
    groups = outcome.previous_groups if group_id == PLANNED_GROUP else [group_id]
    try:
        # the group may have been created just now and not be known yet to the ENI: retried, bounded
        eventually(
            partial(
                maybe,
                dry_run,
                ec2.modify_network_interface_attribute,
                NetworkInterfaceId=outcome.network_interface_id,
                Groups=groups,
            ),
            retryable=group_not_yet_visible,
            what=f"move {outcome.network_interface_id} to {group_id}",
            sleep=sleep,
        )
    except ClientError as exc:
        outcome.error = f"{error_code(exc)}: {exc}"
        log(logging.ERROR, "cannot isolate interface", **outcome.as_dict())
        return
    outcome.changed = True
    log(logging.INFO, "moved interface", group_id=group_id, dry_run=dry_run, **outcome.as_dict())


def _verify(ec2: EC2Client, instance_id: str, group_id: str, outcomes: list[InterfaceOutcome]) -> None:
    """Read the ENIs back: every one that reported success must be on exactly the isolation group."""
    now = {eni["NetworkInterfaceId"]: eni for eni in _attached_interfaces(ec2, instance_id)}
    for outcome in outcomes:
        if outcome.error:
            continue
        eni = now.get(outcome.network_interface_id)
        if eni is None:
            outcome.error = "no longer attached to the instance after the change (detached during the cut)"
            log(logging.ERROR, "interface verification failed", **outcome.as_dict())
            continue
        groups = [g["GroupId"] for g in eni.get("Groups", [])]
        if groups != [group_id]:
            outcome.error = f"after the change the interface is on {groups}, not [{group_id}]"
            log(logging.ERROR, "interface verification failed", **outcome.as_dict())


@requires("ec2:ModifyNetworkInterfaceAttribute")
def restore_interface(ec2: EC2Client, eni_id: str, groups: list[str]) -> list[str]:
    """Put an ENI back on ``groups`` (used when the cut failed after the transition move)."""
    ec2.modify_network_interface_attribute(NetworkInterfaceId=eni_id, Groups=groups)
    return groups
