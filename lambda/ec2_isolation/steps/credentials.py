"""Revoking the role credentials the instance already holds.

Swapping the instance profile does not invalidate credentials that were delivered to the instance
before: they stay valid until they expire (up to several hours), wherever they were copied to. This
step adds to the instance's *original* role an inline policy that denies every action to credentials
that were delivered to this instance (``ec2:SourceInstanceARN``) and issued before the isolation
(``aws:TokenIssueTime``). Sibling instances sharing the role keep working; credentials issued after a
release work again.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from ec2_isolation.errors import IsolationError, error_code
from ec2_isolation.log import log
from ec2_isolation.steps import requires

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient


@dataclass
class RevocationOutcome:
    role_name: str
    policy_name: str
    issued_before: str
    changed: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "role_name": self.role_name,
            "policy_name": self.policy_name,
            "issued_before": self.issued_before,
            "changed": self.changed,
        }


def revocation_policy(instance_arn: str, issued_before: datetime) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyCredentialsOfIsolatedInstance",
                "Effect": "Deny",
                "Action": "*",
                "Resource": "*",
                "Condition": {
                    "StringEquals": {"ec2:SourceInstanceARN": instance_arn},
                    "DateLessThan": {"aws:TokenIssueTime": issued_before.strftime("%Y-%m-%dT%H:%M:%SZ")},
                },
            }
        ],
    }


def _profile_name(profile_arn: str) -> str:
    return profile_arn.rsplit("/", 1)[-1]


@requires("iam:GetInstanceProfile", "iam:GetRolePolicy", "iam:PutRolePolicy")
def revoke_instance_credentials(
    iam: IAMClient,
    profile_arn: str,
    instance_arn: str,
    policy_name: str,
    issued_before: datetime,
    *,
    dry_run: bool = False,
) -> RevocationOutcome:
    """Deny, on the role of ``profile_arn``, the credentials of ``instance_arn`` issued before
    ``issued_before``. IAM has no dry run: with ``dry_run`` the outcome says what would be written."""
    roles = iam.get_instance_profile(InstanceProfileName=_profile_name(profile_arn))["InstanceProfile"][
        "Roles"
    ]
    if len(roles) != 1:
        raise IsolationError(f"instance profile {profile_arn} has {len(roles)} roles; expected one")
    role_name = roles[0]["RoleName"]
    document = revocation_policy(instance_arn, issued_before)
    stamp = document["Statement"][0]["Condition"]["DateLessThan"]["aws:TokenIssueTime"]
    try:
        current = iam.get_role_policy(RoleName=role_name, PolicyName=policy_name)["PolicyDocument"]
    except ClientError as exc:
        if error_code(exc) != "NoSuchEntity":
            raise
        current = None
    if isinstance(current, str):  # boto3 decodes it; keep a raw string working too
        current = json.loads(current)
    if current == document:
        return RevocationOutcome(role_name, policy_name, stamp, changed=False)
    if not dry_run:
        iam.put_role_policy(RoleName=role_name, PolicyName=policy_name, PolicyDocument=json.dumps(document))
    outcome = RevocationOutcome(role_name, policy_name, stamp, changed=True)
    log(logging.INFO, "revoked the instance's role credentials", **outcome.as_dict())
    return outcome
