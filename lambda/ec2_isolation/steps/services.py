"""Taking the instance out of service: out of its Auto Scaling group (so that the group does not
terminate it when it turns unhealthy), out of every ELBv2 target group (so that no traffic is routed
to it), and optionally off its Elastic IPs."""

from __future__ import annotations

import logging
from functools import partial
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from ec2_isolation.concurrent import in_parallel
from ec2_isolation.errors import error_code
from ec2_isolation.log import log
from ec2_isolation.steps import requires
from ec2_isolation.steps.dryrun import maybe

if TYPE_CHECKING:
    from mypy_boto3_autoscaling import AutoScalingClient
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import InstanceTypeDef
    from mypy_boto3_elbv2 import ElasticLoadBalancingv2Client


@requires("autoscaling:DetachInstances", "autoscaling:EnterStandby")
def remove_from_auto_scaling(
    autoscaling: AutoScalingClient,
    instance_id: str,
    membership: dict[str, str] | None,
    action: str,
    *,
    decrement_desired_capacity: bool,
    dry_run: bool = False,
) -> dict[str, Any] | None:
    """Detach the instance from its group, or put it in standby. ``membership`` is what
    `auto_scaling_membership` read; None (no group) does nothing. An instance in standby is already out
    of service (the group neither routes to it nor replaces it when unhealthy): it is left as it is.
    Auto Scaling has no dry run: with ``dry_run`` the outcome only says what would be done."""
    if membership is None:
        return None
    group, state = membership["group"], membership["state"]
    outcome: dict[str, Any] = {"group": group, "previous_state": state, "action": action, "changed": False}
    if state.startswith(("Detach", "Terminat", "Standby", "EnteringStandby")):
        return outcome
    call = None
    if action == "detach":
        call = autoscaling.detach_instances
    elif action == "standby" and state == "InService":
        call = autoscaling.enter_standby
    if call is None:
        return outcome
    if not dry_run:
        try:
            call(
                InstanceIds=[instance_id],
                AutoScalingGroupName=group,
                ShouldDecrementDesiredCapacity=decrement_desired_capacity,
            )
        except ClientError as exc:
            if not _left_the_group(exc):
                raise
            # It left the group between the membership read and this call (detached by someone, or
            # terminated and replaced): the group can no longer act on it, which is what this step wants.
            log(
                logging.WARNING,
                "the instance already left its Auto Scaling group",
                group=group,
                error=str(exc),
            )
            outcome["note"] = f"already out of Auto Scaling group {group}: {exc}"
            return outcome
    outcome["changed"] = True
    if outcome["changed"]:
        log(logging.INFO, "took the instance out of its Auto Scaling group", **outcome)
    return outcome


#: Auto Scaling's answer (code ValidationError) for an instance that is not, or no longer, in the group
_NOT_IN_GROUP = "is not part of Auto Scaling group"


def _left_the_group(exc: ClientError) -> bool:
    message = str(exc.response.get("Error", {}).get("Message", ""))
    return error_code(exc) == "ValidationError" and _NOT_IN_GROUP in message


def _instance_addresses(instance: InstanceTypeDef) -> set[str]:
    addresses: set[str] = set()
    for eni in instance.get("NetworkInterfaces", []):
        addresses |= {
            a["PrivateIpAddress"] for a in eni.get("PrivateIpAddresses", []) if "PrivateIpAddress" in a
        }
        addresses |= {a["Ipv6Address"] for a in eni.get("Ipv6Addresses", []) if "Ipv6Address" in a}
    if "PrivateIpAddress" in instance:
        addresses.add(instance["PrivateIpAddress"])
    return addresses


@requires("autoscaling:DescribeAutoScalingInstances")
def auto_scaling_membership(autoscaling: AutoScalingClient, instance_id: str) -> dict[str, str] | None:
    """The instance's Auto Scaling group and lifecycle state (recorded before the change), or None."""
    members = autoscaling.describe_auto_scaling_instances(InstanceIds=[instance_id])["AutoScalingInstances"]
    if not members:
        return None
    return {"group": members[0]["AutoScalingGroupName"], "state": members[0]["LifecycleState"]}


@requires("elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTargetHealth")
def find_target_registrations(
    elbv2: ElasticLoadBalancingv2Client, instance: InstanceTypeDef
) -> list[dict[str, Any]]:
    """Every registration of the instance (instance targets) and of its addresses (IP targets) in the
    target groups of its VPC, per target group (recorded before the change)."""
    instance_id = instance["InstanceId"]
    addresses = _instance_addresses(instance)
    wanted: dict[str, set[str]] = {}
    for page in elbv2.get_paginator("describe_target_groups").paginate():
        for group in page["TargetGroups"]:
            kind = group.get("TargetType", "instance")
            if kind not in ("instance", "ip") or group.get("VpcId") != instance.get("VpcId"):
                continue
            wanted[group["TargetGroupArn"]] = {instance_id} if kind == "instance" else addresses
    # the groups' registrations are read at the same time (one round trip for all of them)
    healths = in_parallel({arn: partial(target_health, elbv2, arn) for arn in wanted})
    found: list[dict[str, Any]] = []
    for arn, descriptions in healths.items():
        targets: list[Any] = [
            {k: v for k, v in d["Target"].items() if k in ("Id", "Port", "AvailabilityZone")}
            for d in descriptions
            if d["Target"]["Id"] in wanted[arn]
            and d.get("TargetHealth", {}).get("State") not in ("draining", "unused")
        ]
        if targets:
            found.append({"target_group_arn": arn, "targets": targets})
    return found


@requires("elasticloadbalancing:DescribeTargetHealth")
def target_health(elbv2: ElasticLoadBalancingv2Client, target_group_arn: str) -> list[Any]:
    """The targets registered in one target group, with their health."""
    return list(elbv2.describe_target_health(TargetGroupArn=target_group_arn)["TargetHealthDescriptions"])


@requires("elasticloadbalancing:DeregisterTargets")
def deregister_targets(
    elbv2: ElasticLoadBalancingv2Client, registrations: list[dict[str, Any]], *, dry_run: bool = False
) -> list[dict[str, Any]]:
    """Deregister ``registrations`` (from `find_target_registrations`). Returns what was deregistered
    (ELB has no dry run: with ``dry_run``, what would be)."""
    for registration in registrations:
        if dry_run:
            continue
        elbv2.deregister_targets(
            TargetGroupArn=registration["target_group_arn"], Targets=registration["targets"]
        )
        log(logging.INFO, "deregistered from target group", target_group=registration["target_group_arn"])
    return registrations


@requires("ec2:DescribeAddresses")
def elastic_ip_associations(ec2: EC2Client, instance_id: str) -> list[dict[str, str]]:
    """The Elastic IPs associated with the instance (any of its ENIs), recorded before the change."""
    addresses = ec2.describe_addresses(Filters=[{"Name": "instance-id", "Values": [instance_id]}])[
        "Addresses"
    ]
    return [
        {
            "public_ip": address.get("PublicIp", ""),
            "allocation_id": address.get("AllocationId", ""),
            "association_id": address["AssociationId"],
            "network_interface_id": address.get("NetworkInterfaceId", ""),
            "private_ip": address.get("PrivateIpAddress", ""),
        }
        for address in addresses
        if "AssociationId" in address
    ]


@requires("ec2:DisassociateAddress")
def disassociate_elastic_ips(
    ec2: EC2Client, associations: list[dict[str, str]], *, dry_run: bool = False
) -> list[dict[str, str]]:
    """Disassociate ``associations`` (from `elastic_ip_associations`). Returns what was removed."""
    for association in associations:
        maybe(dry_run, ec2.disassociate_address, AssociationId=association["association_id"])
    if associations:
        log(logging.INFO, "disassociated Elastic IPs", addresses=associations)
    return associations
