"""Cutting the instance off the network: the isolation security group and the move of every ENI onto it."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from ec2_isolation.config import Settings
from ec2_isolation.errors import ForeignSecurityGroup, IsolationError
from ec2_isolation.log import log
from ec2_isolation.steps import requires

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import (
        NetworkInterfaceTypeDef,
        SecurityGroupTypeDef,
        TagSpecificationTypeDef,
        TagTypeDef,
    )

GROUP_DESCRIPTION = "EC2 isolation: no inbound and no outbound rules. Managed by terraform-aws-ec2-isolation."
#: revoking a rule that a concurrent invocation revoked first
_RULE_GONE = frozenset({"InvalidSecurityGroupRuleId.NotFound", "InvalidPermission.NotFound"})
_SEAL_ATTEMPTS = 3


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


@dataclass
class IsolationGroup:
    group_id: str
    created: bool = False
    revoked_rule_ids: list[str] = field(default_factory=list)


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


def _find_group(ec2: EC2Client, vpc_id: str, name: str) -> SecurityGroupTypeDef | None:
    groups = ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "group-name", "Values": [name]}]
    )["SecurityGroups"]
    # The filters already say so; checking again keeps a same-named group of another VPC out for good.
    mine = [g for g in groups if g.get("VpcId") == vpc_id and g.get("GroupName") == name]
    return mine[0] if mine else None


def _group_tags(settings: Settings) -> TagSpecificationTypeDef:
    tags = {
        **settings.resource_tags,
        "Name": settings.isolation_security_group_name,
        settings.managed_tag_key: settings.managed_tag_value,
    }
    tag_list: list[TagTypeDef] = [{"Key": k, "Value": v} for k, v in tags.items()]
    return {"ResourceType": "security-group", "Tags": tag_list}


@requires(
    "ec2:DescribeSecurityGroups",
    "ec2:CreateSecurityGroup",
    "ec2:CreateTags",
    "ec2:DescribeSecurityGroupRules",
    "ec2:RevokeSecurityGroupEgress",
    "ec2:RevokeSecurityGroupIngress",
)
def ensure_isolation_group(ec2: EC2Client, vpc_id: str, settings: Settings) -> IsolationGroup:
    """Find or create the isolation group of ``vpc_id`` and make sure it has no rule at all."""
    name = settings.isolation_security_group_name
    group = _find_group(ec2, vpc_id, name)
    result: IsolationGroup
    if group is None:
        try:
            created = ec2.create_security_group(
                GroupName=name,
                Description=GROUP_DESCRIPTION,
                VpcId=vpc_id,
                TagSpecifications=[_group_tags(settings)],
            )
        except ClientError as exc:
            if _error_code(exc) != "InvalidGroup.Duplicate":
                raise
            log(logging.INFO, "isolation group created concurrently; re-reading it", vpc_id=vpc_id)
            group = _find_group(ec2, vpc_id, name)
            if group is None:
                raise IsolationError(
                    f"{name} in {vpc_id} is reported as duplicate but cannot be read"
                ) from exc
        else:
            result = IsolationGroup(group_id=created["GroupId"], created=True)
            log(logging.INFO, "created isolation group", vpc_id=vpc_id, group_id=result.group_id)
    if group is not None:
        tags = {t.get("Key"): t.get("Value") for t in group.get("Tags", [])}
        if tags.get(settings.managed_tag_key) != settings.managed_tag_value:
            raise ForeignSecurityGroup(
                f"security group {group['GroupId']} named {name!r} in {vpc_id} is not managed by this module "
                f"(tag {settings.managed_tag_key}={settings.managed_tag_value} missing); "
                "rename it or set isolation_security_group_name"
            )
        result = IsolationGroup(group_id=group["GroupId"])
    result.revoked_rule_ids = seal_group(ec2, result.group_id)
    return result


def _rules(ec2: EC2Client, group_id: str) -> tuple[list[str], list[str]]:
    ingress: list[str] = []
    egress: list[str] = []
    paginator = ec2.get_paginator("describe_security_group_rules")
    for page in paginator.paginate(Filters=[{"Name": "group-id", "Values": [group_id]}]):
        for rule in page["SecurityGroupRules"]:
            (egress if rule.get("IsEgress") else ingress).append(rule["SecurityGroupRuleId"])
    return ingress, egress


def seal_group(ec2: EC2Client, group_id: str) -> list[str]:
    """Revoke every ingress and egress rule (IPv4, IPv6, prefix lists, groups) by rule id; verify."""
    revoked: list[str] = []
    for _ in range(_SEAL_ATTEMPTS):
        ingress, egress = _rules(ec2, group_id)
        if not ingress and not egress:
            return revoked
        try:
            if egress:
                ec2.revoke_security_group_egress(GroupId=group_id, SecurityGroupRuleIds=egress)
            if ingress:
                ec2.revoke_security_group_ingress(GroupId=group_id, SecurityGroupRuleIds=ingress)
        except ClientError as exc:
            if _error_code(exc) not in _RULE_GONE:
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


@requires("ec2:DescribeNetworkInterfaces", "ec2:ModifyNetworkInterfaceAttribute")
def move_interfaces(ec2: EC2Client, instance_id: str, group_id: str) -> list[InterfaceOutcome]:
    """Put every ENI of the instance on exactly ``group_id``, one call per ENI (primary first).

    An ENI that cannot be changed is reported in its outcome's ``error``; the other ENIs are still
    moved. The caller turns any error into a failed invocation.
    """
    interfaces = _attached_interfaces(ec2, instance_id)
    if not interfaces:
        raise IsolationError(f"no network interface is attached to {instance_id}")
    outcomes: list[InterfaceOutcome] = []
    for eni in interfaces:
        outcome = InterfaceOutcome(
            network_interface_id=eni["NetworkInterfaceId"],
            device_index=eni.get("Attachment", {}).get("DeviceIndex"),
            previous_groups=[g["GroupId"] for g in eni.get("Groups", [])],
        )
        outcomes.append(outcome)
        if outcome.previous_groups == [group_id]:
            continue
        if eni.get("RequesterManaged"):
            outcome.error = (
                f"requester-managed interface (managed by {eni.get('RequesterId', 'another service')}): "
                "its security groups cannot be changed; isolate it at its owning service"
            )
            log(logging.ERROR, "cannot isolate interface", **outcome.as_dict())
            continue
        try:
            ec2.modify_network_interface_attribute(
                NetworkInterfaceId=outcome.network_interface_id, Groups=[group_id]
            )
        except ClientError as exc:
            outcome.error = f"{_error_code(exc)}: {exc}"
            log(logging.ERROR, "cannot isolate interface", **outcome.as_dict())
            continue
        outcome.changed = True
        log(logging.INFO, "moved interface to the isolation group", **outcome.as_dict())
    _verify(ec2, instance_id, group_id, outcomes)
    return outcomes


def _verify(ec2: EC2Client, instance_id: str, group_id: str, outcomes: list[InterfaceOutcome]) -> None:
    """Read the ENIs back: every one that reported success must be on exactly the isolation group."""
    now = {eni["NetworkInterfaceId"]: eni for eni in _attached_interfaces(ec2, instance_id)}
    for outcome in outcomes:
        if outcome.error:
            continue
        eni = now.get(outcome.network_interface_id)
        groups = [g["GroupId"] for g in eni.get("Groups", [])] if eni else None
        if groups != [group_id]:
            outcome.error = f"after the change the interface is on {groups}, not [{group_id}]"
            log(logging.ERROR, "interface verification failed", **outcome.as_dict())
