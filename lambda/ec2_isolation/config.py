"""Settings read from the function's environment (set by the Terraform module)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from ec2_isolation.errors import ConfigurationError

_PROFILE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:instance-profile/[\w+=,.@/-]+$")
#: a standard (not FIFO: publishing to one needs a message group) SNS topic
_SNS_TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$")
#: the characters EventBridge accepts in an event's source
_EVENT_SOURCE = re.compile(r"^[A-Za-z0-9._/-]{1,256}$")
#: a Security Hub custom action (action target)
_ACTION_TARGET_ARN = re.compile(
    r"^arn:aws[a-z-]*:securityhub:[a-z0-9-]+:\d{12}:action/custom/[A-Za-z0-9]{1,20}$"
)
#: a 12-digit AWS account id
_ACCOUNT_ID = re.compile(r"^\d{12}$", re.ASCII)
#: an AWS Organizations id
_ORGANIZATION_ID = re.compile(r"^o-[a-z0-9]{10,32}$")
#: an IAM role name with its path, without the leading "/": ``name`` or ``path/to/name``
_ROLE_NAME = re.compile(r"^(?:[A-Za-z0-9+=,.@_-]+/)*[A-Za-z0-9+=,.@_-]{1,64}$")
#: the characters STS accepts in an external id (2 to 1224 of them)
_EXTERNAL_ID = re.compile(r"^[A-Za-z0-9+=,.@:/_-]{2,1224}$")
#: an SQS queue URL (``https://sqs.<region>.amazonaws.com/<account>/<name>``, or an endpoint's)
_QUEUE_URL = re.compile(r"^https?://[^/\s]+/\d{12}/[A-Za-z0-9_-]{1,80}$")
_RULE_ARN = re.compile(r"^arn:aws[a-z-]*:events:[a-z0-9-]+:\d{12}:rule/[\w.-]{1,64}$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")
_REGION = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}$")
#: what CloudWatch accepts as a namespace
_NAMESPACE = re.compile(r"^[A-Za-z0-9.\-_/#:]{1,255}$")
_LOG_LEVELS = frozenset({"DEBUG", "INFO", "WARNING", "ERROR"})
#: an AWS KMS key ARN
_KMS_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]{1,128}$")
#: a KMS alias name (``alias/...``; ``alias/aws/`` is AWS's own)
_KMS_ALIAS = re.compile(r"^alias/[A-Za-z0-9/_-]{1,250}$")
#: EBS snapshot lock modes (``""``: evidence snapshots are not locked)
EVIDENCE_LOCK_MODES = frozenset({"", "governance", "compliance"})
#: what EC2 accepts as a snapshot lock's duration (days) and compliance cooling-off period (hours)
MAX_LOCK_DURATION_DAYS = 36500
MAX_COOL_OFF_HOURS = 72
AUTO_SCALING_ACTIONS = frozenset({"detach", "standby", "none"})
MAX_UNTRACK_WAIT_SECONDS = 300

REQUIRED = (
    "ISOLATION_TAG_KEY",
    "ISOLATION_TAG_VALUE",
    "STATUS_TAG_PREFIX",
    "ISOLATION_SECURITY_GROUP_NAME",
    "ISOLATION_INSTANCE_PROFILE_ARN",
    "MANAGED_TAG_KEY",
    "MANAGED_TAG_VALUE",
    "RECORD_TABLE_NAME",
)


@dataclass(frozen=True)
class Settings:
    """Everything the handler needs to know about its deployment.

    The containment-depth switches default to the module's defaults, so that a function configured by
    an older module version keeps a safe behaviour.
    """

    isolation_tag_key: str
    isolation_tag_value: str
    status_tag_prefix: str
    isolation_security_group_name: str
    isolation_instance_profile_arn: str
    managed_tag_key: str
    managed_tag_value: str
    #: DynamoDB table of isolation records (prior state, lock, audit trail)
    record_table_name: str = ""
    #: the isolation tag's value that asks for a release (restore of the recorded prior state)
    release_tag_value: str = "Release"
    #: log and record what would be done; change nothing
    dry_run: bool = False
    resource_tags: Mapping[str, str] = field(default_factory=dict)
    log_level: str = "INFO"
    #: how long a record's lock protects an isolation in progress from other events
    record_lock_seconds: int = 900
    #: move ENIs through an allow-all (untracked) group first, and lower their conntrack timeouts
    untrack_connections: bool = True
    untrack_wait_seconds: int = 15
    transition_security_group_name: str = ""
    #: deny credentials delivered to the instance before its isolation, on its original role
    revoke_credentials: bool = True
    revocation_policy_prefix: str = ""
    #: termination protection, shutdown behaviour "stop", DeleteOnTermination off
    protect_from_termination: bool = True
    snapshot_volumes: bool = True
    auto_scaling_action: str = "detach"
    auto_scaling_decrement_desired_capacity: bool = False
    deregister_targets: bool = True
    disassociate_elastic_ips: bool = False
    #: SNS topic that receives a readable summary of each outcome ("" sends none)
    sns_topic_arn: str = ""
    #: source of the result events put on the default EventBridge bus ("" puts none)
    result_event_source: str = ""
    #: GuardDuty findings about an instance isolate it (the rule's filter, re-checked by the handler)
    guardduty_trigger: bool = False
    guardduty_minimum_severity: float = 7.0
    #: the finding types that isolate (empty: any type)
    guardduty_finding_types: tuple[str, ...] = ()
    #: ARN of the Security Hub custom action whose findings' instances are isolated ("" for none)
    security_hub_action_arn: str = ""
    # ---- cross-account and cross-region: the defaults serve the function's own account and
    # region only. The Terraform module sets MEMBER_ACCOUNT_IDS, ORGANIZATION_ID, EXECUTOR_ROLE_NAME and
    # EXECUTOR_EXTERNAL_ID (docs/multi-account.md, "Several accounts and regions").
    #: accounts whose events are served in any region (the function's own account may be listed, to serve
    #: its other regions)
    member_account_ids: frozenset[str] = frozenset()
    #: when set and ``member_account_ids`` is empty: every account's events are served, in any region (the
    #: central bus policy admits only this organization's accounts: that policy is the trust boundary)
    organization_id: str = ""
    #: the executor role assumed in a member account, with its path and without the leading "/":
    #: ``ec2-isolation-executor`` or ``security/ec2-isolation-executor``
    executor_role_name: str = ""
    #: the ExternalId the executor roles' trust policies require ("" sends none)
    executor_external_id: str = ""
    # ---- the reconciler (docs/reconciler.md): the defaults (a function configured by an older module
    # version) sweep nothing and ignore API-call events
    #: the queue the sweeps and their per-instance work go through ("" : no sweeps)
    reconcile_queue_url: str = ""
    #: the schedule rules of the frequent sweep and of the full check ("" : off)
    reconcile_rule_arn: str = ""
    reconcile_full_rule_arn: str = ""
    #: "AWS API Call via CloudTrail" events that can undo an isolation reconcile the instance they touch
    reconcile_on_api_calls: bool = False
    #: the regions swept in every served account (empty: the function's own region)
    reconcile_regions: tuple[str, ...] = ()
    #: the accounts swept besides the function's own (None: ``member_account_ids``)
    reconcile_account_ids: frozenset[str] | None = None
    #: the function's own role: its API calls never trigger a reconciliation
    function_role_arn: str = ""
    #: the CloudWatch namespace of the function's metrics (Embedded Metric Format log lines)
    metrics_namespace: str = "EC2Isolation"
    # ---- evidence (docs/evidence.md): the defaults (a function configured by an older module version,
    # whose role may not lock or copy) lock nothing and keep the evidence where it was taken
    #: EBS snapshot lock of every evidence snapshot: governance, compliance, or "" (no lock)
    evidence_lock_mode: str = ""
    evidence_lock_duration_days: int = 90
    #: compliance mode only: the hours during which the lock can still be changed or removed (0: none)
    evidence_lock_cool_off_hours: int = 0
    #: copy the evidence of other accounts' instances into this (the function's) account
    evidence_custody: bool = False
    #: the function's own evidence key, which encrypts the copies in custody
    evidence_custody_key_arn: str = ""
    #: the alias of each member account's evidence key (modules/member), which re-encrypts a snapshot
    #: in its own account before it is shared
    evidence_key_alias: str = ""

    def __post_init__(self) -> None:
        if not self.transition_security_group_name:
            object.__setattr__(
                self, "transition_security_group_name", f"{self.isolation_security_group_name}-untrack"
            )
        if not self.revocation_policy_prefix:
            object.__setattr__(self, "revocation_policy_prefix", f"{self.managed_tag_value}-revoke-")

    @property
    def swept_accounts(self) -> frozenset[str]:
        """The accounts swept besides the function's own."""
        if self.reconcile_account_ids is None:
            return self.member_account_ids
        return self.reconcile_account_ids

    @property
    def serves_other_accounts(self) -> bool:
        return bool(self.member_account_ids or self.organization_id)

    def isolation_profile_for(self, account: str) -> str:
        """The isolation instance profile of ``account``: the same path and name as the central one."""
        parts = self.isolation_instance_profile_arn.split(":")
        parts[4] = account
        return ":".join(parts)

    def for_account(self, account: str) -> Settings:
        """These settings as seen in ``account`` (its isolation instance profile)."""
        profile = self.isolation_profile_for(account)
        if profile == self.isolation_instance_profile_arn:
            return self
        return replace(self, isolation_instance_profile_arn=profile)

    @property
    def status_tag(self) -> str:
        return f"{self.status_tag_prefix}Status"

    def tag(self, suffix: str) -> str:
        """A tag key under the status prefix, e.g. ``SecurityIsolation:OriginalInstanceProfile``."""
        return f"{self.status_tag_prefix}{suffix}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        missing = [name for name in REQUIRED if not env.get(name)]
        if missing:
            raise ConfigurationError(f"missing environment variables: {', '.join(missing)}")
        try:
            resource_tags = json.loads(env.get("RESOURCE_TAGS") or "{}")
        except json.JSONDecodeError as exc:
            raise ConfigurationError(f"RESOURCE_TAGS is not JSON: {exc}") from exc
        if not isinstance(resource_tags, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in resource_tags.items()
        ):
            raise ConfigurationError("RESOURCE_TAGS must be a JSON object of string to string")
        settings = cls(
            isolation_tag_key=env["ISOLATION_TAG_KEY"],
            isolation_tag_value=env["ISOLATION_TAG_VALUE"],
            status_tag_prefix=env["STATUS_TAG_PREFIX"],
            isolation_security_group_name=env["ISOLATION_SECURITY_GROUP_NAME"],
            isolation_instance_profile_arn=env["ISOLATION_INSTANCE_PROFILE_ARN"],
            managed_tag_key=env["MANAGED_TAG_KEY"],
            managed_tag_value=env["MANAGED_TAG_VALUE"],
            record_table_name=env["RECORD_TABLE_NAME"],
            release_tag_value=env.get("RELEASE_TAG_VALUE") or "Release",
            dry_run=_flag(env, "DRY_RUN", default=False),
            record_lock_seconds=_integer(env, "RECORD_LOCK_SECONDS", default=900),
            resource_tags=resource_tags,
            log_level=(env.get("LOG_LEVEL") or "INFO").upper(),
            untrack_connections=_flag(env, "UNTRACK_CONNECTIONS", default=True),
            untrack_wait_seconds=_integer(env, "UNTRACK_WAIT_SECONDS", default=15),
            transition_security_group_name=env.get("TRANSITION_SECURITY_GROUP_NAME", ""),
            revoke_credentials=_flag(env, "REVOKE_CREDENTIALS", default=True),
            revocation_policy_prefix=env.get("REVOCATION_POLICY_PREFIX", ""),
            protect_from_termination=_flag(env, "PROTECT_FROM_TERMINATION", default=True),
            snapshot_volumes=_flag(env, "SNAPSHOT_VOLUMES", default=True),
            auto_scaling_action=env.get("AUTO_SCALING_ACTION") or "detach",
            auto_scaling_decrement_desired_capacity=_flag(
                env, "AUTO_SCALING_DECREMENT_DESIRED_CAPACITY", default=False
            ),
            deregister_targets=_flag(env, "DEREGISTER_TARGETS", default=True),
            disassociate_elastic_ips=_flag(env, "DISASSOCIATE_ELASTIC_IPS", default=False),
            sns_topic_arn=env.get("SNS_TOPIC_ARN", ""),
            result_event_source=env.get("RESULT_EVENT_SOURCE", ""),
            guardduty_trigger=_flag(env, "GUARDDUTY_TRIGGER", default=False),
            guardduty_minimum_severity=_number(env, "GUARDDUTY_MINIMUM_SEVERITY", default=7.0),
            guardduty_finding_types=_string_list(env, "GUARDDUTY_FINDING_TYPES"),
            security_hub_action_arn=env.get("SECURITY_HUB_ACTION_ARN", ""),
            member_account_ids=frozenset(
                account.strip() for account in env.get("MEMBER_ACCOUNT_IDS", "").split(",") if account.strip()
            ),
            organization_id=env.get("ORGANIZATION_ID", "").strip(),
            executor_role_name=env.get("EXECUTOR_ROLE_NAME", "").strip().lstrip("/"),
            executor_external_id=env.get("EXECUTOR_EXTERNAL_ID", ""),
            reconcile_queue_url=env.get("RECONCILE_QUEUE_URL", "").strip(),
            reconcile_rule_arn=env.get("RECONCILE_RULE_ARN", "").strip(),
            reconcile_full_rule_arn=env.get("RECONCILE_FULL_RULE_ARN", "").strip(),
            reconcile_on_api_calls=_flag(env, "RECONCILE_ON_API_CALLS", default=False),
            reconcile_regions=_comma_list(env, "RECONCILE_REGIONS"),
            reconcile_account_ids=(
                frozenset(_comma_list(env, "RECONCILE_ACCOUNT_IDS"))
                if "RECONCILE_ACCOUNT_IDS" in env
                else None
            ),
            function_role_arn=env.get("FUNCTION_ROLE_ARN", "").strip(),
            metrics_namespace=env.get("METRICS_NAMESPACE", "").strip() or "EC2Isolation",
            evidence_lock_mode=env.get("EVIDENCE_LOCK_MODE", "").strip().lower(),
            evidence_lock_duration_days=_integer(env, "EVIDENCE_LOCK_DURATION_DAYS", default=90),
            evidence_lock_cool_off_hours=_integer(env, "EVIDENCE_LOCK_COOL_OFF_HOURS", default=0),
            evidence_custody=_flag(env, "EVIDENCE_CUSTODY", default=False),
            evidence_custody_key_arn=env.get("EVIDENCE_CUSTODY_KEY_ARN", "").strip(),
            evidence_key_alias=env.get("EVIDENCE_KEY_ALIAS", "").strip(),
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        if not _PROFILE_ARN.fullmatch(self.isolation_instance_profile_arn):
            raise ConfigurationError(
                f"ISOLATION_INSTANCE_PROFILE_ARN is not an instance profile ARN: "
                f"{self.isolation_instance_profile_arn!r}"
            )
        if self.status_tag_prefix == self.isolation_tag_key or not self.status_tag_prefix.startswith(
            self.isolation_tag_key
        ):
            # Status tags must never rewrite the trigger tag (that would loop through EventBridge).
            raise ConfigurationError(
                "STATUS_TAG_PREFIX must extend ISOLATION_TAG_KEY "
                f"({self.status_tag_prefix!r} vs {self.isolation_tag_key!r})"
            )
        if self.release_tag_value == self.isolation_tag_value:
            raise ConfigurationError(
                "RELEASE_TAG_VALUE and ISOLATION_TAG_VALUE must differ "
                f"(both are {self.isolation_tag_value!r})"
            )
        if self.log_level not in _LOG_LEVELS:
            raise ConfigurationError(
                f"LOG_LEVEL must be one of {sorted(_LOG_LEVELS)}, not {self.log_level!r}"
            )
        if self.auto_scaling_action not in AUTO_SCALING_ACTIONS:
            raise ConfigurationError(
                f"AUTO_SCALING_ACTION must be one of {sorted(AUTO_SCALING_ACTIONS)}, "
                f"not {self.auto_scaling_action!r}"
            )
        if not 0 <= self.untrack_wait_seconds <= MAX_UNTRACK_WAIT_SECONDS:
            raise ConfigurationError(
                f"UNTRACK_WAIT_SECONDS must be 0 to {MAX_UNTRACK_WAIT_SECONDS}, "
                f"not {self.untrack_wait_seconds}"
            )
        if self.transition_security_group_name == self.isolation_security_group_name:
            raise ConfigurationError("the transition and isolation security groups need different names")
        if self.sns_topic_arn and not _SNS_TOPIC_ARN.fullmatch(self.sns_topic_arn):
            raise ConfigurationError(
                f"SNS_TOPIC_ARN is not the ARN of a standard SNS topic: {self.sns_topic_arn!r}"
            )
        if not 1.0 <= self.guardduty_minimum_severity <= 10.0:
            raise ConfigurationError(
                f"GUARDDUTY_MINIMUM_SEVERITY must be 1.0 to 10.0, not {self.guardduty_minimum_severity}"
            )
        if self.security_hub_action_arn and not _ACTION_TARGET_ARN.fullmatch(self.security_hub_action_arn):
            raise ConfigurationError(
                f"SECURITY_HUB_ACTION_ARN is not a custom action ARN: {self.security_hub_action_arn!r}"
            )
        if self.result_event_source and (
            not _EVENT_SOURCE.fullmatch(self.result_event_source)
            or self.result_event_source.lower().startswith("aws.")
        ):
            raise ConfigurationError(
                "RESULT_EVENT_SOURCE must be 1 to 256 characters of letters, digits and . _ / - and must "
                f'not start with "aws." (reserved for AWS services), not {self.result_event_source!r}'
            )
        self._validate_accounts()
        self._validate_reconciler()
        self._validate_evidence()

    def _validate_evidence(self) -> None:
        if self.evidence_lock_mode not in EVIDENCE_LOCK_MODES:
            raise ConfigurationError(
                f"EVIDENCE_LOCK_MODE must be governance, compliance or empty, not {self.evidence_lock_mode!r}"
            )
        if not 1 <= self.evidence_lock_duration_days <= MAX_LOCK_DURATION_DAYS:
            raise ConfigurationError(
                f"EVIDENCE_LOCK_DURATION_DAYS must be 1 to {MAX_LOCK_DURATION_DAYS}, "
                f"not {self.evidence_lock_duration_days}"
            )
        if not 0 <= self.evidence_lock_cool_off_hours <= MAX_COOL_OFF_HOURS:
            raise ConfigurationError(
                f"EVIDENCE_LOCK_COOL_OFF_HOURS must be 0 to {MAX_COOL_OFF_HOURS}, "
                f"not {self.evidence_lock_cool_off_hours}"
            )
        if self.evidence_lock_cool_off_hours and self.evidence_lock_mode != "compliance":
            raise ConfigurationError("EVIDENCE_LOCK_COOL_OFF_HOURS applies to the compliance lock mode only")
        if not self.evidence_custody:
            return
        if not _KMS_KEY_ARN.fullmatch(self.evidence_custody_key_arn):
            raise ConfigurationError(
                "EVIDENCE_CUSTODY needs EVIDENCE_CUSTODY_KEY_ARN, the ARN of the evidence key that encrypts "
                f"the copies in custody, not {self.evidence_custody_key_arn!r}"
            )
        alias = self.evidence_key_alias
        if not _KMS_ALIAS.fullmatch(alias) or alias.startswith("alias/aws/"):
            raise ConfigurationError(
                "EVIDENCE_CUSTODY needs EVIDENCE_KEY_ALIAS, the alias of the member accounts' evidence keys "
                f"(alias/<name>-evidence), not {self.evidence_key_alias!r}"
            )
        if not self.serves_other_accounts:
            raise ConfigurationError(
                "EVIDENCE_CUSTODY copies other accounts' evidence into this one, but the function serves no "
                "other account (MEMBER_ACCOUNT_IDS or ORGANIZATION_ID)"
            )

    def _validate_reconciler(self) -> None:
        if self.reconcile_queue_url and not _QUEUE_URL.fullmatch(self.reconcile_queue_url):
            raise ConfigurationError(
                f"RECONCILE_QUEUE_URL is not an SQS queue URL: {self.reconcile_queue_url!r}"
            )
        for name, arn in (
            ("RECONCILE_RULE_ARN", self.reconcile_rule_arn),
            ("RECONCILE_FULL_RULE_ARN", self.reconcile_full_rule_arn),
        ):
            if arn and not _RULE_ARN.fullmatch(arn):
                raise ConfigurationError(f"{name} is not an EventBridge rule ARN: {arn!r}")
            if arn and not self.reconcile_queue_url:
                raise ConfigurationError(f"{name} is set, but RECONCILE_QUEUE_URL (where sweeps go) is not")
        invalid = sorted(r for r in self.reconcile_regions if not _REGION.fullmatch(r))
        if invalid:
            raise ConfigurationError(f"RECONCILE_REGIONS must be region names, not {invalid}")
        accounts = sorted(a for a in self.swept_accounts if not _ACCOUNT_ID.fullmatch(a))
        if accounts:
            raise ConfigurationError(f"RECONCILE_ACCOUNT_IDS must be 12-digit account ids, not {accounts}")
        if self.reconcile_account_ids and not self.executor_role_name:
            raise ConfigurationError("EXECUTOR_ROLE_NAME is needed to sweep RECONCILE_ACCOUNT_IDS accounts")
        if self.function_role_arn and not _ROLE_ARN.fullmatch(self.function_role_arn):
            raise ConfigurationError(f"FUNCTION_ROLE_ARN is not an IAM role ARN: {self.function_role_arn!r}")
        if not _NAMESPACE.fullmatch(self.metrics_namespace) or self.metrics_namespace.startswith("AWS/"):
            raise ConfigurationError(
                "METRICS_NAMESPACE must be 1 to 255 characters of letters, digits and . - _ / # : and must "
                f'not start with "AWS/", not {self.metrics_namespace!r}'
            )

    def _validate_accounts(self) -> None:
        invalid = sorted(a for a in self.member_account_ids if not _ACCOUNT_ID.fullmatch(a))
        if invalid:
            raise ConfigurationError(f"MEMBER_ACCOUNT_IDS must be 12-digit account ids, not {invalid}")
        if self.organization_id and not _ORGANIZATION_ID.fullmatch(self.organization_id):
            raise ConfigurationError(
                f"ORGANIZATION_ID is not an organization id (o-...): {self.organization_id!r}"
            )
        if self.executor_role_name and not _ROLE_NAME.fullmatch(self.executor_role_name):
            raise ConfigurationError(
                "EXECUTOR_ROLE_NAME must be a role name, optionally after its path without the leading "
                f'"/" (e.g. "security/ec2-isolation-executor"), not {self.executor_role_name!r}'
            )
        if self.serves_other_accounts and not self.executor_role_name:
            raise ConfigurationError(
                "EXECUTOR_ROLE_NAME is needed to act in MEMBER_ACCOUNT_IDS or ORGANIZATION_ID accounts"
            )
        if self.executor_external_id and not _EXTERNAL_ID.fullmatch(self.executor_external_id):
            raise ConfigurationError(
                "EXECUTOR_EXTERNAL_ID must be 2 to 1224 characters of letters, digits and + = , . @ : / _ -"
            )


def _number(env: Mapping[str, str], name: str, *, default: float) -> float:
    value = env.get(name)
    if value is None or value == "":
        return default
    try:
        return float(value)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number, not {value!r}") from None


def _string_list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    try:
        values = json.loads(env.get(name) or "[]")
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"{name} is not JSON: {exc}") from exc
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ConfigurationError(f"{name} must be a JSON list of strings")
    return tuple(values)


def _comma_list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in env.get(name, "").split(",") if item.strip())


def _flag(env: Mapping[str, str], name: str, *, default: bool) -> bool:
    value = env.get(name)
    if value is None or value == "":
        return default
    if value.lower() not in ("true", "false"):
        raise ConfigurationError(f"{name} must be true or false, not {value!r}")
    return value.lower() == "true"


def _integer(env: Mapping[str, str], name: str, *, default: int) -> int:
    value = env.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number, not {value!r}") from None
