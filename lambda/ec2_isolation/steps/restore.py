"""Release: putting back exactly what the record says the instance had before its isolation.

Each step compares the recorded prior state with the live state and changes only what differs, so a
repeated or retried release changes nothing more. With ``dry_run`` a step changes nothing: it reports
what it would do, and asks EC2 (``DryRun``) whether the change would be allowed where EC2 can say.
Each returns the changes it made (or would make), as sentences for the record and the notification.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ec2_isolation.config import Settings
from ec2_isolation.errors import IsolationError, NeedsDecision, ProfileVerificationFailed
from ec2_isolation.log import log
from ec2_isolation.steps import requires
from ec2_isolation.steps.dryrun import maybe
from ec2_isolation.steps.profile import active_associations, association_arn
from ec2_isolation.steps.services import auto_scaling_membership
from ec2_isolation.steps.status import ISOLATION_TAG_SUFFIXES, RELEASED

if TYPE_CHECKING:
    from mypy_boto3_autoscaling import AutoScalingClient
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import InstanceBlockDeviceMappingSpecificationTypeDef, InstanceTypeDef
    from mypy_boto3_elbv2 import ElasticLoadBalancingv2Client


def _groups(eni: Mapping[str, Any]) -> list[str]:
    return [g["GroupId"] for g in eni.get("Groups", [])]


@requires("ec2:DescribeNetworkInterfaces", "ec2:ModifyNetworkInterfaceAttribute")
def restore_security_groups(
    ec2: EC2Client, recorded: Mapping[str, list[str]], *, dry_run: bool = False
) -> tuple[list[str], list[str]]:
    """Put every recorded ENI back on its recorded groups. Returns (changes, notes).

    An ENI that no longer exists cannot be restored: that is a note, not a failure. An ENI that
    refuses the change (a recorded group deleted since, say) fails the step, after the others.
    """
    if not recorded:
        return [], []
    found = ec2.describe_network_interfaces(
        Filters=[{"Name": "network-interface-id", "Values": sorted(recorded)}]
    )["NetworkInterfaces"]
    now = {eni["NetworkInterfaceId"]: _groups(eni) for eni in found}
    changes: list[str] = []
    notes = [
        f"{eni} no longer exists; its groups cannot be restored" for eni in sorted(set(recorded) - set(now))
    ]
    errors: list[str] = []
    pending: dict[str, list[str]] = {}
    for eni_id, groups in recorded.items():
        if eni_id not in now or sorted(now[eni_id]) == sorted(groups):
            continue
        try:
            maybe(
                dry_run,
                ec2.modify_network_interface_attribute,
                NetworkInterfaceId=eni_id,
                Groups=list(groups),
            )
        except Exception as exc:  # reported below, after the other ENIs were restored
            errors.append(f"{eni_id}: {exc}")
            continue
        pending[eni_id] = list(groups)
        changes.append(f"put {eni_id} back on {', '.join(groups)}")
    if pending and not dry_run:
        after = ec2.describe_network_interfaces(
            Filters=[{"Name": "network-interface-id", "Values": sorted(pending)}]
        )["NetworkInterfaces"]
        read_back = {eni["NetworkInterfaceId"]: sorted(_groups(eni)) for eni in after}
        errors += [
            f"{eni_id}: after the change it is on {read_back.get(eni_id)}, not {sorted(groups)}"
            for eni_id, groups in pending.items()
            if read_back.get(eni_id) != sorted(groups)
        ]
    if errors:
        raise IsolationError("; ".join(errors))
    if changes:
        log(logging.INFO, "restored security groups", changes=changes, dry_run=dry_run)
    return changes, notes


@requires(
    "ec2:DescribeIamInstanceProfileAssociations",
    "ec2:AssociateIamInstanceProfile",
    "ec2:ReplaceIamInstanceProfileAssociation",
    "ec2:DisassociateIamInstanceProfile",
    "iam:PassRole",
)
def restore_instance_profile(
    ec2: EC2Client, instance_id: str, original_arn: str | None, isolation_arn: str, *, dry_run: bool = False
) -> list[str]:
    """Re-associate the recorded profile (or remove the isolation profile when there was none).

    A profile that is neither the isolation profile nor the recorded one was set by someone after the
    isolation: it is left as it is, and the step fails so that a person decides.
    """
    current = active_associations(ec2, instance_id)
    arns = [association_arn(a) for a in current]
    wanted = [original_arn] if original_arn else []
    if arns == wanted:
        return []
    if arns and arns != [isolation_arn]:
        raise NeedsDecision(
            f"{instance_id} has profile {', '.join(arns)}, neither the isolation profile nor the recorded "
            f"{original_arn or 'none'}: it was changed after the isolation and is left as it is"
        )
    if not dry_run:  # the association calls have no DryRun flag: a dry run only says what it would do
        _set_profile(ec2, instance_id, current[0]["AssociationId"] if current else None, original_arn)
        after = [association_arn(a) for a in active_associations(ec2, instance_id)]
        if after != wanted:
            raise ProfileVerificationFailed(
                f"{instance_id} reports profiles {after} after the release, not {wanted}"
            )
    change = (
        f"re-associated instance profile {original_arn}" if original_arn else "removed the isolation profile"
    )
    log(logging.INFO, "restored instance profile", change=change, dry_run=dry_run)
    return [change]


def _set_profile(ec2: EC2Client, instance_id: str, association_id: str | None, arn: str | None) -> None:
    if association_id and arn:
        ec2.replace_iam_instance_profile_association(
            IamInstanceProfile={"Arn": arn}, AssociationId=association_id
        )
    elif association_id:
        ec2.disassociate_iam_instance_profile(AssociationId=association_id)
    elif arn:
        ec2.associate_iam_instance_profile(IamInstanceProfile={"Arn": arn}, InstanceId=instance_id)


@requires("ec2:DescribeInstanceAttribute", "ec2:ModifyInstanceAttribute")
def restore_protection(
    ec2: EC2Client, instance: InstanceTypeDef, prior: Mapping[str, Any], *, dry_run: bool = False
) -> list[str]:
    """Termination protection, shutdown behaviour and DeleteOnTermination back to their recorded values
    (each only when it was recorded and differs now)."""
    instance_id = instance["InstanceId"]
    changes: list[str] = []
    if "termination_protection" in prior:
        now = ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="disableApiTermination")
        wanted = bool(prior["termination_protection"])
        if bool(now.get("DisableApiTermination", {}).get("Value")) != wanted:
            maybe(
                dry_run,
                ec2.modify_instance_attribute,
                InstanceId=instance_id,
                DisableApiTermination={"Value": wanted},
            )
            changes.append(f"{'enabled' if wanted else 'disabled'} termination protection")
    behaviour = prior.get("shutdown_behaviour")
    if behaviour:
        now = ec2.describe_instance_attribute(
            InstanceId=instance_id, Attribute="instanceInitiatedShutdownBehavior"
        )
        if now.get("InstanceInitiatedShutdownBehavior", {}).get("Value") != behaviour:
            maybe(
                dry_run,
                ec2.modify_instance_attribute,
                InstanceId=instance_id,
                InstanceInitiatedShutdownBehavior={"Value": behaviour},
            )
            changes.append(f"set shutdown behaviour back to {behaviour}")
    recorded: Mapping[str, bool] = prior.get("delete_on_termination", {})
    mappings: list[InstanceBlockDeviceMappingSpecificationTypeDef] = [
        {"DeviceName": m["DeviceName"], "Ebs": {"DeleteOnTermination": bool(recorded[m["DeviceName"]])}}
        for m in instance.get("BlockDeviceMappings", [])
        if m.get("DeviceName") in recorded
        and bool(m.get("Ebs", {}).get("DeleteOnTermination")) != bool(recorded[m["DeviceName"]])
    ]
    if mappings:
        maybe(dry_run, ec2.modify_instance_attribute, InstanceId=instance_id, BlockDeviceMappings=mappings)
        devices = ", ".join(m["DeviceName"] for m in mappings)
        changes.append(f"set DeleteOnTermination back on {devices}")
    if changes:
        log(logging.INFO, "restored instance attributes", changes=changes, dry_run=dry_run)
    return changes


#: lifecycle states of an instance that was serving in its group when it was isolated
_SERVING = ("InService", "Pending", "Warmed")


@requires(
    "autoscaling:DescribeAutoScalingInstances", "autoscaling:AttachInstances", "autoscaling:ExitStandby"
)
def restore_auto_scaling(
    autoscaling: AutoScalingClient,
    instance_id: str,
    recorded: Mapping[str, str] | None,
    *,
    dry_run: bool = False,
) -> list[str]:
    """Back into the recorded Auto Scaling group: re-attach it (detached) or take it out of standby.

    Both raise the group's desired capacity by one (AWS does so); the group's own scaling settles it.
    An instance that was not serving when it was isolated (standby, terminating) was left as it was.
    """
    if not recorded or not recorded["state"].startswith(_SERVING):
        return []
    group = recorded["group"]
    now = auto_scaling_membership(autoscaling, instance_id)
    if now is None:
        if not dry_run:
            autoscaling.attach_instances(InstanceIds=[instance_id], AutoScalingGroupName=group)
        change = f"re-attached to Auto Scaling group {group}"
    elif now["group"] != group:
        raise IsolationError(
            f"{instance_id} is now in Auto Scaling group {now['group']}, not the recorded {group}"
        )
    elif now["state"] == "Standby":
        if not dry_run:
            autoscaling.exit_standby(InstanceIds=[instance_id], AutoScalingGroupName=group)
        change = f"took out of standby in Auto Scaling group {group}"
    else:
        return []
    log(logging.INFO, "restored Auto Scaling membership", change=change, dry_run=dry_run)
    return [change]


@requires("elasticloadbalancing:DescribeTargetHealth", "elasticloadbalancing:RegisterTargets")
def register_targets(
    elbv2: ElasticLoadBalancingv2Client, recorded: list[dict[str, Any]], *, dry_run: bool = False
) -> list[str]:
    """Register the recorded targets again, each only where it is not registered now."""
    changes: list[str] = []
    for registration in recorded:
        arn = registration["target_group_arn"]
        health = elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
        present = {
            (d["Target"]["Id"], d["Target"].get("Port"))
            for d in health
            if d.get("TargetHealth", {}).get("State") not in ("draining", "unused")
        }
        missing = [t for t in registration["targets"] if (t["Id"], t.get("Port")) not in present]
        if not missing:
            continue
        if not dry_run:
            elbv2.register_targets(TargetGroupArn=arn, Targets=[_target(t) for t in missing])
        changes.append(f"registered {', '.join(t['Id'] for t in missing)} in {arn}")
    if changes:
        log(logging.INFO, "registered targets", changes=changes, dry_run=dry_run)
    return changes


def _target(target: Mapping[str, Any]) -> Any:
    """A recorded target as RegisterTargets takes it (DynamoDB returns numbers as Decimal)."""
    return {k: int(v) if k == "Port" else v for k, v in target.items()}


@requires("ec2:DescribeAddresses", "ec2:AssociateAddress")
def reassociate_elastic_ips(
    ec2: EC2Client, recorded: list[dict[str, str]], *, dry_run: bool = False
) -> list[str]:
    """Associate each recorded Elastic IP with its recorded ENI and private address again. An address
    that is associated elsewhere now is not taken away from there: the step fails."""
    if not recorded:
        return []
    addresses = ec2.describe_addresses(AllocationIds=[r["allocation_id"] for r in recorded])["Addresses"]
    now = {a.get("AllocationId"): a for a in addresses}
    changes: list[str] = []
    for association in recorded:
        address = now.get(association["allocation_id"], {})
        if address.get("AssociationId"):
            if address.get("NetworkInterfaceId") == association["network_interface_id"]:
                continue
            raise IsolationError(
                f"Elastic IP {association['public_ip']} is now associated with "
                f"{address.get('NetworkInterfaceId') or address.get('InstanceId')}; it is left there"
            )
        maybe(
            dry_run,
            ec2.associate_address,
            AllocationId=association["allocation_id"],
            NetworkInterfaceId=association["network_interface_id"],
            PrivateIpAddress=association["private_ip"],
            AllowReassociation=False,
        )
        changes.append(
            f"re-associated Elastic IP {association['public_ip']} with {association['network_interface_id']}"
        )
    if changes:
        log(logging.INFO, "re-associated Elastic IPs", changes=changes, dry_run=dry_run)
    return changes


def released_tags(settings: Settings, event_id: str, now: str) -> dict[str, str]:
    return {
        settings.status_tag: RELEASED,
        settings.tag("ReleasedAt"): now,
        settings.tag("ReleaseEventId"): event_id,
    }


@requires("ec2:CreateTags", "ec2:DeleteTags")
def mark_released(
    ec2: EC2Client,
    instance_id: str,
    current_tags: Mapping[str, str],
    settings: Settings,
    *,
    event_id: str,
    now: str,
    dry_run: bool = False,
) -> list[str]:
    """Status tags say released: the isolation's own tags (time, event, group, original profile) are
    removed, so that a later isolation starts from a clean slate, and Status/ReleasedAt/ReleaseEventId set."""
    stale = [settings.tag(s) for s in ISOLATION_TAG_SUFFIXES if settings.tag(s) in current_tags]
    changes: list[str] = []
    if stale:
        maybe(dry_run, ec2.delete_tags, Resources=[instance_id], Tags=[{"Key": k} for k in stale])
        changes.append(f"removed tags {', '.join(stale)}")
    if current_tags.get(settings.status_tag) != RELEASED or stale:
        tags = released_tags(settings, event_id, now)
        assert settings.isolation_tag_key not in tags, "status tags must not rewrite the trigger tag"
        maybe(
            dry_run,
            ec2.create_tags,
            Resources=[instance_id],
            Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
        )
        changes.append("tagged as released")
    return changes
