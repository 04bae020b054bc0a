"""The "AWS API Call via CloudTrail" events of the calls that can undo an isolation, and what they touch.

The rule (modules/isolation-target's ``api_call_event_pattern``) matches the successful calls of these
actions by anyone but the function's own role and the executor roles; the handler checks both again (a
pattern cannot name the executor roles of accounts it does not know). What a call touched is read from
its ``requestParameters`` and ``responseElements`` by the form of the ids they hold, whatever the exact
nesting of each action (``AssociateIamInstanceProfileRequest.InstanceId``, ``instanceIds``,
``targets[].id``, ...): instance ids, ENI ids, instance profile association ids, and, for the two
``AuthorizeSecurityGroup*`` calls, security group ids.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ec2_isolation.errors import InvalidEvent

API_CALL_DETAIL_TYPE = "AWS API Call via CloudTrail"
#: event source (EventBridge) -> CloudTrail eventSource -> the calls that can undo an isolation
WATCHED_CALLS: Mapping[str, tuple[str, frozenset[str]]] = {
    "aws.ec2": (
        "ec2.amazonaws.com",
        frozenset(
            {
                "ModifyNetworkInterfaceAttribute",
                "ModifyInstanceAttribute",
                "AttachNetworkInterface",
                "AssociateIamInstanceProfile",
                "ReplaceIamInstanceProfileAssociation",
                "DisassociateIamInstanceProfile",
                "AuthorizeSecurityGroupIngress",
                "AuthorizeSecurityGroupEgress",
            }
        ),
    ),
    "aws.autoscaling": ("autoscaling.amazonaws.com", frozenset({"AttachInstances", "ExitStandby"})),
    "aws.elasticloadbalancing": ("elasticloadbalancing.amazonaws.com", frozenset({"RegisterTargets"})),
}
_INSTANCE = re.compile(r"^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$")
_ENI = re.compile(r"^eni-(?:[0-9a-f]{8}|[0-9a-f]{17})$")
_ASSOCIATION = re.compile(r"^iip-assoc-[0-9a-f]{8,17}$")
_GROUP = re.compile(r"^sg-(?:[0-9a-f]{8}|[0-9a-f]{17})$")
_ROLE_OF_SESSION = re.compile(r"^arn:(?P<partition>aws[a-z-]*):iam::(?P<account>\d{12}):role/(?P<name>.+)$")


@dataclass(frozen=True)
class ApiCall:
    """One call that can undo an isolation: who made it, and the ids it touched."""

    event_id: str
    account: str
    region: str
    event_name: str
    #: the role of the session that made the call (None: an IAM user, the root user, an AWS service)
    issuer_arn: str | None
    error_code: str | None
    instance_ids: tuple[str, ...] = ()
    interface_ids: tuple[str, ...] = ()
    association_ids: tuple[str, ...] = ()
    group_ids: tuple[str, ...] = ()
    seen_at: str = ""
    #: the caller, as CloudTrail names it (for the record's drift attempt)
    caller: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def is_api_call(event: Any) -> bool:
    return (
        isinstance(event, dict)
        and event.get("detail-type") == API_CALL_DETAIL_TYPE
        and event.get("source") in WATCHED_CALLS
    )


def _ids(value: Any, found: dict[str, list[str]]) -> None:
    """Every id in ``value`` (nested dicts and lists), by kind."""
    if isinstance(value, Mapping):
        for item in value.values():
            _ids(item, found)
    elif isinstance(value, list):
        for item in value:
            _ids(item, found)
    elif isinstance(value, str):
        for kind, pattern in (
            ("instance", _INSTANCE),
            ("eni", _ENI),
            ("association", _ASSOCIATION),
            ("group", _GROUP),
        ):
            if pattern.fullmatch(value) and value not in found[kind]:
                found[kind].append(value)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def parse_api_call(event: dict[str, Any]) -> ApiCall:
    """The call of an "AWS API Call via CloudTrail" event of one of `WATCHED_CALLS`; ``InvalidEvent``
    for anything else."""
    event_id = event.get("id")
    account, region = event.get("account"), event.get("region")
    detail = event.get("detail")
    if not isinstance(event_id, str) or not isinstance(account, str) or not isinstance(region, str):
        raise InvalidEvent("an API-call event needs a string id, account and region")
    if not isinstance(detail, dict):
        raise InvalidEvent("an API-call event needs a detail object")
    source = str(event.get("source"))
    event_source, names = WATCHED_CALLS[source]
    if detail.get("eventSource") != event_source:
        raise InvalidEvent(f"detail.eventSource is {detail.get('eventSource')!r}, expected {event_source!r}")
    name = detail.get("eventName")
    if name not in names:
        raise InvalidEvent(f"detail.eventName {name!r} is not a call this function reconciles after")
    identity = _mapping(detail.get("userIdentity"))
    issuer = _mapping(_mapping(identity.get("sessionContext")).get("sessionIssuer"))
    issuer_arn = issuer.get("arn") if issuer.get("type", "Role") == "Role" else None
    found: dict[str, list[str]] = {"instance": [], "eni": [], "association": [], "group": []}
    _ids(detail.get("requestParameters"), found)
    _ids(detail.get("responseElements"), found)
    groups = found["group"] if str(name).startswith("AuthorizeSecurityGroup") else []
    error = detail.get("errorCode")
    return ApiCall(
        event_id=event_id,
        account=account,
        region=region,
        event_name=str(name),
        issuer_arn=str(issuer_arn) if issuer_arn else None,
        error_code=str(error) if error else None,
        instance_ids=tuple(found["instance"]),
        interface_ids=tuple(found["eni"]),
        association_ids=tuple(found["association"]),
        group_ids=tuple(groups),
        seen_at=str(detail.get("eventTime") or event.get("time") or ""),
        caller=str(identity.get("arn") or identity.get("type") or "unknown"),
    )


def made_by_the_function(call: ApiCall, *, function_role_arn: str, executor_role_name: str) -> bool:
    """Whether the call was made by the function's own role or by an executor role (in any account):
    such calls are the isolation's own, and reconciling after them would loop."""
    if call.issuer_arn is None:
        return False
    if function_role_arn and call.issuer_arn == function_role_arn:
        return True
    match = _ROLE_OF_SESSION.fullmatch(call.issuer_arn)
    if not match or not executor_role_name:
        return False
    # the session issuer's ARN carries the role's path: role/<path/>name
    return match["name"] == executor_role_name
