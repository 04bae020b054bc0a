"""Swapping the instance profile for the deny-all isolation profile."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ec2_isolation.errors import ProfileVerificationFailed
from ec2_isolation.log import log
from ec2_isolation.retry import (
    PROFILE_ATTEMPTS,
    PROFILE_BASE_DELAY,
    Sleep,
    eventually,
    profile_not_yet_visible,
)
from ec2_isolation.steps import requires

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import IamInstanceProfileAssociationTypeDef

#: association states that mean "this profile is (becoming) the instance's profile"
ACTIVE_STATES = frozenset({"associating", "associated"})


@dataclass
class ProfileOutcome:
    previous_arn: str | None
    association_id: str
    changed: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "previous_arn": self.previous_arn,
            "association_id": self.association_id,
            "changed": self.changed,
        }


def active_associations(ec2: EC2Client, instance_id: str) -> list[IamInstanceProfileAssociationTypeDef]:
    """The instance's current associations; EC2's answer, not DescribeInstances (which can lag)."""
    associations = ec2.describe_iam_instance_profile_associations(
        Filters=[{"Name": "instance-id", "Values": [instance_id]}]
    )["IamInstanceProfileAssociations"]
    return [a for a in associations if a.get("State") in ACTIVE_STATES]


def association_arn(association: IamInstanceProfileAssociationTypeDef) -> str:
    return association.get("IamInstanceProfile", {}).get("Arn", "")


@requires("ec2:DescribeIamInstanceProfileAssociations")
def instance_profile_arn(ec2: EC2Client, instance_id: str) -> str | None:
    """The instance's profile now (recorded before the change), or None."""
    associations = active_associations(ec2, instance_id)
    return associations[0].get("IamInstanceProfile", {}).get("Arn") if associations else None


#: value of the original-profile tag when the instance had no profile
NO_PROFILE = "none"


@requires(
    "ec2:DescribeIamInstanceProfileAssociations",
    "ec2:CreateTags",
    "ec2:AssociateIamInstanceProfile",
    "ec2:ReplaceIamInstanceProfileAssociation",
    "iam:PassRole",
)
def swap_instance_profile(
    ec2: EC2Client,
    instance_id: str,
    profile_arn: str,
    *,
    original_tag_key: str,
    tags: dict[str, str],
    dry_run: bool = False,
    sleep: Sleep = time.sleep,
) -> ProfileOutcome:
    """Replace the instance's profile with ``profile_arn`` (or associate it when there is none); verify.

    Before the change, the original profile's ARN is written to the ``original_tag_key`` tag (unless a
    previous, interrupted attempt already did), so that a retry still knows whose credentials to revoke.
    """
    current = active_associations(ec2, instance_id)
    previous_arn = association_arn(current[0]) if current else None
    if len(current) == 1 and previous_arn == profile_arn:
        original = tags.get(original_tag_key)
        return ProfileOutcome(
            None if original in (None, NO_PROFILE) else original, current[0]["AssociationId"], False
        )
    if dry_run:
        # The association calls have no DryRun flag: the outcome only says what would be done.
        return ProfileOutcome(previous_arn, "", changed=True)
    if original_tag_key not in tags:
        ec2.create_tags(
            Resources=[instance_id], Tags=[{"Key": original_tag_key, "Value": previous_arn or NO_PROFILE}]
        )
    if current:
        association_id = current[0]["AssociationId"]

        def swap() -> IamInstanceProfileAssociationTypeDef:
            return ec2.replace_iam_instance_profile_association(
                IamInstanceProfile={"Arn": profile_arn}, AssociationId=association_id
            )["IamInstanceProfileAssociation"]
    else:

        def swap() -> IamInstanceProfileAssociationTypeDef:
            return ec2.associate_iam_instance_profile(
                IamInstanceProfile={"Arn": profile_arn}, InstanceId=instance_id
            )["IamInstanceProfileAssociation"]

    # a profile (or its role) IAM has not propagated to EC2 yet is refused for a few seconds: retried, bounded
    association = eventually(
        swap,
        retryable=profile_not_yet_visible,
        what=f"associate instance profile {profile_arn}",
        attempts=PROFILE_ATTEMPTS,
        base_delay=PROFILE_BASE_DELAY,
        sleep=sleep,
    )
    after = active_associations(ec2, instance_id)
    reported = [association_arn(a) for a in after]
    if reported != [profile_arn]:
        raise ProfileVerificationFailed(
            f"{instance_id} reports profiles {reported} after the swap, not [{profile_arn}]"
        )
    outcome = ProfileOutcome(previous_arn, association["AssociationId"], changed=True)
    log(logging.INFO, "swapped instance profile", **outcome.as_dict())
    return outcome
