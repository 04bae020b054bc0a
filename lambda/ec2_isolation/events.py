"""Parsing and validation of the EventBridge "Tag Change on Resource" event."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ec2_isolation.errors import InvalidEvent

SOURCE = "aws.tag"
ISOLATE, RELEASE = "isolate", "release"
DETAIL_TYPE = "Tag Change on Resource"
_INSTANCE_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):ec2:(?P<region>[a-z0-9-]+):(?P<account>\d{12})"
    r":instance/(?P<instance_id>i-(?:[0-9a-f]{8}|[0-9a-f]{17}))"
)
_FUNCTION_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):function:[^:]+(:[^:]+)?"
)


@dataclass(frozen=True)
class FunctionIdentity:
    """Where the function runs: events from anywhere else are refused."""

    partition: str
    region: str
    account: str

    def instance_arn(self, instance_id: str) -> str:
        return f"arn:{self.partition}:ec2:{self.region}:{self.account}:instance/{instance_id}"

    @classmethod
    def from_function_arn(cls, arn: str) -> FunctionIdentity:
        match = _FUNCTION_ARN.fullmatch(arn or "")
        if not match:
            raise InvalidEvent(f"cannot tell this function's account and region from {arn!r}")
        return cls(match["partition"], match["region"], match["account"])


@dataclass(frozen=True)
class TagChangeEvent:
    event_id: str
    account: str
    region: str
    instance_ids: tuple[str, ...]
    changed_tag_keys: tuple[str, ...]
    tags: Mapping[str, str]

    def requested_action(self, key: str, isolate_value: str, release_value: str) -> tuple[str | None, str]:
        """What this event asks for ("isolate", "release" or None), and why (for the log line)."""
        if key not in self.changed_tag_keys:
            return None, f"tag {key!r} is not among the changed keys"
        if key not in self.tags:
            return None, f"tag {key!r} was removed"
        value = self.tags[key]
        if value == isolate_value:
            return ISOLATE, "isolation requested"
        if value == release_value:
            return RELEASE, "release requested"
        return None, f"tag {key!r} is {value!r}, neither {isolate_value!r} nor {release_value!r}"


def _field(mapping: Mapping[str, Any], name: str, kind: type, where: str = "event") -> Any:
    if name not in mapping:
        raise InvalidEvent(f"{where} has no {name!r}")
    value = mapping[name]
    if not isinstance(value, kind):
        raise InvalidEvent(f"{where}.{name} must be a {kind.__name__}, not {type(value).__name__}")
    return value


def _string_list(values: list[Any], where: str) -> tuple[str, ...]:
    if not all(isinstance(v, str) for v in values):
        raise InvalidEvent(f"{where} must be a list of strings")
    return tuple(values)


def parse_event(event: Any, function: FunctionIdentity) -> TagChangeEvent:
    """Validate ``event`` and return the instances it names; raise ``InvalidEvent`` on anything else."""
    if not isinstance(event, dict):
        raise InvalidEvent(f"event must be a JSON object, not {type(event).__name__}")
    event_id = _field(event, "id", str)
    if _field(event, "source", str) != SOURCE:
        raise InvalidEvent(f"event source is {event['source']!r}, expected {SOURCE!r}")
    if _field(event, "detail-type", str) != DETAIL_TYPE:
        raise InvalidEvent(f"detail-type is {event['detail-type']!r}, expected {DETAIL_TYPE!r}")
    account = _field(event, "account", str)
    region = _field(event, "region", str)
    if (account, region) != (function.account, function.region):
        raise InvalidEvent(
            f"event is from account {account} in {region}; this function serves "
            f"{function.account} in {function.region}"
        )
    detail = _field(event, "detail", dict)
    if _field(detail, "service", str, "detail") != "ec2":
        raise InvalidEvent(f"detail.service is {detail['service']!r}, expected 'ec2'")
    if _field(detail, "resource-type", str, "detail") != "instance":
        raise InvalidEvent(f"detail.resource-type is {detail['resource-type']!r}, expected 'instance'")
    changed = _string_list(_field(detail, "changed-tag-keys", list, "detail"), "detail.changed-tag-keys")
    tags = _field(detail, "tags", dict, "detail")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items()):
        raise InvalidEvent("detail.tags must map strings to strings")
    resources = _string_list(_field(event, "resources", list), "resources")
    if not resources:
        raise InvalidEvent("event names no resources")
    instance_ids: list[str] = []
    for arn in resources:
        match = _INSTANCE_ARN.fullmatch(arn)
        if not match:
            raise InvalidEvent(f"resource {arn!r} is not an EC2 instance ARN")
        where = (match["partition"], match["region"], match["account"])
        if where != (function.partition, function.region, function.account):
            raise InvalidEvent(f"resource {arn} is outside this function's partition, account and region")
        if match["instance_id"] not in instance_ids:
            instance_ids.append(match["instance_id"])
    return TagChangeEvent(
        event_id=event_id,
        account=account,
        region=region,
        instance_ids=tuple(instance_ids),
        changed_tag_keys=changed,
        tags=dict(tags),
    )
