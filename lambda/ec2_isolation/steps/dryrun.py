"""Dry run: ask EC2 whether a change would be allowed, without making it (the ``DryRun`` flag)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from ec2_isolation.errors import IsolationError, error_code


def check(call: Callable[..., Any], **params: Any) -> None:
    """Call ``call`` with ``DryRun=True``: EC2 answers ``DryRunOperation`` when the request would have
    succeeded, and the real error (``UnauthorizedOperation``, a missing resource...) when it would not;
    that error is raised, so that a dry run fails where the real run would."""
    try:
        call(DryRun=True, **params)
    except ClientError as exc:
        if error_code(exc) == "DryRunOperation":
            return
        raise
    raise IsolationError(f"EC2 did not treat {getattr(call, '__name__', call)} as a dry run")


def maybe(dry_run: bool, call: Callable[..., Any], **params: Any) -> Any:
    """Make the call, or (dry run) only check that it would be allowed."""
    if dry_run:
        check(call, **params)
        return None
    return call(**params)
