"""Settings read from the function's environment (set by the Terraform module)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from ec2_isolation.errors import ConfigurationError

_PROFILE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:instance-profile/[\w+=,.@/-]+$")
_LOG_LEVELS = frozenset({"DEBUG", "INFO", "WARNING", "ERROR"})

REQUIRED = (
    "ISOLATION_TAG_KEY",
    "ISOLATION_TAG_VALUE",
    "STATUS_TAG_PREFIX",
    "ISOLATION_SECURITY_GROUP_NAME",
    "ISOLATION_INSTANCE_PROFILE_ARN",
    "MANAGED_TAG_KEY",
    "MANAGED_TAG_VALUE",
)


@dataclass(frozen=True)
class Settings:
    """Everything the handler needs to know about its deployment."""

    isolation_tag_key: str
    isolation_tag_value: str
    status_tag_prefix: str
    isolation_security_group_name: str
    isolation_instance_profile_arn: str
    managed_tag_key: str
    managed_tag_value: str
    resource_tags: Mapping[str, str] = field(default_factory=dict)
    log_level: str = "INFO"

    @property
    def status_tag(self) -> str:
        return f"{self.status_tag_prefix}Status"

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
            resource_tags=resource_tags,
            log_level=(env.get("LOG_LEVEL") or "INFO").upper(),
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        if not _PROFILE_ARN.match(self.isolation_instance_profile_arn):
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
        if self.log_level not in _LOG_LEVELS:
            raise ConfigurationError(
                f"LOG_LEVEL must be one of {sorted(_LOG_LEVELS)}, not {self.log_level!r}"
            )
