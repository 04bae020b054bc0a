"""Read a `terraform show -json` plan of a configuration that calls this module as `ec2_isolation`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

MODULE = "module.ec2_isolation"
MODULE_CALL = "ec2_isolation"


@dataclass(frozen=True)
class Plan:
    """A planned JSON document, plus the STS actions the providers called while planning (and the roles
    they assumed)."""

    data: dict[str, Any]
    sts_actions: list[str] = field(default_factory=list)
    assumed_roles: tuple[str, ...] = ()

    @property
    def resource_changes(self) -> dict[str, dict[str, Any]]:
        """Resource changes by address, e.g. ``module.ec2_isolation.aws_lambda_function.this``."""
        return {change["address"]: change for change in self.data["resource_changes"]}

    def change(self, address: str) -> dict[str, Any]:
        """The change of the module's resource ``address`` (e.g. ``aws_lambda_function.this``)."""
        changes = self.resource_changes
        full = f"{MODULE}.{address}"
        assert full in changes, f"{full} is not planned; planned: {sorted(changes)}"
        return changes[full]

    def after(self, address: str) -> dict[str, Any]:
        """Planned values of the module's resource ``address``."""
        after: dict[str, Any] = self.change(address)["change"]["after"]
        return after

    def after_unknown(self, address: str) -> dict[str, Any]:
        """Which planned values of the module's resource ``address`` are known only after apply."""
        unknown: dict[str, Any] = self.change(address)["change"]["after_unknown"]
        return unknown

    def policy(self, address: str, attribute: str = "policy") -> dict[str, Any]:
        """A JSON policy attribute of the module's resource ``address``, parsed."""
        policy: dict[str, Any] = json.loads(self.after(address)[attribute])
        return policy

    @property
    def module_configuration(self) -> dict[str, Any]:
        """The ``configuration`` section of the module call."""
        calls: dict[str, dict[str, Any]] = self.data["configuration"]["root_module"]["module_calls"]
        module: dict[str, Any] = calls[MODULE_CALL]["module"]
        return module

    def configuration(self, address: str) -> dict[str, Any]:
        """The configuration (expressions, depends_on...) of the module's resource ``address``."""
        resources: dict[str, dict[str, Any]] = {
            resource["address"]: resource for resource in self.module_configuration["resources"]
        }
        assert address in resources, f"{address} is not in the module configuration: {sorted(resources)}"
        return resources[address]

    def references(self, address: str, *path: str) -> list[str]:
        """The references of the expression at ``path`` (e.g. ``"source_arn"``) of resource ``address``."""
        expression: Any = self.configuration(address)["expressions"]
        for key in path:
            expression = expression[key]
            if isinstance(expression, list):
                (expression,) = expression
        references: list[str] = expression.get("references", [])
        return references


def statements_by_sid(policy: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The statements of an IAM policy document by Sid (each Sid must be unique)."""
    statements = policy["Statement"]
    by_sid = {statement.get("Sid", ""): statement for statement in statements}
    assert len(by_sid) == len(statements), f"duplicate or missing Sids in {statements}"
    return by_sid


def as_set(value: str | list[str]) -> set[str]:
    """An IAM Action/Resource/condition value (a string or a list of strings) as a set."""
    return {value} if isinstance(value, str) else set(value)
