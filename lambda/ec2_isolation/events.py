"""Parsing and validation of the EventBridge "Tag Change on Resource" event."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
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
_ACCOUNT = re.compile(r"^[0-9]{12}$")
_REGION = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}$")
_FUNCTION_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):function:[^:]+(:[^:]+)?"
)


@dataclass(frozen=True)
class FunctionIdentity:
    """Where the function runs: events from anywhere else are refused (but see ``check_origin``)."""

    partition: str
    region: str
    account: str

    def instance_arn(self, instance_id: str, account: str | None = None, region: str | None = None) -> str:
        """The ARN of ``instance_id`` in ``account`` and ``region`` (by default the function's own)."""
        return (
            f"arn:{self.partition}:ec2:{region or self.region}:{account or self.account}"
            f":instance/{instance_id}"
        )

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


# ---- cross-account and cross-region (issue 7) ---------------------------------------------------------


def check_origin(
    account: str,
    region: str,
    function: FunctionIdentity,
    *,
    member_account_ids: Collection[str] = (),
    organization_id: str = "",
) -> None:
    """Refuse an event of an account and region this function does not serve.

    Served: the function's own account and region; any region of an account of ``member_account_ids``
    (the function's own account included, when listed); and, when ``organization_id`` is set and
    ``member_account_ids`` is empty, any account and region: the central bus policy admits only the
    organization's accounts, so that policy is the trust boundary (an event put on the bus by another
    account of the organization is served).
    """
    if (account, region) == (function.account, function.region):
        return
    if (account in member_account_ids or (organization_id and not member_account_ids)) and (
        _ACCOUNT.fullmatch(account) and _REGION.fullmatch(region)
    ):
        return
    served = f"{function.account} in {function.region}"
    if member_account_ids:
        served += f" and accounts {', '.join(sorted(member_account_ids))} in any region"
    raise InvalidEvent(f"event is from account {account} in {region}; this function serves {served}")


# ---------------------------------------------------------------------------------------------------------


def parse_event(
    event: Any,
    function: FunctionIdentity,
    *,
    member_account_ids: Collection[str] = (),
    organization_id: str = "",
) -> TagChangeEvent:
    """Validate ``event`` and return the instances it names; raise ``InvalidEvent`` on anything else.

    The event's account and region must be served (``check_origin``); its instances must be of the event's
    own account and region, in the function's partition."""
    if not isinstance(event, dict):
        raise InvalidEvent(f"event must be a JSON object, not {type(event).__name__}")
    event_id = _field(event, "id", str)
    if _field(event, "source", str) != SOURCE:
        raise InvalidEvent(f"event source is {event['source']!r}, expected {SOURCE!r}")
    if _field(event, "detail-type", str) != DETAIL_TYPE:
        raise InvalidEvent(f"detail-type is {event['detail-type']!r}, expected {DETAIL_TYPE!r}")
    account = _field(event, "account", str)
    region = _field(event, "region", str)
    check_origin(
        account, region, function, member_account_ids=member_account_ids, organization_id=organization_id
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
        if where != (function.partition, region, account):
            raise InvalidEvent(
                f"resource {arn} is outside this function's partition, account and region "
                f"(partition {function.partition}, the event's account {account} in {region})"
            )
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
