"""Status tags on the instance. They live under the isolation key's prefix and never rewrite the
trigger tag itself, so writing them cannot match the rule again (no event loop)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from ec2_isolation.config import Settings
from ec2_isolation.log import log
from ec2_isolation.steps import requires

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

ISOLATED = "Isolated"


def status_tags(settings: Settings, event_id: str, group_id: str, now: datetime) -> dict[str, str]:
    prefix = settings.status_tag_prefix
    return {
        f"{prefix}Status": ISOLATED,
        f"{prefix}IsolatedAt": now.isoformat(timespec="seconds"),
        f"{prefix}EventId": event_id,
        f"{prefix}IsolationGroup": group_id,
    }


@requires("ec2:CreateTags")
def mark_isolated(
    ec2: EC2Client,
    instance_id: str,
    current_tags: Mapping[str, str],
    settings: Settings,
    *,
    event_id: str,
    group_id: str,
    now: datetime,
) -> bool:
    """Write the status tags unless the instance already says it is isolated. True when written."""
    if current_tags.get(settings.status_tag) == ISOLATED:
        return False
    tags = status_tags(settings, event_id, group_id, now)
    assert settings.isolation_tag_key not in tags, "status tags must not rewrite the trigger tag"
    ec2.create_tags(Resources=[instance_id], Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
    log(logging.INFO, "tagged instance as isolated", tags=tags)
    return True
