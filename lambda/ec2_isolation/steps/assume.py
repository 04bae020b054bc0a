"""Assuming the executor role of a member account, with a session policy."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from ec2_isolation.errors import AccountAccessDenied, error_code
from ec2_isolation.steps import requires

if TYPE_CHECKING:
    from mypy_boto3_sts import STSClient

#: the shortest session STS grants: an invocation lasts at most the function's timeout (minutes)
SESSION_SECONDS = 900
#: what STS answers when the role is missing, does not trust the caller, or the external id is wrong
_DENIED = frozenset({"AccessDenied", "AccessDeniedException"})


@requires("sts:AssumeRole")
def assume_executor_role(
    sts: STSClient, role_arn: str, *, session_name: str, external_id: str, policy: str
) -> dict[str, Any]:
    """Credentials of ``role_arn`` narrowed by the session ``policy`` (the STS ``Credentials`` answer)."""
    arguments: dict[str, Any] = {
        "RoleArn": role_arn,
        "RoleSessionName": session_name,
        "DurationSeconds": SESSION_SECONDS,
        "Policy": policy,
    }
    if external_id:
        arguments["ExternalId"] = external_id
    try:
        answer = sts.assume_role(**arguments)
    except ClientError as exc:
        if error_code(exc) in _DENIED:
            account = role_arn.split(":")[4]
            raise AccountAccessDenied(
                f"cannot assume the executor role {role_arn} of account {account}: {exc}. Is the member "
                "module deployed there, trusting this function's role (and its external id)?"
            ) from exc
        raise
    credentials: dict[str, Any] = dict(answer["Credentials"])
    return credentials
