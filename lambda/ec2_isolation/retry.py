"""Explicit, bounded retries for EC2's eventual consistency.

botocore's standard retry mode (see ``clients.py``) already retries throttling and 5xx answers. It does
not retry the errors EC2 gives while a resource it has just created is not yet visible everywhere: those
are ordinary 4xx answers that, a few seconds later, would succeed. They are retried here, a bounded
number of times with a growing delay, each retry logged; after the last attempt the error is raised (the
step fails, the invocation fails, and Lambda retries it).

- A security group just created: ``InvalidGroup.NotFound`` (AWS, *Eventual consistency in the Amazon EC2
  API*: "If you successfully run the CreateSecurityGroup command, and then immediately run another command
  using the security group ID [...], it may return an InvalidGroup.NotFound error"), and
  ``InvalidSecurityGroupID.NotFound``, the code of the calls that name groups in a list.
- An instance profile not yet propagated from IAM to EC2: ``InvalidParameterValue`` with "Invalid IAM
  Instance Profile name" / "ARN" (the profile), or "has no associated IAM Roles" (its role), on
  ``AssociateIamInstanceProfile`` and ``ReplaceIamInstanceProfileAssociation`` (the errors the Terraform
  AWS provider retries on (re)association for the same reason, hashicorp/terraform-provider-aws#3055).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from botocore.exceptions import ClientError

from ec2_isolation.errors import error_code
from ec2_isolation.log import log

T = TypeVar("T")

Sleep = Callable[[float], None]

#: EC2's answers for a security group it does not know yet
GROUP_NOT_YET_VISIBLE = frozenset({"InvalidGroup.NotFound", "InvalidSecurityGroupID.NotFound"})
#: what EC2 says (code InvalidParameterValue) about a profile, or its role, IAM has not propagated yet
_PROFILE_NOT_YET_VISIBLE = ("Invalid IAM Instance Profile", "has no associated IAM Roles")

#: attempts in all (the first call included), and the first delay; the delay doubles after each attempt
GROUP_ATTEMPTS, GROUP_BASE_DELAY = 5, 0.5  # at most 0.5 + 1 + 2 + 4 = 7.5 s of waiting
PROFILE_ATTEMPTS, PROFILE_BASE_DELAY = 5, 1.0  # at most 1 + 2 + 4 + 8 = 15 s (IAM takes seconds)


def group_not_yet_visible(exc: ClientError) -> bool:
    return error_code(exc) in GROUP_NOT_YET_VISIBLE


def profile_not_yet_visible(exc: ClientError) -> bool:
    message = str(exc.response.get("Error", {}).get("Message", ""))
    return error_code(exc) == "InvalidParameterValue" and any(m in message for m in _PROFILE_NOT_YET_VISIBLE)


def eventually(
    call: Callable[[], T],
    *,
    retryable: Callable[[ClientError], bool],
    what: str,
    attempts: int = GROUP_ATTEMPTS,
    base_delay: float = GROUP_BASE_DELAY,
    sleep: Sleep = time.sleep,
) -> T:
    """``call()``, retried while it fails with an error ``retryable`` accepts, ``attempts`` times in all.

    Each retry is logged (the error code, the attempt, the delay). Any other error, and the retryable one
    after the last attempt, is raised.
    """
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except ClientError as exc:
            if attempt == attempts or not retryable(exc):
                if attempt > 1:
                    log(logging.ERROR, "giving up", what=what, error_code=error_code(exc), attempts=attempt)
                raise
            delay = base_delay * 2 ** (attempt - 1)
            log(
                logging.WARNING,
                "not visible yet (eventual consistency); retrying",
                what=what,
                error_code=error_code(exc),
                attempt=attempt,
                attempts=attempts,
                delay_seconds=delay,
            )
            sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover
