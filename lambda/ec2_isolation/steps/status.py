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
from ec2_isolation.steps.dryrun import maybe

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

ISOLATED = "Isolated"
RELEASED = "Released"
#: status tags that describe one isolation: removed at release, so that a later isolation starts afresh
ISOLATION_TAG_SUFFIXES = ("IsolatedAt", "EventId", "IsolationGroup", "OriginalInstanceProfile")
#: status tags that describe a release: removed when the instance is isolated again
RELEASE_TAG_SUFFIXES = ("ReleasedAt", "ReleaseEventId")


def status_tags(settings: Settings, event_id: str, group_id: str, now: datetime) -> dict[str, str]:
    prefix = settings.status_tag_prefix
    return {
        f"{prefix}Status": ISOLATED,
        f"{prefix}IsolatedAt": now.isoformat(timespec="seconds"),
        f"{prefix}EventId": event_id,
        f"{prefix}IsolationGroup": group_id,
    }


@requires("ec2:CreateTags", "ec2:DeleteTags")
def mark_isolated(
    ec2: EC2Client,
    instance_id: str,
    current_tags: Mapping[str, str],
    settings: Settings,
    *,
    event_id: str,
    group_id: str,
    now: datetime,
    dry_run: bool = False,
) -> bool:
    """Write the status tags unless the instance already says it is isolated. True when written."""
    if current_tags.get(settings.status_tag) == ISOLATED:
        return False
    stale = [settings.tag(s) for s in RELEASE_TAG_SUFFIXES if settings.tag(s) in current_tags]
    if stale:
        maybe(dry_run, ec2.delete_tags, Resources=[instance_id], Tags=[{"Key": k} for k in stale])
    tags = status_tags(settings, event_id, group_id, now)
    assert settings.isolation_tag_key not in tags, "status tags must not rewrite the trigger tag"
    maybe(
        dry_run,
        ec2.create_tags,
        Resources=[instance_id],
        Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
    )
    log(logging.INFO, "tagged instance as isolated", tags=tags)
    return True
