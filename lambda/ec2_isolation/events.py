"""Parsing and validation of the events that trigger an isolation.

Three triggers, one isolation path:

* ``aws.tag`` "Tag Change on Resource": an analyst sets the isolation tag (isolate or release);
* ``aws.guardduty`` "GuardDuty Finding" (optional): a finding about an instance, at or above the
  configured severity and of a configured type, isolates that instance;
* ``aws.securityhub`` "Security Hub Findings - Custom Action" (optional): an analyst sends findings to
  the module's custom action; every EC2 instance among their resources is isolated, every other resource
  is reported as skipped.

The finding triggers only ever isolate (a release is always an analyst's tag). Every event must come
from an account and region the function serves (``check_origin``). A tag event's instances are in the
event's own account and region; a finding's instance is where the finding says (a GuardDuty or Security
Hub administrator account sees its members' findings), and that account and region must be served too.
Anything else is refused (``InvalidEvent``) before any AWS call. Every parsed event lists its
``targets``: each instance with its account and region.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from ec2_isolation.errors import InvalidEvent

if TYPE_CHECKING:
    from ec2_isolation.config import Settings

SOURCE = "aws.tag"
ISOLATE, RELEASE = "isolate", "release"
DETAIL_TYPE = "Tag Change on Resource"
GUARDDUTY_SOURCE, GUARDDUTY_DETAIL_TYPE = "aws.guardduty", "GuardDuty Finding"
SECURITY_HUB_SOURCE, SECURITY_HUB_DETAIL_TYPE = "aws.securityhub", "Security Hub Findings - Custom Action"
DETAIL_TYPES = {
    SOURCE: DETAIL_TYPE,
    GUARDDUTY_SOURCE: GUARDDUTY_DETAIL_TYPE,
    SECURITY_HUB_SOURCE: SECURITY_HUB_DETAIL_TYPE,
}
#: the trigger kinds, as the results and the record's attempts name them
TAG_TRIGGER, GUARDDUTY_TRIGGER, SECURITY_HUB_TRIGGER = "tag", "guardduty", "securityhub"
#: the reconciler: a sweep, or an API call that can undo an isolation (docs/reconciler.md)
RECONCILE_TRIGGER = "reconcile"
#: the ASFF resource type of an EC2 instance (its resource Id is the instance ARN)
ASFF_INSTANCE = "AwsEc2Instance"
_INSTANCE_ID = re.compile(r"^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$", re.ASCII)
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


class Target(NamedTuple):
    """An instance an event names, with the account and region it is in."""

    account: str
    region: str
    instance_id: str


class _InOneAccountAndRegion:
    """An event whose instances are all in one account and region (a tag event's: the event's own; a
    GuardDuty finding's: the finding's), each with the event's one trigger, and nothing skipped."""

    account: str
    region: str
    instance_ids: tuple[str, ...]

    @property
    def trigger(self) -> dict[str, Any]:
        raise NotImplementedError

    @property
    def targets(self) -> tuple[Target, ...]:
        return tuple(Target(self.account, self.region, instance_id) for instance_id in self.instance_ids)

    def trigger_for(self, target: Target) -> dict[str, Any]:
        return self.trigger

    @property
    def skipped(self) -> tuple[dict[str, str], ...]:
        return ()


@dataclass(frozen=True)
class TagChangeEvent(_InOneAccountAndRegion):
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

    def decide(self, settings: Settings) -> tuple[str | None, str]:
        return self.requested_action(
            settings.isolation_tag_key, settings.isolation_tag_value, settings.release_tag_value
        )

    @property
    def trigger(self) -> dict[str, Any]:
        return {"type": TAG_TRIGGER}


@dataclass(frozen=True)
class GuardDutyFindingEvent(_InOneAccountAndRegion):
    """A GuardDuty finding: about one instance (``instance_ids`` is empty when it is about something
    else), with its type and severity for the handler's re-check of the rule's filter."""

    event_id: str
    finding_id: str
    finding_type: str
    severity: float
    resource_type: str
    instance_ids: tuple[str, ...]
    #: the finding's account and region (``detail.accountId``, ``detail.region``), where its instance is:
    #: the function's own, or a member's seen by a GuardDuty administrator account (when served)
    account: str
    region: str

    def decide(self, settings: Settings) -> tuple[str | None, str]:
        if not settings.guardduty_trigger:
            return None, "the GuardDuty trigger is not enabled"
        if not self.instance_ids:
            return None, f"finding {self.finding_id} is about a {self.resource_type}, not an EC2 instance"
        if self.severity < settings.guardduty_minimum_severity:
            return None, (
                f"finding {self.finding_id} has severity {self.severity}, below the minimum "
                f"{settings.guardduty_minimum_severity}"
            )
        if settings.guardduty_finding_types and self.finding_type not in settings.guardduty_finding_types:
            return None, f"finding type {self.finding_type!r} is not among the configured finding types"
        return ISOLATE, f"GuardDuty finding {self.finding_id} ({self.finding_type})"

    @property
    def trigger(self) -> dict[str, Any]:
        return {
            "type": GUARDDUTY_TRIGGER,
            "finding_id": self.finding_id,
            "finding_type": self.finding_type,
            # a string: the record table (DynamoDB) takes no float
            "severity": str(self.severity),
        }


@dataclass(frozen=True)
class SecurityHubActionEvent:
    """Findings an analyst sent to the custom action: the EC2 instances among their resources (each with
    its account and region, from its ARN, and the findings that name it) and every other resource,
    reported as skipped."""

    event_id: str
    action_arns: tuple[str, ...]
    action_name: str
    finding_ids: tuple[str, ...]
    instance_findings: Mapping[Target, tuple[str, ...]]
    skipped: tuple[dict[str, str], ...]
    #: the event's account and region (the Security Hub account's); each instance's are in its target
    account: str
    region: str

    @property
    def targets(self) -> tuple[Target, ...]:
        return tuple(self.instance_findings)

    @property
    def instance_ids(self) -> tuple[str, ...]:
        return tuple(target.instance_id for target in self.instance_findings)

    def decide(self, settings: Settings) -> tuple[str | None, str]:
        if not settings.security_hub_action_arn:
            return None, "the Security Hub custom action trigger is not enabled"
        if settings.security_hub_action_arn not in self.action_arns:
            return None, f"the event is not from the custom action {settings.security_hub_action_arn}"
        if not self.instance_findings:
            return None, "none of the findings is about an EC2 instance"
        return ISOLATE, f"Security Hub custom action {self.action_name!r}"

    @property
    def trigger(self) -> dict[str, Any]:
        return {
            "type": SECURITY_HUB_TRIGGER,
            "action": self.action_name,
            "finding_ids": list(self.finding_ids),
        }

    def trigger_for(self, target: Target) -> dict[str, Any]:
        return {
            "type": SECURITY_HUB_TRIGGER,
            "action": self.action_name,
            "finding_ids": list(self.instance_findings.get(target, ())),
        }


ParsedEvent = TagChangeEvent | GuardDutyFindingEvent | SecurityHubActionEvent


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


# ---- cross-account and cross-region ---------------------------------------------------------


def serves(
    account: str,
    region: str,
    function: FunctionIdentity,
    *,
    member_account_ids: Collection[str] = (),
    organization_id: str = "",
) -> bool:
    """Whether this function serves ``account`` in ``region``.

    Served: the function's own account and region; any region of an account of ``member_account_ids``
    (the function's own account included, when listed); and, when ``organization_id`` is set and
    ``member_account_ids`` is empty, any account and region: the central bus policy admits only the
    organization's accounts, so that policy is the trust boundary (an event put on the bus by another
    account of the organization is served; so is a finding the organization's administrator account
    sees).
    """
    if (account, region) == (function.account, function.region):
        return True
    return bool(
        (account in member_account_ids or (organization_id and not member_account_ids))
        and _ACCOUNT.fullmatch(account)
        and _REGION.fullmatch(region)
    )


def _served_description(function: FunctionIdentity, member_account_ids: Collection[str]) -> str:
    served = f"{function.account} in {function.region}"
    if member_account_ids:
        served += f" and accounts {', '.join(sorted(member_account_ids))} in any region"
    return served


def check_origin(
    account: str,
    region: str,
    function: FunctionIdentity,
    *,
    member_account_ids: Collection[str] = (),
    organization_id: str = "",
) -> None:
    """Refuse an event of an account and region this function does not serve (see ``serves``)."""
    if not serves(
        account, region, function, member_account_ids=member_account_ids, organization_id=organization_id
    ):
        raise InvalidEvent(
            f"event is from account {account} in {region}; this function serves "
            f"{_served_description(function, member_account_ids)}"
        )


# ---------------------------------------------------------------------------------------------------------


def parse_event(
    event: Any,
    function: FunctionIdentity,
    *,
    member_account_ids: Collection[str] = (),
    organization_id: str = "",
) -> ParsedEvent:
    """Validate ``event`` and return the instances it names; raise ``InvalidEvent`` on anything else.

    The event's account and region must be served (``check_origin``). A tag event's instances must be of
    the event's own account and region; a finding's instance may be in another account and region (an
    administrator account's member), which must be served too. Every instance is in the function's
    partition."""
    if not isinstance(event, dict):
        raise InvalidEvent(f"event must be a JSON object, not {type(event).__name__}")
    event_id = _field(event, "id", str)
    source = _field(event, "source", str)
    if source not in DETAIL_TYPES:
        raise InvalidEvent(
            f"event source is {source!r}, expected one of {', '.join(map(repr, DETAIL_TYPES))}"
        )
    if _field(event, "detail-type", str) != DETAIL_TYPES[source]:
        raise InvalidEvent(f"detail-type is {event['detail-type']!r}, expected {DETAIL_TYPES[source]!r}")
    account = _field(event, "account", str)
    region = _field(event, "region", str)
    check_origin(
        account, region, function, member_account_ids=member_account_ids, organization_id=organization_id
    )
    detail = _field(event, "detail", dict)
    scope = _Scope(function, frozenset(member_account_ids), organization_id)
    if source == GUARDDUTY_SOURCE:
        return _guardduty_finding(event_id, detail, scope)
    if source == SECURITY_HUB_SOURCE:
        return _security_hub_action(event_id, event, detail, scope, account=account, region=region)
    return _tag_change(event_id, event, detail, function, account=account, region=region)


@dataclass(frozen=True)
class _Scope:
    """What the function serves: where a finding's instance may be."""

    function: FunctionIdentity
    member_account_ids: frozenset[str]
    organization_id: str

    def serves(self, account: str, region: str) -> bool:
        return serves(
            account,
            region,
            self.function,
            member_account_ids=self.member_account_ids,
            organization_id=self.organization_id,
        )

    @property
    def description(self) -> str:
        return _served_description(self.function, self.member_account_ids)


def _instance_arn_id(
    arn: str, function: FunctionIdentity, *, account: str | None = None, region: str | None = None
) -> str:
    """The instance id of an instance ARN of the function's partition, in ``account`` and ``region`` (the
    event's; by default the function's own)."""
    account, region = account or function.account, region or function.region
    match = _INSTANCE_ARN.fullmatch(arn)
    if not match:
        raise InvalidEvent(f"resource {arn!r} is not an EC2 instance ARN")
    where = (match["partition"], match["region"], match["account"])
    if where != (function.partition, region, account):
        raise InvalidEvent(
            f"resource {arn} is outside this function's partition, account and region "
            f"(partition {function.partition}, the event's account {account} in {region})"
        )
    return match["instance_id"]


def _served_instance(arn: str, scope: _Scope) -> Target:
    """The instance of an instance ARN of the function's partition, in an account and region the function
    serves (a finding's resource: its ARN says where it is)."""
    match = _INSTANCE_ARN.fullmatch(arn)
    if not match:
        raise InvalidEvent(f"resource {arn!r} is not an EC2 instance ARN")
    if match["partition"] != scope.function.partition:
        raise InvalidEvent(
            f"resource {arn} is outside this function's partition ({scope.function.partition})"
        )
    if not scope.serves(match["account"], match["region"]):
        raise InvalidEvent(
            f"resource {arn} is outside this function's accounts and regions: it is in account "
            f"{match['account']} in {match['region']}; this function serves {scope.description}"
        )
    return Target(match["account"], match["region"], match["instance_id"])


def _tag_change(
    event_id: str,
    event: dict[str, Any],
    detail: dict[str, Any],
    function: FunctionIdentity,
    *,
    account: str,
    region: str,
) -> TagChangeEvent:
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
        instance_id = _instance_arn_id(arn, function, account=account, region=region)
        if instance_id not in instance_ids:
            instance_ids.append(instance_id)
    return TagChangeEvent(
        event_id=event_id,
        account=account,
        region=region,
        instance_ids=tuple(instance_ids),
        changed_tag_keys=changed,
        tags=dict(tags),
    )


def _guardduty_finding(event_id: str, detail: dict[str, Any], scope: _Scope) -> GuardDutyFindingEvent:
    """A "GuardDuty Finding" event: the finding (camelCase, as EventBridge delivers it) is the detail.

    The event is the bus's (checked by ``check_origin``); the finding's account and region
    (``detail.accountId``, ``detail.region``) are where its instance is: a GuardDuty administrator
    account's bus also carries its members' findings, served when the member is (``serves``)."""
    finding_id = _field(detail, "id", str, "detail")
    finding_type = _field(detail, "type", str, "detail")
    if "severity" not in detail:
        raise InvalidEvent("detail has no 'severity'")
    severity = detail["severity"]
    if isinstance(severity, bool) or not isinstance(severity, int | float) or not math.isfinite(severity):
        raise InvalidEvent(f"detail.severity must be a number, not {severity!r}")
    account = _field(detail, "accountId", str, "detail")
    region = _field(detail, "region", str, "detail")
    if not scope.serves(account, region):
        raise InvalidEvent(
            f"finding {finding_id} is about account {account} in {region}; this function serves "
            f"{scope.description}"
        )
    resource = _field(detail, "resource", dict, "detail")
    resource_type = _field(resource, "resourceType", str, "detail.resource")
    instance_ids: tuple[str, ...] = ()
    if resource_type == "Instance":
        details = _field(resource, "instanceDetails", dict, "detail.resource")
        instance_id = _field(details, "instanceId", str, "detail.resource.instanceDetails")
        if not _INSTANCE_ID.fullmatch(instance_id):
            raise InvalidEvent(
                f"detail.resource.instanceDetails.instanceId {instance_id!r} is not an instance id"
            )
        instance_ids = (instance_id,)
    return GuardDutyFindingEvent(
        account=account,
        region=region,
        event_id=event_id,
        finding_id=finding_id,
        finding_type=finding_type,
        severity=float(severity),
        resource_type=resource_type,
        instance_ids=instance_ids,
    )


def _security_hub_action(
    event_id: str,
    event: dict[str, Any],
    detail: dict[str, Any],
    scope: _Scope,
    *,
    account: str,
    region: str,
) -> SecurityHubActionEvent:
    """A "Security Hub Findings - Custom Action" event: ASFF findings, each with its resources.

    Each instance is in the account and region of its ARN (a Security Hub administrator's findings may
    be about its members' instances, of several accounts and regions): each must be served, else the
    whole event is refused (nothing is silently dropped)."""
    action_arns = _string_list(_field(event, "resources", list), "resources")
    action_name = _field(detail, "actionName", str, "detail")
    findings = _field(detail, "findings", list, "detail")
    if not findings:
        raise InvalidEvent("detail.findings is empty")
    finding_ids: list[str] = []
    by_instance: dict[Target, list[str]] = {}
    skipped: list[dict[str, str]] = []
    for index, finding in enumerate(findings):
        where = f"detail.findings[{index}]"
        if not isinstance(finding, dict):
            raise InvalidEvent(f"{where} must be a dict, not {type(finding).__name__}")
        finding_id = _field(finding, "Id", str, where)
        finding_ids.append(finding_id)
        for number, resource in enumerate(_field(finding, "Resources", list, where)):
            if not isinstance(resource, dict):
                raise InvalidEvent(f"{where}.Resources[{number}] must be a dict")
            kind = _field(resource, "Type", str, f"{where}.Resources[{number}]")
            resource_id = _field(resource, "Id", str, f"{where}.Resources[{number}]")
            if kind != ASFF_INSTANCE:
                skipped.append(
                    {
                        "finding_id": finding_id,
                        "resource_type": kind,
                        "resource_id": resource_id,
                        "reason": "not an EC2 instance",
                    }
                )
                continue
            ids = by_instance.setdefault(_served_instance(resource_id, scope), [])
            if finding_id not in ids:
                ids.append(finding_id)
    return SecurityHubActionEvent(
        account=account,
        region=region,
        event_id=event_id,
        action_arns=action_arns,
        action_name=action_name,
        finding_ids=tuple(finding_ids),
        instance_findings={target: tuple(ids) for target, ids in by_instance.items()},
        skipped=tuple(skipped),
    )
