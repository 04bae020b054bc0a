"""The reconciler's reads: what the instances of one account and region look like now.

Every read covers many instances (a filter, or a list of ids): the cost of a sweep grows with the pages
EC2, Auto Scaling and Elastic Load Balancing return, not with the instances. What EC2 offers only per
instance (``DescribeInstanceAttribute``: termination protection, shutdown behaviour) is not read here: the
per-instance check reads it (`ec2_isolation.steps.evidence.instance_attribute`), on an API-call event and in
the full check.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING

from ec2_isolation.concurrent import in_parallel
from ec2_isolation.steps import requires
from ec2_isolation.steps.services import target_health

if TYPE_CHECKING:
    from mypy_boto3_autoscaling import AutoScalingClient
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import InstanceTypeDef, SecurityGroupTypeDef
    from mypy_boto3_elbv2 import ElasticLoadBalancingv2Client

#: DescribeInstances returns at most 1,000 instances a page
INSTANCES_PER_PAGE = 1000
#: EC2 takes at most 200 values in one filter
VALUES_PER_FILTER = 200
#: DescribeAutoScalingInstances takes at most 50 instance ids
AUTO_SCALING_IDS_PER_CALL = 50


class Calls(Counter[str]):
    """The API calls a sweep made, by action (``ec2:DescribeInstances``: 2); ``total()`` counts them all."""


def chunks(values: Sequence[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(values), size):
        yield list(values[start : start + size])


@requires("ec2:DescribeInstances")
def tagged_instances(
    ec2: EC2Client, tag_key: str, values: Sequence[str], calls: Calls
) -> Iterator[list[InstanceTypeDef]]:
    """The instances whose tag ``tag_key`` has one of ``values``, a page (up to 1,000) at a time."""
    paginator = ec2.get_paginator("describe_instances")
    pages = paginator.paginate(
        Filters=[{"Name": f"tag:{tag_key}", "Values": list(values)}],
        PaginationConfig={"PageSize": INSTANCES_PER_PAGE},
    )
    for page in pages:
        calls["ec2:DescribeInstances"] += 1
        yield [i for r in page.get("Reservations", []) for i in r.get("Instances", [])]


@requires("ec2:DescribeInstances")
def instances_by_id(ec2: EC2Client, instance_ids: Iterable[str], calls: Calls) -> dict[str, InstanceTypeDef]:
    """The instances of ``instance_ids`` that exist (a filter: an unknown id is left out, not an error),
    200 ids a call. A terminated instance is still returned for about an hour, then no more."""
    found: dict[str, InstanceTypeDef] = {}
    paginator = ec2.get_paginator("describe_instances")
    for chunk in chunks(sorted(set(instance_ids)), VALUES_PER_FILTER):
        for page in paginator.paginate(Filters=[{"Name": "instance-id", "Values": chunk}]):
            calls["ec2:DescribeInstances"] += 1
            for reservation in page.get("Reservations", []):
                for instance in reservation.get("Instances", []):
                    found[instance["InstanceId"]] = instance
    return found


def has_rules(group: SecurityGroupTypeDef) -> bool:
    """Whether a group (as DescribeSecurityGroups describes it) has any inbound or outbound rule."""
    return bool(group.get("IpPermissions") or group.get("IpPermissionsEgress"))


@requires("ec2:DescribeSecurityGroups")
def isolation_groups(
    ec2: EC2Client, name: str, managed_tag: tuple[str, str], calls: Calls
) -> dict[str, SecurityGroupTypeDef]:
    """The module's isolation group of every VPC (by name, managed by this module), with its rules: one
    read for the whole region."""
    key, value = managed_tag
    groups: dict[str, SecurityGroupTypeDef] = {}
    paginator = ec2.get_paginator("describe_security_groups")
    for page in paginator.paginate(Filters=[{"Name": "group-name", "Values": [name]}]):
        calls["ec2:DescribeSecurityGroups"] += 1
        for group in page.get("SecurityGroups", []):
            tags = {t.get("Key"): t.get("Value") for t in group.get("Tags", [])}
            vpc_id = group.get("VpcId")
            if vpc_id and group.get("GroupName") == name and tags.get(key) == value:
                groups[vpc_id] = group
    return groups


@requires("ec2:DescribeNetworkInterfaces")
def instances_on_groups(ec2: EC2Client, group_ids: Sequence[str], calls: Calls) -> dict[str, list[str]]:
    """The instances whose ENIs are on each of ``group_ids`` (what an open isolation group exposed)."""
    exposed: dict[str, list[str]] = {group_id: [] for group_id in group_ids}
    paginator = ec2.get_paginator("describe_network_interfaces")
    for chunk in chunks(list(group_ids), VALUES_PER_FILTER):
        for page in paginator.paginate(Filters=[{"Name": "group-id", "Values": chunk}]):
            calls["ec2:DescribeNetworkInterfaces"] += 1
            for eni in page.get("NetworkInterfaces", []):
                instance_id = eni.get("Attachment", {}).get("InstanceId")
                for group in eni.get("Groups", []):
                    ids = exposed.get(group.get("GroupId", ""))
                    if ids is not None and instance_id and instance_id not in ids:
                        ids.append(instance_id)
    return {group_id: sorted(ids) for group_id, ids in exposed.items()}


@requires("autoscaling:DescribeAutoScalingInstances")
def auto_scaling_memberships(
    autoscaling: AutoScalingClient, instance_ids: Sequence[str], calls: Calls
) -> dict[str, dict[str, str]]:
    """The Auto Scaling group and lifecycle state of each of ``instance_ids`` in one, 50 ids a call."""
    members: dict[str, dict[str, str]] = {}
    for chunk in chunks(sorted(set(instance_ids)), AUTO_SCALING_IDS_PER_CALL):
        calls["autoscaling:DescribeAutoScalingInstances"] += 1
        answer = autoscaling.describe_auto_scaling_instances(InstanceIds=chunk, MaxRecords=50)
        for member in answer.get("AutoScalingInstances", []):
            members[member["InstanceId"]] = {
                "group": member["AutoScalingGroupName"],
                "state": member["LifecycleState"],
            }
    return members


def _addresses(instance: InstanceTypeDef) -> set[str]:
    return {
        address["PrivateIpAddress"]
        for eni in instance.get("NetworkInterfaces", [])
        for address in eni.get("PrivateIpAddresses", [])
        if "PrivateIpAddress" in address
    }


@requires("elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTargetHealth")
def target_registrations(
    elbv2: ElasticLoadBalancingv2Client, instances: Mapping[str, InstanceTypeDef], calls: Calls
) -> dict[str, list[str]]:
    """The target groups each of ``instances`` is registered in (as an instance, or by its addresses in
    an IP target group), among the target groups of their VPCs: the target groups a page (400) at a time,
    then each one's registrations, read at the same time. The cost grows with the target groups of those
    VPCs, not with the instances."""
    vpcs = {i.get("VpcId") for i in instances.values() if i.get("VpcId")}
    kinds: dict[str, str] = {}
    for page in elbv2.get_paginator("describe_target_groups").paginate():
        calls["elasticloadbalancing:DescribeTargetGroups"] += 1
        for group in page.get("TargetGroups", []):
            kind = group.get("TargetType", "instance")
            if kind in ("instance", "ip") and group.get("VpcId") in vpcs:
                kinds[group["TargetGroupArn"]] = kind
    calls["elasticloadbalancing:DescribeTargetHealth"] += len(kinds)
    healths = in_parallel({arn: partial(target_health, elbv2, arn) for arn in kinds})
    by_address = {address: iid for iid, i in instances.items() for address in _addresses(i)}
    registered: dict[str, list[str]] = {}
    for arn, descriptions in sorted(healths.items()):
        for description in descriptions:
            if description.get("TargetHealth", {}).get("State") in ("draining", "unused"):
                continue
            target = str(description.get("Target", {}).get("Id", ""))
            instance_id = target if kinds[arn] == "instance" else by_address.get(target)
            if instance_id is None or instance_id not in instances:
                continue
            if arn not in registered.setdefault(instance_id, []):
                registered[instance_id].append(arn)
    return registered


def interface_groups(instance: InstanceTypeDef) -> dict[str, list[str]]:
    """Each ENI of the instance (as DescribeInstances describes it) and its groups."""
    return {
        eni["NetworkInterfaceId"]: [g["GroupId"] for g in eni.get("Groups", []) if "GroupId" in g]
        for eni in instance.get("NetworkInterfaces", [])
        if "NetworkInterfaceId" in eni
    }


@requires("ec2:DescribeIamInstanceProfileAssociations")
def instance_profiles(ec2: EC2Client, instance_ids: Sequence[str], calls: Calls) -> dict[str, list[str]]:
    """The instance profiles associated (or associating) with each of ``instance_ids``, 200 ids a call:
    EC2's own answer (DescribeInstances can lag behind a replaced association)."""
    profiles: dict[str, list[str]] = {instance_id: [] for instance_id in instance_ids}
    paginator = ec2.get_paginator("describe_iam_instance_profile_associations")
    for chunk in chunks(sorted(set(instance_ids)), VALUES_PER_FILTER):
        pages = paginator.paginate(
            Filters=[
                {"Name": "instance-id", "Values": chunk},
                {"Name": "state", "Values": ["associating", "associated"]},
            ],
            # the most a page holds: one call per 200 instances
            PaginationConfig={"PageSize": 1000},
        )
        for page in pages:
            calls["ec2:DescribeIamInstanceProfileAssociations"] += 1
            for association in page.get("IamInstanceProfileAssociations", []):
                arn = association.get("IamInstanceProfile", {}).get("Arn")
                instance_id = association.get("InstanceId", "")
                if (
                    arn
                    and instance_id in profiles
                    and association.get("State") in ("associating", "associated")
                ):
                    profiles[instance_id].append(arn)
    return profiles


@requires("ec2:DescribeNetworkInterfaces")
def interface_instances(ec2: EC2Client, interface_ids: Sequence[str]) -> list[str]:
    """The instances ``interface_ids`` are attached to (an ENI that no longer exists is left out)."""
    found: list[str] = []
    paginator = ec2.get_paginator("describe_network_interfaces")
    for chunk in chunks(sorted(set(interface_ids)), VALUES_PER_FILTER):
        for page in paginator.paginate(Filters=[{"Name": "network-interface-id", "Values": chunk}]):
            for eni in page.get("NetworkInterfaces", []):
                instance_id = eni.get("Attachment", {}).get("InstanceId")
                if instance_id and instance_id not in found:
                    found.append(instance_id)
    return found


@requires("ec2:DescribeIamInstanceProfileAssociations")
def association_instances(ec2: EC2Client, association_ids: Sequence[str]) -> list[str]:
    """The instances of instance profile associations (a disassociated one still names its instance)."""
    found: list[str] = []
    paginator = ec2.get_paginator("describe_iam_instance_profile_associations")
    for chunk in chunks(sorted(set(association_ids)), VALUES_PER_FILTER):
        for page in paginator.paginate(AssociationIds=chunk):
            for association in page.get("IamInstanceProfileAssociations", []):
                instance_id = association.get("InstanceId")
                if instance_id and instance_id not in found:
                    found.append(instance_id)
    return found


@requires("ec2:DescribeSecurityGroups")
def groups_by_id(ec2: EC2Client, group_ids: Sequence[str]) -> list[SecurityGroupTypeDef]:
    """The security groups of ``group_ids`` that exist, with their rules (a filter: no error for the
    others)."""
    groups: list[SecurityGroupTypeDef] = []
    paginator = ec2.get_paginator("describe_security_groups")
    for chunk in chunks(sorted(set(group_ids)), VALUES_PER_FILTER):
        for page in paginator.paginate(Filters=[{"Name": "group-id", "Values": chunk}]):
            groups += page.get("SecurityGroups", [])
    return groups
