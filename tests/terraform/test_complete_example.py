"""examples/complete sets every input of the module and re-exports every output, and plans offline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hcl2
import pytest

from tests.terraform.conftest import COMPLETE_EXAMPLE
from tests.terraform.plan import Plan
from tools.tfcli import REPO_ROOT

pytestmark = pytest.mark.terraform


def _names(blocks: list[dict[str, Any]]) -> set[str]:
    return {name.strip('"') for block in blocks for name in block}


def load(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        document: dict[str, Any] = hcl2.load(handle)
    return document


def module_variables() -> set[str]:
    return _names(load(REPO_ROOT / "variables.tf")["variable"])


def module_outputs() -> set[str]:
    return _names(load(REPO_ROOT / "outputs.tf")["output"])


def complete_module_arguments() -> set[str]:
    (call,) = [block['"ec2_isolation"'] for block in load(REPO_ROOT / COMPLETE_EXAMPLE / "main.tf")["module"]]
    # python-hcl2 adds metadata keys ("__comments__", "__is_block__", ...): dunder names are not arguments.
    return {argument for argument in call if argument != "source" and not argument.startswith("__")}


def test_every_variable_of_the_module_is_set() -> None:
    """Given variables.tf and examples/complete, then the example's module block sets every variable
    (and nothing else)."""
    variables = module_variables()

    assert "tag_administrator_arns" in variables
    assert complete_module_arguments() == variables


def test_every_output_of_the_module_is_re_exported(complete_plan: Plan) -> None:
    """When examples/complete is planned (offline), then it has every output of the module."""
    assert set(complete_plan.data["output_changes"]) == module_outputs()


def test_the_complete_example_turns_every_option_on(complete_plan: Plan) -> None:
    """Then the optional resources are planned: the topic, the alarms, the record table."""
    changes = complete_plan.resource_changes
    assert "module.ec2_isolation.aws_sns_topic.this[0]" in changes
    assert (
        sum(
            address.startswith("module.ec2_isolation.aws_cloudwatch_metric_alarm.this") for address in changes
        )
        == 4
    )
    assert set(complete_plan.sts_actions) == {"GetCallerIdentity"}
